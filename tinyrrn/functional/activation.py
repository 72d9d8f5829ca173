"""torch.nn.functional's activations beyond relu, sigmoid and tanh (elementwise.py): leaky_relu, elu, silu,
softplus, logsigmoid, hardtanh and relu6, as PyTorch's (values, gradients at the kinks, errors)."""
from .. import backend
from ..tensor import make_result
from ._util import ArgumentError, check_float, check_tensors, number, quiet
from .dtypes import opmath
from .elementwise import astype, clamp, expm1, where


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
    """x where x > 0, else alpha (e^x - 1); the gradient at 0 is alpha, as PyTorch's (e^x of min(x, 0) only: no
    overflow, nor a NaN gradient from the branch not taken)."""
    check_float("elu", input)
    _out_of_place("elu", inplace)
    return where(input > 0, input, expm1(clamp(input, max=0.0)) * number(alpha))


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
