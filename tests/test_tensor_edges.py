"""PyTorch's semantics or a clear refusal, at the edges a third operator probe found: in-place operators,
NumPy scalars, PyTorch's argument names, and the arguments PyTorch refuses."""
import types
import warnings

import numpy
import pytest

import strict_xp
import tinyrrn
from devices import host, on_device
from tinyrrn import Tensor, backend, nn, optim
from tinyrrn import functional as F


# -- in-place operators -----------------------------------------------------------------------------------
def test_in_place_operators_write_into_the_tensor_as_pytorchs():
    a = Tensor([1.0, 2.0])
    alias, version = a, a.version
    a += 1
    a *= Tensor([2.0, 3.0])
    a -= 1
    a /= 2
    assert a is alias and host(alias).tolist() == [1.5, 4.0] and a.version == version + 4
    ints = Tensor(numpy.array([5, 7]))
    ints //= 2
    ints **= 2
    assert host(ints).tolist() == [4, 9] and ints.dtype == numpy.int64


def test_a_hand_written_sgd_step_under_no_grad_changes_the_parameters():
    layer = nn.Linear(2, 1)
    before = host(layer.weight).copy()
    layer(Tensor(on_device(numpy.ones((3, 2), "float32")))).sum().backward()
    with tinyrrn.no_grad():
        for p in layer.parameters():
            p -= 0.1 * p.grad
    numpy.testing.assert_allclose(host(layer.weight), before - 0.3, rtol=1e-6)


def test_in_place_operators_refuse_what_pytorch_refuses_and_record_the_rest():
    leaf = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an in-place operation"):
        leaf += 1
    computed = leaf * 2
    computed -= 1  # recorded in the graph, as PyTorch (tinyrrn refused it)
    plain = Tensor([1.0, 2.0])
    plain += leaf  # plain joins the graph
    (computed * plain).sum().backward()
    assert host(leaf.grad).tolist() == [5.0, 11.0]  # d/dl (2l - 1)(p + l) = 4l + 2p - 1, p = [1, 2]
    with pytest.raises(RuntimeError, match="can't be cast"):
        ints = Tensor(numpy.array([1, 2]))
        ints /= 2
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        plain += Tensor(numpy.ones((2, 2), "float32"), device=plain.device)



@pytest.mark.parametrize("change", [lambda v: v.mul_(2), lambda v: v.__iadd__(1), lambda v: v.__setitem__(0, 5.0),
                                    lambda v: F.relu(v, inplace=True)])
