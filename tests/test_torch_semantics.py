"""tinyrrn against PyTorch, one line per case (in the spirit of tinygrad's helper_test_op).

A case names its inputs and one function ``fn(m, *inputs)`` written once for both libraries:
``m`` is tinyrrn.functional, or PyTorch's functions under tinyrrn's names. check() runs both on
the same random float64 inputs, compares the forward values and dtypes and, with a random
output gradient, the gradient of every input that requires one. A case flagged "raises"
checks that both libraries refuse and that ours raises PyTorch's exception type; one flagged
"forward" compares the forward pass only; "float32" or "float16" runs in that dtype.
"""
import itertools
import math
import types
import warnings

import numpy
import pytest

from devices import host, on_device
import tinyrrn
from tinyrrn import Tensor
from tinyrrn import functional as F

torch = pytest.importorskip("torch", reason='needs PyTorch as a reference oracle: pip install ".[oracle]"')
pytestmark = [pytest.mark.oracle,  # PyTorch notes that its 'same' padding may copy the input; NumPy
              pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths"),
              pytest.mark.filterwarnings("ignore:Mean of empty slice"),  # warns where both give NaN
              pytest.mark.filterwarnings("ignore:invalid value encountered")]
tf = torch.nn.functional

# PyTorch's functions under tinyrrn.functional's names
T = types.SimpleNamespace(**{name: getattr(tf, name) for name in dir(tf) if not name.startswith("_")})
T.__dict__.update(
    concatenate=torch.cat, stack=torch.stack, sum=torch.sum, mean=torch.mean, matmul=torch.matmul,
    pow=torch.pow, div=torch.div, floor_divide=torch.floor_divide, flatten=torch.flatten,
    permute=torch.permute, transpose=torch.transpose, reshape=torch.reshape, exp=torch.exp, log=torch.log,
    softmax=torch.softmax, log_softmax=torch.log_softmax, lt=torch.lt, le=torch.le, gt=torch.gt, ge=torch.ge,
    eq=torch.eq, ne=torch.ne, add=torch.add, sub=torch.sub, mul=torch.mul, neg=torch.neg)


def positive(*shape):
    """A float input in [0.5, 2.5) (for log, fractional powers), requiring grad."""
    return lambda rng: rng.uniform(0.5, 2.5, shape)


def probabilities(*shape, axis=1):
    """Class probabilities along ``axis`` (a soft cross-entropy target), requiring grad."""
    def make(rng):
        p = rng.uniform(0.1, 1.0, shape)
        return p / p.sum(axis=axis, keepdims=True)
    return make


def const(values, dtype=None):
    """An input given by value (an integer target, a class weight): never requires grad."""
    return numpy.asarray(values, dtype=dtype)


def make_inputs(specs, rng, dtype):
    ours, theirs = [], []
    for spec in specs:
        if isinstance(spec, tuple):
            data = rng.uniform(-2, 2, spec).astype(dtype)
        elif callable(spec):
            data = spec(rng).astype(dtype)
        else:
            data = spec
        grad = not isinstance(spec, numpy.ndarray) and data.dtype.kind == "f"
        ours.append(Tensor(on_device(data.copy()), requires_grad=grad))
        theirs.append(torch.tensor(data.copy(), requires_grad=grad))
    return ours, theirs


def outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


TOLERANCES = {"float64": (1e-7, 1e-9), "float32": (1e-5, 1e-5), "float16": (2e-3, 2e-3)}  # rtol, atol


def check(specs, fn, raises=False, forward_only=False, dtype="float64", seed=0):
    rng = numpy.random.default_rng(seed)
    ours, theirs = make_inputs(specs, rng, dtype)
    rtol, atol = TOLERANCES[dtype]
    if raises:
        with pytest.raises(Exception) as theirs_error:
            fn(T, *theirs)
        with pytest.raises(type(theirs_error.value)):
            fn(F, *ours)
        return
    our_outs, their_outs = outputs(fn(F, *ours)), outputs(fn(T, *theirs))
    assert len(our_outs) == len(their_outs)
    for mine, reference in zip(our_outs, their_outs):
        expected = reference.detach().numpy()
        assert mine.shape == tuple(reference.shape)
        assert mine.dtype == expected.dtype, (mine.dtype, expected.dtype)
        numpy.testing.assert_allclose(mine.detach().numpy(), expected, rtol=rtol, atol=atol)
    assert our_outs[0].requires_grad == their_outs[0].requires_grad
    if forward_only or not their_outs[0].requires_grad:
        return
    g = rng.standard_normal(our_outs[0].shape)
    our_outs[0].backward(g)
    their_outs[0].backward(torch.tensor(g, dtype=their_outs[0].dtype))
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        if reference.requires_grad:
            assert mine.grad is not None and mine.grad.dtype == mine.dtype, f"input {i}"
            numpy.testing.assert_allclose(host(mine.grad), reference.grad.numpy(), rtol=10 * rtol, atol=10 * atol,
                                          err_msg=f"gradient of input {i}")


