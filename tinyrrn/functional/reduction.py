"""Reductions: sum and mean over some or all axes."""
from .. import backend
from ..tensor import make_result
from ._util import accurate_sum, axes_tuple, check_float, check_tensors, flag, only_torch_defaults, quiet, torch_name


def _expand(g, x, axes, keepdims):
    """Broadcast a reduced gradient back to x's shape."""
    xp = backend.xp_of(g)
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    return xp.broadcast_to(g, x.shape)


@quiet
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    """Sum over ``axis`` (an int, a tuple, or None or () for all; PyTorch's ``dim`` and ``keepdim``
    are the same arguments), accurately (_util.accurate_sum); integer and bool tensors sum to int64.
    PyTorch's ``dtype`` at its default only (convert x first)."""
    only_torch_defaults("sum", dtype=(dtype, None))
    axis, keepdims = torch_name("sum", "axis", axis, "dim", dim), torch_name("sum", "keepdims", keepdims, "keepdim",
                                                                                  keepdim, False)
    check_tensors("sum", x)
    flag("sum", "keepdim", keepdims)
    axes = axes_tuple("sum", axis, x.ndim)
    out = accurate_sum(x.data, axes, keepdims) if x.dtype.kind == "f" else \
        x.data.sum(axis=axes, keepdims=keepdims, dtype="int64")
    return make_result(out, (x,), lambda g: (_expand(g, x, axes, keepdims),), "sum")


@quiet
def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    """Mean over ``axis`` (an int, a tuple, or None or () for all; or PyTorch's ``dim``, ``keepdim``);
    PyTorch's ``dtype`` at its default only (convert x first)."""
    only_torch_defaults("mean", dtype=(dtype, None))
    axis, keepdims = torch_name("mean", "axis", axis, "dim", dim), torch_name("mean", "keepdims", keepdims,
                                                                                   "keepdim", keepdim, False)
    check_float("mean", x)
    flag("mean", "keepdim", keepdims)
    axes = axes_tuple("mean", axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    out = (x.data.sum(axis=axes, keepdims=keepdims, dtype="float64") / count).astype(x.dtype)  # as accurate_sum;
    # over nothing NaN (quiet: without NumPy's warning, as PyTorch)
    return make_result(out, (x,), lambda g: (_expand(_divided(g, count), x, axes, keepdims),), "mean")


def _divided(g, count):
    """g / count; float16 in float32, as PyTorch's scalar arithmetic (in float16 a count past 65504 is inf,
    and every gradient 0)."""
    return (g.astype("float32") / count).astype(g.dtype) if g.dtype == "float16" else g / count
