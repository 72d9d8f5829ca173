"""tinyrrn.nn: Module bookkeeping, state_dict loading, layers, and the GRU (gradchecks, torch parity)."""
import re
import warnings

import numpy as np
import pytest

import tinyrrn
from devices import host, on_device
from tinyrrn import Tensor, gradcheck, nn
from tinyrrn import functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))
        self.scale = 2.0  # a plain attribute: neither parameter nor buffer

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean(axis=(2, 3)) * self.scale)


KEYS = ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
        "head.2.weight", "head.2.bias"]


def images(n=2, seed=0):
    return Tensor(on_device(np.random.default_rng(seed).standard_normal((n, 3, 6, 6)).astype(np.float32)))


def snapshot(model):
    return {k: host(v).copy() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = model.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype, key
        np.testing.assert_array_equal(host(after[key]), value, err_msg=key)


# ---------------------------------------------------------------- registration and tree walking

def test_attribute_registration():
    net = Net()
    assert [k for k, _ in net.named_parameters()] == ["conv.weight", "bn.weight", "bn.bias", "head.2.weight",
                                                      "head.2.bias"]
    assert [k for k, _ in net.named_buffers()] == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert list(net.state_dict()) == KEYS
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [name for name, _ in net.named_modules()] == ["", "conv", "bn", "head", "head.0", "head.1", "head.2"]
    assert list(net.children()) == [net.conv, net.bn, net.head]
    assert net.scale == 2.0 and "scale" not in net.state_dict()
    assert net.num_parameters() == 4 * 3 * 9 + 4 + 4 + 4 * 2 + 2
    assert net.conv.bias is None and "conv.bias" not in net.state_dict()
    with pytest.raises(AttributeError, match="nothing"):
        net.nothing


def test_reassignment_moves_between_registries():
    net = Net()
    net.conv.bias = nn.Parameter(np.zeros(4, dtype=np.float32))  # was None: must not stay shadowed
    assert isinstance(net.conv.bias, nn.Parameter)
    assert "conv.bias" in net.state_dict()
    net.conv.bias = None
    assert net.conv.bias is None and "conv.bias" not in net.state_dict()
    net.bn.register_buffer("extra", Tensor(np.arange(3.0)))
    assert list(net.state_dict())[5:7] == ["bn.num_batches_tracked", "bn.extra"]
    net.head = nn.Identity()
    assert [k for k in net.state_dict() if k.startswith("head")] == []
    assert repr(net).startswith("Net(")


def test_num_batches_tracked_counts_training_batches_only():
    net = Net()
    counter = net.bn.num_batches_tracked
    assert counter.dtype == np.int64 and counter.shape == () and int(counter) == 0
    net(images())
    net(images())
    assert int(net.state_dict()["bn.num_batches_tracked"]) == 2
    net.eval()
    mean = net.bn.running_mean.clone()
    net(images())
    assert int(net.bn.num_batches_tracked) == 2
    np.testing.assert_array_equal(host(net.bn.running_mean), host(mean))
    assert net.bn.num_batches_tracked is counter  # updated in place, like the running statistics


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.head[1].training


def test_zero_grad():
    net = Net()
    F.cross_entropy(net(images()), on_device([0, 1])).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.cpu_only("a model already on the CPU")
def test_to_cpu_keeps_arrays_gradients_and_layout():
    net = Net()
    F.cross_entropy(net(images()), np.array([0, 1])).backward()
    weight, grad, before = net.conv.weight.data, net.conv.weight.grad, snapshot(net)
    assert net.to("cpu") is net
    assert net.conv.weight.data is weight and net.conv.weight.grad is grad
    assert_unchanged(net, before)
    assert net.conv.weight.data.transpose(0, 2, 3, 1).flags.c_contiguous


def test_to_gpu_on_the_strict_stand_in_keeps_channels_last(strict_gpu):
    strict_xp = strict_gpu
    net = Net()
    F.cross_entropy(net(images()), on_device([0, 1])).backward()
    before = snapshot(net)
    net.to("gpu")
    assert all(isinstance(v.data, strict_xp.StrictArray) for v in net.state_dict().values())
    assert all(isinstance(p.grad, Tensor) and isinstance(p.grad.data, strict_xp.StrictArray) for p in net.parameters())
    net.to("cpu")
    assert_unchanged(net, before)
    assert net.conv.weight.data.transpose(0, 2, 3, 1).flags.c_contiguous


def test_sequential_indexing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c and seq[1] is b
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]  # names kept, as in PyTorch
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = Tensor(on_device(np.ones((4, 2), dtype=np.float32)))
    np.testing.assert_allclose(host(seq(x)), host(c(b(a(x)))))
    with pytest.raises(IndexError):
        seq[3]


def test_a_slice_of_a_sequential_or_modulelist_subclass_is_of_that_subclass_as_torch(torch):
    """As PyTorch: slicing makes the container's own class (its forward: a residual Sequential's slice adds its
    input); + and * make a plain Sequential or ModuleList."""
    for lib, tensor in ((torch.nn, torch.tensor), (nn, lambda v: Tensor(on_device(np.array(v, "float32"))))):
        class Residual(lib.Sequential):
            def forward(self, x):
                return super().forward(x) + x

        class Tagged(lib.ModuleList):
            pass

        residual = Residual(lib.ReLU(), lib.Tanh())
        assert type(residual[:1]) is Residual and type(Tagged([lib.ReLU(), lib.Tanh()])[1:]) is Tagged, lib
        assert type(residual + residual) is type(residual * 2) is lib.Sequential, lib
        assert type(Tagged([lib.ReLU()]) + [lib.Tanh()]) is lib.ModuleList, lib
        assert float(residual[:1](tensor([-1.0, 2.0])).sum()) == 3.0, lib


# ---------------------------------------------------------------- state_dict loading

def test_state_dict_round_trip_copies_in_place():
    source, target = Net(), Net()
    source.bn.running_mean[...] = 3.0
    source.bn.num_batches_tracked[...] = 7
    weight = target.conv.weight.data
    assert target.load_state_dict(source.state_dict()) == ([], [])
    assert target.conv.weight.data is weight  # same array, filled in place
    assert weight.transpose(0, 2, 3, 1).flags.c_contiguous  # conv weights stay channels-last
    assert_unchanged(target, snapshot(source))
    # Tensors, float64 arrays and NumPy scalars are accepted and cast to the model's dtypes (a Python number
    # or list is refused, as PyTorch: test_d_load_state_dict_refuses_what_is_not_an_array_as_torch).
    state = {k: Tensor(v.astype(np.float64)) if v.dtype.kind == "f" else v for k, v in source.state_dict().items()}
    state["bn.num_batches_tracked"] = np.float64(9)
    target.load_state_dict(state)
    assert target.bn.running_mean.dtype == np.float32 and int(target.bn.num_batches_tracked) == 9


def test_load_errors_list_every_problem_and_change_nothing():
    net = Net()
    before = snapshot(net)
    state = snapshot(Net())
    del state["bn.bias"], state["head.2.bias"]
    state["head.2.weight"] = np.zeros((3, 4), np.float32)
    state["conv.weight"] = np.zeros((4, 3, 5, 5), np.float32)
    state["fc.weight"] = np.zeros(1, np.float32)
    state["bn.extra"] = np.zeros(1, np.float32)
    state["bn.running_mean"] = np.full(4, 5.0, np.float32)  # valid: must not be loaded either
    with pytest.raises(ValueError) as error:
        net.load_state_dict(state)
    message = str(error.value)
    for key in ("bn.bias", "head.2.bias", "fc.weight", "bn.extra", "head.2.weight", "conv.weight"):
        assert key in message, key
    assert message.count("Missing key(s)") == message.count("Unexpected key(s)") == 1
    assert message.count("size mismatch for") == 2
    assert "(3, 4)" in message and "(2, 4)" in message
    assert_unchanged(net, before)
    # Without strict, missing and unexpected keys are allowed but shapes must still match ...
    with pytest.raises(ValueError, match="conv.weight") as error:
        net.load_state_dict(state, strict=False)
    assert "missing" not in str(error.value)
    assert_unchanged(net, before)
    # ... and the rest loads, with the lists returned.
    state["head.2.weight"] = np.ones((2, 4), np.float32)
    state["conv.weight"] = np.ones((4, 3, 3, 3), np.float32)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["bn.bias", "head.2.bias"] and unexpected == ["fc.weight", "bn.extra"]
    np.testing.assert_array_equal(host(net.bn.running_mean), 5.0)
    np.testing.assert_array_equal(host(net.bn.bias), before["bn.bias"])
    assert net.conv.weight.data.transpose(0, 2, 3, 1).flags.c_contiguous


def test_load_npz_of_a_real_model(tmp_path):
    from tinyrrn.models import resnet_small
    from tinyrrn.weights import load_npz, save_npz
    source, target = resnet_small(), resnet_small()
    source(images())  # changes running statistics and counters
    save_npz(source, tmp_path / "small.npz")
    load_npz(target, tmp_path / "small.npz")
    assert_unchanged(target, snapshot(source))
    before = snapshot(target)
    with pytest.raises(ValueError, match="fc.weight"):
        load_npz(resnet_small(num_classes=5), tmp_path / "small.npz")
    assert_unchanged(target, before)


# ---------------------------------------------------------------- layers

def test_linear_and_conv_default_init_bounds():
    linear = nn.Linear(50, 40)
    bound = 1 / np.sqrt(50)
    for p in (linear.weight, linear.bias):
        assert np.abs(host(p)).max() <= bound and np.abs(host(p)).max() > 0.9 * bound
    assert linear.weight.shape == (40, 50) and linear.weight.dtype == np.float32
    assert abs(host(linear.weight).std() - bound / np.sqrt(3)) < 0.05 * bound
    conv = nn.Conv2d(6, 20, 3)
    bound = 1 / np.sqrt(6 * 9)
    for p in (conv.weight, conv.bias):
        assert np.abs(host(p)).max() <= bound and np.abs(host(p)).max() > 0.9 * bound
    assert conv.weight.shape == (20, 6, 3, 3) and conv.weight.data.transpose(0, 2, 3, 1).flags.c_contiguous
    assert abs(host(conv.weight).std() - bound / np.sqrt(3)) < 0.05 * bound
    assert nn.Conv2d(3, 4, (1, 3)).weight.shape == (4, 3, 1, 3)
    tinyrrn.manual_seed(5)
    first = host(nn.Linear(3, 3).weight)
    tinyrrn.manual_seed(5)
    np.testing.assert_array_equal(host(nn.Linear(3, 3).weight), first)


def test_layers_forward():
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)))
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    assert conv(x).shape == (2, 5, 4, 4)
    assert nn.MaxPool2d(3, 2, 1)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(host(nn.ReLU()(x)), np.maximum(host(x), 0))
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    assert nn.Identity()(x) is x
    bn = nn.BatchNorm2d(3).eval()
    np.testing.assert_allclose(host(bn(x)), host(x) / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert "kernel_size=(3, 3)" in repr(conv) and "in_features=3" in repr(nn.Linear(3, 1))


def test_batchnorm_matches_torch_in_train_and_eval(torch):
    rng = np.random.default_rng(0)
    ours, theirs = nn.BatchNorm2d(4, momentum=0.2), torch.nn.BatchNorm2d(4, momentum=0.2)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.normal_()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32) * 2 + 1
        np.testing.assert_allclose(host(ours(Tensor(on_device(x)))), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(), rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("kwargs", [dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                    dict(momentum=None, affine=False, track_running_stats=False)],
                         ids=["cumulative average", "no affine", "no running stats", "all"])
def test_batchnorm_options_match_torch(torch, kwargs):
    rng = np.random.default_rng(1)
    ours, theirs = nn.BatchNorm2d(3, **kwargs), torch.nn.BatchNorm2d(3, **kwargs)
    for training in (True, True, True, False):
        ours.train(training)
        theirs.train(training)
        x = (rng.standard_normal((4, 3, 2, 3)) * rng.uniform(0.5, 3) + rng.normal()).astype(np.float32)
        np.testing.assert_allclose(host(ours(Tensor(on_device(x)))),
                                   theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(), rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("change", ["track_running_stats False", "buffers None"])
def test_batchnorm_reads_its_attributes_changed_after_it_was_made_as_torch(torch, change):
    """track_running_stats set False keeps the buffers: training leaves them (and the count) alone, evaluation
    uses them; both buffers set to None: evaluation uses the batch's statistics, training counts no batch."""
    rng = np.random.default_rng(3)
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    ours.load_state_dict({k: v.numpy() + (k != "num_batches_tracked") / 2 for k, v in theirs.state_dict().items()})
    theirs.load_state_dict({k: torch.from_numpy(host(v)) for k, v in ours.state_dict().items()})
    for model in (ours, theirs):
        if change == "buffers None":
            model.running_mean = model.running_var = None
        else:
            model.track_running_stats = False
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        x = rng.standard_normal((4, 3, 2, 3)).astype(np.float32)
        np.testing.assert_allclose(host(ours(Tensor(on_device(x)))),
                                   theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for key, value in theirs.state_dict().items():
            np.testing.assert_array_equal(host(ours.state_dict()[key]), value.numpy(), err_msg=key)


def test_conv_and_pool_layers_take_pytorchs_arguments(torch):
    x = np.random.default_rng(2).standard_normal((2, 4, 9, 8)).astype(np.float32)
    layers = [lambda m: m.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2),
              lambda m: m.ConvTranspose2d(4, 6, 3, 2, 1, 1, groups=2, dilation=2),
              lambda m: m.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
              lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
              lambda m: m.AdaptiveAvgPool2d((4, 3))]
    for make in layers:  # the same constructor call for both libraries
        ours, theirs = make(nn), make(torch.nn)
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        np.testing.assert_allclose(host(ours(Tensor(on_device(x)))), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5, err_msg=repr(ours))
    _, indices = nn.MaxPool2d(2, return_indices=True)(Tensor(on_device(x)))
    _, expected_indices = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(host(indices), expected_indices.numpy())
    assert nn.Conv2d(4, 6, 3, groups=2).weight.shape == (6, 2, 3, 3)
    assert nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)
    with pytest.raises(ValueError, match="divisible by groups 3"):
        nn.Conv2d(4, 6, 3, groups=3)


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.25)
    x = Tensor(on_device(np.ones((200, 100), dtype=np.float32)), requires_grad=True)
    y = drop(x)
    zeros = np.mean(host(y) == 0)
    assert 0.22 < zeros < 0.28
    np.testing.assert_allclose(np.unique(host(y)), [0, 1 / 0.75], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(host(x.grad), host(y))  # the gradient goes through the same mask
    drop.eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x
    np.testing.assert_array_equal(host(nn.Dropout(1.0)(x)), 0)  # as PyTorch: everything dropped
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)  # refused when made, as PyTorch


# ---------------------------------------------------------------- GRU

def float64_gru(*args, **kwargs):
    gru = nn.GRU(*args, batch_first=True, **kwargs)
    for p in gru.parameters():
        p.data = p.data.astype(np.float64)
    return gru


def gru_inputs(batch, steps, features, hidden, layers, seed=0):
    rng = np.random.default_rng(seed)
    x = Tensor(on_device(rng.standard_normal((batch, steps, features))), requires_grad=True)
    h0 = Tensor(on_device(rng.standard_normal((layers, batch, hidden)) * 0.5), requires_grad=True)
    return x, h0


