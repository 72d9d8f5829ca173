"""A module's buffers are Tensors, as PyTorch's (batch norm's running statistics, num_batches_tracked, anything
given to register_buffer).

They were the raw arrays (NumPy's or CuPy's), so the methods a PyTorch user calls on them answered silently
otherwise: std() and var() NumPy's population formula, max(0) the values without the indices, size an int,
view(-1) a reinterpretation of the bytes, data a memoryview; clone(), copy_() and numpy() failed. Each case runs
PyTorch's code beside tinyrrn's.
"""
import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor, backend, nn, parallel

torch = pytest.importorskip("torch", reason='needs PyTorch as a reference oracle: pip install ".[oracle]"')
pytestmark = pytest.mark.oracle


def images(library, seed=0):
    values = numpy.random.default_rng(seed).standard_normal((4, 3, 5, 5)).astype("float32")
    return Tensor(on_device(values)) if library is nn else torch.from_numpy(values)


def test_buffers_are_tensors_with_pytorchs_methods():
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    for bn, library in ((ours, nn), (theirs, torch.nn)):
        bn(images(library))
    assert [type(b) for b in ours.buffers()] == [Tensor] * 3
    assert [type(b) for b in theirs.buffers()] == [torch.Tensor] * 3
    assert [(n, type(b)) for n, b in ours.named_buffers()] == [(n, Tensor) for n, _ in theirs.named_buffers()]
    assert type(ours.get_buffer("running_var")) is Tensor
    for a, b in ((ours.running_var.std(), theirs.running_var.std()), (ours.running_mean.max(0)[0],
                 theirs.running_mean.max(0)[0]), (ours.running_mean.view(-1), theirs.running_mean.view(-1))):
        numpy.testing.assert_allclose(host(a), b.numpy(), rtol=1e-5)
    assert ours.running_mean.size() == tuple(theirs.running_mean.size()) == (3,)
    assert not ours.running_mean.requires_grad and ours.running_mean.grad_fn is None
    assert ours.num_batches_tracked.dtype == numpy.int64 and int(ours.num_batches_tracked.item()) == 1


def test_batch_norm_updates_its_running_statistics_in_the_same_tensors():
    """As PyTorch: each training batch writes into the same buffer Tensors (a reference held sees the update);
    num_batches_tracked counts in place (its version too); evaluation leaves them as they are."""
    for library in (nn, torch.nn):
        bn = library.BatchNorm2d(3)
        held = list(bn.buffers())
        versions = [b._version if library is torch.nn else b.version for b in held]
        before = held[0].clone()
        bn(images(library))
        bn(images(library, seed=1))
        assert [b is h for b, h in zip(bn.buffers(), held)] == [True] * 3
        assert int(held[2]) == 2 and not numpy.array_equal(host(held[0]) if library is nn else held[0].numpy(),
                                                           host(before) if library is nn else before.numpy())
        after = [b._version if library is torch.nn else b.version for b in held]
        assert after[2] - versions[2] == 2
        bn.eval()
        bn(images(library))
        assert int(held[2]) == 2


def test_register_buffer_keeps_the_tensor_and_refuses_what_is_not_one_as_torch():
    for library, tensor in ((nn, lambda a: Tensor(on_device(a))), (torch.nn, torch.from_numpy)):
        module = library.Module()
        given = tensor(numpy.zeros(2, "float32"))
        module.register_buffer("b", given)
        assert module.b is given
        module.b += 1  # in place: the same Tensor
        assert module.b is given and float(given[0]) == 1
        for bad in (numpy.zeros(2), 3, [1.0]):
            with pytest.raises(TypeError, match="cannot assign '.*' object to buffer 'c'"):
                module.register_buffer("c", bad)
            with pytest.raises(TypeError, match="cannot assign '.*' as buffer 'b'"):
                module.b = bad
        assert module.b is given
        module.b = None
        assert module.b is None and "b" in dict(module._buffers)
    with pytest.raises(TypeError, match="'numpy.ndarray'.*wrap an array in a Tensor"):
        nn.Module().register_buffer("c", numpy.zeros(2))


