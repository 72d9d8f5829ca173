"""Reductions: sum and mean over some or all axes."""
import numpy

from .. import backend
from ..tensor import make_result, records_graph
from ._util import DtypeError, accurate_sum, axes_tuple, check_float, check_tensors, flag, quiet, torch_name
from .dtypes import TORCH_DTYPES


def _expand(g, x, axes, keepdims):
    """Broadcast a reduced gradient back to x's shape."""
    xp = backend.xp_of(g)
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    return xp.broadcast_to(g, x.shape)


def _dtype_argument(op, dtype):
    """A reduction's ``dtype`` (a NumPy dtype or its name; PyTorch's: the input is converted to it first), or None."""
    if dtype is None:
        return None
    try:
        dtype = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: argument 'dtype' must be a dtype (a NumPy dtype or its name), not "
                        f"{type(dtype).__name__} {dtype!r}") from None
    if dtype not in TORCH_DTYPES:
        raise TypeError(f"{op}: dtype {dtype} is not one of tinyrrn's (bool, integers, float16, float32, float64)")
    return dtype


@quiet
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    """Sum over ``axis`` (an int, a tuple, or None or () for all; PyTorch's ``dim`` and ``keepdim``
    are the same arguments), accurately (_util.accurate_sum); integer and bool tensors sum to int64.
    ``dtype``, as PyTorch's: x converted to it first, and the result of that dtype (bool: any); the gradient
    flows back to x's dtype (an integer dtype is refused while a graph is recorded for x, as PyTorch)."""
    axis, keepdims = torch_name("sum", "axis", axis, "dim", dim), torch_name("sum", "keepdims", keepdims, "keepdim",
                                                                                  keepdim, False)
    check_tensors("sum", x)
    flag("sum", "keepdim", keepdims)
    axes = axes_tuple("sum", axis, x.ndim)
    dtype = _dtype_argument("sum", dtype)
    data = x.data if dtype is None else x.data.astype(dtype, copy=False)
    if data.dtype.kind != "f" and x.requires_grad and records_graph():
        raise RuntimeError(f"sum: Autograd not support dtype: {data.dtype} (as PyTorch): x requires grad; sum "
                           "in a floating-point dtype, or under no_grad()")
    out = accurate_sum(data, axes, keepdims) if data.dtype.kind == "f" else \
        data.sum(axis=axes, keepdims=keepdims, dtype="int64")
    if dtype is not None:
        out = out.astype(dtype, copy=False)
    return make_result(out, (x,), lambda g: (_expand(g, x, axes, keepdims),), "sum")


@quiet
def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    """Mean over ``axis`` (an int, a tuple, or None or () for all; or PyTorch's ``dim``, ``keepdim``);
    ``dtype``, a floating-point one, as PyTorch's: x (an integer tensor too) converted to it first (to float32
    for float16). The sum over ``axis`` divided by the count, as PyTorch's: a sum beyond the dtype's range is inf."""
    axis, keepdims = torch_name("mean", "axis", axis, "dim", dim), torch_name("mean", "keepdims", keepdims,
                                                                                   "keepdim", keepdim, False)
    check_tensors("mean", x)
    dtype = _dtype_argument("mean", dtype)
    if dtype is None:
        check_float("mean", x)
    elif dtype.kind != "f":
        raise DtypeError(f"mean(): could not infer output dtype. Optional dtype must be either a floating point or "
                         f"complex dtype (as PyTorch). Got: {dtype}")
    flag("mean", "keepdim", keepdims)
    axes = axes_tuple("mean", axis, x.ndim)
    dtype = x.dtype if dtype is None else dtype
    data = x.data if x.dtype == dtype else x.data.astype("float32" if dtype == "float16" else dtype, copy=False)
    count = 1  # (PyTorch's float16 mean of another dtype: of float32 values)
    for a in axes:
        count *= x.shape[a]
    wide = "float32" if dtype == "float16" else dtype
    total = data.sum(axis=axes, keepdims=keepdims, dtype="float64").astype(wide)  # added as accurate_sum
    out = (total / count).astype(dtype)  # over nothing NaN (quiet: without NumPy's warning, as PyTorch)
    return make_result(out, (x,), lambda g: (_expand(_divided(g, count), x, axes, keepdims),), "mean")


def _divided(g, count):
    """g / count; float16 in float32, as PyTorch's scalar arithmetic (in float16 a count past 65504 is inf,
    and every gradient 0)."""
    return (g.astype("float32") / count).astype(g.dtype) if g.dtype == "float16" else g / count
