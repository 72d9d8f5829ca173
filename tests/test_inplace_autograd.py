"""In-place ops inside recorded graphs, as PyTorch: on a computed tensor (and on a tensor that requires no grad, by a
value that does) the op is recorded in the graph; the ops that used the tensor before keep its old node; a node that
saved a tensor changed since refuses the backward (the version counter); a leaf that requires grad is refused; a view
of a computed tensor is refused (PyTorch rebases its base's graph: not supported)."""
import numpy
import pytest

import tinyrrn
from devices import host, on_device
from tinyrrn import Tensor, gradcheck, nn
from tinyrrn import functional as F


def _mask(new):
    return new([True, False, True])


# each case: f(x, w, new) -> the tensor whose sum is backpropagated; x and w are float64 leaves that require grad,
# new(values) a tensor that requires no grad (float64, or bool)
CASES = {
    "add_ on a product": lambda x, w, new: (x * 2).add_(1),
    "mul_ by a leaf saves the original": lambda x, w, new: (x * 1).mul_(w),
    "div_ by a leaf": lambda x, w, new: (x * 2).div_(w),
    "relu_": lambda x, w, new: (x * 2).relu_(),
    "sub_, /=, **= in a row": lambda x, w, new: _chain(x * 2, w),
    "a use before the change keeps the old node": lambda x, w, new: _used_before(x),
    "used before, changed twice": lambda x, w, new: _used_before_twice(x),
    "exp used before an add_": lambda x, w, new: _exp_before(x, w),
    "relu then add_ on the input": lambda x, w, new: _relu_of_changed(x),
    "setitem of a leaf's element": lambda x, w, new: _put(x * 2, 0, w[1]),
    "setitem into zeros": lambda x, w, new: _put(new([0.0, 0.0, 0.0]), 0, w[1] * x[0]),
    "setitem at a mask, one value": lambda x, w, new: _put(x * 2, _mask(new), w[0]) * w,
    "setitem at repeated indices": lambda x, w, new: _put(x * 2, [0, 0, 2], w) * w,
    "setitem, then mul_": lambda x, w, new: _put(_put(x * 2, slice(1, None), w[0]), 0, 7.0).mul_(w),
    "copy_": lambda x, w, new: (x * 2).copy_(w),
    "copy_ into zeros, then relu_": lambda x, w, new: new([0.0, 0.0, 0.0]).copy_(x).relu_(),
    "fill_ with a number": lambda x, w, new: (x * 2).fill_(3.0),
    "fill_ with a 0-d tensor": lambda x, w, new: new([0.0, 0.0, 0.0]).fill_(w[0]) * x,
    "masked_fill_ with a number": lambda x, w, new: (x * 2).masked_fill_(_mask(new), 5.0),
    "masked_fill_ with a 0-d tensor": lambda x, w, new: (x * 2).masked_fill_(_mask(new), w[2]),
    "add_ of a leaf into zeros": lambda x, w, new: new([0.0, 0.0, 0.0]).add_(w),
    # a basic-index view changed in place: its base's graph rebased, as PyTorch's
    "mul_ of a view": lambda x, w, new: _view_changed(x * 2, lambda y: y[0].mul_(2)),
    "y[0] += w[1]": lambda x, w, new: _view_changed(x * 2, lambda y: y.__setitem__(0, _iadd(y[0], w[1]))),
    "a slice *= a leaf's slice, then relu_ of a view of a view": lambda x, w, new: _view_changed(
        x * 2, lambda y: (y[1:].mul_(w[:2]), y[1:][1:].relu_())) * w,
    "add_ into a view of zeros": lambda x, w, new: _view_changed(new([0.0, 0.0, 0.0]), lambda y: y[:2].add_(w[1:])) * x,
    "setitem into a view": lambda x, w, new: _view_changed(x * 2, lambda y: y[1:].__setitem__(0, w[2])),
    # nodes that saved no input, or no output, as PyTorch's
    "exp's input changed": lambda x, w, new: _input_changed(x, lambda y: y.exp()),
    "cumsum's input changed": lambda x, w, new: _input_changed(x, lambda y: y.cumsum(0)),
    "cumsum's output changed": lambda x, w, new: _output_changed(x, lambda y: y.cumsum(0)),
    "gather's output changed": lambda x, w, new: _output_changed(x, lambda y: y.gather(0, new([2, 0]))),
    "masked_fill's input changed": lambda x, w, new: _input_changed(x, lambda y: y.masked_fill(_mask(new), 0.0)),
    "masked_fill's output changed": lambda x, w, new: _output_changed(x, lambda y: y.masked_fill(_mask(new), 0.0)),
    # PyTorch refuses these at backward: a node saved the tensor changed since
    "sigmoid's output changed": lambda x, w, new: x.sigmoid().mul_(2),
    "mul saved the tensor changed": lambda x, w, new: _saved_then_changed(x, w),
    "relu_ then add_": lambda x, w, new: (x * 2).relu_().add_(1),
    "exp's output zeroed": lambda x, w, new: x.exp().zero_(),
    "exp's output +=": lambda x, w, new: _iadd(x.exp(), 1),
    "x *= x": lambda x, w, new: _imul_itself(x + 0),
}


