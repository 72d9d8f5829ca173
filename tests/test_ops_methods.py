"""The tensor methods and functions PyTorch users reach for first (abs, clamp, max(dim), var, squeeze, where, ...),
checked against PyTorch 2.13 as tinygrad's helper_test_op: the same inputs to both, then the forward values, dtypes
and shapes, the input gradients of one random upstream gradient, and the error types compared (skipped without
torch; their float64 gradient checks are in test_ops_gradcheck.py)."""
import warnings

import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor, backend, nn
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
HALVES = _random(2, 32, seed=4).astype("float16")  # a multiple of 32: PyTorch's vectorised kernels (its scalar tail
# of float16 add with alpha rounds twice)

# name: (fn of (module, *tensors), input arrays)
CASES = {
    # element-wise
    "abs": (lambda m, x: x.abs(), [EDGES]),
    "abs()": (lambda m, x: abs(x), [_random(3, 4)]),
    "abs of ints": (lambda m, x: m.abs(x), [INTS]),
    "sqrt": (lambda m, x: x.sqrt(), [numpy.abs(_random(3, 4)) + 0.1]),
    "sqrt of edges": (lambda m, x: m.sqrt(x), [EDGES]),
    "sqrt of ints": (lambda m, x: x.sqrt(), [INTS]),
    "square": (lambda m, x: x.square(), [EDGES]),
    "square of ints": (lambda m, x: m.square(x), [INTS]),
    "square of bools": (lambda m, x: m.square(x), [numpy.array([True, False])]),
    "clamp": (lambda m, x: x.clamp(-0.5, 0.5), [numpy.concatenate([_random(8), EDGES])]),
    "clamp min only": (lambda m, x: x.clamp(min=0.0), [EDGES]),
    "clamp max only": (lambda m, x: m.clamp(x, max=0.5), [EDGES]),
    "clamp min > max": (lambda m, x: x.clamp(1.0, -1.0), [EDGES]),
    "clip": (lambda m, x: x.clip(-1, 1), [EDGES]),
    "clamp_min": (lambda m, x: x.clamp_min(0.5), [EDGES]),
    "clamp_max": (lambda m, x: m.clamp_max(x, max=-0.5), [EDGES]),
    "clamp_min by a broadcast tensor": (lambda m, x, lo: m.clamp_min(x, lo), [_random(3, 4), _random(4, seed=1)]),
    "clamp_max by a tensor": (lambda m, x, hi: x.clamp_max(hi), [_random(3, 4), _random(3, 4, seed=1)]),
    "clamp_min of ints by a float": (lambda m, x: x.clamp_min(0.5), [INTS]),
    "clamp_max of bools by an int": (lambda m, x: (x > 0).clamp_max(0), [_random(3, 4)]),
    "clamp of ints by a float": (lambda m, x: x.clamp(min=0.5), [INTS]),
    "clamp by tensors": (lambda m, x, lo, hi: m.clamp(x, lo, hi),
                         [numpy.array([0.0, 1.0, 2.0, 3.0, 5.0, 1.0]), numpy.array([1.0, 1.0, 3.0, 4.0, 6.0, 1.0]),
                          numpy.array([2.0, 0.5, 2.0, 3.0, 4.0, 1.0])]),
    "clamp by broadcast tensors": (lambda m, x, lo, hi: x.clamp(lo, hi), [_random(3, 4), _random(4, seed=1) - 0.5,
                                                                          _random(3, 1, seed=2) + 0.5]),
    "clamp by a 0-d tensor and a number": (lambda m, x: x.clamp(min=_t(m, -0.2), max=0.5), [_random(3, 4)]),
    "clamp of bools by an int": (lambda m, x: m.clamp(x > 0, min=0), [_random(3, 4)]),
    "maximum": (lambda m, a, b: m.maximum(a, b), [TIES, TIES[::-1].copy()]),
    "minimum": (lambda m, a, b: a.minimum(b), [TIES, TIES[::-1].copy()]),
    "maximum with NaN": (lambda m, a, b: a.maximum(b), [NANS, TIES]),
    "minimum broadcast": (lambda m, a, b: m.minimum(a, b), [TIES, TIES[0]]),
    "maximum of ints and floats": (lambda m, a, b: m.maximum(a, b), [INTS, _random(3)]),
    "remainder": (lambda m, a, b: a % b, [_random(3, 4) * 5, _random(3, 4, seed=1) * 2]),
    "remainder of a number": (lambda m, a: a % 1.5, [numpy.array([-4.0, 4.0, -3.0, 3.0, 0.0, -0.0, 1.5])]),
    "remainder of a negative number": (lambda m, a: m.remainder(a, -1.5), [_random(5) * 4]),
    "remainder by 0.0 and inf": (lambda m, a, b: a.remainder(b), [numpy.array([5.0, -5.0, 5.0, -5.0]),
                                                                  numpy.array([0.0, 0.0, numpy.inf, numpy.inf])]),
    "reflected remainder": (lambda m, b: 5 % b.detach(), [numpy.array([-3.0, 2.0, 7.0, -1.5])]),
    "remainder of ints": (lambda m, a, b: a % b, [INTS, numpy.array([3, -3, 2])]),
    "where": (lambda m, x, y: m.where(x > 0, x, y), [_random(3, 4), _random(3, 4, seed=1)]),
    "where broadcast": (lambda m, x, y: m.where(x > 0, y, x), [_random(3, 4), _random(4, seed=1)]),
    "where of a number": (lambda m, x: m.where(x > 0, x, 0.0), [_random(3, 4)]),
    "where of a number first": (lambda m, x: m.where(x > 0, 1, x), [_random(3, 4)]),
    "where of numbers": (lambda m, x: m.where(x > 0, 1, 0), [_random(3, 4)]),
    "where of ints and a float": (lambda m, x: m.where(x > 0, x, 0.5), [INTS]),
    "where method": (lambda m, x, y: x.where(x < 0, y), [_random(3, 4), _random(3, 4, seed=1)]),
    "where alone": (lambda m, x: m.where(x > 0), [_random(3, 4)]),
    "masked_fill": (lambda m, x: x.masked_fill(x > 0, 9), [_random(3, 4)]),
    "masked_fill broadcast mask": (lambda m, x: m.masked_fill(x, x[0] > 0, -2.5), [_random(3, 4)]),
    "masked_fill broadcast to the mask": (lambda m, x: x[0].masked_fill(x[:, :1] > 0, 1.0), [_random(3, 4)]),
    "masked_fill by a 0-d tensor": (lambda m, x, v: x.masked_fill(x > 0, v), [_random(3, 4), numpy.array(0.5)]),
    "masked_fill by a broadcast 0-d tensor": (lambda m, v, x: x[0].detach().masked_fill(x > 0, v),
                                              [numpy.array(0.5), _random(3, 4)]),
    "masked_fill by an int 0-d tensor": (lambda m, x: x.masked_fill(x > 0, _t(m, 7)), [_random(3, 4)]),
    "masked_fill of ints by a float": (lambda m, x: x.masked_fill(x > 0, 2.7), [INTS]),
    "masked_fill of ints by a float 0-d tensor": (lambda m, x: x.masked_fill(x > 0, _t(m, -2.7)), [INTS]),
    "masked_fill of uint8 by -1": (lambda m, x: x.abs().to(torch.uint8 if m is torch else "uint8").masked_fill(x > 0, -1),
                                   [INTS]),
    "masked_fill of bools by an int": (lambda m, x: (x > 0).masked_fill(x > 1, 2), [_random(3, 4)]),
    "masked_fill by NaN and True": (lambda m, x: x.masked_fill(x > 0, NAN).masked_fill(x < -1, True), [_random(3, 4)]),
    "masked_fill of float16": (lambda m, x: x.masked_fill(x > 0, 1e-3), [HALVES]),
    "masked_fill of an empty tensor": (lambda m, x: x.masked_fill(x > 0, 1.0), [numpy.zeros((0, 3))]),
    # full and dim reductions
    "max": (lambda m, x: x.max(), [TIES]),
    "max of two tensors": (lambda m, a, b: a.max(b), [TIES, TIES[::-1].copy()]),
    "max other=": (lambda m, a, b: a.max(other=b), [TIES, TIES[::-1].copy()]),
    "min other= broadcast": (lambda m, a, b: m.min(a, other=b), [TIES, TIES[0]]),
    "min": (lambda m, x: x.min(), [TIES]),
    "max with NaN": (lambda m, x: x.max(), [NANS]),
    "min with NaN": (lambda m, x: m.min(x), [NANS]),
    "max dim": (lambda m, x: x.max(1), [TIES]),
    "max dim keepdim": (lambda m, x: x.max(dim=0, keepdim=True), [TIES]),
    "min dim": (lambda m, x: m.min(x, -1), [TIES]),
    "max dim with NaN": (lambda m, x: x.max(1), [NANS]),
    "min dim with NaN": (lambda m, x: x.min(0), [NANS]),
    "max dim of a 0-d tensor": (lambda m, x: x.max(0), [numpy.array(2.5)]),
    "max dim of ints": (lambda m, x: x.max(1), [INTS]),
    "max dim over an empty dim of others": (lambda m, x: x.max(1), [numpy.zeros((0, 3))]),
    "max values": (lambda m, x: x.max(1).values * 2 + x.max(1)[0], [TIES]),
    "max indices": (lambda m, x: x.max(1).indices, [TIES]),
    "amax": (lambda m, x: x.amax(), [TIES]),
    "amax dim": (lambda m, x: x.amax(1), [TIES]),
    "amin dims keepdim": (lambda m, x: m.amin(x, (0, 2), keepdim=True), [numpy.round(_random(3, 4, 5))]),
    "amax with NaN": (lambda m, x: x.amax(1), [NANS]),
    "amin with NaN": (lambda m, x: x.amin(), [NANS]),
    "argmax": (lambda m, x: x.argmax(), [TIES]),
    "argmin keepdim": (lambda m, x: x.argmin(keepdim=True), [TIES]),
    "argmax dim": (lambda m, x: m.argmax(x, 1), [TIES]),
    "argmin dim keepdim": (lambda m, x: x.argmin(0, keepdim=True), [TIES]),
    "argmax with NaN": (lambda m, x: x.argmax(1), [NANS]),
    "argmin with NaN": (lambda m, x: x.argmin(), [NANS]),
    "argmax of a 0-d tensor": (lambda m, x: x.argmax(0), [numpy.array(1.5)]),
    "argmax over an empty dim of others": (lambda m, x: x.argmax(0), [numpy.zeros((2, 0))]),
    "all": (lambda m, x: x.all(), [TIES]),
    "all of NaN": (lambda m, x: x.all(), [NANS]),
    "any dim": (lambda m, x: x.any(1), [TIES - 2]),
    "all dims keepdim": (lambda m, x: m.all(x, (0, -1), keepdim=True), [numpy.round(_random(2, 3, 4))]),
    "all dim=() reduces none": (lambda m, x: x.all(dim=()), [TIES]),
    "any keepdim without a dim": (lambda m, x: x.any(keepdim=True), [TIES]),
    "any of uint8": (lambda m, x: (x > 0).to(torch.uint8 if m is torch else "uint8").any(0), [TIES]),
    "all of ints": (lambda m, x: x.all(1), [INTS]),
    "all of an empty tensor": (lambda m, x: x.all(), [numpy.zeros((0, 3))]),
    "any of an empty tensor": (lambda m, x: m.any(x), [numpy.zeros((0, 3))]),
    "any over an empty dim": (lambda m, x: x.any(0), [numpy.zeros((0, 3))]),
    "all of a 0-d tensor": (lambda m, x: x.all(-1), [numpy.array(0.5)]),
    "prod": (lambda m, x: x.prod(), [_random(3, 4)]),
    "prod dim": (lambda m, x: x.prod(1), [_random(3, 4)]),
    "prod dim keepdim": (lambda m, x: m.prod(x, -2, keepdim=True), [_random(3, 4)]),
    "prod with a zero": (lambda m, x: x.prod(), [numpy.array([[2.0, 0.0, 3.0], [1.5, -1.0, 4.0]])]),
    "prod dim with zeros": (lambda m, x: x.prod(1), [numpy.array([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])]),
    "prod with inf and a zero": (lambda m, x: x.prod(1), [numpy.array([[numpy.inf, 2.0, 3.0], [0.0, 2.0, 3.0]])]),
    "prod with inf": (lambda m, x: x.prod(), [numpy.array([numpy.inf, 2.0, -3.0])]),
    "prod of ints": (lambda m, x: x.prod(0), [INTS]),
    "prod of bools": (lambda m, x: (x > 0).prod(), [TIES]),
    "prod of uint8": (lambda m, x: x.abs().to(torch.uint8 if m is torch else "uint8").prod(), [INTS]),
    "prod dtype": (lambda m, x: x.prod(1, dtype=torch.float32 if m is torch else "float32"), [INTS]),
    "prod of float16": (lambda m, x: x.prod(), [numpy.array([1.5, 2.0, 3.25]).astype("float16")]),
    "prod of a 0-d tensor": (lambda m, x: x.prod(0), [numpy.array(2.5)]),
    "prod of an empty tensor": (lambda m, x: x.prod(), [numpy.zeros((0, 3))]),
    "prod over an empty dim": (lambda m, x: x.prod(0), [numpy.zeros((0, 3))]),
    "cumsum": (lambda m, x: x.cumsum(1), [_random(3, 4)]),
    "cumsum negative dim": (lambda m, x: m.cumsum(x, dim=-3), [_random(2, 3, 4)]),
    "cumsum of ints": (lambda m, x: x.cumsum(0), [INTS]),
    "cumsum of bools": (lambda m, x: (x > 0).cumsum(1), [TIES]),
    "cumsum of int8": (lambda m, x: x.to(torch.int8 if m is torch else "int8").cumsum(0), [INTS * 20]),
    "cumsum dtype": (lambda m, x: x.cumsum(0, dtype=torch.float16 if m is torch else "float16"), [TIES]),
    "cumsum of float16": (lambda m, x: x.cumsum(1), [HALVES]),
    "cumsum of a 0-d tensor": (lambda m, x: x.cumsum(0), [numpy.array(2.5)]),
    "cumsum of an empty tensor": (lambda m, x: x.cumsum(0), [numpy.zeros((0, 3))]),
    "cumsum with NaN": (lambda m, x: x.cumsum(1), [NANS]),
    "var": (lambda m, x: x.var(), [_random(3, 4)]),
    "var unbiased=False first": (lambda m, x: x.var(False), [_random(3, 4)]),
    "var dim unbiased keepdim": (lambda m, x: x.var(0, False, True), [_random(3, 4)]),
    "var dims": (lambda m, x: m.var(x, (0, 2)), [_random(3, 4, 2)]),
    "var correction": (lambda m, x: x.var(1, correction=0, keepdim=True), [_random(3, 4)]),
    "var float correction": (lambda m, x: x.var(1, correction=1.5), [_random(3, 4)]),
    "var correction = n": (lambda m, x: x.var(0, correction=3), [numpy.array([1.0, 1.0, 2.0])]),
    "var correction > n": (lambda m, x: x.var(0, correction=4), [numpy.array([1.0, 1.0, 2.0])]),
    "var of all, correction > n": (lambda m, x: x.var(correction=4), [numpy.array([1.0, 1.0, 2.0])]),
    "var of one element": (lambda m, x: x.var(), [numpy.array([2.0])]),
    "var of a 0-d tensor": (lambda m, x: x.var(0), [numpy.array(2.0)]),
    "var dim=[]": (lambda m, x: x.var(dim=[]), [_random(2, 3)]),
    "std": (lambda m, x: x.std(), [_random(3, 4)]),
    "std dim": (lambda m, x: m.std(x, 1, keepdim=True), [_random(3, 4)]),
    "std unbiased=False": (lambda m, x: x.std(dim=0, unbiased=False), [_random(3, 4)]),
    "std of equal elements": (lambda m, x: x.std(0), [numpy.array([[1.0, 2.0], [1.0, 3.0]])]),
    "std float32": (lambda m, x: x.std(1), [_random(3, 4).astype("float32")]),
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
    "split": (lambda m, x: x.split(2), [_random(5, 3)]),
    "split dim": (lambda m, x: m.split(x, 2, dim=-1), [_random(3, 4)]),
    "split of sizes": (lambda m, x: x.split([1, 0, 3], 1), [_random(3, 4)]),
    "split of a tuple of sizes": (lambda m, x: x.split((2, 1)), [_random(3, 4)]),
    "split bigger than the dim": (lambda m, x: x.split(7), [_random(3, 4)]),
    "split of an empty dim": (lambda m, x: x.split(2), [numpy.zeros((0, 3))]),
    "split of an empty dim by 0": (lambda m, x: x.split(0), [numpy.zeros((0, 3))]),
    "split of ints": (lambda m, x: x.split(1, 1), [INTS]),
    "chunk": (lambda m, x: x.chunk(2), [_random(5, 3)]),
    "chunk dim": (lambda m, x: m.chunk(x, 3, dim=1), [_random(2, 4)]),
    "chunk into fewer pieces": (lambda m, x: x.chunk(4), [_random(6)]),
    "chunk into more pieces than elements": (lambda m, x: x.chunk(5, 1), [_random(2, 3)]),
    "chunk of an empty dim": (lambda m, x: x.chunk(3), [numpy.zeros((0, 2))]),
    "gather": (lambda m, x, i: x.gather(1, i), [_random(3, 4), numpy.array([[0, 3, 3], [1, 1, 0], [2, 0, 2]])]),
    "gather dim 0 of a smaller index": (lambda m, x, i: m.gather(x, 0, i), [_random(3, 4), numpy.array([[2, 0, 2]])]),
    "gather negative dim, repeats": (lambda m, x, i: x.gather(-1, i), [_random(2, 3), numpy.array([[1] * 5, [0] * 5])]),
    "gather int32 index": (lambda m, x, i: x.gather(dim=0, index=i), [_random(3, 2), numpy.array([[2, 1]], "int32")]),
    "gather of ints": (lambda m, x, i: x.gather(1, i), [INTS, numpy.array([[2], [0]])]),
    "gather of a 0-d tensor": (lambda m, x, i: x.gather(0, i), [numpy.array(1.5), numpy.array([0, 0])]),
    "gather by a 0-d index": (lambda m, x, i: x.gather(0, i), [numpy.array([1.5, 2.5]), numpy.array(1)]),
    "gather by an empty index": (lambda m, x, i: x.gather(1, i), [numpy.zeros((2, 0)), numpy.zeros((2, 0), "int64")]),
    # PyTorch's method names of the arithmetic
    "add alpha": (lambda m, x, y: x.add(y, alpha=2.5), [_random(3, 4), _random(4, seed=1)]),
    "sub alpha": (lambda m, x, y: x.sub(y, alpha=-2), [_random(3, 4), _random(4, seed=1)]),
    "add of ints alpha": (lambda m, x: m.add(x, x, alpha=3), [INTS]),
    "add a number alpha": (lambda m, x: x.add(2, alpha=3), [_random(3, 4)]),
    "add of bools alpha=False": (lambda m, x: m.add(x > 0, x < 0, alpha=False), [_random(3, 4)]),
    "add float16 alpha": (lambda m, x, y: x.add(y, alpha=0.3), [HALVES, HALVES[::-1].copy()]),
    "sub float16 alpha": (lambda m, x, y: m.sub(x, y, alpha=1.7), [HALVES, HALVES[::-1].copy()]),
    "add float16 a number alpha": (lambda m, x: x.add(1.1, alpha=0.3), [HALVES]),
    "add float16 and a 0-d float64 alpha": (lambda m, x, y: x.add(y, alpha=-2.5), [HALVES, numpy.array(0.7)]),
    "add float32 alpha": (lambda m, x, y: x.add(y, alpha=1.7), [_random(2, 32, seed=2).astype("float32"),
                                                                 _random(2, 32, seed=3).astype("float32")]),
    "sub float32 a number alpha": (lambda m, x: x.sub(1.1, alpha=0.3), [_random(2, 32, seed=3).astype("float32")]),
    "mul": (lambda m, x, y: x.mul(y), [_random(3, 4), _random(4, seed=1)]),
    # PyTorch's method names of the comparisons
    "eq": (lambda m, x, y: x.eq(y), [TIES, TIES[::-1].copy()]),
    "ne of a number": (lambda m, x: x.ne(2.0), [TIES]),
    "lt broadcast": (lambda m, x, y: x.lt(y), [TIES, TIES[0]]),
    "le of ints and floats": (lambda m, x, y: x.le(y), [INTS, _random(3)]),
    "gt with NaN": (lambda m, x, y: x.gt(y), [NANS, TIES]),
    "ge of a number": (lambda m, x: x.ge(0), [INTS]),
    "isnan": (lambda m, x: x.isnan(), [EDGES]),
    "isinf": (lambda m, x: m.isinf(x), [EDGES]),
    "isfinite": (lambda m, x: x.isfinite(), [EDGES.astype("float16")]),
    "isnan of ints": (lambda m, x: m.isnan(x), [INTS]),
    "isinf of ints": (lambda m, x: x.isinf(), [INTS]),
    "isfinite of bools": (lambda m, x: (x > 0).isfinite(), [EDGES]),
    # shapes and dtypes of another tensor
    "view_as": (lambda m, x, y: x.view_as(y), [_random(3, 4), _random(2, 6)]),
    "reshape_as of a transpose": (lambda m, x, y: x.t().reshape_as(y), [_random(3, 4), _random(12)]),
    "type_as": (lambda m, x, y: x.type_as(y), [_random(3, 4), _random(2).astype("float16")]),
    "type_as the same dtype": (lambda m, x, y: x.type_as(y), [_random(3, 4), _random(2)]),
    "type_as an int tensor": (lambda m, x, y: x.type_as(y), [_random(3, 4) * 3, INTS]),
    "long": (lambda m, x: (x * 3).long(), [_random(3, 4)]),
    "int": (lambda m, x: x.int(), [INTS]),
    "bool": (lambda m, x: x.bool(), [EDGES]),
    "neg": (lambda m, x: x.neg(), [_random(3, 4)]),
    # bitwise, of bool and integer tensors (masks: m1 & m2, ~mask), without gradient
    "& of masks": (lambda m, x: (x > 0) & (x < 1), [_random(3, 4)]),
    "| of ints": (lambda m, a, b: a | b, [INTS, INTS[::-1].copy()]),
    "^ of ints and bools": (lambda m, a: a ^ (a > 0), [INTS]),
    "~ of a mask": (lambda m, x: ~(x > 0), [_random(3, 4)]),
    "~ of ints": (lambda m, a: ~a, [INTS]),
    "~ of uint8": (lambda m, a: ~a.abs().to(torch.uint8 if m is torch else "uint8"), [INTS]),
    "& of a mask and True": (lambda m, x: (x > 0) & True, [_random(3, 4)]),
    "| of a mask and an int": (lambda m, x: (x > 0) | 2, [_random(3, 4)]),
    "reflected & of an int": (lambda m, a: 6 & a, [INTS]),
    "reflected ^ of a bool": (lambda m, x: True ^ (x > 0), [_random(3, 4)]),
    "& of uint8 by -1": (lambda m, a: a.abs().to(torch.uint8 if m is torch else "uint8") & -1, [INTS]),
    "& of int8 by 300": (lambda m, a: a.to(torch.int8 if m is torch else "int8") & 300, [INTS]),
    "x > 0 & m, Python's precedence (0 & m first)": (lambda m, x: x.detach() > 0 & (x > 1), [_random(3, 4)]),
    "reversed": (lambda m, x: reversed(x), [_random(3, 4)]),
    "reversed of ints": (lambda m, a: reversed(a), [INTS]),
    "bitwise_and": (lambda m, a: m.bitwise_and(a, 3), [INTS]),
    "bitwise_and of a number first": (lambda m, a: m.bitwise_and(3, a), [INTS]),
    "bitwise_or method": (lambda m, a, b: a.bitwise_or(b), [INTS, INTS[0]]),
    "bitwise_xor of masks": (lambda m, x: m.bitwise_xor(x > 0, x > 1), [_random(3, 4)]),
    "bitwise_not of a mask": (lambda m, x: m.bitwise_not(x > 0), [_random(3, 4)]),
    "bitwise_not method": (lambda m, a: a.bitwise_not(), [INTS]),
    "<< by shifts beyond the bits": (lambda m, a, s: a << s, [INTS, numpy.array([-1, 64, 70])]),
    ">> by shifts beyond the bits": (lambda m, a, s: a >> s, [INTS, numpy.array([-1, 64, 70])]),
    ">> of uint8 by 9": (lambda m, a: a.abs().to(torch.uint8 if m is torch else "uint8") >> 9, [INTS]),
    "<< of int8 into its sign bit": (lambda m, a: a.to(torch.int8 if m is torch else "int8") << 7, [INTS]),
    "reflected <<": (lambda m, a: 1 << a.abs(), [INTS]),
    "reflected >>": (lambda m, a: 64 >> a.abs(), [INTS]),
    "<< of a mask by an int": (lambda m, x: (x > 0) << 2, [_random(3, 4)]),
    "bitwise_left_shift": (lambda m, a: m.bitwise_left_shift(a, 3), [INTS]),
    "bitwise_right_shift method": (lambda m, a, s: a.bitwise_right_shift(s), [INTS, numpy.array([1, 2, 3])]),
    "logical_and of floats": (lambda m, x, y: m.logical_and(x, y), [EDGES, EDGES[::-1].copy()]),
    "logical_or of ints and floats": (lambda m, a, x: m.logical_or(a, x), [INTS, _random(3)]),
    "logical_xor method": (lambda m, a: a.logical_xor(a > 0), [INTS]),
    "logical_not of floats": (lambda m, x: m.logical_not(x), [EDGES]),
    "logical_not method": (lambda m, a: a.logical_not(), [INTS]),
    # PyTorch's methods and functions that were missing (AttributeError)
    "ravel": (lambda m, x: x.t().ravel() * m.ravel(x[0, 0]), [TIES]),
    "narrow": (lambda m, x: x.narrow(1, -3, 2) + m.narrow(x, 0, 1, 1).sum(), [TIES]),
    "narrow by a 0-d tensor": (lambda m, x: x.narrow(0, _t(m, 1), 2), [TIES]),
    "movedim": (lambda m, x: x[None].movedim((0, 1), (2, 0)) * m.moveaxis(x[None], 2, 0), [TIES[:, :3]]),
    "unbind": (lambda m, x: x.unbind(1), [TIES]),
    "unbind function": (lambda m, x: m.unbind(x, -2), [TIES]),
    "tile": (lambda m, x: x.tile(2) + m.tile(x, (1, 2)) * x.tile(1, 2), [TIES]),
    "tile with more dims": (lambda m, x: x.tile((2, 1, 1)), [TIES]),
    "unflatten": (lambda m, x: x.unflatten(1, (2, -1)) + m.unflatten(x, -1, [2, 2]), [TIES]),
    "index_select": (lambda m, x: x.index_select(1, _t(m, [3, 0, 3])) + m.index_select(x, 1, _t(m, 2)), [TIES]),
    "index_select of an int32 index": (lambda m, x: x.index_select(0, _t(m, [2, 2]).int()), [TIES]),
    "index_select of a 0-d tensor": (lambda m, x: x[0, 0].index_select(0, _t(m, [0])), [TIES]),
    "norm": (lambda m, x: x.norm(), [TIES]),
    "norm of a dim": (lambda m, x: m.norm(x, 2, 1) + x.norm(dim=1), [TIES]),
    "norm 1": (lambda m, x: x.norm(1, (0, 1), keepdim=True), [TIES]),
    "norm 3": (lambda m, x: x.norm(3, 0), [TIES]),
    "norm 0.5": (lambda m, x: x.norm(p=0.5, dim=0), [TIES]),
    "norm inf at ties": (lambda m, x: x.norm(float("inf"), 1), [TIES]),
    "norm -inf at ties": (lambda m, x: m.norm(x, -float("inf"), 0), [TIES]),
    "norm inf of NaNs": (lambda m, x: x.norm(float("inf"), 1), [NANS]),
    "norm 0": (lambda m, x: x.norm(0, 1), [TIES]),
    "norm at 0": (lambda m, x: x.norm() + x.norm(1) + x.norm(3) + x.norm(0.5), [numpy.zeros((2, 3))]),
    "norm at 0 of a dim": (lambda m, x: x.norm(dim=1), [numpy.array([[0.0, 0.0], [3.0, -4.0]])]),
    "norm of float32 in float64": (lambda m, x: x.float().norm(dtype=torch.float64 if m is torch else "float64"),
                                   [TIES]),
    "norm of float16": (lambda m, x: x.norm(dim=1), [HALVES]),
    "norm of a grad": (lambda m, x: (x * x).sum().backward() or x.grad.norm(), [TIES]),
    "logsumexp": (lambda m, x: x.logsumexp(1) + m.logsumexp(x, (0, 1), True), [TIES]),
    "logsumexp of large and infinite values": (lambda m, x: x.logsumexp(0), [numpy.array([[1e4, -numpy.inf, 2.0],
                                                                                  [1e4, -numpy.inf, numpy.inf]])]),
    "logsumexp of ints": (lambda m, x: x.logsumexp(1), [INTS]),
    "mm": (lambda m, a, b: a.mm(b) + m.mm(a, b), [TIES, TIES.T.copy()]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [_random(2, 3, 4), _random(2, 4, 2, seed=1)]),
    "mv": (lambda m, a, b: a.mv(b), [TIES, TIES[0].copy()]),
    "dot": (lambda m, a, b: a.dot(b) + m.dot(b, a), [TIES[1].copy(), TIES[2].copy()]),
    "dot of ints": (lambda m, a: m.dot(a[0], a[1]), [INTS]),
    "outer": (lambda m, a, b: a.outer(b) + m.outer(a, b), [TIES[0].copy(), TIES[1, :3].copy()]),
    "outer of ints and floats": (lambda m, a, b: m.outer(a[0], b), [INTS, TIES[0].copy()]),
    "sign": (lambda m, x: x.sign() + m.sgn(x), [EDGES]),
    "sign of ints": (lambda m, x: x.sign(), [INTS]),
    "sign of bools": (lambda m, x: (x > 0).sign(), [INTS]),
    "floor, ceil, round, trunc": (lambda m, x: x.floor() + m.ceil(x) * 2 + x.round() * 3 + m.trunc(x) * 4,
                                  [numpy.concatenate([_random(8) * 3, EDGES, [0.5, 1.5, 2.5, -0.5, -2.5]])]),
    "round of decimals": (lambda m, x: m.round(x * 1.2345, decimals=2) + (x * 123.45).round(decimals=-1),
                          [_random(3, 4)]),
    "rounding of ints": (lambda m, x: x.floor() + x.ceil() + x.round() + x.trunc(), [INTS]),
    "rsqrt": (lambda m, x: x.rsqrt(), [EDGES]),
    "rsqrt of ints": (lambda m, x: m.rsqrt(x), [INTS]),
    "log1p and expm1": (lambda m, x: x.log1p() + m.expm1(x), [EDGES]),
    "log1p and expm1 of small values": (lambda m, x: m.log1p(x * 1e-9) + (x * 1e-9).expm1(), [_random(5)]),
    "log1p and expm1 of ints": (lambda m, x: x.log1p() + x.expm1(), [INTS]),
    "aliases": (lambda m, a, b: a.absolute() + m.negative(b) + a.multiply(b).divide(2).subtract(m.true_divide(a, 3))
                + a.greater(b) + m.less_equal(a, b) + a.not_equal(b) * m.greater_equal(a, 0) + a.less(1),
                [TIES, TIES[::-1].copy()]),
}


