"""Element-wise ops: arithmetic and comparisons with broadcasting and PyTorch's type promotion,
exp/log, activations, dropout, dtype and device moves.

Each op computes its output with the array module of its inputs and returns the gradient
rule as a closure over what the rule needs. Arithmetic and comparisons also take integer
and bool tensors, forward only (such tensors never require gradients).
"""
import functools
import math
import numbers
import operator
import warnings

import numpy

from .. import backend, threads
from ..random import random_of
from ..grad_mode import no_grad
from ..tensor import Tensor, check_inference_write, in_place_input, make_result, records_in_place, written_in_place
from ._util import (ArgumentError, DtypeError, broadcast_shape, check_float, check_tensors, flag, integer, number,
                    quiet, refuse_internal_overlap, refuse_out, saved_beside_inputs, saving_originals, unbroadcast)
from .dtypes import DEFAULT_FLOAT, TORCH_NAMES, category, filled, number_fits, opmath, result_type


def _operands(op, a, b, dtype=None):
    """(a, b) as tensors, and (x, y) their arrays in ``dtype`` (default: PyTorch's result type); one of
    them is a Tensor (PyTorch's TypeError otherwise), the other may be a number."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        check_tensors(op, a, b)
    elif not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected a Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    elif isinstance(b, Tensor):
        a = a if type(a) is float else _number(op, a, "input", 1)  # a float needs no check (the usual case)
    else:
        b = b if type(b) is float else _number(op, b, "other", 2)
    dtype = result_type(a, b) if dtype is None else dtype
    xp = backend.xp_of((a if isinstance(a, Tensor) else b).data)
    if not isinstance(a, Tensor):
        a = Tensor(_scalar_or_array(xp, a, dtype))
    if not isinstance(b, Tensor):
        b = Tensor(_scalar_or_array(xp, b, dtype))
    broadcast_shape(op, a.shape, b.shape)
    x = a.data if a.dtype == dtype else a.data.astype(dtype)
    y = b.data if b.dtype == dtype else b.data.astype(dtype)
    return a, b, x, y


def _number(op, value, name, position):
    """The operand that is not a Tensor, a number, as PyTorch reads it: an array or a list is its TypeError (wrap
    it in a Tensor; Python's operators take arrays, see tinyrrn.operators), a Python int beyond int64 and uint64
    its OverflowError (NumPy would make it a float or an object), and a NumPy bool a float (True + int tensor is
    a float32 tensor there)."""
    if type(value) is int:
        if not -2 ** 63 <= value < 2 ** 64:
            raise OverflowError(f"{op}: the Python int {value} is too big to convert (outside int64 and uint64, "
                                "as PyTorch)")
        return value
    if not isinstance(value, (numbers.Number, numpy.generic)):
        raise TypeError(f"{op}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__} "
                        "(as PyTorch)")
    return float(value) if isinstance(value, numpy.bool_) else value


def _scalar_or_array(xp, value, dtype):
    """``value`` as an array of ``dtype``; a number is filled in on the device (no copy from the
    host, which a GPU would wait for), wrapped as PyTorch's: 300 in uint8 is 44."""
    if isinstance(value, (numbers.Number, numpy.generic)):
        return xp.full((), numpy.asarray(value).astype(dtype)[()], dtype=dtype)
    return xp.asarray(value).astype(dtype)


def _cpu_scalar(value):
    """Whether PyTorch's CPU kernels read ``value`` as a scalar: a number, or a 0-d tensor on the host."""
    if isinstance(value, Tensor):
        return value.ndim == 0 and value.device == "cpu"
    return isinstance(value, (numbers.Number, numpy.generic))


def _float32_scalar(op):
    """``op(a, b)`` as PyTorch's CPU kernels of mul and div (every rounding mode) compute it: a float16
    result whose second operand is a scalar (_cpu_scalar) of another dtype is computed in float32, the
    scalar kept at float32 ("opmath"), and rounded once: float16 x * 1e-8 is not 0, x / 0.1 is not
    x / 0.09998. Made of astype, so the gradient rounds once too. PyTorch's add, sub, pow and
    comparisons, and a scalar first operand, round the scalar to float16 first, as _operands does."""
    @functools.wraps(op)
    def wrapped(input, other, *args, **kwargs):
        if (isinstance(input, Tensor) and input.data.dtype.char == "e" and _cpu_scalar(other)  # "e": float16, cheaply
                and getattr(other, "dtype", None) != "float16" and result_type(input, other) == "float16"):
            wide = op(astype(input, "float32"), astype(other, "float32") if isinstance(other, Tensor) else other,
                      *args, **kwargs)
            return saving_originals(astype(wide, "float16"), op.__name__, (input, other))
        return op(input, other, *args, **kwargs)
    return wrapped


# Element-wise chains: plain functions of arrays that write into their last argument ``out``;
# tinyrrn.threads.elementwise runs them on blocks of rows over the threads, or fused on a GPU.
def _add(x, y, out):
    backend.xp_of(x).add(x, y, out=out)


def _relu(x, out):
    """max(x, 0) as PyTorch's select, x < 0 ? 0 : x: x where it ties with 0 (relu(-0.0) is -0.0), NaN kept. clip
    to [0, inf] is that select in NumPy and CuPy, for every float dtype, at maximum's speed; maximum's pick at a tie
    depends on the dtype (NumPy's float32 gives +0.0 at -0.0, its float16 -0.0). Integers (no -0, no inf) take
    maximum. One corner is not PyTorch's: an inf or NaN gradient reaching a unit that is off is NaN (g * mask) where
    PyTorch's is 0. NumPy has that select only as a masked copy (copyto(where=) or where), 5-15x slower than
    multiply with a ReLU's mask, and these passes run after every batch norm."""
    xp = backend.xp_of(x)
    if x.dtype.kind == "f":
        xp.clip(x, 0, math.inf, out=out)
    else:
        xp.maximum(x, 0, out=out)


def _add_relu(x, y, out):
    backend.xp_of(x).add(x, y, out=out)
    _relu(out, out)


def _relu_gradient(g, y, out):
    """The gradient through a ReLU whose output is y: 0 where y <= 0 (0 at 0), else g, NaN included
    (as PyTorch's threshold_backward)."""
    xp = backend.xp_of(g)
    xp.multiply(g, xp.logical_not(y <= 0), out=out)


def _with_alpha(op, a, b, alpha):
    """add's and sub's a +- alpha * b, ``alpha`` checked as PyTorch checks it (_alpha_dtype). A floating-point result as
    PyTorch's fused kernel computes it: alpha in the result dtype, and one rounding (float16 in float32, float32 in
    float64; float64 rounds twice, NumPy has no fused multiply-add; an alpha beyond its range refused); the gradient
    to b is g * alpha as mul takes a number. Other results are b * alpha in the result dtype, alpha converted to it
    with PyTorch's overflow check (of -alpha for sub; a bool result takes alpha's truth value), then add or sub."""
    dtype = _alpha_dtype(op, alpha, a, b)
    if dtype.kind != "f":
        alpha = bool(alpha) if dtype.kind == "b" else alpha
        _check_numbers(op, dtype, alpha if op == "add" else -alpha)
        b = b if alpha == 1 else mul(astype(b, dtype), alpha) if isinstance(b, Tensor) else b * alpha
        return add(a, b) if op == "add" else sub(a, b)
    a, b, x, y = _operands(op, a, b)
    largest = float(numpy.finfo(x.dtype).max)
    if math.isfinite(alpha) and not -largest <= alpha <= largest:  # (NaN and inf are taken)
        raise ArgumentError(f"{op}: value {alpha!r} (alpha) cannot be converted to type {x.dtype} without overflow "
                            "(as PyTorch)")
    wide = numpy.dtype("float64" if x.dtype != "float16" else "float32")
    scaled = y.astype(wide) * x.dtype.type(alpha)
    out = (x.astype(wide) + scaled if op == "add" else x.astype(wide) - scaled).astype(x.dtype)

    def backward(g):
        gb = None
        if b.requires_grad:
            gb = (opmath(g) * (numpy.float64 if g.dtype == "float64" else numpy.float32)(alpha)).astype(g.dtype,
                                                                                                      copy=False)
            gb = unbroadcast(gb if op == "add" else -gb, b.shape)
        return (unbroadcast(g, a.shape) if a.requires_grad else None), gb

    return make_result(out, (a, b), backward, op)


def _alpha_dtype(op, alpha, a, b):
    """add's and sub's ``alpha``, as PyTorch checks it (a bool for a bool result only, a float not for an integer or
    bool one; a NumPy bool is a float there): their result's dtype."""
    dtype = result_type(a, b)
    kind = dtype.kind
    if type(alpha) is int:
        _number(op, alpha, "alpha", 3)  # PyTorch's OverflowError beyond int64 and uint64
    if isinstance(alpha, bool):
        if kind != "b":
            raise ArgumentError(f"{op}: Boolean alpha only supported for Boolean results (as PyTorch), got alpha={alpha}")
    elif not isinstance(alpha, (numbers.Number, numpy.generic)) or isinstance(alpha, complex):
        raise TypeError(f"{op}(): argument 'alpha' must be a number, not {type(alpha).__name__} (as PyTorch)")
    elif kind != "f" and not isinstance(alpha, (int, numpy.integer)):
        raise ArgumentError(f"{op}: For integral input tensors, argument alpha must not be a floating point number "
                            f"(as PyTorch), got alpha={alpha!r}")
    return dtype


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other with broadcasting (torch.add)."""
    if out is not None:
        refuse_out("add")
    if type(alpha) is not int or alpha != 1:  # the checks only when alpha is given: add runs thousands of times a step
        return _with_alpha("add", input, other, alpha)
    input, other, x, y = _operands("add", input, other)

    def backward(g):
        return (unbroadcast(g, input.shape) if input.requires_grad else None,
                unbroadcast(g, other.shape) if other.requires_grad else None)

    result = threads.elementwise(_add, x, y) if x.shape == y.shape else x + y  # the pool needs equal shapes
    return make_result(result, (input, other), backward, "add")


def add_relu(input, other):
    """relu(input + other) in one pass over memory (a residual unit's sum and activation), floats only."""
    input, other, x, y = _operands("add_relu", input, other)
    check_float("add_relu", input, other)
    if x.shape == y.shape:
        out = threads.elementwise(_add_relu, x, y)
    else:  # broadcasting: the sum, then the ReLU in place
        out = x + y
        threads.elementwise(_relu, out, out=out)

    def backward(g):
        gated = threads.elementwise(_relu_gradient, g, out)
        return (unbroadcast(gated, input.shape) if input.requires_grad else None,
                unbroadcast(gated, other.shape) if other.requires_grad else None)

    return make_result(out, (input, other), backward, "add_relu")


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other with broadcasting (torch.sub; bool operands are refused, as in PyTorch)."""
    if out is not None:
        refuse_out("sub")
    if any(isinstance(v, bool) or isinstance(v, Tensor) and v.dtype == bool for v in (input, other)):  # NumPy's: a float
        raise ArgumentError("sub: subtraction with a bool tensor is not supported (as in PyTorch)")
    if type(alpha) is not int or alpha != 1:
        return _with_alpha("sub", input, other, alpha)
    input, other, x, y = _operands("sub", input, other)

    def backward(g):
        return (unbroadcast(g, input.shape) if input.requires_grad else None,
                unbroadcast(-g, other.shape) if other.requires_grad else None)

    return make_result(x - y, (input, other), backward, "sub")


@_float32_scalar
@quiet
def mul(input, other, *, out=None):
    """input * other with broadcasting (torch.mul)."""
    if out is not None:
        refuse_out("mul")
    input, other, x, y = _operands("mul", input, other)

    def backward(g):
        return (unbroadcast(g * y, input.shape) if input.requires_grad else None,
                unbroadcast(g * x, other.shape) if other.requires_grad else None)

    return make_result(x * y, (input, other), backward, "mul")


@_float32_scalar
@quiet
def div(input, other, *, rounding_mode=None, out=None):
    """input / other with broadcasting (torch.div); integer and bool operands divide as float32 (rounding_mode
    by keyword only, as PyTorch's).

    rounding_mode 'trunc' rounds the quotient toward zero and 'floor' down; both keep an
    integer result type, and their gradient is zero, as in PyTorch.
    """
    if out is not None:
        refuse_out("div")
    if rounding_mode is None:
        dtype = result_type(input, other)
        input, other, x, y = _operands("div", input, other, dtype if category(dtype) == 2 else DEFAULT_FLOAT)
        quotient = x / y

        def backward(g):  # PyTorch's: -g * ((a / b) / b) for b, of the inputs (the output may have changed since)
            return (unbroadcast(g / y, input.shape) if input.requires_grad else None,
                    unbroadcast(-g * ((x / y) / y), other.shape) if other.requires_grad else None)

        return make_result(quotient, (input, other), backward, "div")
    if rounding_mode not in ("trunc", "floor"):
        raise ArgumentError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    input, other, x, y = _operands("div", input, other)
    xp = backend.xp_of(x)
    if category(x.dtype) == 0:
        raise NotImplementedError(f"div: rounding_mode={rounding_mode!r} is not implemented for bool "
                                  "tensors (as in PyTorch)")
    if category(x.dtype) == 1:
        if x.size and y.size and bool((y == 0).any()):  # an empty result divides nothing
            raise ArgumentError("div: integer division by zero (PyTorch: RuntimeError: ZeroDivisionError)")
        quotient = x // y if rounding_mode == "floor" else xp.sign(x) * xp.sign(y) * (xp.abs(x) // xp.abs(y))
    else:
        quotient = xp.floor_divide(x, y) if rounding_mode == "floor" else xp.trunc(x / y)
    return make_result(quotient, (input, other), lambda g: tuple(xp.zeros_like(t.data) if t.requires_grad else None
                                                    for t in (input, other)), "div")


@quiet
def reciprocal(input, *, out=None):
    """1 / x (torch.reciprocal; integer and bool tensors give float32), with PyTorch's gradient -g * (out * out); its
    node, as PyTorch's, has x alone as its input (the 1 of div(1, x) is none: an op on inference tensors alone
    records no graph)."""
    if out is not None:
        refuse_out("reciprocal")
    check_tensors("reciprocal", input)
    with no_grad():
        inverse = div(1, input).data
    return make_result(inverse, (input,), lambda g: (-g * (inverse * inverse),), "reciprocal")


def floor_divide(input, other, *, out=None):
    """input // other (torch.floor_divide): div(input, other, rounding_mode='floor'), not differentiable.

    As in PyTorch, backward() through it raises; div(..., rounding_mode='floor') has zero gradients. Its node, as
    PyTorch's, saves nothing (it is not div's, which saves its inputs).
    """
    if out is not None:
        refuse_out("floor_divide")
    with no_grad():
        result = div(input, other, rounding_mode="floor")
    return make_result(result.data, [t for t in (input, other) if isinstance(t, Tensor)],
                       _not_differentiable("floor_divide"), "floor_divide")


def _not_differentiable(op):
    def backward(g):
        raise RuntimeError(f"{op}: the derivative is not implemented (nor in PyTorch); "
                           "use div(a, b, rounding_mode='floor'), whose gradient is zero")
    return backward


@quiet
def pow(input, exponent, *, out=None):
    """base ** exponent; either may be a tensor or a Python number (torch.pow).

    PyTorch's gradients: e * x ** (e - 1) for the base, 0 where e == 0 (also at x == 0);
    out * log(x) for the exponent, 0 where x == 0 and e >= 0. Integer powers stay integer; a
    negative integer exponent is refused as a Python number and, in a tensor, gives PyTorch's
    integer result: 1 ** e = 1, (-1) ** e = +-1, anything else 0.
    """
    if out is not None:
        refuse_out("pow")
    a, b, x, e = _operands("pow", input, exponent)
    xp = backend.xp_of(x)
    if category(x.dtype) == 0:  # PyTorch has no bool power, but for x ** True and x ** False
        if not isinstance(exponent, bool):
            raise NotImplementedError("pow: not implemented for bool tensors (as in PyTorch)")
        return Tensor(x.copy() if exponent else xp.ones_like(x))
    number = isinstance(exponent, (numbers.Number, numpy.generic))
    if category(x.dtype) == 1 and number and exponent < 0:  # checked before its cast (uint8 ** -3 is not ** 253)
        raise ArgumentError("pow: Integers to negative integer powers are not allowed.")
    if number and not _exponent_fits(exponent, x.dtype):  # (uint8 ** 300 is not ** 44)
        raise ArgumentError(f"pow: value {exponent!r} cannot be converted to type {x.dtype} without overflow "
                            "(as PyTorch)")
    negative = None
    if category(x.dtype) == 1 and not number and bool((e < 0).any()):  # a tensor's, cast as PyTorch casts it
        negative = e < 0
    result = _power(x, e, exponent if number else None) if negative is None else x ** xp.where(negative, 0, e)
    if negative is not None:
        odd = (e % 2) != 0
        result = xp.where(negative, xp.where(x == 1, 1, xp.where(x == -1, xp.where(odd, -1, 1), 0)),
                          result).astype(result.dtype)

    def backward(g):
        ga = gb = None
        if a.requires_grad and number:
            ga = unbroadcast(g * _number_power_gradient(x, exponent), a.shape)
        elif a.requires_grad:  # e - (e != 0) is e - 1, but 0 where e == 0: 0 ** -1 never appears
            ga = unbroadcast(g * (e * _power(x, e - (e != 0), None)), a.shape)
        if b.requires_grad and isinstance(input, (numbers.Number, numpy.generic)):  # PyTorch's: log(base) in double,
            factor = (opmath(result) * float(numpy.log(float(input)))).astype(result.dtype, copy=False)  # the result
            if input == 0:  # times it as mul takes a number (float16 in float32)
                factor = xp.where(e >= 0, xp.zeros((), dtype=result.dtype), factor)
            gb = unbroadcast(g * factor, b.shape)
        elif b.requires_grad:
            zero = (x == 0) & (e >= 0)
            gb = unbroadcast(g * xp.where(zero, 0, result * xp.log(xp.where(zero, 1, x))), b.shape)
        return ga, gb  # (x ** number: its one input takes ga)

    return make_result(result, (a,) if number else (a, b), backward, "pow")  # x ** number: PyTorch's node has one input


def _exponent_fits(exponent, dtype):
    """Whether a number exponent converts to the result's ``dtype`` as PyTorch's pow converts it, with its overflow
    check: into an integer dtype, or float16 (finite beyond 65504 does not fit; inf and NaN do); float32 and
    float64 take any."""
    if dtype.kind in "iu":
        info = numpy.iinfo(dtype)
        return info.min <= exponent <= info.max
    return dtype != "float16" or not numpy.isfinite(exponent) or operator.abs(exponent) <= float(numpy.finfo(dtype).max)


def _number_power_gradient(x, exponent):
    """d(x ** exponent)/dx for a number exponent, as PyTorch's pow_backward: exponent * x ** (exponent - 1), each
    step rounded to x's dtype; exponent - 1 taken in double, then as pow takes it (in x's dtype), the factor
    exponent as mul takes a number (float16 in float32: 1.7, not 1.7002); 0 for exponent 0."""
    if exponent == 0:
        return backend.xp_of(x).zeros_like(x)
    power = _power(x, exponent - 1, exponent - 1)
    return (exponent * opmath(power)).astype(x.dtype, copy=False)


def _power(x, e, exponent):
    """x ** e; for a number exponent of -0.5 (also in the gradient of x ** 0.5), PyTorch's rsqrt(x) on float32
    and float64: -inf at x = -0.0, where C's pow, which PyTorch's float16 keeps, gives +inf."""
    if exponent == -0.5 and x.dtype != "float16":
        return 1 / backend.xp_of(x).sqrt(x)
    return x ** e


def _comparison(name, compare, symbol):
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        if not isinstance(input, Tensor):  # PyTorch's comparisons take a number second only
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__} (as PyTorch)")
        _, _, x, y = _operands(name, input, other)
        return Tensor(compare(x, y))
    op.__name__ = name
    op.__doc__ = f"input {symbol} other element-wise, compared in PyTorch's promoted dtype: a bool tensor without gradient."
    return op


lt = _comparison("lt", operator.lt, "<")
le = _comparison("le", operator.le, "<=")
gt = _comparison("gt", operator.gt, ">")
ge = _comparison("ge", operator.ge, ">=")
eq = _comparison("eq", operator.eq, "==")
ne = _comparison("ne", operator.ne, "!=")


def _integral(op, kernel, array):
    """Refuse a floating-point array of a bitwise op, with PyTorch's NotImplementedError (also a TypeError: Python's
    ``~x`` of a float tensor is PyTorch's TypeError)."""
    if array.dtype.kind == "f":
        raise DtypeError(f"{op}: \"{kernel}_cpu\" not implemented for '{TORCH_NAMES[array.dtype]}' (as PyTorch: bitwise "
                         "ops take bool and integer tensors)")