CASES = {
    # ---- convolution: strides, paddings, dilations, groups, edge sizes
    "conv2d 3x3": ([(2, 3, 7, 6), (4, 3, 3, 3), (4,)], lambda m, x, w, b: m.conv2d(x, w, b)),
    "conv2d stride 2 pad 1": ([(2, 3, 7, 6), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, None, 2, 1)),
    "conv2d stride (2, 1) pad (0, 2)": ([(1, 2, 6, 5), (3, 2, 3, 2)], lambda m, x, w: m.conv2d(x, w, stride=(2, 1), padding=(0, 2))),
    "conv2d stride > kernel": ([(2, 2, 9, 8), (3, 2, 2, 2)], lambda m, x, w: m.conv2d(x, w, stride=3)),
    "conv2d 1x1": ([(2, 5, 4, 3), (6, 5, 1, 1), (6,)], lambda m, x, w, b: m.conv2d(x, w, b)),
    "conv2d 1x1 stride 2": ([(2, 5, 5, 4), (6, 5, 1, 1)], lambda m, x, w: m.conv2d(x, w, stride=2)),
    "conv2d kernel = input": ([(1, 2, 3, 4), (3, 2, 3, 4)], lambda m, x, w: m.conv2d(x, w)),
    "conv2d batch 1 non-square kernel": ([(1, 3, 8, 5), (2, 3, 1, 3)], lambda m, x, w: m.conv2d(x, w, padding=(0, 1))),
    "conv2d dilation 2": ([(2, 3, 9, 8), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, dilation=2)),
    "conv2d dilation (2, 3) stride 2 pad 2": ([(1, 2, 11, 12), (3, 2, 3, 2)], lambda m, x, w: m.conv2d(x, w, None, 2, 2, (2, 3))),
    "conv2d groups 2": ([(2, 4, 6, 5), (6, 2, 3, 3), (6,)], lambda m, x, w, b: m.conv2d(x, w, b, groups=2)),
    "conv2d depthwise": ([(2, 3, 6, 6), (6, 1, 3, 3)], lambda m, x, w: m.conv2d(x, w, stride=2, padding=1, groups=3)),
    "conv2d groups + dilation + 1x1": ([(1, 6, 5, 5), (3, 2, 1, 1)], lambda m, x, w: m.conv2d(x, w, dilation=2, groups=3)),
    "conv2d padding same odd": ([(2, 3, 6, 7), (4, 3, 3, 5)], lambda m, x, w: m.conv2d(x, w, padding="same")),
    "conv2d padding same even kernel": ([(2, 3, 6, 7), (4, 3, 4, 2)], lambda m, x, w: m.conv2d(x, w, padding="same")),
    "conv2d padding same dilated": ([(1, 2, 7, 6), (2, 2, 2, 3)], lambda m, x, w: m.conv2d(x, w, padding="same", dilation=3)),
    "conv2d padding valid": ([(2, 3, 6, 7), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, padding="valid")),
    "conv2d batch 0": ([(0, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, padding=1)),
    "conv2d stride 0": ([(1, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, stride=0), "raises"),
    "conv2d negative padding": ([(1, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, padding=-1), "raises"),
    "conv2d dilation 0": ([(1, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, dilation=0), "raises"),
    "conv2d groups 0": ([(1, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, groups=0), "raises"),
    "conv2d groups do not divide": ([(1, 3, 5, 5), (4, 1, 3, 3)], lambda m, x, w: m.conv2d(x, w, groups=2), "raises"),
    "conv2d channels differ": ([(1, 3, 5, 5), (4, 2, 3, 3)], lambda m, x, w: m.conv2d(x, w), "raises"),
    "conv2d kernel > input": ([(1, 3, 2, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w), "raises"),
    "conv2d empty kernel": ([(1, 1, 4, 4), (1, 1, 0, 0)], lambda m, x, w: m.conv2d(x, w), "raises"),
    "conv2d same with stride 2": ([(1, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, stride=2, padding="same"), "raises"),
    "conv2d unknown padding word": ([(1, 3, 5, 5), (4, 3, 3, 3)], lambda m, x, w: m.conv2d(x, w, padding="full"), "raises"),
    "conv2d bias wrong size": ([(1, 3, 5, 5), (4, 3, 3, 3), (3,)], lambda m, x, w, b: m.conv2d(x, w, b), "raises"),
    # ---- transposed convolution
    "conv_transpose2d": ([(2, 3, 4, 5), (3, 4, 3, 3), (4,)], lambda m, x, w, b: m.conv_transpose2d(x, w, b)),
    "conv_transpose2d stride 2 pad 1 out_pad 1": ([(2, 3, 4, 5), (3, 2, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w, None, 2, 1, 1)),
    "conv_transpose2d stride (3, 2) kernel 2": ([(1, 2, 3, 4), (2, 3, 2, 2)], lambda m, x, w: m.conv_transpose2d(x, w, stride=(3, 2))),
    "conv_transpose2d groups 2 dilation 2": ([(2, 4, 4, 3), (4, 3, 3, 2), (6,)], lambda m, x, w, b: m.conv_transpose2d(x, w, b, groups=2, dilation=2)),
    "conv_transpose2d dilation > stride out_pad": ([(1, 2, 3, 3), (2, 2, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w, output_padding=1, dilation=2)),
    "conv_transpose2d 1x1": ([(2, 5, 3, 4), (5, 2, 1, 1)], lambda m, x, w: m.conv_transpose2d(x, w)),
    "conv_transpose2d out_pad >= stride": ([(1, 2, 3, 3), (2, 2, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w, stride=2, output_padding=2), "raises"),
    # ---- max pooling
    "max_pool2d 2": ([(2, 3, 6, 7)], lambda m, x: m.max_pool2d(x, 2)),
    "max_pool2d 3 stride 2 pad 1": ([(2, 3, 7, 8)], lambda m, x: m.max_pool2d(x, 3, 2, 1)),
    "max_pool2d non-square kernel and stride": ([(1, 2, 7, 9)], lambda m, x: m.max_pool2d(x, (2, 3), (1, 2), (1, 0))),
    "max_pool2d stride > kernel": ([(2, 2, 9, 9)], lambda m, x: m.max_pool2d(x, 2, 3)),
    "max_pool2d dilation 2": ([(2, 3, 9, 8)], lambda m, x: m.max_pool2d(x, 3, 1, 1, 2)),
    "max_pool2d ceil_mode": ([(2, 3, 7, 6)], lambda m, x: m.max_pool2d(x, 2, 2, ceil_mode=True)),
    "max_pool2d ceil_mode window in padding": ([(1, 2, 6, 6)], lambda m, x: m.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    "max_pool2d ceil_mode stride 3 dilation 2": ([(1, 2, 10, 8)], lambda m, x: m.max_pool2d(x, 2, 3, 1, 2, True)),
    "max_pool2d return_indices": ([(2, 3, 7, 8)], lambda m, x: m.max_pool2d(x, 3, 2, 1, return_indices=True)),
    "max_pool2d indices ceil dilation": ([(1, 2, 9, 7)], lambda m, x: m.max_pool2d(x, 2, 2, 1, 2, True, True)),
    "max_pool2d 1x1": ([(2, 2, 3, 3)], lambda m, x: m.max_pool2d(x, 1)),
    "max_pool2d batch 0": ([(0, 2, 4, 4)], lambda m, x: m.max_pool2d(x, 2)),
    "max_pool2d kernel 0": ([(1, 1, 4, 4)], lambda m, x: m.max_pool2d(x, 0, 1), "raises"),
    "max_pool2d stride 0": ([(1, 1, 4, 4)], lambda m, x: m.max_pool2d(x, 2, 0), "raises"),
    "max_pool2d padding > half": ([(1, 1, 4, 4)], lambda m, x: m.max_pool2d(x, 2, 2, 2), "raises"),
    "max_pool2d negative padding": ([(1, 1, 4, 4)], lambda m, x: m.max_pool2d(x, 2, 2, -1), "raises"),
    "max_pool2d kernel > input": ([(1, 1, 2, 2)], lambda m, x: m.max_pool2d(x, 3), "raises"),
    # ---- average pooling
    "avg_pool2d 2": ([(2, 3, 6, 7)], lambda m, x: m.avg_pool2d(x, 2)),
    "avg_pool2d 3 stride 2 pad 1": ([(2, 3, 7, 8)], lambda m, x: m.avg_pool2d(x, 3, 2, 1)),
    "avg_pool2d exclude padding": ([(2, 3, 7, 8)], lambda m, x: m.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    "avg_pool2d ceil_mode": ([(2, 3, 7, 6)], lambda m, x: m.avg_pool2d(x, 2, ceil_mode=True)),
    "avg_pool2d ceil_mode pad": ([(1, 2, 6, 7)], lambda m, x: m.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
    "avg_pool2d ceil_mode pad exclude": ([(1, 2, 6, 7)], lambda m, x: m.avg_pool2d(x, 3, 2, 1, True, False)),
    "avg_pool2d divisor_override": ([(2, 2, 6, 6)], lambda m, x: m.avg_pool2d(x, 3, 2, 1, divisor_override=4)),
    "avg_pool2d non-square, stride > kernel": ([(1, 2, 8, 9)], lambda m, x: m.avg_pool2d(x, (1, 2), (3, 3))),
    "avg_pool2d divisor 0": ([(1, 1, 4, 4)], lambda m, x: m.avg_pool2d(x, 2, divisor_override=0), "raises"),
    "avg_pool2d kernel 0": ([(1, 1, 4, 4)], lambda m, x: m.avg_pool2d(x, 0, 1), "raises"),
    # ---- adaptive average pooling
    "adaptive_avg_pool2d 1": ([(2, 3, 5, 4)], lambda m, x: m.adaptive_avg_pool2d(x, 1)),
    "adaptive_avg_pool2d divides": ([(2, 3, 6, 4)], lambda m, x: m.adaptive_avg_pool2d(x, (3, 2))),
    "adaptive_avg_pool2d overlapping bins": ([(2, 3, 7, 5)], lambda m, x: m.adaptive_avg_pool2d(x, (3, 4))),
    "adaptive_avg_pool2d larger than input": ([(1, 2, 3, 2)], lambda m, x: m.adaptive_avg_pool2d(x, (5, 7))),
    "adaptive_avg_pool2d None keeps": ([(1, 2, 5, 6)], lambda m, x: m.adaptive_avg_pool2d(x, (None, 4))),
    "adaptive_avg_pool2d of inf, -inf and NaN in overlapping bins": (
        [lambda rng: numpy.where(rng.random((2, 2, 7, 5)) < 0.1, rng.choice([numpy.inf, -numpy.inf, numpy.nan], (2, 2, 7, 5)),
                                 rng.standard_normal((2, 2, 7, 5)))], lambda m, x: m.adaptive_avg_pool2d(x, (3, 4))),
    "adaptive_avg_pool2d of an inf, larger than the input": (
        [lambda rng: numpy.array([[[[1.0, numpy.inf, 2.0], [-numpy.inf, 3.0, 4.0]]]])], lambda m, x: m.adaptive_avg_pool2d(x, (5, 4))),
    "adaptive_avg_pool2d 0": ([(2, 3, 4, 4)], lambda m, x: m.adaptive_avg_pool2d(x, 0), "forward"),  # torch's backward refuses
    "adaptive_avg_pool2d negative": ([(2, 3, 4, 4)], lambda m, x: m.adaptive_avg_pool2d(x, -1), "raises"),
    # ---- padding
    "pad W": ([(2, 3)], lambda m, x: m.pad(x, (1, 2))),
    "pad W and H, asymmetric": ([(1, 2, 3, 4)], lambda m, x: m.pad(x, (0, 1, 2, 3), value=0.5)),
    "pad crops": ([(1, 2, 5, 6)], lambda m, x: m.pad(x, (-1, 2, -2, -1))),
    "pad crop to nothing": ([(2, 3)], lambda m, x: m.pad(x, (-2, -1))),
    "pad every dim": ([(2, 3, 1)], lambda m, x: m.pad(x, (1, 0, 0, 1, 2, 1))),
    "pad odd length": ([(2, 3)], lambda m, x: m.pad(x, (1, 1, 1)), "raises"),
    "pad crops too much": ([(2, 3)], lambda m, x: m.pad(x, (-2, -2)), "raises"),
    # ---- cross-entropy
    "cross_entropy": ([(4, 5), const([0, 4, 2, 2])], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy sum": ([(4, 5), const([0, 4, 2, 2])], lambda m, x, t: m.cross_entropy(x, t, reduction="sum")),
    "cross_entropy none": ([(4, 5), const([0, 4, 2, 2])], lambda m, x, t: m.cross_entropy(x, t, reduction="none")),
    "cross_entropy weight": ([(4, 3), const([0, 1, 2, 2]), const([0.2, 1.0, 3.0])], lambda m, x, t, w: m.cross_entropy(x, t, w)),
    "cross_entropy ignore_index": ([(4, 3), const([0, -100, 2, 1])], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy ignore_index 1 weight": ([(5, 3), const([0, 1, 2, 1, 0]), const([0.5, 2.0, 1.5])], lambda m, x, t, w: m.cross_entropy(x, t, w, ignore_index=1)),
    "cross_entropy label_smoothing": ([(4, 5), const([0, 4, 2, 2])], lambda m, x, t: m.cross_entropy(x, t, label_smoothing=0.2)),
    "cross_entropy smoothing weight ignore": ([(4, 3), const([0, 1, -100, 2]), const([0.2, 1.0, 3.0])], lambda m, x, t, w: m.cross_entropy(x, t, w, label_smoothing=0.3)),
    "cross_entropy smoothing none": ([(4, 3), const([0, 1, -100, 2])], lambda m, x, t: m.cross_entropy(x, t, reduction="none", label_smoothing=0.3)),
    "cross_entropy all ignored": ([(2, 3), const([-100, -100])], lambda m, x, t: m.cross_entropy(x, t, reduction="sum")),
    "cross_entropy probabilities": ([(4, 5), probabilities(4, 5)], lambda m, x, p: m.cross_entropy(x, p)),
    "cross_entropy probabilities weight smoothing": ([(4, 3), probabilities(4, 3), const([0.2, 1.0, 3.0])], lambda m, x, p, w: m.cross_entropy(x, p, w, label_smoothing=0.1)),
    "cross_entropy probabilities negative ignore_index": ([(4, 3), probabilities(4, 3)], lambda m, x, p: m.cross_entropy(x, p, ignore_index=-1)),
    "cross_entropy probabilities ignore_index 0": ([(4, 3), probabilities(4, 3)], lambda m, x, p: m.cross_entropy(x, p, ignore_index=0), "raises"),
    "cross_entropy probabilities none": ([(4, 3), probabilities(4, 3)], lambda m, x, p: m.cross_entropy(x, p, reduction="none")),
    "cross_entropy (N, C, H, W)": ([(2, 3, 4, 5), const(numpy.arange(40).reshape(2, 4, 5) % 3)], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy (N, C, L) weight smoothing": ([(2, 4, 3), const([[0, 3, 1], [2, -100, 3]]), const([1.0, 2.0, 0.5, 1.5])], lambda m, x, t, w: m.cross_entropy(x, t, w, label_smoothing=0.2)),
    "cross_entropy (C,) unbatched": ([(5,), const(3)], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy probabilities, an int weight": ([(3, 4), probabilities(3, 4), const([1, 2, 3, 1])], lambda m, x, p, w: m.cross_entropy(x, p, w), "float32"),
    "cross_entropy float16 probabilities, an int32 weight": ([(3, 4), const(numpy.full((3, 4), 0.25, "float16")), const(numpy.array([1, 2, 3, 1], "int32"))], lambda m, x, p, w: m.cross_entropy(x, p, w, reduction="none"), "float32"),
    "cross_entropy target out of range": ([(2, 3), const([0, 3])], lambda m, x, t: m.cross_entropy(x, t), "raises"),
    "cross_entropy target -1": ([(2, 3), const([0, -1])], lambda m, x, t: m.cross_entropy(x, t), "raises"),
    "cross_entropy batch mismatch": ([(2, 3), const([0, 1, 1])], lambda m, x, t: m.cross_entropy(x, t), "raises"),
    "cross_entropy bad reduction": ([(2, 3), const([0, 1])], lambda m, x, t: m.cross_entropy(x, t, reduction="avg"), "raises"),
    "cross_entropy weight wrong size": ([(2, 3), const([0, 1]), const([1.0, 2.0])], lambda m, x, t, w: m.cross_entropy(x, t, w), "raises"),
    "cross_entropy smoothing > 1": ([(2, 3), const([0, 1])], lambda m, x, t: m.cross_entropy(x, t, label_smoothing=1.5), "raises"),
    "cross_entropy probabilities of 0 classes, smoothing": ([(2, 0), const(numpy.zeros((2, 0)))], lambda m, x, p: m.cross_entropy(x, p, label_smoothing=0.1), "forward"),
    "cross_entropy probabilities of 0 classes, none": ([(2, 0), const(numpy.zeros((2, 0)))], lambda m, x, p: m.cross_entropy(x, p, reduction="none"), "forward"),
    # ---- softmax, log_softmax
    "softmax last axis": ([(3, 5)], lambda m, x: m.softmax(x, -1)),
    "softmax axis 0": ([(3, 5)], lambda m, x: m.softmax(x, 0)),
    "softmax 4-D axis 1": ([(2, 3, 2, 2)], lambda m, x: m.softmax(x, 1)),
    "log_softmax axis -2": ([(2, 3, 4)], lambda m, x: m.log_softmax(x, -2)),
    "log_softmax 0-d": ([()], lambda m, x: m.log_softmax(x, 0)),
    "softmax axis out of range": ([(3, 5)], lambda m, x: m.softmax(x, 2), "raises"),
    # ---- matmul
    "matmul 2-D": ([(3, 4), (4, 2)], lambda m, a, b: m.matmul(a, b)),
    "matmul 1-D @ 1-D": ([(4,), (4,)], lambda m, a, b: m.matmul(a, b)),
    "matmul 2-D @ 1-D": ([(3, 4), (4,)], lambda m, a, b: a @ b),
    "matmul 1-D @ 2-D": ([(4,), (4, 2)], lambda m, a, b: a @ b),
    "matmul 1-D @ 3-D": ([(4,), (2, 4, 3)], lambda m, a, b: a @ b),
    "matmul 3-D @ 1-D": ([(2, 3, 4), (4,)], lambda m, a, b: a @ b),
    "matmul broadcast batch": ([(2, 1, 3, 4), (5, 4, 2)], lambda m, a, b: a @ b),
    "matmul empty inner": ([(3, 0), (0, 2)], lambda m, a, b: a @ b),
    "matmul 0-d": ([(), (3,)], lambda m, a, b: m.matmul(a, b), "raises"),
    "matmul mismatch": ([(3, 4), (3,)], lambda m, a, b: m.matmul(a, b), "raises"),
    "matmul batch mismatch": ([(2, 3, 4), (3, 4, 2)], lambda m, a, b: m.matmul(a, b), "raises"),
    # ---- powers
    "pow tensor exponent": ([positive(3, 4), (3, 4)], lambda m, x, e: x ** e),
    "pow broadcast exponent": ([positive(3, 4), (4,)], lambda m, x, e: m.pow(x, e)),
    "pow scalar base": ([(3, 4)], lambda m, e: 2.5 ** e),
    "pow x ** 0 at 0": ([lambda rng: numpy.array([0.0, 1.5, -2.0])], lambda m, x: x ** 0),
    "pow x ** 2 at 0": ([lambda rng: numpy.array([0.0, 1.5, -2.0])], lambda m, x: x ** 2),
    "pow 0 ** e with e >= 0": ([lambda rng: numpy.array([0.0, 0.0, 1.0]), lambda rng: numpy.array([0.0, 2.0, 3.0])], lambda m, x, e: x ** e),
    "pow scalar 0 ** e": ([lambda rng: numpy.array([0.0, 1.0, 2.5])], lambda m, e: 0.0 ** e),
    # ---- element-wise float ops, broadcasting, 0-d and zero-size tensors
    "add broadcast": ([(3, 1, 4), (2, 1)], lambda m, a, b: a + b),
    "sub scalar": ([(3, 4)], lambda m, a: 2 - a - 1.5),
    "mul 0-d": ([(3, 4), ()], lambda m, a, b: a * b),
    "div broadcast": ([(2, 3), positive(3)], lambda m, a, b: a / b),
    "rdiv scalar": ([positive(5)], lambda m, a: 3 / a),
    "neg 0-d": ([()], lambda m, a: -a),
    "mul zero-size": ([(0, 4), (4,)], lambda m, a, b: a * b),
    "div trunc": ([(3, 4), positive(3, 4)], lambda m, a, b: m.div(a, b, rounding_mode="trunc")),
    "div floor": ([(3, 4), positive(4)], lambda m, a, b: m.div(a * 3, b, rounding_mode="floor")),
    "div bad rounding mode": ([(3,), (3,)], lambda m, a, b: m.div(a, b, rounding_mode="round"), "raises"),
    "add shapes do not broadcast": ([(2, 3), (4, 5)], lambda m, a, b: a + b, "raises"),
    "exp log": ([positive(2, 3)], lambda m, x: m.exp(m.log(x))),
    "relu sigmoid tanh": ([(4, 5)], lambda m, x: m.relu(x) + m.sigmoid(x) * m.tanh(x)),
    # ---- reductions and shapes: negative axes, 0-d, zero-size
    "sum negative axes": ([(2, 3, 4)], lambda m, x: x.sum((-1, 0))),
    "sum 0-d axis 0": ([()], lambda m, x: m.sum(x, 0)),
    "sum 0-d axis -1 keepdims": ([()], lambda m, x: x.sum(-1, True) if m is F else x.sum(-1, keepdim=True)),
    "sum zero-size": ([(0, 3)], lambda m, x: x.sum(0)),
    "mean axis -2": ([(2, 3, 4)], lambda m, x: x.mean(-2)),
    "mean 0-d": ([()], lambda m, x: m.mean(x, -1)),
    "sum axis out of range": ([(2, 3)], lambda m, x: m.sum(x, 2), "raises"),
    "sum duplicate axes": ([(2, 3)], lambda m, x: m.sum(x, (1, -1)), "raises"),
    "mean axis -3 of 2-D": ([(2, 3)], lambda m, x: m.mean(x, -3), "raises"),
    "flatten 0-d": ([()], lambda m, x: m.flatten(x)),
    "flatten negative dims": ([(2, 3, 4, 5)], lambda m, x: m.flatten(x, -3, -2)),
    "flatten start after end": ([(2, 3, 4)], lambda m, x: m.flatten(x, 2, 1), "raises"),
    "transpose negative": ([(2, 3, 4)], lambda m, x: x.transpose(-1, 0)),
    "transpose 0-d": ([()], lambda m, x: m.transpose(x, 0, -1)),
    "permute negative": ([(2, 3, 4)], lambda m, x: x.permute(-1, 0, 1)),
    "permute repeats": ([(2, 3)], lambda m, x: x.permute(0, 0), "raises"),
    "reshape -1": ([(2, 3, 4)], lambda m, x: x.reshape(4, -1)),
    "reshape bad": ([(2, 3)], lambda m, x: x.reshape(4, 2), "raises"),
    "stack negative axis": ([(2, 3), (2, 3)], lambda m, a, b: m.stack([a, b], -1)),
    "stack 0-d": ([(), ()], lambda m, a, b: m.stack([a, b])),
    "stack axis out of range": ([(2, 3)], lambda m, a: m.stack([a], 3), "raises"),
    "concatenate negative axis": ([(2, 3), (2, 1)], lambda m, a, b: m.concatenate([a, b], -1)),
    "concatenate zero-size": ([(0, 3), (2, 3)], lambda m, a, b: m.concatenate([a, b])),
    "concatenate shapes differ": ([(2, 3), (3, 4)], lambda m, a, b: m.concatenate([a, b]), "raises"),
    "concatenate 0-d": ([(), ()], lambda m, a, b: m.concatenate([a, b]), "raises"),
    "concatenate 0-d second": ([(2,), ()], lambda m, a, b: m.concatenate([a, b]), "raises"),
    "concatenate 1-D empty left out": ([(0,), (2, 3), (0,)], lambda m, a, b, c: m.concatenate([a, b, c], -1)),
    "concatenate 1-D empties": ([(0,), (0,)], lambda m, a, b: m.concatenate([a, b])),
    "concatenate 1-D empty of int": ([const(numpy.zeros(0, "int64")), (2, 3)], lambda m, a, b: m.concatenate([a, b], 1)),
    # ---- indexing
    "index int, slice, array apart": ([(2, 5, 6, 5)], lambda m, x: x[1, :, 0:2, [0, 4, 4]]),
    "index array, int, array": ([(3, 4, 5)], lambda m, x: x[[0, 2], 1, [1, 1]]),
    "index arrays apart": ([(3, 4, 5)], lambda m, x: x[[0, 2], :, [1, 1]]),
    "index repeated tuple": ([(3,)], lambda m, x: x[((0, 0),)]),
    "index bool mask": ([(3, 4)], lambda m, x: x[x > 0]),
    "index None and ellipsis": ([(2, 3, 4)], lambda m, x: x[None, ..., 1]),
    "index ellipsis, int, array": ([(2, 3, 4, 5)], lambda m, x: x[..., 1, :, [0, 0, 3]]),
    "index 0-d int tensor": ([(4, 3), const(2)], lambda m, x, i: x[i, [0, 2]]),
    "index out of range": ([(2, 3)], lambda m, x: x[2], "raises"),
    # an array's index out of range (CuPy would wrap it around in silence: x[[1, 3]] of 3 rows, rows 1 and 0)
    "index list out of range": ([(2, 3)], lambda m, x: x[[0, 2]], "raises"),
    "index tensor out of range below": ([(2, 3), const([0, -3])], lambda m, x, i: x[i], "raises"),
    "index second array out of range": ([(2, 3), const([1]), const([3])], lambda m, x, i, j: x[i, j], "raises"),
    "index array out of range after an int": ([(2, 3, 4), const([[4]])], lambda m, x, i: x[1, :, i], "raises"),
    "index by a string": ([(2, 3)], lambda m, x: x["a"], "raises"),
    "index by bytes after an int": ([(2, 3)], lambda m, x: x[0, b"a"], "raises"),
    # ---- integer and bool tensors (forward only)
    "int + int scalar stays int64": ([const([1, -2, 3])], lambda m, a: a + 2),
    "int / int is float32": ([const([7, -7, 3]), const([2, 2, -2])], lambda m, a, b: a / b),
    "int // int floors": ([const([7, -7, 3]), const([2, 2, -2])], lambda m, a, b: a // b),
    "int div trunc": ([const([7, -7, 3]), const([2, 2, -2])], lambda m, a, b: m.div(a, b, rounding_mode="trunc")),
    "int // 0": ([const([7, 1]), const([2, 0])], lambda m, a, b: a // b, "raises"),
    "int * float scalar is float32": ([const([1, 2], "int32")], lambda m, a: a * 2.5),
    "uint8 + 300 stays uint8": ([const([1, 250], "uint8")], lambda m, a: a + 300),
    "int32 + int64 0-d stays int32": ([const([1, 2], "int32"), const(5)], lambda m, a, b: a + b),
    "bool + bool": ([const([True, False, True]), const([True, False, False])], lambda m, a, b: a + b),
    "bool * int": ([const([True, False]), const([3, 4])], lambda m, a, b: a * b),
    "bool - bool": ([const([True]), const([False])], lambda m, a, b: a - b, "raises"),
    "neg bool": ([const([True])], lambda m, a: -a, "raises"),
    "int ** int": ([const([-2, 3, 0]), const([3, 2, 4])], lambda m, a, b: a ** b),
    "int ** float": ([const([2, 3])], lambda m, a: a ** 0.5),
    "int ** -1": ([const([2, 3])], lambda m, a: a ** -1, "raises"),
    "int sum is int64": ([const([[1, 2], [3, 4]], "int32")], lambda m, a: m.sum(a, 1)),
    "bool sum": ([const([True, True, False])], lambda m, a: m.sum(a)),
    "int < float": ([const([1, 2, 3]), (3,)], lambda m, a, b: a < b),
    "float == int scalar": ([const([1.0, 2.0, 2.5])], lambda m, a: a == 2),
    "int >= bool": ([const([0, 1, 2]), const([True, False, True])], lambda m, a, b: a >= b),
    "float32 + float64 0-d stays float32": ([const([1.5, 2.0], "float32"), const(0.1)], lambda m, a, b: a + b),
    "float comparisons": ([(3, 4), (4,)], lambda m, a, b: (a <= b, a > b, a != b, m.ge(a, b))),
    "float + int tensor": ([(3,), const([1, 2, 3])], lambda m, a, b: a + b),
    "dropout of an int tensor in evaluation": ([const([1, 2, 3])], lambda m, a: m.dropout(a, 0.5, training=False)),
    "dropout of an int tensor, p=0": ([const([1, 2, 3])], lambda m, a: m.dropout(a, 0.0)),
    "dropout of an int tensor in training": ([const([1, 2, 3])], lambda m, a: m.dropout(a, 0.5), "raises"),
    # ---- batch norm, linear
    "batch_norm batch statistics": ([(4, 3, 2, 5), (3,), (3,)], lambda m, x, w, b: m.batch_norm(x, None, None, w, b, True)),
    "batch_norm (N, C)": ([(5, 3)], lambda m, x: m.batch_norm(x, None, None, training=True, eps=1e-3)),
    "batch_norm running statistics": ([(2, 3, 4, 4), const([0.5, -1.0, 2.0]), const([1.0, 0.25, 4.0])], lambda m, x, mean, var: m.batch_norm(x, mean, var, training=False)),
    "batch_norm one value per channel": ([(1, 3)], lambda m, x: m.batch_norm(x, None, None, training=True), "raises"),
    "batch_norm eval without statistics": ([(2, 3)], lambda m, x: m.batch_norm(x, None, None, training=False), "raises"),
    "batch_norm weight wrong size": ([(2, 3), (4,)], lambda m, x, w: m.batch_norm(x, None, None, w, training=True), "raises"),
    "batch_norm negative eps in evaluation": ([(2, 3), const([0.5, -1.0, 2.0]), const([1.0, 0.25, 4.0])], lambda m, x, mean, var: m.batch_norm(x, mean, var, eps=-0.1), "raises"),
    "batch_norm of 0 channels": ([(2, 0, 3)], lambda m, x: m.batch_norm(x, None, None, training=True)),  # (torch fails on a weight)
    "batch_norm of 0 channels in evaluation": ([(2, 0), const(numpy.zeros(0)), const(numpy.ones(0))], lambda m, x, mean, var: m.batch_norm(x, mean, var)),
    "batch_norm of 0 channels, one value per channel": ([(1, 0, 1)], lambda m, x: m.batch_norm(x, None, None, training=True), "raises"),
    "linear 1-D input": ([(3,), (2, 3), (2,)], lambda m, x, w, b: m.linear(x, w, b)),
    "linear 3-D input": ([(2, 4, 3), (5, 3)], lambda m, x, w: m.linear(x, w)),
    "linear mismatch": ([(2, 4), (5, 3)], lambda m, x, w: m.linear(x, w), "raises"),
    # ---- zero-size and 0-d odds and ends
    "mean zero-size": ([(0, 3)], lambda m, x: x.mean(0), "forward"),
    "sum all keepdims": ([(2, 3)], lambda m, x: x.sum((0, 1), True) if m is F else x.sum((0, 1), keepdim=True)),
    "reshape 0-d to (1, 1)": ([()], lambda m, x: x.reshape(1, 1)),
    "pow negative base fractional": ([const([-8.0, 4.0])], lambda m, x: x ** (1 / 3)),
    "comparisons with NaN": ([const([numpy.nan, 1.0]), const([numpy.nan, 1.0])], lambda m, a, b: (a == b, a < b, a != b)),
    "index bool mask of leading dims": ([(2, 3, 4), const([[True, False, True], [False, False, True]])], lambda m, x, mask: x[mask]),
    "index negative and step": ([(5, 6)], lambda m, x: x[-2, 1:-1:2]),
    # ---- edge values: empty dim lists, long sums, -inf and NaN where PyTorch has a rule for them
    "sum over an empty dim list: all dims": ([(2, 3)], lambda m, x: m.sum(x, ())),
    "mean over an empty dim list, keepdim": ([(2, 3)], lambda m, x: m.mean(x, [], True)),
    "sum of 1e6 float32 along a strided axis": ([const(numpy.full((1000000, 2), 0.1, "float32"))], lambda m, x: m.sum(x, 0), "float32", "forward"),
    "sum of 4000 float16 ones": ([const(numpy.ones((4000, 2), "float16"))], lambda m, x: m.sum(x, 0), "float16", "forward"),
    "softmax of 3000 float16": ([const(numpy.zeros((3000, 2), "float16"))], lambda m, x: m.softmax(x, 0), "float16", "forward"),
    "log_softmax along an empty dim": ([const(numpy.zeros((2, 0)))], lambda m, x: m.log_softmax(x, 1)),
    "cross_entropy with a -inf logit": ([lambda rng: numpy.array([[0, -numpy.inf, 1], [0, 1, 2.0]]), const([0, 1])], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy ignoring a NaN row": ([const([[numpy.nan, 0, 0], [0, 1, 2.0]]), const([-100, 1])], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy weight 0 on a -inf class": ([const([[0, -numpy.inf, 1.0]]), const([2]), const([1.0, 0.0, 1.0])], lambda m, x, t, w: m.cross_entropy(x, t, w)),
    "sigmoid far below 0": ([lambda rng: numpy.array([-10.0, -20.0, -40.0, -700.0, 3.0, 40.0])], lambda m, x: m.sigmoid(x)),
    "sigmoid float32 far below 0": ([lambda rng: numpy.array([-10.0, -20.0, -90.0, 3.0])], lambda m, x: m.sigmoid(x), "float32"),
    "relu passes the gradient of NaN": ([lambda rng: numpy.array([-1.0, numpy.nan, 2.0, 0.0])], lambda m, x: m.relu(x)),
    "max_pool2d of -inf beside padding": ([lambda rng: numpy.full((1, 1, 4, 4), -numpy.inf)], lambda m, x: m.max_pool2d(x, 3, 2, 1)),
    "max_pool2d indices of -inf beside padding": ([const(numpy.full((1, 1, 4, 5), -numpy.inf))], lambda m, x: m.max_pool2d(x, 3, 2, 1, return_indices=True)[1]),
    "matmul float32 @ float64": ([const(numpy.ones((2, 3), "float32")), const(numpy.ones((3, 2)))], lambda m, a, b: m.matmul(a, b), "raises"),
    "linear float32 with a float64 weight": ([const(numpy.ones((2, 3), "float32")), const(numpy.ones((4, 3)))], lambda m, x, w: m.linear(x, w), "raises"),
    "conv2d float32 with a float64 weight": ([const(numpy.ones((1, 2, 5, 5), "float32")), const(numpy.ones((3, 2, 3, 3)))], lambda m, x, w: m.conv2d(x, w), "raises"),
    "cross_entropy probabilities 0 at a -inf logit": ([const([[-numpy.inf, 1, 2.0], [0, 1, 2.0]]), const([[0, 0.5, 0.5], [0.2, 0.3, 0.5]])], lambda m, x, t: m.cross_entropy(x, t, reduction="none")),
    "cross_entropy probabilities 0 at a -inf logit, mean": ([const([[-numpy.inf, 1, 2.0], [0, 1, 2.0]]), const([[0, 0.5, 0.5], [0.2, 0.3, 0.5]])], lambda m, x, t: m.cross_entropy(x, t)),
    "cross_entropy targets of weight 0 only": ([(2, 3), const([2, 2]), const([1.0, 1.0, 0.0])], lambda m, x, t, w: m.cross_entropy(x, t, w)),
    "cross_entropy targets of weight 0 only, smoothing": ([(2, 3), const([2, 2]), const([1.0, 1.0, 0.0])], lambda m, x, t, w: m.cross_entropy(x, t, w, label_smoothing=0.1)),
    "cross_entropy weight 0 and ignored targets only": ([(3, 3), const([2, -100, 2]), const([1.0, 1.0, 0.0])], lambda m, x, t, w: m.cross_entropy(x, t, w)),
    "cross_entropy probabilities, float32 weight": ([(3, 4), probabilities(3, 4), const(numpy.array([1.0, 2.0, 0.5, 1.0], "float32"))], lambda m, x, p, w: m.cross_entropy(x, p, w)),
    "cross_entropy float32 probabilities, float64 weight": ([(3, 4), probabilities(3, 4), const([1.0, 2.0, 0.5, 1.0])], lambda m, x, p, w: m.cross_entropy(x, p, w, reduction="none"), "float32"),
    "linear 0-d bias": ([(2, 3), (4, 3), ()], lambda m, x, w, b: m.linear(x, w, b)),
    "linear (1,) bias": ([(2, 3), (4, 3), (1,)], lambda m, x, w, b: m.linear(x, w, b)),
    "linear (N, out) bias": ([(2, 3), (4, 3), (2, 4)], lambda m, x, w, b: m.linear(x, w, b)),
    "linear (1, out) bias": ([(2, 3), (4, 3), (1, 4)], lambda m, x, w, b: m.linear(x, w, b)),
    "linear 3-D input, (L, out) bias": ([(5, 2, 3), (4, 3), (2, 4)], lambda m, x, w, b: m.linear(x, w, b)),
    "linear bias of another size": ([(2, 3), (4, 3), (2,)], lambda m, x, w, b: m.linear(x, w, b), "raises"),
    "linear bias with more dims than the output": ([(2, 3), (4, 3), (3, 2, 4)], lambda m, x, w, b: m.linear(x, w, b), "raises"),
    "batch_norm training on an empty batch": ([(0, 3, 2, 2), (3,), (3,)], lambda m, x, w, b: m.batch_norm(x, None, None, w, b, True)),
    "batch_norm training on empty planes": ([(2, 3, 0), (3,), (3,)], lambda m, x, w, b: m.batch_norm(x, None, None, w, b, True)),
    "conv2d of 0 output channels": ([(1, 2, 5, 5), (0, 2, 3, 3)], lambda m, x, w: m.conv2d(x, w), "raises"),
    "conv2d of 0 output channels, groups 2": ([(1, 2, 5, 5), (0, 1, 3, 3)], lambda m, x, w: m.conv2d(x, w, groups=2), "raises"),
    "conv_transpose2d of 0 output channels": ([(1, 2, 5, 5), (2, 0, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w), "raises"),
    "conv_transpose2d of 0 input channels": ([(1, 0, 5, 5), (0, 2, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w), "raises"),
    # an image of 0 rows or columns: PyTorch refuses it but in an empty batch (tinyrrn answered from the padding)
    "conv2d of images of 0 rows": ([(1, 3, 0, 5), (4, 3, 1, 1)], lambda m, x, w: m.conv2d(x, w, padding=1), "raises"),
    "conv2d of an unbatched image of 0 columns": ([(3, 5, 0), (4, 3, 1, 1)], lambda m, x, w: m.conv2d(x, w, padding=1), "raises"),
    "conv2d of an empty batch of 0-row images": ([(0, 3, 0, 5), (4, 3, 1, 1)], lambda m, x, w: m.conv2d(x, w, padding=1)),
    "conv_transpose2d of images of 0 columns": ([(2, 3, 4, 0), (3, 2, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w), "raises"),
    "cross_entropy float64 with a float32 weight": ([(2, 3), const([0, 1]), const(numpy.ones(3, "float32"))], lambda m, x, t, w: m.cross_entropy(x, t, w), "raises"),
    "index with a negative step": ([(5,)], lambda m, x: x[::-1], "raises"),
    "index with a uint8 mask": ([(3, 2), const(numpy.array([1, 0, 1], "uint8"))], lambda m, x, mask: x[mask]),
    "mask index of a 0-d tensor": ([lambda rng: numpy.array(2.0)], lambda m, x: x[x > 0]),
    "reshape to a size of -2": ([(12,)], lambda m, x: m.reshape(x, (-2, 6)), "raises"),
    "pad cropping more than the input": ([(2, 3)], lambda m, x: m.pad(x, (-4, 2)), "raises"),
    "pad cropping all of a dim": ([(2, 3)], lambda m, x: m.pad(x, (-1, -2))),
    "avg_pool2d with a float divisor_override": ([(1, 1, 4, 4)], lambda m, x: m.avg_pool2d(x, 2, divisor_override=2.5), "raises"),
    "flatten beside a zero-size dim": ([(0, 2, 3)], lambda m, x: m.flatten(x, 1)),
    "linear with no input features": ([(2, 0), (3, 0), (3,)], lambda m, x, w, b: m.linear(x, w, b)),
    "integer powers with negative tensor exponents": ([const([2, 1, -1, -1, 0, 3]), const([-2, -5, -3, -2, -1, 2])], lambda m, a, b: a ** b),
    "batch_norm float16 of 65536 values around 3": ([lambda rng: rng.standard_normal((64, 2, 32, 32)) + 3], lambda m, x: m.batch_norm(x, None, None, training=True), "float16", "forward"),
    "cross_entropy float32 logits, float64 probabilities": ([(4, 3), const(numpy.full((4, 3), 1 / 3))], lambda m, x, t: m.cross_entropy(x, t), "float32"),
    "broadcast gradient of 4000 float16 rows": ([const(numpy.zeros((4000, 2), "float16")), lambda rng: numpy.zeros(2)], lambda m, x, b: x + b, "float16"),
    "linear bias gradient of 4000 float16 rows": ([(4000, 3), (2, 3), (2,)], lambda m, x, w, b: m.linear(x, w, b), "float16"),
    "avg_pool2d of a float16 64x64 window": ([lambda rng: numpy.ones((1, 1, 64, 64))], lambda m, x: m.avg_pool2d(x, 64), "float16", "forward"),
    "conv2d float16 of 128 channels at 14x14": ([(1, 128, 14, 14), (8, 128, 3, 3)], lambda m, x, w: m.conv2d(x, w, padding=1), "float16", "forward"),
    # ---- float32 and float16
    "conv2d float32 groups dilation": ([(2, 4, 9, 8), (6, 2, 3, 3), (6,)], lambda m, x, w, b: m.conv2d(x, w, b, 2, 1, 2, 2), "float32"),
    "conv_transpose2d float32": ([(2, 3, 4, 5), (3, 4, 3, 3)], lambda m, x, w: m.conv_transpose2d(x, w, None, 2, 1, 1), "float32"),
    "max_pool2d float32 ceil": ([(2, 3, 7, 6)], lambda m, x: m.max_pool2d(x, 3, 2, 1, ceil_mode=True), "float32"),
    "avg_pool2d float32 exclude padding": ([(2, 3, 7, 6)], lambda m, x: m.avg_pool2d(x, 3, 2, 1, True, False), "float32"),
    "adaptive_avg_pool2d float32": ([(2, 3, 7, 6)], lambda m, x: m.adaptive_avg_pool2d(x, (4, 5)), "float32"),
    "cross_entropy float32 smoothing weight": ([(6, 4), const([0, 3, 1, 1, 2, -100]), const([1.0, 2.0, 0.5, 1.5], "float32")], lambda m, x, t, w: m.cross_entropy(x, t, w, label_smoothing=0.1), "float32"),
    "batch_norm float32": ([(4, 3, 2, 5), (3,), (3,)], lambda m, x, w, b: m.batch_norm(x, None, None, w, b, True), "float32"),
    "softmax float16": ([(3, 5)], lambda m, x: m.softmax(x, -1), "float16", "forward"),
    "max_pool2d float16": ([(2, 3, 6, 6)], lambda m, x: m.max_pool2d(x, 2), "float16", "forward"),
    "float16 + float32 0-d stays float16": ([(3,), const(0.5, "float32")], lambda m, a, b: a + b, "float16", "forward"),
    # ---- nll_loss (probe ops13): cross_entropy of log-probabilities, class indices only
    "nll_loss": ([(4, 5), const([0, 4, 2, 2])], lambda m, x, t: m.nll_loss(x, t)),
    "nll_loss of log_softmax": ([(4, 5), const([0, 4, 2, 2])], lambda m, x, t: m.nll_loss(m.log_softmax(x, 1), t)),
    "nll_loss weight ignore_index none": ([(5, 3), const([0, 1, 2, 1, 0]), const([0.5, 2.0, 1.5])], lambda m, x, t, w: m.nll_loss(x, t, w, ignore_index=1, reduction="none")),
    "nll_loss weight sum": ([(5, 3), const([0, 1, 2, 1, 0]), const([0.5, 2.0, 1.5])], lambda m, x, t, w: m.nll_loss(x, t, w, reduction="sum")),
    "nll_loss (N, C, H, W) weight": ([(2, 3, 4, 5), const(numpy.arange(40).reshape(2, 4, 5) % 3), const([1.0, 2.0, 0.5])], lambda m, x, t, w: m.nll_loss(x, t, w)),
    "nll_loss (C,) unbatched": ([(5,), const(3)], lambda m, x, t: m.nll_loss(x, t)),
    "nll_loss uint8 target": ([(3, 4), const([0, 3, 1], "uint8")], lambda m, x, t: m.nll_loss(x, t)),
    # PyTorch's nll_loss2d (logits of 3 or more dims) takes int64 targets only; tinyrrn took uint8 there too
    "nll_loss uint8 target of (N, C, d1) logits": ([(2, 3, 4), const(numpy.zeros((2, 4), "uint8"))], lambda m, x, t: m.nll_loss(x, t), "raises"),
    "cross_entropy uint8 target of (N, C, H, W) logits": ([(2, 3, 4, 5), const(numpy.ones((2, 4, 5), "uint8"))], lambda m, x, t: m.cross_entropy(x, t), "raises"),
    "cross_entropy uint8 target of (C,) logits": ([(3,), const(numpy.array(2, "uint8"))], lambda m, x, t: m.cross_entropy(x, t, label_smoothing=0.1)),
    "nll_loss a -inf at another class": ([const([[0, -numpy.inf, 1], [0, 1, 2.0]]), const([0, 1])], lambda m, x, t: m.nll_loss(x, t)),
    "nll_loss probabilities": ([(4, 3), probabilities(4, 3)], lambda m, x, p: m.nll_loss(x, p), "raises"),
    "nll_loss int32 target": ([(2, 3), const([0, 1], "int32")], lambda m, x, t: m.nll_loss(x, t), "raises"),
    "nll_loss target out of range": ([(2, 3), const([0, 3])], lambda m, x, t: m.nll_loss(x, t), "raises"),
    "nll_loss batch mismatch": ([(2, 3), const([0, 1, 1])], lambda m, x, t: m.nll_loss(x, t), "raises"),
    "nll_loss bad reduction": ([(2, 3), const([0, 1])], lambda m, x, t: m.nll_loss(x, t, reduction="avg"), "raises"),
}


# on a GPU an out-of-range target gives a NaN loss instead of an error: no host read-back (test_backend.py)
HOST_ONLY = ("cross_entropy target out of range", "cross_entropy target -1", "nll_loss target out of range")


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.cpu_only("on a GPU: a NaN loss")) if name in HOST_ONLY else name
                                  for name in CASES])
def test_matches_pytorch(name):
    specs, fn, *flags = CASES[name]
    dtype = next((flag for flag in flags if flag in TOLERANCES), "float64")
    check(specs, fn, raises="raises" in flags, forward_only="forward" in flags, dtype=dtype)


OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
             "//": lambda a, b: a // b, "**": lambda a, b: a ** b, "<": lambda a, b: a < b, "==": lambda a, b: a == b,
             "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b, "<<": lambda a, b: a << b,
             ">>": lambda a, b: a >> b}
DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]
FORMS = ["tensor", "0-d", "number"]  # a tensor with dims, a 0-d tensor, a Python number


def operand(dtype, form, library, rng):
    values = rng.integers(1, 4, 3).astype(dtype)
    if form == "number":
        return values[0].item()
    values = values[0] if form == "0-d" else values
    return Tensor(on_device(values)) if library == "ours" else torch.tensor(numpy.array(values))


@pytest.mark.parametrize("symbol", OPERATORS)
def test_type_promotion_grid_matches_torch(symbol):
    """Every operator on every pair of dtypes and forms: the same dtype and values, or both refuse."""
    op, checked = OPERATORS[symbol], 0
    for (dtype_a, form_a), (dtype_b, form_b) in itertools.product(itertools.product(DTYPES, FORMS), repeat=2):
        if form_a == "number" and form_b == "number":
            continue
        a, b = (operand(d, f, "ours", numpy.random.default_rng(k)) for k, (d, f) in enumerate(
            [(dtype_a, form_a), (dtype_b, form_b)]))
        ta, tb = (operand(d, f, "torch", numpy.random.default_rng(k)) for k, (d, f) in enumerate(
            [(dtype_a, form_a), (dtype_b, form_b)]))
        where = f"{dtype_a} {form_a} {symbol} {dtype_b} {form_b}"
        try:
            expected = op(ta, tb)
        except Exception as error:  # noqa: BLE001 - any refusal of PyTorch's must be ours too
            with pytest.raises(type(error)):
                op(a, b)
            continue
        ours = op(a, b)
        assert ours.dtype == expected.numpy().dtype, where
        numpy.testing.assert_allclose(ours.numpy().astype("float64"), expected.numpy().astype("float64"),
                                      rtol=1e-3, err_msg=where)
        checked += 1
    assert checked > 100


def test_result_type_matches_torch():
    for (dtype_a, form_a), (dtype_b, form_b) in itertools.product(itertools.product(DTYPES, FORMS), repeat=2):
        rng = numpy.random.default_rng(0)
        a, b = operand(dtype_a, form_a, "ours", rng), operand(dtype_b, form_b, "ours", rng)
        ta, tb = operand(dtype_a, form_a, "torch", rng), operand(dtype_b, form_b, "torch", rng)
        if form_a == form_b == "number":
            continue
        assert F.result_type(a, b) == torch.empty(0, dtype=torch.result_type(ta, tb)).numpy().dtype, \
            (dtype_a, form_a, dtype_b, form_b)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-6)])
def test_sigmoid_keeps_its_relative_precision_far_below_zero(dtype, rtol):
    """Tiny values to full relative precision, not a difference that cancels to 0 (its log stays finite)."""
    x = numpy.array([-10.0, -20.0, -40.0, -80.0, 0.5], dtype)
    numpy.testing.assert_allclose(F.sigmoid(Tensor(x)).numpy(), torch.sigmoid(torch.tensor(x)).numpy(), rtol=rtol, atol=0)


def test_an_integer_cast_leaves_the_graph():
    """As PyTorch's .long(): the result does not require grad, so nothing flows back through it."""
    x = Tensor(numpy.array([1.7, -2.2], "float32"), requires_grad=True)
    assert not x.astype("int64").requires_grad and not x.astype(bool).requires_grad
    assert x.astype("float64").requires_grad


@pytest.mark.parametrize("cast", ["float", "double", "half"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_float_double_and_half_cast_as_torchs(torch, cast, dtype):
    """x.float(), x.double() and x.half(), as PyTorch's: x itself when it has that dtype already, else a copy whose
    gradient flows back in x's dtype (they were missing: an AttributeError)."""
    data = numpy.array([[0.3, -1.7], [2.5, 0.1]], dtype)
    facts = []
    for x in (Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)):
        y = getattr(x, cast)()
        (y * y).sum().backward()
        facts.append((y is x, str(y.dtype)[-7:], str(x.grad.dtype)[-7:], y.is_leaf,
                      numpy.asarray(host(x.grad) if isinstance(x, Tensor) else x.grad.numpy()).tolist()))
    assert facts[0] == facts[1]


FLOAT16_OVERFLOWS = {"half": ("float32", lambda x: x.half()),
                     "to": ("float32", lambda x: x.to(torch.float16 if isinstance(x, torch.Tensor) else "float16")),
                     "float16 * number": ("float16", lambda x: x * 3.0e4)}


@pytest.mark.parametrize("case", FLOAT16_OVERFLOWS)
def test_a_cast_to_float16_overflows_to_inf_without_a_warning_as_torchs(torch, case):
    """A cast beyond float16's range (x.half(), x.to(float16), float16 x * a number, computed in float32) is inf, and
    its gradient comes back, silently as PyTorch's; tinyrrn's cast warned 'overflow encountered in cast'."""
    dtype, cast = FLOAT16_OVERFLOWS[case]
    data = numpy.array([3.0e5, -3.0e5, 1.0] if dtype == "float32" else [3.0, -3.0, 1.0], dtype)
    results = []
    for x in (Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = cast(x)
            y.sum().backward()
        results.append((str(y.dtype)[-7:], host(y).tolist() if isinstance(y, Tensor) else y.tolist(),
                        host(x.grad).tolist() if isinstance(x, Tensor) else x.grad.tolist()))
    assert results[0] == results[1]


def test_float16_softmax_rounds_once(torch):
    """exp of the log-probabilities in float32, then float16: PyTorch's error, not 5x it."""
    x = numpy.random.default_rng(0).uniform(-8, 8, (200, 50)).astype("float16")
    exact = torch.softmax(torch.tensor(x).double(), 1).numpy()
    ours = F.softmax(Tensor(x), 1).numpy().astype(float)
    theirs = torch.softmax(torch.tensor(x), 1).numpy().astype(float)
    counted = exact > 1e-3
    assert (abs(ours - exact) / exact)[counted].max() <= 1.5 * (abs(theirs - exact) / exact)[counted].max()


def assert_float16_softmax_equal(ours, theirs, torch):
    """Bit for bit where PyTorch dispatches its AVX-512 kernels (the CPU whose float16 softmax kernel these tests
    model: which positions take a vector of 32, which are rounded to float16 first); on another (AVX2: other vector
    widths, another float32 exp) other positions are rounded to float16 first, so there within float16's precision
    (2^-10 of the value, and of the largest value where a gradient's terms cancel)."""
    if torch.backends.cpu.get_cpu_capability() == "AVX512":
        numpy.testing.assert_array_equal(ours, theirs)
    else:
        ours, theirs = ours.astype("float32"), theirs.astype("float32")
        numpy.testing.assert_allclose(ours, theirs, rtol=2 ** -10, atol=2 ** -10 * abs(theirs).max())


@pytest.mark.parametrize("shape, dim", [((64, 12), 0), ((4, 16, 5, 6), 0), ((4, 16, 5, 6), 1), ((4, 16, 5, 6), 2),
                                        ((3, 70), 0), ((2, 3, 40), 1)])
def test_float16_softmax_off_the_last_dim_as_torch(torch, shape, dim):
    """Bit for bit, with the gradient: off the last dim PyTorch's CPU kernel takes 32 positions after dim at a time
    (the exp of each rounded once, at the division) and the rest one by one, each exp rounded to float16 first.
    PyTorch's threads each take a share of the positions, with a tail of its own: compared on one thread."""
    rng = numpy.random.default_rng(0)
    x, g = rng.uniform(-8, 8, shape).astype("float16"), rng.uniform(-2, 2, shape).astype("float16")
    ours_x, theirs_x = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ours, theirs = F.softmax(ours_x, dim=dim), torch.softmax(theirs_x, dim=dim)
    finally:
        torch.set_num_threads(threads)
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))
    assert_float16_softmax_equal(ours.detach().numpy(), theirs.detach().numpy(), torch)
    assert_float16_softmax_equal(numpy.asarray(ours_x.grad), theirs_x.grad.numpy(), torch)


def test_int_tensors_convert_to_float_and_index():
    as_float = Tensor(numpy.array([1, 2, 3])).astype("float32")
    assert as_float.dtype == numpy.float32 and not as_float.requires_grad
    assert Tensor(numpy.arange(5.0))[Tensor(numpy.array(2)):].shape == (3,)
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [0, 1][Tensor(numpy.array(1.0))]


SCALAR_EXPRESSIONS = {  # PyTorch's mul and div keep a scalar second operand in float32 for float16; the rest round it
    "x * s": lambda x, s, m: x * s, "s * x": lambda x, s, m: s * x, "x / s": lambda x, s, m: x / s,
    "s / x": lambda x, s, m: s / x, "x // s": lambda x, s, m: x // s, "s // x": lambda x, s, m: s // x,
    "x + s": lambda x, s, m: x + s, "s - x": lambda x, s, m: s - x, "x ** s": lambda x, s, m: x ** s,
    "trunc": lambda x, s, m: m.div(x, s, rounding_mode="trunc"), "floor": lambda x, s, m: m.div(x, s, rounding_mode="floor"),
}
SCALARS = {"1e-8": 1e-8, "0.1": 0.1, "3.3": 3.3, "2049": 2049, "numpy 0.3": numpy.float64(0.3),
           "0-d float64 1e-8": numpy.array(1e-8), "0-d float32 0.1": numpy.array(0.1, "float32")}


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("expression", SCALAR_EXPRESSIONS)
def test_an_op_with_a_scalar_rounds_as_torch(torch, expression, dtype):
    """float16 x * 1e-8 is 1e-5 for x = 1000, not 0: the value PyTorch gives, to the bit, with every
    form of scalar on either side (a float16 0.1 would make 7 // 0.1 70, PyTorch's is 69)."""
    x = numpy.concatenate([[1000.0, 3.0, 1e-3, 0.3, 7.0, -7.0],
                           numpy.random.default_rng(0).uniform(0.1, 30, 300)]).astype(dtype)
    fn = SCALAR_EXPRESSIONS[expression]
    for name, scalar in SCALARS.items():
        if (expression == "x ** s" and dtype != "float16") or (expression == "s // x" and name == "2049"):
            continue  # libm's last bit, and PyTorch's float16 floor division of quotients above 2048
        ours_scalar, their_scalar = (Tensor(scalar), torch.tensor(scalar)) if numpy.ndim(scalar) == 0 and \
            isinstance(scalar, numpy.ndarray) else (scalar, scalar)
        with numpy.errstate(all="ignore"):
            ours = fn(Tensor(x), ours_scalar, F)
        expected = fn(torch.tensor(x), their_scalar, torch).numpy()
        assert ours.dtype == expected.dtype, name
        numpy.testing.assert_array_equal(ours.numpy(), expected, err_msg=name)


@pytest.mark.parametrize("expression", ["x * s", "s * x", "x / s", "x *= s"])
def test_float16_times_a_scalar_has_torch_gradient_and_in_place_value(torch, expression):
    x = numpy.random.default_rng(1).uniform(-30, 30, 200).astype("float16")
    g = numpy.random.default_rng(2).uniform(-2, 2, 200).astype("float16")
    for scalar in (1e-3, 0.1, 3.3):
        if expression == "x *= s":
            ours, theirs = Tensor(x.copy()), torch.tensor(x)
            ours *= scalar
            theirs *= scalar
            numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
            continue
        fn = SCALAR_EXPRESSIONS[expression]
        ours, theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        fn(ours, scalar, F).backward(g)
        fn(theirs, scalar, torch).backward(torch.tensor(g))
        numpy.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_float16_activation_rounds_as_torch(torch, name):
    """Computed in float32 and rounded once (sigmoid(8) is 0.9995, not 1, and its gradient 4.9e-4, not
    0); the gradient as PyTorch's kernel rounds it. Bit for bit."""
    rng = numpy.random.default_rng(0)
    x = numpy.concatenate([[8.0, 9.0, -6.03, 0.0, -20.0, 20.0], rng.uniform(-12, 12, 4000)]).astype("float16")
    g = rng.uniform(-2, 2, x.size).astype("float16")
    ours, theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = getattr(F, name)(ours), getattr(torch, name)(theirs)
    out.backward(g)
    expected.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    numpy.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("p", [0.1, 0.3, 0.7])
def test_float16_dropout_scales_by_torch_value(torch, p):
    """1 / (1 - p) computed in float32 and rounded once: 1.429 for p = 0.3, not 1 / float16(0.7) = 1.428."""
    ours = F.dropout(Tensor(numpy.ones(2000, "float16")), p).numpy()
    theirs = tf.dropout(torch.ones(2000, dtype=torch.float16), p).numpy()
    assert set(ours.tolist()) == set(theirs.tolist())


def test_float16_conv_transpose2d_adds_in_float32(torch):
    """The products and the k*k taps add in float32 and round once, as conv2d's and PyTorch's: within
    PyTorch's error of a float64 reference (float16 sums were 3x it at 256 input channels)."""
    rng = numpy.random.default_rng(0)
    x = rng.uniform(-3, 3, (2, 256, 6, 6)).astype("float16")
    w = rng.uniform(-3, 3, (256, 4, 3, 3)).astype("float16")
    exact = tf.conv_transpose2d(torch.tensor(x).double(), torch.tensor(w).double(), stride=2).numpy()
    theirs = tf.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2).numpy().astype("float64")
    ours = F.conv_transpose2d(Tensor(x), Tensor(w), stride=2).numpy()
    assert ours.dtype == numpy.float16
    assert abs(ours - exact).max() <= 1.5 * abs(theirs - exact).max()


REFUSED_AS_BY_TORCH = {  # fn(m, x) for m = tinyrrn.functional or torch.nn.functional; both must refuse alike
    "max_pool2d of 0 channels": (lambda m, x: m.max_pool2d(x[:, :0], 2)),
    "avg_pool2d of an empty row": (lambda m, x: m.avg_pool2d(x[:, :, :0], 2)),
    "max_pool2d of unbatched 0 channels": (lambda m, x: m.max_pool2d(x[0, :0], 2)),
    "adaptive_avg_pool2d of an empty plane": (lambda m, x: m.adaptive_avg_pool2d(x[:, :, :0], 2)),
    "adaptive_avg_pool2d to None": (lambda m, x: m.adaptive_avg_pool2d(x, None)),
    "adaptive_avg_pool2d to (2,)": (lambda m, x: m.adaptive_avg_pool2d(x, (2,))),
    "cross_entropy int32 target": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [0, 1], "int32"))),
    "cross_entropy bool target": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [True, False]))),
    "cross_entropy (N, 1) target": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [[0], [1]], "int64"))),
    "cross_entropy int logits": (lambda m, x: m.cross_entropy(_target(m, [[1, 2], [3, 4]], "int64"), _target(m, [0, 1], "int64"))),
    "cross_entropy list target": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], [0, 1])),
    "cross_entropy int target": (lambda m, x: m.cross_entropy(x[0, :, 0, 0], 1)),
    "cross_entropy list weight": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [0, 1], "int64"), [1.0, 2.0, 3.0])),
    "cross_entropy label_smoothing 1.5": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [0, 1], "int64"), label_smoothing=1.5)),
    # a flag is True or False: 1, 0, None or a NumPy bool is PyTorch's TypeError, not a truth value
    "sum keepdim=1": (lambda m, x: x.sum(1, keepdim=1)),
    "mean keepdim=0": (lambda m, x: x.mean(1, keepdim=0)),
    "max_pool2d ceil_mode=1": (lambda m, x: m.max_pool2d(x, 3, 2, ceil_mode=1)),
    "max_pool2d ceil_mode=None": (lambda m, x: m.max_pool2d(x, 3, 2, ceil_mode=None)),
    "max_pool2d ceil_mode=numpy.True_": (lambda m, x: m.max_pool2d(x, 3, 2, ceil_mode=numpy.True_)),
    "avg_pool2d ceil_mode=0": (lambda m, x: m.avg_pool2d(x, 3, 2, ceil_mode=0)),
    "avg_pool2d count_include_pad=0": (lambda m, x: m.avg_pool2d(x, 3, 2, 1, count_include_pad=0)),
    "dropout training=1": (lambda m, x: m.dropout(x, 0.0, 1)),
    "dropout training=None": (lambda m, x: m.dropout(x, 0.5, None)),
    "batch_norm training=1": (lambda m, x: m.batch_norm(x, _target(m, [0.0] * 3), _target(m, [1.0] * 3), training=1)),
    # an int argument is an int: a bool, a float or an array is PyTorch's TypeError, not a number
    "max_pool2d kernel_size=True": (lambda m, x: m.max_pool2d(x, True)),
    "avg_pool2d padding=True": (lambda m, x: m.avg_pool2d(x, 3, 1, True)),
    "conv2d stride=True": (lambda m, x: m.conv2d(x, _weight(m), stride=True)),
    "conv2d groups=True": (lambda m, x: m.conv2d(x, _weight(m), groups=True)),
    "conv2d groups=1.0": (lambda m, x: m.conv2d(x, _weight(m), groups=1.0)),
    "conv_transpose2d groups=True": (lambda m, x: m.conv_transpose2d(x, _weight(m), groups=True)),
    "adaptive_avg_pool2d output_size=(True, 2)": (lambda m, x: m.adaptive_avg_pool2d(x, (True, 2))),
    "adaptive_avg_pool2d output_size=(2.0, None)": (lambda m, x: m.adaptive_avg_pool2d(x, (2.0, None))),
    "adaptive_avg_pool2d output_size=True": (lambda m, x: m.adaptive_avg_pool2d(x, True)),
    "max_pool2d kernel_size as an array": (lambda m, x: m.max_pool2d(x, numpy.array([2, 2]))),
    "conv2d padding as a tensor": (lambda m, x: m.conv2d(x, _weight(m), padding=_target(m, [1, 1]))),
    "pad (True, 1)": (lambda m, x: m.pad(x, (True, 1))),
    "pad as an array": (lambda m, x: m.pad(x, numpy.array([1, 1]))),
    "cross_entropy ignore_index=1.0": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [0, 1], "int64"), ignore_index=1.0)),
    "cross_entropy ignore_index=True": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [0, 1], "int64"), ignore_index=True)),
    # a list of tensors is a list (or tuple) of tensors: a tensor is not iterated as its rows
    "cat of a tensor": (lambda m, x: (m.concatenate if m is F else torch.cat)(x)),
    "stack of a tensor": (lambda m, x: (m.stack if m is F else torch.stack)(x)),
    "stack with None": (lambda m, x: (m.stack if m is F else torch.stack)([x, None])),
    "stack with an array": (lambda m, x: (m.stack if m is F else torch.stack)([x, x.numpy()])),
    "permute with more dims than the tensor": (lambda m, x: x.permute(0, 1, 2, 3, 4)),
    "permute by a tensor": (lambda m, x: x.permute(_target(m, [0, 1, 2, 3]))),
    "permute with no dims": (lambda m, x: x.permute()),
    "index by a NumPy bool": (lambda m, x: x[numpy.True_]),
    "index by a NumPy bool after a slice": (lambda m, x: x[:, numpy.False_]),
    # an op's operand is a Tensor (or, where PyTorch takes one, a number): an array or a list is its TypeError
    "add of an array": (lambda m, x: _op(m, "add")(x, x.numpy())),
    "sub of an array first": (lambda m, x: _op(m, "sub")(x.numpy(), x)),
    "mul of an array": (lambda m, x: _op(m, "mul")(x, x.numpy())),
    "div of an array": (lambda m, x: _op(m, "div")(x, x.numpy())),
    "floor_divide of an array": (lambda m, x: _op(m, "floor_divide")(x, x.numpy())),
    "pow of an array": (lambda m, x: _op(m, "pow")(x, x.numpy())),
    "lt of an array": (lambda m, x: _op(m, "lt")(x, x.numpy())),
    "eq of an array": (lambda m, x: _op(m, "eq")(x, x.numpy())),
    "lt of a number first": (lambda m, x: _op(m, "lt")(1, x)),
    "ne of a number first": (lambda m, x: _op(m, "ne")(1, x)),
    "add of a list": (lambda m, x: _op(m, "add")(x[0, 0, 0], [1.0] * 6)),
    "matmul of an array": (lambda m, x: _op(m, "matmul")(x, x.numpy())),
    "add alpha=True": (lambda m, x: _op(m, "add")(x, x, alpha=True)),
    "add alpha=False": (lambda m, x: _op(m, "add")(x, 2, alpha=False)),
    "sub alpha=True": (lambda m, x: _op(m, "sub")(x, x, alpha=True)),
    "linear of a 1-d weight and a bias that does not fit": (lambda m, x: m.linear(x, x[0, 0, 0], x[0, 0, :2, :3])),
    "linear of a 1-d input and weight with a bias": (lambda m, x: m.linear(x[0, 0, 0], x[1, 0, 0], x[0, 1, 0, :1])),
    "linear of a 2-d input and a 1-d weight with a bias": (lambda m, x: m.linear(x[0, 0], x[1, 0, 0], x[0, 1, 0])),
    "linear of a 2-d input and a 1-d weight with a 0-d bias": (lambda m, x: m.linear(x[0, 0], x[1, 0, 0], x[0, 1, 0, 0])),
    "add of int tensors alpha=1.0": (lambda m, x: _op(m, "add")(_target(m, [1, 2]), _target(m, [1, 2]), alpha=1.0)),
    "add of int tensors alpha=numpy.True_": (lambda m, x: _op(m, "add")(_target(m, [1, 2]), 2, alpha=numpy.True_)),
    # a dim is an int: a float or an array is PyTorch's TypeError
    "softmax dim as an array": (lambda m, x: _op(m, "softmax")(x, numpy.array(1))),
    "flatten start_dim as an array": (lambda m, x: _op(m, "flatten")(x, numpy.array(1))),
    "cat dim as an array": (lambda m, x: _op(m, "concatenate")([x, x], numpy.array(1))),
    "transpose dim0 as a float": (lambda m, x: _op(m, "transpose")(x, 0.0, 1)),
    "sum dim as a float": (lambda m, x: _op(m, "sum")(x, 1.0)),
    "mean dims as an array": (lambda m, x: _op(m, "mean")(x, numpy.array([0, 1]))),
    "sum dims as an array": (lambda m, x: x.sum(numpy.array([1, 2]))),
    "cat of a generator": (lambda m, x: _op(m, "concatenate")(t for t in [x, x])),
    "stack of a generator": (lambda m, x: _op(m, "stack")(t for t in [x, x])),
    "cat of a set": (lambda m, x: _op(m, "concatenate")({x})),
    "stack of a map": (lambda m, x: _op(m, "stack")(map(lambda t: t, [x]))),
    # a Python int operand beyond int64 and uint64 is PyTorch's OverflowError, not a float
    "add 2 ** 64": (lambda m, x: _op(m, "add")(x, 2 ** 64)),
    "mul -2 ** 63 - 1": (lambda m, x: _op(m, "mul")(x, -2 ** 63 - 1)),
    "div 2 ** 64": (lambda m, x: _op(m, "div")(x, 2 ** 64)),
    "pow 2 ** 64": (lambda m, x: _op(m, "pow")(x, 2 ** 64)),
    "lt 2 ** 64": (lambda m, x: _op(m, "lt")(x, 2 ** 64)),
    "int tensor sub 2 ** 64": (lambda m, x: _op(m, "sub")(_target(m, [1, 2], "int64"), 2 ** 64)),
    "rsub of 2 ** 64": (lambda m, x: 2 ** 64 - x),
    "dropout p=1.5": (lambda m, x: m.dropout(x, 1.5)),
    "dropout p=-1": (lambda m, x: m.dropout(x, -1)),
    "dropout p=None": (lambda m, x: m.dropout(x, None)),
    "dropout p=NaN": (lambda m, x: m.dropout(x, float("nan"))),  # PyTorch's RuntimeError (ValueError outside [0, 1])
    "pad value 2 ** 1100": (lambda m, x: m.pad(x, (1, 2), value=2 ** 1100)),
}
ACCEPTED_AS_BY_TORCH = {
    "conv2d stride (2,)": (lambda m, x: m.conv2d(x, _weight(m), stride=(2,))),
    "conv2d padding [1]": (lambda m, x: m.conv2d(x, _weight(m), padding=[1])),
    "conv_transpose2d output_padding (1,)": (lambda m, x: m.conv_transpose2d(x, _weight(m), stride=2, output_padding=(1,))),
    "max_pool2d (2,)": (lambda m, x: m.max_pool2d(x, (2,))),
    "avg_pool2d stride [1]": (lambda m, x: m.avg_pool2d(x, 2, stride=[1])),
    "adaptive_avg_pool2d 0 channels": (lambda m, x: m.adaptive_avg_pool2d(x[:, :0], 2)),
    "cross_entropy label_smoothing -0.1": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], _target(m, [0, 1], "int64"), label_smoothing=-0.1)),
    "cross_entropy probabilities label_smoothing -0.1": (lambda m, x: m.cross_entropy(x[:, :, 0, 0], x[:, :, 1, 1].softmax(1), label_smoothing=-0.1)),
    "max_pool2d stride=[] (the kernel)": (lambda m, x: m.max_pool2d(x, 2, [])),
    "avg_pool2d stride=() (the kernel)": (lambda m, x: m.avg_pool2d(x, 3, (), 1)),
    "max_pool2d stride=(2, True)": (lambda m, x: m.max_pool2d(x, 2, (2, True))),  # a bool in a tuple is an int there
    "adaptive_avg_pool2d output_size as a 1-d tensor": (lambda m, x: m.adaptive_avg_pool2d(x, _target(m, [2, 3]))),
    # a number argument given as a 0-d tensor is read as its value, as PyTorch
    "cross_entropy label_smoothing as a tensor": (lambda m, x: m.cross_entropy(x.flatten(1), _target(m, [0, 2]),
                                                                               label_smoothing=_target(m, 0.2))),
    "batch_norm eps and momentum as tensors": (lambda m, x: m.batch_norm(x, _target(m, [0.0] * 3), _target(m, [1.0] * 3),
                                                                         training=True, momentum=_target(m, 0.5),
                                                                         eps=_target(m, 1e-3))),
    "batch_norm eps as a tensor in evaluation": (lambda m, x: m.batch_norm(x, _target(m, [0.5] * 3), _target(m, [2.0] * 3),
                                                                           eps=_target(m, 0.25))),
    "pad value as a tensor": (lambda m, x: m.pad(x, (1, 2), value=_target(m, 2.5))),
    "pad value 2 ** 64 (a float)": (lambda m, x: m.pad(x, (1, 2), value=2 ** 64)),
    "avg_pool2d divisor_override as a tensor": (lambda m, x: m.avg_pool2d(x, 2, divisor_override=_target(m, 3))),
    "conv2d padding as a 0-d tensor": (lambda m, x: m.conv2d(x, _weight(m), padding=_target(m, 1))),
    # dropout's p as an int, a bool or a 0-d tensor, as PyTorch
    "dropout p=1": (lambda m, x: m.dropout(x, 1)),
    "dropout p=0": (lambda m, x: m.dropout(x, 0)),
    "dropout p=True": (lambda m, x: m.dropout(x, True)),
    "dropout p=False": (lambda m, x: m.dropout(x, False)),
    "dropout p as a 0-d tensor": (lambda m, x: m.dropout(x, _target(m, 0.0))),
    "dropout p=1 as a 0-d tensor": (lambda m, x: m.dropout(x, _target(m, 1.0))),
    # PyTorch's ops that take a number as either operand; a NumPy number too; an int operand up to 2 ** 64 - 1
    "add of a number first": (lambda m, x: _op(m, "add")(2, x)),
    "sub of a number first": (lambda m, x: _op(m, "sub")(2.5, x)),
    "pow of a number first": (lambda m, x: _op(m, "pow")(2, x)),
    "mul of a NumPy number": (lambda m, x: _op(m, "mul")(x, numpy.float64(2.5))),
    "lt of a NumPy number": (lambda m, x: _op(m, "mul")(x, _op(m, "lt")(x, numpy.float32(0.5)))),
    "add 2 ** 64 - 1": (lambda m, x: _op(m, "add")(x, 2 ** 64 - 1)),
    "add -2 ** 63": (lambda m, x: _op(m, "add")(x, -2 ** 63)),
    "sum dim as a NumPy int": (lambda m, x: _op(m, "sum")(x, numpy.int64(1))),
    "linear of a 1-d weight": (lambda m, x: m.linear(x, x[0, 0, 0])),
    "linear of a 1-d weight and a 0-d bias": (lambda m, x: m.linear(x, x[0, 0, 0], x[0, 0, 0, 0])),
    "linear of a 1-d input and weight": (lambda m, x: m.linear(x[0, 0, 0], x[1, 0, 0])),
    "linear of a 1-d input and weight with a 0-d bias": (lambda m, x: m.linear(x[0, 0, 0], x[1, 0, 0], x[0, 1, 0, 0])),
    "add alpha=numpy.True_ (1.0)": (lambda m, x: _op(m, "add")(x, x, alpha=numpy.True_)),
    "sub of a NumPy bool (a float)": (lambda m, x: _op(m, "sub")(x, numpy.True_)),
}