@pytest.mark.parametrize("name", CASES)
def test_same_as_torch(name):
    fn, arrays = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's and tinyrrn's warnings of var's degrees of freedom
        helper_test_op(fn, *arrays)


def test_remainder_of_a_number_by_a_tensor_has_no_gradient_as_in_torch():
    """PyTorch has no derivative of remainder(number, tensor): its backward is refused, as there."""
    for m, x in ((torch, torch.tensor([2.0, -3.0], requires_grad=True)),
                 (F, Tensor(on_device(numpy.array([2.0, -3.0])), requires_grad=True))):
        with pytest.raises(RuntimeError, match="not implemented"):
            (5 % x).sum().backward()


def test_max_and_min_along_a_dim_are_named_tuples():
    x = Tensor(on_device(TIES))
    for result, name in ((x.max(1), "max"), (F.min(x, 0), "min")):
        values, indices = result
        assert type(result).__name__ == name and result.values is values and result.indices is indices


def test_view_ops_share_memory_and_copies_do_not():
    """squeeze, unsqueeze and expand are views, as PyTorch's; flip and repeat are copies."""
    x = Tensor(on_device(_random(3, 1)))
    views, copies = (x.squeeze(), x.unsqueeze(0), x.expand(3, 2), x.expand_as(x)), (x.flip(0), x.repeat(2, 1))
    x.data[...] = 7.0
    assert all((host(v) == 7).all() for v in views) and not any((host(c) == 7).any() for c in copies)


