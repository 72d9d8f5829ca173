"""F.conv2d's fast paths against its reference path (im2col; col2im for the input gradient)."""
import numpy
import pytest

from tinyrrn import Tensor, gradcheck, no_grad, threads
from tinyrrn import functional as F
from tinyrrn.functional import conv, winograd

CASES = [  # (C, O, kernel, stride, padding, dilation, groups)
    (3, 4, 3, 1, 1, 1, 1), (3, 4, 3, 1, 0, 1, 1), (3, 4, 3, 1, 2, 1, 1), (2, 3, 5, 1, 2, 1, 1),
    (2, 3, 4, 1, "same", 1, 1), (2, 3, 3, 1, 2, 2, 1), (2, 3, 1, 1, 0, 1, 1), (2, 2, 3, 1, 3, 1, 1),
    (4, 2, 3, 1, 1, 1, 2), (3, 4, 3, 2, 1, 1, 1), (3, 4, 1, 2, 0, 1, 1), (2, 3, 3, 3, 1, 2, 1), (4, 4, 3, 2, 1, 1, 2),
    (2, 3, 4, 2, 3, 1, 1),
]


def reference_input_gradient(x, weight, g, stride, padding, dilation, groups):
    """im2col's adjoint, as the lesson teaches it: g @ weights, then col2im."""
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    pads = (((padding,) * 2,) * 2 if isinstance(padding, int) else
            conv._same_or_valid(padding, (stride, stride), (kh, kw), (dilation, dilation)))
    g_stack = conv._grouped(g.transpose(0, 2, 3, 1).reshape(-1, g.shape[1]), groups)
    products = g_stack @ conv._weight_rows(weight, groups)  # (groups, R, kh*kw*C/groups): rows (tap, group, c)
    g_cols = products.reshape(groups, len(products[0]), kh * kw, -1).transpose(1, 2, 0, 3).reshape(len(products[0]), -1)
    return conv.col2im(g_cols, (n, h, w, c), (kh, kw), (stride, stride), pads, g.shape[2:],
                       (dilation, dilation)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("case", CASES)
def test_the_input_gradient_equals_col2im(rng, case, dtype, tolerance):
    c, o, k, stride, padding, dilation, groups = case
    x = Tensor(rng.standard_normal((2, c, 7, 6)).astype(dtype), requires_grad=True)
    weight = Tensor(rng.standard_normal((o, c // groups, k, k)).astype(dtype), requires_grad=True)
    y = F.conv2d(x, weight, None, stride, padding, dilation, groups)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    expected = reference_input_gradient(x.data, weight.data, g, stride, padding, dilation, groups)
    numpy.testing.assert_allclose(x.grad, expected, rtol=tolerance, atol=tolerance * numpy.abs(expected).max())
    if stride == 1 and groups == 1 and padding != 3:  # the convolution path: a contiguous channels-last result
        assert x.grad.data.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.fixture
def winograd_everywhere(monkeypatch):
    """F.conv2d takes the Winograd path for every 3x3 stride-1 convolution it covers; count the calls."""
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv, "WINOGRAD_MIN_SIZE", 1)
    calls = []
    forward = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *args: calls.append(1) or forward(*args))
    return calls


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-11), ("float32", 2e-5)])
@pytest.mark.parametrize("padding, bias", [(1, True), (0, False), ("same", True), (2, False)])
def test_the_winograd_path_of_conv2d_equals_im2col(winograd_everywhere, rng, dtype, tolerance, padding, bias):
    def run():
        x = Tensor(rng_x.astype(dtype), requires_grad=True)
        weight = Tensor(rng_w.astype(dtype), requires_grad=True)
        b = Tensor(rng_b.astype(dtype), requires_grad=True) if bias else None
        y = F.conv2d(x, weight, b, 1, padding)
        y.backward(rng_g[:, :, :y.shape[2], :y.shape[3]].astype(dtype))
        return [y.data, x.grad, weight.grad] + ([b.grad] if bias else [])

    rng_x, rng_w, rng_b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    rng_g = rng.standard_normal((2, 4, 11, 10))
    fast = run()
    assert len(winograd_everywhere) == 2  # the forward and the input gradient
    conv.WINOGRAD_MIN_CHANNELS = 10 ** 9  # the reference: im2col (restored by monkeypatch)
    reference = run()
    assert len(winograd_everywhere) == 2
    for ours, theirs in zip(fast, reference):
        numpy.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance * numpy.abs(theirs).max())


