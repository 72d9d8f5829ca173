"""Every differentiable op passes a float64 gradient check; float32 agrees with float64."""
import numpy
import pytest

import tinyrrn
from tinyrrn import Tensor, gradcheck
from tinyrrn import functional as F


def t(rng, *shape, positive=False):
    data = rng.standard_normal(shape)
    return Tensor(numpy.abs(data) + 0.5 if positive else data, requires_grad=True)


ELEMENTWISE = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "neg": lambda a, b: -a,
    "pow": lambda a, b: (a * a + 1) ** 1.5,
    "exp": lambda a, b: F.exp(a),
    "log": lambda a, b: F.log(a * a + 1),
    "relu": lambda a, b: F.relu(a),
    "sigmoid": lambda a, b: F.sigmoid(a),
    "tanh": lambda a, b: F.tanh(a),
    "scalar ops": lambda a, b: 2 - a * 3 + 1 / (b * b + 1),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise(rng, name):
    gradcheck(ELEMENTWISE[name], [t(rng, 3, 4), t(rng, 3, 4)])


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3))])
def test_broadcasting_binary_ops(rng, shapes):
    a, b = t(rng, *shapes[0]), t(rng, *shapes[1])
    gradcheck(lambda a, b: a * b + a - b / (b * b + 1), [a, b])


def test_reductions(rng):
    x = t(rng, 2, 3, 4)
    gradcheck(lambda x: x.sum(), [x])
    gradcheck(lambda x: x.sum(axis=1), [x])
    gradcheck(lambda x: x.mean(axis=(0, 2), keepdims=True), [x])
    gradcheck(lambda x: x.mean(axis=-1), [x])


def test_shape_ops(rng):
    x = t(rng, 2, 3, 4)
    gradcheck(lambda x: x.reshape(4, 6) * 2, [x])
    gradcheck(lambda x: x.transpose(0, 2), [x])
    gradcheck(lambda x: x.permute(2, 0, 1), [x])
    gradcheck(lambda x: x.flatten(1), [x])


def test_indexing_and_slicing(rng):
    x = t(rng, 4, 5)
    gradcheck(lambda x: x[1:3, ::2], [x])
    gradcheck(lambda x: x[:, 2], [x])
    gradcheck(lambda x: x[numpy.array([0, 2, 2, 3])], [x])  # repeated rows accumulate
    gradcheck(lambda x: x[numpy.array([0, 1, 1]), numpy.array([4, 2, 2])], [x])


def test_concatenate_and_stack(rng):
    a, b = t(rng, 2, 3), t(rng, 2, 5)
    gradcheck(lambda a, b: F.concatenate([a, b], axis=1), [a, b])
    c, d = t(rng, 2, 3), t(rng, 2, 3)
    gradcheck(lambda c, d: F.stack([c, d, c], axis=1), [c, d])


def test_matmul_and_linear(rng):
    gradcheck(F.matmul, [t(rng, 3, 4), t(rng, 4, 2)])
    gradcheck(F.matmul, [t(rng, 2, 3, 4), t(rng, 4, 5)])  # broadcast batch
    gradcheck(F.linear, [t(rng, 5, 4), t(rng, 3, 4), t(rng, 3)])
    gradcheck(F.linear, [t(rng, 2, 5, 4), t(rng, 3, 4)])


CONV_CASES = [  # (kernel, stride, padding, H)
    (1, 1, 0, 5), (1, 2, 0, 6), (3, 1, 1, 6), (3, 2, 1, 7), (3, 1, 0, 5), (7, 2, 3, 9), (5, 1, 2, 5),
]


@pytest.mark.parametrize("kernel,stride,padding,size", CONV_CASES)
def test_conv2d(rng, kernel, stride, padding, size):
    x, w, b = t(rng, 2, 3, size, size + 1), t(rng, 4, 3, kernel, kernel), t(rng, 4)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])


def test_conv2d_channels_last_input_gives_the_same_result(rng):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    plain = F.conv2d(Tensor(x), Tensor(w), padding=1).data
    fast = F.conv2d(Tensor(F.channels_last(x)), Tensor(F.channels_last(w)), padding=1).data
    numpy.testing.assert_allclose(plain, fast, rtol=1e-12)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (3, 3, 0)])
def test_pooling(rng, kernel, stride, padding):
    x = t(rng, 2, 3, 7, 8)
    gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), [x])
    gradcheck(lambda x: F.avg_pool2d(x, kernel, stride, padding), [x])


def test_adaptive_avg_pool(rng):
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, 1), [t(rng, 2, 3, 4, 5)])
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, 2), [t(rng, 2, 3, 4, 6)])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 3)])
def test_batch_norm(rng, training, shape):
    x, w, b = t(rng, *shape), t(rng, 3), t(rng, 3)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    gradcheck(lambda x, w, b: F.batch_norm(x, mean.copy(), var.copy(), w, b, training), [x, w, b])


def test_losses(rng):
    logits = t(rng, 5, 7)
    gradcheck(lambda z: F.log_softmax(z), [logits])
    gradcheck(lambda z: F.log_softmax(z, axis=0), [logits])
    gradcheck(lambda z: F.cross_entropy(z, numpy.array([0, 6, 3, 3, 1])), [logits])


def test_dropout_gradient_matches_its_mask(rng):
    x = t(rng, 50, 40)
    tinyrrn.manual_seed(3)
    y = F.dropout(x, 0.3)
    y.backward(numpy.ones(y.shape))
    kept = y.data != 0
    numpy.testing.assert_allclose(x.grad, kept / 0.7)
    assert 0.6 < kept.mean() < 0.8
    assert F.dropout(x, 0.3, training=False) is x


def test_astype_gradient_returns_in_the_input_dtype(rng):
    x = t(rng, 3)
    y = x.astype("float32")
    assert y.dtype == numpy.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == numpy.float64


def test_gradcheck_reports_a_wrong_gradient(rng):
    def bad_square(x):
        from tinyrrn.tensor import make_result
        return make_result(x.data ** 2, (x,), lambda g: (g * x.data,), "bad_square")  # should be 2x
    with pytest.raises(tinyrrn.GradcheckError, match=r"input 0.*analytic .* vs numeric"):
        gradcheck(bad_square, [t(rng, 3)])
    with pytest.raises(tinyrrn.GradcheckError, match="random direction"):
        gradcheck(bad_square, [t(rng, 30, 30)])
    with pytest.raises(tinyrrn.GradcheckError, match="vs numeric nan"), numpy.errstate(invalid="ignore"):
        gradcheck(lambda x: F.log(x - 10), [t(rng, 3)])  # NaN everywhere is no pass


def test_float32_forward_agrees_with_float64(rng):
    x = rng.standard_normal((2, 3, 9, 9))
    w = rng.standard_normal((4, 3, 3, 3)) * 0.3
    mean, var = numpy.zeros(4), numpy.ones(4)

    def network(x, w):
        h = F.conv2d(x, w, stride=2, padding=1)
        h = F.relu(F.batch_norm(h, mean.astype(x.dtype), var.astype(x.dtype), training=True))
        h = F.max_pool2d(h, 3, 2, 1)
        return F.log_softmax(F.adaptive_avg_pool2d(h, 1).flatten(1))

    out64 = network(Tensor(x), Tensor(w)).data
    out32 = network(Tensor(x.astype("float32")), Tensor(w.astype("float32"))).data
    assert out32.dtype == numpy.float32
    numpy.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