def test_split_and_chunk_give_views():
    x = Tensor(on_device(_random(4, 3)))
    pieces = x.split([1, 3]) + x.chunk(3, 1)
    x.data[...] = 7.0
    assert all((host(p) == 7).all() for p in pieces)


def test_uint8_condition_of_where_is_taken_with_torchs_warning():
    x = Tensor(on_device(_random(3, 4)))
    with pytest.warns(UserWarning, match="uint8 condition"):
        out = F.where((x > 0).astype("uint8"), x, 0.0)
    numpy.testing.assert_array_equal(host(out), numpy.where(host(x) > 0, host(x), 0.0))


def test_var_warns_as_torch_when_no_degrees_of_freedom_are_left():
    with pytest.warns(UserWarning, match="degrees of freedom"):
        Tensor(on_device(numpy.array([1.0]))).var()


# name: fn of (module, x): PyTorch raises; tinyrrn must raise the same exception class
REFUSED = {
    "abs of bools": lambda m, x: (x > 0).abs(),
    "clamp with no bound": lambda m, x: x.clamp(),
    "clamp_min with no bound": lambda m, x: x.clamp_min(),
    "clamp_max of None": lambda m, x: m.clamp_max(x, None),
    "clamp_min by a bound that does not broadcast": lambda m, x: x.clamp_min(x[:, :2]),
    "clamp of bools": lambda m, x: (x > 0).clamp(True, True),
    "clamp by a bound that does not broadcast": lambda m, x: x.clamp(min=_t(m, [1.0, 2.0])),
    "clamp by a tensor and a number": lambda m, x: x.clamp(min=x[0], max=0.5),
    "maximum of a number": lambda m, x: m.maximum(x, 2.0),
    "maximum of shapes that do not broadcast": lambda m, x: m.maximum(x, x[:, :2]),
    "max of an empty tensor": lambda m, x: x[:0].max(),
    "max over an empty dim": lambda m, x: x[:0].max(0),
    "max dim out of range": lambda m, x: x.max(2),
    "max dim as a tuple": lambda m, x: x.max(dim=(0, 1)),
    "max keepdim without a dim": lambda m, x: x.max(keepdim=True),
    "max of a tensor and keepdim": lambda m, x: x.max(x, True),
    "min of a tensor and keepdim=": lambda m, x: m.min(x, x, keepdim=True),
    "max of a dim and other=": lambda m, x: x.max(1, other=x),
    "amax of an empty tensor": lambda m, x: x[:0].amax(),
    "amax over an empty dim": lambda m, x: x[:0].amax(0),
    "amax of a repeated dim": lambda m, x: x.amax((0, 0)),
    "amin dim out of range": lambda m, x: x.amin(-3),
    "argmax of an empty tensor": lambda m, x: x[:0].argmax(),
    "argmax over an empty dim": lambda m, x: x[:0].argmax(0),
    "argmax of bools": lambda m, x: (x > 0).argmax(),
    "argmin dim as a float": lambda m, x: x.argmin(1.0),
    "all dim out of range": lambda m, x: x.all(2),
    "any dim as a float": lambda m, x: x.any(0.5),
    "all of a repeated dim": lambda m, x: x.all((0, 0)),
    "prod dim out of range": lambda m, x: x.prod(-3),
    "prod dims as a tuple": lambda m, x: x.prod((0, 1)),
    "prod keepdim without a dim": lambda m, x: x.prod(keepdim=True),
    "prod of a dtype of no gradient": lambda m, x: x.requires_grad_().prod(dtype=torch.int64 if m is torch else "int64"),
    "cumsum without a dim": lambda m, x: x.cumsum(),
    "cumsum dim out of range": lambda m, x: x.cumsum(2),
    "cumsum dim as a tuple": lambda m, x: x.cumsum((0,)),
    "cumsum dim as a float": lambda m, x: m.cumsum(x, 1.0),
    "split of a 0-d tensor": lambda m, x: x[0, 0].split(1),
    "split by 0": lambda m, x: x.split(0, 1),
    "split by a negative size": lambda m, x: x.split(-1),
    "split of sizes that do not add up": lambda m, x: x.split([1, 1], 1),
    "split of a negative size": lambda m, x: x.split([4, -1], 1),
    "split dim out of range": lambda m, x: x.split(1, 2),
    "split by a float": lambda m, x: x.split(1.0),
    "chunk into 0 pieces": lambda m, x: x.chunk(0),
    "chunk of a 0-d tensor": lambda m, x: x[0, 0].chunk(1),
    "chunk dim out of range": lambda m, x: x.chunk(2, -3),
    "gather out of range": lambda m, x: x.gather(1, _t(m, [[3]])),
    "gather of a negative index": lambda m, x: x.gather(1, _t(m, [[-1]])),
    "gather of an index larger than x": lambda m, x: x.gather(0, _t(m, [[0, 1, 0, 1]])),
    "gather of an index of fewer dims": lambda m, x: x.gather(1, _t(m, [0, 1])),
    "gather of a float index": lambda m, x: x.gather(1, _t(m, [[0.0]])),
    "gather of a uint8 index": lambda m, x: x.gather(1, _t(m, [[0]]).to(torch.uint8 if m is torch else "uint8")),
    "gather dim out of range": lambda m, x: x.gather(2, _t(m, [[0]])),
    "gather of a list index": lambda m, x: x.gather(1, [[0]]),
    "gather from an empty dim": lambda m, x: x[:, :0].gather(1, _t(m, [[0]])),
    "masked_fill by a uint8 mask": lambda m, x: x.masked_fill((x > 0).to(torch.uint8 if m is torch else "uint8"), 1.0),
    "masked_fill by a float mask": lambda m, x: x.masked_fill(x, 1.0),
    "masked_fill by a 1-d tensor": lambda m, x: x.masked_fill(x > 0, x[0]),
    "masked_fill by None": lambda m, x: x.masked_fill(x > 0, None),
    "masked_fill of a mask that does not broadcast": lambda m, x: x.masked_fill(x[:, :2] > 0, 1.0),
    "masked_fill of ints by NaN": lambda m, x: _t(m, [1, 2]).masked_fill(_t(m, [True, False]), NAN),
    "masked_fill of uint8 by 300": lambda m, x: x.to(torch.uint8 if m is torch else "uint8").masked_fill(x > 0, 300),
    "masked_fill beyond float32's range": lambda m, x: x.float().masked_fill(x > 0, 1e300),
    "masked_fill beyond float16's range": lambda m, x: x.half().masked_fill(x > 0, 1e10),
    "masked_fill of a list mask": lambda m, x: x.masked_fill([True, False, True], 1.0),
    "var of ints": lambda m, x: _t(m, [1, 2, 3]).var(),
    "var with unbiased and correction": lambda m, x: x.var(1, unbiased=True, correction=1),
    "std dim out of range": lambda m, x: x.std(5),
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
    "remainder of bools": lambda m, x: (x > 0) % (x > 0),
    "remainder of ints by 0": lambda m, x: _t(m, [1, 2]) % 0,
    "remainder of ints by a 0 tensor": lambda m, x: _t(m, [1, 2]) % _t(m, [1, 0]),
    "where of a float condition": lambda m, x: m.where(x, x, 0.0),
    "where of a condition that does not broadcast": lambda m, x: m.where(x[:, :2] > 0, x, 0.0),
    "where of input alone": lambda m, x: m.where(x > 0, x),
    "add of ints alpha=0.5": lambda m, x: m.add(_t(m, [1, 2]), _t(m, [1, 2]), alpha=0.5),
    "sub alpha as a string": lambda m, x: m.sub(x, x, alpha="2"),
    "div rounding_mode not by keyword": lambda m, x: m.div(x, x, "floor"),
    "div method rounding_mode not by keyword": lambda m, x: x.div(x, "trunc"),
    "view_as a shape of other size": lambda m, x: x.view_as(x[0]),
    "view_as of a transpose": lambda m, x: x.t().view_as(x),
    "view_as a number": lambda m, x: x.view_as(6),
    "reshape_as an array": lambda m, x: x.reshape_as(numpy.zeros(6)),
    "type_as a dtype": lambda m, x: x.type_as(torch.float16 if m is torch else "float16"),
    "eq of None": lambda m, x: x.eq(None),
    "lt of a string": lambda m, x: x.lt("1"),
    "isnan of a number": lambda m, x: m.isnan(1.0),
    "add float16 alpha beyond its range": lambda m, x: x.half().add(x.half(), alpha=1e5),
    "& of floats": lambda m, x: x & x,
    "| of a mask and a float": lambda m, x: (x > 0) | 1.5,
    "^ of a mask and a float 0-d tensor": lambda m, x: (x > 0) ^ x[0, 0],
    "~ of floats": lambda m, x: ~x,
    "bitwise_not of floats": lambda m, x: m.bitwise_not(x),
    "& of masks that do not broadcast": lambda m, x: (x > 0) & (x[:, :2] > 0),
    "| of a list": lambda m, x: (x[0] > 0) | [True, False, True],
    "& of None": lambda m, x: (x > 0) & None,
    "<< of floats": lambda m, x: x << 1,
    ">> of masks": lambda m, x: (x > 0) >> (x > 0),
    "<< of ints by a float": lambda m, x: x.long() << 1.5,
    "reflected << of a float": lambda m, x: 2.0 << x.long(),
    "logical_and of a number": lambda m, x: m.logical_and(x, 1),
    "logical_or of a number first": lambda m, x: m.logical_or(True, x),
    "logical_xor of shapes that do not broadcast": lambda m, x: x.logical_xor(x[:, :2]),
    "logical_not of a list": lambda m, x: m.logical_not([1.0, 0.0]),
    "permute function of dims one by one": lambda m, x: m.permute(x, 1, 0),
    "permute function of an int": lambda m, x: m.permute(x[0], 0),
    "permute method with no dims": lambda m, x: x.permute(),
    "tile function of dims one by one": lambda m, x: m.tile(x, 2, 1),
    "tile function of an int": lambda m, x: m.tile(x, 2),
    "tile of a negative size": lambda m, x: x.tile(-1),
    "add method out=None": lambda m, x: x.add(x, out=None),
    "sum method out=None": lambda m, x: x.sum(0, out=None),
    "softmax method out=None": lambda m, x: x.softmax(0, out=None),
    "ravel of a list": lambda m, x: m.ravel([1.0]),
    "narrow of a 0-d tensor": lambda m, x: x[0, 0].narrow(0, 0, 1),
    "narrow start out of range": lambda m, x: x.narrow(1, 4, 0),
    "narrow past the end": lambda m, x: x.narrow(1, 2, 2),
    "narrow of a negative length": lambda m, x: x.narrow(0, 0, -1),
    "narrow dim out of range": lambda m, x: x.narrow(2, 0, 1),
    "narrow start as a float": lambda m, x: x.narrow(0, 0.0, 1),
    "movedim dim out of range": lambda m, x: x.movedim(0, 2),
    "movedim of a repeated dim": lambda m, x: x.movedim((0, 0), (1, 0)),
    "movedim of dims of two lengths": lambda m, x: x.movedim((0, 1), (1,)),
    "movedim of an int and a tuple": lambda m, x: x.movedim(0, (1,)),
    "unbind of a 0-d tensor": lambda m, x: x[0, 0].unbind(),
    "unbind dim out of range": lambda m, x: x.unbind(2),
    "unflatten of sizes that do not multiply up": lambda m, x: x.unflatten(1, (2, -1)),
    "unflatten of no sizes": lambda m, x: x.unflatten(1, ()),
    "unflatten of an int": lambda m, x: x.unflatten(1, 3),
    "unflatten of two -1": lambda m, x: x.unflatten(1, (-1, -1)),
    "unflatten dim out of range": lambda m, x: x.unflatten(2, (3, 1)),
    "index_select out of range": lambda m, x: x.index_select(1, _t(m, [3])),
    "index_select of a negative index": lambda m, x: x.index_select(1, _t(m, [-1])),
    "index_select of a 2-d index": lambda m, x: x.index_select(1, _t(m, [[0]])),
    "index_select of a float index": lambda m, x: x.index_select(1, _t(m, [0.0])),
    "index_select dim out of range": lambda m, x: x.index_select(2, _t(m, [0])),
    "index_select of a list": lambda m, x: x.index_select(0, [0]),
    "index_select of a 0-d tensor by two": lambda m, x: x[0, 0].index_select(0, _t(m, [0, 0])),
    "norm of ints": lambda m, x: _t(m, [1, 2]).norm(),
    "norm of an unknown order": lambda m, x: x.norm("abc"),
    "norm into a narrower dtype": lambda m, x: x.norm(dtype=torch.float32 if m is torch else "float32"),
    "norm into ints": lambda m, x: x.norm(dtype=torch.int64 if m is torch else "int64"),
    "norm dim out of range": lambda m, x: x.norm(dim=2),
    "norm inf of an empty tensor": lambda m, x: x[:0].norm(float("inf")),
    "logsumexp without a dim": lambda m, x: x.logsumexp(),
    "logsumexp dim out of range": lambda m, x: m.logsumexp(x, 2),
    "logsumexp of dims ()": lambda m, x: x.logsumexp(()),
    "logsumexp of dim None": lambda m, x: x.logsumexp(dim=None),
    "mm of a vector": lambda m, x: x.mm(x[0]),
    "mm of shapes that do not fit": lambda m, x: m.mm(x, x),
    "mm of two dtypes": lambda m, x: x.mm(x.t().float()),
    "mm of bools": lambda m, x: (x > 0).mm((x > 0).t()),
    "bmm of matrices": lambda m, x: m.bmm(x, x.t()),
    "bmm of two batch sizes": lambda m, x: x[None].bmm(x.t()[None].expand(2, 3, 2)),
    "mv of two matrices": lambda m, x: x.mv(x.t()),
    "mv of a vector that does not fit": lambda m, x: x.mv(x[0, :2]),
    "dot of matrices": lambda m, x: x.dot(x),
    "dot of two lengths": lambda m, x: x[0].dot(x[1, :2]),
    "dot of two dtypes": lambda m, x: x[0].dot(x[1].float()),
    "outer of a matrix": lambda m, x: m.outer(x, x[0]),
    "floor of bools": lambda m, x: (x > 0).floor(),
    "round of bools": lambda m, x: m.round(x > 0),
    "round of ints with decimals": lambda m, x: _t(m, [1, 2]).round(decimals=1),
    "trunc of bools": lambda m, x: (x > 0).trunc(),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_as_by_torch(name):
    fn, data = REFUSED[name], _random(2, 3)
    with pytest.raises(Exception) as theirs:
        fn(torch, torch.tensor(data))
    with pytest.raises(type(theirs.value)):
        fn(F, Tensor(on_device(data)))


# name: code run with x (4 elements) and e = x.expand(3, 4): PyTorch writes through, or refuses a write where more
# than one element of the written-to tensor is one memory location
EXPANDED_WRITES = {
    "an element": "e[0, 0] = 5.0",
    "a row": "e[1] = x + 1",
    "a row of a row": "e[2][1:] += 1",
    "a column": "e[:, 0] = 1.0",
    "all": "e[...] = 1.0",
    "+=": "e += 1",
    "*= of a slice": "e[1:] *= 2",
    "-= of a transpose": "f = e.t(); f -= 1",
    "+= of an expand to one row": "f = x.expand(1, 4); f += 1",
    "relu in place": "F.relu(e, inplace=True)",
    "nn.init": "nn.init.constant_(e, 2.0)",
    "nn.init of a row": "nn.init.constant_(e[1], 2.0)",
}


@pytest.mark.parametrize("name", EXPANDED_WRITES)
def test_writes_into_an_expanded_tensor_as_torch(name):
    """A write into an expanded tensor (a view of x) changes x where PyTorch's does, and is refused with PyTorch's
    RuntimeError where the written elements share memory (NumPy's read-only view gave a misleading 'does not fit')."""
    outcomes = []
    for m, x in ((torch, torch.arange(4.0)), (F, Tensor(on_device(numpy.arange(4.0))))):
        code = EXPANDED_WRITES[name].replace("F.relu", "torch.relu_" if m is torch else "F.relu").replace(
            ", inplace=True", "" if m is torch else ", inplace=True")
        try:
            exec(code, {"x": x, "e": x.expand(3, 4), "F": F, "torch": torch, "nn": torch.nn if m is torch else nn})
        except RuntimeError as error:
            assert "more than one element of the written-to tensor refers to a single memory location" in str(error)
            outcomes.append("refused")
        else:
            outcomes.append(host(x).tolist() if m is F else x.tolist())
    assert outcomes[0] == outcomes[1]


def test_an_advanced_index_put_into_an_expanded_tensor_warns_as_torch():
    x = Tensor(on_device(numpy.arange(4.0)))
    with pytest.warns(UserWarning, match="expanded tensors is deprecated"):
        x.expand(3, 4)[[0, 1]] = 2.0
    numpy.testing.assert_array_equal(host(x), [2.0] * 4)


# name: (code run with x, either answer: the value x is left with, or the exception PyTorch raises)
IN_PLACE = {
    "zero_": "x.zero_()",
    "zero_ of an expanded tensor": "x.expand(3, 4).zero_()",
    "fill_": "x.fill_(2.5)",
    "fill_ of an int tensor by a float": "x.long().fill_(2.7)",
    "fill_ by a 0-d tensor": "x.fill_(x[1])",
    "fill_ by a tensor": "x.fill_(x[:1])",
    "fill_ by None": "x.fill_(None)",
    "add_": "x.add_(x.flip(0))",
    "add_ alpha": "x.add_(2, alpha=3)",
    "add_ of a float into ints": "x.long().add_(1.5)",
    "mul_": "x.mul_(2.5)",
    "mul_ of a shape that does not broadcast into x": "x.mul_(x.expand(2, 4))",
    "sub_": "x.sub_(x.flip(0))",
    "sub_ alpha": "x.sub_(x.flip(0), alpha=0.5)",
    "sub_ of ints by a float": "x.long().sub_(0.5)",
    "sub_ of bools": "(x > 0).sub_(x > 1)",
    "div_": "x.div_(x.flip(0))",
    "div_ by 0": "x.div_(0)",
    "div_ rounding_mode": "x.div_(0.7, rounding_mode='floor')",
    "div_ of ints": "x.long().div_(2)",
    "div_ of ints rounding_mode": "x.long().div_(-2, rounding_mode='trunc')",
    "masked_fill_": "x.masked_fill_(x > 0, 7.5)",
    "masked_fill_ by a broadcast mask": "x.view(2, 2).masked_fill_(x[:2] > -1, -1)",
    "masked_fill_ of ints by a 0-d tensor": "x.long().masked_fill_(x > 0, x[0])",
    "masked_fill_ of a mask x does not take": "x[:1].masked_fill_(x > 0, 1.0)",
    "masked_fill_ by a 1-d tensor": "x.masked_fill_(x > 0, x[:1])",
    "copy_": "x.copy_(x.flip(0) * 2)",
    "copy_ of a broadcast tensor": "x.copy_(x[1:2])",
    "copy_ of ints": "x.copy_(x.long())",
    "copy_ into ints": "x.long().copy_(x * 3)",
    "copy_ into uint8 from int64": "x.to(torch.uint8 if isinstance(x, torch.Tensor) else 'uint8').copy_((x * 100).long())",
    "copy_ of a 0-d tensor": "x.copy_(x[2])",
    "copy_ of a number": "x.copy_(3)",
    "copy_ of a bool": "x.copy_(True)",
    "copy_ of itself": "x.copy_(x)",
    "copy_ non_blocking": "x.copy_(x + 1, non_blocking=True)",
    "copy_ of more dims": "x.copy_(x.view(1, 4))",
    "copy_ of a shape that does not broadcast": "x.copy_(x[:2])",
    "copy_ of an overlapping view": "x[1:].copy_(x[:-1])",
    "copy_ of None": "x.copy_(None)",
    "copy_ of an array": "x.copy_(numpy.zeros(4))",
    "copy_ into an expanded tensor": "x[:1].expand(4).copy_(x)",
    "&= of masks": "(x > 0).__iand__(x < 1)",
    "|= of ints": "x.long().__ior__(3)",
    "^= of a mask by an int": "(x > 0).__ixor__(1)",
    "&= of floats": "x.__iand__(x > 0)",
    "<<= of ints": "x.long().__ilshift__(2)",
    ">>= of ints": "x.long().__irshift__(1)",
    "<<= of a mask": "(x > 0).__ilshift__(1)",
}


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_methods_as_torch(name):
    """x.zero_(), x.fill_(v), x.add_(y, alpha=...), x.mul_(y): x itself, changed as PyTorch changes it (a tensor
    made from x: that tensor), or PyTorch's exception type."""
    answers = []
    for x in (torch.tensor(numpy.arange(4.0) - 1.5), Tensor(on_device(numpy.arange(4.0) - 1.5))):
        try:
            out = eval(IN_PLACE[name], {"x": x, "torch": torch, "numpy": numpy})
        except Exception as error:
            answers.append(type(error))
        else:
            answers.append((host(out).tolist() if isinstance(out, Tensor) else out.tolist(),
                            str(out.dtype).replace("torch.", "")))
    if isinstance(answers[0], type):
        assert isinstance(answers[1], type) and issubclass(answers[1], answers[0])
    else:
        assert answers[0] == answers[1]


def test_in_place_methods_return_x_and_count_a_change():
    x = Tensor(on_device(numpy.arange(4.0)))
    for method, args in (("zero_", ()), ("fill_", (1.0,)), ("add_", (x,)), ("mul_", (2,)), ("sub_", (1,)), ("div_", (2,)),
                         ("masked_fill_", (x > 1, 0.5)), ("copy_", (x * 2,))):
        version = x.version
        assert getattr(x, method)(*args) is x and x.version == version + 1
    with pytest.raises(RuntimeError, match="leaf"):
        Tensor(on_device(numpy.arange(4.0)), requires_grad=True).add_(1)
    source = Tensor(on_device(numpy.arange(4.0)), requires_grad=True)
    x.copy_(source).sum().backward()  # x joins the graph, as PyTorch's
    assert host(source.grad).tolist() == [1.0] * 4


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "uint8", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (2, 3)])
def test_tolist_as_torch(dtype, shape):
    data = (_random(*shape) * 3).astype(dtype)
    ours, theirs = Tensor(on_device(data)).tolist(), torch.tensor(data).tolist()
    assert ours == theirs and repr(ours) == repr(theirs)  # the same Python types too