def test_the_winograd_path_passes_a_gradient_check(winograd_everywhere, rng):
    threads.set_threads(2)
    x = Tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
    weight = Tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    bias = Tensor(rng.standard_normal(2), requires_grad=True)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, weight, bias])
    assert winograd_everywhere


def test_resnet50_sized_layers_take_the_winograd_path_on_the_cpu_and_others_column_blocks(strict_gpu):
    def pays(channels, hw, xp=numpy):
        return conv._winograd_pays(xp.zeros((1, hw, hw, channels), "float32"), channels, (hw, hw))
    assert pays(128, 28) and pays(256, 14)
    assert not pays(64, 56) and not pays(512, 7) and not pays(16, 40)
    assert not pays(128, 28, strict_gpu) and not pays(256, 14, strict_gpu)  # a GPU: im2col and one product


@pytest.mark.parametrize("blocks_of", ["lines", "images"])
@pytest.mark.parametrize("case", [c for c in CASES if c[-1] == 1])
def test_columns_gathered_block_by_block_give_the_one_product(monkeypatch, rng, case, blocks_of):
    """conv2d's blocked path (columns gathered and multiplied a block at a time, on the pool) against
    im2col and one product, forward and both gradients, in float64; and a gradient check."""
    c, o, k, stride, padding, dilation, _ = case
    x = rng.standard_normal((3, c, 7, 6))
    weight, g = rng.standard_normal((o, c, k, k)), None

    def run(block):
        nonlocal g
        monkeypatch.setattr(conv, "COLUMN_BLOCK_BYTES", block)
        xt, wt = Tensor(x.copy(), requires_grad=True), Tensor(weight.copy(), requires_grad=True)
        y = F.conv2d(xt, wt, None, stride, padding, dilation)
        g = rng.standard_normal(y.shape) if g is None else g
        y.backward(g)
        return y.data, xt.grad, wt.grad

    pads = conv._same_or_valid(padding, (1, 1), (k, k), (dilation,) * 2) if padding == "same" else (padding,) * 2
    monkeypatch.setattr(conv, "PLANES_MAX_CHANNELS", 0)  # column blocks for every input (tested below against planes)
    monkeypatch.setattr(conv, "WEIGHT_GRADIENT_BLOCK_ROWS", 1)  # the weight gradient in such blocks too
    view = conv.windows(numpy.zeros((3, 7, 6, c)), (k, k), (stride,) * 2, pads, (dilation,) * 2)[0]
    block_bytes = 8 if blocks_of == "lines" else view[0].size * 8  # a few lines of one image; one image
    monkeypatch.setattr(conv, "COLUMN_BLOCK_BYTES", block_bytes)
    assert len(conv._column_blocks(view, o)) >= 3
    threads.set_threads(2)
    expected = run(2**40)  # one block: im2col and one product
    for got, want in zip(run(block_bytes), expected):
        numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    gradcheck(lambda x, w: F.conv2d(x, w, None, stride, padding, dilation),
              [Tensor(x[:1], requires_grad=True), Tensor(weight, requires_grad=True)])


