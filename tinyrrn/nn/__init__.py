"""Layers and models built from tinyrrn.functional, with PyTorch's names."""
from . import init
from .fused import conv_bn
from .gru import GRU
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, CrossEntropyLoss, Dropout,
                     Flatten, Identity, Linear, LogSoftmax, MaxPool2d, NLLLoss, ReLU, Sigmoid, Softmax, Tanh)
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterDict, ParameterList, Sequential

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Conv2d",
           "ConvTranspose2d", "BatchNorm2d", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten",
           "CrossEntropyLoss", "NLLLoss", "Identity", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Dropout", "GRU",
           "conv_bn", "init"]
