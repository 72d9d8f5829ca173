"""Parameter initialisation (host-side, from tinyrrn.random's seeded generator)."""
import math

from ..random import generator
from ..tensor import ArgumentError


def fan_in_and_fan_out(shape):
    """PyTorch's fans: (in, out) channels times the receptive field size."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _check_shape(shape):
    """A parameter's shape, refused with PyTorch's error when a dimension is negative (Linear(-1, 3))."""
    if min(shape, default=0) < 0:
        raise ArgumentError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")


def uniform(shape, bound, dtype="float32"):
    """Uniform in [-bound, bound]."""
    _check_shape(shape)
    return generator().uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_uniform(shape, dtype="float32"):
    """PyTorch's default for Conv2d/Linear weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); no bound (zeros)
    for a layer without inputs."""
    _check_shape(shape)
    fan_in = fan_in_and_fan_out(shape)[0]
    return uniform(shape, 1 / math.sqrt(fan_in) if fan_in else 0.0, dtype)


def kaiming_normal_fan_out(shape, dtype="float32"):
    """He et al. (2015) normal init with fan_out, as torchvision's ResNet uses for convs."""
    _check_shape(shape)
    std = math.sqrt(2.0 / fan_in_and_fan_out(shape)[1])
    return (generator().standard_normal(size=shape) * std).astype(dtype)
