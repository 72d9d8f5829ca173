"""Reductions: sum and mean over some or all axes."""
from .. import backend
from ..tensor import make_result
from ._util import check_float


def _axes(x, axis):
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % x.ndim for a in axes)


def _expand(g, x, axes, keepdims):
    """Broadcast a reduced gradient back to x's shape."""
    xp = backend.xp_of(g)
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    return xp.broadcast_to(g, x.shape)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    check_float("sum", x)
    axes = _axes(x, axis)
    return make_result(x.data.sum(axis=axes, keepdims=keepdims), (x,),
                       lambda g: (_expand(g, x, axes, keepdims),), "sum")


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or None for all)."""
    check_float("mean", x)
    axes = _axes(x, axis)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return make_result(x.data.mean(axis=axes, keepdims=keepdims), (x,),
                       lambda g: (_expand(g / count, x, axes, keepdims),), "mean")
