"""Reductions: sum, mean, max/min (and amax/amin, argmax/argmin), var/std, norm and logsumexp over some or all axes."""
import builtins
import collections
import math
import warnings

import numpy

from .. import backend
from ..grad_mode import records_graph
from ..tensor import Tensor, make_result
from ._util import (ArgumentError, DtypeError, accurate_sum, axes_tuple, axis_index, check_float, check_tensors, flag,
                    numpy_names, quiet, refuse_out, torch_name, user_stacklevel)
from .dtypes import dtype_argument, opmath
from .elementwise import maximum, minimum


def _expand(g, x, axes, keepdims):
    """Broadcast a reduced gradient back to x's shape."""
    xp = backend.xp_of(g)
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    return xp.broadcast_to(g, x.shape)


@quiet
def sum(input, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
    """Sum over ``axis`` (an int, a tuple, or None or () for all; PyTorch's ``dim`` and ``keepdim``
    are the same arguments), accurately (_util.accurate_sum); integer and bool tensors sum to int64.
    ``dtype``, as PyTorch's: x converted to it first, and the result of that dtype (bool: any); the gradient
    flows back to x's dtype (an integer dtype is refused while a graph is recorded for x, as PyTorch)."""
    if out is not None:
        refuse_out("sum")
    axis, keepdims = torch_name("sum", "axis", axis, "dim", dim), torch_name("sum", "keepdims", keepdims, "keepdim",
                                                                                  keepdim, False)
    check_tensors("sum", input)
    flag("sum", "keepdim", keepdims)
    axes = axes_tuple("sum", axis, input.ndim)
    dtype = dtype_argument("sum", dtype)
    data = input.data if dtype is None else input.data.astype(dtype, copy=False)
    if data.dtype.kind != "f" and input.requires_grad and records_graph():
        raise RuntimeError(f"sum: Autograd not support dtype: {data.dtype} (as PyTorch): x requires grad; sum "
                           "in a floating-point dtype, or under no_grad()")
    result = accurate_sum(data, axes, keepdims) if data.dtype.kind == "f" else \
        data.sum(axis=axes, keepdims=keepdims, dtype="int64")
    if dtype is not None:
        result = result.astype(dtype, copy=False)
    return make_result(result, (input,), lambda g: (_expand(g, input, axes, keepdims),), "sum")


@quiet
def mean(input, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
    """Mean over ``axis`` (an int, a tuple, or None or () for all; or PyTorch's ``dim``, ``keepdim``);
    ``dtype``, a floating-point one, as PyTorch's: x (an integer tensor too) converted to it first (to float32
    for float16). The sum over ``axis`` divided by the count, as PyTorch's: a sum beyond the dtype's range is inf."""
    if out is not None:
        refuse_out("mean")
    axis, keepdims = torch_name("mean", "axis", axis, "dim", dim), torch_name("mean", "keepdims", keepdims,
                                                                                   "keepdim", keepdim, False)
    check_tensors("mean", input)
    dtype = dtype_argument("mean", dtype)
    if dtype is None:
        check_float("mean", input)
    elif dtype.kind != "f":
        raise DtypeError(f"mean(): could not infer output dtype. Optional dtype must be either a floating point or "
                         f"complex dtype (as PyTorch). Got: {dtype}")
    flag("mean", "keepdim", keepdims)
    axes = axes_tuple("mean", axis, input.ndim)
    dtype = input.dtype if dtype is None else dtype
    data = input.data if input.dtype == dtype else input.data.astype("float32" if dtype == "float16" else dtype,
                                                                      copy=False)
    count = 1  # (PyTorch's float16 mean of another dtype: of float32 values)
    for a in axes:
        count *= input.shape[a]
    wide = "float32" if dtype == "float16" else dtype
    total = data.sum(axis=axes, keepdims=keepdims, dtype="float64").astype(wide)  # added as accurate_sum
    result = (total / count).astype(dtype)  # over nothing NaN (quiet: without NumPy's warning, as PyTorch)
    return make_result(result, (input,), lambda g: (_expand(_divided(g, count), input, axes, keepdims),), "mean")


def _divided(g, count):
    """g / count; float16 in float32, as PyTorch's scalar arithmetic (in float16 a count past 65504 is inf,
    and every gradient 0)."""
    return (g.astype("float32") / count).astype(g.dtype) if g.dtype == "float16" else g / count


def _converted(op, input, dtype, default):
    """A reduction's input data in ``dtype`` (PyTorch's: converted first), else in ``default``'s result dtype (integers
    and bools give int64); an integer result is refused while a graph is recorded for x, as PyTorch."""
    dtype = dtype_argument(op, dtype)
    if dtype is None:
        dtype = input.dtype if input.dtype.kind == "f" else numpy.dtype(default)
    if dtype.kind != "f" and input.requires_grad and records_graph():
        raise RuntimeError(f"{op}: Autograd not support dtype: {dtype} (as PyTorch): x requires grad; use a "
                           "floating-point dtype, or no_grad()")
    return input.data.astype(dtype, copy=False)


def _others_product(x, axis):
    """Per element of x, the product of the others along ``axis`` (exclusive products from both ends: exact with
    zeros, as PyTorch's prod_safe_zeros_backward)."""
    xp = backend.xp_of(x)

    def part(start, stop):
        return x[(slice(None),) * axis + (slice(start, stop),)]
    ones = xp.ones_like(part(0, 1))
    before = xp.concatenate([ones, xp.cumprod(part(0, -1), axis=axis)], axis)
    after = xp.flip(xp.cumprod(xp.flip(part(1, None), axis), axis=axis), axis)
    return before * xp.concatenate([after, ones], axis)


@quiet
@numpy_names
def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """torch.prod: the product of all elements, or along ``dim`` (an int); integer and bool tensors give int64, and
    ``dtype`` converts x first (as sum's). PyTorch's gradient: g * out / x, or, when x holds a zero, g times the
    product of the other elements (_others_product)."""
    if out is not None:
        refuse_out("prod")
    check_tensors("prod", input)
    flag("prod", "keepdim", keepdim)
    if dim is None and keepdim:
        raise TypeError("prod(): keepdim=True needs a dim (as PyTorch)")
    axis = None if dim is None else axis_index("prod", dim, input.ndim)
    data = _converted("prod", input, dtype, "int64")
    flat = data.reshape(-1) if axis is None else data.reshape(input.shape or (1,))
    result = opmath(flat).prod(axis=0 if axis is None else axis, keepdims=True).astype(data.dtype, copy=False)

    def backward(g):
        xp = backend.xp_of(g)
        g = g.reshape(result.shape)
        if input.ndim == 0:
            factor = xp.ones_like(flat)
        elif bool((flat == 0).any()):
            factor = _others_product(flat, axis or 0)
        else:
            factor = result / flat
        return ((g * factor).reshape(input.shape),)

    shape = (result.shape if keepdim and input.ndim else () if axis is None
             else input.shape[:axis] + input.shape[axis + 1:])
    return make_result(result.reshape(shape), (input,), backward, "prod")


def _running_sum(array, axis):
    """The running sums of an array along ``axis``, added in float64 as PyTorch's CPU kernel (float16 in float32)."""
    wide = "float32" if array.dtype == "float16" else "float64" if array.dtype.kind == "f" else array.dtype
    return backend.xp_of(array).cumsum(array, axis=axis, dtype=wide).astype(array.dtype, copy=False)


@numpy_names
def cumsum(input, dim, *, dtype=None, out=None):
    """torch.cumsum: the running sums along ``dim`` (an int; _running_sum); integer and bool tensors give int64, and
    ``dtype`` converts x first. The gradient: the running sums of g from the other end."""
    if out is not None:
        refuse_out("cumsum")
    check_tensors("cumsum", input)
    axis = axis_index("cumsum", dim, input.ndim)
    data = _converted("cumsum", input, dtype, "int64")
    xp = backend.xp_of(data)
    shape = input.shape or (1,)
    result = _running_sum(data.reshape(shape), axis).reshape(input.shape)

    def backward(g):  # in x's dtype, as PyTorch's (a float16 dtype= sends float16 gradients, summed in float64)
        g = g.reshape(shape).astype(input.dtype, copy=False)
        return (xp.flip(_running_sum(xp.flip(g, axis), axis), axis).reshape(input.shape),)

    return make_result(result, (input,), backward, "cumsum")


@quiet
@numpy_names
def cumprod(input, dim, *, dtype=None, out=None):
    """torch.cumprod: the running products along ``dim`` (an int); integer and bool tensors give int64, and ``dtype``
    converts x first. The gradient (_running_product_gradient) is exact with zeros in x, as PyTorch's."""
    if out is not None:
        refuse_out("cumprod")
    check_tensors("cumprod", input)
    axis = axis_index("cumprod", dim, input.ndim)
    data = _converted("cumprod", input, dtype, "int64")
    shape = input.shape or (1,)
    flat = data.reshape(shape)
    result = backend.xp_of(data).cumprod(flat, axis=axis)

    def backward(g):
        g = g.reshape(shape).astype(input.dtype, copy=False)
        return (_running_product_gradient(flat, result, g, axis).reshape(input.shape),)

    return make_result(result.reshape(input.shape), (input,), backward, "cumprod")


def _running_product_gradient(x, out, g, axis):
    """The gradient of out = cumprod(x) along ``axis``: before the first zero of x, the running sums of g out from
    the other end (up to the zero) over x; at the first zero, the product of the elements before it times the sum of g times the
    running products after it; 0 beyond it (each of those products holds the zero)."""
    xp = backend.xp_of(x)
    zeros_so_far = xp.cumsum(x == 0, axis=axis)
    before, first = zeros_so_far == 0, (zeros_so_far == 1) & (x == 0)
    from_end = xp.flip(xp.cumsum(xp.flip(xp.where(before, g * out, 0), axis), axis=axis), axis)
    grad = xp.where(before, from_end / xp.where(before, x, 1), 0)
    after_zero = xp.cumprod(xp.where(before | first, 1, x), axis=axis)  # the products of the elements past it
    at_zero = (xp.where(before, x, 1).prod(axis=axis, keepdims=True)
               * xp.where(before, 0, g * after_zero).sum(axis=axis, keepdims=True))
    return xp.where(first, at_zero, grad).astype(g.dtype, copy=False)


def _truth(op):
    """all or any: whether all (any) elements over ``dim`` (an int, a tuple; None for all, () or [] for none) are
    nonzero (NaN is), as PyTorch's: a bool tensor without gradient (uint8 for a uint8 one)."""
    @numpy_names
    def reduce(input, dim=None, keepdim=False):
        check_tensors(op, input)
        flag(op, "keepdim", keepdim)
        empty = dim is not None and numpy.ndim(dim) == 1 and len(dim) == 0  # (axes_tuple reads it as all)
        axes = () if empty else axes_tuple(op, dim, input.ndim)
        out = getattr(backend.xp_of(input.data), op)(input.data, axis=axes, keepdims=keepdim)
        return Tensor(out.astype(input.dtype if input.dtype == "uint8" else bool, copy=False))
    reduce.__name__ = op
    reduce.__doc__ = f"torch.{op}: " + _truth.__doc__.split(": ", 1)[1]
    return reduce


all, any = _truth("all"), _truth("any")


# torch.return_types.max and .min: the values and indices of max(x, dim) and min(x, dim)
MaxResult = collections.namedtuple("max", ("values", "indices"))
MinResult = collections.namedtuple("min", ("values", "indices"))


def _extreme(op, x, dim, keepdim, other):
    """max or min: of all elements (dim None; the gradient split evenly among the ties, as PyTorch's), or along
    ``dim`` with the index of the first extreme (NaN is the extreme, as PyTorch's; the gradient goes to that index);
    with a tensor ``other`` (also given second), maximum or minimum, which take no dim or keepdim."""
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        if dim is not None or keepdim is not False:
            raise TypeError(f"{op}(): takes a tensor other, or a dim and keepdim, not both (as PyTorch)")
        return (maximum if op == "max" else minimum)(x, other)
    check_tensors(op, x)
    flag(op, "keepdim", keepdim)
    xp = backend.xp_of(x.data)
    if dim is None:
        if keepdim:
            raise TypeError(f"{op}(): keepdim=True needs a dim (as PyTorch)")
        if x.data.size == 0:
            raise ArgumentError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                                "reduction dim with the 'dim' argument (as PyTorch)")
        out = getattr(x.data, op)(axis=None, keepdims=True).reshape(())

        def backward(g):
            mask = xp.where(xp.isnan(out), xp.isnan(x.data), x.data == out)
            return (xp.where(mask, g / mask.sum(dtype=g.dtype), 0),)

        return make_result(out, (x,), backward, op)
    axis = axis_index(op, dim, x.ndim)
    data = x.data.reshape(x.shape or (1,))
    if data.shape[axis] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size (as PyTorch)")
    indices = _first_extreme(data, "arg" + op, axis, keepdims=True)
    values = xp.take_along_axis(data, indices, axis)
    positions = xp.arange(data.shape[axis]).reshape([-1 if i == axis else 1 for i in range(data.ndim)])
    shape = values.shape if keepdim and x.ndim else values.shape[:axis] + values.shape[axis + 1:]

    def backward(g):
        return (xp.where(positions == indices, g.reshape(indices.shape), 0).reshape(x.shape),)

    values = make_result(values.reshape(shape), (x,), backward, op)
    return (MaxResult if op == "max" else MinResult)(values, Tensor(indices.astype("int64").reshape(shape)))


@numpy_names
def max(input, dim=None, keepdim=False, *, other=None, out=None):
    """torch.max: the largest element; along ``dim``, a named tuple (values, indices); with a tensor, maximum."""
    if out is not None:
        refuse_out("max")
    return _extreme("max", input, dim, keepdim, other)


@numpy_names
def min(input, dim=None, keepdim=False, *, other=None, out=None):
    """torch.min: the smallest element; along ``dim``, a named tuple (values, indices); with a tensor, minimum."""
    if out is not None:
        refuse_out("min")
    return _extreme("min", input, dim, keepdim, other)


def _a_extreme(op, x, dim, keepdim):
    """amax or amin over ``dim`` (an int, a tuple, or () for all); the gradient split evenly among the ties of each
    reduced slice, as PyTorch's (NaN where the extreme is NaN)."""
    check_tensors(op, x)
    flag(op, "keepdim", keepdim)
    axes = axes_tuple(op, dim, x.ndim)
    if x.data.size == 0 and (dim is None or numpy.ndim(dim) == 1 and len(dim) == 0):
        raise ArgumentError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                            "reduction dim with the 'dim' argument (as PyTorch)")
    for axis in axes:
        if x.shape[axis] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {axis} to have non-zero size (as PyTorch)")
    kept = getattr(x.data, op[1:])(axis=axes, keepdims=True)

    def backward(g):
        mask = x.data == kept
        return ((g.reshape(kept.shape) / mask.sum(axis=axes, keepdims=True, dtype=g.dtype)) * mask,)

    return make_result(kept if keepdim else kept.reshape([n for i, n in enumerate(kept.shape) if i not in axes]),
                       (x,), backward, op)