def _op(m, name):
    """The op ``name`` of tinyrrn.functional, or PyTorch's under that name."""
    return getattr(F if m is F else T, name)


def _target(m, values, dtype=None):
    array = numpy.array(values, dtype)
    return Tensor(array) if m is F else torch.tensor(array)


def _weight(m):
    w = numpy.random.default_rng(1).uniform(-1, 1, (3, 3, 3, 3))
    return Tensor(w) if m is F else torch.tensor(w)


def _input(m):
    x = numpy.random.default_rng(0).uniform(-1, 1, (2, 3, 6, 6))
    return Tensor(x) if m is F else torch.tensor(x)


@pytest.mark.parametrize("name", REFUSED_AS_BY_TORCH)
def test_refused_with_torchs_exception_class(torch, name):
    fn = REFUSED_AS_BY_TORCH[name]
    with pytest.raises(Exception) as theirs:
        fn(tf, _input(tf))
    with pytest.raises(type(theirs.value)):
        fn(F, _input(F))


@pytest.mark.parametrize("name", ACCEPTED_AS_BY_TORCH)
def test_accepted_as_by_torch(torch, name):
    """The same value, and the same input gradient, as PyTorch's (whose backward refuses an empty output)."""
    fn = ACCEPTED_AS_BY_TORCH[name]
    theirs_x, ours_x = _input(tf).requires_grad_(), _input(F)
    ours_x.requires_grad = True
    theirs, ours = fn(tf, theirs_x), fn(F, ours_x)
    numpy.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    if not theirs.numel():
        return
    upstream = numpy.random.default_rng(2).standard_normal(theirs.shape)
    theirs.backward(torch.tensor(upstream))
    ours.backward(Tensor(upstream))
    numpy.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_torchs_default_keywords_of_functional_ops(torch):
    """PyTorch's out/dtype at their defaults are taken, other values refused saying so (add's alpha is taken at any
    value: test_ops_methods.py); cross_entropy's deprecated size_average/reduce set the reduction as in PyTorch (and
    ignore_index is 5th, as there)."""
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 3)))
    t = torch.from_numpy(x.numpy())
    F.add(x, x, alpha=1), F.sub(x, x, alpha=1), F.div(x, 2, out=None), F.concatenate([x], 0, out=None)
    F.sum(x, dtype=None), F.mean(x, dtype=None), x.sum(dtype=None), F.softmax(x, dim=1, dtype=None)
    F.log_softmax(x, dim=1, dtype=None)
    with pytest.raises(NotImplementedError, match="not supported"):
        F.div(x, 2, out=x)
    labels = numpy.array([0, 2, 1, -1])
    for size_average in (None, True, False):
        for reduce in (None, True, False):
            ours = F.cross_entropy(x, Tensor(labels), None, size_average, -1, reduce)
            theirs = torch.nn.functional.cross_entropy(t, torch.from_numpy(labels), None, size_average, -1, reduce)
            numpy.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.cpu_only("compares host arrays with torch")
