"""Forward outputs and gradients agree with torch.nn.functional on the same data (skipped without torch)."""
import warnings

import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor
from tinyrrn import functional as F

torch = pytest.importorskip("torch", reason='needs PyTorch as a reference oracle: pip install ".[oracle]"')
pytestmark = pytest.mark.oracle
tf = torch.nn.functional


def both(rng, *shape):
    data = rng.standard_normal(shape).astype("float32")
    return Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)


def assert_same(ours, theirs, rtol=1e-4, atol=1e-4):
    numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("kernel,stride,padding", [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (7, 2, 3)])
def test_conv2d(rng, kernel, stride, padding):
    (x, tx), (w, tw), (b, tb) = both(rng, 2, 8, 15, 13), both(rng, 6, 8, kernel, kernel), both(rng, 6)
    y, ty = F.conv2d(x, w, b, stride, padding), tf.conv2d(tx, tw, tb, stride, padding)
    assert_same(y.data, ty)
    g = rng.standard_normal(y.shape).astype("float32")
    y.backward(g)
    ty.backward(torch.tensor(g))
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_same(ours.grad, theirs.grad, rtol=1e-3)


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_pooling(rng, kernel, stride, padding):
    for ours_fn, torch_fn in ((F.max_pool2d, tf.max_pool2d), (F.avg_pool2d, tf.avg_pool2d)):
        x, tx = both(rng, 2, 4, 11, 10)
        y, ty = ours_fn(x, kernel, stride, padding), torch_fn(tx, kernel, stride, padding)
        assert_same(y.data, ty)
        g = rng.standard_normal(y.shape).astype("float32")
        y.backward(g)
        ty.backward(torch.tensor(g))
        assert_same(x.grad, tx.grad)


# (float16 statistics in training are left out: there torch rounds the batch mean to float16, 3000.1 to 3000)
@pytest.mark.parametrize("stats_dtype,training", [("float32", True), ("float32", False), ("float16", False)])
def test_float16_batch_norm_keeps_its_statistics_in_float32_as_torch(rng, training, stats_dtype):
    """A channel whose variance (or 1/std) is past float16's range: torch computes the per-channel statistics
    in float32 and rounds only the output; tinyrrn rounded the variance to float16 (inf), so that every
    output of the channel was 0, and the gradients too."""
    data = (rng.standard_normal((4, 3, 5, 5)) * 100).astype("float16")
    data[0, 0, 0, 0] = 60000.0  # variance about 5e7
    data[:, 1] = 3000.0 + data[:, 1] / 30  # |mean| / std about 1000: x * scale + shift cancels
    data[:, 2] /= 1e4  # variance about 1e-4: 1/std in float16 range, var + eps close to its ulp
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    w, tw = Tensor(on_device(numpy.array([1.5, 2.0, 0.5], stats_dtype)), requires_grad=True), \
        torch.tensor(numpy.array([1.5, 2.0, 0.5], stats_dtype), requires_grad=True)
    mean, var = numpy.array([0.0, 3000.0, 0.0], stats_dtype), numpy.array([5e4, 1e-2, 1e-4], stats_dtype)
    tmean, tvar = torch.tensor(mean), torch.tensor(var)
    mean, var = on_device(mean), on_device(var)
    y = F.batch_norm(x, mean, var, w, None, training)
    ty = tf.batch_norm(tx, tmean, tvar, tw, None, training)
    assert numpy.isfinite(host(y.data)).all()
    assert_same(y.data, ty, rtol=2e-3, atol=2e-3)
    assert_same(mean, tmean, rtol=1e-3)
    assert_same(var, tvar, rtol=1e-3)
    g = rng.standard_normal(y.shape).astype("float16")
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    assert_same(x.grad, tx.grad, rtol=2e-2, atol=2e-2)
    assert_same(w.grad, tw.grad, rtol=2e-2, atol=2e-1)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(rng, training):
    (x, tx), (w, tw), (b, tb) = both(rng, 4, 5, 6, 7), both(rng, 5), both(rng, 5)
    mean, var = rng.standard_normal(5).astype("float32"), rng.random(5).astype("float32") + 0.5
    tmean, tvar = torch.tensor(mean), torch.tensor(var)
    mean, var = on_device(mean), on_device(var)
    y = F.batch_norm(x, mean, var, w, b, training, momentum=0.1, eps=1e-5)
    ty = tf.batch_norm(tx, tmean, tvar, tw, tb, training, momentum=0.1, eps=1e-5)
    assert_same(y.data, ty)
    assert_same(mean, tmean)
    assert_same(var, tvar)
    g = rng.standard_normal(y.shape).astype("float32")
    y.backward(g)
    ty.backward(torch.tensor(g))
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_same(ours.grad, theirs.grad, rtol=1e-3)


def test_cross_entropy_log_softmax_linear(rng):
    (x, tx), (w, tw), (b, tb) = both(rng, 6, 10), both(rng, 4, 10), both(rng, 4)
    target = numpy.array([0, 3, 1, 1, 2, 3])
    loss = F.cross_entropy(F.linear(x, w, b), on_device(target))
    tloss = tf.cross_entropy(tf.linear(tx, tw, tb), torch.tensor(target))
    assert_same(loss.data, tloss)
    loss.backward()
    tloss.backward()
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_same(ours.grad, theirs.grad)
    (z, tz) = both(rng, 3, 5)
    assert_same(F.log_softmax(z, -1).data, tf.log_softmax(tz, dim=-1))


def test_adaptive_avg_pool_and_activations(rng):
    x, tx = both(rng, 2, 3, 6, 4)
    assert_same(F.adaptive_avg_pool2d(x, 1).data, tf.adaptive_avg_pool2d(tx, 1))
    assert_same(F.adaptive_avg_pool2d(x, (3, 2)).data, tf.adaptive_avg_pool2d(tx, (3, 2)))
    for ours, theirs in ((F.relu, torch.relu), (F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh)):
        assert_same(ours(x).data, theirs(tx))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("op,smoothing", [("cross_entropy", 0.0), ("cross_entropy", 0.2), ("nll_loss", 0.0)])
