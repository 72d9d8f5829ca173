"""The error function and what is built on it: erf, erfc (torch.erf, torch.erfc) and gelu
(torch.nn.functional.gelu, Hendrycks & Gimpel, 2016).

NumPy has no erf, so it is computed here with Cephes' rational approximations (ndtr.c, S. L. Moshier):
x T(x^2) / U(x^2) for |x| <= 1, and erfc = e^(-x^2) P(|x|) / Q(|x|) beyond (R / S from 8 on). They are
element-wise polynomials, so the same code runs on NumPy and CuPy. In float64 erf is within a few ulps of
the C library's, erfc within 1e-13 relative (tests/test_special.py compares both with Python's math.erf
and math.erfc); every dtype is computed in float64 and rounded once.
"""
import math

from .. import backend
from ..tensor import make_result
from ._util import check_float, quiet, refuse_out
from .elementwise import _floats

_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3, 7.00332514112805075473e3,
      5.55923013010394962768e4)
_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3, 2.26290000613890934246e4,
      4.92673942608635921086e4)
_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0, 4.86371970985681366614e1,
      1.96520832956077098242e2, 5.26445194995477358631e2, 9.34528527171957607540e2, 1.02755188689515710272e3,
      5.57535335369399327526e2)
_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2, 9.75708501743205489753e2,
      1.82390916687909736289e3, 2.24633760818710981792e3, 1.65666309194161350182e3, 5.57535340817727675546e2)
_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0, 6.16021097993053585195e0,
      7.40974269950448939160e0, 2.97886665372100240670e0)
_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1, 1.70814450747565897222e1,
      9.60896809063285878198e0, 3.36907645100081516050e0)
TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _polynomial(x, coefficients, monic=False):
    """c0 x^n + ... + cn by Horner's rule; ``monic``: with a leading 1 before c0 (Cephes' p1evl)."""
    result = x + coefficients[0] if monic else x * 0 + coefficients[0]
    for c in coefficients[1:]:
        result = result * x + c
    return result


def _erf_and_erfc(x):
    """(erf(x), erfc(x)) of a float64 array, each from the approximation accurate where it is used."""
    xp = backend.xp_of(x)
    a = xp.abs(x)
    near = xp.minimum(a, 1)  # |x| <= 1: erf's ratio (computed for every x, used there)
    erf_near = xp.copysign(near * _polynomial(near * near, _T) / _polynomial(near * near, _U, monic=True), x)
    far = xp.maximum(a, 1)  # |x| >= 1: erfc's ratios (at most 30: beyond, e^(-x^2) is 0 and inf / inf NaN)
    ratio_at = xp.minimum(far, 30)
    erfc_far = xp.exp(-far * far) * xp.where(
        ratio_at >= 8, _polynomial(ratio_at, _R) / _polynomial(ratio_at, _S, monic=True),
        _polynomial(ratio_at, _P) / _polynomial(ratio_at, _Q, monic=True))
    erfc_far = xp.where(xp.isnan(x), x, erfc_far)
    inside = a < 1
    erf = xp.where(inside, erf_near, xp.copysign(1 - erfc_far, x))
    erfc = xp.where(inside, 1 - erf_near, xp.where(x < 0, 2 - erfc_far, erfc_far))
    return erf, erfc


def _error_function(op, input, which):
    data = _floats(op, input)
    result = _erf_and_erfc(data.astype("float64"))[which].astype(data.dtype, copy=False)
    sign = 1 if which == 0 else -1  # d erf / dx = 2 / sqrt(pi) e^(-x^2); erfc's the opposite

    def backward(g):
        wide = data.astype("float64")
        return ((g * (sign * TWO_OVER_SQRT_PI) * backend.xp_of(wide).exp(-wide * wide)).astype(g.dtype, copy=False),)

    return make_result(result, (input,), backward, op)


@quiet
def erf(input, *, out=None):
    """The error function 2/sqrt(pi) * integral of e^(-t^2) from 0 to x (torch.erf; integer and bool tensors give
    float32); the gradient 2/sqrt(pi) e^(-x^2)."""
    if out is not None:
        refuse_out("erf")
    return _error_function("erf", input, 0)


@quiet
def erfc(input, *, out=None):
    """1 - erf(x), accurate where erf(x) is close to 1 (torch.erfc); the gradient -2/sqrt(pi) e^(-x^2)."""
    if out is not None:
        refuse_out("erfc")
    return _error_function("erfc", input, 1)


@quiet
def gelu(input, approximate="none"):
    """x P(X <= x) for X ~ N(0, 1): x (1 + erf(x / sqrt 2)) / 2 (torch.nn.functional.gelu), or with
    ``approximate='tanh'`` x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2; PyTorch's gradients, every dtype computed
    in float64 and rounded once."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    check_float("gelu", input)  # an integer tensor is refused, as PyTorch's kernel refuses it
    data = input.data
    xp, wide = backend.xp_of(data), data.astype("float64")
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (wide + 0.044715 * wide ** 3)
        cdf = (1 + xp.tanh(inner)) / 2
    else:
        cdf = (1 + _erf_and_erfc(wide / math.sqrt(2))[0]) / 2

    def backward(g):
        if approximate == "tanh":  # PyTorch's: d/dx of x (1 + tanh(inner)) / 2
            slope = cdf + wide / 2 * (1 - xp.tanh(inner) ** 2) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * wide * wide)
        else:
            slope = cdf + wide * xp.exp(-wide * wide / 2) / math.sqrt(2 * math.pi)
        return ((g * slope).astype(g.dtype, copy=False),)

    return make_result((wide * cdf).astype(data.dtype, copy=False), (input,), backward, "gelu")