def test_reversed_of_a_0d_tensor_is_itself_as_torch():
    x = Tensor(on_device(numpy.array(2.0)), requires_grad=True)
    assert reversed(x) is x and reversed(torch.tensor(2.0)).item() == 2.0


@pytest.mark.parametrize("values", [True, [False], 3, [[-2]], 2.0, [1, 2], numpy.array([True, False])])
def test_index_as_torch(values):
    """operator.index(x) (a slice bound, range(x)) of a one-element integer or bool tensor, as PyTorch's __index__ (a
    bool one was refused); any other is PyTorch's TypeError."""
    import operator
    answers = []
    for x in (torch.tensor(numpy.array(values)), Tensor(on_device(numpy.array(values)))):
        try:
            answers.append(repr(operator.index(x)))
        except TypeError:
            answers.append(TypeError)
    assert answers[0] == answers[1]


def test_dlpack_shares_the_data_as_torchs():
    """numpy.from_dlpack(x) and torch.from_dlpack(x) take x's data, shared, as PyTorch's __dlpack__ gives it, and a
    tensor that requires grad is refused with PyTorch's BufferError; before, Tensor had no __dlpack__."""
    x = Tensor(numpy.arange(4.0).reshape(2, 2))
    array, theirs = numpy.from_dlpack(x), torch.from_dlpack(x)
    x.data[0, 0] = 7.0
    assert array.tolist() == theirs.tolist() == [[7.0, 1.0], [2.0, 3.0]] and x.__dlpack_device__() == (1, 0)
    for t in (torch.ones(2, requires_grad=True), Tensor(numpy.ones(2), requires_grad=True)):
        with pytest.raises(BufferError, match="require"):
            numpy.from_dlpack(t)


