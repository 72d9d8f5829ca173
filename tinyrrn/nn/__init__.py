"""Layers and models built from tinyrrn.functional, with PyTorch's names."""
from . import init
from .activation import (CELU, ELU, GELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, Mish,
                         ReLU6, SiLU, Softmin, Softplus, Softshrink, Softsign, Tanhshrink, Threshold)
from .fused import conv_bn
from .gru import GRU
from .layers import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, BatchNorm2d, BCELoss, BCEWithLogitsLoss, Conv2d,
                     ConvTranspose2d, CrossEntropyLoss, Dropout, Embedding, Flatten, GroupNorm, HuberLoss, Identity,
                     KLDivLoss, L1Loss, LayerNorm, Linear, LogSoftmax, MaxPool2d, MSELoss, NLLLoss, ReLU, Sigmoid,
                     SmoothL1Loss, Softmax, Tanh, Unflatten)
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterDict, ParameterList, Sequential

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Conv2d",
           "ConvTranspose2d", "BatchNorm2d", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten",
           "Unflatten", "CrossEntropyLoss", "NLLLoss", "Identity", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "Dropout", "GRU", "conv_bn", "init", "AdaptiveMaxPool2d", "Embedding", "MSELoss", "L1Loss", "SmoothL1Loss",
           "HuberLoss", "KLDivLoss", "BCELoss", "BCEWithLogitsLoss", "LeakyReLU", "ELU", "CELU", "SELU", "SiLU", "Mish",
           "Hardsigmoid", "Hardswish", "ReLU6", "Hardtanh", "Threshold", "Softplus", "LogSigmoid", "Softsign",
           "Tanhshrink", "Hardshrink", "Softshrink", "GLU", "Softmin", "LayerNorm", "GroupNorm", "GELU"]

_LAYERS = "tinyrrn's layers are those of tinyrrn.nn.__all__ (what the paper's models use)"
# PyTorch's names that tinyrrn.nn has not, and why or what to use instead
_NOT_HERE = {"modules": "tinyrrn has no global module hooks (torch.nn.modules.module.register_module_forward_hook and "
                        "the like): register the hooks on each module (Module.register_forward_hook, ...)",
             "functional": "tinyrrn's functional API is tinyrrn.functional (import tinyrrn.functional as F)",
             "utils": "tinyrrn has no torch.nn.utils (gradient clipping, parametrizations, rnn packing)",
             **{name: _LAYERS for name in (
                 "BatchNorm1d", "BatchNorm3d", "Conv1d", "Conv3d", "LSTM", "RNN",
                 "Dropout2d", "MaxPool1d", "Upsample", "MultiheadAttention", "Transformer")}}


def __getattr__(name):
    """An AttributeError, as for any missing name, that says why for those of torch.nn tinyrrn has not."""
    reason = f": {_NOT_HERE[name]}" if name in _NOT_HERE else ""
    raise AttributeError(f"module 'tinyrrn.nn' has no attribute {name!r}{reason}")