@numpy_names
def amax(input, dim=(), keepdim=False, *, out=None):
    """torch.amax: the largest elements over ``dim`` (an int, a tuple, or () for all)."""
    if out is not None:
        refuse_out("amax")
    return _a_extreme("amax", input, dim, keepdim)


@numpy_names
def amin(input, dim=(), keepdim=False, *, out=None):
    """torch.amin: the smallest elements over ``dim`` (an int, a tuple, or () for all)."""
    if out is not None:
        refuse_out("amin")
    return _a_extreme("amin", input, dim, keepdim)


def _first_extreme(data, op, axis, keepdims=False):
    """``data.argmax`` or ``data.argmin`` (``op``) along ``axis``: the index of the first extreme, a NaN counting as
    it, the first of several NaNs too, as PyTorch's and NumPy's. CuPy's kernels (its own and CUB's) return whichever
    of several NaNs their order of reduction meets first, so a float array's first NaN is found apart, as the first
    True of isnan, and the extreme of the other values without them."""
    if data.dtype.kind != "f":
        return getattr(data, op)(axis=axis, keepdims=keepdims)
    xp = backend.xp_of(data)
    nan = xp.isnan(data)
    index = getattr(xp.where(nan, 0, data), op)(axis=axis, keepdims=keepdims)
    return xp.where(nan.any(axis=axis, keepdims=keepdims), nan.argmax(axis=axis, keepdims=keepdims), index)