def test_gru_parameters_have_torch_names_and_init():
    gru = nn.GRU(5, 4, num_layers=2)
    assert [(k, tuple(p.shape)) for k, p in gru.named_parameters()] == [
        ("weight_ih_l0", (12, 5)), ("weight_hh_l0", (12, 4)), ("bias_ih_l0", (12,)), ("bias_hh_l0", (12,)),
        ("weight_ih_l1", (12, 4)), ("weight_hh_l1", (12, 4)), ("bias_ih_l1", (12,)), ("bias_hh_l1", (12,))]
    assert all(np.abs(host(p)).max() <= 0.5 and p.dtype == np.float32 for p in gru.parameters())
    assert [k for k, _ in nn.GRU(5, 4, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    for steps, batch_first in (((0, 2, 5), False), ((2, 0, 5), True)):  # no time step, in either layout
        with pytest.raises(ValueError, match="at least one step"):
            nn.GRU(5, 4, batch_first=batch_first)(Tensor(np.zeros(steps, np.float32)))
    for bad in ((5, 0), (0, 4), (5, 4, 0)):  # as PyTorch: sizes and layers must be positive
        with pytest.raises(ValueError, match="must be a positive integer"):
            nn.GRU(*bad)
    with pytest.raises(TypeError, match="should be of type int"):  # as PyTorch
        nn.GRU(5, 4.0)
    with pytest.raises(ValueError, match="input"):
        gru(Tensor(np.zeros((2, 3, 6), np.float32)))
    with pytest.raises(ValueError, match="h0"):
        gru(Tensor(np.zeros((2, 3, 5), np.float32)), Tensor(np.zeros((1, 2, 4), np.float32)))


@pytest.mark.parametrize("layers", [1, 2])
def test_gru_gradcheck(layers):
    gru = float64_gru(3, 4, num_layers=layers)
    x, h0 = gru_inputs(2, 3, 3, 4, layers)
    params = list(gru.parameters())

    def run(x, h0, *params):
        out, h_n = gru(x, h0)
        return F.concatenate([out.reshape(-1), h_n.reshape(-1)])

    assert gradcheck(run, [x, h0, *params])
    assert gradcheck(lambda x, *params: gru(x)[0], [x, *params])  # h0 = zeros


def test_gru_without_bias_gradcheck():
    gru = float64_gru(2, 3, bias=False)
    x, _ = gru_inputs(2, 4, 2, 3, 1)
    assert gradcheck(lambda x, *params: gru(x)[1], [x, *gru.parameters()])


def test_gru_last_output_is_h_n():
    gru = nn.GRU(3, 4, num_layers=2, batch_first=True)
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)))
    out, h_n = gru(x)
    assert out.shape == (2, 5, 4) and h_n.shape == (2, 2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(host(out)[:, -1], host(h_n)[-1])


@pytest.mark.parametrize("layers,with_h0,layout", [(1, False, "batch_first"), (2, True, "batch_first"),
                                                  (2, True, "time_first"), (1, True, "unbatched")])
def test_gru_matches_torch(layers, with_h0, layout, torch):
    """In each layout torch.nn.GRU takes: (B, T, F) with batch_first, (T, B, F) by default (as PyTorch's),
    and one sequence (T, F)."""
    torch.manual_seed(0)
    batch_first = layout == "batch_first"
    theirs = torch.nn.GRU(6, 5, num_layers=layers, batch_first=batch_first)
    ours = nn.GRU(6, 5, num_layers=layers, batch_first=batch_first)
    assert nn.GRU(6, 5).batch_first is False and (ours.batch_first, theirs.batch_first) == (batch_first,) * 2
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, h0 = gru_inputs(3, 4, 6, 5, layers, seed=1)
    x, h0 = x.data.astype(np.float32), h0.data.astype(np.float32)
    if layout == "time_first":
        x = x.transpose(1, 0, 2).copy()
    elif layout == "unbatched":
        x, h0 = x[0].copy(), h0[:, 0].copy()
    x, h0 = Tensor(x, requires_grad=True), Tensor(h0, requires_grad=True)
    tx, th0 = (torch.tensor(host(t), requires_grad=True) for t in (x, h0))
    out, h_n = ours(x, h0 if with_h0 else None)
    tout, th_n = theirs(tx, th0 if with_h0 else None)
    np.testing.assert_allclose(host(out), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(h_n), th_n.detach().numpy(), rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(2)
    g_out, g_h = (rng.standard_normal(t.shape).astype(np.float32) for t in (out, h_n))
    (F.mul(out, Tensor(on_device(g_out))).sum() + F.mul(h_n, Tensor(on_device(g_h))).sum()).backward()
    ((tout * torch.from_numpy(g_out)).sum() + (th_n * torch.from_numpy(g_h)).sum()).backward()
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    if with_h0:
        np.testing.assert_allclose(host(h0.grad), th0.grad.numpy(), rtol=1e-4, atol=1e-5)
    mine = dict(ours.named_parameters())
    for key, p in theirs.named_parameters():
        np.testing.assert_allclose(host(mine[key].grad), p.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_parameter_or_child_module_is_replaced_only_by_its_kind_or_none():
    """As PyTorch: a plain tensor over a parameter would silently leave the optimiser's list."""
    layer = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="cannot assign 'tinyrrn.tensor.Tensor' as parameter 'weight'"):
        layer.weight = Tensor(np.ones((2, 3), "float32"))
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="as child module '0'"):
        setattr(model, "0", Tensor(np.ones(2)))
    layer.bias = None
    assert list(layer.state_dict()) == ["weight"]
    with pytest.raises(TypeError, match="cannot assign '.*ReLU' as parameter 'weight'"):  # a module too, as PyTorch
        layer.weight = nn.ReLU()
    assert list(layer.state_dict()) == ["weight"] and not list(layer.children())


@pytest.mark.parametrize("make, shape", [(lambda nn: nn.Conv2d(3, 4, 3), (2, 5, 7, 7)),
                                         (lambda nn: nn.Conv2d(3, 4, 3), (5, 7, 7)),
                                         (lambda nn: nn.Conv2d(4, 4, 3, groups=2), (2, 2, 7, 7)),
                                         (lambda nn: nn.ConvTranspose2d(3, 4, 3), (2, 5, 7, 7))])
def test_a_convolution_names_the_channels_it_expected_as_torch(torch, make, shape):
    """PyTorch's RuntimeError says how many channels the weight expects and how many the input has."""
    import re
    x = np.ones(shape, "float32")
    with pytest.raises(RuntimeError) as theirs:
        make(torch.nn)(torch.tensor(x))
    words = re.search(r"to have \d+ channels, but got \d+ channels instead", str(theirs.value)).group()
    with pytest.raises(RuntimeError, match=words):
        make(nn)(Tensor(on_device(x)))


@pytest.mark.parametrize("make", [lambda nn: nn.Conv2d(3, 3, 1), lambda nn: nn.ConvTranspose2d(3, 3, 1),
                                  lambda nn: nn.MaxPool2d(1), lambda nn: nn.AvgPool2d(1),
                                  lambda nn: nn.AdaptiveAvgPool2d(2)])
@pytest.mark.parametrize("shape", [(3, 4), (1, 1, 3, 4, 4)])
def test_an_image_layer_takes_3d_or_4d_input_saying_so_as_torch(torch, make, shape):
    """PyTorch's error names both forms it takes, (C, H, W) unbatched and (N, C, H, W) (avg_pool2d's of a 2-D input
    is its IndexError)."""
    x = np.ones(shape, "float32")
    with pytest.raises(Exception) as theirs:
        make(torch.nn)(torch.tensor(x))
    with pytest.raises(type(theirs.value), match="3-D .* or 4-D" if "3D" in str(theirs.value) else ""):
        make(nn)(Tensor(on_device(x)))


@pytest.mark.parametrize("output_size, shape", [(1, (2, 3, 4, 5, 6)), ((1, 1), (2, 3, 4, 5, 6)), (1, (5, 6)),
                                                 (1, (2, 3, 0, 4)), ((1, None), (2, 3, 4, 5, 6)), ((1, 1), (5, 6)),
                                                 ((None, 1), (3, 0, 4))])
def test_adaptive_avg_pool2d_to_1x1_is_a_mean_of_any_input_as_torch(torch, output_size, shape):
    """PyTorch's 1 x 1 adaptive pooling is a mean over the last two dims of an input of any rank (a video's
    (N, C, T, H, W) too, an empty plane's NaN); other sizes take 3-D or 4-D inputs, a pair 3-D at least."""
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    theirs_x, ours_x = torch.tensor(x, requires_grad=True), Tensor(on_device(x), requires_grad=True)
    try:
        theirs = torch.nn.AdaptiveAvgPool2d(output_size)(theirs_x)
    except Exception as error:
        with pytest.raises(type(error)):
            nn.AdaptiveAvgPool2d(output_size)(ours_x)
        return
    ours = nn.AdaptiveAvgPool2d(output_size)(ours_x)
    np.testing.assert_allclose(host(ours.detach().data), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.ones(theirs.shape, "float32")
    theirs.backward(torch.tensor(g))
    ours.backward(Tensor(on_device(g)))
    np.testing.assert_allclose(host(ours_x.grad), theirs_x.grad.numpy(), rtol=1e-6)


def test_float16_global_pooling_of_65536_pixels_has_torchs_gradient(torch):
    """The gradient divides by the count in float32, as PyTorch's mean: 65536 in float16 is inf (gradient 0)."""
    ours = Tensor(on_device(np.ones((1, 1, 256, 256), "float16")), requires_grad=True)
    theirs = torch.ones((1, 1, 256, 256), dtype=torch.float16, requires_grad=True)
    nn.AdaptiveAvgPool2d(1)(ours).sum().backward()
    torch.nn.AdaptiveAvgPool2d(1)(theirs).sum().backward()
    np.testing.assert_array_equal(host(ours.grad), theirs.grad.numpy())


def test_batch_norm_2d_takes_4d_input_only():
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4D input"):
        nn.BatchNorm2d(3)(Tensor(np.ones((5, 3), "float32")))


def test_shared_modules_and_tied_parameters_count_once():
    """As PyTorch: an optimiser over parameters() updates a tied weight once; state_dict keeps every name."""
    layer = nn.Linear(2, 2)
    shared = nn.Sequential(layer, layer)
    assert len(list(shared.parameters())) == 2 and len(list(shared.modules())) == 2
    tied = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    tied[1].weight = tied[0].weight
    assert len(list(tied.parameters())) == 1 and list(tied.state_dict()) == ["0.weight", "1.weight"]


def test_sequential_takes_modules_or_an_ordered_dict_of_them():
    from collections import OrderedDict
    with pytest.raises(TypeError, match="is not a Module subclass"):
        nn.Sequential(nn.Linear(2, 3), F.relu)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert named(Tensor(on_device(np.ones((4, 2), "float32")))).shape == (4, 3)


def test_load_state_dict_as_pytorch(torch):
    """It takes a PyTorch state_dict as it is, returns (missing_keys, unexpected_keys), and refuses with
    PyTorch's RuntimeError (also a ValueError)."""
    theirs, ours = torch.nn.Linear(2, 3), nn.Linear(2, 3)
    assert ours.load_state_dict(theirs.state_dict()) == ([], [])
    np.testing.assert_array_equal(host(ours.weight.data), theirs.weight.detach().numpy())
    keys = ours.load_state_dict({"weight": np.ones((3, 2), "float32")}, strict=False)
    assert keys.missing_keys == ["bias"] and keys.unexpected_keys == []
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        ours.load_state_dict({"weight": np.ones((3, 3)), "bias": np.ones(3)})


def test_load_state_dict_lists_its_problems_in_torchs_words(torch):
    """PyTorch's lines, in its order: missing keys, unexpected keys (each quoted), then each size mismatch."""
    ours, theirs = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm2d(3)), torch.nn.Sequential(torch.nn.Linear(2, 3),
                                                                                         torch.nn.BatchNorm2d(3))
    state = {k: v for k, v in theirs.state_dict().items() if k not in ("0.bias", "1.bias")}
    state.update({"0.weight": torch.zeros(4, 2), "1.weight": torch.zeros(2), "extra": torch.zeros(1)})
    with pytest.raises(RuntimeError) as error:
        theirs.load_state_dict(state)
    lines = [line.split(": copying")[0] for line in str(error.value).split("\n")[1:]]
    assert lines[:2] == ['\tMissing key(s) in state_dict: "0.bias", "1.bias". ',
                         '\tUnexpected key(s) in state_dict: "extra". ']
    with pytest.raises(RuntimeError) as error:
        ours.load_state_dict({k: v.numpy() for k, v in state.items()})
    assert [line.split(": copying")[0] for line in str(error.value).split("\n")[1:]] == lines
    assert "copying a param with shape (4, 2) from checkpoint, the shape in current model is (3, 2)." in str(error.value)


def test_a_layer_without_inputs_is_made_as_in_pytorch():
    np.testing.assert_array_equal(host(nn.Linear(0, 3).bias.data), 0)


# -- PyTorch's refusals, keywords and in-place flags (operator probe 4) --------------------------------------
@pytest.mark.parametrize("h0_shape", [(1, 2, 2), (1, 4, 1), (1, 1, 4), (4,)])
def test_gru_unbatched_input_refuses_an_h0_of_other_dims(h0_shape):
    """PyTorch: 'For unbatched 2-D input, hx should also be 2-D'; never re-read as (1, 1, 4)."""
    h0 = Tensor(np.arange(4, dtype="float32").reshape(h0_shape))
    with pytest.raises(RuntimeError, match="2-D"):
        nn.GRU(3, 4)(Tensor(np.zeros((5, 3), "float32")), h0)


@pytest.mark.parametrize("x_shape, h0_shape", [((5, 2, 3), (1, 3, 4)), ((5, 2, 3), (1, 4)), ((5, 2, 2), None)])
def test_gru_wrong_shapes_are_runtime_errors(x_shape, h0_shape):
    h0 = None if h0_shape is None else Tensor(np.zeros(h0_shape, "float32"))
    with pytest.raises(RuntimeError):
        nn.GRU(3, 4)(Tensor(np.zeros(x_shape, "float32")), h0)


@pytest.mark.parametrize("layer", [nn.ReLU, lambda inplace: nn.Dropout(0.5, inplace)])
def test_inplace_layers_write_into_their_input_when_no_graph_is_recorded(layer):
    x = Tensor(np.array([-1.0, 2.0, -3.0, 4.0], "float32"))
    out = layer(inplace=True)(x)
    assert out is x and x.version == 1 and (x.numpy() != [-1.0, 2.0, -3.0, 4.0]).any()
    y = Tensor(np.array([-1.0, 2.0], "float32"), requires_grad=True)
    with tinyrrn.no_grad():
        assert layer(inplace=True)(y) is y
    assert layer(inplace=False)(Tensor(np.ones(2, "float32"))) is not x


@pytest.mark.parametrize("layer, values, gradient", [
    (nn.ReLU, [0.0, 4.0, 0.0, 8.0], [0.0, 6.0, 0.0, 6.0]),
    (lambda inplace: nn.Dropout(1.0, inplace), [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])])
def test_inplace_layers_record_the_change_in_the_graph_as_torch(layer, values, gradient):
    """inplace=True on a computed tensor writes into it and records the op in the graph, as PyTorch (tinyrrn refused
    it); on a leaf that requires grad it is refused, as there."""
    x = Tensor(np.array([-1.0, 2.0, -3.0, 4.0], "float32"), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        layer(inplace=True)(x)
    h = x * 2
    assert layer(inplace=True)(h) is h and h.version == 1 and not h.is_leaf
    assert h.detach().numpy().tolist() == values
    (h * 3).sum().backward()
    assert x.grad.numpy().tolist() == gradient


@pytest.mark.parametrize("call", [lambda F, x: F.relu(x, inplace=True), lambda F, x: F.dropout(x, 0.5, True, True)])
def test_inplace_on_a_leaf_requiring_grad_is_refused_as_torch(torch, call):
    with pytest.raises(RuntimeError, match="leaf Variable"):
        call(torch.nn.functional, torch.tensor([-1.0, 2.0], requires_grad=True))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        call(F, Tensor(np.array([-1.0, 2.0], "float32"), requires_grad=True))
    x = Tensor(np.array([-1.0, 2.0], "float32"), requires_grad=True)
    assert F.dropout(x, 0.5, False, True) is x and F.dropout(x, 0.0, True, True) is x  # nothing written, as PyTorch


def test_relu_inplace_matches_torch(torch):
    x, t = Tensor(np.array([-1.0, 2.0], "float32")), torch.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x and torch.nn.ReLU(inplace=True)(t) is t
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@pytest.mark.parametrize("make, error", [
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="bogus"), ValueError),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError),
    (lambda: nn.Conv2d(3, 4, (3,)), RuntimeError),  # PyTorch's layers do not expand a kernel_size of one
    (lambda: nn.Linear(-1, 3), RuntimeError), (lambda: nn.Conv2d(-1, 3, 3), RuntimeError),
    (lambda: nn.BatchNorm2d(-1), RuntimeError), (lambda: nn.BatchNorm2d(-1, affine=False), RuntimeError),
    (lambda: nn.BatchNorm2d(True), TypeError), (lambda: nn.BatchNorm2d(2.0), TypeError),
    (lambda: nn.MaxPool2d(3, 2, ceil_mode=1)(Tensor(np.zeros((1, 1, 5, 5)))), TypeError),  # at forward, as PyTorch
    (lambda: nn.Linear(2, 2).load_state_dict([1]), TypeError),
])
def test_layer_arguments_refused_with_torchs_exception_class(make, error):
    with pytest.raises(error):
        make()


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("settings", [dict(kernel_size=3, padding=1), dict(kernel_size=(2, 3), padding=(1, 2), stride=2),
                                      dict(kernel_size=4, padding="same", dilation=(1, 2)),
                                      dict(kernel_size=3, padding="valid")])
def test_conv2d_padding_modes_as_torch(torch, padding_mode, settings):
    """Conv2d's padding_mode pads the input with F.pad's mode, then convolves without padding (PyTorch's, 'same'
    with an odd total one more after); tinyrrn refused every mode but 'zeros'."""
    ours = nn.Conv2d(2, 3, padding_mode=padding_mode, **settings)
    theirs = torch.nn.Conv2d(2, 3, padding_mode=padding_mode, **settings).double()
    theirs.load_state_dict({name: torch.tensor(host(value)) for name, value in ours.state_dict().items()})
    assert ours.padding_mode == theirs.padding_mode and repr(ours) == repr(theirs).replace("float64", "float32")
    data = np.random.default_rng(0).standard_normal((2, 2, 5, 6)).astype("float32")
    expected = theirs(torch.tensor(data, dtype=torch.float64)).detach().numpy()
    np.testing.assert_allclose(host(ours(Tensor(on_device(data)))), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(ours(Tensor(on_device(data[0])))), expected[0], rtol=1e-5, atol=1e-5)