def test_class_losses_per_position_are_torchs_to_the_sign_and_nan(op, weighted, smoothing):
    """Per position (reduction='none') PyTorch gathers the target's log-probability times its weight (its
    smoothing term sums every class's): an ignored position is +0.0 (tinyrrn's was -0.0), a target of weight 0
    at a -inf or NaN log-probability is NaN (tinyrrn counted it nowhere: 0), and 0 * x keeps x's sign."""
    data = numpy.array([[1.0, -2.0, 3.0], [0.5, -1.0, 2.0], [1.0, 2.0, 3.0], [-numpy.inf, 0.0, 1.0],
                        [0.0, numpy.nan, 1.0], [2.0, -numpy.inf, 0.5]])
    target, weight = numpy.array([0, 1, -100, 0, 1, 2]), numpy.array([0.0, 0.0, 1.0])
    kwargs = {"reduction": "none"} if op == "nll_loss" else {"reduction": "none", "label_smoothing": smoothing}
    ours = getattr(F, op)(Tensor(on_device(data)), Tensor(on_device(target)),
                          Tensor(on_device(weight)) if weighted else None, **kwargs)
    theirs = getattr(tf, op)(torch.tensor(data), torch.tensor(target), torch.tensor(weight) if weighted else None,
                             **kwargs)
    numpy.testing.assert_allclose(host(ours), theirs.numpy(), rtol=1e-12)
    signs = ~numpy.isnan(theirs.numpy())
    assert (numpy.signbit(host(ours)) == numpy.signbit(theirs.numpy()))[signs].all(), (host(ours), theirs)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_class_losses_of_no_class_and_every_target_ignored_are_torchs(reduction):
    """(N, 0) logits whose targets are all ignored: PyTorch's 0 per position (and NaN for the mean)."""
    for op in (F.cross_entropy, F.nll_loss):
        ours = op(Tensor(on_device(numpy.zeros((2, 0)))), Tensor(on_device(numpy.array([-100, -100]))), reduction=reduction)
        theirs = getattr(tf, op.__name__)(torch.zeros(2, 0, dtype=torch.float64), torch.tensor([-100, -100]),
                                          reduction=reduction)
        numpy.testing.assert_array_equal(host(ours), theirs.numpy())


@pytest.mark.parametrize("shape,dim", [((300, 7), 1), ((5, 300), -1), ((4, 6, 5), 2), ((300, 7), 0), ((4, 6, 5), 1)])
def test_float16_log_softmax_is_torchs_to_the_bit(shape, dim):
    """PyTorch's kernel along the last dim keeps the sum of exponentials and its log in float16 (in float32
    elsewhere); tinyrrn kept both in float32, a float16 ulp off PyTorch in one output of six. cross_entropy's
    log-softmax is the same."""
    data = numpy.random.default_rng(0).uniform(-8, 8, shape).astype("float16")
    numpy.testing.assert_array_equal(host(F.log_softmax(Tensor(on_device(data)), dim)),
                                     torch.log_softmax(torch.tensor(data), dim).numpy())
    if dim in (1, -1) and len(shape) == 2:
        target = numpy.arange(shape[0]) % shape[1]
        ours = F.cross_entropy(Tensor(on_device(data)), Tensor(on_device(target)), reduction="none")
        numpy.testing.assert_array_equal(host(ours), tf.cross_entropy(torch.tensor(data), torch.tensor(target),
                                                                      reduction="none").numpy())


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(), (5,), (3, 5), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_without_dim_warns_and_takes_torchs_implicit_dim(op, shape):
    """Without a dim PyTorch warns (UserWarning) and normalises along dim 0 of a 0-, 1- or 3-D input and dim 1 of
    any other; tinyrrn warned of nothing and refused 3-D and 4-D inputs."""
    data = numpy.random.default_rng(0).standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ours = getattr(F, op)(Tensor(on_device(data)))
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        theirs = getattr(tf, op)(torch.tensor(data))
    numpy.testing.assert_allclose(host(ours), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 2, 2)])
def test_cross_entropy_of_probabilities_differentiates_its_weight_as_torch(reduction, shape):
    """With class-probability targets PyTorch's cross_entropy is differentiable in its class weight (it refuses a
    weight that requires grad for class indices only); tinyrrn refused it for probabilities too."""
    rng = numpy.random.default_rng(0)
    logits, target, weight = rng.standard_normal(shape), rng.uniform(0, 1, shape), rng.uniform(0.5, 2, 3)
    ours = [Tensor(on_device(a), requires_grad=True) for a in (logits, target, weight)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (logits, target, weight)]
    loss = F.cross_entropy(*ours, reduction=reduction, label_smoothing=0.1)
    tloss = tf.cross_entropy(*theirs, reduction=reduction, label_smoothing=0.1)
    numpy.testing.assert_allclose(host(loss), tloss.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tloss.shape)
    loss.backward(on_device(g)), tloss.backward(torch.tensor(g))
    for mine, reference in zip(ours, theirs):
        numpy.testing.assert_allclose(host(mine.grad), reference.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_class_loss_of_unbatched_logits_takes_a_one_element_target_as_torch(op, reduction):
    """PyTorch takes a (1,) class-index target for (C,) logits as the 0-d one (a 0-d loss; a (2,) target is its
    ValueError); tinyrrn refused it. (PyTorch's backward of it fails, a size mismatch: the gradient is compared
    with that of the 0-d target.)"""
    logits, weight = numpy.random.default_rng(0).standard_normal(4), numpy.array([0.5, 1.0, 2.0, 1.5])
    x, tx = Tensor(on_device(logits), requires_grad=True), torch.tensor(logits, requires_grad=True)
    loss = getattr(F, op)(x, Tensor(on_device(numpy.array([2]))), Tensor(on_device(weight)), reduction=reduction)
    tloss = getattr(tf, op)(tx, torch.tensor([2]), torch.tensor(weight), reduction=reduction)
    assert loss.shape == tloss.shape == ()
    numpy.testing.assert_allclose(host(loss), tloss.detach().numpy(), rtol=1e-12)
    loss.backward()
    getattr(tf, op)(tx, torch.tensor(2), torch.tensor(weight), reduction=reduction).backward()
    numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError):
        getattr(F, op)(x, Tensor(on_device(numpy.array([2, 1]))), reduction=reduction)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,amounts", [((2, 5), (1, 2)), ((2, 3, 5), (2, 1)), ((2, 3, 5), (-2, 4)),
                                           ((2, 3, 5), (3, -1)), ((2, 3, 5), (4, 0)), ((2, 3, 4, 5), (1, 2, 3, 0)),
                                           ((3, 4, 5), (0, 1, 2, 2)), ((1, 2, 3, 4, 5), (1, 1, 2, 0, 0, 2))])
def test_pad_reflect_replicate_circular_as_torch(rng, mode, shape, amounts):
    """PyTorch's non-constant pads (reflect and replicate pad the whole dim, then crop; circular crops, then wraps
    around what is kept), and their gradients, which add every copy's; tinyrrn refused them."""
    if mode == "circular" and min(amounts) < 0 and max(amounts) > 2:
        amounts = tuple(min(a, 2) for a in amounts)  # (PyTorch fails when the wrap overlaps the written part)
    data = rng.standard_normal(shape)
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = F.pad(x, amounts, mode=mode), tf.pad(tx, amounts, mode=mode)
    numpy.testing.assert_array_equal(host(y), ty.detach().numpy())
    g = rng.standard_normal(ty.shape)
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode,shape,amounts,error", [
    ("reflect", (2, 3, 5), (5, 0), RuntimeError), ("reflect", (2, 3, 1), (1, 0), RuntimeError),
    ("reflect", (5,), (1, 1), NotImplementedError), ("replicate", (2, 3, 4, 5), (1, 1), NotImplementedError),
    ("circular", (1, 2, 3, 4, 5), (1, 1, 1, 1), NotImplementedError), ("circular", (2, 3, 5), (6, 0), RuntimeError),
    ("replicate", (2, 3, 5), (-4, -1), RuntimeError), ("replicate", (2, 0, 5), (1, 1), RuntimeError),
    ("reflect", (2, 3, 5), (1,), RuntimeError), ("symmetric", (2, 3, 5), (1, 1), NotImplementedError)])