def _arg_extreme(op, x, dim, keepdim):
    """argmax or argmin: the (first) index of the extreme, NaN counting as it, as PyTorch's, of the flattened tensor
    (dim None; keepdim then keeps every dimension as 1) or along ``dim``; an int64 tensor without gradient."""
    check_tensors(op, x)
    flag(op, "keepdim", keepdim)
    if x.dtype == bool:
        raise DtypeError(f"{op}(): does not support bool input (as PyTorch)")
    if dim is None:
        if x.data.size == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0 (as PyTorch)")
        index = _first_extreme(x.data.reshape(-1), op, 0, keepdims=True)
        return Tensor(index.astype("int64").reshape((1,) * x.ndim if keepdim else ()))
    axis = axis_index(op, dim, x.ndim)
    data = x.data.reshape(x.shape or (1,))
    if data.shape[axis] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size (as PyTorch)")
    index = _first_extreme(data, op, axis, keepdims=keepdim and x.ndim > 0)
    return Tensor(index.astype("int64"))


@numpy_names
def argmax(input, dim=None, keepdim=False, *, out=None):
    """torch.argmax: the index of the largest element (of the flattened tensor, or along ``dim``)."""
    if out is not None:
        refuse_out("argmax")
    return _arg_extreme("argmax", input, dim, keepdim)


