"""The Tensor and the backward engine."""
import decimal
import fractions
import gc
import weakref

import numpy
import pytest

import tinyrrn
from devices import host
from tinyrrn import Tensor
from tinyrrn import functional as F


def test_backward_of_a_scalar_expression():
    x = Tensor(numpy.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = (x * x + 3 * x).sum()
    y.backward()
    numpy.testing.assert_allclose(x.grad, 2 * x.data + 3)


def test_gradients_accumulate_into_a_node_used_several_times():
    x = Tensor(numpy.array(2.0), requires_grad=True)
    h = x * 3  # used three times below
    (h * h + h + h).backward()
    assert x.grad == pytest.approx(2 * 6 * 3 + 3 + 3)


def test_leaf_gradients_accumulate_over_backward_calls_until_cleared():
    x = Tensor(numpy.ones(3), requires_grad=True)
    (x * 2).sum().backward()
    (x * 5).sum().backward()
    numpy.testing.assert_allclose(x.grad, [7, 7, 7])


def test_a_chain_of_ten_thousand_ops_has_no_recursion_limit():
    x = Tensor(numpy.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-6)


def test_non_scalar_backward_needs_an_explicit_gradient():
    x = Tensor(numpy.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one-element tensor, got shape \(2, 3\)"):
        y.backward()
    y.backward(numpy.full((2, 3), 0.5))
    numpy.testing.assert_allclose(x.grad, numpy.ones((2, 3)))


def test_backward_rejects_a_gradient_of_the_wrong_shape():
    y = Tensor(numpy.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(numpy.ones((3, 2)))


def test_backward_releases_intermediate_buffers():
    x = Tensor(numpy.ones(1000), requires_grad=True)
    hidden = x * 2
    saved = weakref.ref(hidden.data)
    loss = (hidden * hidden).sum()
    del hidden
    gc.collect()
    assert saved() is not None  # kept alive by the graph for the backward pass
    loss.backward()
    gc.collect()
    assert saved() is None, "backward should free buffers saved for the backward pass"


def test_no_grad_records_no_graph_and_restores_the_mode():
    x = Tensor(numpy.ones(3), requires_grad=True)
    with tinyrrn.no_grad():
        y = x * 2
    assert not y.requires_grad and tinyrrn.is_grad_enabled()

    @tinyrrn.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_detach_numpy_item_and_repr():
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    assert x.dtype == numpy.float32 and x.shape == (1, 2)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    assert isinstance(d.numpy(), numpy.ndarray)
    assert x.sum().item() == 3.0
    with pytest.raises(RuntimeError, match=r"requires grad\. Use tensor\.detach\(\)\.numpy\(\)"):
        (x * 2).numpy()  # as PyTorch: the array would leave the graph unseen
    with tinyrrn.no_grad():
        assert (x * 2).numpy().tolist() == [[2.0, 4.0]]
    assert "requires_grad=True" in repr(x)


@pytest.mark.parametrize("values", [[[1.5, -2.0]], 3.25, [[1, 2], [3, 4]], [True, False], []])
def test_tolist_gives_python_numbers_as_torchs(torch, values):
    """x.tolist() (PyTorch's, for a tensor that requires grad too) was an AttributeError: a gradient, now a Tensor,
    lost the tolist() its array had."""
    ours, theirs = Tensor(values), torch.tensor(values)
    if ours.dtype.kind == "f":
        ours.requires_grad_(), theirs.requires_grad_()
    def numbers(values):
        return [n for v in values for n in numbers(v)] if isinstance(values, list) else [values]
    assert ours.tolist() == theirs.tolist()
    assert [type(n) for n in numbers(ours.tolist())] == [type(n) for n in numbers(theirs.tolist())]


def test_repr_of_a_computed_tensor_names_its_grad_fn_as_torchs():
    # PyTorch's repr shows a computed tensor's grad_fn (not requires_grad=True, which a leaf's shows); tinyrrn's
    # showed requires_grad=True for both, so a graph's tensors could not be told from its leaves
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert "grad_fn=<MulBackward0>" in repr(x * 2) and "requires_grad" not in repr(x * 2)
    assert "grad_fn=<linear>" in repr(tinyrrn.functional.linear(x.reshape(1, 2), x.reshape(1, 2)))  # not PyTorch's node
    assert "grad_fn" not in repr(x) and "grad_fn" not in repr((x * 2).detach())


def test_numpy_asarray_of_a_tensor_is_its_array_or_refused_as_torch():
    """numpy.asarray(x) is x.numpy() (PyTorch's __array__): refused while x requires grad, else its values in its
    dtype, or the one asked for. tinyrrn gave an object array of 0-d Tensors, graph and all."""
    x = Tensor([[1.0, 2.0]], requires_grad=True, device="cpu")
    with pytest.raises(RuntimeError, match=r"requires grad\. Use tensor\.detach\(\)\.numpy\(\)"):
        numpy.asarray(x)
    array = numpy.asarray(x.detach())
    assert array.dtype == numpy.float32 and array.tolist() == [[1.0, 2.0]]
    assert numpy.asarray(x.detach(), dtype="float64").dtype == numpy.float64
    ints = Tensor(numpy.arange(3), device="cpu")
    copied = numpy.array(ints)
    copied[0] = 7
    assert copied.dtype == numpy.int64 and ints.data[0] == 0


def test_a_numpy_ufunc_of_a_tensor_is_a_tensor_as_torchs(torch):
    """PyTorch's __array_wrap__: numpy.sin(x) is a tensor (a new leaf), a bool result uint8; tinyrrn gave arrays."""
    values = numpy.array([[0.5, -2.0, numpy.nan]], "float32")
    x, t = Tensor(values, device="cpu"), torch.from_numpy(values)
    for ufunc, args in ((numpy.sin, ()), (numpy.add, (1,)), (numpy.maximum, (numpy.zeros(3),)), (numpy.isnan, ())):
        ours, theirs = ufunc(x, *args), ufunc(t, *args)
        assert isinstance(ours, Tensor) and ours.dtype == str(theirs.dtype).replace("torch.", "")
        numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert isinstance(numpy.exp(Tensor(1.0, device="cpu")), Tensor) and numpy.exp(Tensor(1.0, device="cpu")).ndim == 0


def test_numpy_refuses_a_gpu_tensor_as_torch_and_cupy_do(strict_gpu):
    """numpy.asarray(x) and numpy.sin(x) of a GPU tensor copied it to the host in silence (a wait for the device, and
    a hard-coded numpy call on device data got through the strict stand-in): PyTorch's TypeError, as CuPy's."""
    x = Tensor([1.0, 2.0], device="gpu")
    for implicit in (numpy.asarray, numpy.sin, lambda x: numpy.add(numpy.ones(2), x)):
        with pytest.raises(TypeError, match="can't convert gpu device type tensor to numpy"):
            implicit(x)
    assert x.numpy().tolist() == [1.0, 2.0]  # explicit, as x.cpu()


def test_integer_tensors_cannot_require_grad_and_differentiable_ops_refuse_them():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(numpy.arange(3), requires_grad=True)
    ints = Tensor(numpy.arange(6).reshape(1, 1, 2, 3))
    with pytest.raises(TypeError, match="int64"):
        F.softmax(ints, -1)  # (as PyTorch's; its relu keeps integers, as tinyrrn's)
    assert F.relu(ints).dtype == "int64"
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(ints, Tensor(numpy.ones((1, 1, 1, 1))))
    with pytest.raises(TypeError, match="mean"):
        F.mean(ints)


def test_integer_and_bool_arithmetic_is_forward_only_with_pytorchs_promotion():
    ints, mask = Tensor([3, -7, 8]), Tensor([True, False, True])
    assert (ints + 2).dtype == numpy.int64 and (ints * 2.5).dtype == numpy.float32
    numpy.testing.assert_array_equal(host(ints / 2), numpy.array([1.5, -3.5, 4.0], dtype="float32"))
    numpy.testing.assert_array_equal(host(ints // 2), [1, -4, 4])
    numpy.testing.assert_array_equal(host(F.div(ints, 2, rounding_mode="trunc")), [1, -3, 4])
    assert (ints > 0).dtype == bool and (mask * ints).dtype == numpy.int64
    x = Tensor(numpy.ones(3), requires_grad=True, device=mask.device)
    y = x * mask  # a float tensor times a mask: differentiable in x only
    assert y.dtype == numpy.float64 and not (x > 0).requires_grad
    y.sum().backward()
    numpy.testing.assert_array_equal(host(x.grad), [1, 0, 1])


def test_comparisons_are_element_wise_and_tensors_stay_hashable():
    a = Tensor(numpy.array([1.0, 2.0]))
    numpy.testing.assert_array_equal((a == Tensor(numpy.array([1.0, 3.0]))).data, [True, False])
    assert (a != 2).data.tolist() == [True, False]
    assert (a == None) is False and (a != "a") is True  # noqa: E711 - not comparable: not equal
    assert (a == fractions.Fraction(1, 2)) is False and (decimal.Decimal("1.5") != a) is True  # as PyTorch
    with pytest.raises(TypeError, match="no complex dtype"):
        a == 1j
    assert {a: 1}[a] == 1 and a in {a} and a in [a]
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(a == a)
    assert bool(Tensor(numpy.array([2.0])) > 1)


def test_gradients_reach_each_input_in_its_own_dtype():
    a = Tensor(numpy.ones(3, dtype="float32"), requires_grad=True)
    b = Tensor(numpy.ones(3), requires_grad=True)  # float64
    out = a * b
    assert out.dtype == numpy.float64
    out.sum().backward()
    assert a.grad.dtype == numpy.float32 and b.grad.dtype == numpy.float64


def test_an_op_returning_a_gradient_of_the_wrong_shape_is_named():
    from tinyrrn.tensor import make_result
    x = Tensor(numpy.ones(3), requires_grad=True)
    y = make_result(x.data * 2, (x,), lambda g: (g[:2],), "broken_op")
    with pytest.raises(RuntimeError, match=r"broken_op: backward returned a gradient of shape \(2,\)"):
        y.sum().backward()


def test_shape_errors_name_both_shapes_and_are_pytorchs_runtime_error():
    a, b = Tensor(numpy.ones((2, 3))), Tensor(numpy.ones((4, 5)))
    with pytest.raises(RuntimeError, match=r"add: shapes \(2, 3\) and \(4, 5\)"):
        a + b  # also a ValueError (ArgumentError is both), as below
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a + b
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        F.matmul(a, b)
    x, w = Tensor(numpy.ones((1, 3, 8, 8))), Tensor(numpy.ones((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\).*\(4, 2, 3, 3\)"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        F.linear(a, b)


def test_to_cpu_is_a_no_op_and_unknown_devices_are_refused():
    x = Tensor(numpy.ones(2), requires_grad=True)
    assert x.to("cpu") is x
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        x.to("tpu")


def test_pytorchs_device_names_mean_tinyrrns_devices_everywhere(strict_gpu):
    """PyTorch's 'cuda' and 'cuda:0' are the GPU and 'cpu:0' the host wherever a device is taken (x.to, x.cuda,
    Tensor(device=), new tensors, Module.to and cuda, device_scope); another GPU is refused with one message.
    Before, x.to('cuda') was an unknown device though x.cuda('cuda') took it, and Module.cuda(0) was refused."""
    x = Tensor(numpy.ones(2))
    assert x.to("cpu:0") is x and x.to(device="cpu:0", dtype="float64") is x
    for name in ("cuda", "cuda:0"):
        assert x.to(name).device == x.cuda(name).device == x.to(name, "float32").device == "gpu"
        assert Tensor([1.0], device=name).device == x.new_zeros(2, device=name).device == "gpu"
        assert tinyrrn.nn.Linear(2, 2).to(name).weight.device == tinyrrn.nn.Linear(2, 2).cuda(name).weight.device
        with tinyrrn.backend.device_scope(name):
            assert Tensor([1.0]).device == "gpu"
    assert tinyrrn.nn.Linear(2, 2).cuda(0).weight.device == "gpu"
    for refused in (lambda: x.to("cuda:1"), lambda: x.cuda("cuda:1"), lambda: x.cuda(1),
                    lambda: Tensor([1.0], device="cuda:1"), lambda: tinyrrn.nn.Linear(2, 2).cuda(1)):
        with pytest.raises(ValueError, match="one GPU"):
            refused()


# ---------------------------------------------------------------- defects of issue 11, one test each

def test_defect_1_a_second_backward_through_a_freed_graph_raises():
    w = Tensor([2.0], requires_grad=True)
    h = w * 3
    (h * h).sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        (h + 1).sum().backward()
    assert host(w.grad) == pytest.approx([36.0])  # nothing was accumulated by the refused pass


def test_defect_1_retain_graph_keeps_the_graph_for_a_second_backward():
    w = Tensor([2.0], requires_grad=True)
    h = w * 3
    (h * h).sum().backward(retain_graph=True)
    (h + 1).sum().backward()
    assert host(w.grad) == pytest.approx([36.0 + 3.0])
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()  # the root's own graph was freed too


def test_defect_2_leaves_never_share_a_gradient_array():
    a, b, c = (Tensor(numpy.ones(3), requires_grad=True) for _ in range(3))
    ((a + b) * c).sum().backward()
    assert not numpy.shares_memory(a.grad, b.grad)
    a.grad *= 0.5  # as the trainer scales accumulated gradients in place
    numpy.testing.assert_allclose(b.grad, [1, 1, 1])
    d, e = Tensor(numpy.ones((2, 3)), requires_grad=True), Tensor(numpy.ones((2, 3)), requires_grad=True)
    (d.reshape(6) + e.reshape(6)).sum().backward()  # views of one array reach both leaves
    assert not numpy.shares_memory(d.grad, e.grad)
    g = numpy.ones(3)
    f = Tensor(numpy.ones(3), requires_grad=True)
    f.backward(g)  # the caller's array is not handed to the leaf either
    assert not numpy.shares_memory(f.grad, g)


@pytest.mark.parametrize("call", [
    lambda x: F.sum(x, 5), lambda x: F.mean(x, 4), lambda x: F.flatten(x, 5), lambda x: F.sum(x, -5),
    lambda x: F.stack([x], axis=77), lambda x: F.concatenate([x, x], axis=4), lambda x: x.transpose(0, 4),
    lambda x: x.permute(0, 1, 2, 4), lambda x: F.log_softmax(x, axis=4), lambda x: F.mean(x, (0, -5)),
], ids=["sum", "mean", "flatten", "sum-negative", "stack", "concatenate", "transpose", "permute",
        "log_softmax", "mean-tuple"])
def test_defect_3_out_of_range_axes_raise_index_error(call):
    x = Tensor(numpy.ones((2, 3, 4, 5)))
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-[45], [34]\]"):
        call(x)


def test_defect_4_zero_d_tensors_reduce_and_flatten_as_in_pytorch():
    s = Tensor(numpy.array(3.0), requires_grad=True)
    assert F.sum(s, 0).shape == () and F.mean(s, -1).shape == () and F.flatten(s).shape == (1,)
    (F.sum(s, 0) + F.mean(s, -1) + F.flatten(s).sum()).backward()
    assert s.grad == pytest.approx(3.0)
    with pytest.raises(IndexError, match=r"\[-1, 0\], but got 1"):
        F.sum(s, 1)


def test_defect_6_a_repeated_index_in_a_tuple_accumulates_its_gradient():
    x = Tensor(numpy.arange(3.0), requires_grad=True)
    x[((0, 0),)].sum().backward()
    numpy.testing.assert_allclose(x.grad, [2, 0, 0])


def test_defect_6_an_int_and_an_array_index_apart_place_dimensions_as_pytorch():
    x = Tensor(numpy.arange(300.0).reshape(2, 5, 6, 5), requires_grad=True)
    idx = numpy.array([0, 4, 4])
    y = x[1, :, 0:2, idx]
    assert y.shape == (5, 2, 3)  # PyTorch: the int selects first; NumPy would give (3, 5, 2)
    numpy.testing.assert_array_equal(y.data, x.data[1][:, 0:2, idx])
    y.sum().backward()
    expected = numpy.zeros(x.shape)
    numpy.add.at(expected[1], (slice(None), slice(0, 2), idx), 1.0)
    numpy.testing.assert_array_equal(x.grad, expected)


def test_an_int_and_an_array_index_apart_place_dimensions_as_pytorch_in_item_assignment_too():
    x = Tensor(numpy.zeros((2, 3, 4, 5)))
    value = numpy.arange(16.0).reshape(2, 4, 2)  # the shape of x[:, 0, :, idx], PyTorch's (NumPy's: (2, 2, 4))
    x[:, 0, :, [1, 2]] = value
    numpy.testing.assert_array_equal(x.data[:, 0][..., [1, 2]], value)
    x[:, Tensor(numpy.array(1)), :, [1, 2]] = value  # a 0-d integer tensor is an int
    numpy.testing.assert_array_equal(x.data[:, 1][..., [1, 2]], value)
    with pytest.raises(RuntimeError, match="does not fit"):
        x[:, 0, :, [1, 2]] = value.transpose(0, 2, 1)  # NumPy's order is refused, as PyTorch refuses it
    s = Tensor(numpy.array(2.0))
    s[True] = 5.0  # a 0-d tensor takes a 0-d mask: written in place
    assert s.item() == 5.0


def test_an_ellipsis_of_no_dimension_between_array_indices_does_not_part_them_as_pytorch():
    x = Tensor(numpy.arange(120.0).reshape(3, 4, 5, 2), requires_grad=True)
    mask = numpy.array([False, False, True, True, False])
    y = x[:, [1, 2], ..., mask, 0]  # PyTorch: (3, 2), the arrays' dimension in place; NumPy: (2, 3)
    assert y.shape == (3, 2)
    numpy.testing.assert_array_equal(y.data, x.data[:, [1, 2], [2, 3], 0])
    y.sum().backward()
    assert x.grad[:, [1, 2], [2, 3], 0].min() == 1 and x.grad.sum() == 6
    z = Tensor(numpy.zeros((3, 4, 5)))
    z[::2, [0, 1], ..., [1, 2]] = numpy.arange(4.0).reshape(2, 2)
    numpy.testing.assert_array_equal(z.data[::2, [0, 1], [1, 2]], numpy.arange(4.0).reshape(2, 2))


def test_iteration_and_membership_as_pytorch():
    t = Tensor(numpy.arange(6.0).reshape(2, 3))
    assert [row.shape for row in t] == [(3,), (3,)] and 2.0 in t and 7.0 not in t
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(Tensor(numpy.array(3.0)))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):  # PyTorch's message (NumPy's: 'unsized object')
        len(Tensor(numpy.array(3.0)))


def test_no_grad_as_a_decorator_of_a_recursive_function_restores_the_mode():
    @tinyrrn.no_grad()
    def depth(n):
        return depth(n - 1) if n else tinyrrn.is_grad_enabled()
    assert depth(3) is False and tinyrrn.is_grad_enabled()


def test_a_gradient_handed_in_or_assigned_takes_the_tensors_dtype_and_is_kept():
    a = Tensor(numpy.ones(3, "float32"), requires_grad=True)
    a.backward(Tensor(numpy.ones(3)))  # float64
    assert a.grad.dtype == numpy.float32
    assigned = Tensor(numpy.full(3, 2.0, "float32"))  # as PyTorch code assigns one
    a.grad = assigned
    assert a.grad is assigned and a.grad[0].item() == 2.0
    assert float(Tensor(numpy.array([2.5]))) == 2.5 and int(Tensor(numpy.array(3.0))) == 3
    with pytest.raises(RuntimeError, match="3 elements cannot be converted"):
        Tensor(numpy.ones(3)).item()


def test_requires_grad_is_set_on_float_leaves_only():
    x = Tensor(numpy.ones(2), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad = False
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        Tensor(numpy.arange(3)).requires_grad = True
    leaf = Tensor(numpy.ones(2))
    leaf.requires_grad = True
    (leaf * 3).sum().backward()
    numpy.testing.assert_array_equal(host(leaf.grad), 3)


def test_a_parameter_changed_by_a_step_after_the_forward_pass_stops_backward():
    """As PyTorch's version counters: the graph saved the old values, so its gradient would mix them."""
    from tinyrrn import nn, optim
    w = nn.Parameter(numpy.array([1.0, 2.0, 3.0], "float32"))
    sgd = optim.SGD([w], lr=0.1)
    first, second = (w * w).sum(), (w * w * w).sum()
    first.backward()
    sgd.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*of 'mul'"):
        second.backward()
    w.grad = None
    (w * w * w).sum().backward()  # a forward pass after the step is fine
    numpy.testing.assert_allclose(host(w.grad), 3 * host(w.data) ** 2)


def test_to_takes_torchs_dtype_forms(torch):
    x, t = Tensor(numpy.ones(2), requires_grad=True), torch.ones(2, dtype=torch.float64, requires_grad=True)
    assert x.to("float64") is x and t.to(torch.float64) is t
    for call in (lambda v: v.to("float32"), lambda v: v.to(dtype="float32"), lambda v: v.to("cpu", "float32")):
        y = call(x)
        assert y.dtype == "float32" and t.to(torch.float32).dtype == torch.float32
        y.sum().backward()
    assert x.grad.dtype == "float64" and x.grad.tolist() == [3.0, 3.0]


def test_to_another_tensor_takes_its_device_and_dtype_as_torchs(strict_gpu):
    """x.to(other) and module.to(other), as PyTorch: other's device and dtype; tinyrrn took its dtype only (NumPy
    reads an object's dtype attribute), so a host tensor stayed on the host."""
    x = Tensor(numpy.ones(2, "float32"), requires_grad=True)
    other = Tensor(numpy.zeros(3, "float64"), device="gpu")
    y = x.to(other)
    assert y.device == "gpu" and y.dtype == "float64"
    y.sum().backward()
    assert x.grad.dtype == "float32" and x.grad.tolist() == [1.0, 1.0]
    assert x.to(Tensor(numpy.zeros(1, "float32"))) is x
    with pytest.raises(TypeError, match="alone"):
        x.to("cpu", other)
    layer = tinyrrn.nn.Linear(2, 3).to(other)
    assert layer.weight.device == "gpu" and layer.weight.dtype == "float64"


def test_backward_takes_torchs_keywords(torch):
    x = Tensor(numpy.ones(3), requires_grad=True)
    (x * 2).backward(gradient=Tensor(numpy.ones(3)), retain_graph=None, create_graph=False, inputs=None)
    (x * 2).sum().backward(grad=Tensor(numpy.array(1.0)))
    assert x.grad.tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(NotImplementedError, match="not supported"):
        (x * 2).sum().backward(create_graph=True)
    (x * 2).sum().backward(inputs=[x])  # (tests/test_torch_semantics.py)
    assert x.grad.tolist() == [6.0, 6.0, 6.0]
    with pytest.raises(TypeError, match="both"):
        (x * 2).sum().backward(Tensor(numpy.array(1.0)), grad=Tensor(numpy.array(1.0)))
