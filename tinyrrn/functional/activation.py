"""torch.nn.functional's activations beyond relu, sigmoid and tanh (elementwise.py) and softmax (loss.py): leaky_relu,
elu, selu, celu, silu, mish, softplus, logsigmoid, hardtanh, relu6, hardsigmoid, hardswish, softsign, tanhshrink,
threshold, hardshrink, softshrink, glu and softmin, as PyTorch's (values, gradients at the kinks, errors)."""
from .. import backend
from ..tensor import make_result
from ._util import ArgumentError, axis_index, check_float, check_tensors, number, quiet
from .dtypes import dtype_argument, opmath
from .elementwise import abs, astype, clamp, sigmoid, tanh, where
from .loss import softmax
from .shape import chunk


def _out_of_place(op, inplace):
    """``inplace=True`` refused (tinyrrn computes these activations out of place only)."""
    if inplace:
        raise NotImplementedError(f"{op}(inplace=True) is not supported by tinyrrn; use inplace=False")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x > 0, else negative_slope * x; the gradient at 0 is negative_slope, as PyTorch's."""
    check_float("leaky_relu", input)
    _out_of_place("leaky_relu", inplace)
    return where(input > 0, input, input * number(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha (e^x - 1); the gradient at 0 is alpha, as PyTorch's."""
    _out_of_place("elu", inplace)
    return _elu("elu", input, number(alpha))


@quiet
def _elu(op, input, alpha, scale=1.0, input_scale=1.0):
    """PyTorch's elu kernel, which elu, selu and celu share: scale x where x > 0, else alpha scale (e^(input_scale x)
    - 1), the gradient alpha scale input_scale e^(input_scale x) there (at 0 too); float16 in float32, rounded once
    (e^x of min(x, 0) only: no overflow)."""
    check_float(op, input)
    data = input.data
    xp = backend.xp_of(data)
    wide = opmath(data)
    negative = wide <= 0
    scaled = xp.minimum(wide, 0) * input_scale
    result = xp.where(negative, xp.expm1(scaled) * (alpha * scale), wide * scale).astype(data.dtype, copy=False)

    def backward(g):
        slope = xp.where(negative, xp.exp(scaled) * (alpha * scale * input_scale), scale)
        return ((opmath(g) * slope).astype(g.dtype, copy=False),)

    return make_result(result, (input,), backward, op)


@quiet
def silu(input, inplace=False):
    """x sigmoid(x) (swish), its gradient PyTorch's sigmoid(x) (1 + x (1 - sigmoid(x))); float16 in float32, rounded
    once, as PyTorch."""
    check_float("silu", input)
    _out_of_place("silu", inplace)
    data = input.data
    wide = opmath(data)
    logistic = _logistic(wide)

    def backward(g):
        return ((opmath(g) * logistic * (1 + wide * (1 - logistic))).astype(g.dtype, copy=False),)

    return make_result((wide * logistic).astype(data.dtype, copy=False), (input,), backward, "silu")


def _logistic(wide):
    """sigmoid of an array, as e^x / (1 + e^x) for negative x: no overflow."""
    xp = backend.xp_of(wide)
    e = xp.exp(-xp.abs(wide))
    return xp.where(wide >= 0, 1 / (1 + e), e / (1 + e))


@quiet
def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold, as PyTorch; the gradient sigmoid(beta x)
    (1 past the threshold), computed as log1p(e^-|z|) + max(z, 0): no overflow."""
    check_float("softplus", input)
    beta, threshold = number(beta), number(threshold)
    data = input.data
    xp = backend.xp_of(data)
    wide = opmath(data)
    scaled = wide * beta
    linear = scaled > threshold
    result = xp.where(linear, wide, (xp.log1p(xp.exp(-xp.abs(scaled))) + xp.maximum(scaled, 0)) / beta)

    def backward(g):
        slope = xp.where(linear, 1.0, _logistic(scaled))
        return ((opmath(g) * slope).astype(g.dtype, copy=False),)

    return make_result(result.astype(data.dtype, copy=False), (input,), backward, "softplus")


def logsigmoid(input):
    """log(sigmoid(x)), as -softplus(-x): no overflow, and the gradient sigmoid(-x)."""
    check_float("logsigmoid", input)
    return -softplus(-input, threshold=float("inf"))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val] (an integer tensor keeps its dtype, the clamped values truncated); the gradient is 0 at the bounds too, as
    PyTorch's (clamp's is 1 there)."""
    check_tensors("hardtanh", input)
    _out_of_place("hardtanh", inplace)
    low, high = number(min_val), number(max_val)
    if low > high:
        raise ArgumentError("hardtanh: min_val cannot be greater than max_val (as PyTorch)")
    if input.dtype == bool:
        raise ArgumentError("Bool inputs not supported for hardtanh")
    if input.dtype.kind != "f":  # PyTorch's: clamped to the bounds as floats, then truncated to the dtype
        return astype(clamp(input, low, high), input.dtype)
    clamped = clamp(input, low, high)
    return where((input > low) & (input < high), input, clamped.detach())


def relu6(input, inplace=False):
    """hardtanh(x, 0, 6): min(max(x, 0), 6), the gradient 0 at 0 and 6 as PyTorch's."""
    return hardtanh(input, 0.0, 6.0, inplace)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946  # PyTorch's


def selu(input, inplace=False):
    """scale * elu(x, alpha) with PyTorch's constants (torch.nn.functional.selu)."""
    _out_of_place("selu", inplace)
    return _elu("selu", input, SELU_ALPHA, SELU_SCALE)


def celu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha (e^(x / alpha) - 1); the gradient at 0 is 1, as PyTorch's."""
    _out_of_place("celu", inplace)
    alpha = number(alpha)
    if alpha == 0:
        raise ArgumentError("ZeroDivisionError: celu's alpha must not be 0 (as PyTorch)")
    return _elu("celu", input, alpha, input_scale=1 / alpha)


def softsign(input):
    """x / (1 + |x|) (an integer tensor's in float32)."""
    check_tensors("softsign", input)
    return input / (abs(input) + 1)


def tanhshrink(input):
    """x - tanh(x) (an integer tensor's in float32)."""
    check_tensors("tanhshrink", input)
    return input - tanh(input)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else ``value`` (for an integer tensor truncated to an int, as PyTorch); the gradient 0
    at and below the threshold, as PyTorch's."""
    check_tensors("threshold", input)
    _out_of_place("threshold", inplace)
    value = number(value)
    return where(input > number(threshold), input, value if input.dtype.kind == "f" else int(value))


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0 (the gradient 0 at +-lambd, as PyTorch's)."""
    check_float("hardshrink", input)
    lambd = number(lambd)
    return where((input > lambd) | (input < -lambd), input, 0.0)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, else 0 (the gradient 0 at +-lambd, as PyTorch's)."""
    check_float("softshrink", input)
    lambd = number(lambd)
    if lambd < 0:
        raise ArgumentError(f"softshrink: lambda must be greater or equal to 0, but found to be {lambd}.")
    return where(input > lambd, input - lambd, where(input < -lambd, input + lambd, 0.0))


ONE_SIXTH = 0.1666666716337204  # PyTorch's hardsigmoid gradient, 1/6 as a float32 (for float64 too)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6; the gradient PyTorch's float32 1/6 strictly between -3 and 3, else 0; float16 in float32,
    rounded once."""
    check_float("hardsigmoid", input)
    _out_of_place("hardsigmoid", inplace)
    data = input.data
    xp = backend.xp_of(data)
    wide = opmath(data)
    result = (xp.clip(wide + 3, 0, 6) / 6).astype(data.dtype, copy=False)

    def backward(g):
        slope = xp.where((wide > -3) & (wide < 3), ONE_SIXTH, 0.0)
        return ((opmath(g) * slope).astype(g.dtype, copy=False),)

    return make_result(result, (input,), backward, "hardsigmoid")


@quiet
def hardswish(input, inplace=False):
    """x relu6(x + 3) / 6, with PyTorch's gradient: 0 up to -3, x / 3 + 0.5 between -3 and 3, 1 from 3 on; float16
    in float32, rounded once."""
    check_float("hardswish", input)
    _out_of_place("hardswish", inplace)
    data = input.data
    xp = backend.xp_of(data)
    wide = opmath(data)
    result = (wide * xp.clip(wide + 3, 0, 6) / 6).astype(data.dtype, copy=False)

    def backward(g):
        slope = xp.where(wide <= -3, 0.0, xp.where(wide < 3, wide / 3 + 0.5, 1.0))
        return ((opmath(g) * slope).astype(g.dtype, copy=False),)

    return make_result(result, (input,), backward, "hardswish")


def mish(input, inplace=False):
    """x tanh(softplus(x))."""
    check_float("mish", input)
    _out_of_place("mish", inplace)
    return input * tanh(softplus(input, threshold=float("inf")))


def glu(input, dim=-1):
    """a sigmoid(b) of the two halves a, b of x along ``dim`` (of even length, as PyTorch requires)."""
    check_float("glu", input)
    if input.ndim == 0:
        raise ArgumentError("glu does not support scalars because halving size must be even")
    axis = axis_index("glu", dim, input.ndim)
    if input.shape[axis] % 2:
        raise ArgumentError(f"Halving dimension must be even, but dimension {axis} is size {input.shape[axis]}")
    first, second = chunk(input, 2, axis)
    return first * sigmoid(second)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along ``dim`` (torch.nn.functional.softmin); x converted to ``dtype`` first."""
    if dtype is not None:
        input = astype(input, dtype_argument("softmin", dtype))
    return softmax(-input, dim=dim, _stacklevel=_stacklevel + 1)