class _Reflecting:
    """An operand of a type tinyrrn does not know whose reflected methods answer (as a units or a symbolic type's)."""

    def __gt__(self, other):
        return "gt"


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
              "rshift"):
    setattr(_Reflecting, f"__r{_name}__", lambda self, other, name=_name: name)


@pytest.mark.parametrize("symbol", ["+", "-", "*", "/", "//", "%", "**", "@", "&", "|", "^", "<<", ">>", "<", "+="])
def test_an_operand_of_another_type_gets_its_reflected_method_as_in_torch(symbol):
    """x + y, y of a type tinyrrn does not take, is y.__radd__(x), as PyTorch's operators answer NotImplemented for it;
    before, tinyrrn raised its TypeError and y's method never ran."""
    answers = []
    for x in (torch.ones(2, dtype=torch.int64), Tensor(on_device(numpy.ones(2, "int64")))):
        space = {"x": x, "y": _Reflecting()}
        exec(f"x {symbol} y" if symbol.endswith("=") else f"z = x {symbol} y", space)
        answers.append(space["x" if symbol.endswith("=") else "z"])
    assert answers[0] == answers[1] != NotImplemented


def test_unary_plus_as_torch():
    """+x is x itself (torch.positive), of any dtype but bool, which PyTorch refuses; before, +x was Python's TypeError
    (Tensor had no __pos__)."""
    for x in (Tensor(on_device(_random(3)), requires_grad=True), Tensor(on_device(INTS))):
        assert +x is x and F.positive(x) is x and x.positive() is x
    for bools in (torch.tensor([True]), Tensor(on_device(numpy.array([True])))):
        with pytest.raises(RuntimeError, match="bool"):
            +bools