@pytest.mark.parametrize("blocks_of", ["lines", "images"])
@pytest.mark.parametrize("case", [c for c in CASES if c[-1] == 1 and c[3] == 1], ids=str)
def test_the_planes_of_few_channel_inputs_give_the_one_product(monkeypatch, rng, case, blocks_of):
    """Inputs of few channels (images) at stride 1 take conv._Planes: forward, the weight gradient (and the bias's)
    and the input gradient as im2col and one product, in float64, on blocks of a few output rows or of whole
    images, on two threads; float32 too; and a gradient check."""
    c, o, k, _, padding, dilation, _ = case
    x, weight, bias = rng.standard_normal((3, c, 7, 6)), rng.standard_normal((o, c, k, k)), rng.standard_normal(o)
    made, planes, g = [], conv._Planes, None
    monkeypatch.setattr(conv, "_Planes", lambda *args: made.append(planes(*args)) or made[-1])

    def run(dtype="float64"):
        nonlocal g
        xt, wt, bt = (Tensor(a.astype(dtype), requires_grad=True) for a in (x, weight, bias))
        y = F.conv2d(xt, wt, bt, 1, padding, dilation)
        g = rng.standard_normal(y.shape) if g is None else g
        y.backward(g.astype(dtype))
        return y.data, xt.grad, wt.grad, bt.grad

    threads.set_threads(2)
    monkeypatch.setattr(conv, "COLUMN_BLOCK_BYTES", 8 if blocks_of == "lines" else 2**20)
    fast = run()
    assert len(made) == 1 and len(made[0].blocks) == (3 * made[0].out_hw[0] if blocks_of == "lines" else 3)
    fast32 = run("float32")
    monkeypatch.setattr(conv, "PLANES_MAX_CHANNELS", 0)
    monkeypatch.setattr(conv, "COLUMN_BLOCK_BYTES", 2**40)  # the reference: im2col and one product
    expected, expected32 = run(), run("float32")
    assert len(made) == 2
    for got, want in zip(fast, expected):
        numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(fast32, expected32):
        numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * numpy.abs(want).max())
    monkeypatch.setattr(conv, "PLANES_MAX_CHANNELS", 4)
    gradcheck(lambda x, w: F.conv2d(x, w, None, 1, padding, dilation),
              [Tensor(x[:1], requires_grad=True), Tensor(weight, requires_grad=True)])
    assert len(made) > 2


@pytest.mark.parametrize("kernel, stride, padding, dilation", [((3, 3), (2, 2), 1, (1, 1)), ((3, 2), (3, 2), 2, (2, 1)),
                                                               ((1, 1), (2, 2), 0, (1, 1)), ((3, 3), (1, 1), 4, (1, 1)),
                                                               ((4, 4), (2, 3), (1, 2), (1, 2))])
def test_adding_tap_major_columns_in_phases_is_col2im_bit_for_bit(rng, kernel, stride, padding, dilation):
    """conv._add_taps (the input gradient's and conv_transpose2d's) adds the same numbers in the same order as
    the reference col2im the lesson teaches: each pixel its taps' values, tap after tap, onto zeros."""
    n, h, w, c = 2, 9, 8, 3
    pads = conv.as_pads(padding if isinstance(padding, tuple) else (padding, padding))
    out_hw = tuple(conv.output_size(*args) for args in zip((h, w), kernel, stride, pads, dilation))
    cols = rng.standard_normal((n * out_hw[0] * out_hw[1], kernel[0] * kernel[1] * c)).astype("float32")
    tap_cols = numpy.ascontiguousarray(cols.reshape(len(cols), -1, c).transpose(1, 0, 2))
    expected = conv.col2im(cols, (n, h, w, c), kernel, stride, pads, out_hw, dilation)
    numpy.testing.assert_array_equal(conv._add_taps(tap_cols, (n, h, w, c), kernel, stride, pads, out_hw, dilation),
                                     expected)