def test_module_conversions_make_new_buffer_tensors_as_torch():
    """Module.to/double/half/float/type replace a buffer whose array they change by a new Tensor (a reference held
    keeps the old values), as PyTorch's, and keep a parameter's Tensor (its data replaced); integer buffers are left
    to Module.type alone, and a conversion that changes nothing keeps the buffer itself."""
    for library in (nn, torch.nn):
        bn = library.BatchNorm2d(3)
        weight = bn.weight
        for convert, floats in (("double", "float64"), ("half", "float16"), ("float", "float32")):
            held = list(bn.buffers())
            getattr(bn, convert)()
            assert [b is h for b, h in zip(bn.buffers(), held)] == [False, False, True], library
            assert [str(h.dtype).rpartition(".")[2] for h in held[:2]] != [floats] * 2
            assert [str(b.dtype).rpartition(".")[2] for b in bn.buffers()] == [floats, floats, "int64"]
            assert bn.weight is weight and str(weight.dtype).rpartition(".")[2] == floats
        held = list(bn.buffers())
        bn.to("cpu" if library is torch.nn else backend.get_device())  # where it is already
        bn.float()
        assert [b is h for b, h in zip(bn.buffers(), held)] == [True] * 3
    bn = nn.BatchNorm2d(3)
    held = list(bn.buffers())
    bn.type("float64")
    assert str(bn.num_batches_tracked.dtype) == "float64" and str(held[2].dtype) == "int64"
    bn.running_mean.requires_grad_()
    bn.float()
    assert bn.running_mean.requires_grad and bn.running_mean.is_leaf


def test_load_state_dict_writes_into_the_buffer_tensors_as_torch():
    """The same Tensors, written in place and counted once (their version), as PyTorch's copy_; assign=True takes a
    given Tensor itself, an array in a new Tensor."""
    for library, tensor in ((nn, lambda a: Tensor(on_device(a))), (torch.nn, torch.from_numpy)):
        bn = library.BatchNorm2d(2)
        held = list(bn.buffers())
        versions = [b._version if library is torch.nn else b.version for b in held]
        bn.load_state_dict({"running_mean": tensor(numpy.full(2, 3, "float32")),
                            "running_var": tensor(numpy.full(2, 2, "float32")),
                            "num_batches_tracked": tensor(numpy.array(5))}, strict=False)
        assert [b is h for b, h in zip(bn.buffers(), held)] == [True] * 3
        assert float(bn.running_mean[0]) == 3 and int(bn.num_batches_tracked) == 5
        assert [(b._version if library is torch.nn else b.version) - v for b, v in zip(held, versions)] == [1] * 3
        given = tensor(numpy.ones(2, "float32"))
        bn.load_state_dict({"running_mean": given}, strict=False, assign=True)
        assert bn.running_mean is given
    bn = nn.BatchNorm2d(2)
    array = on_device(numpy.ones(2, "float32"))
    bn.load_state_dict({"running_var": array}, strict=False, assign=True)
    assert type(bn.running_var) is Tensor and bn.running_var.data is array


def test_layers_that_keep_buffers_share_the_given_tensor():
    weight = Tensor(on_device(numpy.array([1.0, 2.0], "float32")))
    theirs = torch.ones(2)
    assert nn.CrossEntropyLoss(weight=weight).weight is weight and torch.nn.CrossEntropyLoss(weight=theirs).weight \
        is theirs
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    held = list(model.buffers())
    parallel.SyncBatchNorm.convert(model, parallel.Communicator())
    assert type(model[1]) is parallel.SyncBatchNorm and [b is h for b, h in zip(model.buffers(), held)] == [True] * 3


def models():
    """The same small model (a Linear and a BatchNorm2d after one training batch) in tinyrrn and in PyTorch."""
    ours, theirs = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm2d(3)), torch.nn.Sequential(torch.nn.Linear(2, 3),
                                                                                          torch.nn.BatchNorm2d(3))
    ours.load_state_dict(theirs.state_dict())
    ours[1](images(nn)[:, :3])
    theirs[1](images(torch)[:, :3])
    return ours, theirs


