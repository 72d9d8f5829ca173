"""The fast 3x3 convolution (Winograd F(2x2, 3x3)) against the im2col reference, float64 and float32: the
forward pass and the input gradient (conv2d takes the weight gradient from column blocks)."""
import numpy
import pytest

import strict_xp
from tinyrrn import Tensor, threads
from tinyrrn import functional as F
from tinyrrn.functional import winograd

SHAPES = [  # (N, H, W, C, O, padding): tiles that divide and overhang, one channel, every padding
    (2, 8, 8, 3, 4, 1), (1, 7, 9, 1, 2, 1), (3, 5, 6, 4, 3, 0), (2, 6, 5, 2, 5, 2), (1, 3, 3, 2, 2, 0),
]


def reference(x, weight, g, padding):
    """Output and input gradient of F.conv2d (im2col), channels-last arrays."""
    xt = Tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = Tensor(weight, requires_grad=True)
    y = F.conv2d(xt, wt, None, 1, padding)
    y.backward(g.transpose(0, 3, 1, 2))
    return y.data.transpose(0, 2, 3, 1), xt.grad.data.transpose(0, 2, 3, 1)


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def blocks_on_threads(request, monkeypatch):
    """One image per block, so several blocks run, on one thread or two."""
    monkeypatch.setattr(winograd, "BLOCK_ELEMENTS", 1)
    threads.set_threads(request.param)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-11), ("float32", 2e-5)])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_input_gradient_equal_im2col(blocks_on_threads, rng, shape, dtype, tolerance):
    n, h, w, c, o, padding = shape
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    weight = rng.standard_normal((o, c, 3, 3)).astype(dtype)
    g = rng.standard_normal((n, h + 2 * padding - 2, w + 2 * padding - 2, o)).astype(dtype)
    y_ref, gx_ref = reference(x, weight, g, padding)
    y = winograd.conv3x3(x, weight, padding)
    gx = winograd.conv3x3_input_grad(g, weight, padding)
    for ours, theirs in ((y, y_ref), (gx, gx_ref)):
        assert ours.shape == theirs.shape and ours.dtype == dtype
        scale = numpy.abs(theirs).max()
        numpy.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance * scale)


def test_the_input_gradient_is_the_adjoint_of_the_forward_pass(rng):
    """<conv(x, w), g> = <x, input_grad(g, w)> in float64."""
    x, weight = rng.standard_normal((2, 9, 7, 3)), rng.standard_normal((4, 3, 3, 3))
    y = winograd.conv3x3(x, weight, 1)
    g = rng.standard_normal(y.shape)
    value = (y * g).sum()
    assert (x * winograd.conv3x3_input_grad(g, weight, 1)).sum() == pytest.approx(value, rel=1e-12)


def test_memory_layouts(rng):
    """The output and input gradient are contiguous channels-last."""
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    weight = F.channels_last(rng.standard_normal((4, 3, 3, 3)).astype("float32"))
    y = winograd.conv3x3(x, weight, 1)
    assert y.flags.c_contiguous and winograd.conv3x3_input_grad(y, weight, 1).flags.c_contiguous


def test_covers_only_stride_one_3x3():
    same = ((1, 1), (1, 1))
    assert winograd.covers((3, 3), (1, 1), same) and winograd.covers((3, 3), (1, 1), ((0, 0), (0, 0)))
    assert not winograd.covers((3, 3), (2, 2), same)
    assert not winograd.covers((1, 1), (1, 1), ((0, 0), (0, 0)))
    assert not winograd.covers((3, 3), (1, 1), same, dilation=(2, 2))
    assert not winograd.covers((3, 3), (1, 1), same, groups=2)
    assert not winograd.covers((3, 3), (1, 1), ((3, 3), (3, 3)))
    assert not winograd.covers((3, 3), (1, 1), ((1, 0), (1, 0)))  # 'same' padding of an even kernel


def test_runs_on_the_strict_device_stand_in(rng):
    """One code path: no NumPy call or host round trip hides in it (tests/strict_xp.py)."""
    x, weight = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((2, 6, 5, 4))
    dx, dw, dg = (strict_xp.asarray(a) for a in (x, weight, g))
    for ours, theirs in ((winograd.conv3x3(dx, dw, 1), winograd.conv3x3(x, weight, 1)),
                         (winograd.conv3x3_input_grad(dg, dw, 1), winograd.conv3x3_input_grad(g, weight, 1))):
        assert isinstance(ours, strict_xp.StrictArray)
        numpy.testing.assert_allclose(ours.get(), theirs, rtol=1e-12)
