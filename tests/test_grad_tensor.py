"""``x.grad`` is a Tensor, as PyTorch's: a leaf that requires no grad, of x's shape, dtype and device.

It was the raw array (NumPy's or CuPy's), so the methods a PyTorch user calls on it answered silently
otherwise: std() and var() NumPy's population formula, max(0) the values without the indices, size an int,
data a memoryview, sum(0, keepdim=True) a TypeError. Each case runs PyTorch's code beside tinyrrn's.
"""
import numpy
import pytest

from devices import host, on_device
import strict_xp
from tinyrrn import Tensor, nn, optim

torch = pytest.importorskip("torch", reason='needs PyTorch as a reference oracle: pip install ".[oracle]"')
pytestmark = pytest.mark.oracle


def leaves(values=(1.0, -2.0, 3.0)):
    """The same leaf (float32, requires grad) in tinyrrn (on the default device) and in PyTorch."""
    values = numpy.asarray(values, "float32")
    return Tensor(on_device(values), requires_grad=True), torch.tensor(values, requires_grad=True)


def backward_twice(x, weights):
    """(x * weights).sum().backward() twice; the gradient held after the first, and x.grad after each."""
    (x * weights).sum().backward()
    held, first = x.grad, x.grad.clone()
    (x * weights).sum().backward()
    return held, first


def test_a_gradient_is_a_tensor_that_requires_no_grad():
    ours, theirs = leaves()
    (ours * ours).sum().backward()
    (theirs * theirs).sum().backward()
    assert type(ours.grad) is Tensor and type(theirs.grad) is torch.Tensor
    assert (ours.grad.requires_grad, ours.grad.grad_fn, ours.grad.is_leaf) == (False, None, True)
    assert (theirs.grad.requires_grad, theirs.grad.grad_fn, theirs.grad.is_leaf) == (False, None, True)
    assert ours.grad.dtype == numpy.float32 and ours.grad.device == ours.device
    numpy.testing.assert_allclose(host(ours.grad), theirs.grad.numpy())


def test_a_second_backward_adds_into_the_same_gradient_tensor():
    """As PyTorch: x.grad is the same object after another backward(), added to in place (its version counts it),
    so a reference held from before sees the sum."""
    ours, theirs = leaves()
    held, first = backward_twice(ours, 2.0)
    torch_held, torch_first = backward_twice(theirs, 2.0)
    assert held is ours.grad and torch_held is theirs.grad
    numpy.testing.assert_allclose(host(held), torch_held.numpy())
    numpy.testing.assert_allclose(host(first), torch_first.numpy())
    assert held.version == torch_held._version == 1


def test_a_retained_gradient_is_a_new_tensor_at_each_backward():
    """retain_grad() keeps the sum in a new Tensor at each backward(), as PyTorch's (not in place)."""
    grads = []
    for x in leaves():
        y = x * 2
        y.retain_grad()
        z = (y * y).sum()
        z.backward(retain_graph=True)
        held = y.grad
        z.backward()
        grads.append((held, y.grad))
    (held, now), (torch_held, torch_now) = grads
    assert (held is now) == (torch_held is torch_now) == False  # noqa: E712 (the same verdict)
    numpy.testing.assert_allclose(host(held), torch_held.numpy())
    numpy.testing.assert_allclose(host(now), torch_now.numpy())
    assert type(now) is Tensor and not now.requires_grad


def test_leaves_of_one_gradient_get_their_own_memory():
    """a + b sends one gradient to both: each leaf's .grad is its own, as PyTorch's, and not the caller's."""
    a, b = leaves()[0], leaves()[0]
    gradient = Tensor(on_device(numpy.ones(3, "float32")))
    (a + b).backward(gradient)
    a.grad.mul_(3)
    numpy.testing.assert_allclose(host(b.grad), numpy.ones(3))
    numpy.testing.assert_allclose(host(gradient), numpy.ones(3))


@pytest.mark.parametrize("zero", ["optimizer", "module"])
def test_zero_grad_without_setting_to_none_zeroes_the_same_tensor(zero):
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    held = []
    for model, opt, x in ((ours, optim.SGD(ours.parameters(), lr=0.1), Tensor(on_device(numpy.ones((1, 3), "float32")))),
                          (theirs, torch.optim.SGD(theirs.parameters(), lr=0.1), torch.ones(1, 3))):
        model(x).sum().backward()
        held.append(model.weight.grad)
        (opt if zero == "optimizer" else model).zero_grad(set_to_none=False)
        assert held[-1] is model.weight.grad
    numpy.testing.assert_array_equal(host(held[0]), held[1].numpy())
    assert not host(held[0]).any()


def test_an_assigned_tensor_is_kept_and_added_into():
    """x.grad = t keeps t itself, and backward() adds into it in place, as PyTorch."""
    assigned = []
    for x, make in zip(leaves(), (lambda: Tensor(on_device(numpy.ones(3, "float32"))), lambda: torch.ones(3))):
        t = make()
        x.grad = t
        assert x.grad is t
        (x * 2).sum().backward()
        assert x.grad is t
        assigned.append(t)
        x.grad = None
        assert x.grad is None
    numpy.testing.assert_array_equal(host(assigned[0]), assigned[1].numpy())


