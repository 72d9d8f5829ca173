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


def _accumulator(dtype):
    """The dtype a float sum adds in: float64. NumPy adds along a strided axis one value at a time,
    in the input's dtype (float32 4e6 values of 0.1 averaged 0.096, float16 4000 ones summed 2048);
    PyTorch's sums are accurate there."""
    return "float64" if dtype.kind == "f" else "int64" if dtype.kind in "biu" else None


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None or () for all); integer and bool tensors sum to int64."""
    axes = axes_tuple("sum", axis, x.ndim)
    out = x.data.sum(axis=axes, keepdims=keepdims, dtype=_accumulator(x.dtype))
    return make_result(out.astype(x.dtype) if x.dtype.kind == "f" else out, (x,),
                       lambda g: (_expand(g, x, axes, keepdims),), "sum")


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or None or () for all)."""
    check_float("mean", x)
    axes = axes_tuple("mean", axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    out = x.data.mean(axis=axes, keepdims=keepdims, dtype=_accumulator(x.dtype)).astype(x.dtype)
    return make_result(out, (x,), lambda g: (_expand(g / count, x, axes, keepdims),), "mean")