@pytest.mark.cpu_only("_Planes and Winograd are paths of the CPU")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's invalid value (inf - inf), which PyTorch does not give
@pytest.mark.parametrize("path, c", [("planes", 3), ("winograd", 8), ("column blocks", 8)])
def test_inf_and_nan_in_the_input_or_the_gradient_reach_the_outputs_im2col_gives(monkeypatch, rng, path, c):
    """An inf or NaN in x (or in the output's gradient) gives PyTorch's values, im2col's: inf where one product
    is inf, NaN only where a window holds NaN or both infinities. _Planes' weight gradient multiplied the 0 of
    its dropped columns with the pixels they wrap onto (0 * inf = NaN in taps that never read that pixel),
    and Winograd's transforms mix a tile's pixels (inf - inf = NaN in outputs PyTorch has at inf)."""
    if path == "winograd":
        monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1)
        monkeypatch.setattr(conv, "WINOGRAD_MIN_SIZE", 1)
    x, weight = rng.standard_normal((2, c, 6, 7)), rng.standard_normal((4, c, 3, 3))
    x[0, 0, 1, 0], x[0, 1, 3, 3], x[1, 2, 4, 6] = numpy.inf, -numpy.inf, numpy.nan
    g = rng.standard_normal((2, 4, 6, 7))
    g[1, 3, 2, 2] = numpy.inf
    xt, wt = Tensor(x, requires_grad=True), Tensor(weight, requires_grad=True)
    y = F.conv2d(xt, wt, None, 1, 1)
    y.backward(g)
    cols, _ = conv.im2col(x.transpose(0, 2, 3, 1), (3, 3), (1, 1), (1, 1))
    w_rows = conv._weight_rows(weight, 1)[0]
    g_rows = g.transpose(0, 2, 3, 1).reshape(-1, 4)
    numpy.testing.assert_allclose(y.data, (cols @ w_rows.T).reshape(2, 6, 7, 4).transpose(0, 3, 1, 2), rtol=1e-12)
    numpy.testing.assert_allclose(wt.grad, conv._weight_from_rows(g_rows.T @ cols, weight.shape), rtol=1e-12)
    numpy.testing.assert_allclose(xt.grad, reference_input_gradient(x, weight, g, 1, 1, 1, 1), rtol=1e-12)
    assert numpy.isinf(y.data).any() and numpy.isnan(y.data).any() and numpy.isfinite(wt.grad).any()


@pytest.mark.cpu_only("on a GPU a weight's inf or NaN is not looked at")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's invalid value (inf - inf), which PyTorch does not give
@pytest.mark.parametrize("path, c, padding", [("planes", 3, 0), ("column blocks", 8, 1), ("winograd", 8, 1)])
def test_an_inf_or_nan_weight_gives_the_input_gradient_col2im_gives(monkeypatch, rng, path, c, padding):
    """At stride 1 the input gradient was a convolution of g, zero-padded, with the flipped kernel: 0 * inf = NaN
    in pixels that no output reaches through the inf tap, where PyTorch's gradient is finite (inf where one
    reaches it)."""
    if path == "winograd":
        monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1)
        monkeypatch.setattr(conv, "WINOGRAD_MIN_SIZE", 1)
    x, weight = rng.standard_normal((2, c, 6, 7)), rng.standard_normal((4, c, 3, 3))
    weight[0, 1, 0, 2], weight[2, 0, 1, 1] = numpy.inf, numpy.nan
    xt = Tensor(x, requires_grad=True)
    y = F.conv2d(xt, Tensor(weight), None, 1, padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    numpy.testing.assert_allclose(xt.grad, reference_input_gradient(x, weight, g, 1, padding, 1, 1), rtol=1e-12)
    assert numpy.isfinite(xt.grad[:, 2:]).all()


def test_the_winograd_path_takes_an_empty_batch(winograd_everywhere):
    """A batch of 0 images gives PyTorch's empty output and gradients: Winograd's products were reshaped with a -1
    that a size of 0 leaves open (NumPy's ValueError), in conv2d, its input gradient and conv2d_affine."""
    x = Tensor(numpy.zeros((0, 3, 6, 5)), requires_grad=True)
    weight = Tensor(numpy.ones((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, weight, None, 1, 1)
    y.backward(numpy.zeros(y.shape))
    assert y.shape == (0, 4, 6, 5) and x.grad.shape == x.shape
    numpy.testing.assert_array_equal(weight.grad, numpy.zeros(weight.shape))
    with no_grad():
        assert F.conv2d_affine(x, weight, Tensor(numpy.ones(4)), Tensor(numpy.zeros(4)), padding=1).shape == y.shape
    assert len(winograd_everywhere) == 3