def test_state_dict_values_are_detached_tensors_with_pytorchs_methods():
    ours, theirs = models()
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference) and all(type(v) is Tensor for v in mine.values())
    for key, value in mine.items():
        assert not value.requires_grad and value.grad_fn is None and value.is_leaf, key
        assert value is not ours.get_parameter(key) if key.endswith(("weight", "bias")) else \
            value is not ours.get_buffer(key), key
        assert value.size() == tuple(reference[key].size()) and value.dtype == reference[key].numpy().dtype, key
        if value.dtype.kind == "f" and value.numel() > 1:
            for a, b in ((value.std(), reference[key].std()), (value.var(), reference[key].var()),
                         (value.view(-1).max(0)[1], reference[key].view(-1).max(0)[1])):
                numpy.testing.assert_allclose(host(a), b.numpy(), rtol=1e-4, err_msg=key)  # (float32 sums)
        numpy.testing.assert_allclose(host(value.clone().float()), reference[key].clone().float().numpy(),
                                      rtol=1e-5, err_msg=key)


def test_state_dict_shares_memory_with_the_module_as_torch():
    """An in-place change of a state_dict Tensor is the module's (its version too), as PyTorch's detached views."""
    for model in models():
        state = model.state_dict()
        weight = model[0].weight
        before = weight.version if isinstance(model, nn.Module) else weight._version
        state["0.weight"].zero_()
        state["1.running_var"].fill_(4.0)
        state["1.num_batches_tracked"].copy_(state["1.num_batches_tracked"] * 0 + 7)
        assert float(abs(weight).sum()) == 0 and float(model[1].running_var[2]) == 4
        assert int(model[1].num_batches_tracked) == 7
        assert (weight.version if isinstance(model, nn.Module) else weight._version) == before + 1


def test_state_dict_keep_vars_gives_the_parameters_and_buffers_themselves():
    for model in models():
        state = model.state_dict(keep_vars=True)
        assert state["0.weight"] is model[0].weight and state["1.running_mean"] is model[1].running_mean
        assert type(state["0.bias"]).__name__ == "Parameter" and state["1.num_batches_tracked"] is \
            model[1].num_batches_tracked


def test_a_state_dict_loads_into_another_model_and_round_trips_through_files(tmp_path):
    """Tensors (tinyrrn's or PyTorch's) and arrays load alike; save_npz and checkpoint.save write host arrays from
    the Tensors, which load again (and digest as the arrays do)."""
    from tinyrrn import checkpoint
    from tinyrrn.weights import load_npz, save_npz
    ours, theirs = models()
    copies = [nn.Sequential(nn.Linear(2, 3), nn.BatchNorm2d(3)) for _ in range(4)]
    copies[0].load_state_dict(ours.state_dict())
    copies[1].load_state_dict(theirs.state_dict())
    save_npz(ours, tmp_path / "model.npz")
    load_npz(copies[2], tmp_path / "model.npz")
    checkpoint.save(tmp_path / "checkpoint.npz", ours.state_dict(), {"epoch": 1})
    arrays, meta = checkpoint.load(tmp_path / "checkpoint.npz")
    assert meta == {"epoch": 1} and all(type(a) is numpy.ndarray for a in arrays.values())
    copies[3].load_state_dict(arrays)
    assert checkpoint.weights_digest(ours.state_dict()) == checkpoint.weights_digest(arrays)
    for copy in copies:
        for key, value in copy.state_dict().items():
            expected = (theirs if copy is copies[1] else ours).state_dict()[key]
            numpy.testing.assert_array_equal(host(value), host(expected) if copy is not copies[1] else
                                             expected.numpy(), err_msg=key)
            assert value.dtype == ours.state_dict()[key].dtype, key


def test_equal_compares_shapes_and_values_as_torch():
    """x.equal(other), which a PyTorch user calls on state_dict values, was missing."""
    ours, theirs = models()
    for state in (ours.state_dict(), theirs.state_dict()):
        assert state["1.running_var"].equal(state["1.running_var"].clone())
        assert not state["1.running_var"].equal(state["1.running_var"] + 1)
    for library, tensor in ((nn, lambda v: Tensor(on_device(numpy.asarray(v)))), (torch.nn, torch.tensor)):
        a = tensor([1, 2])
        assert a.equal(tensor([1.0, 2.0])) and not a.equal(tensor([[1, 2]])) and not a.equal(tensor([1, 2, 3]))
        assert not tensor([float("nan")]).equal(tensor([float("nan")]))
        with pytest.raises(TypeError, match="must be Tensor"):
            a.equal([1, 2])