@pytest.mark.parametrize("dtype, base, exponent", [("float16", [65504.0, -65504.0], 2.0), ("float32", [3e38], 2.0),
                                                   ("float32", [1.4e-45, 6e-8], None)])
def test_pow_gradient_groups_as_torchs_at_the_extremes(dtype, base, exponent):
    """torch's pow backward is g * (e * x ** (e - 1)): e * x overflows to inf before g scales it, and at a tiny x
    (x ** x) e * inf is inf where (g * e) * inf, g * e underflowing to 0, was NaN."""
    data = numpy.array(base, dtype)
    g = numpy.full(data.shape, 0.125, dtype)
    ours, theirs = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    (ours ** (exponent if exponent is not None else ours)).backward(Tensor(g))
    (theirs ** (exponent if exponent is not None else theirs)).backward(torch.tensor(g))
    numpy.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("shape, dim, correction", [((50, 30), 1, 1), ((50, 30), 0, 0), ((7, 9, 11), (0, 2), 1),
                                                    ((40, 40), None, 0), ((6, 5), 1, 2)])
def test_float16_var_and_std_gradients_as_torch(torch, op, shape, dim, correction):
    """Bit for bit: PyTorch's var_backward multiplies g by 2 / (n - correction) in float32 and rounds, then by
    x - mean; 2 / (n - correction) rounded to float16 first was an ulp off in up to all of the gradient. The
    variance, in float64, rounds to float16 through float32, as PyTorch's."""
    rng = numpy.random.default_rng(0)
    x = rng.uniform(-3, 3, shape).astype("float16")
    ours_x, theirs_x = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    args = () if dim is None else (dim,)
    ours = getattr(F, op)(ours_x, *args, correction=correction)
    theirs = getattr(torch, op)(theirs_x, *args, correction=correction)
    g = rng.uniform(-2, 2, theirs.shape).astype("float16")
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    numpy.testing.assert_array_equal(numpy.asarray(ours_x.grad), theirs_x.grad.numpy())