def _bitwise(name, symbol):
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        _, _, x, y = _operands(name, input, other)
        _integral(name, name, x)
        return Tensor(getattr(backend.xp_of(x), name)(x, y))
    op.__name__ = name
    op.__doc__ = (f"input {symbol} other element-wise (torch.{name}), of bool and integer tensors and numbers in "
                  "PyTorch's promoted dtype (a number wraps into it: int8 & 300 is int8 & 44), without gradient.")
    return op


bitwise_and = _bitwise("bitwise_and", "&")
bitwise_or = _bitwise("bitwise_or", "|")
bitwise_xor = _bitwise("bitwise_xor", "^")


def bitwise_not(input, *, out=None):
    """~input (torch.bitwise_not): a bool tensor's logical not, an integer tensor's bits inverted; without gradient."""
    if out is not None:
        refuse_out("bitwise_not")
    check_tensors("bitwise_not", input)
    _integral("bitwise_not", "bitwise_not", input.data)
    return Tensor(backend.xp_of(input.data).invert(input.data))


def _shift(name, kernel, symbol, shift):
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        _, _, x, y = _operands(name, input, other)
        if x.dtype.kind not in "iu":
            raise DtypeError(f"{name}: \"{kernel}_cpu\" not implemented for '{TORCH_NAMES[x.dtype]}' (as PyTorch: "
                             "shifts take integer tensors)")
        xp, bits = backend.xp_of(x), 8 * x.dtype.itemsize
        outside = (y < 0) | (y >= bits)  # C leaves these undefined; PyTorch shifts every bit out
        result = getattr(xp, shift)(x, xp.where(outside, bits - 1, y).astype(x.dtype, copy=False))
        if kernel == "lshift" or x.dtype.kind == "u":  # (a signed >> keeps the sign: x >> (bits - 1))
            result = xp.where(outside, xp.zeros((), x.dtype), result)
        return Tensor(result)
    op.__name__ = name
    op.__doc__ = (f"input {symbol} other element-wise (torch.{name}), of integer tensors and numbers in PyTorch's "
                  "promoted dtype, without gradient; a shift by a negative amount or by the dtype's bits or more "
                  "shifts every bit out, as PyTorch's (0, or a signed >>'s -1 for a negative value).")
    return op