@pytest.mark.parametrize("view", [lambda x: x[:1], lambda x: x.reshape(2, 2), lambda x: x[1:][:, 0]])
def test_an_in_place_change_of_a_view_of_a_leaf_that_requires_grad_is_refused_as_pytorchs(view, change):
    # PyTorch refuses it ("a view of a leaf Variable that requires grad is being used in an in-place operation"):
    # tinyrrn's message said that tinyrrn does not support in-place changes in a graph, as if PyTorch did this one
    leaf = Tensor(on_device(numpy.ones((2, 2), "float32")), requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an in-place"):
        change(view(leaf))

def test_a_graph_refuses_backward_after_an_in_place_change_of_its_input():
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with tinyrrn.no_grad():
        w += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# -- NumPy scalars, non-numbers, gradients of another shape ---------------------------------------------------
def test_a_parameter_made_from_a_scalar_trains_and_loads():
    p = nn.Parameter(Tensor([1.0, 2.0]).mean())
    assert p.data.shape == () and not isinstance(p.data, numpy.generic)
    (p * p).backward()
    optim.SGD([p], lr=0.1).step()
    assert float(host(p)) == pytest.approx(1.2)
    q = nn.Parameter(numpy.float32(1.5))
    (q * q).backward()
    optim.Adam([q], lr=0.1).step()
    assert float(host(q)) == pytest.approx(1.4)
    module = nn.Module()
    module.p = nn.Parameter(numpy.float32(0.0))
    module.load_state_dict({"p": numpy.float32(3.0)})
    assert float(host(module.p)) == 3.0


@pytest.mark.parametrize("data", ["abc", [Tensor([1.0]), Tensor([2.0])]])
def test_a_tensor_holds_numbers_only(data):
    with pytest.raises(TypeError, match="holds bools, integers or floats"):
        Tensor(data)


@pytest.mark.parametrize("data", [None, (i for i in range(3))], ids=["None", "generator"])
def test_a_tensor_of_no_values_is_torchs_runtime_error(torch, data):
    with pytest.raises(RuntimeError, match="Could not infer dtype"):
        torch.tensor(data)
    with pytest.raises(RuntimeError, match="Could not infer dtype"):
        Tensor(data)


def test_a_gradient_of_another_shape_or_dtype_is_refused():
    p = nn.Parameter(numpy.array([1.0, 2.0, 3.0], "float32"))
    with pytest.raises(RuntimeError, match="does not match the tensor"):
        p.grad = Tensor(numpy.array([1.0], "float32"))  # SGD broadcast it over the three weights
    with pytest.raises(RuntimeError, match="does not match the tensor"):
        p.grad = Tensor(numpy.ones(3))
    p.grad = Tensor(numpy.ones(3, "float32"))
    p.grad = None


# -- PyTorch's argument names and the arguments it refuses -------------------------------------------------------
def test_dim_and_keepdim_are_pytorchs_names_for_axis_and_keepdims():
    x = Tensor(numpy.arange(6.0).reshape(2, 3))
    assert host(x.sum(dim=0)).tolist() == [3.0, 5.0, 7.0] and x.mean(1, keepdim=True).shape == (2, 1)
    assert F.softmax(x, dim=0).shape == F.log_softmax(x, dim=1).shape == (2, 3)
    assert F.stack([x, x], dim=1).shape == (2, 2, 3) and F.concatenate([x, x], dim=1).shape == (2, 6)
    with pytest.raises(TypeError, match="both axis= and dim="):
        x.sum(0, dim=1)
    with pytest.raises(TypeError, match="'dim' must be an int"):
        x.sum(True)  # not dim 1


def test_size_numel_and_dim_are_pytorchs(torch):
    """x.size() is the shape and x.size(d) one length (not NumPy's element count, which is numel()),
    with PyTorch's IndexError beyond the dimensions."""
    data = numpy.zeros((2, 3, 4), "float32")
    ours, theirs = Tensor(data), torch.from_numpy(data)
    assert ours.size() == tuple(theirs.size()) == (2, 3, 4)
    assert [ours.size(d) for d in (0, 2, -1, -3)] == [theirs.size(d) for d in (0, 2, -1, -3)]
    assert (ours.numel(), ours.dim()) == (theirs.numel(), theirs.dim()) == (24, 3)
    for a, b in ((ours, theirs), (Tensor(numpy.float32(1)), torch.tensor(1.0))):
        for dim in (3, -4) if a.ndim else (0,):
            with pytest.raises(IndexError):
                b.size(dim)
            with pytest.raises(IndexError):
                a.size(dim)
    assert Tensor(numpy.float32(1)).size() == () and Tensor(numpy.float32(1)).numel() == 1


def test_indices_pytorch_reads_otherwise_than_numpy():
    x = Tensor(numpy.arange(6.0).reshape(2, 3))
    assert x[Tensor(numpy.array(1, "uint8"))].shape == (1, 2, 3)  # a 0-d uint8 tensor is a mask
    assert x[Tensor(numpy.array(0, "uint8"))].shape == (0, 2, 3)
    with pytest.raises(IndexError, match="ambiguous"):
        x[[[0, 1], [2, 2]]]  # PyTorch: x[[0, 1], [2, 2]]; NumPy: one array of indices
    assert x[[0, 1]].shape == (2, 3)
    for index in ([2 ** 64 - 1], (0, [2 ** 64 - 1]), 2 ** 64 - 1, numpy.uint64(2 ** 64 - 1), -2 ** 63 - 1):
        with pytest.raises(ValueError, match="Overflow"):  # as PyTorch; NumPy read [2 ** 64 - 1] as [-1]
            x[index]
        with pytest.raises(ValueError, match="Overflow"):
            x[index] = 1.0
    for index in ([0, slice(1, None)], [0, None], [Ellipsis, 0]):  # PyTorch: a tuple (deprecated); NumPy refuses
        with pytest.raises(IndexError, match="index with a tuple"):
            x[index]
        with pytest.raises(IndexError, match="index with a tuple"):
            x[index] = 1.0


def test_wide_unsigned_integers_do_not_promote():
    with pytest.raises(TypeError, match="uint16, uint32, uint64"):
        Tensor(numpy.array([1], "uint64")) + Tensor(numpy.array([1], "int64"))
    assert (Tensor(numpy.array([1], "uint16")) + Tensor(numpy.array([1.0], "float32"))).dtype == numpy.float32


@pytest.mark.parametrize("number", [2 ** 63, 2 ** 64 - 1])
def test_a_python_int_past_int64_is_a_uint64_as_torchs(torch, number):
    """PyTorch types an int past int64 as uint64, which a bool tensor does not promote with; tinyrrn wrapped it
    into int64 (True + 2 ** 63 was -2 ** 63 + 1). An integer or float tensor keeps its dtype, as there."""
    with pytest.raises(RuntimeError, match="uint64"):
        torch.tensor([True]) + number
    with pytest.raises(RuntimeError, match="uint64"):
        Tensor(numpy.array([True])) + number
    with pytest.raises(RuntimeError, match="uint64"):
        Tensor(numpy.array(True)) == number
    assert (Tensor(numpy.array([1])) + number).numpy().tolist() == (torch.tensor([1]) + number).tolist()


@pytest.mark.parametrize("dtype, exponent", [("uint8", 256), ("int8", 255), ("int32", 2 ** 31), ("float16", 65520.0),
                                             ("float16", 2 ** 40), ("int64", 2 ** 63)])
def test_a_number_exponent_the_result_cannot_hold_is_refused_as_torch(torch, dtype, exponent):
    """PyTorch's pow converts a number exponent to the result's dtype, refusing an overflow; tinyrrn wrapped it
    (uint8 ** 256 was ** 0) or let NumPy refuse it as a negative power."""
    with pytest.raises(RuntimeError, match="without overflow"):
        torch.tensor([2], dtype=getattr(torch, dtype)) ** exponent
    with pytest.raises(RuntimeError, match="without overflow"):
        Tensor(numpy.array([2], dtype)) ** exponent
    assert (Tensor(numpy.array([2], dtype)) ** 1.5).dtype == (numpy.float16 if dtype == "float16" else numpy.float32)


def test_pad_takes_none_as_zero_and_refuses_values_its_dtype_cannot_hold():
    assert host(F.pad(Tensor([1.0, 2.0]), (1, 1), value=None)).tolist() == [0.0, 1.0, 2.0, 0.0]
    assert host(F.pad(Tensor(numpy.array([1, 2])), (1, 1), value=None)).tolist() == [0, 1, 2, 0]
    for x, value in ((Tensor(numpy.array([1, 2])), float("nan")), (Tensor(numpy.ones(2, "float16")), 1e6)):
        with pytest.raises(ValueError, match="without overflow"):
            F.pad(x, (1, 1), value=value)


@pytest.mark.parametrize("value", [(1, 2), [1], "1", 1 + 2j, numpy.array(2.0), numpy.array([2.0])])
@pytest.mark.parametrize("amounts", [(1, 1), (0, 0)])
def test_pad_refuses_a_value_that_is_not_a_real_number_as_torch(value, amounts):
    """PyTorch's pad takes a float value (a Python or NumPy number), else a TypeError, even where nothing is
    filled; tinyrrn padded with a complex number's real part, took a list or an array where the pad only
    cropped, and failed on a tuple or a string with NumPy's ValueError or TypeError about isfinite."""
    with pytest.raises(TypeError, match="pad: argument 'value' must be a real number"):
        F.pad(Tensor(numpy.ones((2, 3), "float32")), amounts, value=value)


@pytest.mark.parametrize("dtype, value", [("uint8", -1), ("int8", 300), ("int64", float("nan")), ("float16", 1e10),
                                          ("bool", float("nan")), ("bool", float("inf"))])
@pytest.mark.parametrize("amounts", [(0, 0), (-1, 0), (0, -1, 1, 0), (1, 1)])
def test_pad_checks_its_value_where_it_fills_as_torch(torch, dtype, value, amounts):
    """PyTorch checks pad's value only where the pad fills elements (a pad that only crops takes any), and pads a
    bool tensor with any number (NaN and inf are True); tinyrrn refused them all, a float16 one with NumPy's
    overflow warning."""
    data = numpy.arange(6).reshape(2, 3).astype(dtype)
    try:
        expected = torch.nn.functional.pad(torch.tensor(data), amounts, value=value).numpy()
    except RuntimeError:
        with pytest.raises(RuntimeError, match="without overflow"):
            F.pad(Tensor(on_device(data)), amounts, value=value)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = host(F.pad(Tensor(on_device(data)), amounts, value=value))
    assert ours.dtype == expected.dtype
    numpy.testing.assert_array_equal(ours, expected)


def test_softmax_of_a_0d_tensor_takes_dim_0_or_minus_1_only():
    assert float(host(F.softmax(Tensor(numpy.array(1.0)), 0))) == 1.0
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax(Tensor(numpy.array(1.0)), 5)


def test_cross_entropy_refuses_what_pytorch_refuses():
    logits = Tensor(numpy.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="a weight that requires grad"):
        F.cross_entropy(logits, Tensor(numpy.array([0, 2])), Tensor(numpy.ones(3, "float32"), requires_grad=True))
    with pytest.raises(ValueError, match="ignore_index is not supported for floating point target"):
        F.cross_entropy(logits, Tensor(numpy.full((2, 3), 1 / 3, "float32")), ignore_index=0)
    with pytest.raises(TypeError, match="int64"):
        F.cross_entropy(logits, Tensor(numpy.array([0, 2], "int32")))


def test_cross_entropy_over_nothing_counted_is_nan_with_zero_gradients(torch):
    logits = Tensor(numpy.zeros((2, 3)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch's 0/0 is silent: NumPy's warning is not
        loss = F.cross_entropy(logits, Tensor(numpy.array([-100, -100])))
        loss.backward()
    theirs = torch.zeros((2, 3), dtype=torch.float64, requires_grad=True)
    their_loss = torch.nn.functional.cross_entropy(theirs, torch.tensor([-100, -100]))
    their_loss.backward()
    assert numpy.isnan(float(host(loss))) and numpy.isnan(their_loss.item())
    assert host(logits.grad).tolist() == theirs.grad.tolist() == [[0.0] * 3] * 2


def test_batch_norm_refuses_what_pytorch_refuses():
    x = Tensor(numpy.ones((4, 2, 3, 3)))
    stats = numpy.zeros(2), numpy.ones(2)
    with pytest.raises(ValueError, match="eps must be positive"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="both be None or neither"):
        F.batch_norm(x, stats[0], None, training=True)
    with pytest.raises(ValueError, match="mixed dtype"):
        nn.BatchNorm2d(2)(x)  # float64 input, float32 statistics
    half = F.batch_norm(Tensor(numpy.ones((4, 2, 3, 3), "float16")), *(s.astype("float32") for s in stats),
                        training=True)
    assert half.dtype == numpy.float16  # float32 statistics for a float16 input: PyTorch allows that


def test_layers_check_pytorchs_arguments_when_made():
    with pytest.raises(ValueError, match="not supported for strided convolutions"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="invalid padding string"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        nn.Linear(2, 2).train("x")
    x = Tensor(numpy.array([-1.0, 2.0]))
    assert host(nn.ReLU(inplace=True)(x)).tolist() == [0.0, 2.0] and nn.Identity(3, unused=1)(x) is x


def test_ops_refuse_arrays_and_tensors_on_two_devices(strict_gpu):
    with pytest.raises(TypeError, match="relu: expected a Tensor, got ndarray"):
        F.relu(numpy.ones(3))
    with pytest.raises(TypeError, match="linear: expected a Tensor"):
        nn.Linear(3, 2)(numpy.ones((2, 3), "float32"))
    on_gpu = Tensor(numpy.ones((1, 3, 8, 8), "float32")).to("gpu")
    with pytest.raises(RuntimeError, match="same device, found cpu and gpu"):
        nn.Conv2d(3, 2, 3).to("cpu")(on_gpu)
    with pytest.raises(RuntimeError, match="same device"):
        on_gpu + Tensor(numpy.ones((1, 3, 8, 8), "float32"), device="cpu")
    assert backend.device_of(strict_xp.ones(1)) == "gpu"


def test_state_dicts_leave_out_none_and_take_old_batch_norm_checkpoints():
    module = nn.Module()
    module.register_buffer("unused", None)
    assert list(module.state_dict()) == [] and module.load_state_dict({}) == ([], [])
    bn = nn.BatchNorm2d(2)
    old = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}  # before PyTorch 0.4.1
    assert bn.load_state_dict(old) == ([], [])


def test_convolutions_and_pools_take_one_unbatched_image_as_pytorchs(torch):
    rng = numpy.random.default_rng(0)
    x, w = rng.standard_normal((3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    cases = [lambda m, x, w: m.conv2d(x, w, None, 1, 1), lambda m, x, w: m.conv_transpose2d(x, w[:3], None, 2, 1),
             lambda m, x, w: m.max_pool2d(x, 2), lambda m, x, w: m.avg_pool2d(x, 3, 2, 1),
             lambda m, x, w: m.adaptive_avg_pool2d(x, (2, 3))]
    for case in cases:
        ours_x = Tensor(on_device(x), requires_grad=True)
        theirs_x = torch.tensor(x, requires_grad=True)
        ours, theirs = case(F, ours_x, Tensor(on_device(w))), case(torch.nn.functional, theirs_x, torch.tensor(w))
        assert ours.shape == tuple(theirs.shape)
        numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
        ours.sum().backward()
        theirs.sum().backward()
        numpy.testing.assert_allclose(host(ours_x.grad), theirs_x.grad.numpy(), rtol=1e-10, atol=1e-12)
    _, indices = F.max_pool2d(Tensor(on_device(x)), 2, return_indices=True)
    assert host(indices).tolist() == torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)[1].tolist()


def test_concatenate_and_stack_take_any_dtypes_promoted_as_torch_cat(torch):
    ints, floats = numpy.array([1, 2]), numpy.array([3.5], "float32")
    joined = F.concatenate([Tensor(on_device(ints)), Tensor(on_device(floats))])
    theirs = torch.cat([torch.tensor(ints), torch.tensor(floats)])
    assert joined.dtype == numpy.float32 == theirs.numpy().dtype and host(joined).tolist() == theirs.tolist()
    assert F.stack([Tensor(on_device(ints))] * 2).dtype == numpy.int64


def test_del_removes_a_parameter_as_pytorchs():
    layer = nn.Linear(2, 2)
    del layer.bias
    assert list(layer.state_dict()) == ["weight"] and len(list(layer.parameters())) == 1


# -- the autograd engine and modules, from an autograd probe -------------------------------------------------
@pytest.mark.parametrize("op", [lambda x: x.relu(), lambda x: x.exp(), lambda x: x.sigmoid(), lambda x: x.tanh()])
def test_an_output_changed_in_place_before_backward_is_refused(op):
    """exp, sigmoid, tanh and relu use their output in backward: changed, it would give a wrong gradient (1 / x
    is x.reciprocal() * 1, as PyTorch's, whose output mul does not use: it is taken, as PyTorch)."""
    x = Tensor(numpy.array([0.5, 1.5]), requires_grad=True)
    y = op(x)
    with tinyrrn.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(numpy.ones(2))


@pytest.mark.parametrize("through", ["detach", "a view"])
def test_a_change_through_a_detached_tensor_or_a_view_counts_for_the_original(through):
    x = Tensor(numpy.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = (x * x).sum()
    with tinyrrn.no_grad():
        other = x.detach() if through == "detach" else x[0:2]
        other += 1
    assert host(x).tolist() == ([2.0, 3.0, 4.0] if through == "detach" else [2.0, 3.0, 3.0])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_item_assignment_writes_into_the_tensor_as_pytorchs():
    x = Tensor(numpy.array([[1.0, 2.0], [2.0, 3.0]]))
    x[0] += 1  # the view's += writes through, then __setitem__ writes the same values
    x[:, 1] = 0
    x[Tensor(numpy.array([False, True]))] = Tensor(numpy.array([7.0, 7.0]))
    assert host(x).tolist() == [[2.0, 0.0], [7.0, 7.0]]
    leaf = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf[0] = 5.0
    assert host(leaf).tolist() == [1.0, 2.0]  # nothing written


def test_train_calls_each_childs_own_train():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(2)

        def train(self, mode=True):
            super().train(mode)
            self.bn.eval()  # a common pattern: batch norm kept frozen
            return self

    net = nn.Sequential(Frozen(), nn.Linear(2, 2))
    net.train()
    assert net.training and net[1].training and net[0].training and not net[0].bn.training


def test_no_grad_decorates_plain_functions_and_generators_with_or_without_parentheses():
    x = Tensor([1.0], requires_grad=True)

    @tinyrrn.no_grad
    def bare():
        return x * 2

    @tinyrrn.no_grad()
    def steps():
        yield x * 2
        assert not tinyrrn.is_grad_enabled()
        yield x * 3

    assert not bare().requires_grad and [t.requires_grad for t in steps()] == [False, False]
    assert tinyrrn.is_grad_enabled() and (x * 2).requires_grad


def test_optimisers_refuse_a_parameter_twice_and_a_non_leaf():
    p = nn.Parameter(numpy.ones(2, "float32"))
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1, momentum=0.9)  # PyTorch warns, then applies each update twice
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


def test_buffers_and_children_are_listed_once_and_checked_when_registered():
    shared = nn.Linear(2, 2)
    parent = nn.Module()
    parent.a, parent.b = shared, shared
    parent.register_buffer("counts", Tensor(numpy.zeros(2)))
    parent.register_buffer("unused", None)
    parent.a.register_buffer("also", parent.counts)
    assert [name for name, _ in parent.named_children()] == ["a"] and len(list(parent.children())) == 1
    assert [name for name, _ in parent.named_buffers()] == ["counts"]
    for bad in ("a.b", "", "a"):
        with pytest.raises(KeyError):
            parent.register_buffer(bad, Tensor(numpy.zeros(1)))
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer"):
        parent.counts = 3


def test_gradcheck_takes_computed_inputs_and_leaves_their_gradients_alone():
    x = Tensor(numpy.array([0.3, -1.2]), requires_grad=True)
    x.grad = Tensor(numpy.full(2, 7.0))
    assert tinyrrn.gradcheck(lambda a: a * a, [x * 1.0]) and tinyrrn.gradcheck(lambda a: a.exp(), [x])
    assert host(x.grad).tolist() == [7.0, 7.0]
    with pytest.raises(TypeError, match="must return one Tensor"):
        tinyrrn.gradcheck(lambda a: (a, a), [x])


def test_an_optimiser_refuses_the_state_of_another_before_changing_anything():
    p = nn.Parameter(numpy.ones(2, "float32"))
    adam = optim.Adam([p], lr=0.1)
    p.grad = Tensor(numpy.ones(2, "float32"))
    adam.step()
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="a state of another optimiser"):
        sgd.load_state_dict(adam.state_dict())
    assert sgd.steps == 0


def test_gradients_accumulate_into_the_same_array_as_pytorchs():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    (x * 2).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    assert x.grad is first and host(first).tolist() == [5.0, 5.0]


def test_gradients_that_add_up_beyond_float16_are_inf_without_a_warning_as_torchs(torch):
    """Gradients summed by backward (of a tensor used twice, a retained one's, a leaf's accumulated) overflow float16
    to inf silently, as PyTorch's; NumPy's additions in tinyrrn's engine warned (an error under -W error)."""
    def run(tensor, values):
        x, z = tensor([1.0, 1.0]), tensor([1.0])
        y = x * 0.001
        y.retain_grad()
        ((y * tensor([40000.0, 30000.0])).sum() + (y * tensor([40000.0, 30000.0])).sum()).backward(retain_graph=True)
        (y * 10000.0).sum().backward()
        (z * 40000.0).sum().backward()
        (z * 40000.0).sum().backward()
        return values(y.grad), values(z.grad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = run(lambda v: Tensor(on_device(numpy.array(v, "float16")), requires_grad=True), lambda g: host(g).tolist())
    assert ours == run(lambda v: torch.tensor(v, dtype=torch.float16, requires_grad=True), lambda g: g.tolist())


def test_a_0_d_leafs_gradient_holds_an_array_accumulated_in_place_as_pytorchs():
    """NumPy computes a 0-d tensor's gradient as a NumPy scalar: it was kept as .grad, so that a second backward()
    made a new one and zero_grad(set_to_none=False) failed (a probe found it). The gradient Tensor holds a 0-d
    array."""
    x = Tensor(2.0, requires_grad=True)
    y = x * x
    y.retain_grad()
    y.backward(retain_graph=True)
    first = x.grad
    y.backward()
    assert x.grad is first and host(first).tolist() == 8.0 and first.shape == ()
    assert hasattr(first.data, "strides") and hasattr(y.grad.data, "strides") and host(y.grad).tolist() == 2.0
    tinyrrn.tensor.zero_grads([x], set_to_none=False)
    assert x.grad is first and host(first).tolist() == 0.0
    x.grad = Tensor(on_device(numpy.float32(1.0))[()])  # a 0-d array's element: a NumPy scalar on the CPU
    (x * 3).backward()
    assert hasattr(x.grad.data, "strides") and host(x.grad).tolist() == 4.0


def test_a_gradient_on_another_device_is_refused_as_pytorch():
    """A host tensor assigned as a device tensor's .grad (or a device tensor as a host tensor's) was kept, and the
    next backward() failed adding to it. The device side here is the strict CuPy stand-in."""
    x = Tensor(on_device(numpy.ones(2, "float32")), requires_grad=True)
    ones = numpy.ones(2, "float32")
    with pytest.raises(RuntimeError, match="assigned grad has data located on a different device"):
        x.grad = Tensor(ones if tinyrrn.backend.device_of(x.data) == "gpu" else strict_xp.asarray(ones))
    assert x.grad is None


def test_a_backward_gradient_on_another_device_is_refused_as_pytorch():
    """backward(gradient) with a gradient Tensor on another device than the tensor's failed deep in the graph with the
    array library's error about mixing devices; PyTorch refuses it at once, naming both. The other side here is the
    strict CuPy stand-in."""
    x = Tensor(on_device(numpy.ones(2, "float32")), requires_grad=True)
    y = x * 2
    ones = numpy.ones(2, "float32")
    other = ones if tinyrrn.backend.device_of(x.data) == "gpu" else strict_xp.asarray(ones)
    with pytest.raises(RuntimeError, match="invalid gradient - expected device"):
        y.backward(Tensor(other), retain_graph=True)
    assert x.grad is None
    y.backward(Tensor(on_device(ones)))
    assert host(x.grad).tolist() == [2.0, 2.0]


@pytest.mark.cpu_only("read-only arrays are NumPy's (a CuPy array has no writeable flag)")
def test_zero_grad_in_place_zeroes_a_read_only_gradient_too():
    """A Tensor of a read-only array assigned to .grad (backward() adds to it in a new array) made
    zero_grad(set_to_none=False) raise NumPy's ValueError (a probe found it); PyTorch's zeroes any gradient, in the
    same Tensor."""
    layer = nn.Linear(2, 2)
    optimiser = optim.SGD(layer.parameters(), lr=0.1)
    for zero_grad in (layer.zero_grad, optimiser.zero_grad):
        layer.weight.grad = weight_grad = Tensor(numpy.broadcast_to(numpy.float32(1.0), (2, 2)))
        layer.bias.grad = Tensor(numpy.ones(2, "float32"))
        layer.bias.grad.data.flags.writeable = False
        zero_grad(set_to_none=False)
        assert layer.weight.grad is weight_grad
        assert host(layer.weight.grad).tolist() == [[0.0, 0.0]] * 2 and host(layer.bias.grad).tolist() == [0.0, 0.0]
        layer(Tensor(numpy.ones((1, 2), "float32"))).sum().backward()
        assert host(layer.weight.grad).tolist() == [[1.0, 1.0]] * 2 and host(layer.bias.grad).tolist() == [1.0, 1.0]


# -- refusals, conversions and exception classes as PyTorch's (operator probe 4) ----------------------------
@pytest.mark.parametrize("make", [lambda: Tensor(numpy.array([2, 3], "uint8")) ** -3,  # not ** 253
                                  lambda: Tensor([1, 2]) ** numpy.int64(-1)])
def test_an_integer_to_a_negative_number_power_is_refused(make):
    with pytest.raises(RuntimeError, match="negative integer powers"):
        make()


@pytest.mark.parametrize("data", [[1, 2 ** 63], 2 ** 63, 2 ** 64, [[1], [-2 ** 63 - 1]], [2 ** 64], [True, 2 ** 64]])
def test_an_int_beyond_int64_is_refused_as_pytorch(data):
    with pytest.raises(ValueError, match="Overflow"):
        Tensor(data)


@pytest.mark.parametrize("data", [[1.5, 2.0 ** 63], [1.5, 2 ** 64], [[2 ** 64], [0.5]], [-2 ** 70, 1.0]])
def test_floats_beyond_int64_are_floats_as_pytorch(torch, data):
    """A float among the values makes them floats, an int beyond int64 too (PyTorch; tinyrrn refused it)."""
    ours = Tensor(data)
    assert ours.dtype == numpy.float32
    numpy.testing.assert_array_equal(host(ours), torch.tensor(data).numpy())


def test_an_empty_integer_tensor_divides_by_zero():
    assert (Tensor(numpy.zeros(0, "int64")) // 0).shape == (0,)
    assert F.div(Tensor(numpy.zeros((2, 0), "int64")), Tensor(numpy.zeros(0, "int64")), rounding_mode="trunc").shape == (2, 0)
    with pytest.raises(RuntimeError, match="division by zero"):
        Tensor([1, 2]) // 0


@pytest.mark.parametrize("index, shape", [((..., ...), (2, 3, 4)), ((..., 0, ...), (2, 3)), ((0, ..., 1, ...), (3,)),
                                          ((None, ..., None, ...), (1, 2, 3, 4, 1)),
                                          ((..., numpy.array([True, False, True, False]), ...), (2, 3, 2))])
def test_several_ellipses_index_as_pytorch(index, shape):
    """Each Ellipsis stands for the dimensions the other items leave (shapes from torch 2.13)."""
    x = Tensor(numpy.arange(24.0).reshape(2, 3, 4))
    assert x[index].shape == shape
    x[index] = -1.0  # written where read
    assert float((x == -1.0).sum()) == numpy.prod(shape)


def test_several_ellipses_past_the_last_dimension_are_refused():
    with pytest.raises(IndexError):
        Tensor(numpy.zeros((2, 3)))[..., ..., 0]


@pytest.mark.parametrize("data, index, value, expected", [
    (numpy.array([[1, 2, 3], [4, 5, 6]]), 0, numpy.array([1.5, 2.5, -3.5]), [[1, 2, -3], [4, 5, 6]]),  # a tensor
    (numpy.array([[1, 2, 3], [4, 5, 6]]), (0, 0), numpy.array(7.9), [[7, 2, 3], [4, 5, 6]]),
    (numpy.array([True, False]), 1, numpy.array(3), [True, True]),
    (numpy.array([1, 2], "uint8"), 0, -1, [255, 2]),
    (numpy.array([1, 2], "uint8"), 0, -255, [1, 2]),
    (numpy.array([1, 2], "int64"), 1, -7.9, [1, -7]),
    (numpy.array([1.0, 2.0], "float16"), 0, 1e6, [numpy.inf, 2.0]),
    (numpy.array([1.0, 2.0], "float32"), 0, numpy.nan, [numpy.nan, 2.0]),
    (numpy.array([False, False]), 0, numpy.nan, [True, False]),
])
def test_item_assignment_converts_as_pytorchs_copy(data, index, value, expected):
    """x[i] = v is PyTorch's copy_: any tensor converts (floats round toward zero into integers), and a
    number that the dtype holds, a negative int wrapping into an unsigned dtype."""
    x = Tensor(on_device(data.copy()))
    x[index] = Tensor(on_device(value)) if isinstance(value, numpy.ndarray) else value
    assert x.dtype == data.dtype
    numpy.testing.assert_array_equal(host(x.data), numpy.array(expected, data.dtype))


@pytest.mark.parametrize("dtype, value", [("uint8", 300), ("uint8", -256), ("uint8", -0.5), ("int8", 127.9),
                                          ("int64", numpy.inf), ("int64", numpy.nan), ("int64", 1e20),
                                          ("float32", 1e40)])
def test_item_assignment_refuses_a_number_the_dtype_cannot_hold(dtype, value):
    with pytest.raises(RuntimeError, match="without overflow"):
        Tensor(numpy.zeros(2, dtype))[0] = value


@pytest.mark.parametrize("index", [[0, 3], (slice(None), [1, -4]), (1, [2, 3], None)])
def test_item_assignment_at_an_array_index_out_of_range_is_an_index_error(index):
    """x[i] = v with an index array out of range refuses, as NumPy and PyTorch, on every device: CuPy would wrap
    the index around and write to another element in silence."""
    x = Tensor(on_device(numpy.zeros((3, 3))))
    index = tuple(Tensor(on_device(i)) if isinstance(i, list) else i for i in index) if isinstance(index, tuple) \
        else index
    with pytest.raises(IndexError, match="out of bounds for dimension"):
        x[index] = 1.0
    assert not host(x.data).any()


def test_item_assignment_of_a_wrong_shape_is_a_runtime_error():
    x = Tensor(numpy.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="does not fit"):
        x[0] = Tensor(numpy.array([1.0, 2.0]))
    assert x.version == 0


def test_in_place_arithmetic_still_refuses_a_cast_across_kinds():
    x = Tensor(numpy.array([1, 2]))
    with pytest.raises(RuntimeError, match="can't be cast"):
        x += 1.5


@pytest.mark.parametrize("make", [lambda: Tensor([1], requires_grad=True), lambda: nn.Parameter(numpy.array([1])),
                                  lambda: setattr(Tensor([1]), "requires_grad", True),
                                  lambda: Tensor([1, 2]).mean(), lambda: Tensor([True, False]).mean(),
                                  lambda: F.log_softmax(Tensor([1, 2]), 0), lambda: F.dropout(Tensor([1, 2]), 0.5)])
def test_an_integer_tensor_where_floats_are_needed_is_pytorchs_runtime_error(make):
    """PyTorch raises RuntimeError (or NotImplementedError, one); tinyrrn's DtypeError is both, and a TypeError."""
    with pytest.raises(NotImplementedError) as error:
        make()
    assert isinstance(error.value, RuntimeError) and isinstance(error.value, TypeError)


def test_float_of_several_elements_is_a_value_error_item_a_runtime_error():
    with pytest.raises(ValueError, match="2 elements"):
        float(Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="2 elements"):
        Tensor([1.0, 2.0]).item()


def test_reshape_and_permute_take_pytorchs_keywords():
    x = Tensor(numpy.ones((2, 3), "float32"))
    assert x.reshape(shape=(3, 2)).shape == (3, 2) and x.permute(dims=(1, 0)).shape == (3, 2)
    assert F.reshape(x, shape=[6]).shape == (6,)
    with pytest.raises(TypeError, match="both"):
        x.reshape(3, 2, shape=(3, 2))


@pytest.mark.parametrize("change", [lambda alias: alias.__iadd__(100.0), lambda alias: alias.__setitem__(0, -50.0)])
def test_a_change_through_tensor_of_a_tensor_is_seen_by_the_graph_as_torch(torch, change):
    """Tensor(t) shares t's data, so it shares t's version counter (torch.Tensor(t) / as_tensor(t) too)."""
    w = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(numpy.array([3.0, 4.0]))
    loss = (w * x).sum()
    change(Tensor(x))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    tw, tx = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0])
    tloss = (tw * tx).sum()
    change(torch.Tensor(tx))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    moved = Tensor(x, device="cpu")
    assert moved.data is x.data and moved.version == x.version


@pytest.mark.parametrize("dtype, value, error", [
    ("float32", None, TypeError), ("float32", "3", TypeError), ("int64", [7.5, 8, 9], TypeError),
    ("float32", 1 + 2j, RuntimeError), ("float32", 3.4028235e38 * 1.00000001, RuntimeError)])
def test_item_assignment_refuses_what_torch_refuses(torch, dtype, value, error):
    with pytest.raises(error):
        torch.zeros((2, 3), dtype=getattr(torch, dtype))[0] = value
    x = Tensor(numpy.zeros((2, 3), dtype))
    with pytest.raises(error):
        x[0] = value
    assert x.version == 0 and not x.numpy().any()


@pytest.mark.parametrize("index", [[0, 2], [True, False, True]])
def test_advanced_index_put_needs_the_same_dtype_as_torch(torch, index):
    with pytest.raises(RuntimeError, match="dtypes match"):
        torch.zeros(3)[torch.tensor(index)] = torch.tensor([5.0, 6.0], dtype=torch.float64)
    x = Tensor(numpy.zeros(3, "float32"))
    with pytest.raises(RuntimeError, match="dtypes match"):
        x[Tensor(numpy.array(index))] = Tensor(numpy.array([5.0, 6.0]))
    x[Tensor(numpy.array(index))] = Tensor(numpy.array([5.0, 6.0], "float32"))
    x[1:] = Tensor(numpy.array([7.0, 8.0]))  # basic indexing casts, as torch's copy_
    assert x.numpy().tolist() == [5.0, 7.0, 8.0]


@pytest.mark.parametrize("index", [lambda m: m, lambda m: (0, m), lambda m: (Ellipsis, m, None), lambda m: [True, False, True]])
@pytest.mark.parametrize("dtype, value", [("int32", numpy.array(2.7, "float32")), ("float32", numpy.array([[-1.5]])),
                                          ("uint8", numpy.array(-1)), ("bool", numpy.array(2.5)),
                                          ("uint8", numpy.array(300)), ("float16", numpy.array(1e6)),
                                          ("int32", numpy.array(numpy.nan))])
def test_a_one_element_value_at_a_mask_is_filled_in_as_a_number_as_torch(torch, index, dtype, value):
    """PyTorch puts a one-element value at a single mask with masked_fill_: of any dtype, converted as a number
    with its overflow check; tinyrrn refused another dtype as index_put does."""
    mask = numpy.array([True, False, True])
    expected, x = torch.zeros((3, 3), dtype=getattr(torch, dtype)), Tensor(numpy.zeros((3, 3), dtype))
    try:
        expected[index(torch.tensor(mask))] = torch.tensor(value)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="without overflow"):
            x[index(Tensor(mask))] = Tensor(value)
        assert x.version == 0
        return
    x[index(Tensor(mask))] = Tensor(value)
    numpy.testing.assert_array_equal(x.numpy(), expected.numpy())


def test_an_element_of_a_tensor_fills_its_mask_as_torch(torch):
    """masked_fill_ takes the value as a number: no overlap with x is refused, as PyTorch."""
    mask = numpy.array([True, False, True])
    t = torch.tensor([1.0, 2.0, 3.0])
    t[torch.tensor(mask)] = t[1]
    x = Tensor(numpy.array([1.0, 2.0, 3.0]))
    x[Tensor(mask)] = x[1]
    assert x.numpy().tolist() == t.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="dtypes match"):  # two arrays: index_put, which does not cast
        x[Tensor(mask), [0, 0]] = Tensor(numpy.array(1))
    with pytest.raises(RuntimeError, match="dtypes match"):  # a 0-d mask is an array of indices there
        t[torch.tensor(True)] = torch.tensor(1)
    with pytest.raises(RuntimeError, match="dtypes match"):
        x[Tensor(numpy.array(True))] = Tensor(numpy.array(1))


@pytest.mark.parametrize("value", [numpy.float64(2.5), numpy.int64(-3), numpy.uint8(7)])
@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8"])
def test_a_numpy_number_is_put_at_an_advanced_index_as_torch(torch, value, dtype):
    """PyTorch takes a NumPy float64 or integer as a number at any index; tinyrrn refused it at an advanced one
    as a tensor of another dtype."""
    expected = torch.zeros(3, dtype=getattr(torch, dtype))
    expected[[0, 2]] = value
    x = Tensor(numpy.zeros(3, dtype))
    x[[0, 2]] = value
    x[Tensor(numpy.array([False, True, False]))] = value
    assert x.numpy().tolist() == [expected[0].item()] * 3


@pytest.mark.parametrize("dtype, values, element", [("uint8", [44], 300), ("uint8", [44], -212),
                                                    ("int64", [16777217], 16777216.0), ("float16", [3.0], 3.0001),
                                                    ("int64", [1, 2], 2.5), ("int64", [1, 2], True)])
def test_in_compares_in_torchs_promoted_dtype(torch, dtype, values, element):
    """``element in x`` is PyTorch's (x == element).any(): 300 is in a uint8 tensor of 44 (300 wraps to 44) and
    16777216.0 in an int64 one of 16777217 (compared in float32); tinyrrn compared with NumPy's rules (False)."""
    data = numpy.array(values, dtype)
    assert (element in Tensor(on_device(data))) is (element in torch.tensor(data))
    with pytest.raises(OverflowError):
        2 ** 64 in Tensor(on_device(data))  # as PyTorch; tinyrrn answered False


def test_torch_refusals_of_method_arguments(torch):
    x, t = Tensor(numpy.ones((2, 3))), torch.ones(2, 3)
    for value in ("a", None):
        with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
            value in t
        with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
            value in x
    for method in ("softmax", "log_softmax"):
        with pytest.raises(TypeError):
            getattr(t, method)()
        with pytest.raises(TypeError, match="dim"):
            getattr(x, method)()
        numpy.testing.assert_allclose(getattr(x, method)(1).numpy(), getattr(t, method)(1).numpy(), rtol=1e-6)
    with pytest.raises(TypeError):
        t.reshape()
    with pytest.raises(TypeError, match="shape"):
        x.reshape()
    assert Tensor(numpy.array([5.0])).reshape(()).shape == ()
    w = Tensor(numpy.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="must be a Tensor"):
        (w * 2).sum().backward(2.0)
    (w * 2).sum().backward(Tensor(numpy.array(2.0)))
    assert w.grad.tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(TypeError):
        torch.nn.GRU(2, 3, bias=0)
    with pytest.raises(TypeError, match="bias should be of type bool"):
        nn.GRU(2, 3, bias=0)


@pytest.mark.parametrize("index", [1.0, (0, 1.5), {1}, object(), (Ellipsis, 2.5)],
                         ids=["1.0", "(0, 1.5)", "{1}", "object()", "(Ellipsis, 2.5)"])  # one id in every worker
def test_an_index_of_no_index_type_is_torchs_index_error(torch, index):
    """A float, a set or any other object as an index item is PyTorch's IndexError (it was an AttributeError)."""
    for x in (torch.arange(4.0).reshape(2, 2), Tensor(on_device(numpy.arange(4.0).reshape(2, 2)))):
        with pytest.raises(IndexError):
            x[index]
        with pytest.raises(IndexError):
            x[index] = 0.0


# -- index tensors' dtypes and writes that read what they overwrite (operator probe 7) ----------------------
@pytest.mark.parametrize("dtype", ["int8", "int16", "uint16", "uint32", "uint64", "float32"])
def test_index_tensors_of_other_dtypes_than_torchs_are_refused(torch, dtype):
    """PyTorch indexes with int64, int32, uint8 (a mask) and bool tensors, and 0-d integers of any dtype; an int8
    index would wrap around silently."""
    index = numpy.array([1, 3], dtype)
    for library, make in ((torch, torch.tensor), (None, Tensor)):
        x = torch.arange(5.0) if library else Tensor(numpy.arange(5.0))
        with pytest.raises(IndexError):
            x[make(index)]
        with pytest.raises(IndexError):
            x[make(index)] = 0.0
    if dtype != "float32":
        assert Tensor(numpy.arange(5.0))[Tensor(numpy.array(3, dtype))].item() == torch.arange(5.0)[3].item()


def _overlapping_writes(lib, make):
    """x[index] = value and in-place operators whose value lies in x's memory, for PyTorch (lib torch) and tinyrrn."""
    def m(x):
        return x.view(2, 3) if lib else x.reshape(2, 3)
    return {
        "x[1:] = x[:-1]": lambda x: x.__setitem__(slice(1, None), x[:-1]),
        "x[:-1] = x[1:]": lambda x: x.__setitem__(slice(None, -1), x[1:]),
        "x[:] = x": lambda x: x.__setitem__(slice(None), x),
        "x[0] = x[1]": lambda x: x.__setitem__(0, x[1]),
        "x[1:] = x[0]": lambda x: x.__setitem__(slice(1, None), x[0]),
        "x[1:] = x[0:1]": lambda x: x.__setitem__(slice(1, None), x[0:1]),
        "x[:3] = x[3:]": lambda x: x.__setitem__(slice(None, 3), x[3:]),
        "x[::2] = x[1::2]": lambda x: x.__setitem__(slice(None, None, 2), x[1::2]),
        "x[[0, 1]] = x[1:3]": lambda x: x.__setitem__(make([0, 1]), x[1:3]),
        "x[[0, 1]] = x[4:]": lambda x: x.__setitem__(make([0, 1]), x[4:]),
        "x[[0, 1]] = x[5]": lambda x: x.__setitem__(make([0, 1]), x[5]),
        "x[mask] = x[3:]": lambda x: x.__setitem__(x > 2.5, x[3:]),
        "x[[0, 1]] = x[[1, 2]]": lambda x: x.__setitem__(make([0, 1]), x[make([1, 2])]),
        "m[0, [0, 1]] = m[1, :2]": lambda x: m(x).__setitem__((0, make([0, 1])), m(x)[1, :2]),
        "m[0, [0, 1]] = m[0, 1:]": lambda x: m(x).__setitem__((0, make([0, 1])), m(x)[0, 1:]),
        "m[[1], [0, 1]] = m[0, :2]": lambda x: m(x).__setitem__((make([1]), make([0, 1])), m(x)[0, :2]),
        "m[0:1] = m[0]": lambda x: m(x).__setitem__(slice(0, 1), m(x)[0]),
        "m[:, 0] = m[:, 1]": lambda x: m(x).__setitem__((slice(None), 0), m(x)[:, 1]),
        "x[1:] += x[:-1]": lambda x: x[1:].__iadd__(x[:-1]),
        "x += x": lambda x: x.__iadd__(x),
        "x[:3] += x[3:]": lambda x: x[:3].__iadd__(x[3:]),
        "x[0:2] *= x[1]": lambda x: x[0:2].__imul__(x[1]),
        "x[0:1] += x[0]": lambda x: x[0:1].__iadd__(x[0]),
        "m += x[:3]": lambda x: m(x).__iadd__(x[:3]),
        "m += m.T": lambda x: m(x).__iadd__(x.view(3, 2).T if lib else x.reshape(3, 2).transpose(0, 1)),
    }


@pytest.mark.parametrize("case", _overlapping_writes(None, None))
def test_writes_that_partly_read_what_they_overwrite_are_refused_as_torch(torch, case):
    """PyTorch refuses a copy whose source partly overlaps its destination, an index_put_ whose value lies in the
    written view at all, and an in-place operator whose other operand partly overlaps it; the rest give its values."""
    def outcome(lib, x, make):
        try:
            _overlapping_writes(lib, make)[case](x)
        except RuntimeError as error:
            assert "single memory location" in str(error)
            return "refused"
        return x.numpy().tolist()

    theirs = outcome(torch, torch.arange(6.0), lambda v: torch.tensor(v))
    assert outcome(None, Tensor(numpy.arange(6.0)), lambda v: Tensor(numpy.array(v))) == theirs


def test_a_0_d_item_is_a_view_as_torchs(torch):
    theirs, x = torch.arange(3.0), Tensor(numpy.arange(3.0))
    their_item, item = theirs[1], x[1]
    theirs[1], x[1] = 7.0, 7.0
    assert item.item() == their_item.item() == 7.0


def test_deepcopy_of_a_computed_tensor_is_refused_as_torch(torch):
    import copy
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy((torch.ones(2, requires_grad=True) * 2).sum())
    x = Tensor(numpy.ones(2, "float32"), requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"Only Tensors created explicitly by the user .* output of 'sum'"):
        copy.deepcopy(y)
    leaf = copy.deepcopy(x)
    assert leaf is not x and leaf.requires_grad and leaf.data is not x.data and leaf.version == x.version
    numpy.testing.assert_array_equal(leaf.data, x.data)
    leaf.data += 1  # its own memory and version
    assert x.data[0] == 1 and x.version == 0
    y.backward()  # the original graph is untouched
    numpy.testing.assert_array_equal(x.grad, [2, 2])
    tied = copy.deepcopy([x, x])
    assert tied[0] is tied[1]


@pytest.mark.parametrize("view", ["slice", "transpose", "flip", "view_first"])
def test_deepcopy_keeps_a_view_on_its_bases_memory_as_torchs(torch, view):
    # PyTorch's deepcopy copies each storage once: a tensor and a view of it copied together still share memory (the
    # copy of a view alone holds its base's whole memory); tinyrrn copied the view's values apart from its base's
    import copy

    def outcome(make):
        x = make(numpy.arange(6.0).reshape(2, 3))
        v = {"slice": lambda: x[1:, 1:], "transpose": lambda: x.t(), "flip": lambda: x.flip(0),
             "view_first": lambda: x[0]}[view]()
        pair = copy.deepcopy((v, x) if view == "view_first" else (x, v))
        x2, v2 = pair[::-1] if view == "view_first" else pair
        x2[1, 2] = 50.0
        x2[0, 1] = 40.0
        alone = copy.deepcopy(v)
        return host(v2.data if isinstance(v2, Tensor) else v2.numpy()).tolist(), host(alone.data if isinstance(
            alone, Tensor) else alone.numpy()).tolist(), host(x.data if isinstance(x, Tensor) else x.numpy()).tolist()
    assert outcome(lambda a: Tensor(on_device(a))) == outcome(torch.tensor)


def test_a_copied_tensor_keeps_no_hook_view_or_inference_mark_as_torchs(torch):
    # PyTorch's deepcopy copies data, requires_grad and grad: not the hooks, nor what made the tensor a view (made
    # under no_grad: no gradient reached it) or an inference tensor
    import copy

    def outcome(lib, make, no_grad, inference_mode):
        x = make([1.0, 2.0])
        x.requires_grad_()
        calls = []
        x.register_hook(lambda g: g * 10)
        x.register_post_accumulate_grad_hook(lambda t: calls.append(1))
        with no_grad():
            view = x[0:1]
        with inference_mode():
            frozen = make([3.0])
        leaf, view, frozen = copy.deepcopy((x, view, frozen))
        (leaf * 1).sum().backward()
        (view * 2).sum().backward()
        view.detach_()  # not a view: detached in place
        frozen.requires_grad_()
        return leaf.grad.tolist(), calls, view.requires_grad, frozen.is_inference()

    theirs = outcome(torch, lambda v: torch.tensor(v), torch.no_grad, torch.inference_mode)
    ours = outcome(None, lambda v: Tensor(numpy.array(v, "float32")), tinyrrn.no_grad, tinyrrn.inference_mode)
    assert ours == theirs == ([1.0, 1.0], [], False, False)


def test_pickle_and_copy_keep_no_grad_hook_or_graph_as_torchs(torch):
    # PyTorch's pickle (and copy.copy, which shares the data) keeps data and requires_grad: a computed tensor comes
    # back a leaf, without grad or hooks (a warning names a hook); a held grad_fn did not stop it
    import copy
    import pickle

    def outcome(lib, make):
        x = make([1.0, 2.0])
        x.requires_grad_()
        y = x * 2
        held = y.grad_fn.next_functions[0]  # the leaf's node
        y.sum().backward(retain_graph=True)
        x.register_hook(lambda g: g * 10)
        with pytest.warns(UserWarning, match="hook .* will not be serialized"):
            back = pickle.loads(pickle.dumps(x))
        with pytest.warns(UserWarning, match="hook .* will not be serialized"):
            shallow = copy.copy(x)
        computed = pickle.loads(pickle.dumps(y))
        (back * 1).sum().backward()
        shares = shallow.data_ptr() == x.data_ptr() if lib else shallow.data is x.data
        return back.grad.tolist(), shallow.grad, computed.is_leaf, computed.requires_grad, shares, held is not None

    theirs = outcome(torch, lambda v: torch.tensor(v))
    ours = outcome(None, lambda v: Tensor(numpy.array(v, "float32")))
    assert ours == theirs == ([1.0, 1.0], None, True, True, True, True)


@pytest.mark.parametrize("dims", [(), (0, 0), (1, 1), (-1, 1)])
def test_flatten_of_one_dimension_is_the_tensor_itself_as_torchs(torch, dims):
    # torch.flatten returns its input when start_dim and end_dim are one dimension (a 1-D tensor's flatten(), and
    # nn.Flatten on (N, C)): a leaf stays a leaf that gets its gradient; tinyrrn made a view, a non-leaf without one
    shape = (2,) if not dims else (2, 3)

    def outcome(lib, x):
        y = x.flatten(*dims)
        (y * 2).sum().backward()
        return y is x, y.is_leaf, tuple(y.shape), y.grad.tolist() if y.grad is not None else None

    theirs = outcome(torch, torch.ones(shape, requires_grad=True))
    assert outcome(None, Tensor(numpy.ones(shape, "float32"), requires_grad=True)) == theirs
    assert theirs[:2] == (True, True)
    assert F.flatten(Tensor(numpy.float32(1.0))).shape == (1,)  # a 0-d tensor is reshaped, as there


def test_adaptive_avg_pool2d_backward_keeps_an_infinite_gradient_in_its_bins(torch):
    # the averaging matrices' zero weights must not turn 0 * inf into NaN outside the bin (torch: inf, finite rest)
    x = numpy.arange(1.0, 15.0).reshape(1, 1, 2, 7)
    g = numpy.ones((1, 1, 2, 3))
    g[0, 0, 1, 0] = numpy.inf
    ours = Tensor(x, requires_grad=True)
    F.adaptive_avg_pool2d(ours, (2, 3)).backward(Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    torch.nn.functional.adaptive_avg_pool2d(theirs, (2, 3)).backward(torch.tensor(g))
    numpy.testing.assert_allclose(ours.grad, theirs.grad.numpy())


# -- a non-Tensor where an op takes a Tensor ---------------------------------------------------------------
_X = numpy.random.default_rng(0).standard_normal((2, 3, 4, 4))
_W = numpy.random.default_rng(1).standard_normal((3, 3, 1, 1))
_TAKES_A_TENSOR = {  # op(v) with v in the place of a tensor argument
    "conv2d input": lambda v: F.conv2d(v, Tensor(_W)), "conv2d weight": lambda v: F.conv2d(Tensor(_X), v),
    "conv_transpose2d input": lambda v: F.conv_transpose2d(v, Tensor(_W)),
    "linear input": lambda v: F.linear(v, Tensor(_W[:, :, 0, 0])), "linear weight": lambda v: F.linear(Tensor(_X[0, 0, :, :3]), v),
    "max_pool2d": lambda v: F.max_pool2d(v, 2), "avg_pool2d": lambda v: F.avg_pool2d(v, 2),
    "adaptive_avg_pool2d": lambda v: F.adaptive_avg_pool2d(v, 2),
    "batch_norm input": lambda v: F.batch_norm(v, None, None, training=True),
    "batch_norm weight": lambda v: F.batch_norm(Tensor(_X), None, None, [1.0] * 3 if v is None else v, training=True),
    "batch_norm running_mean": lambda v: F.batch_norm(Tensor(_X), [0.0] * 3 if v is None else v, Tensor(numpy.ones(3))),
    "relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "exp": F.exp, "log": F.log, "neg": F.neg,
    "softmax": lambda v: F.softmax(v, 1), "log_softmax": lambda v: F.log_softmax(v, 1), "dropout": F.dropout,
    "sum": F.sum, "mean": F.mean, "reshape": lambda v: F.reshape(v, -1), "flatten": F.flatten,
    "permute": lambda v: F.permute(v, (0,)), "transpose": lambda v: F.transpose(v, 0, 0), "pad": lambda v: F.pad(v, (1, 1)),
    "getitem": lambda v: F.getitem(v, 0), "astype": lambda v: F.astype(v, "float32"),
    "cross_entropy": lambda v: F.cross_entropy(v, Tensor(numpy.array([0, 1]))),
    "add": lambda v: F.add(v, v), "pow": lambda v: F.pow(v, v), "div": lambda v: F.div(v, v), "lt": lambda v: F.lt(v, v),
    "add_relu": lambda v: F.add_relu(v, v),
}


@pytest.mark.parametrize("given", ["None", "list", "array"])
@pytest.mark.parametrize("name", _TAKES_A_TENSOR)
def test_an_op_refuses_a_non_tensor_with_torchs_type_error(name, given):
    """PyTorch's TypeError naming the op, not an AttributeError from deep inside it (torch.relu(None) and
    torch.add(array, array) are TypeErrors; running statistics may be arrays, BatchNorm2d's buffers)."""
    if given == "array" and name == "batch_norm running_mean":
        return
    value = {"None": None, "list": [[1.0, 2.0]], "array": _X}[given]
    named = None if name == "div" else name.split()[0]  # div's type promotion names the operand instead
    with pytest.raises(TypeError, match=named):
        _TAKES_A_TENSOR[name](value)


@pytest.mark.parametrize("value", [1, 0, None, "yes", numpy.True_])
def test_requires_grad_is_a_bool_as_torch(torch, value):
    """torch.tensor(requires_grad=1) and Parameter(requires_grad=0) are TypeErrors, ``t.requires_grad = None``
    a RuntimeError; tinyrrn read them as truth values ('yes' made a tensor require grad)."""
    data = numpy.array([1.0, 2.0])
    with pytest.raises(TypeError):
        torch.tensor(data, requires_grad=value)
    with pytest.raises(TypeError):
        Tensor(data, requires_grad=value)
    with pytest.raises(TypeError):
        nn.Parameter(Tensor(data), requires_grad=value)
    theirs, ours = torch.tensor(data), Tensor(data)
    with pytest.raises(RuntimeError):
        theirs.requires_grad = value
    with pytest.raises(RuntimeError, match="must be a bool"):
        ours.requires_grad = value
    assert ours.requires_grad is False


# -- graph shapes in backward ----------------------------------------------------------------------------
@pytest.mark.parametrize("switch", ["on", "off"])
def test_requires_grad_switched_after_the_forward_pass_as_torch(torch, switch):
    """A leaf switched on after the forward pass was not in the graph: torch leaves its grad None (tinyrrn gave it
    a gradient); one switched off gets none either."""
    def run(make):
        x, w = make([1.0, 2.0], requires_grad=switch == "off"), make([3.0, 4.0], requires_grad=True)
        y = (x * w).sum()
        x.requires_grad = switch == "on"
        y.backward()
        return x.grad, w.grad
    ours, theirs = run(Tensor), run(lambda v, **k: torch.tensor(v, dtype=torch.float64, **k))
    assert ours[0] is None and theirs[0] is None
    assert host(ours[1]).tolist() == theirs[1].tolist() == [1.0, 2.0]


def test_operators_take_arrays_where_the_ops_refuse_them_naming_the_argument():
    """x + array, array - x, x += array and x < array take the array as a Tensor (tinyrrn relies on it); F.add and
    the other ops take Tensors and numbers only, as PyTorch's, and say which argument is wrong."""
    x, a = Tensor(numpy.ones((2, 3), "float32")), numpy.arange(3.0, dtype="float32")
    assert host((x + a).data).tolist() == host((a + x).data).tolist() == [[1, 2, 3]] * 2
    assert host((a - x).data).tolist() == [[-1, 0, 1]] * 2 and host((x < a).data).tolist() == [[False, False, True]] * 2
    assert host((x @ a).data).tolist() == [3, 3]
    x += a
    assert host(x.data).tolist() == [[1, 2, 3]] * 2
    with pytest.raises(TypeError, match=r"argument 'other' \(position 2\) must be Tensor, not ndarray"):
        F.add(x, a)
    with pytest.raises(TypeError, match=r"argument 'input' \(position 1\) must be Tensor, not list"):
        F.mul([1.0, 2.0, 3.0], x)
    with pytest.raises(TypeError, match="argument 'input'"):
        F.lt(1, x)
    with pytest.raises(OverflowError, match=str(2 ** 64)):
        x * 2 ** 64


@pytest.mark.parametrize("array", [numpy.array(2.5), numpy.array([2.5, 1.0, 3.0]), numpy.array([0.3, 0.7, 0.9], "float32")])
def test_an_array_divided_by_a_tensor_is_the_arrays_tensor_divided(array):
    """array / x is Tensor(array) / x, as x + array is: array(2.5) / an int64 tensor is float64 (a 0-d float64 tensor
    of a higher category decides), divided once; tinyrrn took x's reciprocal (float32) times the array."""
    for x in (Tensor(on_device(numpy.array([1, 2, 3]))), Tensor(on_device(numpy.array([3.0, 7.0, 0.1], "float32")))):
        expected = Tensor(on_device(array)) / x
        ours = array / x
        assert ours.dtype == expected.dtype
        numpy.testing.assert_array_equal(host(ours), host(expected))


@pytest.mark.parametrize("call, name", [
    (lambda x, a: F.exp(a), "input"), (lambda x, a: F.conv2d(x, a), "weight"),
    (lambda x, a: F.conv2d(x, Tensor(numpy.ones((2, 3, 1, 1))), a[:2, 0, 0, 0]), "bias"),
    (lambda x, a: F.linear(x, a[0, 0]), "weight"), (lambda x, a: F.linear(x, Tensor(a[0, 0]), a[0, 0, 0]), "bias"),
    (lambda x, a: F.batch_norm(x, None, None, Tensor(numpy.ones(3)), a[0, :, 0, 0], training=True), "bias"),
    (lambda x, a: F.matmul(x, a), "other"), (lambda x, a: nn.GRU(4, 2)(x[0], a[0, :1, :, :2]), "hx")])
def test_an_array_for_a_tensor_argument_is_refused_naming_the_argument(call, name):
    """As PyTorch's "argument 'weight' (position 2) must be Tensor": the message says which argument."""
    a = numpy.ones((2, 3, 4, 4))
    with pytest.raises(TypeError, match=f"got ndarray as argument '{name}'"):
        call(Tensor(a), a)


# -- the autograd API as PyTorch's (probe ops13) -------------------------------------------------------------
def test_requires_grad_and_detach_in_place_as_torch(torch):
    """requires_grad_() and detach_() (they were missing): set in place and return the tensor; a computed tensor
    takes requires_grad_(True) only, a view is not detached in place, and a flag that is no bool is a TypeError."""
    x = Tensor(on_device(numpy.ones(2, "float32")))
    assert x.requires_grad_() is x and x.requires_grad and not x.requires_grad_(False).requires_grad
    y = x.requires_grad_() * 3
    assert y.requires_grad_(True) is y
    theirs = torch.ones(2, requires_grad=True) * 3
    assert theirs.requires_grad_(True) is theirs
    for tensor in (y, theirs):
        with pytest.raises(RuntimeError):
            tensor.requires_grad_(False)
        with pytest.raises(TypeError):
            tensor.requires_grad_(1)
    with pytest.raises(RuntimeError):
        Tensor(numpy.ones(2, "int64")).requires_grad_()
    for tensor in (y, theirs):
        with pytest.raises(RuntimeError, match="views in-place"):
            tensor[0].detach_()
        z = tensor * 2
        assert z.detach_() is z and not z.requires_grad and z.is_leaf
    with pytest.raises(RuntimeError):
        z.sum().backward()  # cut from the graph: nothing requires grad
    for tensor in (y, theirs):
        w = tensor * tensor
        tensor.detach_()
        with pytest.raises(RuntimeError):  # a graph that saved it: PyTorch's "saved tensor ... detached in-place"
            w.sum().backward()


def test_detach_in_place_of_a_leaf_changes_no_version_as_torchs(torch):
    """A leaf's detach_() only stops its gradient: PyTorch's version counter stays, so a graph that saved the leaf
    still runs back to the other inputs. tinyrrn counted it as a change in place and refused that backward with
    'modified by an inplace operation ... (an optimiser's step?)'."""
    def outcome(lib, tensor):
        x, w = tensor([1.0, 2.0], requires_grad=True), tensor([3.0, 4.0], requires_grad=True)
        y = x * w
        x.detach_()
        y.sum().backward()
        return x.grad, (w.grad if lib else host(w.grad)).tolist(), x._version if lib else x.version

    theirs = outcome(torch, torch.tensor)
    ours = outcome(None, lambda v, requires_grad: Tensor(on_device(numpy.array(v, "float32")),
                                                         requires_grad=requires_grad))
    assert ours == theirs == (None, [1.0, 2.0], 0)


@pytest.mark.parametrize("later", ["y + 1", "y.reshape(2, 1)", "y.sum()", "y + 1, then y.requires_grad_()"])
def test_an_op_on_a_tensor_detached_in_place_later_is_refused_or_as_torchs(torch, later):
    """y.detach_() after an op used y: PyTorch's graph keeps y's node and the gradient reaches x; tinyrrn's tensor
    is that node, so it lost its gradient in silence (None), or with y.requires_grad_() gave it to y (a probe found
    it). A clear refusal now; detach_() after the backward() is PyTorch's."""
    def run(tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = eval(later.split(", then")[0], {"y": y})
        y.detach_()
        if "requires_grad_" in later:
            y.requires_grad_()
        return x, z
    x, z = run(torch.tensor)
    z.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    x, z = run(lambda v, requires_grad: Tensor(on_device(numpy.array(v, "float32")), requires_grad=requires_grad))
    for call in (lambda: z.sum().backward(), lambda: z.grad_fn.next_functions):
        with pytest.raises(NotImplementedError, match=r"detached in place \(detach_\(\)\) after the forward pass"):
            call()
    assert x.grad is None
    x = Tensor(on_device(numpy.array([1.0, 2.0], "float32")), requires_grad=True)
    y = x * 2
    (y + 1).sum().backward()
    y.detach_()  # after the backward(): as PyTorch
    (y.requires_grad_() * 3).sum().backward()
    assert host(x.grad).tolist() == [2.0, 2.0] and host(y.grad).tolist() == [3.0, 3.0]


def test_retain_grad_keeps_a_computed_tensors_gradient_as_torch(torch):
    def run(lib, tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.retain_grad()
        assert y.retains_grad and not x.retains_grad
        loss = (y * y).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        x.retain_grad()  # a leaf keeps its gradient anyway
        return host(y.grad) if lib == "ours" else y.grad.numpy()
    numpy.testing.assert_array_equal(run("ours", lambda v, requires_grad: Tensor(on_device(numpy.array(v, "float32")),
                                                                                requires_grad=requires_grad)),
                                     run("torch", torch.tensor))
    for tensor in (Tensor(numpy.ones(2, "float32")), torch.ones(2)):
        with pytest.raises(RuntimeError, match="retain_grad"):
            tensor.retain_grad()


@pytest.mark.parametrize("value", [[1.0, 2.0], 3.0, "grad"])
def test_a_grad_that_is_no_tensor_is_torchs_type_error(torch, value):
    with pytest.raises(TypeError):
        torch.ones(2, requires_grad=True).grad = value
    with pytest.raises(TypeError, match="assigned grad"):
        Tensor(numpy.ones(2, "float32"), requires_grad=True).grad = value


def test_enable_grad_and_set_grad_enabled_as_torch(torch):
    """PyTorch's other grad-mode switches (they were missing): enable_grad inside no_grad, as a block or a
    decorator; set_grad_enabled as a call (which stays), a block or a decorator (which restore)."""
    for mod, enable, set_enabled, no_grad in ((tinyrrn, tinyrrn.enable_grad, tinyrrn.set_grad_enabled, tinyrrn.no_grad),
                                              (torch, torch.enable_grad, torch.set_grad_enabled, torch.no_grad)):
        @enable
        def enabled():
            return mod.is_grad_enabled()

        @set_enabled(False)
        def disabled():
            return mod.is_grad_enabled()

        with no_grad():
            with enable():
                assert mod.is_grad_enabled()
            assert not mod.is_grad_enabled() and enabled() and not mod.is_grad_enabled()
            with set_enabled(True):
                assert mod.is_grad_enabled()
            assert not mod.is_grad_enabled()
        assert mod.is_grad_enabled() and not disabled() and mod.is_grad_enabled()
        set_enabled(False)
        assert not mod.is_grad_enabled()
        set_enabled(True)
        with pytest.raises(TypeError):
            set_enabled(1)
        assert mod.is_grad_enabled()


def test_avg_pool2d_of_fewer_than_three_dims_is_torchs_index_error(torch):
    for shape in [(4,), (4, 4), ()]:
        with pytest.raises(IndexError):
            torch.nn.functional.avg_pool2d(torch.zeros(shape), 2)
        with pytest.raises(IndexError, match="Dimension out of range"):
            F.avg_pool2d(Tensor(numpy.zeros(shape, "float32")), 2)


def test_grad_fn_is_none_exactly_where_torchs_is(torch):
    """grad_fn (it was missing): None for a leaf, a result made under no_grad, a detached tensor; an object
    naming the op for a computed one, as PyTorch's node (whose methods tinyrrn does not have)."""
    for make, no_grad in ((lambda: Tensor(numpy.ones(2, "float32"), requires_grad=True), tinyrrn.no_grad),
                          (lambda: torch.ones(2, requires_grad=True), torch.no_grad)):
        x = make()
        y = x * 2
        with no_grad():
            z = x * 2
        assert x.grad_fn is None and y.grad_fn is not None and z.grad_fn is None and y.detach().grad_fn is None
        y.sum().backward()
        assert y.grad_fn is not None  # kept after backward
        assert y.detach_().grad_fn is None
    assert "mul" in repr((Tensor(numpy.ones(2, "float32"), requires_grad=True) * 2).grad_fn)


# -- PyTorch's tensor API, probe ops15 ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["T", "mT", "H", "mH", "adjoint", "t", "swapaxes", "swapdims"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 4)])
def test_transpose_properties_as_torch(torch, name, shape):
    """x.T, x.mT, x.H and x.mH, and x.adjoint(), x.t(), x.swapaxes(0, -1) (they were missing): PyTorch's shapes,
    values, gradients and node, its deprecation warning (T on other than 2 dimensions; the others on 0-D, where
    they are the identity) and its refusals."""
    data = numpy.random.default_rng(0).standard_normal(shape)
    x, t = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    results = []
    for tensor in (x, t):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = getattr(tensor, name)
                out = out(0, -1) if name.startswith("swap") else out() if name in ("adjoint", "t") else out
            except RuntimeError as error:
                out = error
        results.append((out, [str(w.message).split(" (Triggered")[0] for w in caught]))
    (ours, our_warnings), (theirs, their_warnings) = results
    assert len(our_warnings) == (len(shape) != 2 if name == "T" else not shape and name in ("mT", "H", "mH", "adjoint"))
    assert our_warnings == their_warnings or not their_warnings  # PyTorch warns once in a process
    if isinstance(theirs, RuntimeError):
        assert isinstance(ours, RuntimeError) and str(ours) == str(theirs)
        return
    assert ours.shape == tuple(theirs.shape) and (ours is x) == (theirs is t)
    numpy.testing.assert_array_equal(host(ours.data), theirs.detach().numpy())
    if ours is not x:
        assert ours.grad_fn.name() == theirs.grad_fn.name()
        grad = numpy.random.default_rng(1).standard_normal(ours.shape)
        ours.backward(on_device(grad))
        theirs.backward(torch.tensor(grad))
        numpy.testing.assert_array_equal(host(x.grad), t.grad.numpy())


def test_transpose_properties_keep_the_dtype_and_are_views():
    x = Tensor(numpy.arange(6, dtype="int32").reshape(2, 3))
    assert x.T.dtype == x.mT.dtype == x.H.dtype == x.mH.dtype == "int32"
    y = x.T
    y[0, 1] = 7
    assert x.data[1, 0] == 7 and x.version == y.version == 1


VIEWS = {"x[0]": lambda x: x[0], "x[:, 1:]": lambda x: x[:, 1:], "reshape": lambda x: x.reshape(6),
         "view": lambda x: x.view(3, 2),
         "flatten": lambda x: x.flatten(), "T": lambda x: x.T, "permute": lambda x: x.permute(1, 0),
         "transpose": lambda x: x.transpose(0, 1), "detach": lambda x: x.detach(), "x * 2": lambda x: x * 2,
         "x[[0]]": lambda x: x[[0]], "reshape of a transposed": lambda x: x.T.reshape(6),
         "view of a view": lambda x: x[0][1:]}


@pytest.mark.parametrize("name", VIEWS)
def test_a_view_made_under_no_grad_requires_grad_as_torchs(torch, name):
    """As PyTorch, a view (not a copy) made under no_grad of a tensor that requires grad reports requires_grad,
    is a leaf without grad_fn, gets no gradient from a backward through it, has no backward of its own, and is not
    changed in place while grad is enabled; tinyrrn reported requires_grad False."""
    def run(lib, x, no_grad):
        with no_grad():
            view = VIEWS[name](x)
        facts = [view.requires_grad, view.is_leaf, view.grad_fn is None]
        if view.requires_grad:
            view.register_hook(lambda g: facts.append("hook called"))
            y = view * 2
            facts.append(y.requires_grad)
            y.sum().backward()
            facts += [view.grad is None, x.grad is None]
            with pytest.raises(RuntimeError):
                view.backward(lib.ones_like(view) if lib is torch else Tensor(numpy.ones(view.shape, "float32")))
            with pytest.raises(RuntimeError):
                view += 1
            with no_grad():
                view += 1
            facts.append(float(x.sum()) if lib is torch else float(x.data.sum()))
            facts.append(view.requires_grad_(False).requires_grad)
        return facts
    ours = run(None, Tensor(on_device(numpy.ones((2, 3), "float32")), requires_grad=True), tinyrrn.no_grad)
    assert ours == run(torch, torch.ones(2, 3, requires_grad=True), torch.no_grad)


@pytest.mark.parametrize("name", VIEWS)
def test_a_view_made_before_its_base_required_grad_follows_its_base_as_torchs(torch, name):
    """As PyTorch, a view (not a copy) of a tensor that required no grad reports requires_grad once its base is set
    to require it (and not after it is set back), as a view made under no_grad does: a leaf that no gradient
    reaches, not changed in place while grad is enabled; tinyrrn's kept requires_grad False, and a view made under
    no_grad kept True after its base was set back."""
    def run(lib, x, no_grad):
        view = VIEWS[name](x)
        x.requires_grad_()
        facts = [view.requires_grad, view.is_leaf, view.grad_fn is None]
        if view.requires_grad:
            y = view * 2
            facts.append(y.requires_grad)
            y.sum().backward()
            facts += [view.grad is None, x.grad is None]
            with pytest.raises(RuntimeError):
                view += 1
        x.requires_grad_(False)
        facts.append(view.requires_grad)
        with no_grad():
            x.requires_grad_()
            later = VIEWS[name](x)
            x.requires_grad_(False)
        return facts + [later.requires_grad]
    ours = run(None, Tensor(on_device(numpy.ones((2, 3), "float32"))), tinyrrn.no_grad)
    assert ours == run(torch, torch.ones(2, 3), torch.no_grad)


def test_assigning_data_is_checked_and_followed_as_torchs(torch):
    """x.data = y, as PyTorch's: y's values, shape and dtype (and kind: an inference tensor's), shared with y; a list
    or None is refused, and so are integers for a tensor that requires grad; views and detached copies made before
    keep the old values, and a graph that saved x's output keeps them too. tinyrrn took any value unchecked (a
    Tensor became the array inside, a list stayed a list)."""
    def run(tensor, inference_mode, values):
        facts = []
        x = tensor([1.0, 2.0], requires_grad=True)
        for bad, error in (([1.0, 2.0], TypeError), (None, TypeError), (tensor([1, 2]), RuntimeError)):
            with pytest.raises(error):
                x.data = bad
        plain, y = tensor([1, 2]), tensor([5.0, 6.0, 7.0], dtype="float64")
        view, detached = plain[:1], plain.detach()
        plain.data = y
        y += 1
        facts += [tuple(plain.shape), str(plain.dtype)[-7:], values(plain + 0), values(view + 0),
                  values(detached + 0), plain.is_inference()]
        with inference_mode():
            made = tensor([1.0])
        plain.data = made
        facts.append(plain.is_inference())
        out = x.exp()
        total = out.sum()
        out.data = tensor([0.0, 0.0])
        total.backward()
        return facts + [numpy.round(values(x.grad), 4).tolist()]

    ours = run(lambda data, requires_grad=False, dtype=None: Tensor(on_device(numpy.asarray(data, dtype)),
                                                                    requires_grad=requires_grad),
               tinyrrn.inference_mode, lambda t: host(t).tolist())
    theirs = run(lambda data, requires_grad=False, dtype=None: torch.tensor(data, requires_grad=requires_grad,
                                                                            dtype=dtype and getattr(torch, dtype)),
                 torch.inference_mode, lambda t: t.tolist())
    assert ours == theirs


def test_a_graph_that_saved_a_tensor_whose_data_was_assigned_refuses_backward():
    """PyTorch's backward computes with a saved input's new data after x.data = y (its node holds x itself);
    tinyrrn's node holds the old array, so backward refuses, saying so, rather than give other gradients."""
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    x.data = numpy.array([10.0, 20.0])
    with pytest.raises(NotImplementedError, match="data was assigned"):
        loss.backward()
    unsaved = (x + 1).sum()  # add saves nothing: its gradient needs no data
    x.data = numpy.array([3.0, 4.0])
    unsaved.backward()
    assert host(x.grad).tolist() == [1.0, 1.0]


def test_inference_mode_as_torchs(torch):
    """inference_mode (it was missing), as PyTorch's: a block or a decorator (with or without parentheses) that
    disables grad and records no graph even under enable_grad; inference_mode(False) enables grad; the tensors made
    in it are inference tensors (a view takes its base's kind), which outside it refuse an in-place change,
    requires_grad=True and a graph that saves them."""
    def run(lib, tensor, nn_init):
        facts = []
        with lib.inference_mode():
            facts += [lib.is_inference_mode_enabled(), lib.is_grad_enabled()]
            a = tensor([1.0, 2.0])
            w = tensor([1.0, 2.0], requires_grad=True)
            facts += [a.is_inference(), a.requires_grad, w.requires_grad, w.is_inference()]
            with lib.inference_mode(False):
                facts += [lib.is_inference_mode_enabled(), lib.is_grad_enabled(), tensor([1.0]).is_inference()]
            with lib.enable_grad():
                facts += [lib.is_grad_enabled(), (w * 2).requires_grad]
            a += 1  # in inference mode, in place is allowed
        with lib.no_grad(), lib.inference_mode(False):
            facts.append(lib.is_grad_enabled())
        facts += [lib.is_inference_mode_enabled(), lib.is_grad_enabled()]

        @lib.inference_mode
        def bare():
            return lib.is_inference_mode_enabled(), lib.is_grad_enabled()

        @lib.inference_mode(False)
        def leaving():
            return lib.is_inference_mode_enabled()
        facts.append(bare())
        with lib.inference_mode():
            facts.append(leaving())
        normal = tensor([1.0, 2.0], requires_grad=True)
        with lib.inference_mode():
            facts += [normal[0].is_inference(), normal[0].requires_grad, (normal * 2).is_inference()]
        facts += [a.detach().is_inference(), a[0].is_inference(), (a * 2).is_inference()]
        with lib.inference_mode(), lib.enable_grad():
            normal += 1  # no graph is recorded: a leaf that requires grad may change
        facts.append(normal.requires_grad)
        for change in (lambda: a.__iadd__(1), lambda: a.__setitem__(0, 5.0), lambda: a.requires_grad_(),
                       lambda: nn_init.zeros_(a), lambda: (normal * a).sum()):
            with pytest.raises(RuntimeError, match="(?i)inference"):
                change()
        return facts
    ours = run(tinyrrn, lambda v, requires_grad=False: Tensor(on_device(numpy.array(v, "float32")),
                                                             requires_grad=requires_grad), nn.init)
    assert ours == run(torch, torch.tensor, torch.nn.init)


def test_inference_mode_is_exported_and_checks_its_mode():
    assert "inference_mode" in tinyrrn.__all__ and "is_inference_mode_enabled" in tinyrrn.__all__
    with pytest.raises(TypeError):
        tinyrrn.inference_mode(1)
    model = nn.Linear(3, 3)
    with tinyrrn.inference_mode():
        out = model(Tensor(on_device(numpy.ones((1, 3), "float32"))))
    assert not out.requires_grad and out.is_inference() and not tinyrrn.is_inference_mode_enabled()
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        model(out)
    assert not tinyrrn.functional.relu(out).requires_grad
    with pytest.raises(RuntimeError, match="inference"):
        tinyrrn.functional.relu(out, inplace=True)


DATA = {"[f64(1.5), 2]": lambda: [numpy.float64(1.5), 2], "f64(1.5)": lambda: numpy.float64(1.5),
        "[f32(1), 2]": lambda: [numpy.float32(1), 2], "[f16(1), 2]": lambda: [numpy.float16(1), 2],
        "[f16(1), 2.5]": lambda: [numpy.float16(1), 2.5], "[i32(1), 2]": lambda: [numpy.int32(1), 2],
        "[i32(1), 2.5]": lambda: [numpy.int32(1), 2.5], "[u8(1), i8(2)]": lambda: [numpy.uint8(1), numpy.int8(2)],
        "[i32(1), u8(2)]": lambda: [numpy.int32(1), numpy.uint8(2)], "[bool_, 2]": lambda: [numpy.bool_(True), 2],
        "[bool_, 2.0]": lambda: [numpy.bool_(True), 2.0], "[True, 2]": lambda: [True, 2],
        "[True, i8(3)]": lambda: [True, numpy.int8(3)], "[f64, f32]": lambda: [numpy.float64(1), numpy.float32(2)],
        "[i64, f32]": lambda: [numpy.int64(1), numpy.float32(2)], "[[f64(1)], [2]]": lambda: [[numpy.float64(1)], [2]],
        "(f64,)": lambda: (numpy.float64(1),), "[0-d f64, 2]": lambda: [numpy.array(1.5), 2],
        "[2, 0-d f64]": lambda: [2, numpy.array(1.5)], "[1-d f64, [2]]": lambda: [numpy.array([1.0]), [2]],
        "[1-d i32, [2]]": lambda: [numpy.array([1], "int32"), [2]],
        "[1-d f32, [2]]": lambda: [numpy.array([1.5], "float32"), [2]],
        "[f64(2**70)]": lambda: [numpy.float64(2.0 ** 70)], "[2**70, f32(1)]": lambda: [2 ** 70, numpy.float32(1)],
        "[2**63]": lambda: [2 ** 63], "[i64(2), 2**63]": lambda: [numpy.int64(2), 2 ** 63],
        "[f16(1), 70000]": lambda: [numpy.float16(1), 70000], "[1e39]": lambda: [1e39],
        "[u16(1), i8(1)]": lambda: [numpy.uint16(1), numpy.int8(1)], "[u16(1), 1.5]": lambda: [numpy.uint16(1), 1.5],
        "[u64(1)]": lambda: [numpy.uint64(1)], "[u32(1)]": lambda: [numpy.uint32(1)], "[]": lambda: [],
        "[[]]": lambda: [[]],
        "range(3)": lambda: range(3), "[None]": lambda: [None], "[1, None]": lambda: [1, None],
        "longdouble": lambda: numpy.array([1], numpy.longdouble), "[longdouble]": lambda: [numpy.longdouble(1)],
        "[i64(2**62 + 1), 0.5]": lambda: [numpy.int64(2 ** 62 + 1), 0.5]}


@pytest.mark.parametrize("name", DATA)
def test_a_tensor_of_python_data_has_torchs_dtype_and_values(torch, name):
    """Tensor(data) infers the dtype as torch.tensor: a NumPy number keeps its dtype in a list too, promoted with the
    others as PyTorch promotes (float16 with an int is float16), and the values are converted as there; or it
    refuses where PyTorch does (tinyrrn made [numpy.float64(1.5), 2] float32 and [numpy.bool_(True), 2] int64)."""
    def run(make):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyTorch's: a list of arrays is slow
                made = make(DATA[name]())
        except (TypeError, ValueError, RuntimeError) as error:
            return ("refused", isinstance(error, TypeError), isinstance(error, ValueError),
                    isinstance(error, RuntimeError))
        values = host(made.data).tolist() if isinstance(made, Tensor) else made.tolist()
        return str(made.dtype).replace("torch.", ""), values
    ours, theirs = run(Tensor), run(torch.tensor)
    assert ours == theirs or ours[0] == theirs[0] == "refused" and all(o for o, t in zip(ours[1:], theirs[1:]) if t)


GRAPHS = {"x + y": lambda m, x, y, z: x + y, "x + 2": lambda m, x, y, z: x + 2, "2 + x": lambda m, x, y, z: 2 + x,
          "x - y": lambda m, x, y, z: x - y, "x - 2": lambda m, x, y, z: x - 2, "2 - x": lambda m, x, y, z: 2 - x,
          "x * y": lambda m, x, y, z: x * y, "2 * x": lambda m, x, y, z: 2 * x, "x / y": lambda m, x, y, z: x / y,
          "2 / x": lambda m, x, y, z: 2 / x, "-x": lambda m, x, y, z: -x, "x ** 2": lambda m, x, y, z: x ** 2,
          "x + z": lambda m, x, y, z: x + z, "z * x": lambda m, x, y, z: z * x,
          "chain": lambda m, x, y, z: m.tanh(m.exp(x * y) + m.sigmoid(x)).relu().log(),
          "T": lambda m, x, y, z: (x.T * 2).permute(1, 0), "mT": lambda m, x, y, z: x.mT.transpose(0, 1),
          "softmax": lambda m, x, y, z: m.softmax(x, 1) + m.log_softmax(y, dim=0),
          "to": lambda m, x, y, z: x.to(m.float32) * 2, "cat": lambda m, x, y, z: m.cat([x, y, x * 2]),
          "stack": lambda m, x, y, z: m.stack([x, y]), "sum": lambda m, x, y, z: (x * y).sum(),
          "x[0]": lambda m, x, y, z: x[0] * y[1, :], "linear": lambda m, x, y, z: m.linear(x, y),
          "pools": lambda m, x, y, z: m.max_pool2d(x.reshape(1, 1, 2, 3), 2) + m.avg_pool2d(y.reshape(1, 1, 2, 3), 2)}


UNNAMED_GRAPHS = {"2 - x", "x ** 2", "stack", "sum", "linear"}  # top nodes not PyTorch's: name() is refused


@pytest.mark.parametrize("name", GRAPHS)
def test_grad_fn_nodes_as_torchs(torch, name):
    """grad_fn's name() and next_functions (they were missing): where tinyrrn names a node it is PyTorch's node, with
    PyTorch's inputs (AccumulateGrad for a leaf, whose variable is the leaf; None for an input without grad), down to
    the leaves; elsewhere name() is a NotImplementedError. A node is the same object each time it is asked for."""
    def lib(m):
        names = ("exp", "log", "tanh", "sigmoid", "softmax", "log_softmax", "max_pool2d", "avg_pool2d", "linear")
        if m is torch:
            return types.SimpleNamespace(cat=torch.cat, stack=torch.stack, float32=torch.float32,
                                         **{n: getattr(torch.nn.functional, n, getattr(torch, n, None)) for n in names})
        return types.SimpleNamespace(cat=F.concatenate, stack=F.stack, float32="float32",
                                     **{n: getattr(F, n) for n in names})

    data = [numpy.random.default_rng(i).uniform(0.5, 2, (2, 3)) for i in range(3)]
    ours = [Tensor(on_device(d), requires_grad=i < 2) for i, d in enumerate(data)]
    theirs = [torch.tensor(d, requires_grad=i < 2) for i, d in enumerate(data)]
    out, reference = GRAPHS[name](lib(F), *ours), GRAPHS[name](lib(torch), *theirs)
    assert out.grad_fn is out.grad_fn

    named = []  # the names of the nodes compared: a node tinyrrn does not name is refused, not compared

    def compare(node, their_node):
        if their_node is None or node is None:
            assert node is their_node is None
            return
        try:
            node_name = node.name()
        except NotImplementedError:
            return  # not PyTorch's node: tinyrrn does not say it is
        assert node_name == their_node.name()
        named.append(node_name)
        if node_name == "torch::autograd::AccumulateGrad":
            assert any(node.variable is t for t in ours) and node.next_functions == ()
            return
        assert len(node.next_functions) == len(their_node.next_functions)
        for (mine, index), (other, their_index) in zip(node.next_functions, their_node.next_functions):
            assert index == their_index == 0
            compare(mine, other)
    compare(out.grad_fn, reference.grad_fn)
    assert named or name in UNNAMED_GRAPHS, "no node of this graph was compared"
    assert name not in ("x + y", "chain", "T", "cat") or out.grad_fn.name() == reference.grad_fn.name()


def test_grad_fn_after_backward_and_of_leaves():
    x = Tensor(on_device(numpy.ones(3)), requires_grad=True)
    a, b = x * 2, x + 1
    assert a.grad_fn.next_functions[0][0] is b.grad_fn.next_functions[0][0]  # one node per leaf, as PyTorch
    assert a.grad_fn.next_functions[0][0].variable is x and x.grad_fn is None
    with pytest.raises(NotImplementedError, match="linear"):
        F.linear(x, Tensor(on_device(numpy.ones((2, 3))))).grad_fn.name()
    assert len((x ** 2).grad_fn.next_functions) == 1 and len((x ** x).grad_fn.next_functions) == 2  # as PyTorch's
    node = a.grad_fn
    a.sum().backward()
    assert a.grad_fn is node and node.name() == "MulBackward0"
    with pytest.raises(RuntimeError, match="freed"):
        node.next_functions


def _tensor_hooks(lib, tensor, values):
    """What register_hook's hooks see and change, logged by value (``values``: a tensor's as a list)."""
    log = []
    x = tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: log.append(("y", values(g), g.requires_grad, lib.is_grad_enabled())))
    y.register_hook(lambda g: g * 10)  # replaces the gradient flowing on, and the one retain_grad() keeps
    handle = x.register_hook(lambda g: g + 1)  # before x accumulates it
    x.register_hook(lambda g: None)
    (y * 3).sum().backward()
    log += [values(x.grad), values(y.grad)]
    handle.remove(), handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    log.append(values(x.grad))
    for bad, error in ((lambda g: g.reshape(1, 2), RuntimeError), (lambda g: g.to(lib.float64), RuntimeError),
                       (lambda g: 5, TypeError)):
        z = tensor([1.0, 2.0], requires_grad=True)
        z.register_hook(bad)
        with pytest.raises(error):
            z.sum().backward()
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tensor([1.0]).register_hook(lambda g: g)
    return log


def test_tensor_hooks_as_torchs(torch):
    """Tensor.register_hook (it was missing): PyTorch's order, replacement, checks and handle."""
    ours = _tensor_hooks(types.SimpleNamespace(is_grad_enabled=tinyrrn.is_grad_enabled, float64="float64"),
                         lambda v, requires_grad=False: Tensor(on_device(numpy.array(v, "float32")),
                                                               requires_grad=requires_grad),
                         lambda g: host(g.data if isinstance(g, Tensor) else g).tolist())
    assert ours == _tensor_hooks(torch, torch.tensor, lambda g: g.tolist())


def test_a_hook_returning_a_gradient_on_another_device_is_refused_as_pytorch():
    """A hook's gradient on another device than the one it replaced failed later: a leaf's with the .grad setter's
    'assigned grad' error, a computed tensor's inside an op's gradient, mixing host and device arrays. PyTorch
    refuses it at the hook ("has changed the type of value"). The other side is the strict CuPy stand-in."""
    ones = numpy.ones(2, "float32")
    x = Tensor(on_device(ones), requires_grad=True)
    other = Tensor(ones if tinyrrn.backend.device_of(x.data) == "gpu" else strict_xp.asarray(ones))
    for hooked in (x, x * 1):
        handle = hooked.register_hook(lambda g: other)
        with pytest.raises(RuntimeError, match="has changed the type of value"):
            (hooked * 2).sum().backward()
        handle.remove()
    assert x.grad is None


def _arrays_hooks_keep(tensor, values):
    """A tensor a hook returns, and the gradients hooks are given and keep, after two backward() calls."""
    held, seen = tensor([7.0, 7.0]), []
    x = tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: held)
    w = tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(seen.append)
    y = w + 0  # add hands its gradient on as it is
    y.register_hook(seen.append)
    for _ in range(2):
        (x * 2 + y * 3).sum().backward()
    return [values(held), values(x.grad), values(w.grad)] + [values(g) for g in seen]


def test_the_arrays_hooks_see_and_return_are_not_a_leafs_gradient_as_torchs(torch):
    """A leaf's .grad was the array of the tensor a hook returned, or of the one a hook kept: the next backward()
    added into the caller's tensor in place (a probe found it); PyTorch's accumulates into a copy."""
    ours = _arrays_hooks_keep(lambda v, requires_grad=False: Tensor(on_device(numpy.array(v, "float32")),
                                                                    requires_grad=requires_grad),
                              lambda g: host(g.data if isinstance(g, Tensor) else g).tolist())
    assert ours == _arrays_hooks_keep(torch.tensor, lambda g: g.tolist())


def test_the_grad_of_a_computed_tensor_warns_as_torchs(torch):
    """PyTorch warns when .grad of a computed tensor is read that no retain_grad() fills (tinyrrn was silent)."""
    def warned(lib, tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        with lib.no_grad():
            view = x[0]
        retained = x * 3
        retained.retain_grad()
        counts = []
        for t in (x * 2, x, retained, view, tensor([1.0]) * 2):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert t.grad is None
            counts.append(sum("not a leaf Tensor" in str(w.message) for w in caught))
        return counts
    assert warned(tinyrrn, lambda v, requires_grad=False: Tensor(on_device(numpy.array(v, "float32")),
                                                                 requires_grad=requires_grad)) == \
        warned(torch, torch.tensor) == [1, 0, 0, 0, 0]


def test_post_accumulate_grad_hooks_as_torchs(torch):
    """Tensor.register_post_accumulate_grad_hook (it was missing): called with the leaf after each accumulation,
    with grad disabled, until removed; refused on a computed tensor or one without grad, and a hook returning
    anything is an error, as PyTorch."""
    def run(lib, tensor, values):
        x, seen = tensor([1.0, 2.0], requires_grad=True), []
        handle = x.register_post_accumulate_grad_hook(lambda t: seen.append((t is x, values(t.grad),
                                                                             lib.is_grad_enabled())))
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        handle.remove()
        x.register_post_accumulate_grad_hook(lambda t: t)  # the leaf itself, taken as None
        (x * 3).sum().backward()
        for make, error in ((lambda: x * 2, RuntimeError), (lambda: tensor([1.0]), RuntimeError)):
            with pytest.raises(error):
                make().register_post_accumulate_grad_hook(lambda t: None)
        for result, error in ((lambda t: 5, TypeError), (lambda t: t * 1, RuntimeError)):
            z = tensor([1.0], requires_grad=True)
            z.register_post_accumulate_grad_hook(result)
            with pytest.raises(error):
                z.sum().backward()
        return seen, values(x.grad)
    assert run(tinyrrn, lambda v, requires_grad=False: Tensor(on_device(numpy.array(v, "float32")),
                                                              requires_grad=requires_grad),
               lambda g: host(g).tolist()) == run(torch, torch.tensor, lambda g: g.tolist())


INFERENCE_USES = {"w + a": lambda m, w, a, p: w + a, "a - w": lambda m, w, a, p: a - w,
                  "w * a": lambda m, w, a, p: w * a, "p * 2": lambda m, w, a, p: p * 2,
                  "a * p": lambda m, w, a, p: a * p, "w * p": lambda m, w, a, p: w * p,
                  "p / 2": lambda m, w, a, p: p / 2, "a / p": lambda m, w, a, p: a / p,
                  "w / a": lambda m, w, a, p: w / a, "p / w": lambda m, w, a, p: p / w,
                  "views": lambda m, w, a, p: p.reshape(2, 1)[0] + p.reshape(1, 2).mT.sum(),
                  "view and w": lambda m, w, a, p: p.reshape(2, 1)[0] + w,
                  "exp": lambda m, w, a, p: m.exp(p) + m.relu(p) + m.tanh(p) + m.sigmoid(p),
                  "log": lambda m, w, a, p: m.log(p), "softmax": lambda m, w, a, p: m.softmax(p, 0),
                  "cat": lambda m, w, a, p: m.cat([w, a, p]), "mean": lambda m, w, a, p: (w + p).mean(),
                  "to": lambda m, w, a, p: p.to(m.float64), "reciprocal": lambda m, w, a, p: p.reciprocal(),
                  "2 / p": lambda m, w, a, p: 2 / p, "w.reciprocal() * p": lambda m, w, a, p: w.reciprocal() * p}


@pytest.mark.parametrize("name", INFERENCE_USES)
def test_an_inference_tensor_in_a_graph_is_refused_where_torch_saves_it(torch, name):
    """Outside inference_mode, an op that records a graph refuses an inference tensor as PyTorch does where its node
    saves it (w * a), and takes it where it saves no input (w + a, views, sums, ops that save their output)."""
    def run(m, lib, tensor):
        w = tensor([1.0, 2.0], requires_grad=True)
        with lib.inference_mode():
            a, p = tensor([3.0, 4.0]), tensor([0.5, 1.5], requires_grad=True)
        try:
            out = INFERENCE_USES[name](m, w, a, p)
        except RuntimeError as error:
            assert "Inference tensors cannot be saved for backward" in str(error)
            return "refused"
        if not out.requires_grad:  # on inference tensors alone: no graph
            return "no graph", out.is_inference()
        out.sum().backward()
        return [None if t.grad is None else numpy.asarray(t.grad.tolist()).round(6).tolist() for t in (w, p)]
    ours = run(types.SimpleNamespace(exp=F.exp, relu=F.relu, tanh=F.tanh, sigmoid=F.sigmoid, log=F.log,
                                     softmax=F.softmax, cat=F.concatenate, float64="float64"), tinyrrn,
               lambda v, requires_grad=False: Tensor(on_device(numpy.array(v, "float32")), requires_grad=requires_grad))
    assert ours == run(torch, torch, torch.tensor)


@pytest.mark.parametrize("inference", ["dividend", "divisor"])
def test_floor_divide_takes_an_inference_tensor_as_torch(torch, inference):
    """PyTorch's floor_divide node saves nothing (its backward is not implemented): an inference tensor among its
    inputs is taken, the result requires grad; tinyrrn judged it as div's node and refused it."""
    def run(lib, tensor):
        with lib.inference_mode():
            made = tensor([3.0, 4.0], requires_grad=True)
        other = tensor([1.5, 2.5], requires_grad=True)
        out = made // other if inference == "dividend" else other // made
        return out.requires_grad, out.is_inference()
    assert run(tinyrrn, lambda v, requires_grad: Tensor(on_device(numpy.array(v)), requires_grad=requires_grad)) == \
        run(torch, lambda v, requires_grad: torch.tensor(v, requires_grad=requires_grad, dtype=torch.float64))


@pytest.mark.parametrize("name", ["x[0]", "detach()[0]", "no_grad x[0]", "T", "detach()", "copy of reshape",
                                  "reshape of computed", "computed"])
def test_detach_in_place_refuses_every_view_as_torch(torch, name):
    """PyTorch's detach_() refuses any view (made with or without a graph); tinyrrn refused views in a graph only.
    A reshape that copies is no view, and its changes are not counted in its input's version."""
    def run(lib, tensor):
        x = tensor(numpy.ones((2, 3)), requires_grad=True)
        make = {"x[0]": lambda: x[0], "detach()[0]": lambda: x.detach()[0], "no_grad x[0]": lambda: x[0],
                "T": lambda: x.detach().T, "detach()": lambda: x.detach(), "copy of reshape": lambda: x.T.reshape(6),
                "reshape of computed": lambda: (x * 2).reshape(6), "computed": lambda: x * 2}[name]
        with lib.set_grad_enabled(name in ("x[0]", "reshape of computed", "computed")):  # with the graph, or not
            view = make()
        try:
            view.detach_()
        except RuntimeError:
            return "refused"
        return "detached"
    assert run(tinyrrn, lambda a, requires_grad: Tensor(on_device(a), requires_grad=requires_grad)) == \
        run(torch, lambda a, requires_grad: torch.tensor(a, requires_grad=requires_grad))


def test_a_reshape_that_copies_keeps_its_own_version():
    x = Tensor(on_device(numpy.ones((2, 3))), requires_grad=True)
    y = x * x
    with tinyrrn.no_grad():
        copy = x.T.reshape(6)
        copy += 1
    y.sum().backward()  # x was not changed
    numpy.testing.assert_array_equal(host(x.grad), 2 * numpy.ones((2, 3)))


@pytest.mark.parametrize("make", ["x.view(6)", "x.view(3, -1)", "x.view((3, 2))", "x.view(size=(6,))", "x.T.view(6)",
                                  "x.T.view(3, 2)", "x.view(4)", "x.view(-1, -1)", "x.T.view(3, 1, 2)",
                                  "x[:, :2].view(4)", "x[:, :2].view(2, 1, 2)", "x[0].view(3, 1)", "x.view()"])
def test_view_as_torchs(torch, make):
    """Tensor.view (it was missing): reshape in the same memory, PyTorch's refusal where that needs a copy, its
    node and gradient."""
    def run(x):
        try:
            out = eval(make, {"x": x})
        except (RuntimeError, TypeError) as error:
            return "RuntimeError" if isinstance(error, RuntimeError) else "TypeError"
        return tuple(out.shape), out.grad_fn.name()
    data = numpy.arange(6.0).reshape(2, 3)
    x, t = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = run(x), run(t)
    assert ours == theirs
    if isinstance(ours, tuple):
        out = eval(make, {"x": x})
        out.data[...] = 7  # the same memory
        assert (host(x.data) == 7).sum() == out.data.size
    with pytest.raises(NotImplementedError, match="view"):
        x.view("float64")


def test_clone_and_contiguous_as_torchs(torch):
    """Tensor.clone() and contiguous() (they were missing): a copy in the graph (PyTorch's CloneBackward0) keeping
    the layout, or for contiguous() x itself when already row-major; under no_grad a clone requires no grad."""
    def run(x, no_grad, strides):
        facts = [x.contiguous() is x, x.clone().grad_fn.name(), x.T.contiguous().grad_fn.name(),
                 strides(x.T.clone()), strides(x.T.contiguous())]
        with no_grad():
            facts.append(x.clone().requires_grad)
        copy = x.T.clone()
        (copy * copy).sum().backward()
        return facts
    data = numpy.arange(6.0).reshape(2, 3)
    x, t = Tensor(on_device(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    assert run(x, tinyrrn.no_grad, lambda c: tuple(s // c.data.itemsize for s in c.data.strides)) == \
        run(t, torch.no_grad, lambda c: c.stride())
    numpy.testing.assert_array_equal(host(x.grad), t.grad.numpy())
    copy = x.clone()
    with tinyrrn.no_grad():
        copy += 1
    assert host(x.data).tolist() == data.tolist() and copy.version == 1 and x.version == 0


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_the_mean_of_nothing_is_nan_without_a_warning(axis):
    """As PyTorch's: NaN where nothing is averaged, and an empty gradient, silently (NumPy warned 'Mean of empty
    slice' and 'divide by zero')."""
    x = Tensor(on_device(numpy.zeros((0, 3))), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.mean(x, axis)
        y.backward(Tensor(on_device(numpy.ones(y.shape))))
    assert y.shape == {None: (), 0: (3,), 1: (0,)}[axis] and numpy.isnan(host(y)).all()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_is_nll_loss_of_log_softmax_to_the_bit(dtype, reduction):
    """PyTorch's cross_entropy is nll_loss(log_softmax(x)), so its gradient is theirs: -g at the targets through
    log_softmax's backward (float16 in float32, rounded once). tinyrrn's fused formula rounded otherwise."""
    rng = numpy.random.default_rng(0)
    data, target = rng.normal(size=(64, 10)).astype(dtype), Tensor(on_device(numpy.arange(64) % 10))
    fused, composed = (Tensor(on_device(data.copy()), requires_grad=True) for _ in range(2))
    ours = F.cross_entropy(fused, target, reduction=reduction)
    theirs = F.nll_loss(F.log_softmax(composed, 1), target, reduction=reduction)
    g = Tensor(on_device(numpy.full(ours.shape, 0.7, dtype)))
    ours.backward(g)
    theirs.backward(g)
    numpy.testing.assert_array_equal(host(fused.grad), host(composed.grad))


def test_a_tensor_is_refused_as_its_own_grad_as_torchs(torch):
    # PyTorch refuses x.grad = x (a detach(), another tensor on the same memory, is taken); tinyrrn took x's data as
    # its gradient, and the next backward() added into x's values
    with pytest.raises(RuntimeError, match="own grad"):
        t = torch.ones(2, requires_grad=True)
        t.grad = t
    x = Tensor(on_device(numpy.ones(2, "float32")), requires_grad=True)
    with pytest.raises(RuntimeError, match="own grad"):
        x.grad = x
    assert x.grad is None
    x.grad = x.detach()
    assert x.grad.data is x.data


def _switched_off_leaf(lib, tensor, switch_off):
    """A leaf's hooks after it was switched off (``switch_off``) between the forward pass and the backward."""
    calls, seen = [], []
    x, w = tensor([1.0, 2.0], requires_grad=True), tensor([3.0, 4.0], requires_grad=True)
    x.register_hook(lambda g: calls.append("hook"))
    x.register_post_accumulate_grad_hook(lambda t: calls.append(("after", t.grad)))
    w.register_hook(lambda g: seen.append(x.requires_grad))  # mid-walk
    y = (x * w).sum()
    switch_off(x)
    y.backward()
    return calls + seen, x.grad, w.grad


@pytest.mark.parametrize("switch_off", ["requires_grad_", "detach_"])
def test_a_leaf_switched_off_after_the_forward_calls_its_hooks_as_torchs(torch, switch_off):
    # PyTorch's graph holds the leaf's node: its hooks run, its grad stays None (tinyrrn skipped the hooks)
    def off(x):
        x.requires_grad_(False) if switch_off == "requires_grad_" else x.detach_()
    theirs = _switched_off_leaf(torch, torch.tensor, off)
    theirs = theirs[:2] + (theirs[2].tolist(),)
    ours = _switched_off_leaf(None, lambda v, requires_grad: Tensor(on_device(numpy.array(v, "float32")),
                                                                    requires_grad=requires_grad), off)
    ours = ours[:2] + (host(ours[2]).tolist(),)
    assert ours == theirs == (["hook", ("after", None), False], None, [1.0, 2.0])


@pytest.mark.parametrize("name", ["autograd", "gradgradcheck"])
def test_what_tinyrrn_lacks_of_torch_autograd_says_what_to_use(name):
    # tinyrrn.autograd (torch.autograd.grad) and tinyrrn.gradgradcheck were a bare "has no attribute": now the
    # AttributeError (hasattr stays False) says why they are not there and what to use
    assert not hasattr(tinyrrn, name)
    with pytest.raises(AttributeError, match="backward"):
        getattr(tinyrrn, name)