@pytest.mark.cpu_only("compares host arrays with torch")
@pytest.mark.parametrize("axis", [None, 1])
def test_float16_mean_over_more_than_65504_values_has_torchs_gradient(axis):
    """torch divides the gradient by the count in float32; tinyrrn divided it by the count cast to float16
    (inf past 65504), so every gradient was 0."""
    data = numpy.ones((2, 70000), "float16")
    ours, theirs = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    ours.mean(axis).sum().backward()
    theirs.mean(axis).sum().backward()
    assert theirs.grad.numpy().min() > 0
    numpy.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("dtype, value", [("float32", 3e38), ("float32", -3e38), ("float16", 60000.0),
                                          ("float64", 1.7e308)])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_a_mean_whose_sum_leaves_the_dtypes_range_is_inf_as_torchs(dtype, value, axis):
    """PyTorch's mean is sum(...) / count, the sum in the dtype (float16's in float32): a float32 mean of 3e38s is
    inf there; tinyrrn divided the float64 sum and answered 3e38."""
    data = numpy.full((3, 2), value, dtype)
    ours = host(Tensor(on_device(data)).mean(axis).data)
    expected = torch.tensor(data).mean(axis).numpy()
    assert ours.dtype == expected.dtype
    numpy.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("source", ["float64", "float32", "float16", "int64", "uint8", "bool"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64", "int32", "uint8", "bool"])
def test_a_reductions_dtype_converts_first_as_torchs(op, source, dtype):
    """x.sum(dtype=...) and x.mean(dtype=...) as PyTorch's: x converted first, the result of that dtype, and
    refused where PyTorch refuses (a mean of integers); tinyrrn refused every dtype."""
    data = (numpy.random.default_rng(0).normal(size=(3, 40)) * 40).astype(source)
    for axis in (None, 1):
        try:
            expected = getattr(torch.tensor(data), op)(axis, dtype=getattr(torch, dtype)).numpy()
        except RuntimeError:
            with pytest.raises(RuntimeError, match="dtype"):
                getattr(Tensor(on_device(data)), op)(axis, dtype=dtype)
            continue
        ours = host(getattr(Tensor(on_device(data)), op)(axis, dtype=dtype).data)
        assert ours.dtype == expected.dtype
        numpy.testing.assert_allclose(ours.astype("float64"), expected.astype("float64"), rtol=1e-3 if "16" in dtype
                                      else 1e-6, atol=1e-6 * numpy.abs(data.astype("float64")).sum())  # (float32: torch
        # adds in float32, tinyrrn in float64)


def test_a_reductions_dtype_keeps_the_gradient_in_the_inputs_dtype_as_torch():
    x = Tensor(numpy.ones((2, 3), "float32"), requires_grad=True)
    (x.sum(1, dtype="float64") * x.mean(dtype="float64")).sum().backward()
    tx = torch.ones((2, 3), dtype=torch.float32, requires_grad=True)
    (tx.sum(1, dtype=torch.float64) * tx.mean(dtype=torch.float64)).sum().backward()
    assert x.grad.dtype == numpy.float32
    numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy())
    with pytest.raises(RuntimeError, match="Autograd not support dtype"):
        tx.sum(dtype=torch.int64)
    with pytest.raises(RuntimeError, match="Autograd not support dtype"):
        x.sum(dtype="int64")
    with tinyrrn.no_grad():
        assert x.sum(dtype="int64").dtype == numpy.int64


@pytest.mark.cpu_only("compares host arrays with torch")
def test_float16_cross_entropy_mean_over_more_than_65504_probability_rows_as_torch():
    """torch divides the summed loss and its gradient by the row count in float32; tinyrrn held the count in
    float16 (inf): the loss was inf / inf = NaN (torch inf) and every gradient 0."""
    rng = numpy.random.default_rng(0)
    logits, target = rng.standard_normal((70000, 3)).astype("float16"), numpy.full((70000, 3), 1 / 3, "float16")
    ours, theirs = Tensor(logits.copy(), requires_grad=True), torch.tensor(logits.copy(), requires_grad=True)
    loss, their_loss = F.cross_entropy(ours, Tensor(target)), tf.cross_entropy(theirs, torch.tensor(target))
    assert loss.dtype == numpy.float16 and loss.item() == their_loss.item()
    loss.backward()
    their_loss.backward()
    numpy.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=2e-3, atol=1e-7)