bitwise_left_shift = _shift("bitwise_left_shift", "lshift", "<<", "left_shift")
bitwise_right_shift = _shift("bitwise_right_shift", "rshift", ">>", "right_shift")


def _logical(name):
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        check_tensors(name, input, other)
        broadcast_shape(name, input.shape, other.shape)
        return Tensor(getattr(backend.xp_of(input.data), name)(input.data, other.data))
    op.__name__ = name
    op.__doc__ = (f"torch.{name}: the truth values (nonzero, NaN too) of two tensors of any dtypes combined, broadcast; "
                  "a bool tensor without gradient.")
    return op


logical_and, logical_or, logical_xor = _logical("logical_and"), _logical("logical_or"), _logical("logical_xor")


def logical_not(input, *, out=None):
    """torch.logical_not: True where input is zero, of any dtype; a bool tensor without gradient."""
    if out is not None:
        refuse_out("logical_not")
    check_tensors("logical_not", input)
    return Tensor(backend.xp_of(input.data).logical_not(input.data))


def clamp(input, min=None, max=None, *, out=None):
    """x limited to [min, max] (torch.clamp, also clip): each bound a number, a tensor or None, not both None; the
    result in PyTorch's promoted dtype and broadcast shape, max where min > max, NaN kept. PyTorch's gradients: to
    x where min <= x <= max, to min where x < min < max, to max where x > max or max < min."""
    if out is not None:
        refuse_out("clamp")
    check_tensors("clamp", input)
    if min is None and max is None:
        raise ArgumentError("clamp: At least one of 'min' or 'max' must not be None (as PyTorch)")
    if min is not None and max is not None and isinstance(min, Tensor) != isinstance(max, Tensor):
        bound = min if isinstance(min, Tensor) else max
        if bound.ndim or bound.requires_grad:
            raise TypeError("clamp: min and max are both tensors or both numbers (a 0-d tensor that requires no grad "
                            "counts as a number), as PyTorch")
    min, max = (b if b is None or isinstance(b, Tensor) else _number("clamp", b, name, i)
                for b, name, i in ((min, "min", 2), (max, "max", 3)))
    dtype = result_type(input, *(b for b in (min, max) if b is not None))
    if category(dtype) == 0:
        raise DtypeError("clamp: \"clamp_cpu\" not implemented for 'Bool' (as PyTorch)")
    _check_numbers("clamp", dtype, min, max)
    data = input.data.astype(dtype, copy=False)
    xp = backend.xp_of(data)
    bounds, lo, hi = (), None, None  # the bounds as tensors (the graph's inputs beside x) and arrays
    if min is not None:
        _, min, _, lo = _operands("clamp", input, min, dtype)
        bounds += (min,)
    if max is not None:
        _, max, _, hi = _operands("clamp", input, max, dtype)
        bounds += (max,)
    result = data if lo is None else _tie_kept(xp, data, xp.maximum(data, lo))
    result = result if hi is None else _tie_kept(xp, result, xp.minimum(result, hi))  # (a new array: a bound is given)

    def backward(g):
        inside = (True if lo is None else data >= lo) & (True if hi is None else data <= hi)
        grads = [unbroadcast(xp.where(inside, g, 0), input.shape) if input.requires_grad else None]
        if lo is not None:
            below = data < lo if hi is None else (data < lo) & (lo < hi)
            grads.append(unbroadcast(xp.where(below, g, 0), min.shape) if min.requires_grad else None)
        if hi is not None:
            above = data > hi if lo is None else (data > hi) | (hi < lo)
            grads.append(unbroadcast(xp.where(above, g, 0), max.shape) if max.requires_grad else None)
        return tuple(grads)

    return make_result(result, (input,) + bounds, backward, "clamp")


