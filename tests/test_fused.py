"""Fused and threaded element-wise ops: batch_norm_relu, batch_norm_add_relu, add_relu, and the passes split over
threads."""
import numpy
import pytest

from tinyrrn import Tensor, backend, gradcheck, no_grad, threads
from tinyrrn import functional as F
from tinyrrn.functional import channels_last
from tinyrrn.functional import conv as conv_module
from tinyrrn.nn import BatchNorm2d, Conv2d, conv_bn


def t(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def small_blocks(request, monkeypatch):
    """Blocks of a few values, so that every pass is cut into many blocks, on one thread or two."""
    monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", 7)
    threads.set_threads(request.param)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_relu_gradients(small_blocks, rng, training):
    x, w, b = t(rng, 4, 3, 5, 2), t(rng, 3), t(rng, 3)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    gradcheck(lambda x, w, b: F.batch_norm_relu(x, mean.copy(), var.copy(), w, b, training), [x, w, b])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_add_relu_gradients(small_blocks, rng, training):
    x, w, b, other = t(rng, 4, 3, 5, 2), t(rng, 3), t(rng, 3), t(rng, 4, 3, 5, 2)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    gradcheck(lambda x, w, b, o: F.batch_norm_add_relu(x, o, mean.copy(), var.copy(), w, b, training), [x, w, b, other])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("other_layout", ["channels-last", "NCHW"])
def test_batch_norm_add_relu_is_batch_norm_then_add_relu_bit_for_bit(small_blocks, rng, training, other_layout):
    """The fused end of a residual unit gives exactly what its two ops give in turn (the same sums in the same
    order), values, every gradient and the running statistics, whatever the layout of the shortcut's memory;
    an ``other`` that needs no gradient gets none."""
    shape = (4, 6, 5, 3)  # NHWC memory, viewed as NCHW (4, 3, 6, 5), as conv2d's outputs
    data = [rng.standard_normal(shape).astype("float32").transpose(0, 3, 1, 2),
            rng.standard_normal(3).astype("float32"), rng.standard_normal(3).astype("float32"),
            rng.standard_normal(shape).astype("float32").transpose(0, 3, 1, 2)]
    if other_layout == "NCHW":
        data[3] = numpy.ascontiguousarray(data[3])
    g = rng.standard_normal((4, 3, 6, 5)).astype("float32")
    results = []
    for fused in (True, False):
        x, w, b, other = (Tensor(d.copy(), requires_grad=True) for d in data)
        stats = [numpy.zeros(3, "float32"), numpy.ones(3, "float32")]
        y = (F.batch_norm_add_relu(x, other, *stats, w, b, training) if fused
             else F.add_relu(F.batch_norm(x, *stats, w, b, training), other))
        y.backward(g)
        results.append([y.data, x.grad, w.grad, b.grad, other.grad] + stats)
    for ours, theirs in zip(*results):
        numpy.testing.assert_array_equal(ours, theirs)
    x, other = Tensor(data[0], requires_grad=True), Tensor(data[3])
    F.batch_norm_add_relu(x, other, numpy.zeros(3, "float32"), numpy.ones(3, "float32"), training=True).sum().backward()
    assert other.grad is None and x.grad is not None


def test_batch_norm_add_relu_refuses_an_other_of_another_shape_or_dtype(rng):
    x = Tensor(rng.standard_normal((2, 3, 4, 4)).astype("float32"))
    stats = [numpy.zeros(3, "float32"), numpy.ones(3, "float32")]
    for other in (Tensor(numpy.zeros((2, 3, 1, 1), "float32")), Tensor(numpy.zeros((2, 3, 4, 4)))):
        with pytest.raises(ValueError, match=r"batch_norm_add_relu: other .* must have the input's shape and dtype"):
            F.batch_norm_add_relu(x, other, *stats, training=True)
    with pytest.raises(TypeError, match="batch_norm_add_relu: expected a Tensor"):
        F.batch_norm_add_relu(x, numpy.zeros((2, 3, 4, 4), "float32"), *stats, training=True)


def test_add_relu_gradients_with_broadcasting(small_blocks, rng):
    gradcheck(lambda a, b: F.add_relu(a, b), [t(rng, 3, 4, 2), t(rng, 4, 1)])
    gradcheck(lambda a, b: F.add_relu(a, b), [t(rng, 6, 5), t(rng, 6, 5)])


@pytest.mark.parametrize("training", [True, False])
def test_fused_ops_equal_their_unfused_composition(small_blocks, rng, training):
    """batch_norm_relu == relu(batch_norm), add_relu == relu(add), float32, values and gradients."""
    data = [rng.standard_normal(s).astype("float32") for s in ((4, 3, 6, 5), (3,), (3,), (4, 3, 6, 5))]
    g = rng.standard_normal((4, 3, 6, 5)).astype("float32")
    results = []
    for fused in (True, False):
        x, w, b, other = (Tensor(d.copy(), requires_grad=True) for d in data)
        stats = [numpy.zeros(3, "float32"), numpy.ones(3, "float32")]
        if fused:
            y = F.add_relu(F.batch_norm_relu(x, *stats, w, b, training), other)
        else:
            y = F.relu(F.relu(F.batch_norm(x, *stats, w, b, training)) + other)
        y.backward(g)
        results.append([y.data, x.grad, w.grad, b.grad, other.grad] + stats)
    for ours, theirs in zip(*results):
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_threaded_passes_equal_one_pass(monkeypatch, rng):
    """Batch norm (training), ReLU and add cut into blocks on two threads == whole arrays on one."""
    data = [rng.standard_normal(s) for s in ((4, 3, 6, 5), (3,), (3,), (4, 3, 6, 5))]
    g = rng.standard_normal((4, 3, 6, 5))
    results = []
    for count, block in ((1, 10 ** 9), (2, 7)):
        monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", block)
        threads.set_threads(count)
        x, w, b, other = (Tensor(d.copy(), requires_grad=True) for d in data)
        stats = [numpy.zeros(3), numpy.ones(3)]
        y = F.relu(F.batch_norm(x, *stats, w, b, True) + other)
        y.backward(g)
        results.append([y.data, x.grad, w.grad, b.grad, other.grad] + stats)
    for ours, theirs in zip(*results):
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)  # sums in another order only