@pytest.mark.parametrize("value, spec", [(2.5, ".2f"), (2.5, ""), (2.5, ">8"), (-3, "d"), (-3, "+05"), (True, ""),
                                         (True, "d"), ([2.5], ".1f"), ([2.5, 1.0], "x")])
def test_format_as_torch(value, spec):
    """format(x, spec) and f'{x:.2f}' of a 0-d tensor format its value, as PyTorch's (one that requires grad too); of
    any other, PyTorch's TypeError for a spec (format(x) is str(x)). Before, a 0-d tensor's spec was the TypeError."""
    answers = []
    for x in (torch.tensor(value), Tensor(on_device(numpy.array(value)))):
        x = x.float().requires_grad_() if isinstance(value, float) else x
        try:
            answers.append(format(x, spec))
        except TypeError:
            answers.append(TypeError)
    assert answers[0] == answers[1]
    assert format(Tensor(on_device(numpy.zeros(2)))) == str(Tensor(on_device(numpy.zeros(2))))


def test_cpu_and_cuda_as_torch():
    """x.cpu() is x on the host (else a copy there, in the graph); x.cuda() moves x to the GPU, or without one raises
    a RuntimeError that says so."""
    x = Tensor(numpy.arange(3.0), requires_grad=True)
    assert x.cpu() is x
    if not backend.gpu_available():
        with pytest.raises(RuntimeError, match="gpu"):
            x.cuda()
        return
    y = x.cuda()
    assert y.device == "gpu" and y.cpu().device == "cpu" and y.cuda() is y
    (y.cpu() * 2).sum().backward()
    numpy.testing.assert_array_equal(host(x.grad), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"])
def test_type_names_and_casts_as_torch(dtype):
    """x.type() is PyTorch's name of x's type ('torch.FloatTensor'; 'torch.cuda.FloatTensor' on the GPU); x.type(t)
    is x.to(t) for a dtype, or for such a name, whose device it takes (x itself when nothing changes), as PyTorch's.
    Before, Tensor had no type() (AttributeError)."""
    theirs = torch.arange(3.0, requires_grad=True)
    name = theirs.type(getattr(torch, dtype)).type()
    x = Tensor(on_device(numpy.arange(3.0, dtype="float32")), requires_grad=True)
    y = x.type(dtype)
    assert y.type() == (name.replace("torch.", "torch.cuda.") if y.device == "gpu" else name)
    assert y.type(y.type()) is y and y.type(dtype) is y and (y is x) == (dtype == "float32")
    host_copy = y.type(name)
    assert host_copy.device == "cpu" and host_copy.dtype == dtype
    assert host_copy.tolist() == theirs.type(name).tolist() and y.requires_grad == (dtype.startswith("float"))


@pytest.mark.parametrize("code", ["x.type('torch.Tensors')", "x.type('FloatTensor')", "x.type(1)"])
def test_type_refuses_what_torch_refuses(code):
    with pytest.raises((ValueError, TypeError)) as theirs:
        eval(code, {"x": torch.zeros(2)})
    with pytest.raises(theirs.type):
        eval(code, {"x": Tensor(on_device(numpy.zeros(2)))})


# name: code run with x (float32, 2 elements) and i (int64), and d(name), a dtype (torch's or tinyrrn's): the new tensor
# PyTorch makes (values, dtype, shape, requires_grad), or the exception it raises
NEW_TENSORS = {
    "new_zeros": "x.new_zeros(2, 3)",
    "new_zeros of a tuple": "i.new_zeros((2, 3))",
    "new_zeros of a list and a dtype": "x.new_zeros([2], dtype=d('int64'))",
    "new_zeros of ()": "x.new_zeros(())",
    "new_zeros size=": "x.new_zeros(size=(1, 2))",
    "new_zeros requires_grad": "x.new_zeros(2, requires_grad=True)",
    "new_ones": "i.new_ones(2)",
    "new_ones dtype": "x.new_ones(3, dtype=d('float16'))",
    "new_empty shape": "x.new_empty(2, 0).shape",
    "new_full": "x.new_full((2,), 3)",
    "new_full of ints by a float": "i.new_full((2,), 3.5)",
    "new_full of bools": "(x > 0).new_full([2], 3)",
    "new_full of uint8 by -1": "i.to(d('uint8')).new_full((2,), -1)",
    "new_full by a 0-d tensor": "x.new_full((2,), x[0])",
    "new_full by NaN": "x.new_full((1,), float('nan'))",
    "new_tensor": "x.new_tensor([1, 2])",
    "new_tensor of floats": "x.double().new_tensor([0.1, 1e-300])",
    "new_tensor of ints by floats": "i.new_tensor([1.5, -2.7])",
    "new_tensor dtype": "x.new_tensor([-1, 2], dtype=d('uint8'))",
    "new_tensor of a number": "i.new_tensor(3)",
    "new_tensor of bools and ints": "x.new_tensor([True, 2])",
    "new_tensor of []": "x.new_tensor([])",
    "new_tensor requires_grad": "x.new_tensor([1.0], requires_grad=True)",
    "new_tensor of an array": "x.new_tensor(numpy.array([1, 2]))",
    "new_zeros without a size": "x.new_zeros()",
    "new_zeros of a negative size": "x.new_zeros(-1)",
    "new_zeros of a float size": "x.new_zeros(2.0)",
    "new_zeros of ints requires_grad": "i.new_zeros(2, requires_grad=True)",
    "new_full of an int size": "x.new_full(2, 3)",
    "new_full by None": "x.new_full((2,), None)",
    "new_full by a 1-d tensor": "x.new_full((2,), x)",
    "new_full of uint8 by 300": "i.to(d('uint8')).new_full((2,), 300)",
    "new_full of ints by NaN": "i.new_full((2,), float('nan'))",
    "new_full beyond float32's range": "x.new_full((2,), 1e300)",
    "new_full beyond float16's range": "x.half().new_full((2,), 1e10)",
    "new_tensor ragged": "x.new_tensor([[1], [2, 3]])",
}


@pytest.mark.parametrize("name", NEW_TENSORS)
def test_new_tensors_as_torch(name):
    """x.new_zeros, new_ones, new_empty, new_full and new_tensor: a new leaf of x's dtype and device, as PyTorch's."""
    answers = []
    for m in (torch, F):
        x, i = _t(m, numpy.array([1.5, -2.0], "float32")), _t(m, numpy.array([3, 4]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = eval(NEW_TENSORS[name], {"x": x, "i": i, "numpy": numpy,
                                              "d": lambda name: getattr(torch, name) if m is torch else name})
        except Exception as error:
            answers.append(type(error))
        else:
            answers.append(tuple(out) if not hasattr(out, "dtype") else
                           (host(out).tolist() if m is F else out.tolist(), str(out.dtype).replace("torch.", ""),
                            tuple(out.shape), out.requires_grad, m is torch or out.device == x.device))
    if isinstance(answers[0], type):
        assert isinstance(answers[1], type) and issubclass(answers[1], answers[0])
    else:
        assert repr(answers[0]) == repr(answers[1])


def test_pytorchs_methods_and_functions_not_here_are_refused_as_not_implemented():
    """A PyTorch method or function that tinyrrn has not: a NotImplementedError naming it (an AttributeError too, so
    that hasattr is False), not a bare AttributeError; any other missing name is Python's AttributeError. Every name
    refused is PyTorch's."""
    from tinyrrn import operators
    assert all(hasattr(torch.Tensor, name) for name in operators.NOT_HERE)
    assert all(hasattr(torch, name) for name in F.NOT_HERE)
    assert all(hasattr(torch.nn.functional, name) for name in F.NN_NOT_HERE)
    x = Tensor(on_device(TIES))
    for name in ("kthvalue", "cummax", "scatter_", "abs_"):
        assert not hasattr(x, name)
        with pytest.raises(NotImplementedError, match=f"Tensor.{name} "):
            getattr(x, name)
    for name in ("kron", "kthvalue", "zeros_like"):
        assert not hasattr(F, name)
        with pytest.raises(NotImplementedError, match=f"torch.{name} "):
            getattr(F, name)
    for name in ("grid_sample", "interpolate", "instance_norm", "adaptive_max_pool1d", "ctc_loss"):  # (a bare AttributeError)
        assert not hasattr(F, name)
        with pytest.raises(NotImplementedError, match=f"torch.nn.functional.{name} "):
            getattr(F, name)
    for missing in (lambda: x.no_such_method, lambda: F.no_such_function):
        with pytest.raises(AttributeError) as error:
            missing()
        assert not isinstance(error.value, NotImplementedError)


@pytest.mark.parametrize("code", ["x.is_contiguous()", "x.t().is_contiguous()", "x[None, :, :1].is_contiguous()",
                                  "x[:, :1].is_contiguous()", "x.is_floating_point()", "x.long().is_floating_point()",
                                  "x.element_size()", "x.half().element_size()", "x.nelement()", "x.ndimension()"])
def test_layout_queries_as_torch(code):
    """is_contiguous, is_floating_point, element_size, nelement and ndimension, as PyTorch's (x.stride() is refused: a
    dim of size 1 has NumPy's stride, not always PyTorch's)."""
    assert eval(code, {"x": Tensor(on_device(TIES))}) == eval(code, {"x": torch.tensor(TIES)})


def test_a_dims_warning_of_a_method_names_the_callers_line_as_torchs():
    """var's warning of no degrees of freedom left names the line that called x.var(), through the method's frame too."""
    with pytest.warns(UserWarning, match="degrees of freedom") as record:
        Tensor(on_device(numpy.array([1.0]))).std()
    assert record[0].filename == __file__
