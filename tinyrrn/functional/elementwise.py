"""Element-wise ops: arithmetic with broadcasting, exp/log, activations, dropout, dtype and device moves.

Each op computes its output with the array module of its inputs and returns
the gradient rule as a closure over what the rule needs.
"""
from .. import backend
from ..tensor import Tensor, make_result
from ._util import as_tensor, broadcast_shape, check_float, unbroadcast


def _binary_operands(op, a, b):
    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    b = as_tensor(b, a)
    check_float(op, a, b)
    broadcast_shape(op, a, b)
    return a, b


def add(a, b):
    """a + b with broadcasting."""
    a, b = _binary_operands("add", a, b)
    return make_result(a.data + b.data, (a, b),
                       lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)), "add")


def sub(a, b):
    """a - b with broadcasting."""
    a, b = _binary_operands("sub", a, b)
    return make_result(a.data - b.data, (a, b),
                       lambda g: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)), "sub")


def mul(a, b):
    """a * b with broadcasting."""
    a, b = _binary_operands("mul", a, b)
    return make_result(a.data * b.data, (a, b),
                       lambda g: (unbroadcast(g * b.data, a.shape),
                                  unbroadcast(g * a.data, b.shape)), "mul")


def div(a, b):
    """a / b with broadcasting."""
    a, b = _binary_operands("div", a, b)
    out = a.data / b.data
    return make_result(out, (a, b),
                       lambda g: (unbroadcast(g / b.data, a.shape),
                                  unbroadcast(-g * out / b.data, b.shape)), "div")


def neg(x):
    """-x."""
    check_float("neg", x)
    return make_result(-x.data, (x,), lambda g: (-g,), "neg")


def pow(x, exponent):
    """x ** exponent for a constant (Python number) exponent."""
    check_float("pow", x)
    if isinstance(exponent, Tensor):
        raise TypeError("pow: the exponent must be a Python number")
    return make_result(x.data ** exponent, (x,),
                       lambda g: (g * exponent * x.data ** (exponent - 1),), "pow")


def exp(x):
    """e ** x."""
    check_float("exp", x)
    out = backend.xp_of(x.data).exp(x.data)
    return make_result(out, (x,), lambda g: (g * out,), "exp")


def log(x):
    """Natural logarithm."""
    check_float("log", x)
    return make_result(backend.xp_of(x.data).log(x.data), (x,), lambda g: (g / x.data,), "log")


def relu(x):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    check_float("relu", x)
    out = backend.xp_of(x.data).maximum(x.data, 0)
    return make_result(out, (x,), lambda g: (g * (out > 0),), "relu")


def sigmoid(x):
    """1 / (1 + e^-x), computed without overflow for large |x|."""
    check_float("sigmoid", x)
    xp = backend.xp_of(x.data)
    out = 0.5 * (xp.tanh(0.5 * x.data) + 1)
    return make_result(out, (x,), lambda g: (g * out * (1 - out),), "sigmoid")


def tanh(x):
    """Hyperbolic tangent."""
    check_float("tanh", x)
    out = backend.xp_of(x.data).tanh(x.data)
    return make_result(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    check_float("dropout", x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    xp = backend.xp_of(x.data)
    mask = (xp.random.random_sample(x.shape) >= p).astype(x.dtype) / (1 - p)
    return make_result(x.data * mask, (x,), lambda g: (g * mask,), "dropout")


def astype(x, dtype):
    """The tensor converted to another floating dtype; gradients flow back in the old dtype."""
    check_float("astype", x)
    old = x.dtype
    return make_result(x.data.astype(dtype), (x,), lambda g: (g.astype(old),), "astype")


def to_device(x, device):
    """The tensor on another device; gradients flow back to the original device."""
    source = x.device
    data = backend.to_device(x.data, device)
    if data is x.data:
        return x
    return make_result(data, (x,), lambda g: (backend.to_device(g, source),), "to")