@numpy_names
def argmin(input, dim=None, keepdim=False, *, out=None):
    """torch.argmin: the index of the smallest element (of the flattened tensor, or along ``dim``)."""
    if out is not None:
        refuse_out("argmin")
    return _arg_extreme("argmin", input, dim, keepdim)


def _var_arguments(op, x, dim, unbiased, keepdim, correction):
    """PyTorch's forms of var and std: (dim, unbiased, keepdim), (unbiased) alone, or (dim, *, correction, keepdim),
    as (axes, correction, keepdim, full); ``full``: no dim given (PyTorch's gradient differs there)."""
    check_float(op, x)
    if isinstance(dim, bool):  # x.var(False): unbiased given first
        if unbiased is not None:
            raise TypeError(f"{op}(): dim must be an int, a tuple or None, not bool (as PyTorch)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): takes unbiased= or correction=, not both (as PyTorch)")
    if unbiased is not None:
        correction = int(flag(op, "unbiased", unbiased))
    elif correction is None:
        correction = 1
    elif isinstance(correction, bool) or not isinstance(correction, (int, float, numpy.integer, numpy.floating)):
        raise TypeError(f"{op}(): correction must be a number, not {type(correction).__name__} (as PyTorch)")
    flag(op, "keepdim", keepdim)
    return axes_tuple(op, dim, x.ndim), correction, keepdim, dim is None or x.ndim == 0