SETITEM_CASES = [("0", (1, 4)), ("0", (1, 1, 4)), ("0, 0", (1, 1)), ("0, 0", (1,)), ("0, 0", (2,)), ("..., 0", (1, 3)),
                 ("[0, 1]", (1, 1, 2, 4)), ("mask", (1, 12)), ("mask", (1, 1)), ("mask", (2, 6)), ("0", (4, 1)),
                 ("0", (2, 4)), ("0", (1, 2, 4)), (":", (1, 3, 4)), ("0, [1, 2]", (1, 1, 2)), ("mask", (1, 11))]


@pytest.mark.parametrize("index, shape", SETITEM_CASES)
def test_setitem_takes_a_value_with_extra_leading_ones_as_torch(torch, index, shape):
    """x[index] = v with v of extra leading size-1 dims is written as PyTorch writes it (NumPy refused them at an
    int or a mask index: x[0, 0] = v of shape (1, 1)); any other misfit is refused, as there."""
    def assign(x, mask, value):
        exec(f"x[{index}] = value", {"x": x, "value": value, "mask": mask})
        return x
    value = numpy.arange(1.0, 1 + math.prod(shape)).reshape(shape)
    try:
        theirs = assign(torch.zeros(3, 4, dtype=torch.float64), torch.ones(3, 4, dtype=torch.bool), torch.tensor(value))
    except RuntimeError:
        with pytest.raises(RuntimeError):
            assign(Tensor(numpy.zeros((3, 4))), Tensor(numpy.ones((3, 4), bool)), Tensor(value))
        return
    ours = assign(Tensor(numpy.zeros((3, 4))), Tensor(numpy.ones((3, 4), bool)), Tensor(value))
    numpy.testing.assert_array_equal(host(ours), theirs.numpy())


@pytest.mark.parametrize("shape, args", [((1, 1, 1, 2), (2, 1, 1, 2)), ((1, 1, 1, 3), (2, 2, 1, 2)),
                                         ((2, 1, 3, 2), (2, 1, 1, 3)), ((1, 2, 1, 1), (2, 1, 1, 2))])
def test_max_pool2d_of_a_window_wholly_in_the_padding_as_torch(torch, shape, args):
    """A dilated window may read padding only (PyTorch refuses that only for padding > kernel / 2): its maximum
    is -inf, and its index PyTorch's (its first tap at or after 0, past the input): tinyrrn gave 0. Its gradient
    is 0 (PyTorch's backward reads the index past the input, and may abort): the others' go to their index."""
    x = numpy.arange(1.0, 1 + math.prod(shape)).reshape(shape)
    ours_x = Tensor(x, requires_grad=True)
    theirs, their_indices = tf.max_pool2d(torch.tensor(x), *args, return_indices=True)
    ours, our_indices = F.max_pool2d(ours_x, *args, return_indices=True)
    numpy.testing.assert_array_equal(host(ours.detach()), theirs.numpy())
    numpy.testing.assert_array_equal(host(our_indices), their_indices.numpy())
    ours.sum().backward()
    expected = numpy.zeros((shape[0] * shape[1], shape[2] * shape[3]))
    for plane, (values, indices) in enumerate(zip(theirs.numpy().reshape(len(expected), -1),
                                                  their_indices.numpy().reshape(len(expected), -1))):
        numpy.add.at(expected[plane], indices[values > -numpy.inf], 1)
    numpy.testing.assert_array_equal(host(ours_x.grad), expected.reshape(shape))


def test_float16_log_softmax_rounds_once_as_torch(torch):
    """log_softmax of float16 and its gradient in float32, rounded once: PyTorch's error (tinyrrn's gradient, in
    float16, had 1.8x it)."""
    x = numpy.random.default_rng(0).uniform(-8, 8, (200, 50)).astype("float16")
    g = numpy.random.default_rng(1).uniform(-1, 1, (200, 50)).astype("float16")
    exact_x, theirs_x = torch.tensor(x, dtype=torch.float64, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours_x = Tensor(x, requires_grad=True)
    ours, theirs, exact = F.log_softmax(ours_x, 1), torch.log_softmax(theirs_x, 1), torch.log_softmax(exact_x, 1)
    assert ours.dtype == numpy.float16
    error = abs(ours.detach().numpy().astype(float) - exact.detach().numpy()).max()
    assert error <= 1.5 * abs(theirs.detach().numpy().astype(float) - exact.detach().numpy()).max()
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))
    exact.backward(torch.tensor(g, dtype=torch.float64))
    error = abs(ours_x.grad.astype(float) - exact_x.grad.numpy()).max()
    assert error <= 1.5 * abs(theirs_x.grad.numpy().astype(float) - exact_x.grad.numpy()).max()


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "floor_divide", "lt"])
@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool", "float16"])
def test_a_numpy_bool_operand_is_a_float_as_torch(torch, op, dtype):
    """PyTorch reads a NumPy bool operand as a float: int tensor + numpy.True_ is float32 (tinyrrn: int64, and
    sub refused it as a bool)."""
    data = numpy.array([0, 1, 3]).astype(dtype)
    for operands in ((data, numpy.True_), (numpy.True_, data)):
        if op == "lt" and operands[0] is numpy.True_:
            continue
        ours = (lambda: getattr(F, op)(*(Tensor(v) if isinstance(v, numpy.ndarray) else v for v in operands)))
        try:
            theirs = getattr(T, op)(*(torch.tensor(v) if isinstance(v, numpy.ndarray) else v for v in operands))
        except RuntimeError:  # a bool tensor's sub
            with pytest.raises(RuntimeError):
                ours()
            continue
        ours = ours()
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_array_equal(host(ours), theirs.numpy())


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("exponent", [0.5, -0.5, 1.5])
def test_pow_of_minus_a_half_is_torchs_rsqrt_at_minus_zero(torch, dtype, exponent):
    """PyTorch computes float32/float64 x ** -0.5 as rsqrt(x), in the forward pass and in the gradient of x ** 0.5
    (x ** (e - 1)): -inf at x = -0.0, where C's pow (PyTorch's float16) gives +inf (tinyrrn's -0.0 ** -0.5 was
    +inf, and the gradient of x ** 0.5 there had the opposite sign)."""
    data = numpy.array([-0.0, 0.0, 0.25, 2.0, -1.0], dtype)
    g = numpy.array([-0.5, 0.5, 1.0, -2.0, 1.0], dtype)
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    ours, theirs = F.pow(ours_x, exponent), torch.pow(theirs_x, exponent)
    numpy.testing.assert_array_equal(host(ours.detach()), theirs.detach().numpy())
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(ours_x.grad)[:4], theirs_x.grad.numpy()[:4])


SECOND_BACKWARD = {  # PyTorch's nodes of these save no tensor (sizes at most); the others save an input or output
    "add": lambda m, x, w: x + w, "sub": lambda m, x, w: 2 - x - w, "neg": lambda m, x, w: -x,
    "sum": lambda m, x, w: x.sum(1), "mean": lambda m, x, w: x.mean(), "reshape": lambda m, x, w: x.reshape(6, 4),
    "view": lambda m, x, w: x.view(-1), "permute": lambda m, x, w: x.permute(2, 0, 1),
    "transpose": lambda m, x, w: x.transpose(0, 1), "flatten": lambda m, x, w: x.flatten(),
    "t": lambda m, x, w: x[0].t(), "slice": lambda m, x, w: x[0, 1:, None, ..., ::2], "clone": lambda m, x, w: x.clone(),
    "contiguous": lambda m, x, w: x.transpose(0, 1).contiguous(), "to": lambda m, x, w: x.to(m.float32),
    "cat": lambda m, x, w: m.cat([x, w]), "stack": lambda m, x, w: m.stack([x, w], 1), "pad": lambda m, x, w: m.pad(x, (1, 2)),
    "mul": lambda m, x, w: x * 2, "div": lambda m, x, w: x / w, "index": lambda m, x, w: x[[0, 1]],
    "mask": lambda m, x, w: x[x.detach() > 0], "relu": lambda m, x, w: x.relu(), "exp": lambda m, x, w: x.exp(),
    "floor": lambda m, x, w: m.div(x, w, rounding_mode="floor"), "add_of_mul": lambda m, x, w: x + x * w,
    "global_pool": lambda m, x, w: m.adaptive_avg_pool2d(x, 1),  # PyTorch's is a mean (tinyrrn's saved x)
    "adaptive_pool": lambda m, x, w: m.adaptive_avg_pool2d(x, 2),
}


@pytest.mark.parametrize("case", SECOND_BACKWARD)
def test_a_second_backward_is_refused_only_where_torch_saved_a_tensor(torch, case):
    """PyTorch runs a second backward() through a graph whose nodes saved no tensor (x.sum(), x + y, a view, cat,
    ...), adding the gradients again; a node that saved one (mul, relu, an index) raises. tinyrrn refused all."""
    data = numpy.random.default_rng(0).normal(size=(2, 2, 3, 4))
    results = []
    for m, tensor in ((types.SimpleNamespace(cat=F.concatenate, stack=F.stack, pad=F.pad, div=F.div, float32="float32",
                                             adaptive_avg_pool2d=F.adaptive_avg_pool2d),
                       lambda a: Tensor(a, requires_grad=True)),
                      (types.SimpleNamespace(cat=torch.cat, stack=torch.stack, pad=tf.pad, div=torch.div,
                                             float32=torch.float32, adaptive_avg_pool2d=tf.adaptive_avg_pool2d),
                       lambda a: torch.tensor(a, requires_grad=True))):
        x, w = tensor(data[0]), tensor(data[1] + 3)
        y = SECOND_BACKWARD[case](m, x, w).sum()
        y.backward()
        try:
            y.backward()
            results.append(numpy.asarray(host(x.grad) if isinstance(x, Tensor) else x.grad.numpy()))
        except RuntimeError as error:
            assert "second time" in str(error)
            results.append(None)
    assert (results[0] is None) == (results[1] is None)
    if results[1] is not None:
        numpy.testing.assert_allclose(results[0], results[1])


CHANGED_AFTER_FORWARD = {  # y = fn(x, h) with h = x + 1, then h (and y) changed in place under no_grad
    "sum": lambda m, x, h: h.sum(), "view": lambda m, x, h: h[1:].reshape(2, 1), "add": lambda m, x, h: h + x,
    "cat": lambda m, x, h: m.cat([h, x]), "relu": lambda m, x, h: h.relu(), "softmax": lambda m, x, h: h.softmax(0),
    "mul": lambda m, x, h: h * x, "exp": lambda m, x, h: h.exp(), "div": lambda m, x, h: x / h,
    "reciprocal": lambda m, x, h: h.reciprocal(), "mul_number": lambda m, x, h: h * 2,
    "number_mul": lambda m, x, h: 2 * h, "div_number": lambda m, x, h: h / 2, "number_div": lambda m, x, h: 2 / h,
    "mul_constant": lambda m, x, h: h * x.detach(), "constant_div": lambda m, x, h: x.detach() / h,
    # matmul and linear save each input for the other's gradient, never the bias; a convolution its input and
    # weight, not its bias nor its output; cross_entropy not its logits (log_softmax's output), nor its loss
    "matmul": lambda m, x, h: h @ x, "matmul_constant": lambda m, x, h: h @ x.detach(),
    "linear_constant": lambda m, x, h: m.linear(h.reshape(1, 3), x.detach().reshape(1, 3)),
    "linear_bias": lambda m, x, h: m.linear(x.reshape(1, 3), x.detach().reshape(1, 3), h[:1]),
    "conv_bias": lambda m, x, h: m.conv2d(x.reshape(1, 1, 1, 3), x.reshape(1, 1, 1, 3) * 1, h[:1]),
    "conv": lambda m, x, h: m.conv2d(x.reshape(1, 1, 1, 3), h.reshape(1, 1, 1, 3)),
    "cross_entropy": lambda m, x, h: m.cross_entropy(h.reshape(1, 3), m.target),
    "add_relu": lambda m, x, h: m.add_relu(h, x),
    # PyTorch's index, dropout, batch norm and average pools save no output (their inputs, mask or statistics)
    "index": lambda m, x, h: h[[0, 2, 2]], "mask": lambda m, x, h: h[x.detach() > 0],
    "dropout": lambda m, x, h: m.dropout(h, 1.0),
    "avg_pool": lambda m, x, h: m.avg_pool2d(h.reshape(1, 1, 1, 3), (1, 2), 1),
    "adaptive_pool": lambda m, x, h: m.adaptive_avg_pool2d(h.reshape(1, 1, 1, 3), (1, 2)),
    "max_pool": lambda m, x, h: m.max_pool2d(h.reshape(1, 1, 1, 3), (1, 2), 1),  # its input and indices, as PyTorch's
    "batch_norm": lambda m, x, h: m.batch_norm(h.reshape(3, 1), None, None, x[:1] * 1, None, True),
    "batch_norm_eval": lambda m, x, h: m.batch_norm(h.reshape(3, 1), *m.stats(), training=False),
    # batch norm saves its input and weight, not its bias; relu(batch_norm(x) + h) not h (add saves nothing)
    "batch_norm_bias": lambda m, x, h: m.batch_norm(x.reshape(3, 1), None, None, x[1:2] * 1, h[:1], True) * x[:, None],
    # without a weight either: the bias, or the other addend, is not saved (the input alone is)
    "batch_norm_bias_only": lambda m, x, h: m.batch_norm(x.reshape(3, 1), None, None, None, h[:1], True) * x[:, None],
    "batch_norm_add_relu_only": lambda m, x, h: m.batch_norm_add_relu(x.reshape(3, 1) * x[:, None], h.reshape(3, 1),
                                                                      None, None, None, None, True),
    "batch_norm_add_relu": lambda m, x, h: m.batch_norm_add_relu(x.reshape(3, 1) * x[:, None], h.reshape(3, 1), None,
                                                                 None, x[1:2] * 1, x[:1] * 1, True),
    "tanh": lambda m, x, h: h.tanh(), "sigmoid": lambda m, x, h: h.sigmoid(),
    "log_softmax": lambda m, x, h: h.log_softmax(0),
    "pow_tensor": lambda m, x, h: h ** x, "number_pow": lambda m, x, h: 2 ** h,
    "pow_number": lambda m, x, h: h ** 2, "pow_half": lambda m, x, h: (h * h) ** 0.5,  # PyTorch's saves h, not h ** 2
    # remainder saves both inputs only for the divisor's gradient
    "remainder_number": lambda m, x, h: h % 1.5, "remainder_constant": lambda m, x, h: h % x.detach(),
    "remainder": lambda m, x, h: x % h,
}


@pytest.mark.parametrize("case", CHANGED_AFTER_FORWARD)
@pytest.mark.parametrize("changed", ["input", "output"])
def test_backward_refuses_a_change_in_place_only_of_what_torch_saved(torch, case, changed):
    """PyTorch's backward refuses an input or output changed in place after the forward pass only when its node
    saved it (mul its inputs, exp its output; sum, views, add, cat nothing, relu and softmax their output);
    tinyrrn refused any change of any node's inputs or output, and then of h in h * 2 (mul saves only the
    input the other's gradient needs)."""
    results = []
    for m, tensor, guard in ((types.SimpleNamespace(cat=F.concatenate, linear=F.linear, conv2d=F.conv2d,
                                                    cross_entropy=F.cross_entropy, target=Tensor(numpy.array([2])),
                                                    add_relu=F.add_relu, dropout=F.dropout, avg_pool2d=F.avg_pool2d,
                                                    adaptive_avg_pool2d=F.adaptive_avg_pool2d, batch_norm=F.batch_norm,
                                                    max_pool2d=F.max_pool2d, batch_norm_add_relu=F.batch_norm_add_relu,
                                                    stats=lambda: (numpy.zeros(1), numpy.ones(1))),
                              lambda a: Tensor(a, requires_grad=True), tinyrrn.no_grad),
                             (types.SimpleNamespace(cat=torch.cat, linear=tf.linear, conv2d=tf.conv2d,
                                                    cross_entropy=tf.cross_entropy, target=torch.tensor([2]),
                                                    add_relu=lambda a, b: (a + b).relu(), dropout=tf.dropout,
                                                    avg_pool2d=tf.avg_pool2d,
                                                    adaptive_avg_pool2d=tf.adaptive_avg_pool2d,
                                                    batch_norm=tf.batch_norm, max_pool2d=tf.max_pool2d,
                                                    batch_norm_add_relu=lambda x, other, *args: (tf.batch_norm(x, *args)
                                                                                                 + other).relu(),
                                                    stats=lambda: (torch.zeros(1, dtype=torch.float64),
                                                                   torch.ones(1, dtype=torch.float64))),
                              lambda a: torch.tensor(a, requires_grad=True), torch.no_grad)):
        x = tensor(numpy.array([0.5, -2.0, 2.0]))
        h = x + 1
        y = CHANGED_AFTER_FORWARD[case](m, x, h)
        with guard():
            (h if changed == "input" else y).__imul__(2)
        try:
            y.sum().backward()
            results.append(numpy.asarray(host(x.grad) if isinstance(x, Tensor) else x.grad.numpy()))
        except RuntimeError as error:
            assert "modified by an inplace operation" in str(error)
            results.append(None)
    if results[1] is None:
        assert results[0] is None
    else:  # (softmax's gradient of a sum is 0 but for rounding)
        numpy.testing.assert_allclose(results[0], results[1], atol=1e-12)


FLOAT16_IN_FLOAT32 = {  # y = fn(h, s) with h float16 and s float32, computed by tinyrrn in float32 on copies of them
    "mul_scalar": ((3,), (), lambda m, h, s: h * s), "div_scalar": ((3,), (), lambda m, h, s: h / s),
    "scalar_mul": ((3,), (), lambda m, h, s: m.mul(h, s)),
    "batch_norm": ((4, 3), (3,), lambda m, h, s: m.batch_norm(h, None, None, s, None, training=True)),
    "batch_norm_eval_bias": ((4, 3), (3,), lambda m, h, s: m.batch_norm(h, m.zeros(3), m.ones(3), None, s)),
}