def test_pad_refuses_what_torch_refuses_in_its_non_constant_modes(mode, shape, amounts, error):
    with pytest.raises(error):
        tf.pad(torch.ones(shape), amounts, mode=mode)
    with pytest.raises(error):
        F.pad(Tensor(on_device(numpy.ones(shape))), amounts, mode=mode)
    with pytest.raises(RuntimeError, match="value"):
        F.pad(Tensor(on_device(numpy.ones((2, 3, 5)))), (1, 1), mode="reflect", value=1.0)


def _pointwise_loss_case(rng):
    """Inputs, probabilities and logits with PyTorch's edge values: equal elements (|d| = 0), |d| at beta and
    delta, probabilities 0 and 1 against targets 0 and 1, logits 0 and +-200."""
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x[0, :3] = y[0, :3] + numpy.array([0.0, 1.0, -0.5])
    p, q = 1 / (1 + numpy.exp(-x)), rng.random((3, 4))
    p[:2, :2], q[:2, :2] = [[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]
    logits = x.copy()
    logits[0, :3] = [0.0, 200.0, -200.0]
    return x, y, p, q, logits


POINTWISE_LOSSES = {
    "mse_loss": ({}, "xy"), "l1_loss": ({}, "xy"), "smooth_l1_loss": ({}, "xy"), "smooth_l1_loss beta": (dict(beta=0.5), "xy"),
    "smooth_l1_loss beta 0": (dict(beta=0.0), "xy"), "huber_loss": ({}, "xy"), "huber_loss delta": (dict(delta=0.5), "xy"),
    "binary_cross_entropy": ({}, "pq"), "binary_cross_entropy weight": (dict(weight=[0.5, 2.0, 0.0, 1.0]), "pq"),
    "binary_cross_entropy_with_logits": ({}, "lq"),
    "binary_cross_entropy_with_logits weight, pos_weight": (dict(weight=[[0.5], [2.0], [1.0]],
                                                                  pos_weight=[0.5, 2.0, 1.0, 3.0]), "lq"),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", POINTWISE_LOSSES)
def test_pointwise_losses_and_their_gradients_are_torchs(rng, name, reduction):
    """torch.nn.functional's regression and binary losses (an AttributeError in tinyrrn), with PyTorch's values and
    gradients at the edges: 0 at |d| = 0, PyTorch's clamped logs (-100) and its gradient's 1e-12 floor at
    probabilities 0 and 1, the target's infinite gradient there, and the exact logistic gradient at logit 0."""
    kwargs, operands = POINTWISE_LOSSES[name]
    x, y, p, q, logits = _pointwise_loss_case(rng)
    data = [{"x": x, "y": y, "p": p, "q": q, "l": logits}[k] for k in operands]
    ours = [Tensor(on_device(a), requires_grad=True) for a in data]
    theirs = [torch.tensor(a, requires_grad=True) for a in data]
    op = name.split()[0]
    loss = getattr(F, op)(*ours, reduction=reduction, **{k: Tensor(on_device(numpy.array(v))) for k, v in kwargs.items()
                                                         if k in ("weight", "pos_weight")},
                          **{k: v for k, v in kwargs.items() if k not in ("weight", "pos_weight")})
    tloss = getattr(tf, op)(*theirs, reduction=reduction, **{k: torch.tensor(v) if isinstance(v, list) else v
                                                             for k, v in kwargs.items()})
    assert loss.dtype == "float64" and loss.shape == tuple(tloss.shape)
    numpy.testing.assert_allclose(host(loss), tloss.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(tloss.shape)
    loss.backward(on_device(g))
    tloss.backward(torch.tensor(g))
    for a, ta in zip(ours, theirs):
        numpy.testing.assert_allclose(host(a.grad), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_losses_promote_broadcast_and_refuse_as_torch(op):
    """float32 with float64 (float64; huber_loss: the input's dtype), an integer target (the input's), a target of
    another shape (PyTorch's warning, then broadcast), integers alone and a bad reduction: PyTorch's errors."""
    x32, y64 = numpy.full((2, 3), 0.25, "float32"), numpy.full((2, 3), 2.0)
    for a, b in ((x32, y64), (y64, x32), (x32, numpy.ones((2, 3), "int64")), (x32, numpy.ones(3, "float32"))):
        with warnings.catch_warnings(record=True) as ours_warned, warnings.catch_warnings():
            warnings.simplefilter("always")
            ours = getattr(F, op)(Tensor(on_device(a)), Tensor(on_device(b)))
        theirs = getattr(tf, op)(torch.tensor(a), torch.tensor(b))
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_allclose(host(ours), theirs.numpy(), rtol=1e-6)
        assert bool(ours_warned) == (a.shape != b.shape)
    ints = Tensor(on_device(numpy.ones(3, "int64")))
    with pytest.raises(RuntimeError):
        getattr(tf, op)(torch.ones(3, dtype=torch.long), torch.ones(3, dtype=torch.long))
    with pytest.raises(RuntimeError):
        getattr(F, op)(ints, ints)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        getattr(F, op)(Tensor(on_device(x32)), Tensor(on_device(x32)), reduction="average")


@pytest.mark.cpu_only("on a GPU: a NaN loss, without a wait for the device")
def test_binary_cross_entropy_refuses_probabilities_outside_0_and_1_as_torch():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(Tensor(on_device(numpy.array([0.5, 1.5]))), Tensor(on_device(numpy.ones(2))))


def test_binary_losses_refuse_what_torch_refuses():
    p = Tensor(on_device(numpy.full(3, 0.5)))
    for op in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError):
            op(p, Tensor(on_device(numpy.full((2, 3), 0.5))))
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
            op(p, p, Tensor(on_device(numpy.ones(3)), requires_grad=True))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'pos_weight'"):
        F.binary_cross_entropy_with_logits(p, p, pos_weight=Tensor(on_device(numpy.ones(3)), requires_grad=True))
        with pytest.raises(RuntimeError):
            op(p, Tensor(on_device(numpy.full(3, 0.5, "float32"))))
    for weight in (numpy.ones((2, 3)), numpy.ones((3, 1))):  # a weight or pos_weight beyond the input's shape
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            F.binary_cross_entropy(p, p, Tensor(on_device(weight)))
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            F.binary_cross_entropy_with_logits(p, p, pos_weight=Tensor(on_device(weight)))
    with pytest.raises(TypeError):
        F.binary_cross_entropy_with_logits(p, p, [1.0, 1.0, 1.0])
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(p, p, beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        F.huber_loss(p, p, delta=0.0)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("index", [[[0, 2], [4, 2]], [4, 4, 1], 2])
def test_embedding_is_torchs_with_its_padding_row(rng, index, padding_idx):
    """F.embedding (an AttributeError in tinyrrn): the rows at the indices, repeated ones' gradients added, none to
    the padding row (its value still looked up)."""
    data = rng.standard_normal((5, 3))
    w, tw = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = (F.embedding(Tensor(on_device(numpy.array(index))), w, padding_idx=padding_idx),
             tf.embedding(torch.tensor(index), tw, padding_idx=padding_idx))
    numpy.testing.assert_array_equal(host(y), ty.detach().numpy())
    g = rng.standard_normal(ty.shape)
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(host(w.grad), tw.grad.numpy(), rtol=1e-12)


def test_embedding_and_one_hot_refuse_what_torch_refuses():
    w, index = Tensor(on_device(numpy.ones((5, 3)))), Tensor(on_device(numpy.array([0, 5])))
    for ours, theirs in ((lambda: F.embedding(index, w), lambda: tf.embedding(torch.tensor([0, 5]), torch.ones(5, 3))),
                         (lambda: F.embedding(Tensor(on_device(numpy.array([1.0]))), w),
                          lambda: tf.embedding(torch.tensor([1.0]), torch.ones(5, 3))),
                         (lambda: F.embedding(Tensor(on_device(numpy.array([0]))), w, padding_idx=5),
                          lambda: tf.embedding(torch.tensor([0]), torch.ones(5, 3), padding_idx=5))):
        with pytest.raises(Exception) as theirs_raised:
            theirs()
        with pytest.raises(theirs_raised.type):
            ours()
    with pytest.raises(NotImplementedError, match="max_norm"):
        F.embedding(Tensor(on_device(numpy.array([0]))), w, max_norm=1.0)
    with pytest.raises(TypeError, match="padding_idx"):
        F.embedding(Tensor(on_device(numpy.array([0]))), w, padding_idx=1.0)
    with pytest.raises(TypeError, match="num_classes"):
        F.one_hot(Tensor(on_device(numpy.array([0]))), 2.0)
    for args in ((numpy.array([1, 2], "int32"),), (numpy.array([1, 5]), 3), (numpy.array([-1]),),
                 (numpy.zeros(0, "int64"),)):
        with pytest.raises(RuntimeError):
            tf.one_hot(torch.tensor(args[0]), *args[1:])
        with pytest.raises(RuntimeError):
            F.one_hot(Tensor(on_device(args[0])), *args[1:])


@pytest.mark.parametrize("index,num_classes", [([[1, 2], [0, 0]], -1), ([0, 2], 5), (2, 3), (numpy.zeros((0, 2), "int64"), 3)])
def test_one_hot_is_torchs(index, num_classes):
    ours = F.one_hot(Tensor(on_device(numpy.array(index, "int64"))), num_classes)
    theirs = tf.one_hot(torch.tensor(numpy.array(index, "int64")), num_classes)
    assert ours.dtype == "int64"
    numpy.testing.assert_array_equal(host(ours), theirs.numpy())


ACTIVATIONS = {"leaky_relu": {}, "leaky_relu slope": dict(negative_slope=0.2), "elu": {}, "elu alpha": dict(alpha=0.5),
               "silu": {}, "softplus": {}, "softplus beta, threshold": dict(beta=0.5, threshold=3.0),
               "logsigmoid": {}, "hardtanh": {}, "hardtanh bounds": dict(min_val=-0.5, max_val=6.0), "relu6": {},
               "selu": {}, "celu": dict(alpha=0.5), "mish": {}, "hardsigmoid": {}, "hardswish": {}, "softsign": {},
               "tanhshrink": {}, "threshold": dict(threshold=0.5, value=-2.0), "hardshrink": dict(lambd=1.0),
               "softshrink": dict(lambd=1.0), "softmin": dict(dim=0), "glu": dict(dim=0)}


@pytest.mark.parametrize("dtype", ["float64", "float16"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_and_their_gradients_at_the_kinks_are_torchs(rng, name, dtype):
    """torch.nn.functional's activations (an AttributeError in tinyrrn), with PyTorch's gradients at 0 and at the
    bounds (hardtanh's 0 there, unlike clamp's 1; hardswish's at -3 and 3; the shrinks' at +-lambda), past softplus's
    threshold, and no overflow (elu of 30 in float16: no NaN gradient from the branch not taken); float16 as
    PyTorch's, in float32 rounded once."""
    data = numpy.array([-30.0, -21.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 7.0, 21.0, 30.0, -1e-3], dtype)
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    op = name.split()[0]
    y, ty = getattr(F, op)(x, **ACTIVATIONS[name]), getattr(tf, op)(tx, **ACTIVATIONS[name])
    # (PyTorch's elu gradient is g (out + alpha): 1e-17 off alpha e^x near e^-30)
    tolerance = dict(rtol=1e-12, atol=1e-15) if dtype == "float64" else dict(rtol=1e-3, atol=1e-3)
    assert y.dtype == dtype
    numpy.testing.assert_allclose(host(y).astype(float), ty.detach().numpy().astype(float), **tolerance)
    g = rng.standard_normal(ty.shape).astype(dtype)
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(host(x.grad).astype(float), tx.grad.numpy().astype(float), **tolerance)


def m_ones(m, *shape):
    """A float64 tensor of ones for a namespace m: PyTorch's (torch.nn.functional) or tinyrrn's."""
    return torch.ones(shape, dtype=torch.float64) if m is tf else Tensor(on_device(numpy.ones(shape)))


def test_activations_take_and_refuse_dtypes_as_torch():
    ints = numpy.array([-3, -1, 0, 1, 3, 7])
    for bounds in ((-0.5, 2.5), (-1.5, 1.5)):  # an integer tensor clamped as floats, then truncated
        ours = F.hardtanh(Tensor(on_device(ints)), *bounds)
        assert ours.dtype == "int64"
        numpy.testing.assert_array_equal(host(ours), tf.hardtanh(torch.tensor(ints), *bounds).numpy())
    numpy.testing.assert_array_equal(host(F.relu6(Tensor(on_device(ints)))), tf.relu6(torch.tensor(ints)).numpy())
    for op, args in (("threshold", (1.5, 0.5)), ("softsign", ()), ("tanhshrink", ())):  # as float32, or kept int
        ours, theirs = getattr(F, op)(Tensor(on_device(ints)), *args), getattr(tf, op)(torch.tensor(ints), *args)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_allclose(host(ours), theirs.numpy(), rtol=1e-6)
    for fn in (lambda m: m.glu(m_ones(m, 3)), lambda m: m.softshrink(m_ones(m, 3), -1.0)):
        with pytest.raises(RuntimeError):
            fn(tf)
        with pytest.raises(RuntimeError):
            fn(F)
    for op in ("leaky_relu", "elu", "silu", "softplus", "logsigmoid", "selu", "mish", "hardswish"):
        with pytest.raises(RuntimeError):
            getattr(tf, op)(torch.tensor(ints))
        with pytest.raises(RuntimeError):
            getattr(F, op)(Tensor(on_device(ints)))
    with pytest.raises(RuntimeError):
        F.hardtanh(Tensor(on_device(numpy.array([True]))))
    with pytest.raises(NotImplementedError, match="inplace"):
        F.leaky_relu(Tensor(on_device(numpy.ones(2))), inplace=True)


@pytest.mark.parametrize("op", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_binary_losses_compute_in_the_inputs_dtype_with_any_weights_as_torch(op):
    """A weight (or pos_weight) of another dtype is converted to the input's, as PyTorch (tinyrrn refused a float32
    weight beside float64 probabilities)."""
    x, q = numpy.array([0.3, 0.5, 0.9]), numpy.array([0.0, 1.0, 0.4])
    for dtype, other in (("float64", "float32"), ("float32", "float64"), ("float16", "float32")):
        weights = {"pos_weight": numpy.array([2.0, 0.5, 1.0], other)} if op.endswith("logits") else {}
        ours = getattr(F, op)(Tensor(on_device(x.astype(dtype))), Tensor(on_device(q.astype(dtype))),
                              Tensor(on_device(numpy.array([0.5, 2.0, 1.0], other))),
                              **{k: Tensor(on_device(v)) for k, v in weights.items()})
        theirs = getattr(tf, op)(torch.tensor(x.astype(dtype)), torch.tensor(q.astype(dtype)),
                                 torch.tensor(numpy.array([0.5, 2.0, 1.0], other)),
                                 **{k: torch.tensor(v) for k, v in weights.items()})
        assert ours.dtype == dtype
        numpy.testing.assert_allclose(host(ours), theirs.numpy(), rtol=2e-3 if dtype == "float16" else 1e-6)


ADAPTIVE_MAX_INPUTS = {
    "random": lambda rng: rng.standard_normal((2, 3, 7, 6)),
    "NaN": lambda rng: numpy.array([[[[1.0, numpy.nan, 3.0], [numpy.nan, 2.0, 3.0], [3.0, 1.0, 0.0]]]]),
    "ties and -inf": lambda rng: numpy.array([[[[3.0, 3, 3], [3, 3, 3], [-numpy.inf, 1, 0]]]]),
    "all -inf": lambda rng: numpy.full((1, 1, 3, 3), -numpy.inf),
    "integral ties": lambda rng: numpy.round(rng.standard_normal((2, 5, 5))),  # (unbatched)
}


@pytest.mark.parametrize("output_size", [1, 2, 3, (2, 3), (None, 2), (4, 1), 9])
@pytest.mark.parametrize("case", ADAPTIVE_MAX_INPUTS)
def test_adaptive_max_pool2d_is_torchs(rng, case, output_size):
    """F.adaptive_max_pool2d (an AttributeError in tinyrrn) over PyTorch's overlapping bins: the first maximum of a
    bin, or its last NaN, is the one returned in the indices and given the gradient, as PyTorch's."""
    data = ADAPTIVE_MAX_INPUTS[case](rng)
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    (y, index), (ty, tindex) = (F.adaptive_max_pool2d(x, output_size, return_indices=True),
                                tf.adaptive_max_pool2d(tx, output_size, return_indices=True))
    numpy.testing.assert_array_equal(host(y), ty.detach().numpy())
    assert index.dtype == "int64"
    numpy.testing.assert_array_equal(host(index), tindex.numpy())
    g = rng.standard_normal(ty.shape)
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape,output_size", [((3, 4), 2), ((1, 2, 0, 4), 2), ((1, 0, 3, 4), 2), ((1, 2, 3, 4), (2, 2, 2)),
                                               ((1, 2, 3, 4, 5), 2), ((1, 2, 3, 4), None), ((1, 2, 3, 4), -1)])
def test_adaptive_max_pool2d_refuses_what_torch_refuses(shape, output_size):
    with pytest.raises(Exception) as theirs:
        tf.adaptive_max_pool2d(torch.ones(shape), output_size)
    with pytest.raises(theirs.type):
        F.adaptive_max_pool2d(Tensor(on_device(numpy.ones(shape))), output_size)
    with pytest.raises(RuntimeError):
        F.adaptive_max_pool2d(Tensor(on_device(numpy.ones((1, 1, 3, 4), "int64"))), 2)
    empty = F.adaptive_max_pool2d(Tensor(on_device(numpy.ones((2, 3, 4, 4)))), (0, 2))
    assert empty.shape == tuple(tf.adaptive_max_pool2d(torch.ones(2, 3, 4, 4), (0, 2)).shape) == (2, 3, 0, 2)


SIMILARITIES = {
    "normalize": (lambda m, x, y, **k: m.normalize(x, **k), [{}, dict(p=1), dict(dim=0), dict(p=float("inf"), dim=-1),
                                                            dict(eps=0.5)]),
    "cosine_similarity": (lambda m, x, y, **k: m.cosine_similarity(x, y, **k), [{}, dict(dim=0), dict(eps=0.5),
                                                                                 dict(eps=0.0)]),
    "cosine_similarity broadcast": (lambda m, x, y, **k: m.cosine_similarity(x, y[:1], **k), [{}, dict(dim=0)]),
    "pairwise_distance": (lambda m, x, y, **k: m.pairwise_distance(x, y, **k), [{}, dict(p=1), dict(keepdim=True),
                                                                                 dict(p=float("inf"))]),
    "pairwise_distance of equal rows": (lambda m, x, y, **k: m.pairwise_distance(x, x, **k), [{}, dict(eps=0.0)]),
}


@pytest.mark.parametrize("name", SIMILARITIES)
def test_similarities_and_their_gradients_at_zero_vectors_are_torchs(rng, name):
    """F.normalize, cosine_similarity and pairwise_distance (an AttributeError in tinyrrn), with a zero row and a
    row of norm 1e-9 (below eps): PyTorch's values and gradients (its clamped norms)."""
    fn, cases = SIMILARITIES[name]
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a[0], b[1] = 0.0, 1e-9
    for kwargs in cases:
        x, y = (Tensor(on_device(v), requires_grad=True) for v in (a, b))
        tx, ty = (torch.tensor(v, requires_grad=True) for v in (a, b))
        out, tout = fn(F, x, y, **kwargs), fn(tf, tx, ty, **kwargs)
        numpy.testing.assert_allclose(host(out), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(tout.shape)
        out.backward(on_device(g))
        tout.backward(torch.tensor(g))
        for ours, theirs in ((x, tx), (y, ty)):
            if theirs.grad is not None:
                numpy.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_similarities_promote_and_refuse_as_torch():
    ints, floats = numpy.array([[1, 2]]), numpy.array([[2.0, 1.0]], "float32")
    ours = F.cosine_similarity(Tensor(on_device(ints)), Tensor(on_device(floats)))
    assert ours.dtype == "float32"
    numpy.testing.assert_allclose(host(ours), tf.cosine_similarity(torch.tensor(ints), torch.tensor(floats)).numpy())
    for fn in (lambda m, t: m.cosine_similarity(t(ints), t(ints)), lambda m, t: m.normalize(t(ints)),
               lambda m, t: m.cosine_similarity(t(floats), t(numpy.ones((1, 3), "float32")))):
        with pytest.raises(RuntimeError):
            fn(tf, torch.tensor)
        with pytest.raises(RuntimeError):
            fn(F, lambda v: Tensor(on_device(v)))


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
def test_kl_div_and_its_gradients_are_torchs(rng, reduction, log_target):
    """F.kl_div (an AttributeError in tinyrrn): 0 where the target is 0 (its gradient NaN there, as PyTorch's
    xlogy's), 'batchmean' over the batch size, 'mean' over every element with PyTorch's warning."""
    x, q = rng.standard_normal((2, 3)), numpy.array([[0.0, 0.3, 0.7], [0.5, 0.5, 0.0]])
    ours, theirs = [Tensor(on_device(v), requires_grad=True) for v in (x, q)], [torch.tensor(v, requires_grad=True)
                                                                                 for v in (x, q)]
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        loss = F.kl_div(*ours, reduction=reduction, log_target=log_target)
    tloss = tf.kl_div(*theirs, reduction=reduction, log_target=log_target)
    assert bool(warned) == (reduction == "mean")
    numpy.testing.assert_allclose(host(loss), tloss.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tloss.shape)
    loss.backward(on_device(g))
    tloss.backward(torch.tensor(g))
    for a, ta in zip(ours, theirs):
        numpy.testing.assert_allclose(host(a.grad), ta.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.kl_div(*ours, reduction="batchsum")
    with pytest.raises(RuntimeError, match="Integral"):
        F.kl_div(Tensor(on_device(numpy.array([1]))), Tensor(on_device(numpy.array([1]))))


UNARY_EDGES = numpy.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, 1e-3, numpy.inf, -numpy.inf, numpy.nan])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("name", ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
                                  "atanh", "exp2", "log2", "log10", "frac", "sinc", "logit", "nan_to_num"])
def test_float_functions_and_their_gradients_at_the_domain_edges_are_torchs(name, dtype):
    """Values and gradients at 0, -0, the domain edges (asin(1), log2(0), acosh(1), atanh(-1)), inf and NaN, as
    torch's; the Tensor method is the function; an integer tensor gives float32 (frac refuses it), as torch's."""
    data = UNARY_EDGES.astype(dtype)
    if name == "logit":  # (torch's float32 gradient at -0.0 is +inf, its float64 one -inf)
        data = numpy.abs(data)
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = getattr(x, name)(), getattr(torch, name)(tx)
    g = numpy.linspace(0.5, 1.5, data.size).astype(dtype)
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    tolerance = dict(rtol=1e-2, atol=1e-3) if dtype == "float16" else dict(rtol=1e-5, atol=1e-6)
    assert y.dtype == dtype
    numpy.testing.assert_allclose(host(y.data), ty.detach().numpy(), **tolerance)
    numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), **tolerance)
    numpy_name = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
                  "atanh": "arctanh"}.get(name)
    if numpy_name:  # PyTorch's other names, function and method
        assert getattr(F, numpy_name) is getattr(F, name)
        numpy.testing.assert_array_equal(host(getattr(x, numpy_name)().data), host(y.data))
    integers = numpy.array([1, -2, 0])
    if name == "frac":
        with pytest.raises(NotImplementedError, match="frac"):
            F.frac(Tensor(on_device(integers)))
    else:
        ours, theirs = getattr(F, name)(Tensor(on_device(integers))), getattr(torch, name)(torch.tensor(integers))
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_allclose(host(ours.data), theirs.numpy(), rtol=1e-6)


def test_logit_eps_and_nan_to_num_replacements_are_torchs():
    data = numpy.array([-0.5, 0.0, 0.01, 0.3, 0.99, 1.0, 1.5, numpy.nan, numpy.inf, -numpy.inf], "float32")
    for kwargs in ({"eps": 0.05}, {"eps": 0.0}):
        x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
        y, ty = F.logit(x, **kwargs), torch.logit(tx, **kwargs)
        y.sum().backward()
        ty.sum().backward()
        numpy.testing.assert_allclose(host(y.data), ty.detach().numpy(), rtol=1e-6)
        numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-6)
    for kwargs in ({"nan": 2.0}, {"posinf": 7.0, "neginf": -7.0}, {"nan": 1.0, "posinf": 1e6}):
        ours, theirs = F.nan_to_num(Tensor(on_device(data)), **kwargs), torch.nan_to_num(torch.tensor(data), **kwargs)
        numpy.testing.assert_array_equal(host(ours.data), theirs.numpy())


