"""Layers and models built from tinyrrn.functional, with PyTorch's names."""
from . import init
from .gru import GRU
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Identity, Linear,
                     MaxPool2d, ReLU)
from .module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential", "Conv2d", "ConvTranspose2d", "BatchNorm2d", "Linear", "ReLU",
           "Identity", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Dropout", "GRU", "init"]
