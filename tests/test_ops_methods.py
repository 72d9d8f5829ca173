"""The tensor methods and functions PyTorch users reach for first (abs, clamp, max(dim), var, squeeze, where, ...),
checked against PyTorch 2.13 as tinygrad's helper_test_op: the same inputs to both, then the forward values, dtypes
and shapes, the input gradients of one random upstream gradient, and the error types compared (skipped without
torch; their float64 gradient checks are in test_ops_gradcheck.py)."""
import warnings

import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor
from tinyrrn import functional as F

torch = pytest.importorskip("torch", reason='needs PyTorch as a reference oracle: pip install ".[oracle]"')
pytestmark = pytest.mark.oracle
NAN = float("nan")


def _inputs(m, arrays):
    """The arrays as tinyrrn's (m is F) or PyTorch's tensors; floating-point ones require grad."""
    if m is F:
        return [Tensor(on_device(a), requires_grad=a.dtype.kind == "f") for a in arrays]
    return [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]


def _outputs(out):
    return list(out) if isinstance(out, tuple) else [out]


def helper_test_op(fn, *arrays, rtol=1e-7, atol=1e-10):
    """fn(m, *tensors), m F or torch: equal values (NaN where NaN), dtypes and shapes; then backward of one random
    gradient from the first output, and equal gradients (None where PyTorch's is None)."""
    ours_in, theirs_in = _inputs(F, arrays), _inputs(torch, arrays)
    ours, theirs = _outputs(fn(F, *ours_in)), _outputs(fn(torch, *theirs_in))
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert (tuple(o.shape), str(o.dtype)) == (tuple(t.shape), str(t.dtype).replace("torch.", ""))
        numpy.testing.assert_allclose(host(o), t.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)
    if not theirs[0].requires_grad:
        assert not ours[0].requires_grad
        return ours
    upstream = numpy.random.default_rng(5).standard_normal(theirs[0].shape).astype(str(ours[0].dtype))
    theirs[0].backward(torch.tensor(upstream))
    ours[0].backward(on_device(upstream))
    for o, t in zip(ours_in, theirs_in):
        if t.grad is None:
            assert o.grad is None
        else:
            numpy.testing.assert_allclose(host(o.grad), t.grad.numpy(), rtol=rtol, atol=atol, equal_nan=True)
    return ours


def _t(m, values):
    array = numpy.array(values)
    return Tensor(on_device(array)) if m is F else torch.tensor(array)


def _random(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


TIES = numpy.array([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 0.0, 2.0], [-1.0, 5.0, 5.0, 5.0]])
NANS = numpy.array([[1.0, NAN, 3.0, NAN], [2.0, 2.0, 0.0, 1.0], [NAN, -5.0, 5.0, 5.0]])
EDGES = numpy.array([-2.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 2.0, NAN, numpy.inf, -numpy.inf])
INTS = numpy.array([[-3, 2, 7], [0, -8, 5]])

# name: (fn of (module, *tensors), input arrays)
CASES = {
    # shapes
    "squeeze": (lambda m, x: x.squeeze(), [_random(1, 3, 1, 2)]),
    "squeeze dim": (lambda m, x: x.squeeze(-2), [_random(1, 3, 1, 2)]),
    "squeeze a dim not of size 1": (lambda m, x: m.squeeze(x, 1), [_random(1, 3, 1, 2)]),
    "squeeze dims": (lambda m, x: x.squeeze((0, 1, 2)), [_random(1, 3, 1, 2)]),
    "squeeze a 0-d tensor": (lambda m, x: x.squeeze(0), [numpy.array(2.0)]),
    "unsqueeze": (lambda m, x: x.unsqueeze(0), [_random(3, 2)]),
    "unsqueeze last": (lambda m, x: m.unsqueeze(x, -1), [_random(3, 2)]),
    "unsqueeze middle": (lambda m, x: x.unsqueeze(-2), [_random(3, 2)]),
    "expand": (lambda m, x: x.expand(2, 3, 4), [_random(3, 1)]),
    "expand -1": (lambda m, x: x.expand(-1, 4), [_random(3, 1)]),
    "expand a tuple": (lambda m, x: x.expand((2, -1, -1)), [_random(3, 1)]),
    "expand_as": (lambda m, x, y: x.expand_as(y), [_random(3, 1), _random(2, 3, 4)]),
    "repeat": (lambda m, x: x.repeat(2, 3), [_random(3, 2)]),
    "repeat with new dims": (lambda m, x: x.repeat((2, 1, 3)), [_random(3, 2)]),
    "repeat zero times": (lambda m, x: x.repeat(0, 1), [_random(3, 2)]),
    "flip": (lambda m, x: x.flip(0), [_random(3, 2, 4)]),
    "flip dims": (lambda m, x: m.flip(x, (0, -1)), [_random(3, 2, 4)]),
    "flip dims as arguments": (lambda m, x: x.flip(2, 1), [_random(3, 2, 4)]),
}


@pytest.mark.parametrize("name", CASES)
def test_same_as_torch(name):
    fn, arrays = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's and tinyrrn's warnings of var's degrees of freedom
        helper_test_op(fn, *arrays)


def test_view_ops_share_memory_and_copies_do_not():
    """squeeze, unsqueeze and expand are views, as PyTorch's; flip and repeat are copies."""
    x = Tensor(on_device(_random(3, 1)))
    views, copies = (x.squeeze(), x.unsqueeze(0), x.expand(3, 2), x.expand_as(x)), (x.flip(0), x.repeat(2, 1))
    x.data[...] = 7.0
    assert all((host(v) == 7).all() for v in views) and not any((host(c) == 7).any() for c in copies)


# name: fn of (module, x): PyTorch raises; tinyrrn must raise the same exception class
REFUSED = {
    "squeeze dim out of range": lambda m, x: x.squeeze(5),
    "squeeze a repeated dim": lambda m, x: x[:1].squeeze((0, 0)),
    "unsqueeze dim out of range": lambda m, x: x.unsqueeze(3),
    "unsqueeze dims as a tuple": lambda m, x: x.unsqueeze((0, 1)),
    "expand to fewer dims": lambda m, x: x.expand(3),
    "expand a dim not of size 1": lambda m, x: x.expand(2, 5),
    "expand -1 in a new dim": lambda m, x: x.expand(-1, 2, 3),
    "expand to a negative size": lambda m, x: x.expand(-2, 3),
    "expand_as an array": lambda m, x: x.expand_as(numpy.zeros((2, 3))),
    "repeat with fewer sizes": lambda m, x: x.repeat(2),
    "repeat a negative number of times": lambda m, x: x.repeat(-1, 2),
    "repeat with no sizes": lambda m, x: x.repeat(),
    "flip with no dims": lambda m, x: x.flip(),
    "flip a repeated dim": lambda m, x: x.flip(0, 0),
    "flip dim out of range": lambda m, x: x.flip(2),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_as_by_torch(name):
    fn, data = REFUSED[name], _random(2, 3)
    with pytest.raises(Exception) as theirs:
        fn(torch, torch.tensor(data))
    with pytest.raises(type(theirs.value)):
        fn(F, Tensor(on_device(data)))