clip = clamp


def _tie_kept(xp, x, picked):
    """maximum's or minimum's ``picked`` of x and a bound, x where they are equal (clamp(-0.0, min=0.0) is -0.0), as
    PyTorch's std::max and std::min keep their first operand; the pick at a tie of NumPy's depends on the dtype."""
    return xp.where(picked == x, x, picked)


def clamp_min(input, min, *, out=None):
    """torch.clamp_min: x limited below by ``min``, a number or a tensor (clamp's rules and gradients)."""
    if out is not None:
        refuse_out("clamp_min")
    if min is None:
        raise TypeError("clamp_min(): argument 'min' must be a number or a tensor, not None (as PyTorch)")
    return clamp(input, min=min)


def clamp_max(input, max, *, out=None):
    """torch.clamp_max: x limited above by ``max``, a number or a tensor (clamp's rules and gradients)."""
    if out is not None:
        refuse_out("clamp_max")
    if max is None:
        raise TypeError("clamp_max(): argument 'max' must be a number or a tensor, not None (as PyTorch)")
    return clamp(input, max=max)


def _check_numbers(op, dtype, *values, float16=True):
    """PyTorch's refusal of a number among ``values`` that does not fit the result ``dtype`` (number_fits: 1000 into
    int8), where NumPy would wrap it (to -24) or round it to inf; tensors among them are converted freely."""
    for value in values:
        if isinstance(value, (numbers.Number, numpy.generic)) and not number_fits(value, dtype, float16):
            raise ArgumentError(f"{op}: value {value!r} cannot be converted to type {dtype} without overflow "
                                "(as PyTorch)")


def _extremum(name, pick, loses):
    """maximum or minimum: element-wise of two tensors (a number is PyTorch's TypeError), NaN propagated; PyTorch's
    gradient: g to the one picked, g / 2 to each at a tie (``loses(a, b)``: a is not picked)."""
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        check_tensors(name, input, other)
        a, b, x, y = _operands(name, input, other)
        xp = backend.xp_of(x)

        def backward(g):
            shared = xp.where(x == y, g / 2, g)
            return (unbroadcast(xp.where(loses(x, y), 0, shared), a.shape) if a.requires_grad else None,
                    unbroadcast(xp.where(loses(y, x), 0, shared), b.shape) if b.requires_grad else None)

        return make_result(pick(x, y), (a, b), backward, name)
    op.__name__ = name
    op.__doc__ = f"torch.{name}(input, other): " + _extremum.__doc__.split(": ", 1)[1]
    return op


maximum = _extremum("maximum", lambda x, y: backend.xp_of(x).maximum(x, y), operator.lt)
minimum = _extremum("minimum", lambda x, y: backend.xp_of(x).minimum(x, y), operator.gt)


@quiet
def remainder(input, other, *, out=None):
    """input % other with the sign of other, as Python's % and torch.remainder: fmod(input, other) + other where their
    signs differ (-4.0 % 2 is -0.0, x % 0.0 NaN; an integer divisor of 0 is refused, as PyTorch's ZeroDivisionError).
    PyTorch's gradients: g for input, -g * floor(input / other) for other (none for a number input, as PyTorch)."""
    if out is not None:
        refuse_out("remainder")
    number_first = not isinstance(input, Tensor)
    input, other, x, y = _operands("remainder", input, other)
    xp = backend.xp_of(x)
    if category(x.dtype) == 0:
        raise DtypeError("remainder: \"remainder_cpu\" not implemented for 'Bool' (as PyTorch)")
    if category(x.dtype) == 1:
        if x.size and y.size and bool((y == 0).any()):
            raise ArgumentError("remainder: integer division by zero (PyTorch: RuntimeError: ZeroDivisionError)")
        result = xp.remainder(x, y)
    else:
        mod = xp.fmod(x, y)
        result = xp.where((mod != 0) & ((y < 0) != (mod < 0)), mod + y, mod)

    def backward(g):
        if number_first:
            raise RuntimeError("derivative for remainder(number, tensor) is not implemented (nor in PyTorch)")
        return (unbroadcast(g, input.shape) if input.requires_grad else None,
                unbroadcast(-g * xp.floor_divide(x, y), other.shape) if other.requires_grad else None)

    return make_result(result, (input, other), backward, "remainder")


