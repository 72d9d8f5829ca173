"""Reductions: sum and mean over some or all axes."""
from .. import backend
from ..tensor import make_result
from ._util import axes_tuple, check_float


def _expand(g, x, axes, keepdims):
    """Broadcast a reduced gradient back to x's shape."""
    xp = backend.xp_of(g)
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    return xp.broadcast_to(g, x.shape)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None for all); integer and bool tensors sum to int64."""
    axes = axes_tuple("sum", axis, x.ndim)
    dtype = "int64" if x.dtype.kind in "biu" else None
    return make_result(x.data.sum(axis=axes, keepdims=keepdims, dtype=dtype), (x,),
                       lambda g: (_expand(g, x, axes, keepdims),), "sum")


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or None for all)."""
    check_float("mean", x)
    axes = axes_tuple("mean", axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return make_result(x.data.mean(axis=axes, keepdims=keepdims), (x,),
                       lambda g: (_expand(g / count, x, axes, keepdims),), "mean")