BINARY_EDGES = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, numpy.inf, -numpy.inf, numpy.nan]


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("name", ["atan2", "hypot", "fmod", "fmin", "fmax", "logaddexp", "xlogy", "float_power"])
def test_binary_float_functions_and_their_gradients_at_every_pair_of_edges_are_torchs(name, dtype):
    """Every pair of 0, -0, +-1, inf, -inf and NaN (atan2(0, 0), fmod's sign of the dividend, fmax's NaN ignored,
    xlogy(0, NaN), float_power's float64), values and both gradients as torch's; the Tensor method is the function."""
    pairs = numpy.array([(a, b) for a in BINARY_EDGES for b in BINARY_EDGES], dtype).T
    ours = [Tensor(on_device(v), requires_grad=True) for v in pairs]
    theirs = [torch.tensor(v, requires_grad=True) for v in pairs]
    y, ty = getattr(ours[0], name)(ours[1]), getattr(torch, name)(*theirs)
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    g = numpy.linspace(0.5, 1.5, pairs.shape[1]).astype(str(y.dtype))
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    tolerance = dict(rtol=1e-2, atol=1e-3) if dtype == "float16" else dict(rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(host(y.data), ty.detach().numpy(), **tolerance)
    for x, tx in zip(ours, theirs):
        numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), **tolerance)