def _variance(op, x, axes, correction, keepdim):
    """The variance over ``axes``, computed in float64 (float32 for float16, rounded as PyTorch's): the sum of squared deviations over max(0, n - correction),
    with PyTorch's warning when that is 0 or less (then inf, or NaN for 0 / 0)."""
    count = math.prod(x.shape[a] for a in axes)
    if count - correction <= 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
                      "factor (input numel divided by output numel).", UserWarning, stacklevel=user_stacklevel())
    data = x.data.astype("float64")
    deviations = data - data.mean(axis=axes, keepdims=True)
    variance = (deviations * deviations).sum(axis=axes, keepdims=keepdim) / builtins.max(0, count - correction)
    return variance.astype("float32") if x.dtype == "float16" else variance  # float16 through float32, as PyTorch


def _var_gradient(g, x, axes, correction, keepdim, full, dim):
    """PyTorch's var_backward: 2 / (n - correction) * g * (x - mean); with no dim and n - correction <= 0, inf (NaN
    where x is its mean) times g; with a dim, n counts its sizes only (1 for an empty one) and the factor is 2 / (n -
    correction) of any sign, inf at 0."""
    xp = backend.xp_of(g)
    if not keepdim:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    deviations = x.data - x.data.mean(axis=axes, keepdims=True)
    count = math.prod(x.shape[a] for a in axes) if full or numpy.ndim(dim) == 0 or len(dim) else 1
    if full and count - correction <= 0:
        return g * xp.where(deviations == 0, math.nan, math.inf).astype(g.dtype)
    factor = 2 / (count - correction) if count != correction else math.inf
    return (opmath(g) * factor).astype(g.dtype, copy=False) * deviations  # float16: g * factor in float32, as PyTorch