def _float_operands(op, input, other, integers=True):
    """remainder's _operands for a float function of two tensors (a number is PyTorch's TypeError): integer and bool
    tensors as float32 (``integers``), or refused as PyTorch."""
    check_tensors(op, input, other)
    dtype = result_type(input, other)
    if category(dtype) != 2 and not integers:
        raise DtypeError(f"{op}: \"{op}_cpu\" not implemented for {TORCH_NAMES[dtype]!r} (as PyTorch)")
    return _operands(op, input, other, dtype if category(dtype) == 2 else DEFAULT_FLOAT)


def _binary(name, kernel, gradients, doc, integers=True):
    """torch.``name`` of two tensors broadcast (_float_operands); ``kernel(xp, x, y)`` its values and
    ``gradients(xp, x, y, out, g)`` the two gradients before unbroadcasting."""
    @quiet
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        a, b, x, y = _float_operands(name, input, other, integers)
        xp = backend.xp_of(x)
        result = kernel(xp, x, y)

        def backward(g):
            ga, gb = gradients(xp, x, y, result, g)
            return (unbroadcast(ga, a.shape) if a.requires_grad else None,
                    unbroadcast(gb, b.shape) if b.requires_grad else None)

        return make_result(result, (a, b), backward, name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}(input, other): {doc}"
    return op


def _atan2_gradients(xp, x, y, result, g):
    scale = 1 / (x * x + y * y)
    scale = xp.where(xp.isinf(scale), 0, scale)  # 0 gradients at (0, 0) (and where the squares underflow), as PyTorch's
    return g * y * scale, g * -x * scale


atan2 = _binary("atan2", lambda xp, x, y: xp.arctan2(x, y), _atan2_gradients,
                "the angle of the point (other, input), in [-pi, pi] (integer and bool tensors give float32); PyTorch's "
                "gradients g other / (input^2 + other^2) and -g input / (input^2 + other^2), 0 at (0, 0).")
hypot = _binary("hypot", lambda xp, x, y: xp.hypot(x, y), lambda xp, x, y, r, g: (g * x / r, g * y / r),
                "sqrt(input^2 + other^2) without overflow, of float tensors (as PyTorch); PyTorch's gradients "
                "g input / out and g other / out.", integers=False)
logaddexp = _binary("logaddexp", lambda xp, x, y: xp.logaddexp(x, y),
                    lambda xp, x, y, r, g: (g / (1 + xp.exp(y - x)), g / (1 + xp.exp(x - y))),
                    "log(e^input + e^other) without overflow, of float tensors (as PyTorch); PyTorch's gradients "
                    "g / (1 + e^(other - input)) and g / (1 + e^(input - other)).", integers=False)


def _nan_ignoring(name, kernel, keeps):
    """fmax or fmin: maximum's or minimum's choice where neither is NaN, else the one that is not NaN (any dtype, in
    PyTorch's promoted one); PyTorch's gradient: g to input where ``keeps(input, other)`` or other is NaN, else to
    other (the whole of it to input at a tie)."""
    def op(input, other, *, out=None):
        if out is not None:
            refuse_out(name)
        check_tensors(name, input, other)
        a, b, x, y = _operands(name, input, other)
        xp = backend.xp_of(x)

        def backward(g):
            to_input = keeps(x, y) | xp.isnan(y)
            return (unbroadcast(xp.where(to_input, g, 0), a.shape) if a.requires_grad else None,
                    unbroadcast(xp.where(to_input, 0, g), b.shape) if b.requires_grad else None)

        return make_result(getattr(xp, kernel)(x, y), (a, b), backward, name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}(input, other): " + _nan_ignoring.__doc__.split(": ", 1)[1]
    return op


fmax = _nan_ignoring("fmax", "fmax", operator.ge)
fmin = _nan_ignoring("fmin", "fmin", operator.le)


@quiet
def fmod(input, other, *, out=None):
    """input % other with the sign of input, as C's fmod (torch.fmod; other a tensor or a number; an integer divisor
    of 0 is refused, as PyTorch's ZeroDivisionError, bool tensors too). PyTorch's gradients: g for input,
    -g * trunc(input / other) for other."""
    if out is not None:
        refuse_out("fmod")
    if not isinstance(input, Tensor):
        raise TypeError(f"fmod(): argument 'input' (position 1) must be Tensor, not {type(input).__name__} (as PyTorch)")
    input, other, x, y = _operands("fmod", input, other)
    xp = backend.xp_of(x)
    if category(x.dtype) == 0:
        raise DtypeError("fmod: \"fmod_cpu\" not implemented for 'Bool' (as PyTorch)")
    if category(x.dtype) == 1 and x.size and y.size and bool((y == 0).any()):
        raise ArgumentError("fmod: integer division by zero (PyTorch: RuntimeError: ZeroDivisionError)")

    def backward(g):
        return (unbroadcast(g, input.shape) if input.requires_grad else None,
                unbroadcast(-g * xp.trunc(x / y), other.shape) if other.requires_grad else None)

    return make_result(xp.fmod(x, y), (input, other), backward, "fmod")


@quiet
def xlogy(input, other, *, out=None):
    """torch.xlogy: input * log(other), 0 where input is 0 unless other is NaN; either may be a number (integer and
    bool tensors give float32; float16 in float32, rounded once). PyTorch's gradients: g log(other) for input (0 where
    input is 0 and other <= 0), g input / other for other."""
    if out is not None:
        refuse_out("xlogy")
    dtype = result_type(input, other)
    a, b, x, y = _operands("xlogy", input, other, dtype if category(dtype) == 2 else DEFAULT_FLOAT)
    xp = backend.xp_of(x)
    wide_x, wide_y = opmath(x), opmath(y)
    zero = (wide_x == 0) & ~xp.isnan(wide_y)
    result = xp.where(zero, 0, wide_x * xp.log(wide_y)).astype(x.dtype, copy=False)

    def backward(g):
        return (unbroadcast(g * xp.where((x == 0) & (y <= 0), 0, xp.log(y)), a.shape) if a.requires_grad else None,
                unbroadcast(g * x / y, b.shape) if b.requires_grad else None)

    return make_result(result, (a, b), backward, "xlogy")


@quiet
def lerp(input, end, weight):
    """torch.lerp: input + weight (end - input), as PyTorch computes it (end - (end - input)(1 - weight) where
    |weight| >= 0.5), of float tensors of one dtype; ``weight`` a number or a tensor, broadcast. PyTorch's gradients:
    g (1 - weight), g weight and g (end - input)."""
    check_tensors("lerp", input, end, names=("input", "end"))
    if end.dtype != input.dtype:
        raise ArgumentError(f"lerp: expected dtype {input.dtype} for `end` but got dtype {end.dtype} (as PyTorch)")
    if input.dtype.kind != "f":
        raise DtypeError(f"lerp: \"lerp_kernel_scalar\" not implemented for {TORCH_NAMES[input.dtype]!r} (as "
                         "PyTorch)")
    xp = backend.xp_of(input.data)
    parents = (input, end)
    if isinstance(weight, Tensor):
        check_tensors("lerp", input, weight, names=("input", "weight"))
        if weight.dtype != input.dtype and weight.ndim:
            raise ArgumentError(f"lerp: expected dtype {input.dtype} for `weight` but got dtype {weight.dtype} (as "
                                "PyTorch)")
        parents, w = parents + (weight,), weight.data.astype(input.dtype, copy=False)
    else:
        w = xp.full((), _number("lerp", weight, "weight", 3), dtype=input.dtype)
    x, y = input.data, end.data
    broadcast_shape("lerp", broadcast_shape("lerp", x.shape, y.shape), w.shape)
    difference = y - x
    wide_x, wide_y, wide_w = opmath(x), opmath(y), opmath(w)  # (float16 in float32, rounded once)
    result = xp.where(xp.abs(wide_w) < 0.5, wide_x + wide_w * (wide_y - wide_x),
                      wide_y - (wide_y - wide_x) * (1 - wide_w)).astype(x.dtype, copy=False)

    def backward(g):
        grads = (unbroadcast(g * (1 - w), input.shape) if input.requires_grad else None,
                 unbroadcast(g * w, end.shape) if end.requires_grad else None)
        if len(parents) == 3:
            grads += (unbroadcast(g * difference, weight.shape) if weight.requires_grad else None,)
        return grads

    return make_result(result, parents, backward, "lerp")