@pytest.mark.parametrize("case", FLOAT16_IN_FLOAT32)
@pytest.mark.parametrize("changed", ["h", "s"])
@pytest.mark.parametrize("takes_grad", ["both", "h"])
def test_a_float16_op_computed_in_float32_refuses_a_change_of_what_torch_saved(torch, case, changed, takes_grad):
    """tinyrrn computes float16 x * scalar, x / scalar and batch norm in float32, on copies of the inputs, as
    PyTorch's kernels compute them; a change in place of an original after the forward pass went unseen (the
    copies were saved), where PyTorch's node saves the originals (mul each for the other's gradient, div the
    divisor, batch norm its input and weight) and refuses backward."""
    h_shape, s_shape, fn = FLOAT16_IN_FLOAT32[case]
    rng = numpy.random.default_rng(0)
    h_data, s_data = rng.uniform(1, 2, size=h_shape).astype("float16"), rng.uniform(1, 2, size=s_shape)
    refused = []
    for m, tensor, no_grad in ((types.SimpleNamespace(batch_norm=F.batch_norm, mul=F.mul,
                                                      zeros=lambda n: numpy.zeros(n, "float32"),
                                                      ones=lambda n: numpy.ones(n, "float32")), Tensor, tinyrrn.no_grad),
                               (types.SimpleNamespace(batch_norm=tf.batch_norm, mul=torch.mul, zeros=torch.zeros,
                                                      ones=torch.ones), torch.tensor, torch.no_grad)):
        h = tensor(h_data, requires_grad=True)
        s = tensor(s_data.astype("float32"), requires_grad=takes_grad == "both")
        y = fn(m, h, s)
        with no_grad():
            (h if changed == "h" else s).__iadd__(1)
        try:
            (y.astype("float32") if isinstance(y, Tensor) else y.float()).sum().backward()
            refused.append(False)
        except RuntimeError as error:
            assert "modified by an inplace operation" in str(error)
            refused.append(True)
    assert refused[0] == refused[1]


SAVED_BESIDE_INPUTS = {  # y = fn(x, s), then s changed in place under no_grad: s is no input PyTorch's node takes
    # a gradient for, yet it saved s (index tensors, a class weight)
    "index": (numpy.array([0, 1]), lambda m, x, s: x[s]), "index_2": (numpy.array([0, 1]), lambda m, x, s: x[:, s]),
    "mask": (numpy.array([True, False, True]), lambda m, x, s: x[:, s]),
    "cross_entropy_weight": (numpy.array([1.0, 2.0, 3.0]), lambda m, x, s: m.cross_entropy(x, m.target, weight=s)),
    "nll_loss_weight": (numpy.array([1.0, 2.0, 3.0]), lambda m, x, s: m.nll_loss(x, m.target, weight=s)),
    # batch norm's node saves the running statistics, in training too (whose own update of them it does not count)
    "batch_norm_running_mean": (numpy.array([0.0, 0.5, 1.0]), lambda m, x, s: m.batch_norm(x, s, s + 1, training=True)),
    "batch_norm_running_var_eval": (numpy.array([1.0, 2.0, 3.0]),
                                    lambda m, x, s: m.batch_norm(x, s - 1, s, training=False)),
}


@pytest.mark.parametrize("case", SAVED_BESIDE_INPUTS)
def test_backward_refuses_a_change_of_an_index_or_weight_as_torch(torch, case):
    """PyTorch's index node saves its index tensors, and nll_loss's its class weight: a change of one in place
    after the forward pass is refused at backward. tinyrrn's index backward read the changed indices (x[idx] sent
    the gradient elsewhere: [0, 10, 1] for [1, 10, 0]; a changed mask failed in NumPy), its loss the old weight."""
    values, fn = SAVED_BESIDE_INPUTS[case]
    for m, tensor, guard in ((types.SimpleNamespace(cross_entropy=F.cross_entropy, nll_loss=F.nll_loss,
                                                    batch_norm=F.batch_norm, target=Tensor(numpy.array([1, 2]))),
                              Tensor, tinyrrn.no_grad),
                             (types.SimpleNamespace(cross_entropy=tf.cross_entropy, nll_loss=tf.nll_loss,
                                                    batch_norm=tf.batch_norm, target=torch.tensor([1, 2])),
                              torch.tensor, torch.no_grad)):
        x = tensor(numpy.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]), requires_grad=True)
        saved = tensor(values.copy())
        y = fn(m, x, saved)
        with guard():
            saved[1] = saved[0]
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


@pytest.mark.parametrize("case", SAVED_BESIDE_INPUTS)
def test_an_index_or_weight_made_in_inference_mode_is_refused_as_torch(torch, case):
    """PyTorch refuses to save an inference tensor for backward: an index tensor or class weight made in
    inference_mode() is refused when the op records a graph, and taken when it does not (x needs no grad)."""
    values, fn = SAVED_BESIDE_INPUTS[case]
    for m, tensor, inference_mode in ((types.SimpleNamespace(cross_entropy=F.cross_entropy, nll_loss=F.nll_loss,
                                                             batch_norm=F.batch_norm,
                                                             target=Tensor(numpy.array([1, 2]))),
                                       Tensor, tinyrrn.inference_mode),
                                      (types.SimpleNamespace(cross_entropy=tf.cross_entropy, nll_loss=tf.nll_loss,
                                                             batch_norm=tf.batch_norm, target=torch.tensor([1, 2])),
                                       torch.tensor, torch.inference_mode)):
        with inference_mode():
            saved = tensor(values.copy())
        data = numpy.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
        with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
            fn(m, tensor(data, requires_grad=True), saved)
        assert not fn(m, tensor(data), saved).requires_grad


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("statistic", ["running_mean", "running_var"])
def test_batch_norm_refuses_running_statistics_that_require_grad_as_torch(torch, training, statistic):
    """PyTorch's batch norm is not differentiable with respect to its running statistics: one that requires grad
    is refused while grad mode is on (the input requiring grad or not), and taken under no_grad(); tinyrrn took
    it and sent it no gradient."""
    data = numpy.random.default_rng(0).normal(size=(4, 3, 2))
    for tensor, no_grad, batch_norm in ((Tensor, tinyrrn.no_grad, F.batch_norm),
                                        (torch.tensor, torch.no_grad, tf.batch_norm)):
        stats = {"running_mean": tensor(numpy.zeros(3)), "running_var": tensor(numpy.ones(3))}
        stats[statistic].requires_grad_()
        for x in (tensor(data), tensor(data, requires_grad=True)):
            with pytest.raises(RuntimeError, match=f"not differentiable with respect to argument '{statistic}'"):
                batch_norm(x, **stats, training=training)
            with no_grad():
                assert not batch_norm(x, **stats, training=training).requires_grad


@pytest.mark.parametrize("symbol", ["+=", "-=", "*=", "/=", "//=", "**="])
@pytest.mark.parametrize("dtypes", [("uint8", "int64"), ("int8", "int64"), ("int32", "uint8"), ("float16", "float64"),
                                    ("int64", "float32"), ("bool", "int64"), ("bool", "bool")])
def test_in_place_operators_cast_as_torchs_can_cast(torch, symbol, dtypes):
    """x op= y casts the result into x's dtype unless it would go from float to integer or to bool (PyTorch's
    canCast); tinyrrn refused int64 into uint8 or int8 (NumPy's same_kind) where PyTorch wraps the values."""
    method = {"+=": "__iadd__", "-=": "__isub__", "*=": "__imul__", "/=": "__itruediv__", "//=": "__ifloordiv__",
              "**=": "__ipow__"}[symbol]
    x, y = numpy.array([1, 2, 3, 0]).astype(dtypes[0]), numpy.array([200, 1, 2, 1]).astype(dtypes[1])
    try:
        theirs = getattr(torch.tensor(x), method)(torch.tensor(y))
    except RuntimeError:
        with pytest.raises(RuntimeError):
            getattr(Tensor(x), method)(Tensor(y))
        return
    ours = getattr(Tensor(x), method)(Tensor(y))
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    numpy.testing.assert_array_equal(host(ours), theirs.numpy())


QUIET_EDGES = {  # IEEE's inf and NaN, which PyTorch gives without a warning
    "div by 0": lambda m, x: m.div(x, x * 0), "floor div by 0": lambda m, x: m.div(x, x * 0, rounding_mode="floor"),
    "trunc div by 0": lambda m, x: m.div(x, x * 0, rounding_mode="trunc"), "rdiv": lambda m, x: 1 / (x * 0),
    "pow overflow": lambda m, x: m.pow(x * 1e200, 3), "pow of 0 to -1": lambda m, x: m.pow(x * 0, -1.0),
    "log of 0": lambda m, x: m.log(x * 0), "log of -1": lambda m, x: m.log(-(x * 0 + 1)), "exp overflow": lambda m, x: m.exp(x * 1e4),
}


@pytest.mark.parametrize("case", QUIET_EDGES)
def test_inf_and_nan_come_without_numpys_warnings(torch, case):
    """div, pow, log and exp give PyTorch's inf and NaN, and their gradients, without NumPy's RuntimeWarnings."""
    data = numpy.array([0.5, -2.0, 3.0])
    x, theirs_x = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    theirs = QUIET_EDGES[case](T, theirs_x)
    theirs.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = QUIET_EDGES[case](F, x)
        ours.sum().backward()
    numpy.testing.assert_array_equal(host(ours.detach()), theirs.detach().numpy())
    numpy.testing.assert_array_equal(host(x.grad), theirs_x.grad.numpy())


@pytest.mark.parametrize("exponent", [1.7, 0.3, -1.3, 1e-3, 2.5])
def test_float16_pow_gradient_takes_the_exponent_as_torchs_pow_backward(torch, exponent):
    """PyTorch's gradient of x ** e is e * x.pow(e - 1): e - 1 in double (then float16 for pow), and e as mul takes a
    number (float32 in float16's opmath); tinyrrn rounded e to float16 first (1.7002), 1 ulp off in a third of them."""
    data = numpy.random.default_rng(0).uniform(0.1, 4, 2000).astype("float16")
    g = numpy.random.default_rng(1).normal(size=2000).astype("float16")
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    (ours_x ** exponent).backward(Tensor(g))
    (theirs_x ** exponent).backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(ours_x.grad), theirs_x.grad.numpy())


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                    dict(kernel_size=(3, 2), stride=(2, 1), divisor_override=5)])
def test_avg_pool2d_rounds_as_torch(torch, dtype, kwargs):
    """PyTorch's avg_pool2d divides each window's sum by its count (float16: both in float32), and its backward
    adds each output's share, rounded to the dtype, to the input pixels in the order of the outputs; tinyrrn
    multiplied by a reciprocal rounded to the dtype and added the shares in the reverse order (ulps off)."""
    rng = numpy.random.default_rng(0)
    data, g = rng.normal(size=(2, 3, 9, 7)).astype(dtype), rng.normal(size=120).astype(dtype)
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    ours, theirs = F.avg_pool2d(ours_x, **kwargs), tf.avg_pool2d(theirs_x, **kwargs)
    numpy.testing.assert_array_equal(host(ours.detach()), theirs.detach().numpy())
    g = numpy.resize(g, theirs.shape)
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(ours_x.grad), theirs_x.grad.numpy())


@pytest.mark.parametrize("output_size", [4, (3, 5), (7, 6)])
def test_float16_adaptive_avg_pool2d_rounds_as_torch(torch, output_size):
    """PyTorch sums each bin in float32 and divides by its height, then its width, rounding once; the gradient's
    shares are g / height / width rounded at each step. tinyrrn averaged with weights rounded to float16 (1/3 is
    0.3333), a few ulps off in half the outputs."""
    rng = numpy.random.default_rng(0)
    data = rng.normal(size=(2, 3, 9, 7)).astype("float16")
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    ours, theirs = F.adaptive_avg_pool2d(ours_x, output_size), tf.adaptive_avg_pool2d(theirs_x, output_size)
    numpy.testing.assert_array_equal(host(ours.detach()), theirs.detach().numpy())
    g = rng.normal(size=theirs.shape).astype("float16")
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))  # the shares add in another order where bins overlap: an ulp at most
    numpy.testing.assert_allclose(host(ours_x.grad), theirs_x.grad.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("axis", [1])  # (along another dim, PyTorch's float16 softmax is a few ulps elsewhere)
def test_float16_softmax_gradient_rounds_once_as_torch(torch, axis):
    """PyTorch's softmax is exp(x - max) / sum, and its backward y (g - sum(g y)) in float32 for float16, rounded
    once; tinyrrn took exp(log_softmax) and rounded each step of the backward to float16 (a third of the
    gradients an ulp or more off)."""
    rng = numpy.random.default_rng(0)
    data, g = (rng.normal(size=(16, 30)) * 3).astype("float16"), rng.normal(size=(16, 30)).astype("float16")
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    F.softmax(ours_x, axis).backward(Tensor(g))
    torch.softmax(theirs_x, axis).backward(torch.tensor(g))
    assert_float16_softmax_equal(host(ours_x.grad), theirs_x.grad.numpy(), torch)


@pytest.mark.parametrize("case", ["reciprocal", "rdiv", "div"])
def test_float16_division_gradients_as_torch(torch, case):
    """PyTorch's gradients: reciprocal's -g * (out * out) (2.5 / x is x.reciprocal() * 2.5), and the divisor's
    -g * ((a / b) / b), each step rounded to float16; tinyrrn computed reciprocal as 1 / x through div, and
    (-g * q) / b (ulps off in a third of them)."""
    rng = numpy.random.default_rng(0)
    a, b, g = (rng.uniform(0.5, 3, 300).astype("float16") for _ in range(3))
    grads = []
    for lib, fn in ((Tensor, {"reciprocal": F.reciprocal, "rdiv": lambda x, y: 2.5 / x, "div": lambda x, y: y / x}),
                    (torch.tensor, {"reciprocal": torch.reciprocal, "rdiv": lambda x, y: 2.5 / x,
                                    "div": lambda x, y: y / x})):
        x, y = lib(a.copy(), requires_grad=True), lib(b.copy())
        out = fn[case](x) if case == "reciprocal" else fn[case](x, y)
        out.backward(lib(g.copy()))
        grads.append(numpy.asarray(host(x.grad) if lib is Tensor else x.grad.numpy()))
    numpy.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=1), dict(kernel_size=2, stride=1, dilation=2),
                                    dict(kernel_size=4, stride=1, padding=2, ceil_mode=True)])
def test_max_pool2d_gradient_adds_in_torchs_order(torch, dtype, kwargs):
    """A pixel that is the maximum of several windows gets their gradients added in the order of the windows, as
    PyTorch's max_pool2d backward; tinyrrn added them in the reverse order (an ulp off in float32 and float16)."""
    rng = numpy.random.default_rng(0)
    data = numpy.round(rng.normal(size=(2, 3, 12, 11)) * 2).astype(dtype)  # ties: a pixel is often several maxima
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    ours, theirs = F.max_pool2d(ours_x, **kwargs), tf.max_pool2d(theirs_x, **kwargs)
    g = rng.normal(size=theirs.shape).astype(dtype)
    ours.backward(Tensor(g))
    theirs.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(ours_x.grad), theirs_x.grad.numpy())


@pytest.mark.parametrize("base", [2.3, 0.7, 0.0, -2.0])
def test_float16_gradient_of_a_number_to_a_tensor_power_as_torch(torch, base):
    """PyTorch's gradient of base ** x for a number base is g * (out * log(base)): the log in double and the product
    as mul takes a number (float16 in float32); tinyrrn took the log of base rounded to float16 (2.3 is 2.3008)."""
    rng = numpy.random.default_rng(0)
    data, g = rng.uniform(-3, 3, 500).astype("float16"), rng.normal(size=500).astype("float16")
    ours_x, theirs_x = Tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
    F.pow(base, ours_x).backward(Tensor(g))
    torch.pow(base, theirs_x).backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(ours_x.grad), theirs_x.grad.numpy())


@pytest.mark.parametrize("op, weight_shape", [("conv2d", (3, 0, 3, 3)), ("conv_transpose2d", (0, 3, 3, 3))])
def test_a_convolution_of_0_input_channels_is_refused(op, weight_shape):
    """PyTorch 2.13's conv2d of 0 input channels answers an output of 0 channels, not the weight's 3 (and its
    conv_transpose2d refuses); tinyrrn failed with a ZeroDivisionError deep inside: a clear refusal instead."""
    x, w = Tensor(numpy.zeros((1, 0, 5, 5))), Tensor(numpy.zeros(weight_shape))
    with pytest.raises(tinyrrn.functional.ArgumentError, match="0 channels is refused"):
        getattr(F, op)(x, w)