def test_state_dict_writes_into_a_destination_as_torch(torch):
    for library in (tinyrrn, torch):
        destination = {"kept": 1}
        assert library.nn.Linear(2, 2).state_dict(destination=destination, prefix="fc.") is destination
        assert list(destination) == ["kept", "fc.weight", "fc.bias"]


def test_a_modules_extra_state_is_saved_and_loaded_as_torch(torch):
    """A subclass's get_extra_state/set_extra_state: its '_extra_state' entry after its own parameters and buffers,
    given back by load_state_dict (missing when absent); without them a '_extra_state' entry is unexpected."""
    def make(library):
        class Counter(library.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc, self.count = library.nn.Linear(1, 1), 0

            def get_extra_state(self):
                return {"count": self.count}

            def set_extra_state(self, state):
                self.count = state["count"]
        return library.nn.Sequential(library.nn.Linear(1, 1), Counter())

    ours, theirs = make(tinyrrn), make(torch)
    ours[1].count = theirs[1].count = 3
    for model in (ours, theirs):
        saved = model.state_dict()
        assert list(saved) == ["0.weight", "0.bias", "1._extra_state", "1.fc.weight", "1.fc.bias"]
        assert saved["1._extra_state"] == {"count": 3}
        fresh = make(tinyrrn if model is ours else torch)
        assert tuple(fresh.load_state_dict(saved)) == ([], []) and fresh[1].count == 3
        del saved["1._extra_state"]
        assert tuple(fresh.load_state_dict(saved, strict=False)) == (["1._extra_state"], [])
        with pytest.raises(RuntimeError, match="1._extra_state"):
            fresh.load_state_dict(saved)
        with pytest.raises(RuntimeError, match="_extra_state"):
            fresh[0].load_state_dict({**fresh[0].state_dict(), "_extra_state": 1})
        with pytest.raises(RuntimeError, match="should never be called"):
            fresh[0].get_extra_state()


def test_layers_take_torchs_default_keywords():
    assert nn.ConvTranspose2d(2, 3, 3, padding_mode="zeros").weight.shape == (2, 3, 3, 3)
    assert nn.Conv2d(2, 3, 3, stride=(2,)).stride == (2,)


def test_module_api_keywords_as_torch(torch):
    """parameters(recurse=), named_parameters(prefix=), state_dict(prefix=), register_buffer(persistent=)
    and zero_grad(set_to_none=) give PyTorch's names and values."""
    ours, theirs = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm2d(2)), torch.nn.Sequential(torch.nn.Linear(2, 2),
                                                                                          torch.nn.BatchNorm2d(2))
    for module in (ours, theirs):
        module.register_buffer("kept", Tensor(np.ones(1)) if module is ours else torch.ones(1))
        module.register_buffer("scratch", Tensor(np.ones(1)) if module is ours else torch.ones(1), persistent=False)
    assert list(ours.state_dict(prefix="m.")) == list(theirs.state_dict(prefix="m."))
    assert "scratch" not in ours.state_dict() and "scratch" in dict(ours.named_buffers())
    assert [n for n, _ in ours.named_parameters(prefix="m")] == [n for n, _ in theirs.named_parameters(prefix="m")]
    assert [n for n, _ in ours.named_buffers(recurse=False)] == [n for n, _ in theirs.named_buffers(recurse=False)]
    assert len(list(ours.parameters(recurse=False))) == len(list(theirs.parameters(recurse=False))) == 0
    assert len(list(ours.parameters(recurse=True))) == 4
    ours.load_state_dict(ours.state_dict())  # the non-persistent buffer is neither saved nor expected
    for p in ours.parameters():
        p.grad = Tensor(on_device(np.ones(p.shape, p.dtype)))
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not host(p.grad).any() for p in ours.parameters())
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


def test_a_shared_parameter_is_listed_twice_without_remove_duplicate():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, shared)
    assert len(list(model.named_parameters())) == 2
    assert len(list(model.named_parameters(remove_duplicate=False))) == 4


class _AddK(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x + self.k


class _MulK(_AddK):
    def forward(self, x):
        return x * self.k


def test_a_child_set_to_none_keeps_its_place_in_a_sequential_as_torch():
    m = nn.Sequential(_AddK(1.0), _MulK(10.0))
    setattr(m, "0", None)
    assert len(m) == 2
    with pytest.raises(TypeError):  # a None child is called, as PyTorch (not skipped)
        m(Tensor(np.array([0.0])))
    setattr(m, "0", _AddK(2.0))
    assert m(Tensor(np.array([0.0]))).numpy().tolist() == [20.0]  # (0 + 2) * 10: the order kept


def test_a_parameter_set_to_none_keeps_its_registration_and_order(torch):
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(np.ones(1, "float32"))
            self.b = nn.Parameter(np.ones(1, "float32"))

    m = Two()
    m.a = None
    assert list(m.state_dict()) == ["b"] and m.a is None
    with pytest.raises(TypeError, match="Parameter or None expected"):
        m.a = Tensor(np.zeros(1, "float32"))
    m.a = nn.Parameter(np.zeros(1, "float32"))
    assert list(m.state_dict()) == ["a", "b"]
    theirs = torch.nn.Linear(2, 3, bias=False)
    with pytest.raises(TypeError):
        theirs.bias = torch.ones(3)
    for layer in (nn.Linear(2, 3, bias=False), nn.Conv2d(1, 3, 1, bias=False), nn.ConvTranspose2d(1, 3, 1, bias=False),
                  nn.BatchNorm2d(3, affine=False)):
        with pytest.raises(TypeError, match="as parameter 'bias'"):
            layer.bias = Tensor(np.ones(3, "float32"))
        assert layer.bias is None and "bias" not in layer.state_dict()


def test_a_none_buffer_assigned_a_tensor_is_a_buffer_as_torch(torch):
    ours, theirs = nn.BatchNorm2d(2, track_running_stats=False), torch.nn.BatchNorm2d(2, track_running_stats=False)
    ours.running_mean, theirs.running_mean = Tensor(np.zeros(2, "float32")), torch.zeros(2)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias", "running_mean"]
    with pytest.raises(TypeError, match="buffer"):
        ours.running_var = "ones"
    assert ours.to("cpu") is ours  # None buffers and parameters are passed over


def test_a_tensor_buffer_holds_its_array_and_converts_and_loads_as_torch(torch):
    """A buffer given as a Tensor (registered or assigned) holds its array, sharing its memory: Module.to converts
    it and load_state_dict writes it, as PyTorch's buffer of a tensor."""
    for library, tensor in ((tinyrrn, lambda a: Tensor(on_device(a))), (torch, torch.from_numpy)):
        model = library.nn.BatchNorm2d(2)
        given = tensor(np.ones(2, "float32"))
        model.register_buffer("extra", given)
        model.running_mean = tensor(np.full(2, 3, "float32"))
        model.extra[0] = 5
        assert float(given[0]) == 5
        model.double()
        model.load_state_dict({**model.state_dict(), "extra": tensor(np.full(2, 7.0))})
        assert [str(model.extra.dtype).rpartition(".")[2], str(model.running_mean.dtype).rpartition(".")[2]] == \
            ["float64"] * 2
        assert float(model.extra[1]) == 7 and float(model.running_mean[1]) == 3


def test_a_0d_buffer_computed_anew_stays_a_buffer_that_loads_as_torch(torch):
    """Arithmetic on a 0-d buffer gives a 0-d tensor, kept as the buffer, which load_state_dict writes, as
    PyTorch's."""
    for library, value in ((tinyrrn, lambda v: Tensor(np.asarray(v, "float32"))), (torch, torch.tensor)):
        model = library.nn.Module()
        model.register_buffer("scale", value(0.0))
        model.scale = model.scale * 2 + 1
        assert float(model.state_dict()["scale"]) == 1
        model.load_state_dict({"scale": value(5.0)})
        assert float(model.scale) == 5 and tuple(model.scale.shape) == ()


def test_a_torch_bfloat16_checkpoint_loads_as_torch(torch):
    """A PyTorch state_dict in bfloat16 (NumPy has no such dtype) loads cast to the model's dtypes, as torch's
    load_state_dict; it raised 'Got unsupported ScalarType BFloat16'."""
    theirs = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        theirs.weight.normal_()
    saved = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in theirs.state_dict().items()}
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict(saved)
    theirs.load_state_dict(saved)
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(host(ours.state_dict()[key]), value.numpy(), err_msg=key)


def test_plain_attributes_may_be_set_before_module_init_as_torch(torch):
    """A plain attribute set before Module.__init__() is kept; a Parameter, a Module or a registration then is
    refused with PyTorch's AttributeError, saying so."""
    for library, tensor in ((tinyrrn, lambda a: Tensor(on_device(a))), (torch, torch.from_numpy)):
        class Model(library.nn.Module):
            def __init__(self, early):
                self.scale = 2.0
                early(self)
                super().__init__()
                self.fc = library.nn.Linear(2, 2)

        model = Model(lambda m: None)
        assert model.scale == 2.0 and [name for name, _ in model.named_parameters()] == ["fc.weight", "fc.bias"]
        for early in (lambda m: setattr(m, "w", library.nn.Parameter(tensor(np.zeros(2, "float32")))),
                      lambda m: setattr(m, "child", library.nn.ReLU()),
                      lambda m: m.register_buffer("b", None), lambda m: m.register_parameter("p", None)):
            with pytest.raises(AttributeError, match="before Module.__init__"):
                Model(early)


def test_register_parameter_as_torch():
    m = nn.Module()
    m.register_parameter("w", None)
    with pytest.raises(TypeError):
        m.register_parameter("v", Tensor(np.ones(1, "float32")))
    m.x = 1
    with pytest.raises(KeyError):
        m.register_parameter("x", None)
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    m.w = nn.Parameter(np.ones(2, "float32"))
    assert [k for k, _ in m.named_parameters()] == ["w"]


def test_parameters_is_a_generator_and_parameter_takes_no_data_as_torch(torch):
    assert next(nn.Linear(2, 3).parameters()).shape == next(torch.nn.Linear(2, 3).parameters()).shape == (3, 2)
    empty, theirs = nn.Parameter(), torch.nn.Parameter()
    assert empty.shape == tuple(theirs.shape) == (0,) and empty.dtype == "float32" and empty.requires_grad


@pytest.mark.parametrize("seed", [7, 2 ** 64 - 1])
def test_manual_seed_seeds_dropout_on_every_device(seed):
    """The same seed draws the same dropout masks on the default device, as PyTorch's manual_seed seeds every device:
    a GPU's generator is CuPy's own, which may not be loaded yet when manual_seed is called."""
    x = Tensor(on_device(np.ones((20, 30), dtype=np.float32)))
    masks = []
    for _ in range(2):
        tinyrrn.manual_seed(seed)
        masks.append(host(nn.Dropout(0.5)(x)))
    np.testing.assert_array_equal(*masks)


@pytest.mark.parametrize("seed", [-1, -2 ** 63, 2 ** 64 - 1, 1.5, 2 ** 64, -2 ** 63 - 1])
def test_manual_seed_takes_torchs_seeds(torch, seed):
    try:
        torch.manual_seed(seed)
    except ValueError:
        with pytest.raises(ValueError, match="Overflow"):
            tinyrrn.manual_seed(seed)
        return
    first = tinyrrn.manual_seed(seed).random()
    assert tinyrrn.manual_seed(int(seed) % 2 ** 64).random() == first
    torch.manual_seed(0)


def test_exception_classes_as_torch(torch):
    with pytest.raises(NotImplementedError):
        torch.nn.Module()(torch.ones(1))
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(Tensor(np.ones(1)))
    with pytest.raises(ValueError, match="dtype"):
        torch.nn.GRU(3, 4)(torch.ones(2, 1, 3, dtype=torch.int64))
    for dtype in ("int64", "float64"):
        with pytest.raises(ValueError, match="dtype"):
            nn.GRU(3, 4)(Tensor(np.ones((2, 1, 3), dtype)))
    with pytest.raises(TypeError):
        torch.nn.GRU(2, 3.0)


@pytest.mark.parametrize("name, args, kwargs", [
    ("Linear", (2, 2), {}), ("Linear", (2, 2), {"bias": False}), ("ReLU", (), {"inplace": True}), ("ReLU", (), {}),
    ("Dropout", (0.1,), {}), ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), {"ceil_mode": True}),
    ("AvgPool2d", (2,), {}), ("AdaptiveAvgPool2d", (1,), {}), ("Conv2d", (1, 2, 3), {}),
    ("Conv2d", (2, 4, (1, 3)), {"padding": "same", "bias": False, "dilation": 2, "groups": 2}),
    ("Conv2d", (1, 2, 3), {"stride": (2,), "padding": 1}), ("ConvTranspose2d", (3, 4, 3), {"stride": 2}),
    ("ConvTranspose2d", (3, 4, 3), {"stride": 2, "padding": 1, "output_padding": 1, "bias": False}),
    ("GRU", (3, 4), {}), ("GRU", (3, 4, 2), {"batch_first": True, "bias": False}),
    ("BatchNorm2d", (3,), {"affine": False}), ("BatchNorm2d", (3,), {"momentum": None, "track_running_stats": False})])
def test_module_reprs_are_torchs(torch, name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize("extra", ["", "a=1", "a=1\nb=2"])
@pytest.mark.parametrize("child", [False, True])
def test_a_modules_extra_repr_is_laid_out_as_torchs(torch, extra, child):
    """A one-line extra_repr inside the parentheses only without children; else on lines of its own before them."""
    def make(library):
        class Block(library.nn.Module):
            def __init__(self):
                super().__init__()
                if child:
                    self.fc = library.nn.Linear(1, 1)

            def extra_repr(self):
                return extra
        return Block()
    assert repr(make(tinyrrn)) == repr(make(torch))


def test_torch_keywords_at_their_defaults_and_unsupported_values_named(torch):
    """PyTorch's device=/dtype= of layers, GRU's dropout/bidirectional/hx, load_state_dict's assign=False,
    Module.to(dtype): taken at torch's defaults, refused saying 'not supported' otherwise."""
    for make in (nn.Linear, torch.nn.Linear):
        assert make(2, 3, device=None, dtype=None).weight.shape == (3, 2)
    here, elsewhere = tinyrrn.backend.get_device(), {"cpu": "gpu", "gpu": "cpu"}[tinyrrn.backend.get_device()]
    nn.Linear(2, 3, device=here, dtype="float32"), nn.Conv2d(2, 3, 3, device=None, dtype=None)
    nn.Linear(2, 3, dtype=np.float32), nn.Linear(2, 3, dtype=np.dtype("float32")), nn.Linear(2, 3, dtype=torch.float32)
    nn.ConvTranspose2d(2, 3, 3, device=None, dtype=None), nn.BatchNorm2d(2, device=None, dtype=None)
    gru = nn.GRU(3, 4, 1, True, False, 0.0, False, 0, None, None)
    torch.nn.GRU(3, 4, 1, True, False, 0.0, False, 0, None, None)
    assert gru.dropout == 0.0 and gru.bidirectional is False
    x, h0 = Tensor(on_device(np.ones((5, 2, 3), "float32"))), Tensor(on_device(np.zeros((1, 2, 4), "float32")))
    np.testing.assert_array_equal(host(gru(x, hx=h0)[0]), host(gru(x, h0)[0]))
    with pytest.raises(NotImplementedError, match=r"^GRU: bidirectional=True is not supported by tinyrrn \(only "
                                                  r"PyTorch's default, bidirectional=False\)$"):  # named dropout too
        nn.GRU(2, 3, bidirectional=True)
    with pytest.raises(NotImplementedError, match=r"^GRU: dropout=0.5 between layers is not supported"):
        nn.GRU(2, 3, 2, dropout=0.5)
    for make in (lambda: nn.GRU(2, 3, 2, dropout=0.5), lambda: nn.GRU(2, 3, bidirectional=True),
                 lambda: nn.Linear(2, 3, dtype="float64"), lambda: nn.Linear(2, 3, dtype=np.float64),
                 lambda: nn.Linear(2, 3, dtype=torch.float16), lambda: nn.Linear(2, 3, device=elsewhere)):
        with pytest.raises(NotImplementedError, match="not supported"):
            make()
    lin = nn.Linear(2, 2)
    lin.load_state_dict(lin.state_dict(), assign=False)
    theirs = torch.nn.Linear(2, 2).to(torch.float64)
    for call in (lambda m: m.to("float64"), lambda m: m.to(dtype=np.float64), lambda m: m.to("cpu", "float64")):
        model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm2d(2))
        assert call(model) is model
        assert {str(v.dtype) for v in model.state_dict().values()} == {"float64", "int64"}
        assert model[0].weight.dtype == str(theirs.weight.dtype).rpartition(".")[2]
    with pytest.raises(TypeError, match="floating point"):
        nn.Linear(2, 2).to("int64")
    for model in (nn.Linear(2, 2), torch.nn.Linear(2, 2)):
        assert model.to("cpu", non_blocking=True) is model and model.to(non_blocking=False) is model
    with pytest.raises(NotImplementedError, match="memory_format=.* is not supported"):
        nn.Linear(2, 2).to(memory_format="channels_last")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        nn.Linear(2, 2).to("tpu")