def float_power(input, exponent, *, out=None):
    """torch.float_power: pow in float64, whatever the operands' dtypes (either may be a number); the gradients flow
    back in each tensor's own dtype."""
    if out is not None:
        refuse_out("float_power")
    wide = [astype(v, "float64") if isinstance(v, Tensor) else v for v in (input, exponent)]
    if not isinstance(exponent, Tensor) and isinstance(exponent, (numbers.Number, numpy.generic)):
        wide[1] = float(exponent)  # (an integer exponent in float64, as PyTorch: 2 ** -1 is 0.5)
    return pow(*wide)


def where(condition, input=None, other=None, *, out=None):
    """torch.where: input where condition is True, else other (each a tensor or a number), broadcast, in PyTorch's
    promoted dtype; the gradient to input where condition, to other elsewhere. A uint8 condition is taken with
    PyTorch's warning; torch.where(condition) alone is the indices of its True elements (nonzero, a tuple)."""
    if out is not None:
        refuse_out("where")
    check_tensors("where", condition, names=("condition",))
    xp = backend.xp_of(condition.data)
    if input is None and other is None:
        return tuple(Tensor(i.astype("int64", copy=False)) for i in xp.nonzero(condition.data))
    if input is None or other is None:
        raise TypeError("where() takes a condition and both input and other, or the condition alone (as PyTorch)")
    if condition.dtype == "uint8":
        warnings.warn("where received a uint8 condition tensor. This behavior is deprecated and will be removed in a "
                      "future version of PyTorch. Use a boolean condition instead.", UserWarning, stacklevel=2)
    elif condition.dtype != bool:
        raise ArgumentError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                            f"{condition.dtype} (as PyTorch)")
    values = (input, other)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor(_scalar_or_array(xp, _number("where", input, "input", 2), result_type(input, other)))
    a, b, x, y = _operands("where", input, other)
    _check_numbers("where", x.dtype, *values, float16=False)  # (PyTorch's where rounds to float16's inf)
    if a.device != condition.device:
        check_tensors("where", condition, a, names=("condition", "input"))
    mask = condition.data.astype(bool, copy=False)
    broadcast_shape("where", mask.shape, broadcast_shape("where", x.shape, y.shape))
    unchanged = saved_beside_inputs("where", (a, b), (condition,))

    def backward(g):
        unchanged()  # PyTorch's node saved the condition
        return (unbroadcast(xp.where(mask, g, 0), a.shape) if a.requires_grad else None,
                unbroadcast(xp.where(mask, 0, g), b.shape) if b.requires_grad else None)

    return make_result(xp.where(mask, x, y), (a, b), backward, "where")


def _float_test(name):
    """isnan, isinf or isfinite: a bool tensor without gradient (of an integer or bool tensor: no NaN nor inf)."""
    def op(input):
        check_tensors(name, input)
        return Tensor(getattr(backend.xp_of(input.data), name)(input.data))
    op.__name__ = name
    op.__doc__ = f"torch.{name}: " + _float_test.__doc__.split(": ", 1)[1]
    return op


isnan, isinf, isfinite = _float_test("isnan"), _float_test("isinf"), _float_test("isfinite")


def masked_fill(input, mask, value):
    """torch.masked_fill: x with ``value`` (a number, or a 0-d tensor) where the bool ``mask`` is True, broadcast
    together, in x's dtype (value converted with PyTorch's overflow check, dtypes.filled). The gradient to x where
    the mask is False; to a value tensor, the sum of g where it is True."""
    check_tensors("masked_fill", input, mask, names=("input", "mask"))
    if mask.dtype != bool:
        raise ArgumentError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype} "
                            "(as PyTorch)")
    if isinstance(value, Tensor) and value.ndim:
        raise ArgumentError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                            f"{value.ndim} dimension(s) (as PyTorch)")
    number = value.item() if isinstance(value, Tensor) else value
    if not isinstance(number, (numbers.Number, numpy.generic)):
        raise TypeError(f"masked_fill(): argument 'value' must be a number or a 0-d Tensor, not "
                        f"{type(value).__name__} (as PyTorch)")
    xp = backend.xp_of(input.data)
    broadcast_shape("masked_fill", input.shape, mask.shape)
    fill = xp.full((), filled(number, input.dtype, "masked_fill"), dtype=input.dtype)
    where_mask = mask.data
    unchanged = saved_beside_inputs("masked_fill", (input,), (mask,))
    parents = (input, value) if isinstance(value, Tensor) and input.dtype.kind == "f" else (input,)

    def backward(g):
        unchanged()  # PyTorch's node saved the mask
        grads = (unbroadcast(xp.where(where_mask, 0, g), input.shape) if input.requires_grad else None,)
        if len(parents) == 2:
            grads += (xp.where(where_mask, g, 0).sum() if value.requires_grad else None,)
        return grads

    return make_result(xp.where(where_mask, fill, input.data), parents, backward, "masked_fill")


def neg(input, *, out=None):
    """-x (bool tensors are refused, as in PyTorch)."""
    if out is not None:
        refuse_out("neg")
    check_tensors("neg", input)
    if category(input.dtype) == 0:
        raise ArgumentError("neg: negation of a bool tensor is not supported (as in PyTorch)")
    return make_result(-input.data, (input,), lambda g: (-g,), "neg")


def positive(input):
    """+x (torch.positive): x itself; a bool tensor is refused, as in PyTorch."""
    check_tensors("positive", input)
    if input.dtype == bool:
        raise ArgumentError("The `+` operator, on a bool tensor is not supported (as PyTorch)")
    return input


def abs(input, *, out=None):
    """|x| (torch.abs; integer tensors too, a bool one refused as PyTorch); the gradient g * sign(x), PyTorch's sgn:
    0 at 0 and at NaN."""
    if out is not None:
        refuse_out("abs")
    check_tensors("abs", input)
    if category(input.dtype) == 0:
        raise DtypeError("abs: \"abs_cpu\" not implemented for 'Bool' (as PyTorch)")
    xp = backend.xp_of(input.data)
    return make_result(xp.abs(input.data), (input,), lambda g: (g * xp.sign(xp.nan_to_num(input.data)),), "abs")


def _floats(op, input):
    """The array of a float function's input: an integer or bool tensor's as float32, as PyTorch computes them."""
    check_tensors(op, input)
    return input.data if input.data.dtype.kind == "f" else input.data.astype(DEFAULT_FLOAT)


@quiet
def sqrt(input, *, out=None):
    """The square root (torch.sqrt; integer and bool tensors give float32); PyTorch's gradient g / (2 out)."""
    if out is not None:
        refuse_out("sqrt")
    data = _floats("sqrt", input)
    result = backend.xp_of(data).sqrt(data)
    return make_result(result, (input,), lambda g: (g / (2 * result),), "sqrt")


def square(input, *, out=None):
    """x * x as PyTorch's torch.square, which is pow(x, 2): integers stay integer, bool becomes int64."""
    if out is not None:
        refuse_out("square")
    check_tensors("square", input)
    return pow(astype(input, "int64") if input.dtype == bool else input, 2)