@pytest.mark.parametrize("threads", [1, 2])
def test_convolutions_batch_norm_and_linear_give_inf_and_nan_without_numpys_warnings(monkeypatch, threads):
    """An inf or NaN activation: PyTorch's conv2d, conv_transpose2d, batch norm (fused too) and linear give inf and
    NaN silently, forward and backward; NumPy warned of an invalid value (inf - inf) in their products and passes,
    on every thread that computed a block."""
    from tinyrrn import threads as pool
    from tinyrrn.functional import conv
    monkeypatch.setattr(pool, "MIN_BLOCK_ELEMENTS", 8)
    monkeypatch.setattr(pool, "MIN_BLOCK_FLOPS", 64)
    monkeypatch.setattr(conv, "COLUMN_BLOCK_BYTES", 64)
    pool.set_threads(threads)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 6))
    x[0, 0, 2, 2], x[0, 1, 2, 3], x[1, 2, 1, 1] = numpy.inf, -numpy.inf, numpy.nan
    w, wt = on_device(rng.standard_normal((3, 4, 3, 3))), on_device(rng.standard_normal((4, 3, 3, 3)))
    mean, var = on_device(numpy.zeros(4)), on_device(numpy.ones(4))
    ops = [lambda x: F.conv2d(x, Tensor(w), None, 1, 1), lambda x: F.conv2d(x, Tensor(w), None, 2, 1),
           lambda x: F.conv2d(x, Tensor(wt[:, :2]), None, 1, 1, 1, 2), lambda x: F.conv_transpose2d(x, Tensor(wt), None, 2),
           lambda x: F.batch_norm(x, None, None, training=True), lambda x: F.batch_norm_relu(x, mean, var),
           lambda x: F.batch_norm_add_relu(x, x, mean, var, training=True),
           lambda x: F.linear(x.reshape(2, -1), Tensor(on_device(rng.standard_normal((3, 144)))))]
    try:
        for op in ops:
            xt = Tensor(on_device(x), requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                y = op(xt)
                y.backward(on_device(numpy.ones(y.shape)))
            assert numpy.isnan(host(y.detach())).any()
    finally:
        pool.set_threads()


BACKWARD_INPUTS = {  # z = (x * w).sum() with h = x * w; which tensors backward(inputs=...) names
    "leaf": lambda x, w, h: [x], "one_tensor": lambda x, w, h: x, "computed": lambda x, w, h: [h],
    "computed_and_leaf": lambda x, w, h: (h, w), "twice": lambda x, w, h: [x, x],
}


@pytest.mark.parametrize("case", BACKWARD_INPUTS)
def test_backward_inputs_reach_only_those_tensors_as_torchs(torch, case):
    """backward(inputs=...) accumulates into the named tensors alone (a computed one keeps its gradient, as
    retain_grad()), and runs no hook outside the part of the graph that leads to them, as PyTorch's; tinyrrn
    refused inputs= as unsupported."""
    results = []
    for tensor in (lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True),
                   lambda v: Tensor(on_device(numpy.array(v)), requires_grad=True)):
        x, w = tensor([1.0, 2.0]), tensor([3.0, -4.0])
        h = x * w
        calls = []
        x.register_hook(lambda g: calls.append("x"))
        h.register_hook(lambda g: calls.append("h"))
        z = (h * h).sum()
        z.backward(inputs=BACKWARD_INPUTS[case](x, w, h))
        grads = [None if t.grad is None else numpy.asarray(host(t.grad) if isinstance(t, Tensor) else t.grad.numpy())
                 .tolist() for t in (x, w, h)]
        results.append((grads, calls, h.retains_grad))
    assert results[0] == results[1]


HOOK_ORDER = {  # graphs whose tensors have hooks that log their names: the order backward() calls them in
    "mul": lambda m, t: t("a") * t("b"),
    "cat": lambda m, t: m.cat([t(n) for n in "abcde"]),
    "leaf used twice": lambda m, t: (lambda a, b, c: a * b + c * a + b)(t("a"), t("b"), t("c")),
    "conv2d": lambda m, t: m.conv2d(t("x", 1, 2, 4, 4), t("w", 3, 2, 3, 3), t("b", 3)),
    "batch_norm": lambda m, t: m.batch_norm(t("x", 2, 3, 2, 2), None, None, t("w", 3), t("b", 3), training=True),
    "linear": lambda m, t: m.linear(t("x", 2, 3), t("w", 4, 3), t("b", 4)),
    "linear of a computed input": lambda m, t: m.linear(m.relu(t("x", 2, 3)), t("w", 4, 3), t("b", 4)),
    "linear without bias": lambda m, t: m.linear(t("x", 2, 3), t("w", 4, 3)),
    "two layers": lambda m, t: m.linear(m.relu(m.linear(t("x", 2, 3), t("w1", 4, 3), t("b1", 4))), t("w2", 2, 4),
                                        t("b2", 2)),
    "computed tensors": lambda m, t: (lambda a: (lambda h1, h2: h2 + h1)(t("h1", of=a * 2), t("h2", of=a * 3)))(
        t("a")),
}


@pytest.mark.parametrize("case", HOOK_ORDER)
def test_hooks_run_in_the_order_of_torchs_engine(torch, case):
    """Tensor hooks (and so post-accumulate-grad hooks) run when PyTorch's engine reaches their tensor's node: the
    node made last first, a leaf as soon as the last op that used it has passed its gradient, leaves made ready
    together in the order of its priority queue. tinyrrn's reverse topological order called the hooks of an op's
    inputs from the last to the first (a conv's bias before its weight, b before a in a * b), where PyTorch's
    engine calls them from the first."""
    calls = {}
    for library, m in (("torch", torch.nn.functional), ("tinyrrn", F)):
        m.cat = torch.cat if library == "torch" else F.concatenate
        rng = numpy.random.default_rng(0)
        log = calls[library] = []

        def t(name, *shape, of=None):
            if of is None:
                data = rng.standard_normal(shape or (2,))
                of = (torch.tensor(data, requires_grad=True) if library == "torch"
                      else Tensor(on_device(data), requires_grad=True))
            of.register_hook(lambda g: log.append(name))
            return of
        HOOK_ORDER[case](m, t).sum().backward()
    assert calls["tinyrrn"] == calls["torch"]



BACKWARD_REFUSALS = {  # (the graph, the gradient given to backward()) and the words of PyTorch's RuntimeError
    "requires no grad": (lambda x, m: (x.detach() * 2).sum(), None, "element 0 of tensors does not require grad"),
    "made under no_grad": (lambda x, m: m.no_grad_sum(x), None, "element 0 of tensors does not require grad"),
    "integer output": (lambda x, m: x.argmax(), None, "element 0 of tensors does not require grad"),
    "no gradient for many elements": (lambda x, m: x * 2, None, "grad can be implicitly created only for scalar"),
    "gradient of another shape": (lambda x, m: x * 2, [[1.0, 1.0]], "Mismatch in shape"),
}


@pytest.mark.parametrize("case", BACKWARD_REFUSALS)
def test_backward_refuses_in_torchs_words(torch, case):
    # tinyrrn's refusals said what was wrong in words of its own, which a test written against PyTorch's
    # ("element 0 of tensors does not require grad") did not find
    graph, gradient, words = BACKWARD_REFUSALS[case]
    for library, tensor in ((torch, lambda v, grad=True: torch.tensor(v, requires_grad=grad)),
                            (tinyrrn, lambda v, grad=True: Tensor(on_device(numpy.array(v, "float32")),
                                                                  requires_grad=grad))):
        def no_grad_sum(x):
            with library.no_grad():
                return x.sum()
        m = types.SimpleNamespace(no_grad_sum=no_grad_sum)
        x = tensor([1.0, 2.0])
        with pytest.raises(RuntimeError, match=words):
            graph(x, m).backward(None if gradient is None else tensor(gradient, False))

def test_backward_inputs_are_checked_as_torchs(torch):
    """PyTorch refuses an empty inputs=, a non-tensor among them and one that requires no grad (RuntimeError); a
    tensor that requires grad outside the graph gets nothing."""
    for tensor in (lambda v, grad=True: torch.tensor(v, requires_grad=grad),
                   lambda v, grad=True: Tensor(on_device(numpy.array(v, "float32")), requires_grad=grad)):
        x = tensor([1.0, 2.0])
        e = x.exp()
        z = e.sum()
        for inputs, match in (([], "cannot be empty"), ([1.0], "Tensors"), ([tensor([1.0], False)], "requires_grad")):
            with pytest.raises(RuntimeError, match=match):
                z.backward(inputs=inputs, retain_graph=True)
        other = tensor([1.0])
        z.backward(inputs=[other, e])
        assert other.grad is None and x.grad is None and e.grad.tolist() == [1.0, 1.0]
        (x * 3).sum().backward()  # another graph of x's
        assert x.grad.tolist() == [3.0, 3.0]


def test_a_second_backward_with_inputs_through_a_freed_graph_is_refused_as_torchs(torch):
    # tinyrrn's freed node has lost its edges, so inputs= found no path through it and the second backward() ran
    # nothing, in silence (x.grad stayed as the first left it), where PyTorch's refuses
    for tensor in (lambda v: torch.tensor(v, requires_grad=True),
                   lambda v: Tensor(on_device(numpy.array(v, "float32")), requires_grad=True)):
        x = tensor([1.0, 2.0])
        z = (x.exp() * x).sum()
        z.backward(inputs=[x])
        with pytest.raises(RuntimeError, match="second time"):
            z.backward(inputs=[x])


NUMBER_ARGUMENTS = {  # ops that convert a number argument to their result dtype with PyTorch's overflow check
    "clamp min": lambda m, x, v: m.clamp(x, v), "clamp max": lambda m, x, v: m.clamp(x, max=v),
    "clamp both": lambda m, x, v: m.clamp(x, -1, v), "where other": lambda m, x, v: m.where(x > 0, x, v),
    "where input": lambda m, x, v: m.where(x > 0, v, x),
}


@pytest.mark.parametrize("case", NUMBER_ARGUMENTS)
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "bool"])
def test_a_number_argument_beyond_the_result_dtype_is_refused_as_torchs(torch, case, dtype):
    # clamp and where converted a number to their result dtype as NumPy does: clamp(int8, max=1000) clamped at -24,
    # where(c, uint8, 300) gave 44 and a float32 where() of 1e300 inf, in silence, where PyTorch refuses the value
    op, data = NUMBER_ARGUMENTS[case], numpy.array([1, 0, 2]).astype(dtype)
    for value in (1000, 300, -1, -256, 70000, 2 ** 31, 2 ** 63 - 1, 2 ** 63, 1e6, 1e300, math.inf, 2.5):
        if case == "clamp both" and value == 2 ** 63:  # (-1 and a uint64 number: PyTorch's promotion in corners)
            continue
        ours = Tensor(on_device(data))
        try:
            theirs = op(torch, torch.tensor(data), value)
        except RuntimeError as error:
            with pytest.raises(RuntimeError, match="overflow" if "overflow" in str(error) else None):
                op(F, ours, value)
            continue
        except NotImplementedError:  # (a bool clamp)
            with pytest.raises(NotImplementedError):
                op(F, ours, value)
            continue
        result = op(F, ours, value)
        assert str(result.dtype) == str(theirs.dtype).replace("torch.", ""), value
        numpy.testing.assert_array_equal(host(result), theirs.numpy(), err_msg=str(value))


@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64", "bool"])
def test_an_integer_alpha_converts_to_the_result_dtype_as_torchs(torch, op, dtype):
    # an integer (or bool) add's or sub's alpha multiplied b in int64 before: add(int8, int8, alpha=1000) wrapped in
    # silence where PyTorch refuses alpha, and add(bool, bool, alpha=2) was an int64 tensor of 3s, PyTorch's a bool one
    data = numpy.array([1, 0, 2]).astype(dtype)
    for alpha in (2, 0, -1, 127, 128, -128, -129, 255, -255, -256, 1000, 70000, 2 ** 31, True, False, 2 ** 64):
        if op == "sub" and dtype == "bool" and alpha == 2 ** 64:  # (PyTorch reads its arguments before its refusal)
            continue
        try:
            theirs = getattr(torch, op)(torch.tensor(data), torch.tensor(data), alpha=alpha)
        except OverflowError:
            with pytest.raises(OverflowError):
                getattr(F, op)(Tensor(on_device(data)), Tensor(on_device(data)), alpha=alpha)
            continue
        except RuntimeError as error:
            with pytest.raises(RuntimeError, match="overflow" if "overflow" in str(error) else None):
                getattr(F, op)(Tensor(on_device(data)), Tensor(on_device(data)), alpha=alpha)
            continue
        ours = getattr(F, op)(Tensor(on_device(data)), Tensor(on_device(data)), alpha=alpha)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), alpha
        numpy.testing.assert_array_equal(host(ours), theirs.numpy(), err_msg=str(alpha))
    if dtype == "int8":  # alpha * b in the result dtype (int16 here), not in b's (uint8: 400 wrapped to 144)
        theirs = getattr(torch, op)(torch.tensor(data), torch.tensor([200, 1, 2], dtype=torch.uint8), alpha=2)
        ours = getattr(F, op)(Tensor(on_device(data)), Tensor(on_device(numpy.array([200, 1, 2], "uint8"))), alpha=2)
        assert ours.dtype == "int16"
        numpy.testing.assert_array_equal(host(ours), theirs.numpy())


@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "tanh", "sqrt"])
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64"])
def test_a_float_function_of_an_integer_tensor_is_float32_as_torchs(torch, name, dtype):
    # exp, log, sigmoid and tanh refused integer and bool tensors, where PyTorch computes them in float32 (as sqrt did)
    data = numpy.array([3, 0, 1, 5] if dtype in ("bool", "uint8") else [-3, 0, 1, 5]).astype(dtype)
    ours, theirs = getattr(F, name)(Tensor(on_device(data))), getattr(torch, name)(torch.tensor(data))
    assert ours.dtype == "float32" and theirs.dtype == torch.float32
    numpy.testing.assert_allclose(host(ours), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64"])
def test_matmul_and_linear_of_integer_tensors_as_torchs(torch, dtype):
    # matmul and linear refused integer tensors, which PyTorch multiplies in their dtype (int8 wraps, as there);
    # a bool one PyTorch refuses (NotImplementedError), and so does tinyrrn
    x, w, b = (numpy.array(v).astype(dtype) for v in ([[1, 2, 0], [3, 1, 1]], [[100, 100, 1], [0, 1, 1]], [1, 0]))
    cases = {"matmul": lambda m, x, w, b: m.matmul(x, w.T), "vector": lambda m, x, w, b: m.matmul(x[0], w[0]),
             "linear": lambda m, x, w, b: (m.nn.functional if m is torch else m).linear(x, w),
             "linear bias": lambda m, x, w, b: (m.nn.functional if m is torch else m).linear(x, w, b),
             "@": lambda m, x, w, b: x @ w.T}
    for name, case in cases.items():
        try:
            theirs = case(torch, *map(torch.tensor, (x, w, b)))
        except NotImplementedError:
            with pytest.raises(NotImplementedError, match="Bool"):
                case(F, *(Tensor(on_device(v)) for v in (x, w, b)))
            continue
        ours = case(F, *(Tensor(on_device(v)) for v in (x, w, b)))
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), name
        numpy.testing.assert_array_equal(host(ours), theirs.numpy(), err_msg=name)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64"])
def test_relu_of_an_integer_tensor_keeps_its_dtype_as_torchs(torch, dtype):
    # relu refused integer tensors, which PyTorch's keeps in their dtype; a bool one both refuse
    data = numpy.array([3, 0, 1, 5] if dtype in ("bool", "uint8") else [-3, 0, 1, 5]).astype(dtype)
    for ours_op, theirs_op in ((F.relu, torch.relu), (lambda x: F.relu(x, inplace=True), torch.relu_),
                               (tinyrrn.nn.ReLU(), torch.nn.ReLU())):
        try:
            theirs = theirs_op(torch.tensor(data))
        except RuntimeError:
            with pytest.raises(RuntimeError, match="Boolean"):
                ours_op(Tensor(on_device(data)))
            continue
        ours = ours_op(Tensor(on_device(data)))
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_array_equal(host(ours), theirs.numpy())


@pytest.mark.parametrize("dtype", ["float16", "float32", "int8", "uint8", "int64", "bool"])
def test_fill_converts_a_number_with_torchs_check_and_a_0d_tensor_as_a_copy(torch, dtype):
    # fill_ and nn.init.constant_ wrote a number beyond float16's range as inf, where PyTorch's fill_ refuses it
    # (as it refuses 1000 into int8), and refused a 0-d tensor's value of 1000 into int8 or NaN into an int tensor,
    # which PyTorch's fill_ converts as x.to(dtype) converts it (-24, 0)
    for value in (65520.0, 1e39, 1000, -1, 2.7, math.nan, "0-d 1000", "0-d nan", "0-d 1e39", "0-d 7e4"):
        def run(tensor, fill):
            val = tensor(numpy.array(float(value.split()[1]))) if isinstance(value, str) else value  # (float64)
            target = tensor(numpy.zeros(2, dtype))
            try:
                fill(target, val)
            except RuntimeError as error:
                return "overflow" if "overflow" in str(error) else "refused"
            return repr(host(target).tolist() if isinstance(target, Tensor) else target.numpy().tolist())
        for fill, theirs_fill in ((lambda t, v: t.fill_(v), lambda t, v: t.fill_(v)),
                                  (tinyrrn.nn.init.constant_, torch.nn.init.constant_)):
            theirs = run(torch.tensor, theirs_fill)
            assert run(lambda a: Tensor(on_device(a)), fill) == theirs, value


SIGNED_ZERO_TIES = {  # fn(m, x) of x = [-0.0, 0.0, -1.0, 2.0] (x 17: NumPy's and PyTorch's vector loops too)
    "relu": lambda m, x: m.relu(x),
    "ReLU module": lambda m, x: m.ReLU()(x),
    "relu in place": lambda m, x: m.relu(x.clone(), inplace=True),
    "relu of a sum": lambda m, x: m.relu(x + 0.0 * x),
    "add_relu": lambda m, x: m.add_relu(x, 0.0 * x),
    "clamp min 0": lambda m, x: m.clamp(x, min=0.0),
    "clamp max -0": lambda m, x: m.clamp(x, max=-0.0),
    "clamp both": lambda m, x: m.clamp(x, min=0.0, max=-0.0),
    "clamp_min": lambda m, x: m.clamp_min(x, 0.0),
}


@pytest.mark.parametrize("case", list(SIGNED_ZERO_TIES))
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_a_bound_tied_with_the_input_keeps_the_inputs_zero_sign_as_torch(torch, case, dtype):
    """relu and clamp keep x where x equals the bound (PyTorch's select, x < 0 ? 0 : x): relu(-0.0) is -0.0,
    clamp(0.0, max=-0.0) is 0.0."""
    x = numpy.tile(numpy.array([-0.0, 0.0, -1.0, 2.0], dtype), 17)
    fn = SIGNED_ZERO_TIES[case]
    ours = host(fn(types.SimpleNamespace(**vars(F), ReLU=tinyrrn.nn.ReLU), Tensor(on_device(x))).data)
    theirs = fn(types.SimpleNamespace(**vars(T), clamp=torch.clamp, clamp_min=torch.clamp_min, ReLU=torch.nn.ReLU,
                                   add_relu=lambda a, b: torch.relu(a + b)), torch.tensor(x)).numpy()
    numpy.testing.assert_array_equal(numpy.signbit(ours), numpy.signbit(theirs))
    numpy.testing.assert_array_equal(ours, theirs)