# -- defects of the eighth module/autograd probe (ops8) ---------------------------------------------------
def _tied(library):
    """enc and dec are one Linear (weight tying: one parameter, two names)."""
    model = library.nn.Sequential()
    model.enc = library.nn.Linear(2, 2, bias=False)
    model.dec = model.enc
    return model


@pytest.mark.cpu_only("compares with torch on host arrays")
def test_a_tied_parameter_loaded_under_its_second_name_is_version_counted(torch):
    model = _tied(torch)
    y = model.dec(torch.ones(1, 2, requires_grad=True)).sum()
    model.load_state_dict({"dec.weight": torch.full((2, 2), 5.0)}, strict=False)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    model = _tied(tinyrrn)
    y = model.dec(Tensor(np.ones((1, 2), "float32"), requires_grad=True)).sum()
    before = model.enc.weight.version
    model.load_state_dict({"dec.weight": np.full((2, 2), 5.0, "float32")}, strict=False)
    assert model.enc.weight.version == before + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    model.load_state_dict({"enc.weight": np.ones((2, 2), "float32"), "dec.weight": np.ones((2, 2), "float32")})
    assert model.enc.weight.version == before + 2  # one write of one tensor under both names: counted once


def _with_none_child(library):
    model = library.nn.Sequential(library.nn.Linear(1, 1), library.nn.BatchNorm2d(1), library.nn.Linear(1, 1))
    setattr(model, "1", None)
    return model


def test_c_a_child_set_to_none_is_skipped_by_every_walk_as_torch(torch):
    ours, theirs = _with_none_child(tinyrrn), _with_none_child(torch)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()] == ["", "0", "2"]
    assert len(list(ours.modules())) == len(list(theirs.modules())) == 3
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 4
    assert list(ours.named_buffers()) == list(theirs.named_buffers()) == []
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ours.load_state_dict({k: np.ones(v.shape, "float32") for k, v in ours.state_dict().items()})
    assert ours[2].weight.data[0, 0] == 1
    ours.zero_grad()
    assert ours.to("cpu") is ours and ours.eval() is ours and not ours[0].training and ours.num_parameters() == 4
    assert repr(ours) == repr(theirs) and "(1): None" in repr(ours)
    for part, torch_part in ((ours[0:3], theirs[0:3]), (ours[::-1], theirs[::-1])):  # slices keep the None slot
        assert len(part) == len(torch_part) == 3 and list(part._modules) == list(torch_part._modules)
        assert part[1] is None and repr(part) == repr(torch_part)
    assert len(nn.Sequential(None)) == len(torch.nn.Sequential(None)) == 1
    assert list(nn.Sequential(None, nn.ReLU()).named_modules())[1][0] == "1"


def test_a_checkpoints_entries_under_a_child_set_to_none_are_passed_over_as_torch(torch):
    """A slot set to None (a dropped head) takes nothing from a checkpoint, and its entries are not unexpected
    (a strict load raised them); an entry inside a child that lacks it still is."""
    results, checkpoint = [], torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 3)).state_dict()
    for library, array in ((tinyrrn, lambda v: v.numpy()), (torch, lambda v: v)):
        model = library.nn.Sequential(library.nn.Linear(2, 2), library.nn.Linear(2, 1))
        saved = {k: array(v) for k, v in checkpoint.items()}
        model[1] = None
        result = model.load_state_dict(saved)
        loose = model.load_state_dict({**saved, "0.sub.weight": array(torch.ones(1)), "2.weight": array(torch.ones(1))},
                                      strict=False)
        results.append((tuple(result), tuple(loose), np.asarray(host(model[0].weight) if library is tinyrrn
                                                                  else model[0].weight.detach()).tolist()))
    assert results[0] == results[1] and results[0][1] == ([], ["2.weight", "0.sub.weight"])  # parents first


@pytest.mark.cpu_only("the check reads the statistics on the host: on a GPU it is not made (functional/norm.py)")
def test_d_eval_batch_norm_refuses_a_backward_after_its_running_statistics_changed(torch):
    weights = np.arange(4.0, dtype="float32").reshape(1, 1, 2, 2)

    def forward(bn):
        return (bn(Tensor(np.ones((1, 1, 2, 2), "float32"), requires_grad=True)) * Tensor(weights)).sum()

    bn = torch.nn.BatchNorm2d(1).eval()
    y = (bn(torch.ones(1, 1, 2, 2, requires_grad=True)) * torch.tensor(weights)).sum()
    bn.load_state_dict({"running_var": torch.tensor([4.0])}, strict=False)
    with pytest.raises(RuntimeError, match="inplace"):
        y.backward()
    for change in (lambda bn: bn.load_state_dict({"running_var": np.array([4.0], "float32")}, strict=False),
                   lambda bn: bn.running_mean.__setitem__(Ellipsis, 2.0)):
        bn = nn.BatchNorm2d(1).eval()
        y = forward(bn)
        change(bn)
        with pytest.raises(RuntimeError, match="inplace operation: .*'batch_norm'"):
            y.backward()
    forward(nn.BatchNorm2d(1).eval()).backward()  # unchanged statistics: the backward runs


@pytest.mark.parametrize("value", [[[5.0, 6.0]], 5.0], ids=["list", "number"])
@pytest.mark.cpu_only("compares with torch on host arrays")
def test_d_load_state_dict_refuses_what_is_not_an_array_as_torch(torch, value):
    with pytest.raises(RuntimeError, match="expected torch.Tensor"):
        torch.nn.Linear(2, 1, bias=False).load_state_dict({"weight": value})
    layer = nn.Linear(2, 1, bias=False)
    before = layer.weight.data.copy()
    with pytest.raises(RuntimeError, match=r"'weight': expected an array or Tensor .* received <class"):
        layer.load_state_dict({"weight": value})
    np.testing.assert_array_equal(layer.weight.data, before)
    layer.load_state_dict({"weight": np.float32(2.0) + np.zeros((1, 2), "float32")})  # arrays still load


@pytest.mark.parametrize("value", [np.array([["a", "b"]]), np.array([[None, 1]], dtype=object),
                                   np.array([["2026-01-01", "2026-01-02"]], dtype="datetime64[D]")],
                         ids=["text", "objects", "dates"])
def test_load_state_dict_refuses_an_array_of_what_is_not_numbers_naming_the_key(value):
    """An array of text was NumPy's bare ValueError "could not convert string to float" naming no key, and one
    of Python objects or dates loaded (cast to float32): each is refused naming the key, the model unchanged."""
    layer = nn.Linear(2, 1, bias=False)
    before = layer.weight.data.copy()
    with pytest.raises(RuntimeError, match=r"'weight': expected an array of numbers .* an array of"):
        layer.load_state_dict({"weight": value})
    np.testing.assert_array_equal(host(layer.weight.data), host(before))
    layer.load_state_dict({"weight": np.array([[True, False]])})  # booleans are numbers, as torch's copy_ takes them
    np.testing.assert_array_equal(host(layer.weight), [[1.0, 0.0]])


def test_e_a_one_element_value_loads_into_a_0_d_entry_as_torch(torch):
    theirs = torch.nn.BatchNorm2d(2)
    theirs.load_state_dict({**theirs.state_dict(), "num_batches_tracked": torch.tensor([3])})
    ours = nn.BatchNorm2d(2)
    ours.load_state_dict({**ours.state_dict(), "num_batches_tracked": np.array([3])})
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3
    assert ours.num_batches_tracked.shape == () and ours.num_batches_tracked.dtype == np.int64
    with pytest.raises(RuntimeError, match="size mismatch for"):  # only one element, as PyTorch's rule
        ours.load_state_dict({**ours.state_dict(), "num_batches_tracked": np.array([3, 4])})


def test_e_f_init_computes_fans_as_torch(torch):
    for shape in [(3,), ()]:
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            torch.nn.init.kaiming_uniform_(torch.zeros(shape))
        for make in (nn.init.fan_in_and_fan_out, nn.init.layer_default_weight, nn.init.kaiming_normal_fan_out):
            with pytest.raises(ValueError, match="fewer than 2 dimensions"):
                make(shape)
    weight = torch.zeros(6, 4, 3, 3)
    assert nn.init.fan_in_and_fan_out(weight.shape) == torch.nn.init._calculate_fan_in_and_fan_out(weight)


INIT_CASES = [("uniform_", {"a": -3, "b": 2}), ("normal_", {"mean": 1, "std": 2}), ("xavier_uniform_", {"gain": 2}),
              ("xavier_normal_", {}), ("kaiming_uniform_", {}), ("kaiming_uniform_", {"a": 5 ** 0.5}),
              ("kaiming_uniform_", {"mode": "FAN_OUT", "nonlinearity": "relu"}),
              ("kaiming_normal_", {"nonlinearity": "tanh"}),
              ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "leaky_relu", "a": 0.2}),
              ("orthogonal_", {"gain": 2})]


@pytest.mark.parametrize("name, kwargs", INIT_CASES, ids=[f"{n}{k}" for n, k in INIT_CASES])
@pytest.mark.parametrize("shape", [(300, 200), (48, 40, 3, 3)])
def test_torch_nn_init_functions_fill_a_tensor_in_place_with_torchs_distribution(torch, name, kwargs, shape):
    """PyTorch's torch.nn.init names fill the given Tensor in place (keeping a conv weight's layout, counted
    as an in-place change) and return it, with PyTorch's mean, spread and bounds (they were missing)."""
    tinyrrn.manual_seed(0)
    torch.manual_seed(0)
    ours = nn.Conv2d(40, 48, 3).weight if len(shape) == 4 else nn.Parameter(on_device(np.zeros(shape, "float32")))
    theirs = torch.zeros(shape)
    layout, version = ours.data.strides, ours.version
    assert getattr(nn.init, name)(ours, **kwargs) is ours and getattr(torch.nn.init, name)(theirs, **kwargs) is theirs
    assert ours.data.strides == layout and ours.version == version + 1 and ours.requires_grad and ours.is_leaf
    mine, reference = host(ours).astype(np.float64), theirs.numpy().astype(np.float64)
    assert mine.mean() == pytest.approx(reference.mean(), abs=0.05 * reference.std() + 1e-3)
    assert mine.std() == pytest.approx(reference.std(), rel=0.03)
    assert abs(mine).max() <= 1.2 * abs(reference).max()


def test_torch_nn_init_gains_fills_and_errors_as_torch(torch):
    for args in [("linear",), ("conv_transpose2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                 ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu",)]:
        assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)
    for name, args, shape in [("constant_", (2.5,), (2, 3)), ("ones_", (), (4,)), ("zeros_", (), (2, 2, 2)),
                              ("eye_", (), (2, 3)), ("eye_", (), (3, 2))]:
        ours, theirs = Tensor(on_device(np.full(shape, 7, "float32"))), torch.full(shape, 7.0)
        getattr(nn.init, name)(ours, *args), getattr(torch.nn.init, name)(theirs, *args)
        np.testing.assert_array_equal(host(ours), theirs.numpy())
    for call in [lambda m, t: m.calculate_gain("gelu"), lambda m, t: m.calculate_gain("leaky_relu", True),
                 lambda m, t: m.kaiming_uniform_(t(5, 4), mode="fan_avg"), lambda m, t: m.xavier_normal_(t(3)),
                 lambda m, t: m.eye_(t(2, 2, 2)), lambda m, t: m.orthogonal_(t(4)), lambda m, t: m.uniform_(t(2), 1, 0),
                 lambda m, t: m.normal_(t(2), 0, -1), lambda m, t: m.kaiming_normal_(t(2, 2, dtype=torch.int64)),
                 lambda m, t: m.xavier_uniform_(t(0, 0))]:
        with pytest.raises(Exception) as theirs:
            call(torch.nn.init, torch.zeros)
        with pytest.raises(type(theirs.value)):
            call(nn.init, lambda *shape, dtype=None: Tensor(on_device(np.zeros(shape, "float32" if dtype is None
                                                                                else "int64"))))
    empty = Tensor(on_device(np.zeros((0, 3), "float32")))
    with pytest.warns(UserWarning, match="zero-element"):
        assert nn.init.kaiming_normal_(empty) is empty


@pytest.mark.parametrize("sparsity, std", [(0.3, 0.5), (0.1, 0.01), (1.0, 1.0), (0.0, 2.0)])
def test_sparse_init_zeroes_as_many_of_each_column_as_torch(torch, sparsity, std):
    """nn.init.sparse_ (it was missing: an AttributeError): each column has ceil(sparsity * rows) zeros, the
    rest drawn from N(0, std^2), as PyTorch's; a tensor not 2-D and a negative std refused with its errors."""
    tinyrrn.manual_seed(0)
    torch.manual_seed(0)
    ours = nn.Parameter(on_device(np.ones((50, 400), "float32")))
    theirs = torch.ones(50, 400)
    assert nn.init.sparse_(ours, sparsity, std=std) is ours
    assert torch.nn.init.sparse_(theirs, sparsity, std=std) is theirs
    mine, reference = host(ours).astype(np.float64), theirs.numpy().astype(np.float64)
    assert ((mine == 0).sum(axis=0) == (reference == 0).sum(axis=0)).all() and ours.version == 1
    if sparsity < 1:
        assert mine[mine != 0].std() == pytest.approx(reference[reference != 0].std(), rel=0.05)
    for shape, std in [((2, 3, 4), 0.01), ((3,), 0.01), ((3, 4), -1.0)]:
        with pytest.raises(Exception) as their_error:
            torch.nn.init.sparse_(torch.zeros(shape), 0.5, std)
        with pytest.raises(type(their_error.value)):
            nn.init.sparse_(Tensor(on_device(np.zeros(shape, "float32"))), 0.5, std)


@pytest.mark.parametrize("name, args", [("uniform", ()), ("normal", ()), ("constant", (0.5,)), ("eye", ()),
                                        ("dirac", ()), ("xavier_uniform", ()), ("xavier_normal", ()),
                                        ("kaiming_uniform", ()), ("kaiming_normal", ()), ("orthogonal", ()),
                                        ("sparse", (0.5,))])
def test_deprecated_init_names_warn_and_fill_as_torch(torch, name, args):
    """PyTorch's deprecated nn.init names without the underscore (they were an AttributeError) warn its
    FutureWarning, fill the tensor in place and return it."""
    shape = (4, 4, 3) if name == "dirac" else (4, 6)
    ours, theirs = Tensor(on_device(np.ones(shape, "float32"))), torch.ones(shape)
    with pytest.warns(FutureWarning) as their_warning:
        assert getattr(torch.nn.init, name)(theirs, *args) is theirs
    with pytest.warns(FutureWarning, match=f"^{re.escape(str(their_warning[0].message))}$"):
        assert getattr(nn.init, name)(ours, *args) is ours
    assert ours.version == 1 and getattr(nn.init, name).__name__ == name
    if name in ("constant", "eye", "dirac"):
        np.testing.assert_array_equal(host(ours), theirs.numpy())


def test_orthogonal_refuses_float16_as_torch(torch):
    """PyTorch's QR has no half precision, so its orthogonal_ refuses a float16 tensor (NotImplementedError);
    tinyrrn filled it (a third behaviour). An empty one is left as it is, as there."""
    with pytest.raises(NotImplementedError):
        torch.nn.init.orthogonal_(torch.zeros((3, 3), dtype=torch.float16))
    with pytest.raises(NotImplementedError, match="float16"):
        nn.init.orthogonal_(Tensor(on_device(np.zeros((3, 3), "float16"))))
    empty = Tensor(on_device(np.zeros((0, 3), "float16")))
    assert nn.init.orthogonal_(empty) is empty


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("name, args", [("uniform_", (-1e6, 1e6)), ("uniform_", (-1e300, 1e300)),
                                        ("uniform_", (0.0, float("inf"))), ("uniform_", (float("nan"), 1.0)),
                                        ("xavier_uniform_", (float("nan"),)), ("xavier_normal_", (-1.0,)),
                                        ("uniform_", (-60000.0, 60000.0))])