@quiet
def exp(input, *, out=None):
    """e ** x (integer and bool tensors give float32)."""
    if out is not None:
        refuse_out("exp")
    data = _floats("exp", input)
    result = backend.xp_of(data).exp(data)
    return make_result(result, (input,), lambda g: (g * result,), "exp")


@quiet
def log(input, *, out=None):
    """Natural logarithm (integer and bool tensors give float32)."""
    if out is not None:
        refuse_out("log")
    data = _floats("log", input)
    return make_result(backend.xp_of(data).log(data), (input,), lambda g: (g / data,), "log")


@quiet
def rsqrt(input, *, out=None):
    """1 / sqrt(x) (torch.rsqrt; integer and bool tensors give float32); PyTorch's gradient -g out^3 / 2."""
    if out is not None:
        refuse_out("rsqrt")
    data = _floats("rsqrt", input)
    result = 1 / backend.xp_of(data).sqrt(data)
    return make_result(result, (input,), lambda g: (-0.5 * g * (result * result * result),), "rsqrt")


@quiet
def log1p(input, *, out=None):
    """log(1 + x), accurate for small x (torch.log1p; integer and bool tensors give float32); the gradient
    g / (1 + x), PyTorch's."""
    if out is not None:
        refuse_out("log1p")
    data = _floats("log1p", input)
    return make_result(backend.xp_of(data).log1p(data), (input,), lambda g: (g / (data + 1),), "log1p")


@quiet
def expm1(input, *, out=None):
    """e ** x - 1, accurate for small x (torch.expm1; integer and bool tensors give float32); the gradient
    g (out + 1), PyTorch's."""
    if out is not None:
        refuse_out("expm1")
    data = _floats("expm1", input)
    result = backend.xp_of(data).expm1(data)
    return make_result(result, (input,), lambda g: (g * (result + 1),), "expm1")


def _unary(name, kernel, derivative, formula):
    """torch.``name``, a float function of one tensor (integer and bool tensors give float32): ``kernel(xp, x)`` in
    x's dtype; the gradient g * ``derivative(xp, x, out)``, PyTorch's ``formula``, step by step in x's dtype."""
    @quiet
    def op(input, *, out=None):
        if out is not None:
            refuse_out(name)
        data = _floats(name, input)
        xp = backend.xp_of(data)
        result = kernel(xp, data)
        return make_result(result, (input,), lambda g: (g * derivative(xp, data, result),), name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name} (integer and bool tensors give float32); the gradient g * {formula}, PyTorch's."
    return op


sin = _unary("sin", lambda xp, x: xp.sin(x), lambda xp, x, y: xp.cos(x), "cos(x)")
cos = _unary("cos", lambda xp, x: xp.cos(x), lambda xp, x, y: -xp.sin(x), "-sin(x)")
tan = _unary("tan", lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y, "(1 + out^2)")
asin = _unary("asin", lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x), "1 / sqrt(1 - x^2)")
acos = _unary("acos", lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x), "-1 / sqrt(1 - x^2)")
atan = _unary("atan", lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (x * x + 1), "1 / (x^2 + 1)")
sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x), "cosh(x)")
cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x), "sinh(x)")
asinh = _unary("asinh", lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1), "1 / sqrt(x^2 + 1)")
acosh = _unary("acosh", lambda xp, x: xp.arccosh(x), lambda xp, x, y: 1 / xp.sqrt(x * x - 1), "1 / sqrt(x^2 - 1)")
atanh = _unary("atanh", lambda xp, x: xp.arctanh(x), lambda xp, x, y: 1 / (1 - x * x), "1 / (1 - x^2)")
exp2 = _unary("exp2", lambda xp, x: xp.exp2(x), lambda xp, x, y: y * math.log(2), "out ln 2")
log2 = _unary("log2", lambda xp, x: xp.log2(x), lambda xp, x, y: 1 / (x * math.log(2)), "1 / (x ln 2)")
log10 = _unary("log10", lambda xp, x: xp.log10(x), lambda xp, x, y: 1 / (x * math.log(10)), "1 / (x ln 10)")


def _sinc(xp, x):
    """sin(pi x) / (pi x), 1 at 0, computed as PyTorch's (float16 in float32, rounded once)."""
    wide = opmath(x)
    scaled = wide * math.pi
    return xp.where(wide == 0, 1, xp.sin(scaled) / scaled).astype(x.dtype, copy=False)


def _sinc_derivative(xp, x, y):
    scaled = x * math.pi
    return xp.where(x == 0, 0, (scaled * xp.cos(scaled) - xp.sin(scaled)) / (scaled * x))


sinc = _unary("sinc", _sinc, _sinc_derivative, "(pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 at 0")


def frac(input, *, out=None):
    """torch.frac: x - trunc(x), of float tensors (integer and bool ones refused, as PyTorch); the gradient g."""
    if out is not None:
        refuse_out("frac")
    check_tensors("frac", input)
    if input.dtype.kind != "f":
        raise DtypeError(f"frac: \"frac_cpu\" not implemented for {TORCH_NAMES[input.dtype]!r} (as PyTorch)")
    with numpy.errstate(invalid="ignore"):  # (inf - inf: NaN, as PyTorch's)
        result = input.data - backend.xp_of(input.data).trunc(input.data)
    return make_result(result, (input,), lambda g: (g,), "frac")


@quiet
def logit(input, eps=None, *, out=None):
    """torch.logit: log(x / (1 - x)), x first clamped to [eps, 1 - eps] when ``eps`` is given (integer and bool
    tensors give float32). PyTorch's gradient g / (x (1 - x)): 0 outside [eps, 1 - eps] with eps, NaN outside [0, 1]
    without."""
    if out is not None:
        refuse_out("logit")
    data = _floats("logit", input)
    xp = backend.xp_of(data)
    x = data if eps is None else xp.clip(data, number(eps), 1 - number(eps))
    lo, hi = (0, 1) if eps is None else (number(eps), 1 - number(eps))

    def backward(g):
        outside = (data < lo) | (data > hi)
        return (xp.where(outside, math.nan if eps is None else 0, g / (data * (1 - data))).astype(g.dtype, copy=False),)

    return make_result(xp.log(x / (1 - x)), (input,), backward, "logit")


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """torch.nan_to_num: NaN, inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0 and x's
    dtype's largest and lowest finite values); integer and bool tensors are copied. The gradient g where x is finite,
    else 0, as PyTorch's."""
    if out is not None:
        refuse_out("nan_to_num")
    check_tensors("nan_to_num", input)
    x, xp = input.data, backend.xp_of(input.data)
    if x.dtype.kind != "f":
        return Tensor(x.copy())
    info = numpy.finfo(x.dtype)
    with numpy.errstate(over="ignore"):  # a replacement beyond the dtype's range is inf, as PyTorch's
        result = xp.nan_to_num(x, nan=number(nan), posinf=info.max if posinf is None else number(posinf),
                               neginf=info.min if neginf is None else number(neginf))
    return make_result(result, (input,), lambda g: (xp.where(xp.isfinite(x), g, 0),), "nan_to_num")


def _zero_gradient(op, input, result):
    """``result`` of a piecewise-constant op of x (sign, floor, ...): its gradient is zero, as PyTorch's."""
    return make_result(result, (input,), lambda g: (backend.xp_of(g).zeros_like(g),), op)


def sign(input, *, out=None):
    """-1, 0 or 1 as x is negative, zero or positive (torch.sign; in x's dtype, a bool tensor's itself; NaN and -0.0
    give 0, as PyTorch's); the gradient is zero."""
    if out is not None:
        refuse_out("sign")
    check_tensors("sign", input)
    x = input.data
    result = x.copy() if x.dtype == bool else (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)
    return _zero_gradient("sign", input, result)


