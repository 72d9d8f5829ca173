"""Parameter initialisation (host-side, from tinyrrn.random's seeded generator).

These functions take a shape and return a new array; none is named as a torch.nn.init function
(which fill a given tensor in place), so that code written for PyTorch's is not silently given
another distribution: PyTorch's names give an AttributeError here.
"""
import math

from ..random import generator
from ..tensor import ArgumentError


def fan_in_and_fan_out(shape):
    """PyTorch's fans: (in, out) channels times the receptive field size; for at least 2 dimensions,
    as PyTorch (a ValueError otherwise)."""
    if len(shape) < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
                         f"(shape {tuple(shape)}), as PyTorch")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def check_shape(shape):
    """A parameter's shape, refused with PyTorch's error when a dimension is negative (Linear(-1, 3))."""
    if min(shape, default=0) < 0:
        raise ArgumentError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")


def symmetric_uniform(shape, bound, dtype="float32"):
    """An array of ``shape``, uniform in [-bound, bound] (torch.nn.init.uniform_(t, -bound, bound))."""
    check_shape(shape)
    return generator().uniform(-bound, bound, size=shape).astype(dtype)


def layer_default_weight(shape, dtype="float32"):
    """PyTorch's default for Conv2d/Linear weights, torch.nn.init.kaiming_uniform_(t, a=sqrt(5)):
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)); no bound (zeros) for a layer without inputs."""
    check_shape(shape)
    fan_in = fan_in_and_fan_out(shape)[0]
    return symmetric_uniform(shape, 1 / math.sqrt(fan_in) if fan_in else 0.0, dtype)


def kaiming_normal_fan_out(shape, dtype="float32"):
    """He et al. (2015) normal init with fan_out, as torchvision's ResNet uses for convs
    (torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")): std sqrt(2 / fan_out)."""
    check_shape(shape)
    std = math.sqrt(2.0 / fan_in_and_fan_out(shape)[1])
    return (generator().standard_normal(size=shape) * std).astype(dtype)