def test_random_fills_check_their_bounds_as_torch(torch, dtype, name, args):
    """PyTorch's uniform_ refuses a bound outside the dtype's range (1e6 in float16) or a range wider than it,
    and normal_ a negative std, with a RuntimeError; tinyrrn filled inf in silence, or raised NumPy's
    OverflowError or ValueError."""
    def run(tensor, init):
        try:
            getattr(init, name)(tensor, *args)
        except RuntimeError:
            return "refused"
        return "filled"
    assert run(Tensor(on_device(np.zeros((3, 3), dtype))), nn.init) == \
        run(torch.zeros((3, 3), dtype=getattr(torch, dtype)), torch.nn.init)


@pytest.mark.parametrize("dtype", ["float32", "int64", "int8", "uint8", "bool"])
@pytest.mark.parametrize("value", [2.5, -1, 300, float("nan"), float("inf"), "0-d", "1-d", "2-d"])
def test_constant_fills_as_torchs_fill(torch, dtype, value):
    """constant_ converts as PyTorch's fill_: a number that overflows the dtype (NaN into an int tensor) and a
    tensor of more than 0 dimensions are refused; both were written, as garbage or broadcast, in silence."""
    def run(make, init):
        val = {"0-d": make(np.array(2.5)), "1-d": make(np.array([2.5])), "2-d": make(np.ones((2, 2)))}.get(value, value)
        target = make(np.zeros((2, 2), dtype))
        try:
            init.constant_(target, val)
        except RuntimeError:
            return "refused"
        return repr(np.asarray(host(target) if isinstance(target, Tensor) else target.numpy()).tolist())
    assert run(lambda a: Tensor(on_device(a)), nn.init) == run(torch.tensor, torch.nn.init)


@pytest.mark.parametrize("given", [None, [[1.0, 2.0, 3.0]], np.zeros((5, 2, 3), "float32")], ids=["None", "list", "array"])
@pytest.mark.parametrize("make", [lambda: nn.GRU(3, 4), lambda: nn.BatchNorm2d(3)], ids=["GRU", "BatchNorm2d"])
def test_a_layer_refuses_a_non_tensor_input_with_torchs_type_error(make, given):
    """PyTorch's TypeError, not an AttributeError ('NoneType' object has no attribute 'ndim') from inside."""
    layer = make()
    with pytest.raises(TypeError, match=type(layer).__name__):
        layer(given)
    if isinstance(layer, nn.GRU):  # and for h0
        with pytest.raises(TypeError, match="GRU"):
            layer(Tensor(np.zeros((5, 2, 3), "float32")), np.zeros((1, 2, 4), "float32") if given is None else given)


# ---------------------------------------------------------------- module API as PyTorch's (probe ops13)
def _pair(torch, make):
    """The same model built from tinyrrn.nn and from torch.nn (``make(nn)``)."""
    return make(nn), make(torch.nn)


def test_named_modules_takes_torchs_positional_order_memo_prefix(torch):
    """named_modules(memo, prefix, remove_duplicate) as PyTorch: named_modules(None, "p") named every module
    None, 'p.0'... (the prefix was read as memo's place); memo's modules are skipped and it collects those seen."""
    def make(m):
        return m.Sequential(m.Linear(1, 1), m.ReLU())
    ours, theirs = _pair(torch, make)
    assert [n for n, _ in ours.named_modules(None, "p")] == [n for n, _ in theirs.named_modules(None, "p")] == \
        ["p", "p.0", "p.1"]
    memo, their_memo = {ours[0]}, {theirs[0]}
    assert [n for n, _ in ours.named_modules(memo)] == [n for n, _ in theirs.named_modules(their_memo)] == ["", "1"]
    assert len(memo) == len(their_memo) == 3
    assert [n for n, _ in ours.named_parameters("q")] == [n for n, _ in theirs.named_parameters("q")]


@pytest.mark.parametrize("register", ["register_parameter", "register_buffer", "add_module", "register_module"])
@pytest.mark.parametrize("name", [1, "", "a.b", "training", "forward", "weight"])
def test_registering_a_name_is_checked_as_torch(torch, register, name):
    """A name that is not a string is PyTorch's TypeError (it was a KeyError); empty, dotted or taken (an
    attribute, a method, another registry's entry) a KeyError."""
    def call(m):
        layer = m.Linear(2, 2)
        getattr(layer, register)(name, None)
        return layer
    try:
        call(torch.nn)
    except Exception as err:
        with pytest.raises(type(err)):
            call(nn)
    else:
        assert name in call(nn)._parameters or name in call(nn)._buffers or name in call(nn)._modules


@pytest.mark.parametrize("name", ["", "a.b", "forward", "train", "weight", "in_features", "new"])
def test_a_parameter_assigned_as_an_attribute_has_its_name_checked_as_torch(torch, name):
    """setattr with a Parameter registers it under register_parameter's checks, as PyTorch: a dotted or empty
    name, or a method's, is its KeyError (it was registered, and a method's name then read the method)."""
    def call(m, parameter):
        layer = m.Linear(2, 2)
        setattr(layer, name, parameter)
        return [n for n, _ in layer.named_parameters()], getattr(layer, name) is parameter
    try:
        expected = call(torch.nn, torch.nn.Parameter(torch.zeros(1)))
    except KeyError:
        with pytest.raises(KeyError, match="name can|already exists"):
            call(nn, nn.Parameter(np.zeros(1, "float32")))
    else:
        assert call(nn, nn.Parameter(np.zeros(1, "float32"))) == expected


def test_add_module_apply_requires_grad_buffers_and_get_as_torch(torch):
    def make(m):
        model = m.Sequential(m.Linear(2, 3), m.BatchNorm2d(3))
        model.add_module("head", m.Sequential(m.Linear(3, 1)))
        return model
    ours, theirs = _pair(torch, make)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    with pytest.raises(TypeError):
        ours.add_module("x", 3)
    visited, their_visited = [], []
    assert ours.apply(lambda m: visited.append(type(m).__name__)) is ours
    theirs.apply(lambda m: their_visited.append(type(m).__name__))
    assert visited == their_visited  # children first
    assert ours.requires_grad_(False) is ours and not any(p.requires_grad for p in ours.parameters())
    assert all(p.requires_grad for p in ours.requires_grad_().parameters())
    with pytest.raises(TypeError):
        ours.requires_grad_(1)
    assert len(list(ours.buffers())) == len(list(theirs.buffers())) == 3
    assert ours.get_submodule("head.0") is ours.head[0] and ours.get_submodule("") is ours
    assert ours.get_parameter("head.0.weight") is ours.head[0].weight
    assert ours.get_buffer("1.running_mean") is ours[1].running_mean
    for get, target in [("get_submodule", "head.7"), ("get_submodule", "0.weight"), ("get_parameter", "1.running_mean"),
                        ("get_buffer", "1.weight"), ("get_parameter", "0.nothing")]:
        with pytest.raises(AttributeError):
            getattr(theirs, get)(target)
        with pytest.raises(AttributeError):
            getattr(ours, get)(target)
    assert "weight" in dir(ours[0]) and "running_mean" in dir(ours[1]) and "head" in dir(ours)
    assert ours.double()[0].weight.dtype == np.float64 and ours[1].running_var.dtype == np.float64
    assert ours[1].num_batches_tracked.dtype == np.int64  # floating ones only, as PyTorch
    assert ours.half()[0].weight.dtype == np.float16 and ours.float()[0].weight.dtype == np.float32


@pytest.mark.parametrize("kind", ["Sequential", "ModuleList"])
def test_sequences_of_modules_edit_as_torchs(torch, kind):
    """append, extend, insert, pop, item assignment and deletion (renumbering the rest), as PyTorch."""
    def run(m):
        seq = getattr(m, kind)([m.Linear(1, 1), m.ReLU(), m.Identity()]) if kind == "ModuleList" else \
            m.Sequential(m.Linear(1, 1), m.ReLU(), m.Identity())
        seq.append(m.Tanh() if m is torch.nn else nn.ReLU())
        seq.extend([m.Linear(1, 2)])
        seq.insert(1, m.Identity())
        del seq[0]
        del seq[-1:]
        seq[-1] = m.Linear(2, 2)
        popped = seq.pop(0)
        return [n for n, _ in seq.named_modules()], [type(c).__name__ for c in seq], type(popped).__name__, len(seq)
    ours, theirs = run(nn), run(torch.nn)
    assert ours[0] == theirs[0] and ours[2:] == theirs[2:]
    assert [n.replace("Tanh", "ReLU") for n in theirs[1]] == ours[1]
    for container in (getattr(nn, kind)(), getattr(torch.nn, kind)()):
        with pytest.raises(IndexError):
            container[0]
        with pytest.raises(TypeError):
            container.extend(3)


@pytest.mark.parametrize("index", [-3, -2, -1, 0, 3])
def test_sequential_insert_at_a_negative_index_as_torch(torch, index):
    """A negative index counts from the end, as a list's (-1: before the last); it was taken modulo len + 1,
    which put the module one place too far right."""
    def run(m):
        seq = m.Sequential(m.Linear(1, 1), m.ReLU(), m.Identity())
        seq.insert(index, m.Linear(2, 2))
        return [type(c).__name__ for c in seq], list(seq.state_dict())
    assert run(nn) == run(torch.nn)


def test_module_list_insert_within_its_length_as_torch_and_past_it_refused(torch):
    """ModuleList.insert(0..len) as PyTorch's; a negative index is PyTorch's KeyError, raised before anything
    moves; past the end PyTorch leaves a gap in the numbering ('0', '1', '5'), after which indexing, extend and
    deletion answered differently here: refused."""
    def make(m):
        return m.ModuleList([m.Linear(1, 1), m.ReLU()])
    for index in (0, 1, 2):
        ours, theirs = make(nn), make(torch.nn)
        assert ours.insert(index, nn.Tanh()) is None and theirs.insert(index, torch.nn.Tanh()) is None
        assert [type(c).__name__ for c in ours] == [type(c).__name__ for c in theirs]
        assert list(ours.state_dict()) == list(theirs.state_dict())
    ours = make(nn)
    with pytest.raises(KeyError, match="negative index"):
        ours.insert(-1, nn.Tanh())
    with pytest.raises(IndexError, match="does not support"):
        ours.insert(3, nn.Tanh())
    assert [type(c).__name__ for c in ours] == ["Linear", "ReLU"]


def test_sequential_repeated_in_place_reads_its_modules_by_name_as_torch(torch):
    """seq *= n reads the modules '0', '1', ... as PyTorch: a slice that kept the names '1', '2' raises its
    KeyError (the copies silently replaced the originals here), and n = 1 changes nothing."""
    for library in (nn, torch.nn):
        seq = library.Sequential(library.Linear(1, 1), library.ReLU(), library.Tanh())
        part = seq[1:]
        part *= 1
        assert list(part._modules) == ["1", "2"]
        with pytest.raises(KeyError):
            part *= 2
        seq *= 2
        assert list(seq._modules) == [str(i) for i in range(6)] and seq[3] is seq[0] and seq[5] is seq[2]


def test_module_list_and_dict_hold_modules_as_torch(torch):
    def make(m):
        model = m.Module()
        model.blocks = m.ModuleList([m.Linear(2, 2), m.Linear(2, 2), m.ReLU()])
        model.heads = m.ModuleDict({"b": m.Linear(2, 1), "a": m.Linear(2, 3)})
        return model
    ours, theirs = _pair(torch, make)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours.blocks) == repr(theirs.blocks)  # "(0-1): 2 x Linear(...)"
    assert repr(ours.heads) == repr(theirs.heads)
    assert list(ours.heads) == list(ours.heads.keys()) == ["b", "a"] and "a" in ours.heads
    assert isinstance(ours.blocks[1:], nn.ModuleList) and [n for n, _ in ours.blocks[1:].named_children()] == ["0", "1"]
    ours.heads.update([("c", nn.ReLU())])
    ours.heads.update(nn.ModuleDict({"d": nn.ReLU()}))
    assert list(ours.heads) == ["b", "a", "c", "d"] and type(ours.heads.pop("c")).__name__ == "ReLU"
    for heads in (ours.heads, theirs.heads):
        with pytest.raises(ValueError):
            heads.update([("x",)])
        with pytest.raises(KeyError):
            heads["a.b"] = None
    for model in (ours, theirs):
        with pytest.raises(NotImplementedError):
            model.blocks(1)