@quiet
@numpy_names
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """torch.var: the variance over ``dim`` (an int, a tuple, or None for all), divided by n - correction (1: Bessel's;
    ``unbiased=False`` is correction 0), in x's floating-point dtype; PyTorch's gradient (_var_gradient)."""
    if out is not None:
        refuse_out("var")
    axes, correction, keepdim, full = _var_arguments("var", input, dim, unbiased, keepdim, correction)
    result = _variance("var", input, axes, correction, keepdim).astype(input.dtype)
    return make_result(result, (input,), lambda g: (_var_gradient(g, input, axes, correction, keepdim, full, dim),),
                       "var")


@numpy_names
@quiet
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """torch.std: the square root of var's variance (the same arguments); PyTorch's gradient, var's of g / (2 std),
    0 where std is 0."""
    if out is not None:
        refuse_out("std")
    axes, correction, keepdim, full = _var_arguments("std", input, dim, unbiased, keepdim, correction)
    result = backend.xp_of(input.data).sqrt(_variance("std", input, axes, correction, keepdim)).astype(input.dtype)

    def backward(g):
        xp = backend.xp_of(g)
        return (_var_gradient(xp.where(result == 0, 0, g / (result * 2)), input, axes, correction, keepdim, full, dim),)

    return make_result(result, (input,), backward, "std")


def _norm_order(p):
    """norm's ``p`` as a float: 'fro' (and None) is 2; a number or a one-element tensor is its value; 'nuc', a matrix
    norm, is not supported, and any other string is PyTorch's error."""
    if p is None or p == "fro":
        return 2.0
    if p == "nuc":
        raise NotImplementedError("norm: p='nuc' (the nuclear norm, a sum of singular values) is not supported by "
                                  "tinyrrn")
    if isinstance(p, str):
        raise ArgumentError(f"norm: Order {p} not supported (as PyTorch; 'fro', 'nuc' or a number)")
    p = p.item() if isinstance(p, Tensor) else p
    if not isinstance(p, (int, float, numpy.integer, numpy.floating)):
        raise TypeError(f"norm(): argument 'p' must be a number or a string, not {type(p).__name__} (as PyTorch)")
    return float(p)