def _rounding(name, kernel):
    """floor, ceil and trunc, as PyTorch's: an integer tensor's values kept (a copy), a bool tensor refused; the
    gradient is zero."""
    def op(input, *, out=None):
        if out is not None:
            refuse_out(name)
        check_tensors(name, input)
        if input.dtype == bool:
            raise DtypeError(f"{name}: \"{name}_vml_cpu\" not implemented for 'Bool' (as PyTorch)")
        x = input.data
        return _zero_gradient(name, input, getattr(backend.xp_of(x), kernel)(x) if x.dtype.kind == "f" else x.copy())
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}: x rounded {'down' if name == 'floor' else 'up' if name == 'ceil' else 'towards 0'}. "\
        + _rounding.__doc__
    return op


floor, ceil, trunc = _rounding("floor", "floor"), _rounding("ceil", "ceil"), _rounding("trunc", "trunc")


def round(input, *, decimals=0, out=None):
    """x rounded to ``decimals`` decimal places, halves to even (torch.round): x * 10^d rounded and divided by 10^d
    (for d < 0: divided, rounded, multiplied), as PyTorch's; an integer tensor's values kept at decimals=0 (and
    refused otherwise, as there), a bool tensor refused; the gradient is zero."""
    if out is not None:
        refuse_out("round")
    check_tensors("round", input)
    decimals = integer("round", "decimals", decimals)
    x, xp = input.data, backend.xp_of(input.data)
    if x.dtype == bool or x.dtype.kind != "f" and decimals:
        raise DtypeError(f"round: \"round_cpu\" not implemented for {TORCH_NAMES[x.dtype]!r} (as PyTorch)")
    if x.dtype.kind != "f":
        return _zero_gradient("round", input, x.copy())
    scale = x.dtype.type(10.0 ** operator.abs(decimals))
    result = xp.rint(x) if not decimals else xp.rint(x * scale) / scale if decimals > 0 else xp.rint(x / scale) * scale
    return _zero_gradient("round", input, result)

def _writes_in_place(op, x, inplace):
    """Whether an op's ``inplace=True`` writes into x's data directly: when no graph is recorded for x (under
    no_grad, or x needs no gradient), as PyTorch. While one is, an op records the change (_recorded_in_place, called
    first); one that does not refuses it (records_in_place's refusals first: a leaf that requires grad, ...)."""
    if inplace:
        check_inference_write(x, f"{op}(inplace=True)")
        refuse_internal_overlap(f"{op}(inplace=True)", x.data)
        if records_in_place(f"{op}(inplace=True)", x):
            raise NotImplementedError(f"{op}(inplace=True) on a tensor in a recorded graph is not supported by "
                                      "tinyrrn; use inplace=False")
    return inplace


def _recorded_in_place(op, x, inplace, compute):
    """x changed in place by an op's ``inplace=True`` as the graph records it, while one is recorded for x, as PyTorch
    (records_in_place: a leaf that requires grad, or a view, is refused): ``compute(old)``, the op out of place on
    x's old node, written into x (written_in_place); None when no graph records it."""
    if not (inplace and records_in_place(f"{op}(inplace=True)", x)):
        return None
    old = in_place_input(x)
    return written_in_place(x, old, compute(old))


def _written(x):
    """x after an op wrote into its data: its version counts the change (see Tensor.version)."""
    x.version += 1
    return x


def relu(input, inplace=False):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch. An integer tensor keeps its dtype, a bool one is refused, as
    there. ``inplace``: see _recorded_in_place and _writes_in_place."""
    check_tensors("relu", input)
    if input.data.dtype == bool:
        raise ArgumentError("relu: Boolean inputs not supported for relu (as PyTorch)")
    recorded = _recorded_in_place("relu", input, inplace, relu)
    if recorded is not None:
        return recorded
    if _writes_in_place("relu", input, inplace):
        threads.elementwise(_relu, input.data, out=input.data)
        return _written(input)
    out = threads.elementwise(_relu, input.data)
    return make_result(out, (input,), lambda g: (threads.elementwise(_relu_gradient, g, out),), "relu")


def relu_(input):
    """relu(input, inplace=True): x's negative elements set to 0 in x, which is returned (torch.relu_, F.relu_)."""
    return relu(input, inplace=True)


def sigmoid(input, *, out=None):
    """1 / (1 + e^-x), as e^x / (1 + e^x) for negative x: never an overflow, and the small values of
    large negative x to full relative precision (not 0.5 (tanh(x / 2) + 1), which cancels). float16
    in float32, rounded once, as PyTorch: sigmoid(8) is 0.9995, not 1. The gradient is PyTorch's
    g (1 - y) y in the tensor's dtype, step by step (as its sigmoid_backward). Integer and bool tensors give float32.
    """
    if out is not None:
        refuse_out("sigmoid")
    data = _floats("sigmoid", input)
    xp = backend.xp_of(data)
    wide = opmath(data)
    e = xp.exp(-xp.abs(wide))  # in (0, 1]
    result = xp.where(wide >= 0, 1 / (1 + e), e / (1 + e)).astype(data.dtype, copy=False)
    return make_result(result, (input,), lambda g: (g * (1 - result) * result,), "sigmoid")


def tanh(input, *, out=None):
    """Hyperbolic tangent (integer and bool tensors give float32); the float16 gradient in float32, rounded once,
    as PyTorch's tanh_backward."""
    if out is not None:
        refuse_out("tanh")
    data = _floats("tanh", input)
    result = backend.xp_of(data).tanh(data)

    def backward(g):
        y = opmath(result)
        return ((opmath(g) * (1 - y * y)).astype(g.dtype, copy=False),)

    return make_result(result, (input,), backward, "tanh")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout); p = 1
    zeroes everything, as PyTorch. ``inplace``: see _recorded_in_place and _writes_in_place."""
    check_tensors("dropout", input)
    flag("dropout", "training", training)
    p = number(p)  # a 0-d tensor is its value, as PyTorch
    if not 0 <= p <= 1:  # PyTorch's ValueError, and its RuntimeError for NaN: ArgumentError is both
        raise ArgumentError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:  # x itself, of any dtype, as PyTorch
        return input
    check_float("dropout", input)
    xp = backend.xp_of(input.data)
    if p == 1:  # x * 0, as PyTorch (NaN stays NaN)
        mask = xp.zeros((), dtype=input.dtype)
    else:
        keep = (random_of(xp).random_sample(input.shape) >= p).astype(input.dtype)
        mask = (opmath(keep) / (1 - p)).astype(input.dtype, copy=False)  # float16: 1 / (1 - p) rounded once

    def dropped(x):
        return make_result(x.data * mask, (x,), lambda g: (g * mask,), "dropout")

    recorded = _recorded_in_place("dropout", input, inplace, dropped)
    if recorded is not None:
        return recorded
    if _writes_in_place("dropout", input, inplace):
        xp.multiply(input.data, mask, out=input.data)
        return _written(input)
    return dropped(input)


@quiet
def astype(x, dtype):
    """The tensor converted to another dtype. To a float dtype gradients flow back in the old dtype;
    an integer or bool result is cut from the graph (as PyTorch's ``.long()``), and so is the float
    of an integer or bool tensor (which never requires grad). Beyond float16's range a value is inf, silently
    (quiet), as PyTorch's."""
    check_tensors("astype", x)
    data = x.data.astype(dtype)
    if data.dtype.kind not in "fc" or x.dtype.kind != "f":
        return Tensor(data)
    old = x.dtype
    return make_result(data, (x,), lambda g: (g.astype(old),), "astype")


def to_device(x, device):
    """The tensor on another device; gradients flow back to the original device."""
    check_tensors("to_device", x)
    source = x.device
    data = backend.to_device(x.data, device)
    if data is x.data:
        return x
    return make_result(data, (x,), lambda g: (backend.to_device(g, source),), "to")