def _view_changed(y, change):
    change(y)
    return y


def _input_changed(x, op):
    y = x * 1
    z = op(y)
    y.add_(0.5)
    return z


def _output_changed(x, op):
    z = op(x * 1)
    z.mul_(1.5)
    return z


def _chain(y, w):
    y.sub_(w)
    y /= 2
    y **= 2
    return y


def _used_before(x):
    y = x * 2
    z = y * 3
    y.mul_(2)
    return z + y


def _used_before_twice(x):
    y = x * 2
    z = y * 3
    y.add_(1)
    u = y * 5
    y.mul_(2)
    return z + u + y


def _exp_before(x, w):
    y = x * 1
    z = y.exp()
    y.mul_(w)
    return z


def _relu_of_changed(x):
    y = x * 2
    z = y.relu()
    y.add_(1)
    return z


def _put(y, index, value):
    y[index] = value
    return y


def _saved_then_changed(x, w):
    y = x * 2
    z = y * w
    y.mul_(2)
    return z + y


def _iadd(y, value):
    y += value
    return y


def _imul_itself(y):
    y *= y
    return y


def _run(case, x, w, new):
    """The gradients of x and w (None where none), or the type and message of the error."""
    try:
        case(x, w, new).sum().backward()
    except (RuntimeError, NotImplementedError) as error:
        return type(error), str(error)
    return [None if t.grad is None else t.grad.tolist() for t in (x, w)]


@pytest.mark.parametrize("name", list(CASES))
def test_in_place_ops_in_a_graph_as_torch(torch, name):
    values = ([1.0, -2.0, 3.0], [0.5, 2.0, -1.0])
    theirs = _run(CASES[name], *(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values),
                  lambda v: torch.from_numpy(numpy.array(v)))
    ours = _run(CASES[name], *(Tensor(on_device(numpy.array(v)), requires_grad=True) for v in values),
                lambda v: Tensor(on_device(numpy.array(v))))
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and ours[0] is theirs[0], (ours, theirs)
        assert "modified by an inplace operation" in theirs[1] and "modified by an inplace operation" in ours[1]
        assert "is at version" in ours[1] and "expected version" in ours[1]
    else:
        assert [g is None for g in ours] == [g is None for g in theirs]
        for mine, torchs in zip(ours, theirs):
            assert mine is None or mine == pytest.approx(torchs, rel=1e-12)


def test_a_float32_tensor_changed_by_a_float64_one_keeps_its_dtype_and_sends_float64_back(torch):
    for lib, make in ((torch, lambda v, d: torch.tensor(v, dtype=getattr(torch, d), requires_grad=True)),
                      (None, lambda v, d: Tensor(on_device(numpy.array(v, d)), requires_grad=True))):
        x, w = make([1.0, 2.0], "float32"), make([3.0, 4.0], "float64")
        y = x * 2
        y.mul_(w)
        y.sum().backward()
        assert str(y.dtype).endswith("float32") and str(w.grad.dtype).endswith("float64")
        assert host(x.grad).tolist() == [6.0, 8.0] if lib is None else x.grad.tolist() == [6.0, 8.0]


@pytest.mark.parametrize("change", [lambda y, w: y.add_(w), lambda y, w: y.mul_(w), lambda y, w: y.div_(w * w + 1),
                                    lambda y, w: y.sub_(w, alpha=2), lambda y, w: y.__ipow__(2),
                                    lambda y, w: y.relu_(), lambda y, w: F.relu(y, inplace=True),
                                    lambda y, w: y.masked_fill_(w > 0, 2.0), lambda y, w: y.copy_(w * 3),
                                    lambda y, w: y.__setitem__((slice(None), 1), w[:, 0]),
                                    lambda y, w: y.__setitem__(([0, 1], [2, 0]), w[0, :2]),
                                    lambda y, w: y.__setitem__(w > 0, w[1, 1]),
                                    lambda y, w: y.fill_(w[0, 0]), lambda y, w: y.zero_(),
                                    lambda y, w: y[0].mul_(w[1]), lambda y, w: y[:, 1:][1].relu_(),
                                    lambda y, w: y.__setitem__((slice(None), 1), _iadd(y[:, 1], w[:, 2]))])
