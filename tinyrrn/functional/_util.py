"""Helpers shared by the ops: argument checks and broadcasting."""
import numpy

from .. import backend
from ..tensor import Tensor


def as_tensor(value, like):
    """``value`` as a Tensor on the device and float dtype of ``like`` (for Python scalars)."""
    if isinstance(value, Tensor):
        return value
    xp = backend.xp_of(like.data)
    return Tensor(xp.asarray(value, dtype=like.dtype))


def check_float(op, *tensors):
    """Differentiable ops take floating-point tensors only."""
    for t in tensors:
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: expected a floating-point tensor, got dtype {t.dtype} "
                            f"(shape {tuple(t.shape)}); convert with .astype('float32')")


def broadcast_shape(op, a, b):
    """The broadcast shape of two tensors, or a ValueError naming both shapes."""
    try:
        return numpy.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} "
                         "cannot be broadcast together") from None


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def pair(value, name):
    """An int or a pair of ints as a pair (PyTorch's kernel_size/stride/padding convention)."""
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value!r}")
    return int(value[0]), int(value[1])
