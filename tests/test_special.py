"""erf, erfc and gelu (tinyrrn/functional/special.py): Cephes' approximations against the C library's erf, float64
gradient checks, and PyTorch's values, gradients, dtypes and errors."""
import math
import warnings

import numpy as np
import pytest

from devices import host, on_device
from tinyrrn import Tensor, gradcheck, nn
from tinyrrn import functional as F

EDGES = [-np.inf, -30.0, -8.5, -8.0, -3.0, -1.0, -0.5, -1e-300, 0.0, 1e-8, 0.5, 1.0, 2.5, 8.0, 9.7, 26.0, 27.5, np.inf,
         np.nan]


def test_erf_and_erfc_are_the_c_librarys_within_a_few_ulps():
    """Across the whole range, where each approximation hands over (1, 8) and where erfc underflows (27): erf within
    1e-15, erfc within 1e-13 (near its underflow, e^(-x^2) turns x^2's rounding into a relative error of 5e-14)."""
    x = np.concatenate([np.linspace(-10, 10, 20001), np.geomspace(1e-300, 1, 200), np.linspace(25, 28, 31)])
    ours, expected = host(F.erf(Tensor(on_device(x))).data), np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(ours, expected, rtol=1e-15, atol=0)
    ours, expected = host(F.erfc(Tensor(on_device(x))).data), np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(ours, expected, rtol=1e-13, atol=1e-300)  # e^(-x^2) magnifies x^2's rounding


@pytest.mark.parametrize("op", ["erf", "erfc", "gelu", "gelu_tanh"])
def test_special_functions_gradcheck(op):
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((3, 4)) * 2.5), requires_grad=True)
    function = (lambda x: F.gelu(x, approximate="tanh")) if op == "gelu_tanh" else getattr(F, op)
    assert gradcheck(function, [x])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64"])
@pytest.mark.parametrize("op", ["erf", "erfc", "gelu", "gelu_tanh"])
def test_special_functions_are_torchs(torch, op, dtype):
    """Values and gradients at ordinary and edge values (infinities, NaN, the approximations' hand-overs), computed in
    float64 and rounded once; integers give float32 for erf and erfc and are refused by gelu, as PyTorch."""
    values = np.concatenate([EDGES, np.random.default_rng(1).standard_normal(20) * 3])
    if dtype == "int64":
        values = np.arange(-5, 6)
    x = values.astype(dtype)
    name, kwargs = ("gelu", {"approximate": "tanh"}) if op == "gelu_tanh" else (op, {})
    theirs = getattr(torch.nn.functional if name == "gelu" else torch, name)
    if dtype == "int64":
        if name == "gelu":
            with pytest.raises(RuntimeError):
                theirs(torch.tensor(x), **kwargs)
            with pytest.raises(TypeError):
                getattr(F, name)(Tensor(on_device(x)), **kwargs)
        else:
            out = getattr(Tensor(on_device(x)), name)()
            assert out.dtype == theirs(torch.tensor(x)).numpy().dtype == np.float32
            np.testing.assert_array_equal(host(out.data), theirs(torch.tensor(x)).numpy())
        return
    mine, other = Tensor(on_device(x), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = getattr(F, name)(mine, **kwargs), theirs(other, **kwargs)
    assert out.dtype == dtype
    tolerance = {"float64": 2e-14, "float32": 2e-7, "float16": 1e-3}[dtype]
    np.testing.assert_allclose(host(out.data), expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    finite = np.isfinite(x)  # PyTorch's gradient at an infinity is NaN for gelu, 0 for erf: compared below
    out.backward(Tensor(on_device(np.ones_like(x))))
    expected.backward(torch.ones_like(other))
    np.testing.assert_allclose(host(mine.grad.data)[finite], other.grad.numpy()[finite], rtol=tolerance * 10,
                               atol=tolerance * 10)
    np.testing.assert_array_equal(np.isnan(host(mine.grad.data)), np.isnan(other.grad.numpy()))


def test_gelu_layer_and_errors_are_torchs(torch):
    for approximate in ("none", "tanh"):
        assert repr(nn.GELU(approximate)) == repr(torch.nn.GELU(approximate))
        assert nn.GELU(approximate=approximate).approximate == approximate
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(Tensor(np.zeros(2, "float32")), approximate="erf")
    with pytest.raises(NotImplementedError, match="out="):
        F.erf(Tensor(np.zeros(2, "float32")), out=Tensor(np.zeros(2, "float32")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning from inf or NaN in the approximations
        F.gelu(Tensor(np.array([np.inf, -np.inf, np.nan])))
        F.erfc(Tensor(np.array([np.inf, -np.inf, np.nan, 1e308])))