def test_in_place_ops_through_a_graph_pass_a_float64_gradient_check(change):
    rng = numpy.random.default_rng(0)
    x, w = (Tensor(on_device(rng.standard_normal((2, 3)) + 0.1), requires_grad=True) for _ in range(2))

    def f(x, w):
        y = x * 1.5 + w
        change(y, w)
        return y * w

    assert gradcheck(f, (x, w))


def test_an_integer_tensor_changed_by_a_tensor_that_requires_grad_stays_out_of_the_graph_as_torchs():
    w = Tensor([1.5, 2.0], requires_grad=True)
    y = Tensor(numpy.zeros(2, "int64"))
    y[0] = w[0]
    y.copy_(w)
    assert not y.requires_grad and y.is_leaf and host(y).tolist() == [1, 2]


def test_the_ops_that_used_a_tensor_before_its_change_keep_its_old_node_and_its_hooks():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    old_node, seen = y.grad_fn, []
    y.retain_grad()
    y.register_hook(lambda g: seen.append(("old", host(g).tolist())))
    y.mul_(3)
    y.register_hook(lambda g: seen.append(("new", host(g).tolist())))
    assert y.grad_fn is not old_node and old_node.name() == y.grad_fn.name() == "MulBackward0"
    assert y.grad_fn.next_functions[0][0] is old_node and y.version == 1
    y.sum().backward()
    assert seen == [("new", [1.0, 1.0]), ("old", [3.0, 3.0])]  # as PyTorch: hooks stay with the old node
    assert host(y.grad).tolist() == [1.0, 1.0] and host(x.grad).tolist() == [6.0, 6.0]  # retain_grad(): the new


def test_a_change_under_no_grad_is_not_recorded_and_is_seen_by_the_version_check():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with tinyrrn.no_grad():
        y.add_(1)
    y.sum().backward()  # mul saved x, not y
    assert host(x.grad).tolist() == [2.0, 2.0] and y.op == "mul"
    y = x.exp()
    with tinyrrn.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="output of 'exp'.* is at version 1; expected version 0 instead"):
        y.sum().backward()


@pytest.mark.parametrize("change", [lambda v: v.mul_(2), lambda v: v.__iadd__(1), lambda v: v.__setitem__(0, 5.0),
                                    lambda v: F.relu(v, inplace=True), lambda v: v.zero_()])
@pytest.mark.parametrize("view", [lambda y: y.view(4), lambda y: y.permute(1, 0), lambda y: y.reshape(4)])
def test_an_in_place_change_of_a_view_other_than_a_basic_index_recorded_in_a_graph_is_refused(view, change):
    x = Tensor(on_device(numpy.ones((2, 2))), requires_grad=True)
    y = x * 2
    with pytest.raises(NotImplementedError, match="in-place change of a view .* not supported"):
        change(view(y))
    plain = Tensor(on_device(numpy.zeros((2, 2))))
    with pytest.raises(NotImplementedError, match="in-place change of a view"):
        view(plain).add_(x[0, 0])  # PyTorch rebases plain's graph
    assert y.version == 0 and plain.version == 0 and host(plain).tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("view", [lambda y: y[0], lambda y: y.view(12), lambda y: y[1:][0]])
def test_a_view_used_after_its_base_changed_in_the_graph_is_refused(view):
    """PyTorch regenerates the view's node from its base's new one; tinyrrn's view keeps its old node: refused where
    a backward reaches it used after the change (used before, it is PyTorch's old node)."""
    x = Tensor(on_device(numpy.ones((3, 2, 2))), requires_grad=True)
    y = x * 2
    v = view(y)
    before = v * 3
    y.mul_(2)
    before.sum().backward()  # used before the change: the old node
    assert host(x.grad).sum() == 6.0 * v.data.size
    with pytest.raises(NotImplementedError, match="view .* changed after the view was made"):
        v.sum().backward()
    with pytest.raises(NotImplementedError, match="view .* changed after the view was made"):
        (view(y) + v).sum().backward()


def test_relu_inplace_in_a_model_trains_as_torchs(torch):
    rng = numpy.random.default_rng(1)
    weights = [rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((2, 4)), rng.standard_normal(2)]
    data = rng.standard_normal((5, 3))
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(inplace=True), torch.nn.Linear(4, 2)).double()
    for model in (ours, theirs):
        for p, value in zip(model.parameters(), weights):
            with (torch.no_grad() if model is theirs else tinyrrn.no_grad()):
                p.copy_(Tensor(on_device(value)) if model is ours else torch.from_numpy(value))
    ours(Tensor(on_device(data))).square().sum().backward()
    theirs(torch.from_numpy(data)).square().sum().backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        numpy.testing.assert_allclose(host(p.grad), q.grad.numpy(), rtol=1e-12)