@pytest.mark.parametrize("code", ["m.fmod(T([5.0, -5.0, 5.5]), 2)", "m.fmod(T([5, -5, 7]), T([3, -3, 2]))",
                                  "m.xlogy(T([0.0, 1.0, 2.0]), 3)", "m.xlogy(2, T([0.0, 1.0, 2.0]))",
                                  "m.xlogy(T([0, 1, 2]), T([0, 1, 2]))", "m.float_power(T([1, 2, 3]), -1)",
                                  "m.float_power(2, T([1.0, 2.0]))", "m.lerp(T([1.0, 2.0]), T([3.0, 8.0]), 0.7)",
                                  "m.lerp(T([1.0, 2.0]), T([3.0, 8.0]), T([0.2, 0.9]))",
                                  "m.lerp(T([1.0, 2.0]), T([3.0, 8.0]), T(0.7))", "m.fmax(T([1, 5]), T([3.0, NAN]))",
                                  "m.fmin(T([True, False]), T([True, True]))", "m.atan2(T([1]), T([0]))",
                                  "m.hypot(T([3.0]), T([4]))", "m.atan2(T([1.0]), 2)", "m.hypot(T([3]), T([4]))",
                                  "m.logaddexp(T([True]), T([False]))", "m.fmod(T([5, -5]), 0)", "m.fmod(2, T([1.0]))",
                                  "m.lerp(T([1, 2]), T([3, 8]), 0.5)", "m.fmod(T([True]), T([True]))"])