@pytest.mark.parametrize("momentum", [True, False])
def test_batch_norm_takes_a_bool_momentum_as_its_number_as_torch(torch, momentum):
    """PyTorch reads momentum=True as 1.0 (the running statistics become the batch's) and False as 0.0, in
    BatchNorm2d and F.batch_norm alike; tinyrrn refused a bool."""
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 5)).astype("float32")
    ours, theirs = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum)
    ours(Tensor(on_device(x)))
    theirs(torch.tensor(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(host(getattr(ours, name)), getattr(theirs, name).numpy(), rtol=1e-5, atol=1e-6)
    assert repr(ours) == repr(theirs)
    mean, var = Tensor(on_device(np.zeros(3, "float32"))), Tensor(on_device(np.ones(3, "float32")))
    F.batch_norm(Tensor(on_device(x)), mean, var, training=True, momentum=momentum)
    np.testing.assert_allclose(host(mean.data), getattr(theirs, "running_mean").numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_takes_one_positional_input_as_torch(torch):
    """BatchNorm2d(x, y) is PyTorch's TypeError (its relu= and add= fusions are keywords): y was read as relu=."""
    x = Tensor(on_device(np.ones((2, 2, 2, 2), "float32")))
    with pytest.raises(TypeError):
        torch.nn.BatchNorm2d(2)(torch.ones(2, 2, 2, 2), torch.ones(2, 2, 2, 2))
    with pytest.raises(TypeError):
        nn.BatchNorm2d(2)(x, x)


@pytest.mark.parametrize("kwargs", [{"batch_first": 1}, {"dropout": 2.0}, {"dropout": -0.1}, {"dropout": True},
                                    {"proj_size": 1}, {"bias": 1}])
def test_gru_refuses_arguments_with_torchs_exception_class(torch, kwargs):
    with pytest.raises(Exception) as theirs:
        torch.nn.GRU(3, 4, **kwargs)
    with pytest.raises(type(theirs.value)):
        nn.GRU(3, 4, **kwargs)


def test_gru_takes_dropout_with_one_layer_where_it_does_nothing_as_torch(torch):
    with pytest.warns(UserWarning, match="dropout"):
        ours = nn.GRU(3, 4, dropout=0.5)
    with pytest.warns(UserWarning, match="dropout"):
        theirs = torch.nn.GRU(3, 4, dropout=0.5)
    assert repr(ours) == repr(theirs)
    with pytest.raises(NotImplementedError, match="not supported"):
        nn.GRU(3, 4, num_layers=2, dropout=0.5)


@pytest.mark.parametrize("kwargs", [{}, {"num_layers": 2, "bias": False}])
def test_gru_has_torchs_flatten_parameters_reset_parameters_and_all_weights(torch, kwargs):
    """Code written for PyTorch's GRU calls flatten_parameters() (its cuDNN packing: nothing to do on the CPU),
    reset_parameters() (every weight anew from U(-1/sqrt(hidden), 1/sqrt(hidden)), in place) and reads
    all_weights (each layer's weights and biases); tinyrrn's GRU had none of them (an AttributeError)."""
    ours, theirs = nn.GRU(3, 4, **kwargs), torch.nn.GRU(3, 4, **kwargs)
    assert ours.flatten_parameters() is None and theirs.flatten_parameters() is None
    assert [[p.shape for p in layer] for layer in ours.all_weights] == \
        [[tuple(p.shape) for p in layer] for layer in theirs.all_weights]
    assert [p for layer in ours.all_weights for p in layer] == list(ours.parameters())
    with tinyrrn.no_grad():
        for p in ours.parameters():
            p.data[...] = 7
    arrays = [p.data for p in ours.parameters()]
    assert ours.reset_parameters() is None and theirs.reset_parameters() is None
    assert all(a is p.data for a, p in zip(arrays, ours.parameters()))
    for mine, value in zip(ours.parameters(), theirs.parameters()):  # within PyTorch's bound, drawn anew
        assert np.abs(host(mine.data)).max() <= 0.5 and np.ptp(host(mine.data)) > 0
        assert float(value.abs().max()) <= 0.5


def test_layers_take_their_input_by_torchs_name(torch):
    """forward(input=...) as PyTorch's layers name it (it was x: a TypeError)."""
    x = Tensor(on_device(np.ones((2, 2, 3, 3), "float32")))
    for layer in (nn.Conv2d(2, 2, 1), nn.ConvTranspose2d(2, 2, 1), nn.BatchNorm2d(2), nn.ReLU(), nn.Identity(),
                  nn.MaxPool2d(1), nn.AvgPool2d(1), nn.AdaptiveAvgPool2d(1), nn.Dropout(0.0), nn.Sequential(nn.ReLU())):
        assert layer(input=x).shape[:2] == (2, 2)
    assert nn.Linear(3, 2)(input=x).shape == (2, 2, 3, 2)
    assert nn.GRU(3, 4)(input=x[0], hx=None)[0].shape == (2, 3, 4)
    torch.nn.Linear(3, 2)(input=torch.ones(2, 3))


def test_state_dict_keep_vars_holds_the_parameters_as_torch(torch):
    """state_dict(keep_vars=True) holds the parameters themselves (it was refused), as PyTorch's."""
    ours, theirs = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    kept = ours.state_dict(keep_vars=True)
    assert kept["weight"] is ours.weight and theirs.state_dict(keep_vars=True)["weight"] is theirs.weight
    assert isinstance(kept["bias"], nn.Parameter)
    ours.load_state_dict(kept)


@pytest.mark.parametrize("name, args", [("Linear", (5, 3)), ("Conv2d", (4, 6, 3)), ("ConvTranspose2d", (4, 6, 3)),
                                        ("BatchNorm2d", (3,))])
def test_layers_reset_their_parameters_in_place_as_torch(torch, name, args):
    """reset_parameters (and BatchNorm2d's reset_running_stats), which PyTorch's layers have: each parameter drawn
    anew from the layer's default distribution (a batch norm's back to 1, 0 and its statistics to 0, 1, no
    batch), in place. Without it, code that resets what has the method reset nothing, silently."""
    ours = getattr(nn, name)(*args)
    with tinyrrn.no_grad():
        for p in ours.parameters():
            p.data[...] = 7
    for buffer in ours.buffers():
        buffer[...] = 7
    arrays = [p.data for p in ours.parameters()] + list(ours.buffers())
    ours.reset_parameters()
    assert all(a is b for a, b in zip(arrays, [p.data for p in ours.parameters()] + list(ours.buffers())))
    theirs = getattr(torch.nn, name)(*args)
    bound = 1 / np.sqrt(np.prod(theirs.weight.shape[1:]))  # PyTorch's: 1/sqrt(fan_in), for the bias too
    for (key, mine), value in zip(ours.state_dict().items(), theirs.state_dict().values()):
        if name == "BatchNorm2d":
            np.testing.assert_array_equal(host(mine), value.numpy(), err_msg=key)
        else:  # drawn anew (not the 7s, not one value) within PyTorch's bound, as its own draw
            assert np.abs(host(mine)).max() <= bound + 1e-6 and np.ptp(host(mine)) > 0
            assert float(value.abs().max()) <= bound + 1e-6


@pytest.mark.parametrize("shape, size", [((2, 4, 5, 5), (10, 9)), ((2, 4, 5, 5), (2, 6, 9, 10)), ((4, 5, 5), (6, 10, 10)),
                                         ((2, 4, 5, 5), (12, 10)), ((2, 4, 5, 5), (10,))])
def test_conv_transpose_takes_torchs_output_size(torch, shape, size):
    """ConvTranspose2d(x, output_size=...) picks the output padding as PyTorch (it was an unexpected keyword),
    with its ValueError for a size out of reach or of the wrong length."""
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1)
    ours = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    try:
        expected = theirs(torch.from_numpy(x), output_size=size).detach().numpy()
    except ValueError as error:
        with pytest.raises(ValueError, match=str(error).split(",")[0].split(" (")[0]):
            ours(Tensor(on_device(x)), output_size=size)
    else:
        np.testing.assert_allclose(host(ours(Tensor(on_device(x)), output_size=size)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, args, kwargs", [
    ("Linear", (3, 2), {}), ("Conv2d", (4, 6, 3), {}), ("Conv2d", (4, 6, (3, 1), 2, 1, 2, 2), {}),
    ("Conv2d", (4, 6, 3), {"padding": "same", "stride": [1, 1]}), ("ConvTranspose2d", (4, 6, 3, 2, 1, 1), {}),
    ("BatchNorm2d", (3,), {"affine": False}), ("MaxPool2d", (3,), {}), ("AvgPool2d", ((3, 2),), {})])
def test_layers_keep_their_settings_as_torchs_attributes(torch, name, args, kwargs):
    """A layer's settings read as PyTorch's attributes (sizes of convolutions as pairs, a pooling's stride its
    kernel by default): code reading them (conv.stride == (1, 1)) answers as with PyTorch."""
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    settings = {k: v for k, v in vars(theirs).items() if not k.startswith("_")}
    assert {k: getattr(ours, k) for k in settings} == settings


@pytest.mark.parametrize("make, argument", [
    (lambda: nn.Linear(3.0, 2), "in_features"), (lambda: nn.Linear(3, "2"), "out_features"),
    (lambda: nn.Conv2d(4, 4.0, 3), "out_channels"), (lambda: nn.Conv2d(4, 4, 3, groups=2.0), "groups"),
    (lambda: nn.ConvTranspose2d(None, 4, 3), "in_channels")])
def test_layer_sizes_that_are_not_ints_are_type_errors_naming_them(make, argument):
    with pytest.raises(TypeError, match=f"'{argument}' must be an int"):
        make()


def test_conv_groups_not_positive_is_torchs_value_error(torch):
    for library in (nn, torch.nn):
        with pytest.raises(ValueError, match="groups must be a positive integer"):
            library.Conv2d(4, 4, 3, groups=0)


@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d"])
@pytest.mark.parametrize("kwargs", [{"stride": 0}, {"stride": -1}, {"padding": -1}, {"dilation": 0}, {"kernel_size": 0},
                                    {"kernel_size": (0, 3)}, {"kernel_size": 10}, {"stride": 1.5}],
                         ids=lambda kwargs: str(kwargs))
def test_a_conv_layer_is_made_as_torchs_and_its_sizes_refused_at_forward(torch, kind, kwargs):
    """PyTorch makes a conv layer with a stride of 0, a negative padding or an empty kernel, and its forward
    refuses them (PyTorch's own tests build the layer outside assertRaises); Conv2d refused them when made."""
    settings = {"kernel_size": 3, **kwargs}
    theirs, ours = getattr(torch.nn, kind)(3, 6, **settings), getattr(nn, kind)(3, 6, **settings)
    assert repr(ours) == repr(theirs)
    x = Tensor(on_device(np.zeros((1, 3, 4, 4), "float32")))
    try:
        shape = tuple(theirs(torch.zeros(1, 3, 4, 4)).shape)  # a transposed conv takes a kernel of 10
    except Exception as err:
        with pytest.raises(type(err)):
            ours(x)
    else:
        assert ours(x).shape == shape


def test_sequences_add_and_a_missing_attribute_reads_as_torch(torch):
    """Sequential + Sequential, +=, * and *=, and ModuleList + iterable as PyTorch (they were TypeErrors); a missing
    attribute's AttributeError in PyTorch's words."""
    for m in (nn, torch.nn):
        first, second = m.Sequential(m.ReLU()), m.Sequential(m.Identity(), m.ReLU())
        both = first + second
        assert [type(c).__name__ for c in both] == ["ReLU", "Identity", "ReLU"] and len(first) == 1
        first += second
        assert len(first) == 3 and [n for n, _ in first.named_children()] == ["0", "1", "2"]
        with pytest.raises(ValueError):
            first + m.ModuleList()
        twice = m.Sequential(m.ReLU(), m.Identity()) * 2
        assert len(twice) == 4 and twice[0] is twice[2] and len(3 * twice) == 12 and len(twice * True) == 4
        twice *= 2
        assert [n for n, _ in twice.named_children()] == ["0", "1"] and len(twice) == 8  # shared: named once
        for factor, error in ((0, ValueError), (1.5, TypeError)):
            with pytest.raises(error):
                twice * factor
        listed = m.ModuleList([m.ReLU()]) + [m.Identity()]
        assert type(listed).__name__ == "ModuleList" and len(listed) == 2
        with pytest.raises(AttributeError, match="^'Linear' object has no attribute 'nothing'$"):
            m.Linear(1, 1).nothing


@pytest.mark.parametrize("name, args, kwargs, shapes", [
    ("Sigmoid", (), {}, [(2, 3)]), ("Tanh", (), {}, [(2, 3)]), ("Flatten", (), {}, [(2, 3, 4)]),
    ("Flatten", (0, -2), {}, [(2, 3, 4)]), ("Unflatten", (1, (2, -1)), {}, [(3, 6)]),
    ("Unflatten", (-1, [2, 1, 2]), {}, [(3, 4)]), ("Softmax", (), {"dim": 1}, [(2, 3)]), ("Softmax", (), {}, [(3,)]),
    ("LogSoftmax", (-1,), {}, [(2, 3, 2, 2)]), ("CrossEntropyLoss", (), {}, [(4, 3), [0, 2, 1, 1]]),
    ("CrossEntropyLoss", (), {"weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1, "ignore_index": 1},
     [(4, 3), [0, 2, 1, 1]]),
    ("CrossEntropyLoss", (), {"reduce": False}, [(4, 3), [0, 2, 1, 1]]),
    ("NLLLoss", (), {"weight": [1.0, 2.0, 0.5], "reduction": "sum"}, [(2, 3, 2), [[0, 1], [2, 2]]])])
def test_activation_flatten_softmax_and_loss_layers_as_torchs(torch, name, args, kwargs, shapes):
    """PyTorch's Sigmoid, Tanh, Flatten, Unflatten, Softmax, LogSoftmax, CrossEntropyLoss and NLLLoss layers (they
    were missing): repr, forward and the input's gradient; a loss's weight is a buffer, in state_dict as PyTorch's."""
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(s) if isinstance(s, tuple) else np.array(s) for s in shapes]
    ours = getattr(nn, name)(*args, **{k: Tensor(on_device(np.array(v))) if k == "weight" else v
                                       for k, v in kwargs.items()})
    theirs = getattr(torch.nn, name)(*args, **{k: torch.tensor(np.array(v)) if k == "weight" else v
                                               for k, v in kwargs.items()})
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    x, t = Tensor(on_device(inputs[0]), requires_grad=True), torch.tensor(inputs[0], requires_grad=True)
    mine, reference = ours(x, *(Tensor(on_device(a)) for a in inputs[1:])), theirs(t, *map(torch.tensor, inputs[1:]))
    np.testing.assert_allclose(host(mine), reference.detach().numpy(), rtol=1e-7, atol=1e-9)
    g = rng.standard_normal(mine.shape)
    mine.backward(on_device(g)), reference.backward(torch.tensor(g))
    np.testing.assert_allclose(host(x.grad), t.grad.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("size", ["2x3", (2, 3.0), None])
def test_unflatten_refuses_a_size_not_of_ints_as_torch(torch, size):
    """nn.Unflatten's size is checked when it is made, with PyTorch's TypeError and words."""
    with pytest.raises(TypeError) as theirs:
        torch.nn.Unflatten(1, size)
    with pytest.raises(TypeError, match=f"^{re.escape(str(theirs.value))}$"):
        nn.Unflatten(1, size)


# ---------------------------------------------------------------- nn.init, probe ops15
@pytest.mark.parametrize("kwargs", [{}, {"mean": 1, "std": 0.5, "a": 0.5, "b": 3}, {"a": 3, "b": 5},
                                    {"mean": 0.2, "std": 2, "a": -0.1, "b": 0.1}, {"std": -1.0},
                                    {"a": float("-inf"), "b": 0.0}])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_trunc_normal_has_torchs_distribution_bounds_and_warning(torch, kwargs, dtype):
    """nn.init.trunc_normal_ (it was missing): values within [a, b] in the tensor's dtype, with PyTorch's mean and
    spread, its warning when mean is more than 2 std from [a, b], on a tensor that requires grad too."""
    tinyrrn.manual_seed(0)
    torch.manual_seed(0)
    ours = Tensor(on_device(np.zeros((200, 100), dtype)), requires_grad=True)
    theirs = torch.zeros((200, 100), dtype=getattr(torch, dtype), requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert nn.init.trunc_normal_(ours, **kwargs) is ours and torch.nn.init.trunc_normal_(theirs, **kwargs) is theirs
    assert len({str(w.message) for w in caught}) == len(caught) / 2  # each warned alike, or neither
    mine, reference = host(ours.detach()).astype(np.float64), theirs.detach().numpy().astype(np.float64)
    low, high = (np.asarray(kwargs.get(k, v)).astype(dtype) for k, v in (("a", -2.0), ("b", 2.0)))
    assert low <= mine.min() and mine.max() <= high and ours.requires_grad and ours.version == 1
    assert mine.mean() == pytest.approx(reference.mean(), abs=0.03 * reference.std() + 1e-3)
    assert mine.std() == pytest.approx(reference.std(), rel=0.03)


@pytest.mark.parametrize("kwargs", [{"std": 0.0}, {"a": 1.0, "b": -1.0}, {"a": 1.0, "b": -1.0, "std": -1.0},
                                    {"a": float("-inf"), "b": -5.0}, {"dtype": "int64"}, {"generator": "rng"}])
def test_trunc_normal_refuses_as_torch(torch, kwargs):
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", "float32")
    with pytest.raises(Exception) as theirs:
        torch.nn.init.trunc_normal_(torch.zeros(10, dtype=getattr(torch, dtype)), **kwargs)
    with pytest.raises(type(theirs.value) if kwargs.get("generator") is None else NotImplementedError):
        nn.init.trunc_normal_(Tensor(on_device(np.zeros(10, dtype))), **kwargs)


@pytest.mark.parametrize("shape, groups", [((4, 4, 3), 1), ((6, 2, 3), 2), ((4, 4, 2, 2), 2), ((3, 5, 4, 5), 1),
                                           ((2, 3, 3, 3, 3), 1), ((4, 4, 3), -1), ((4, 4, 3), 2.0), ((4, 4, 3), 0),
                                           ((4, 4), 1), ((4, 4, 3), 3), ((4, 2, 0), 1), ((0, 2, 3), 1),
                                           ((1, 1, 1, 1, 1, 1), 1)])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_dirac_fills_and_refuses_as_torch(torch, shape, groups, dtype):
    """nn.init.dirac_ (it was missing): PyTorch's identity kernels per group, and its errors."""
    def run(tensor, init, numpy_of):
        try:
            return numpy_of(init.dirac_(tensor, groups)).tolist()
        except Exception as error:
            return type(error)
    ours = run(Tensor(on_device(np.full(shape, 7, dtype))), nn.init, host)
    assert ours == run(torch.full(shape, 7, dtype=getattr(torch, dtype)), torch.nn.init, lambda t: t.numpy())


# ---------------------------------------------------------------- forward hooks, probe ops15
class _Scale:
    """A module ``forward(x, scale=1)`` of tinyrrn.nn or torch.nn."""
    @staticmethod
    def make(lib):
        class Scale(lib.Module):
            def forward(self, x, scale=1):
                return x * scale
        return Scale()


def _hooked(lib, tensor):
    """Runs of one module with hooks registered, removed and replaced, logged by value: what each hook saw."""
    m, log = _Scale.make(lib), []
    value = lambda v: float(v) if hasattr(v, "shape") else v  # noqa: E731
    h1 = m.register_forward_pre_hook(lambda mod, args: log.append(("pre", [value(a) for a in args])))
    h2 = m.register_forward_pre_hook(lambda mod, args: args[0] * 2)  # not a tuple: the one argument
    h3 = m.register_forward_hook(lambda mod, args, out: log.append(("fwd", [value(a) for a in args], value(out))))
    h4 = m.register_forward_hook(lambda mod, args, out: out + 1)
    m.register_forward_hook(lambda mod, args, out: log.append(("first", value(out))), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {**kwargs, "scale": 3}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: log.append(("kw", dict(kwargs), value(out))),
                            with_kwargs=True)
    log.append(value(m(tensor(1.0), scale=5)))
    h2.remove(), h2.remove(), h4.remove()
    log.append(value(m(tensor(1.0))))
    with m.register_forward_hook(lambda mod, args, out: out * 10):
        log.append(value(m(tensor(1.0))))
    log.append(value(m(tensor(1.0))))
    log.append(((h1.id < h2.id < h3.id), h1.remove(), len(m._forward_pre_hooks), len(m._forward_hooks)))
    return log


def test_forward_hooks_see_and_replace_as_torchs(torch):
    """register_forward_pre_hook and register_forward_hook (they were missing): PyTorch's order (prepend), return
    values (a pre-hook's non-tuple is the one argument; not None replaces), with_kwargs, and handles that remove
    the hook (twice, or leaving a with block)."""
    ours = _hooked(nn, lambda v: Tensor(on_device(np.array(v, "float32"))))
    assert ours == _hooked(torch.nn, torch.tensor)


def test_forward_hooks_errors_and_always_call_as_torch(torch):
    for lib, tensor in ((nn, lambda v: Tensor(np.array(v, "float32"))), (torch.nn, torch.tensor)):
        m = _Scale.make(lib)
        m.register_forward_pre_hook(lambda mod, args, kwargs: 5, with_kwargs=True)
        with pytest.raises(RuntimeError, match="must return None or a tuple of"):
            m(tensor(1.0))
        m = _Scale.make(lib)
        m.register_forward_hook(lambda mod, args: 0)  # a hook of the wrong arity: Python's TypeError
        with pytest.raises(TypeError):
            m(tensor(1.0))
        m, seen = _Scale.make(lib), []
        m.register_forward_hook(lambda mod, args, out: seen.append(("always", out)), always_call=True)
        m.register_forward_hook(lambda mod, args, out: seen.append(("not always", out)))
        with pytest.raises(TypeError):
            m(tensor(1.0), "not a number")
        assert seen == [("always", None)]
        m = _Scale.make(lib)
        handles = [m.register_forward_hook(lambda *args: handles[0].remove())]  # removes itself while called
        m(tensor(1.0))
        assert not m._forward_hooks
        with pytest.raises(TypeError):
            m.register_forward_hook(lambda *args: None, True)  # prepend and the rest are keywords
    with pytest.raises(NotImplementedError, match="register_backward_hook"):  # the deprecated, not full, one
        nn.Linear(2, 2).register_backward_hook(lambda *args: None)


def test_forward_hooks_run_in_sequential_children_and_keep_the_graph():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    outputs = []
    model[0].register_forward_hook(lambda mod, args, out: outputs.append(out))
    model[1].register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    x = Tensor(on_device(np.ones((4, 3), "float32")))
    y = model(x)
    np.testing.assert_allclose(host(y.data), np.maximum(host(outputs[0].data) * 2, 0))
    y.sum().backward()
    assert model[0].weight.grad is not None
    assert "_forward_hooks" not in dict(model.state_dict()) and list(model.state_dict()) == ["0.weight", "0.bias"]


def test_copies_of_a_model_leave_its_gradients_behind_as_torch(torch):
    """As PyTorch: copy.deepcopy of a Parameter (so of a model) and pickling of any tensor keep data and
    requires_grad, not the gradient (an optimiser over a copy stepped with the original's gradients, in silence);
    a plain tensor's deepcopy keeps it; a pickled computed tensor comes back a leaf (its graph left behind)."""
    import copy
    import pickle
    for lib, param, tensor in ((torch.nn, lambda v: torch.nn.Parameter(torch.tensor(v)), torch.tensor),
                               (nn, lambda v: nn.Parameter(on_device(np.array(v, "float32"))),
                                lambda v: Tensor(on_device(np.array(v))))):
        model = lib.Linear(2, 1)
        model(tensor(np.ones((1, 2), "float32"))).sum().backward()
        for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert copied.weight.grad is None and copied.weight.requires_grad, lib
        leaf = tensor(np.ones(2, "float32")).requires_grad_()
        leaf.grad = tensor(np.ones(2, "float32"))
        assert copy.deepcopy(leaf).grad is not None and pickle.loads(pickle.dumps(leaf)).grad is None, lib
        frozen = param(np.ones(2, "float32"))
        frozen.requires_grad_(False)
        assert not copy.deepcopy(frozen).requires_grad and not pickle.loads(pickle.dumps(frozen)).requires_grad
        computed = pickle.loads(pickle.dumps(leaf * 2))
        assert computed.is_leaf and computed.requires_grad and computed.grad is None, lib


def test_load_state_dict_reports_an_unexpected_entry_that_is_no_tensor_as_torch(torch):
    """As PyTorch: only the model's own entries must be tensors; another entry (a checkpoint's epoch, its
    settings) is an unexpected key, loaded past with strict=False, named as unexpected with strict=True."""
    theirs, ours = torch.nn.Linear(2, 3), nn.Linear(2, 3)
    extra = {"epoch": 5, "settings": {"lr": 0.1}}
    their_state = {**theirs.state_dict(), **extra}
    our_state = {**{k: v.numpy() for k, v in theirs.state_dict().items()}, **extra}
    assert ours.load_state_dict(our_state, strict=False) == theirs.load_state_dict(their_state, strict=False) \
        == ([], ["epoch", "settings"])
    np.testing.assert_array_equal(host(ours.weight.data), theirs.weight.detach().numpy())
    for model, state in ((theirs, their_state), (ours, our_state)):
        with pytest.raises(RuntimeError, match="nexpected key.*epoch"):
            model.load_state_dict(state)
    with pytest.raises(RuntimeError, match="'weight': expected an array or Tensor"):  # its own: a tensor
        ours.load_state_dict({**our_state, "weight": [[1.0, 2.0]] * 3}, strict=False)


def test_load_state_dicts_result_prints_as_torchs(torch):
    """PyTorch's result prints '<All keys matched successfully>' when nothing is missing or unexpected (else as
    its namedtuple, _IncompatibleKeys(...)); tinyrrn's printed IncompatibleKeys(missing_keys=[], ...)."""
    printed = []
    for library in (tinyrrn, torch):
        model = library.nn.Linear(2, 1)
        state = dict(model.state_dict())
        matched = model.load_state_dict(state)
        state["extra"] = state.pop("bias")
        partial = model.load_state_dict(state, strict=False)
        printed.append((repr(matched), str(matched), repr(partial), str(partial), matched == ([], []),
                        partial.missing_keys, partial.unexpected_keys))
    assert printed[0] == printed[1]
    assert printed[0][:3] == ("<All keys matched successfully>",) * 2 + (
        "_IncompatibleKeys(missing_keys=['bias'], unexpected_keys=['extra'])",)


def test_set_submodule_replaces_a_module_by_its_dotted_path_as_torch(torch):
    """PyTorch's set_submodule (e.g. swapping a classifier head, model.set_submodule('fc', ...)), which tinyrrn's
    Module lacked: the module at ``target`` replaced (a new name added unless strict), errors as PyTorch's."""
    results = []
    for library in (tinyrrn, torch):
        m = library.nn
        model = m.Sequential(m.Linear(2, 3), m.Sequential(m.ReLU(), m.BatchNorm2d(3)))
        replacement = m.Tanh()
        outcome = [model.set_submodule("1.0", replacement), model[1][0] is replacement]
        model.set_submodule("1.extra", m.Identity())
        outcome.append([name for name, _ in model.named_modules()])
        for target, module, strict in [("", m.Tanh(), False), ("0", 3, False), ("1.nothing", m.Tanh(), True),
                                       ("0.weight", m.Tanh(), False), ("2.0", m.Tanh(), False)]:
            with pytest.raises(Exception) as error:
                model.set_submodule(target, module, strict=strict)
            outcome.append(type(error.value))
        results.append(outcome[:1] + outcome[2:])
        assert outcome[1]
    assert results[0] == results[1]


def test_module_cpu_cuda_and_bfloat16_as_torch(torch):
    """PyTorch's Module.cpu() and .cuda() (to('cpu'), to('gpu') here, in place, returning the module) and
    .bfloat16(), which NumPy cannot hold: each was an AttributeError; bfloat16 is now refused saying why."""
    ours, theirs = nn.Linear(2, 1), torch.nn.Linear(2, 1)
    assert ours.cpu() is ours and theirs.cpu() is theirs
    assert ours.weight.device == "cpu" and isinstance(ours.weight.data, np.ndarray)
    with pytest.raises(ValueError, match="one GPU"):  # as Tensor.cuda(1)
        ours.cuda(1)
    if not tinyrrn.gpu_available():  # no CuPy, or CuPy without a usable GPU (the oracle extra installs it)
        with pytest.raises(RuntimeError, match="device 'gpu'.*(needs CuPy|CUDA is not usable)"):
            ours.cuda()
    with pytest.raises(NotImplementedError, match="bfloat16"):
        ours.bfloat16()
    assert ours.weight.dtype == np.float32


def test_module_type_casts_every_parameter_and_buffer_as_torch(torch):
    """PyTorch's Module.type(dst_type) casts every parameter (with its gradient) and buffer, integer ones too
    (a batch norm's num_batches_tracked), and returns the module; a parameter cast to an integer type is
    refused with its RuntimeError. tinyrrn had no Module.type (AttributeError)."""
    theirs, ours = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm2d(3)), \
        nn.Sequential(nn.Linear(2, 3), nn.BatchNorm2d(3))
    theirs[0].weight.grad, ours[0].weight.grad = torch.ones(3, 2), Tensor(on_device(np.ones((3, 2), np.float32)))
    assert theirs.type(torch.float64) is theirs and ours.type("float64") is ours
    assert {k: str(v.dtype) for k, v in ours.state_dict().items()} == \
        {k: str(v.dtype).replace("torch.", "") for k, v in theirs.state_dict().items()}
    assert ours[0].weight.grad.dtype == np.float64 and theirs[0].weight.grad.dtype == torch.float64
    assert ours.type(np.float32)[1].num_batches_tracked.dtype == np.float32
    for model, int32 in ((theirs, torch.int32), (ours, "int32")):
        with pytest.raises(RuntimeError, match="floating point"):
            model.type(int32)
    assert ours[0].weight.dtype == np.float32  # nothing changed by the refused cast
    buffers_only = nn.BatchNorm2d(3, affine=False).type("int32")
    assert buffers_only.running_mean.dtype == np.int32 == torch.nn.BatchNorm2d(3, affine=False).type(
        torch.int32).running_mean.numpy().dtype
    for model in (theirs, ours):
        with pytest.raises(ValueError, match="invalid type"):
            model.type("no such type")


def test_load_state_dict_with_assign_takes_the_given_arrays_as_torch(torch):
    """load_state_dict(assign=True), as PyTorch: each parameter becomes a new Parameter on the given array (its
    dtype kept, no copy; requires_grad the old one's), or the given Parameter itself; each buffer the given array;
    a tied parameter under each of its names. tinyrrn refused assign=True."""
    for library in (torch, tinyrrn):
        model = library.nn.Sequential(library.nn.Linear(2, 3), library.nn.BatchNorm2d(3))
        model[0].bias.requires_grad_(False)
        old = model[0].weight
        given = {k: v.double() if library is torch else v.astype("float64") for k, v in model.state_dict().items()
                 if k != "1.num_batches_tracked"}
        given["1.weight"] = library.nn.Parameter(library.ones(3) if library is torch else np.ones(3, "float32"))
        result = model.load_state_dict(given, strict=False, assign=True)
        assert list(result.missing_keys) == [] and str(model[1].num_batches_tracked.dtype).endswith("int64")  # kept
        assert model[0].weight is not old and type(model[0].weight).__name__ == "Parameter"
        assert str(model[0].weight.dtype).endswith("float64") and str(model[1].running_var.dtype).endswith("float64")
        assert model[0].weight.requires_grad and not model[0].bias.requires_grad
        assert model[1].weight is given["1.weight"]
        assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
        assert model[1].running_mean is given["1.running_mean"]  # the given buffer Tensor itself
        if library is tinyrrn:
            assert model[0].weight.data is given["0.weight"].data
        with pytest.raises(RuntimeError, match="size mismatch|shape"):
            model.load_state_dict({**given, "0.weight": given["0.weight"][:1]}, strict=False, assign=True)


def test_get_submodule_of_a_parameter_says_it_is_not_a_module_as_torch(torch):
    """get_submodule('0.weight') said 'Linear has no attribute `weight`', which it has; PyTorch says that it is
    not an nn.Module (and names a missing attribute as missing)."""
    for model in (torch.nn.Sequential(torch.nn.Linear(1, 1)), nn.Sequential(nn.Linear(1, 1))):
        with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
            model.get_submodule("0.weight")
        with pytest.raises(AttributeError, match="Linear has no attribute `nothing`"):
            model.get_submodule("0.nothing")


@pytest.mark.parametrize("name", ["register_state_dict_pre_hook", "register_state_dict_post_hook",
                                  "register_load_state_dict_pre_hook", "register_load_state_dict_post_hook"])
def test_module_state_dict_hooks_are_refused_saying_so(torch, name):
    """PyTorch's Module state_dict and load_state_dict hooks, which tinyrrn lacks, raised a bare AttributeError as
    for a misspelt name; refused now saying that tinyrrn does not support them, as its backward hooks."""
    getattr(torch.nn.Linear(2, 2), name)(lambda *args: None)
    with pytest.raises(NotImplementedError, match=f"{name} is not supported by tinyrrn"):
        getattr(nn.Linear(2, 2), name)(lambda *args: None)


@pytest.mark.parametrize("name", ["share_memory", "to_empty", "compile", "xpu", "ipu", "mtia"])
def test_module_methods_tinyrrn_lacks_are_refused_saying_so(torch, name):
    """PyTorch's Module.share_memory, to_empty, compile and other devices' moves were a bare AttributeError, as
    for a misspelt name: refused now saying that tinyrrn does not support them, and why."""
    assert callable(getattr(torch.nn.Linear(2, 2), name))
    with pytest.raises(NotImplementedError, match=f"^Module.{name} is not supported by tinyrrn \\(.+\\)$"):
        getattr(nn.Linear(2, 2), name)(device="cpu") if name == "to_empty" else getattr(nn.Linear(2, 2), name)()


def test_module_get_name_names_its_repr_as_torch(torch):
    """PyTorch's Module._get_name (which custom modules override, and call in their own repr) was missing."""
    class Renamed(nn.Module):
        def _get_name(self):
            return "Other"
    for library in (torch.nn, nn):
        assert library.Linear(2, 2)._get_name() == "Linear"
    assert repr(Renamed()) == "Other()" and repr(nn.Sequential(Renamed())) == "Sequential(\n  (0): Other()\n)"


def test_conv_bn_fuses_no_conv2d_of_another_padding_mode(rng):
    """conv_bn's fused inference path pads with zeros; a Conv2d whose padding_mode is another runs as it is."""
    conv, bn = nn.Conv2d(2, 3, 3, padding=1, bias=False, padding_mode="reflect"), nn.BatchNorm2d(3).eval()
    x = Tensor(on_device(rng.standard_normal((2, 2, 5, 5)).astype("float32")))
    with tinyrrn.no_grad():
        np.testing.assert_allclose(host(nn.conv_bn(conv, bn, x)), host(bn(conv(x))), rtol=1e-6, atol=1e-6)


def test_get_parameter_and_get_buffer_say_what_torchs_say(torch):
    """get_parameter('0.nothing') said 'Linear has no parameter `nothing`' and get_buffer('0.weight') '`weight` is
    not a buffer of Linear'; PyTorch's words now: a missing name missing, a name of another kind not of its kind."""
    for library in (torch.nn, nn):
        model = library.Sequential(library.Linear(1, 1, bias=False), library.BatchNorm2d(1))
        for get, target, message in [("get_parameter", "0.nothing", "Linear has no attribute `nothing`"),
                                     ("get_parameter", "0.training", "`training` is not an nn.Parameter"),
                                     ("get_parameter", "0.bias", "`bias` is not an nn.Parameter"),
                                     ("get_parameter", "1.running_mean", "`running_mean` is not an nn.Parameter"),
                                     ("get_buffer", "1.weight", "`weight` is not a buffer"),
                                     ("get_buffer", "1.nothing", "BatchNorm2d has no attribute `nothing`")]:
            with pytest.raises(AttributeError, match=message):
                getattr(model, get)(target)
        model[1].running_var = None
        assert model.get_buffer("1.running_var") is None


def _container_story(library, tensor):
    """What a ParameterList and a ParameterDict do, step by step (values and errors), for the library ``library``."""
    told = []

    def tell(f):
        try:
            told.append(repr(f()))
        except Exception as error:  # the type and the first words: what is in parentheses is each library's own
            told.append(f"{type(error).__name__}: {str(error).split(' (')[0][:40]}")
    ones = lambda *shape: tensor(np.ones(shape, "float32"))  # noqa: E731
    pl = library.ParameterList([ones(2), library.Parameter(ones(2, 3))])
    pl.append(None)
    pl += ["x", library.Linear(1, 1)]
    tell(lambda: [type(v).__name__ for v in pl])
    tell(lambda: list(dict(pl.named_parameters())))
    tell(lambda: (pl[-5] is pl[0], len(pl[1::2]), type(pl[1:]).__name__))
    for bad in (lambda: pl[5], lambda: pl(1), lambda: pl.extend(ones(2)), lambda: pl.__setitem__(0, "x")):
        tell(bad)
    pl[2] = ones(1)
    tell(lambda: (type(pl[2]).__name__, pl[2].requires_grad))
    pd = library.ParameterDict({"b": ones(2), "a": library.Parameter(ones(3))})  # a dict's keys sorted, as PyTorch
    pd["c"] = "x"
    tell(lambda: (list(pd), [type(v).__name__ for v in pd.values()], list(pd.state_dict()), "a" in pd, len(pd)))
    for bad in (lambda: pd["zz"], lambda: pd[1], lambda: pd(1), lambda: pd.update(3), lambda: pd.update([(1,)]),
                lambda: pd.update([3]), lambda: library.ParameterDict().popitem()):
        tell(bad)
    tell(lambda: (pd.popitem()[0], pd.pop("a").shape == (3,), pd.setdefault("d"), pd.get("nope", 5), list(pd)))
    pd.update([("q", ones(1)), ("p", None)])
    tell(lambda: (list(pd | {"z": ones(1)}), list(pd.copy()), list(pd.fromkeys(["y", "x"])), list(reversed(pd))))
    pd.clear()
    tell(lambda: (list(pd), list(pd.named_parameters())))
    return told


def test_parameter_list_and_dict_hold_parameters_as_torchs(torch):
    """nn.ParameterList and nn.ParameterDict, which tinyrrn lacked (an AttributeError): tensors held as Parameters
    under '0', '1', ... or their keys, other values as attributes, indexing, editing and errors as PyTorch's."""
    assert _container_story(nn, Tensor) == _container_story(torch.nn, torch.tensor)
    text = repr(nn.ParameterList([nn.Parameter(np.zeros((2, 3), "float32")), "x"]))
    assert text == "ParameterList(\n    (0): Parameter containing: [float32 of size 2x3]\n    (1): Object of type: str\n)"


@pytest.mark.parametrize("name, says", [("modules", "no global module hooks"), ("functional", "tinyrrn.functional"),
                                        ("LSTM", "tinyrrn.nn.__all__")])
def test_what_tinyrrn_lacks_of_torch_nn_says_what_to_use(torch, name, says):
    """torch.nn.modules.module.register_module_forward_hook (global hooks), torch.nn.functional and torch's other
    layers were a bare "has no attribute": the AttributeError now says why and what to use."""
    assert hasattr(torch.nn, name) and not hasattr(nn, name)
    with pytest.raises(AttributeError, match=says):
        getattr(nn, name)
    with pytest.raises(AttributeError, match="^module 'tinyrrn.nn' has no attribute 'nothing'$"):
        nn.nothing


def test_layer_reprs_read_the_layers_settings_as_torchs(torch):
    """Linear's and the convolutions' repr read the weight's shape: with the weight deleted or set to None (pruning,
    a weight made elsewhere) printing the model raised AttributeError; they print the layer's settings now, as
    PyTorch's, and BatchNorm2d its ``affine``."""
    def make(library):
        layers = [library.Linear(2, 3), library.Conv2d(4, 6, (3, 1), groups=2, bias=False),
                  library.ConvTranspose2d(4, 6, 2, groups=2), library.BatchNorm2d(3)]
        for layer in layers:
            layer.weight = None
        return layers
    assert [repr(layer) for layer in make(nn)] == [repr(layer) for layer in make(torch.nn)]


def _backward_hooks_story(torch, library, tensor):
    """What a model's full backward hooks and pre-hooks see and change, and their errors, for ``library``."""
    def values(t):
        return None if t is None else np.round(np.asarray(t.detach().numpy() if library is torch.nn else host(t.data),
                                                          dtype="float64"), 4).tolist()
    told = []

    def tell(f):
        try:
            told.append(f())
        except Exception as error:
            told.append(f"{type(error).__name__}: {str(error)[:60]}")
    model = library.Sequential(library.Linear(3, 2), library.ReLU(), library.Linear(2, 1))
    for p in model.parameters():
        p.requires_grad_(False)
        p[...] = tensor(np.linspace(-1, 1, int(np.prod(p.shape)), dtype="float32").reshape(p.shape))
        p.requires_grad_()
    seen = []
    handle = model[0].register_full_backward_hook(lambda m, gi, go: seen.append(
        ("full 0", [values(g) for g in gi], [values(g) for g in go])))
    model[2].register_full_backward_pre_hook(lambda m, go: seen.append(("pre 2", [values(g) for g in go])))
    model[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))  # replaces grad_input
    model[1].register_full_backward_pre_hook(lambda m, go: (go[0] * 3,), prepend=True)  # replaces grad_output
    model.register_full_backward_hook(lambda m, gi, go: seen.append(("model", [values(g) for g in gi])))
    x = tensor(np.array([[1, 2, 3], [-1, 0.5, 2]], "float32")).requires_grad_()
    model(x).sum().backward()
    tell(lambda: (seen[:], values(x.grad), values(model[0].weight.grad)))
    seen.clear()
    with warnings.catch_warnings(record=True) as caught:  # no input requires grad: called with grad_output
        warnings.simplefilter("always")
        model(tensor(np.ones((1, 3), "float32"))).sum().backward()
    tell(lambda: (seen[:], any("no inputs require gradients" in str(w.message) for w in caught)))
    seen.clear()
    handle.remove()
    model(x).sum().backward()
    tell(lambda: seen[:])
    x = tensor(np.ones((1, 2), "float32")).requires_grad_()
    for register, hook in (("register_full_backward_hook", lambda m, gi, go: (gi[0], gi[0])),
                           ("register_full_backward_pre_hook", lambda m, go: (go[0], go[0]))):
        layer = library.Linear(2, 2)
        getattr(layer, register)(hook)
        tell(lambda: layer(x).sum().backward())
    layer = library.Linear(2, 2)
    layer.register_full_backward_hook(lambda m, gi, go: (go[0],))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tell(lambda: layer(tensor(np.ones((1, 2), "float32"))).sum().backward())
    return told


def test_full_backward_hooks_see_and_replace_gradients_as_torchs(torch):
    """register_full_backward_hook and register_full_backward_pre_hook were refused: they see grad_input and
    grad_output and replace them now, as PyTorch's (prepend, handles, no input requiring grad, errors)."""
    assert _backward_hooks_story(torch, nn, lambda a: Tensor(on_device(a))) == \
        _backward_hooks_story(torch, torch.nn, torch.tensor)


def test_full_backward_hooks_refuse_two_inputs_that_require_grad():
    """tinyrrn hooks one gradient per node: a second input that requires grad is refused, saying so; under no_grad
    nothing is hooked."""
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b
    add, seen = Add(), []
    add.register_full_backward_hook(lambda m, gi, go: seen.append(len(gi)))
    a, b = (Tensor(on_device(np.ones(2, "float32")), requires_grad=True) for _ in range(2))
    with pytest.raises(NotImplementedError, match="more than one input that requires grad"):
        add(a, b)
    with tinyrrn.no_grad():
        assert not add(a, b).requires_grad
    add(a, Tensor(on_device(np.ones(2, "float32")))).sum().backward()
    assert seen == [2] and host(a.grad).tolist() == [1, 1]


ACTIVATION_LAYERS = [("LeakyReLU", ()), ("LeakyReLU", (0.2,)), ("ELU", ()), ("ELU", (0.5,)), ("CELU", (0.5,)),
                     ("SELU", ()), ("SiLU", ()), ("Mish", ()), ("Hardsigmoid", ()), ("Hardswish", ()), ("ReLU6", ()),
                     ("Hardtanh", ()), ("Hardtanh", (-2.0, 0.5)), ("Threshold", (0.1, 20.0)), ("Softplus", ()),
                     ("Softplus", (2.0, 1.0)), ("LogSigmoid", ()), ("Softsign", ()), ("Tanhshrink", ()),
                     ("Hardshrink", ()), ("Softshrink", (0.3,)), ("GLU", ()), ("GLU", (0,)), ("Softmin", (1,))]


@pytest.mark.parametrize("name, args", ACTIVATION_LAYERS)
def test_activation_layers_are_torchs(torch, name, args):
    """torch.nn's activation layers: the same repr, attributes, outputs and input gradients as PyTorch's (CELU's alpha
    is one float32 holds exactly: PyTorch's gradient divides by alpha rounded to float32, its value by alpha)."""
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert {k: getattr(ours, k) for k in vars(theirs) if not k.startswith("_") and k != "training"} == \
        {k: v for k, v in vars(theirs).items() if not k.startswith("_") and k != "training" and hasattr(ours, k)}
    x = np.random.default_rng(0).standard_normal((4, 6)) * 3
    mine, other = Tensor(on_device(x), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine), theirs(other)
    np.testing.assert_allclose(host(out.data), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(expected.shape)
    out.backward(Tensor(on_device(g)))
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(host(mine.grad.data), other.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_activation_layers_take_pytorchs_arguments_and_refuse_inplace_when_called(torch):
    assert repr(nn.LeakyReLU(0.2, True)) == repr(torch.nn.LeakyReLU(0.2, True))
    assert repr(nn.Threshold(0.1, 20, inplace=True)) == repr(torch.nn.Threshold(0.1, 20, inplace=True))
    for bad in (lambda m: m.Threshold(0.1), lambda m: m.ELU(1.0, False, 3), lambda m: m.SiLU(slope=1)):
        with pytest.raises(TypeError):
            bad(torch.nn)
        with pytest.raises(TypeError):
            bad(nn)
    with pytest.raises(NotImplementedError, match="inplace"):
        nn.LeakyReLU(inplace=True)(Tensor(np.ones(3, "float32")))


LOSS_LAYERS = [("MSELoss", {}), ("MSELoss", {"reduction": "sum"}), ("L1Loss", {"reduction": "none"}),
               ("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {"delta": 0.7}), ("BCELoss", {}),
               ("BCEWithLogitsLoss", {}), ("KLDivLoss", {"reduction": "batchmean"}),
               ("KLDivLoss", {"log_target": True, "reduction": "sum"}), ("L1Loss", {"size_average": False})]


@pytest.mark.parametrize("name, kwargs", LOSS_LAYERS)
def test_loss_layers_are_torchs(torch, name, kwargs):
    """torch.nn's loss layers: the same reduction attribute, values and gradients as PyTorch's."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 3)), rng.uniform(0.05, 0.95, (5, 3))
    if name == "BCELoss":
        x = rng.uniform(0.05, 0.95, (5, 3))
    if name == "KLDivLoss" and not kwargs.get("log_target"):
        x = np.log(rng.uniform(0.05, 0.95, (5, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation of size_average
        ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert ours.reduction == theirs.reduction
    mine, other = Tensor(on_device(x), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine, Tensor(on_device(t))), theirs(other, torch.tensor(t))
    np.testing.assert_allclose(host(out.data), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(host(mine.grad.data), other.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_bce_loss_layers_keep_their_weights_as_buffers_as_torch(torch):
    weight, pos_weight = np.array([1.0, 2.0, 0.5], "float32"), np.array([3.0, 1.0, 0.25], "float32")
    ours = nn.BCEWithLogitsLoss(Tensor(on_device(weight)), pos_weight=Tensor(on_device(pos_weight)))
    theirs = torch.nn.BCEWithLogitsLoss(torch.tensor(weight), pos_weight=torch.tensor(pos_weight))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "pos_weight"]
    x, t = np.random.default_rng(0).standard_normal((4, 3)).astype("float32"), np.eye(4, 3, dtype="float32")
    np.testing.assert_allclose(host(ours(Tensor(on_device(x)), Tensor(on_device(t))).data),
                               theirs(torch.tensor(x), torch.tensor(t)).numpy(), rtol=1e-6)


def test_embedding_layer_is_torchs(torch):
    """nn.Embedding: PyTorch's parameter, N(0, 1) rows with the padding row zeros and given no gradient, its repr
    and its errors; _weight starts it and _freeze keeps it from training."""
    ours, theirs = nn.Embedding(10, 3, padding_idx=-1), torch.nn.Embedding(10, 3, padding_idx=-1)
    assert repr(ours) == repr(theirs) == "Embedding(10, 3, padding_idx=9)"
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert (host(ours.weight.data[9]) == 0).all() and ours.weight.dtype == np.float32
    assert 0.5 < host(ours.weight.data[:9]).std() < 1.5
    indices = np.array([[0, 9, 2], [2, 2, 5]], "int64")
    out = ours(Tensor(on_device(indices)))
    assert out.shape == (2, 3, 3)
    out.sum().backward()
    counts = np.bincount(indices.ravel(), minlength=10).astype("float32")
    counts[9] = 0
    np.testing.assert_array_equal(host(ours.weight.grad.data), np.repeat(counts[:, None], 3, axis=1))
    frozen = nn.Embedding(4, 2, _weight=Tensor(on_device(np.arange(8, dtype="float32").reshape(4, 2))), _freeze=True)
    assert not frozen.weight.requires_grad and host(frozen(Tensor(on_device(np.array([3])))).data).tolist() == [[6, 7]]
    for bad in (lambda m: m.Embedding(4, 2, padding_idx=4), lambda m: m.Embedding(4, 2, padding_idx=-5)):
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            bad(torch.nn)
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            bad(nn)
    with pytest.raises(AssertionError, match="Shape of weight"):
        nn.Embedding(4, 2, _weight=Tensor(np.zeros((2, 4), "float32")))


def test_adaptive_max_pool_layer_is_torchs(torch):
    ours, theirs = nn.AdaptiveMaxPool2d((2, 3), return_indices=True), torch.nn.AdaptiveMaxPool2d((2, 3), True)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype("float32")
    (values, indices), (expected, expected_indices) = ours(Tensor(on_device(x))), theirs(torch.tensor(x))
    np.testing.assert_array_equal(host(values.data), expected.numpy())
    np.testing.assert_array_equal(host(indices.data), expected_indices.numpy())


SAMPLE_NORMS = [("layer_norm", (5,)), ("layer_norm", (3, 5)), ("group_norm", 2), ("group_norm", 4), ("group_norm", 1)]


@pytest.mark.parametrize("name, setting", SAMPLE_NORMS)
def test_layer_and_group_norm_gradcheck(name, setting):
    rng = np.random.default_rng(0)
    shape = (4,) if name == "group_norm" else setting  # per channel, or of the normalised shape
    x = Tensor(on_device(rng.standard_normal((2, 4, 3, 5))), requires_grad=True)
    weight = Tensor(on_device(rng.standard_normal(shape)), requires_grad=True)
    bias = Tensor(on_device(rng.standard_normal(shape)), requires_grad=True)
    assert gradcheck(lambda *args: getattr(F, name)(args[0], setting, *args[1:]), [x, weight, bias])
    assert gradcheck(lambda x: getattr(F, name)(x, setting), [x])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("name, setting", SAMPLE_NORMS)
def test_layer_and_group_norm_are_torchs(torch, name, setting, dtype):
    """Values (float16 normalised in float32 and rounded once) and gradients of x, weight and bias, as PyTorch's,
    on channels-last memory too."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 4, 3, 5)) * 3 + 1).astype(dtype)
    shape = (4,) if name == "group_norm" else setting
    weight, bias = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    ours = [Tensor(on_device(F.channels_last(x) if name == "group_norm" else x), requires_grad=True),
            Tensor(on_device(weight), requires_grad=True), Tensor(on_device(bias), requires_grad=True)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    out, expected = getattr(F, name)(ours[0], setting, *ours[1:]), getattr(torch.nn.functional, name)(
        theirs[0], setting, *theirs[1:])
    assert out.dtype == dtype
    tolerance = {"float64": 1e-12, "float32": 2e-5, "float16": 2e-3}[dtype]
    np.testing.assert_allclose(host(out.data).astype("float64"), expected.detach().double().numpy(),
                               rtol=tolerance, atol=tolerance)
    out.backward(Tensor(on_device(g)))
    expected.backward(torch.tensor(g))
    for mine, other in zip(ours, theirs):
        scale = max(1.0, float(abs(other.grad.double()).max()))
        np.testing.assert_allclose(host(mine.grad.data).astype("float64"), other.grad.double().numpy(),
                                   rtol=tolerance * 10, atol=tolerance * 10 * scale)


def test_layer_and_group_norm_refuse_as_torch(torch):
    x = Tensor(np.zeros((2, 4, 3), "float32"))
    for call in (lambda f, x: f.layer_norm(x, [4]), lambda f, x: f.layer_norm(x, []),
                 lambda f, x: f.group_norm(x, 3), lambda f, x: f.layer_norm(x, [3], x.new_ones(4) if f is F else
                                                                            torch.ones(4))):
        with pytest.raises(RuntimeError) as theirs:
            call(torch.nn.functional, torch.zeros(2, 4, 3))
        with pytest.raises(RuntimeError) as ours:
            call(F, x)
        assert str(theirs.value).split(",")[0] in str(ours.value)
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(x, 3.0)
    empty = F.group_norm(Tensor(np.zeros((0, 4, 2), "float32")), 2)  # an empty batch: an empty output, as PyTorch
    assert empty.shape == tuple(torch.nn.functional.group_norm(torch.zeros(0, 4, 2), 2).shape) == (0, 4, 2)
    with pytest.raises(TypeError):
        F.layer_norm(Tensor(np.zeros((2, 3), "int64")), [3])


def test_layer_and_group_norm_layers_are_torchs(torch):
    pairs = [(nn.LayerNorm(4), torch.nn.LayerNorm(4)), (nn.LayerNorm([3, 4], bias=False), torch.nn.LayerNorm([3, 4], bias=False)),
             (nn.LayerNorm(4, elementwise_affine=False), torch.nn.LayerNorm(4, elementwise_affine=False)),
             (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)), (nn.GroupNorm(1, 4, affine=False), torch.nn.GroupNorm(1, 4, affine=False))]
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 4)).astype("float32")
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        np.testing.assert_allclose(host(ours(Tensor(on_device(x))).data), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
        nn.GroupNorm(3, 4)