@quiet
def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm: the vector p-norm of x over ``dim`` (an int, a tuple, or None or () for all), sum(|x|^p)^(1/p);
    p 'fro' (the default) or 2, 1, inf (the largest |x|), -inf, 0 (the count of non-zeros) or any other number.
    ``dtype`` converts x first; a floating-point x only, as PyTorch. The gradient is PyTorch's: 0 where the norm is
    0 (x / norm for p=2), and for +-inf split evenly among the ties (and NaNs)."""
    if out is not None:
        refuse_out("norm")
    order = _norm_order(p)
    check_tensors("norm", input)
    flag("norm", "keepdim", keepdim)
    dtype = dtype_argument("norm", dtype)
    if input.dtype.kind != "f":
        raise DtypeError(f"norm: Expected a floating point tensor as input, got {input.dtype} (as PyTorch)")
    if dtype is not None and (dtype.kind != "f" or dtype.itemsize < input.dtype.itemsize):
        raise ArgumentError(f"norm: dtype={dtype} is refused for an input of {input.dtype}, as PyTorch: a floating-point "
                            "dtype the input converts to without narrowing")
    x = input if dtype is None else input.astype(dtype)
    axes = axes_tuple("norm", dim, x.ndim)
    xp, data = backend.xp_of(x.data), opmath(x.data)
    size = xp.abs(data)
    if math.isinf(order) and builtins.any(x.shape[axis] == 0 for axis in axes):
        raise ArgumentError("norm: linalg.vector_norm cannot compute the inf norm on an empty tensor because the "
                            "operation does not have an identity (as PyTorch)")
    if math.isinf(order):
        result = size.max(axis=axes, keepdims=True) if order > 0 else size.min(axis=axes, keepdims=True)
    elif order == 0:
        result = (size != 0).sum(axis=axes, keepdims=True, dtype=data.dtype)
    elif order == 1:
        result = accurate_sum(size, axes, True)
    elif order == 2:
        result = xp.sqrt(accurate_sum(size * size, axes, True))
    else:
        result = accurate_sum(size ** order, axes, True) ** (1 / order)

    def backward(g):  # PyTorch's formulas, step by step in x's dtype (sgn(NaN) is 0, as there)
        if order == 0:
            return (None,)  # (PyTorch's: no gradient at all)
        values, norms, g = x.data, result.astype(x.dtype, copy=False), g.reshape(result.shape)
        signs = (values > 0).astype(x.dtype) - (values < 0).astype(x.dtype)
        if order == 1:
            return (signs * g,)
        if order == 2:
            return (g * xp.where(norms == 0, 0, values / norms).astype(x.dtype, copy=False),)
        sizes = xp.abs(values)
        if math.isinf(order):
            ties = (sizes == norms) | xp.isnan(sizes)
            return (signs * (g / ties.sum(axis=axes, keepdims=True, dtype=g.dtype) * ties),)
        if order < 1:
            return (signs * xp.where(values == 0, 0, sizes ** (order - 1)).astype(x.dtype, copy=False) * g
                    * norms ** (1 - order),)
        scaled = signs * sizes ** (order - 1) if order < 2 else values * sizes ** (order - 2)
        return (scaled * xp.where(norms == 0, 0, g / norms ** (order - 1)).astype(x.dtype, copy=False),)

    kept = result if keepdim else result.reshape([n for i, n in enumerate(result.shape) if i not in axes])
    return make_result(kept.astype(x.dtype, copy=False), (x,), backward, "norm")


@quiet
def logsumexp(input, dim, keepdim=False, *, out=None):
    """torch.logsumexp: log(sum(exp(x))) over ``dim`` (an int or a tuple), computed as max + log(sum(exp(x - max))),
    without overflow; integer and bool tensors give float32. The gradient g exp(x - out), PyTorch's."""
    if out is not None:
        refuse_out("logsumexp")
    check_tensors("logsumexp", input)
    flag("logsumexp", "keepdim", keepdim)
    if dim is None:
        raise TypeError("logsumexp(): argument 'dim' must be tuple of ints, not NoneType (as PyTorch)")
    if numpy.ndim(dim) == 1 and len(dim) == 0:
        raise ArgumentError("logsumexp: dim=() is refused, as PyTorch refuses it; name the dims to reduce")
    axes = axes_tuple("logsumexp", dim, input.ndim)
    data = input.data if input.dtype.kind == "f" else input.data.astype("float32")
    xp, wide = backend.xp_of(data), opmath(data)
    if wide.size:
        top = wide.max(axis=axes, keepdims=True)
        top = xp.where(xp.isinf(top), 0, top)
    else:
        top = xp.zeros([1 if i in axes else n for i, n in enumerate(wide.shape)], wide.dtype)
    result = (xp.log(accurate_sum(xp.exp(wide - top), axes, True)) + top).astype(data.dtype, copy=False)
    kept = result if keepdim else result.reshape([n for i, n in enumerate(result.shape) if i not in axes])
    return make_result(kept, (input,), lambda g: (g.reshape(result.shape) * xp.exp(data - result),), "logsumexp")