def test_binary_float_functions_promote_and_refuse_as_torch(code):
    """Numbers where torch takes them, integer inputs promoted (or refused) and float_power's float64, as torch's."""
    answers = []
    for m in (torch, F):
        try:
            out = eval(code, {"m": m, "T": (lambda v: torch.tensor(v)) if m is torch else (lambda v: Tensor(on_device(
                torch.tensor(v).numpy()))), "NAN": numpy.nan})
        except Exception as error:
            answers.append(error)
        else:
            answers.append((str(out.dtype).replace("torch.", ""), numpy.asarray(host(out.data) if m is F else
                                                                                out.numpy(), float).round(4).tolist()))
    if isinstance(answers[0], Exception):
        assert isinstance(answers[1], type(answers[0])) or isinstance(answers[1], NotImplementedError) and isinstance(
            answers[0], NotImplementedError), answers
    else:
        assert repr(answers[0]) == repr(answers[1])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_and_its_gradient_with_zeros_inf_and_nan_are_torchs(dtype, dim):
    data = numpy.array([[2.0, 0.0, 3.0, 0.0, 5.0], [1.0, 2.0, 3.0, 4.0, 0.5], [0.0, 0.0, 2.0, 3.0, 1.0],
                        [numpy.nan, 2.0, 0.0, 1.0, 3.0], [numpy.inf, 0.0, 2.0, 1.0, 1.0]], dtype)
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = x.cumprod(dim), torch.cumprod(tx, dim)
    g = numpy.linspace(0.5, 2.0, data.size).reshape(data.shape).astype(dtype)
    y.backward(on_device(g))
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(host(y.data), ty.detach().numpy(), rtol=1e-3)
    numpy.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-2 if dtype == "float16" else 1e-6)
    for integers in (numpy.array([1, -2, 3]), numpy.array([True, False])):
        ours, theirs = F.cumprod(Tensor(on_device(integers)), 0), torch.cumprod(torch.tensor(integers), 0)
        assert str(ours.dtype) == "int64" == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_array_equal(host(ours.data), theirs.numpy())