@pytest.mark.parametrize("value", [numpy.zeros(3, "float32"), [0.0, 0.0, 0.0], 1.0])
def test_assigning_anything_but_a_tensor_or_none_is_refused(value):
    for x in leaves():
        with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None"):
            x.grad = value
        assert x.grad is None


@pytest.mark.parametrize("shape, dtype", [((2,), "float32"), ((3,), "float64"), ((3,), "int64")])
def test_a_tensor_of_another_shape_or_dtype_is_refused(shape, dtype):
    ours, theirs = leaves()
    with pytest.raises(RuntimeError):
        theirs.grad = torch.zeros(shape, dtype=getattr(torch, dtype))
    with pytest.raises(RuntimeError, match="assigned grad"):
        ours.grad = Tensor(on_device(numpy.zeros(shape, dtype)))


def test_a_tensor_on_another_device_is_refused():
    x = leaves()[0]
    ones = numpy.ones(3, "float32")
    other = ones if x.device == "gpu" else strict_xp.asarray(ones)
    with pytest.raises(RuntimeError, match="different device"):
        x.grad = Tensor(other)


def test_array_methods_answer_as_torchs():
    """What NumPy's arrays answered otherwise: std() (unbiased), max(0) (values and indices), size() (a method),
    view(-1), numpy(), sum(0, keepdim=True), item() and dim()."""
    ours, theirs = leaves([[1.0, 5.0], [4.0, 2.0]])
    (ours * ours).sum().backward()
    (theirs * theirs).sum().backward()
    g, tg = ours.grad, theirs.grad
    assert g.std().item() == pytest.approx(tg.std().item())
    assert g.var().item() == pytest.approx(tg.var().item())
    values, indices = g.max(0)
    numpy.testing.assert_allclose(host(values), tg.max(0).values.numpy())
    numpy.testing.assert_array_equal(host(indices), tg.max(0).indices.numpy())
    assert tuple(g.size()) == tuple(tg.size()) and g.dim() == tg.dim() == 2
    numpy.testing.assert_allclose(host(g.view(-1)), tg.view(-1).numpy())
    numpy.testing.assert_allclose(host(g.sum(0, keepdim=True)), tg.sum(0, keepdim=True).numpy())
    numpy.testing.assert_allclose(g.to("cpu").numpy(), tg.numpy())
    assert g[0, 1].item() == tg[0, 1].item() == 10.0


def test_hooks_receive_tensors():
    """register_hook's hook gets a Tensor that requires no grad; a post-accumulate hook sees .grad a Tensor."""
    seen = {}
    for name, x in zip(("ours", "theirs"), leaves()):
        x.register_hook(lambda g, name=name: seen.__setitem__(name, [type(g).__name__, g.requires_grad]))
        x.register_post_accumulate_grad_hook(lambda t, name=name: seen[name].append(type(t.grad).__name__))
        (x * 2).sum().backward()
    assert seen == {"ours": ["Tensor", False, "Tensor"], "theirs": ["Tensor", False, "Tensor"]}


def test_a_module_conversion_keeps_the_gradient_tensor():
    """model.double() converts each gradient in place of its Tensor (PyTorch's param.grad.data = ...)."""
    held = []
    for model, x in ((nn.Linear(2, 2), Tensor(on_device(numpy.ones((1, 2), "float32")))),
                     (torch.nn.Linear(2, 2), torch.ones(1, 2))):
        model(x).sum().backward()
        held.append(model.weight.grad)
        model.double()
        assert held[-1] is model.weight.grad
    assert held[0].dtype == numpy.float64 and held[1].dtype == torch.float64


def test_optimisers_step_from_tensor_gradients_as_torchs():
    """SGD with momentum and Adam step on .grad Tensors as PyTorch's."""
    start = numpy.array([0.5, -1.0, 2.0], "float32")
    for make, make_torch in ((lambda p: optim.SGD(p, lr=0.1, momentum=0.9, maximize=True),
                              lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, maximize=True)),
                             (lambda p: optim.Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1))):
        ours, theirs = Tensor(on_device(start), requires_grad=True), torch.tensor(start, requires_grad=True)
        for x, opt in ((ours, make([ours])), (theirs, make_torch([theirs]))):
            for _ in range(2):
                (x * x * x).sum().backward()
                opt.step()
                opt.zero_grad()
        numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("new_shape", [(1, 3), (2,)])
def test_a_gradient_that_does_not_fit_the_held_grad_is_refused_as_torchs(new_shape):
    # after x.data = ... of another shape, the held x.grad keeps the old one; backward() added into it with NumPy's
    # ValueError ("non-broadcastable output operand") where PyTorch raises RuntimeError
    for x, data in zip(leaves(), (Tensor(on_device(numpy.ones(new_shape, "float32"))), torch.ones(new_shape))):
        (x * 2).sum().backward()
        x.data = data
        with pytest.raises(RuntimeError, match="shape|size"):
            (x * 2).sum().backward()