@pytest.mark.parametrize("offsets", [(0, 0.5, -1), (0, 3, 1e4)], ids=["small means", "a mean 1e4 std"])
@pytest.mark.parametrize("block", [7, 300, 10 ** 9], ids=["blocks of a row", "blocks of rows", "one block"])
def test_float32_batch_norm_keeps_its_digits_whatever_the_mean(monkeypatch, rng, offsets, block):
    """Float32 batch statistics keep their digits where a channel's mean is large against its
    spread (as a variance from sums of squares, E[x^2] - E[x]^2, would not): the results agree
    with the same computation in float64 to float32 rounding, for means up to 1e4 standard
    deviations, whole or in blocks."""
    monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", block)
    threads.set_threads(2)
    x = (rng.standard_normal((6, 3, 5, 4)) + numpy.array(offsets)[:, None, None]).astype("float32")
    w, b, g = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(x.shape)
    results = []
    for dtype in ("float32", "float64"):
        tensors = [Tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
        stats = [numpy.zeros(3, dtype), numpy.ones(3, dtype)]
        y = F.batch_norm_relu(*tensors[:1], *stats, *tensors[1:], training=True)
        y.backward(g.astype(dtype))
        results.append([stats[1], y.data] + [t.grad for t in tensors])
    (var, *ours), (exact_var, *exact) = results
    numpy.testing.assert_allclose(var, exact_var, rtol=1e-5)
    # the output is x * scale + shift, as PyTorch's CPU kernel computes it: float32 rounds x * scale
    # (about 1e4 here) to about 1e-3; the gradients centre x on the float32 mean (rounded likewise)
    for a, e, tolerance in zip(ours, exact, (1e-3, 1e-4, 1e-3, 1e-5)):
        numpy.testing.assert_allclose(a, e, atol=tolerance * numpy.abs(e).max())


@pytest.mark.parametrize("block", [7, 300, 10 ** 9], ids=["blocks of a row", "blocks of rows", "one block"])
def test_float32_batch_variance_of_data_far_from_zero(monkeypatch, rng, block):
    """Blocks' statistics combine exactly: the running variance of values 1e4 away from zero (1 apart)
    is the float64 variance of the same float32 values."""
    monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", block)
    threads.set_threads(2)
    x = (1e4 + rng.standard_normal((6, 3, 5, 4))).astype("float32")
    var = numpy.zeros(3, "float32")
    F.batch_norm(Tensor(x), numpy.zeros(3, "float32"), var, training=True, momentum=1.0)
    numpy.testing.assert_allclose(var, x.astype("float64").var(axis=(0, 2, 3), ddof=1), rtol=1e-5)


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling_on_blocks_of_images_equals_the_whole_batch(monkeypatch, rng, pool):
    x = rng.standard_normal((5, 3, 9, 8))
    x[1, :, :3, :3] = x[1, 0, 0, 0]  # ties: the first maximum takes the gradient
    g = rng.standard_normal((5, 3, 5, 4))
    results = []
    for count, block in ((1, 10 ** 9), (2, 7)):
        monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", block)
        threads.set_threads(count)
        tensor = Tensor(x.copy(), requires_grad=True)
        y = getattr(F, f"{pool}_pool2d")(tensor, 3, stride=2, padding=1)
        y.backward(g)
        results.append([y.data, tensor.grad])
    for ours, theirs in zip(*results):
        numpy.testing.assert_array_equal(ours, theirs)


def test_the_thread_count_does_not_change_the_numbers(monkeypatch, rng):
    """Element-wise blocks grow with the thread count, but partial sums keep one block size: batch
    norm, ReLU, add and pooling give the same bits on one thread and on two."""
    monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", 200)  # 30 blocks on one thread, 7 on two
    data = [rng.standard_normal(s).astype("float32") for s in ((8, 3, 16, 16), (3,), (3,), (8, 3, 16, 16))]
    g = rng.standard_normal((8, 3, 8, 8)).astype("float32")
    results = []
    for count in (1, 2):
        threads.set_threads(count)
        x, w, b, other = (Tensor(d.copy(), requires_grad=True) for d in data)
        stats = [numpy.zeros(3, "float32"), numpy.ones(3, "float32")]
        y = F.max_pool2d(F.add_relu(F.batch_norm_relu(x, *stats, w, b, True), other), 2)
        y.backward(g)
        results.append([y.data, x.grad, w.grad, b.grad, other.grad] + stats)
    for ours, theirs in zip(*results):
        numpy.testing.assert_array_equal(ours, theirs)


def test_fused_ops_match_torch(rng, torch):
    x, w, b, other = (rng.standard_normal(s).astype("float32") for s in ((4, 3, 6, 5), (3,), (3,), (4, 3, 6, 5)))
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b, other)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b, other)]
    mean, var = numpy.zeros(3, "float32"), numpy.ones(3, "float32")
    y = F.add_relu(F.batch_norm_relu(ours[0], mean, var, ours[1], ours[2], True), ours[3])
    tm, tv = torch.zeros(3), torch.ones(3)
    ty = torch.relu(torch.relu(torch.nn.functional.batch_norm(theirs[0], tm, tv, theirs[1], theirs[2], True))
                    + theirs[3])
    g = rng.standard_normal(y.shape).astype("float32")
    y.backward(g)
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, ta in zip(ours, theirs):
        numpy.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    numpy.testing.assert_allclose(mean, tm.numpy(), rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(var, tv.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_relu_refuses_what_batch_norm_refuses(rng):
    x = Tensor(rng.standard_normal((4, 3, 2, 2)))
    with pytest.raises(ValueError, match="batch_norm_relu: weight of shape"):
        F.batch_norm_relu(x, None, None, Tensor(numpy.ones(2)), None, True)


def test_each_batch_norm_names_itself_when_a_training_batch_has_one_value_per_channel():
    """As PyTorch (a ValueError), naming the op that was called, not the batch_norm inside it."""
    x, stats = Tensor(numpy.ones((1, 3, 1, 1))), (numpy.zeros(3), numpy.ones(3))
    for op, extra in ((F.batch_norm, ()), (F.batch_norm_relu, ()), (F.batch_norm_add_relu, (Tensor(numpy.ones((1, 3, 1, 1))),))):
        with pytest.raises(ValueError, match=rf"^{op.__name__}: training needs more than one value per channel"):
            op(x, *extra, *stats, training=True)


def _conv_bn_pair(rng, c, o, kernel, stride, dtype):
    """A Conv2d and a BatchNorm2d in evaluation mode with statistics and affine parameters away from their defaults."""
    conv, bn = Conv2d(c, o, kernel, stride, kernel // 2, bias=False), BatchNorm2d(o)
    conv.weight.data = channels_last(rng.standard_normal(conv.weight.shape).astype(dtype))
    bn.weight.data, bn.bias.data = (rng.standard_normal(o).astype(dtype) for _ in range(2))
    bn.running_mean, bn.running_var = (Tensor(rng.standard_normal(o).astype(dtype)),
                                       Tensor((rng.random(o) + 0.5).astype(dtype)))
    return conv, bn.eval()


@pytest.mark.parametrize("c, o, size, kernel, stride", [(3, 8, 9, 3, 1), (8, 16, 9, 3, 2), (16, 4, 7, 1, 1),
                                                         (5, 6, 8, 1, 2), (128, 4, 14, 3, 1)],
                         ids=["3x3", "3x3 stride 2", "1x1", "1x1 stride 2", "3x3 Winograd"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_bn_in_inference_is_bn_of_conv_bit_for_bit(small_blocks, monkeypatch, rng, c, o, size, kernel, stride,
                                                        dtype):
    """conv_bn under no_grad with bn in evaluation gives exactly bn(conv(x)) (its affine map, the residual sum and the
    ReLU applied to each block of the product), on many blocks of the product and on one; it is the fused path."""
    conv, bn = _conv_bn_pair(rng, c, o, kernel, stride, dtype)
    x = Tensor(channels_last(rng.standard_normal((3, c, size, size)).astype(dtype)))
    out_size = (size + 2 * (kernel // 2) - kernel) // stride + 1
    add = Tensor(channels_last(rng.standard_normal((3, o, out_size, out_size)).astype(dtype)))
    calls = []
    monkeypatch.setattr(F, "conv2d_affine", lambda *a, **k: calls.append(1) or conv_module.conv2d_affine(*a, **k))
    for block_bytes in (64, conv_module.COLUMN_BLOCK_BYTES):
        monkeypatch.setattr(conv_module, "COLUMN_BLOCK_BYTES", block_bytes)
        for relu, other in ((False, None), (True, None), (True, add)):
            with no_grad():
                fused = conv_bn(conv, bn, x, relu=relu, add=other)
                plain = bn(conv(x), relu=relu, add=other)
            assert fused.shape == plain.shape and fused.dtype == plain.dtype
            numpy.testing.assert_array_equal(fused.data, plain.data)
    assert len(calls) == 6


def test_conv_bn_runs_the_modules_where_it_cannot_fuse(rng):
    """Training, a gradient to record (evaluation mode without no_grad), statistics not tracked, a forward set on
    the instance, a forward hook: the modules as they are, gradients included; conv2d_affine itself refuses to be
    where a gradient is needed."""
    conv, bn = _conv_bn_pair(rng, 3, 4, 3, 1, "float32")
    x = Tensor(channels_last(rng.standard_normal((2, 3, 5, 5)).astype("float32")), requires_grad=True)
    y = conv_bn(conv, bn, x, relu=True)  # evaluation mode, gradient recorded
    y.sum().backward()
    assert x.grad is not None and conv.weight.grad is not None and bn.weight.grad is not None
    numpy.testing.assert_array_equal(y.data, bn(conv(x), relu=True).data)
    bn.train()
    mean = bn.running_mean.clone()
    with no_grad():
        conv_bn(conv, bn, x, relu=True)
    assert not numpy.array_equal(mean.numpy(), bn.running_mean.numpy())  # training statistics: batch norm itself ran
    bn.eval()
    buffers = bn.running_mean, bn.running_var
    bn.running_mean = bn.running_var = None  # no buffers: the batch's statistics in evaluation too
    with no_grad():
        numpy.testing.assert_array_equal(conv_bn(conv, bn, x, relu=True).data, bn(conv(x), relu=True).data)
    bn.running_mean, bn.running_var = buffers
    seen = []
    conv.forward = lambda x: seen.append(x.shape) or Conv2d.forward(conv, x)  # a learner's instrumented layer
    with no_grad():
        conv_bn(conv, bn, x, relu=True)
    assert seen == [(2, 3, 5, 5)]
    del conv.forward
    handle = bn.register_forward_hook(lambda module, args, output: seen.append(output.shape))
    with no_grad():
        conv_bn(conv, bn, x, relu=True)
    assert seen == [(2, 3, 5, 5), (2, 4, 5, 5)]
    handle.remove()
    scale, shift = (Tensor(v) for v in F.fixed_affine(bn.running_mean, bn.running_var))
    with pytest.raises(RuntimeError, match="conv2d_affine computes no gradient"):
        F.conv2d_affine(x, conv.weight, scale, shift, padding=1)


@pytest.mark.parametrize("training", [True, False])
def test_a_hooked_or_replaced_batch_norm_is_called_as_pytorchs_code_calls_it(rng, training):
    """A forward hook on the batch norm sees its own output, bn(conv(x)), as torch's (it saw relu(bn(conv(x)) +
    add)); a batch norm replaced by another module (Identity, a subclass with PyTorch's forward) is called with the
    input alone; the sum and the ReLU follow, as in torchvision's blocks."""
    from tinyrrn.nn import Identity
    conv, bn = _conv_bn_pair(rng, 3, 4, 3, 1, "float32")
    bn.train(training)
    x = Tensor(channels_last(rng.standard_normal((2, 3, 5, 5)).astype("float32")))
    add = Tensor(rng.standard_normal((2, 4, 5, 5)).astype("float32"))
    with no_grad():
        expected = bn(conv(x)).data  # training: the batch's statistics, whatever the running ones
        seen = []
        bn.register_forward_hook(lambda module, args, output: seen.append(output.data.copy()))
        y = conv_bn(conv, bn, x, relu=True, add=add)
        numpy.testing.assert_array_equal(seen[0], expected)
        numpy.testing.assert_allclose(y.data, numpy.maximum(expected + add.data, 0), rtol=1e-6)
        y = conv_bn(conv, Identity(), x, relu=True)
        numpy.testing.assert_array_equal(y.data, numpy.maximum(conv(x).data, 0))


def test_conv2d_affine_refuses_what_does_not_fit(rng):
    x = Tensor(rng.standard_normal((2, 3, 5, 5)).astype("float32"))
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype("float32"))
    scale, shift = Tensor(numpy.ones(4, "float32")), Tensor(numpy.zeros(4, "float32"))
    with no_grad():
        with pytest.raises(ValueError, match=r"scale \(3,\) and shift \(4,\) must be \(4,\)"):
            F.conv2d_affine(x, w, Tensor(numpy.ones(3, "float32")), shift)
        with pytest.raises(ValueError, match="add= is fused with the ReLU only"):
            F.conv2d_affine(x, w, scale, shift, add=Tensor(numpy.zeros((2, 4, 3, 3), "float32")))
        with pytest.raises(ValueError, match=r"add \(2, 4, 5, 5\) must have the output's shape \(2, 4, 3, 3\)"):
            F.conv2d_affine(x, w, scale, shift, relu=True, add=Tensor(numpy.zeros((2, 4, 5, 5), "float32")))
        with pytest.raises(ValueError, match="conv2d_affine: input .* does not fit weight"):
            F.conv2d_affine(x, Tensor(numpy.zeros((4, 2, 3, 3), "float32")), scale, shift)


def test_a_resnet_in_inference_fuses_its_batch_norms_and_answers_as_unfused(monkeypatch, rng):
    """Every conv-BN pair of a ResNet's stem and residual branches takes the fused path under no_grad in evaluation
    (the projections run as the Sequential they are, its forward hooks called), and the logits are those of the
    unfused modules bit for bit."""
    from tinyrrn.models import resnet_small
    from tinyrrn.nn import fused
    model, device = resnet_small(5), backend.get_device()
    for m in model.modules():
        if isinstance(m, BatchNorm2d):
            m.running_mean = Tensor(rng.standard_normal(m.num_features).astype("float32"), device=device)
            m.running_var = Tensor((rng.random(m.num_features) + 0.5).astype("float32"), device=device)
    model.eval()
    x = Tensor(backend.to_device(rng.standard_normal((2, 3, 12, 12)).astype("float32"), device))
    calls = []
    monkeypatch.setattr(F, "conv2d_affine", lambda *a, **k: calls.append(1) or conv_module.conv2d_affine(*a, **k))
    with no_grad():
        logits = backend.to_numpy(model(x).data)
    assert len(calls) == sum(isinstance(m, Conv2d) for m in model.modules()) - 3  # three projections
    monkeypatch.setattr(fused, "_fuses", lambda *args: False)
    with no_grad():
        numpy.testing.assert_array_equal(logits, backend.to_numpy(model(x).data))


def test_conv_bn_fuses_in_inference_mode_under_enable_grad_too(monkeypatch, rng):
    """inference_mode records no graph, under enable_grad either: conv_bn fuses there, and its result is an
    inference tensor as every op's there."""
    import tinyrrn
    conv, bn = _conv_bn_pair(rng, 3, 4, 3, 1, "float32")
    x = Tensor(channels_last(rng.standard_normal((2, 3, 5, 5)).astype("float32")))
    calls = []
    monkeypatch.setattr(F, "conv2d_affine", lambda *a, **k: calls.append(1) or conv_module.conv2d_affine(*a, **k))
    with tinyrrn.inference_mode(), tinyrrn.enable_grad():
        y = conv_bn(conv, bn, x, relu=True)
    assert calls == [1] and y.is_inference() and not y.requires_grad
    with no_grad():
        numpy.testing.assert_array_equal(y.data, bn(conv(x), relu=True).data)