SORTED = numpy.array([[1.0, 3.0, 3.0, 2.0, 3.0, numpy.nan, 1.0, numpy.nan, -numpy.inf, 0.0, -0.0, numpy.inf],
                      [0.5, 0.5, -1.0, 2.0, 2.0, 0.5, 7.0, -1.0, 0.0, 3.0, 3.0, 1.0]], "float32")


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_with_ties_inf_and_nan_are_torchs(dim, descending):
    """Values, int64 indices (ties stable, NaN greatest) and the gradient, as torch.sort's named pair."""
    x, tx = Tensor(on_device(SORTED), requires_grad=True), torch.tensor(SORTED, requires_grad=True)
    ours, theirs = x.sort(dim, descending=descending), torch.sort(tx, dim=dim, descending=descending, stable=True)
    assert type(ours).__name__ == "sort" and ours._fields == ("values", "indices")
    numpy.testing.assert_array_equal(host(ours.values.data), theirs.values.detach().numpy())
    numpy.testing.assert_array_equal(host(ours.indices.data), theirs.indices.numpy())
    assert ours.indices.dtype == "int64"
    numpy.testing.assert_array_equal(host(F.argsort(x, dim, descending).data),
                                     torch.argsort(tx, dim=dim, descending=descending, stable=True).numpy())
    g = numpy.arange(SORTED.size, dtype="float32").reshape(SORTED.shape)
    ours.values.backward(on_device(g))
    theirs.values.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(x.grad), tx.grad.numpy())


@pytest.mark.parametrize("k,dim", [(1, -1), (3, 1), (2, 0), (0, 1)])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_values_and_gradients_are_torchs(rng, k, dim, largest):
    """topk's values and gradient, and indices where there are no ties (torch's order of tied indices is its
    sorting algorithm's; tinyrrn's is by position)."""
    data = rng.standard_normal((4, 6)).astype("float32")
    x, tx = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = x.topk(k, dim, largest=largest), torch.topk(tx, k, dim, largest=largest)
    assert type(ours).__name__ == "topk"
    numpy.testing.assert_array_equal(host(ours.values.data), theirs.values.detach().numpy())
    numpy.testing.assert_array_equal(host(ours.indices.data), theirs.indices.numpy())
    g = rng.standard_normal(ours.values.shape).astype("float32")
    ours.values.backward(on_device(g))
    theirs.values.backward(torch.tensor(g))
    numpy.testing.assert_array_equal(host(x.grad), tx.grad.numpy())
    ties = F.topk(Tensor(on_device(SORTED[0])), 5)
    numpy.testing.assert_array_equal(host(ties.values.data), torch.topk(torch.tensor(SORTED[0]), 5).values.numpy())
    with pytest.raises(RuntimeError, match="out of range"):
        F.topk(x, 7)


SHAPE_OPS = ["x.triu()", "x.triu(1)", "F.tril(x, -1)", "x.tril(2)", "F.triu(b, 1)", "x.roll(1)", "x.roll((1, -2), (0, 2))",
             "F.roll(x, 5, 1)", "x.roll(-7)", "x.broadcast_to((2, 2, 3, 4))", "x.diagonal()", "x.diagonal(1, 1, 2)",
             "F.diagonal(x, -1, 0, 2)", "x.diagonal(9)", "F.diag(v)", "F.diag(v, 2)", "F.diag(v, -1)", "F.diag(m)",
             "F.diag(m, 1)", "F.diag(m, -2)", "x.masked_select(x > 0)", "x[0].masked_select(mask)",
             "F.masked_select(v, mask)", "F.diag(x)", "F.triu(v)", "F.roll(x, (1, 2), 0)", "F.roll(x, [])",
             "F.masked_select(x, (x > 0).long())"]


