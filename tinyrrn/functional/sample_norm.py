"""Normalisations over each sample's own values, not over the batch (batch norm: norm.py): layer norm
(Ba et al., 2016) and group norm (Wu & He, 2018), as torch.nn.functional's.

Each is the same few steps, written with tinyrrn's differentiable ops (their gradients follow from them):
the mean and the biased variance over the normalised values, then, as PyTorch's kernels compute it,
(x - mean) * rsqrt(var + eps), times the per-element (layer norm) or per-channel (group norm) weight, plus
the bias. A float16 input is normalised in float32 and rounded once, as PyTorch.
"""
import math

from ._util import ArgumentError, check_float, check_tensors, integer, number
from .elementwise import astype, rsqrt
from .reduction import mean
from .shape import reshape


def _normalised(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over ``axes``, the variance biased (divided by the count)."""
    centred = x - mean(x, axes, keepdims=True)
    return centred * rsqrt(mean(centred * centred, axes, keepdims=True) + eps)


def _affine(op, out, weight, bias, fits, wanted, dtype):
    """out * weight + bias (either may be None), rounded to ``dtype``; each must be of shape ``fits``, refused
    otherwise with PyTorch's error (``wanted(name, value)``, naming what it should be)."""
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None:
            check_tensors(op, value, names=(name,))
            if tuple(value.shape) != fits:
                raise ArgumentError(f"{op}: Expected {name} to be {wanted(name, value)}")
    if weight is not None:
        out = out * astype(weight, out.dtype)
    if bias is not None:
        out = out + astype(bias, out.dtype)
    return astype(out, dtype)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dimensions of each sample (torch.nn.functional.layer_norm);
    ``weight`` and ``bias`` (of normalized_shape) scale and shift each normalised element."""
    check_float("layer_norm", input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    if not isinstance(shape, (tuple, list)) or isinstance(normalized_shape, bool):
        raise TypeError(f"layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
                        f"{type(normalized_shape).__name__}")
    shape = tuple(integer("layer_norm", "normalized_shape", size) for size in shape)
    if not shape:
        raise ArgumentError("layer_norm: Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
                            "least one element, but got normalized_shape = []")
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise ArgumentError(f"layer_norm: Given normalized_shape={list(shape)}, expected input with shape "
                            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    out = _normalised(astype(input, "float32") if input.dtype == "float16" else input,
                      tuple(range(input.ndim - len(shape), input.ndim)), number(eps))
    return _affine("layer_norm", out, weight, bias, shape, lambda name, value: (
        f"of same shape as normalized_shape, but got {name} of shape {list(value.shape)} and normalized_shape = "
        f"{list(shape)}"), input.dtype)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample's channels in ``num_groups`` groups, each over its channels and positions
    (torch.nn.functional.group_norm); input (N, C, *), ``weight`` and ``bias`` (C,) per channel."""
    check_float("group_norm", input)
    groups = integer("group_norm", "num_groups", num_groups)
    if input.ndim < 2:
        raise ArgumentError(f"group_norm: Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[:2]
    if groups < 1:
        raise ArgumentError(f"group_norm: num_groups must be positive, got {groups}")
    if c % groups:
        raise ArgumentError(f"group_norm: Expected number of channels in input to be divisible by num_groups, but got "
                            f"input of shape {list(input.shape)} and num_groups={groups}")
    wide = astype(input, "float32") if input.dtype == "float16" else input
    per_group = math.prod(input.shape[1:]) // groups  # (not -1: an empty batch has no size to infer)
    out = reshape(_normalised(reshape(wide, n, groups, per_group), (2,), number(eps)), *input.shape)
    out = _affine("group_norm", out.transpose(1, -1), weight, bias, (c,), lambda name, value: (
        f"a vector of size equal to the number of channels in input, but got {name} of shape {list(value.shape)} "
        f"and input of shape {list(input.shape)}"), input.dtype)  # channels last: weight and bias broadcast
    return out.transpose(1, -1)