@pytest.mark.parametrize("code", SHAPE_OPS)
def test_triangles_roll_diagonals_and_masked_select_are_torchs(rng, code):
    """Values and gradients (or the error) of triu, tril, roll, broadcast_to, diagonal, diag and masked_select, as
    torch's."""
    data = {"x": rng.standard_normal((2, 3, 4)), "v": numpy.array([1.0, 2.0, 3.0]), "m": numpy.arange(12.0).reshape(3, 4)}
    answers = []
    for m in (torch, F):
        made = (lambda a, grad=True: torch.tensor(a, requires_grad=grad)) if m is torch else \
            (lambda a, grad=True: Tensor(on_device(a), requires_grad=grad))
        inputs = {name: made(value) for name, value in data.items()}
        names = dict(inputs, F=m, mask=made(numpy.array([True, False, True, True]), False),
                     b=made(numpy.ones((3, 3), bool), False))
        try:
            out = eval(code, names)
        except Exception as error:
            answers.append(error)
            continue
        g = numpy.arange(out.numel(), dtype="float64").reshape(tuple(out.shape))
        if out.dtype not in (torch.bool, bool):
            out.backward(torch.tensor(g) if m is torch else on_device(g))
        grads = [None if t.grad is None else (t.grad.numpy() if m is torch else host(t.grad)).tolist()
                 for t in inputs.values()]
        answers.append(((out.detach().numpy() if m is torch else host(out.data)).tolist(), grads))
    if isinstance(answers[0], Exception):
        assert isinstance(answers[1], type(answers[0])), answers
    else:
        assert answers[0] == answers[1]


CONTRACTIONS = ['m.einsum("ij,jk->ik", a, b)', 'm.einsum("ij,jk", a, b)', 'm.einsum("ij,jk", [a, b])', 'm.einsum("ij->", a)',
                'm.einsum("ij->ji", a)', 'm.einsum("ij", a)', 'm.einsum("bij,jk->bik", c[:, :, :3], b)',
                'm.einsum("ij,k->ijk", a, v)', 'm.einsum("ij,j->i", a, v)', 'm.einsum("ijk,ij->k", c, a)',
                'm.einsum("ij,kl->", a, b)', 'm.einsum("i,i->", v, v)', 'm.einsum("ij,jk->ik", a, b.double())',
                'm.einsum("...ij,jk->...ik", c[:, :, :3], b)', 'm.einsum("...j,j", c[:, :, :3], v)',
                'm.einsum("b...,b...->...", c, c)', 'm.einsum("...", a)', 'm.einsum("i...->...i", c)',
                'm.einsum("...jk,...kl->...jl", c[:, :, :3], c)', 'm.einsum("ij,j...", a, b)', 'm.einsum("ij,jk,kl", [a])',
                'm.tensordot(c, b, 1)', 'm.tensordot(c, c, ([0, 1], [0, 1]))', 'm.tensordot(a, c, 2)',
                'm.tensordot(a, v, 0)', 'm.tensordot(a, b, ([1], [0]))', 'm.cross(c[:, :, :3], c[:, :, 1:], dim=1)',
                'm.cross(c[0, :, :3].transpose(0, 1), c[1, :, 1:].transpose(0, 1), dim=-1)',
                'm.cross(c[0, :, :3], v[:, None].expand(3, 3), dim=0)', 'm.cross(c, c, dim=2)']


@pytest.mark.parametrize("code", CONTRACTIONS)
def test_einsum_tensordot_and_cross_and_their_gradients_are_torchs(rng, code):
    data = {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal((3, 4)), "c": rng.standard_normal((2, 3, 4)),
            "v": rng.standard_normal(3)}
    answers = []
    for m in (torch, F):
        inputs = {name: torch.tensor(value, requires_grad=True) if m is torch else
                  Tensor(on_device(value), requires_grad=True) for name, value in data.items()}
        try:
            out = eval(code, dict(inputs, m=m))
        except Exception as error:
            answers.append(error)
            continue
        g = numpy.arange(out.numel(), dtype="float64").reshape(tuple(out.shape))
        out.backward(torch.tensor(g) if m is torch else on_device(g))
        answers.append([out.detach().numpy() if m is torch else host(out.data)] +
                       [None if t.grad is None else t.grad.numpy() if m is torch else host(t.grad) for t in inputs.values()])
    if isinstance(answers[0], Exception):
        assert isinstance(answers[1], type(answers[0])), answers
        return
    for theirs, ours in zip(*answers):
        assert (theirs is None) == (ours is None)
        if theirs is not None:
            numpy.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_einsum_refuses_what_tinyrrn_has_not():
    x = Tensor(on_device(numpy.ones((2, 2))))
    for code in (lambda: F.einsum("ii->i", x), lambda: F.einsum("...j,...j->j", x, x[:1]),
                 lambda: F.einsum("ij,jk,kl", x, x, x)):
        with pytest.raises(NotImplementedError, match="not implemented by tinyrrn"):
            code()


@pytest.mark.parametrize("code", ["y = x.sin(); y.mul_(2)", "y = x.tan(); x.mul_(2)", "y = x.exp2(); x.add_(1)",
                                  "y = x.exp2(); y.add_(1)", "y = x.triu(); x.add_(1); y.add_(1)",
                                  "y = x.sort().values; x.add_(1); y.add_(1)", "y = F.atan2(x, x + 1); y.mul_(2)",
                                  "y = x.cumprod(0); y.add_(1)", "y = x.masked_select(mask); mask.fill_(False)"])
def test_new_ops_refuse_in_place_changes_of_what_torch_saved_and_take_the_others(code):
    """backward after an in-place change of an op's input or output: PyTorch's error where its node saved that tensor
    (tan saves its output, sin its input), its gradient otherwise."""
    answers = []
    for m in (torch, F):
        base = torch.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=torch.float64, requires_grad=True) if m is torch else \
            Tensor(on_device(numpy.array([[0.5, -1.0], [2.0, 0.3]])), requires_grad=True)
        names = {"x": base * 1, "F": m, "mask": (base > 0).detach() if m is torch else Tensor(on_device(host(base.data) > 0))}
        try:
            exec(code, names)
            names["y"].sum().backward()
            answers.append(host(base.grad).tolist() if m is F else base.grad.tolist())
        except RuntimeError as error:
            answers.append("modified by an inplace operation" in str(error))
    assert answers[0] == answers[1], answers


def test_a_second_backward_runs_through_the_ops_that_save_nothing_as_torchs():
    """triu, tril, roll, diagonal, diag and frac save no tensor: a second backward() runs through them, as PyTorch's."""
    grads = []
    for m in (torch, F):
        x = torch.ones(3, 3, dtype=torch.float64, requires_grad=True) if m is torch else \
            Tensor(on_device(numpy.ones((3, 3))), requires_grad=True)
        y = m.diag(m.frac(x.triu().tril(1).roll(1, 0).diagonal())).sum()
        y.backward()
        y.backward()
        grads.append(x.grad.tolist() if m is torch else host(x.grad).tolist())
    assert grads[0] == grads[1]
