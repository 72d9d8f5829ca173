"""The GPU path end to end on the strict CuPy stand-in (tests/strict_xp.py).

A ResNet-50-shaped network, the recurrent network with every skip type, both optimisers, the
training loop (interrupted and resumed), evaluation and prediction all run with 'gpu' as the
default device: any host round trip the package does not ask for explicitly, and any NumPy call
on device data, fails as a StrictError. Where the CPU is the reference, the same computation runs
on both; the stand-in computes with NumPy, so they agree to float rounding.

What these tests cannot show without a GPU: speed, CuPy's own kernels, and streams that really
overlap (here every copy has finished when it is issued). benchmarks/gpu_check.sh does that on a GPU.
"""
import collections
import json
import os
import shutil
import subprocess
import sys

import numpy
import pytest

import strict_xp
import tinyrrn
from devices import host
from test_train import final_weights, tiny_config
from tinyrrn import Tensor, backend, evaluate as evaluation, predict as prediction, signals, threads
from tinyrrn import functional as F
from tinyrrn import train as training
from tinyrrn.data import UCF101, ChunkLoader
from tinyrrn.models import RecurrentResNet
from tinyrrn.models.resnet import Bottleneck, ResNet
from tinyrrn.models.rrn import SKIP_TYPES
from tinyrrn.optim import SGD, Adam

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def same_model_on(device, make, dtype="float32"):
    """The model ``make()`` builds from seed 0, on ``device`` (so the CPU and the stand-in start equal),
    its parameters and float buffers in ``dtype``."""
    tinyrrn.manual_seed(0)
    return make().to(device, dtype)


def train_steps(model, optimizer, inputs, target, device, steps=2):
    """``steps`` updates of ``model`` on ``device`` (forward, cross-entropy, backward, step); the last
    loss and the state afterwards, on the host."""
    x, y = (backend.to_device(a, device) for a in (inputs, target))
    for _ in range(steps):
        loss = F.cross_entropy(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item(), {name: host(value) for name, value in model.state_dict().items()}


def assert_same_training(make, inputs, target, optimizer, options):
    """Training on the stand-in gives the losses and weights of training on the CPU: to rounding in
    float64; in float32 the loss to 1e-3 (the two devices add their sums in different orders, and
    Adam's step turns a rounding in a gradient near zero into a step of lr)."""
    for dtype, loss_tolerance in (("float64", 1e-10), ("float32", 1e-3)):
        results = []
        for device in ("cpu", "gpu"):
            model = same_model_on(device, make, dtype)
            results.append(train_steps(model, optimizer(model.parameters(), **options), inputs.astype(dtype),
                                       target, device))
            assert all(isinstance(p.data, strict_xp.StrictArray) == (device == "gpu") and p.dtype == dtype
                       for p in model.parameters())
        (cpu_loss, cpu_state), (gpu_loss, gpu_state) = results
        assert gpu_loss == pytest.approx(cpu_loss, rel=loss_tolerance), dtype
        for name in cpu_state if dtype == "float64" else ():
            numpy.testing.assert_allclose(gpu_state[name], cpu_state[name], rtol=1e-8, atol=1e-8, err_msg=name)


OPTIMIZERS = [(Adam, {"lr": 1e-2, "weight_decay": 1e-4}), (SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4})]


@pytest.mark.parametrize("optimizer, options", OPTIMIZERS, ids=["adam", "sgd"])
def test_a_bottleneck_resnet_trains_on_the_stand_in_as_on_the_cpu(strict_gpu, rng, optimizer, options):
    """ResNet-50's layout (7x7 stem, max-pool, Bottleneck units, projection shortcuts), narrow."""
    def make():
        return ResNet(Bottleneck, (2, 1, 1, 1), num_classes=3, widths=(4, 4, 8, 8))
    inputs = rng.standard_normal((2, 3, 32, 32)).astype("float32")
    assert_same_training(make, inputs, numpy.array([0, 2]), optimizer, options)


@pytest.mark.parametrize("skip, average_logits", [("none", False), ("identity", True), ("linear", False),
                                                  ("nonlinear", True)])
def test_the_recurrent_resnet_trains_on_the_stand_in_as_on_the_cpu(strict_gpu, rng, skip, average_logits):
    assert set(SKIP_TYPES) == {"none", "identity", "linear", "nonlinear"}  # every skip type is here

    def make():
        backbone = ResNet(Bottleneck, (1, 1, 1, 2), num_classes=3, widths=(2, 2, 3, 4), small_stem=True)
        return RecurrentResNet(backbone, skip, context=3, average_logits=average_logits)
    clips = rng.standard_normal((2, 3, 3, 16, 16)).astype("float32")
    assert_same_training(make, clips, numpy.array([1, 2]), *OPTIMIZERS[0])


def test_a_resnet_step_with_the_stems_max_pool_reads_back_its_loss_and_nothing_else(strict_gpu, rng):
    """No op waits for the device: ResNet-50's layout (7x7 stem, max-pool, Bottleneck units, projections)
    and Adam read back only the loss (max-pool's backward looked for NaN and -inf windows on the device)."""
    model = same_model_on("gpu", lambda: ResNet(Bottleneck, (1, 1, 1, 1), num_classes=3, widths=(2, 2, 2, 2)))
    optimizer = Adam(model.parameters(), lr=0.1)
    x = Tensor(strict_xp.asarray(rng.standard_normal((2, 3, 32, 32)).astype("float32")))
    target = strict_xp.asarray(numpy.array([0, 2]))
    with strict_xp.recording() as log:
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        assert log == []
        loss.item()
    assert [t.kind for t in log] == [strict_xp.TO_HOST], log


@pytest.mark.parametrize("optimizer, options", OPTIMIZERS, ids=["adam", "sgd"])
def test_the_element_wise_chains_are_each_compiled_once_by_fuse(strict_gpu, optimizer, options):
    """On a GPU each chain is one cupy.fuse kernel, compiled at its first call and then reused."""
    threads.fused.cache_clear()
    strict_xp.fused.clear()
    model = same_model_on("gpu", lambda: ResNet(Bottleneck, (1, 1, 1, 1), num_classes=3, widths=(2, 2, 2, 2)))
    train_steps(model, optimizer(model.parameters(), **options), numpy.ones((2, 3, 16, 16), "float32"),
                numpy.array([1, 0]), "gpu", steps=2)
    names = [f.__name__ for f in strict_xp.fused]
    update = "adam_update_with_decay" if optimizer is Adam else "sgd_momentum_update_with_decay"  # OPTIMIZERS decay
    assert {"normalise", "normalise_relu", "normalise_add_relu", "_input_gradient", update} <= set(names)
    assert len(names) == len(set(names)), names  # each once


def test_optimiser_state_moves_between_the_host_and_the_device(strict_gpu):
    model = same_model_on("gpu", lambda: ResNet(Bottleneck, (1, 1, 1, 1), num_classes=3, widths=(2, 2, 2, 2)))
    adam = Adam(model.parameters(), lr=0.1)
    train_steps(model, adam, numpy.ones((2, 3, 16, 16), "float32"), numpy.array([1, 0]), "gpu", steps=1)
    saved = {**adam.state_dict(), "buffers": {i: {k: host(v) for k, v in b.items()}
                                              for i, b in adam.state_dict()["buffers"].items()}}
    again = Adam(model.parameters(), lr=0.1)
    again.load_state_dict(saved)  # host arrays (as a checkpoint holds them) onto the device
    buffers = [b.data for s in again.state.values() for name, b in s.items() if name != "step"]
    assert buffers and all(isinstance(b, strict_xp.StrictArray) for b in buffers)


# -- what an op waits for -------------------------------------------------------------------------
WAITLESS_OPS = {  # each a function of make(shape) (a float32 leaf) -> the op's output
    "adaptive_avg_pool2d to 2x3": lambda make: F.adaptive_avg_pool2d(make((2, 3, 6, 7)), (2, 3)),
    "adaptive_avg_pool2d to 1x1": lambda make: F.adaptive_avg_pool2d(make((2, 3, 5, 5)), 1),
    "avg_pool2d": lambda make: F.avg_pool2d(make((2, 3, 6, 6)), 2),
    "max_pool2d": lambda make: F.max_pool2d(make((2, 3, 7, 7)), 3, 2, 1),
    "conv2d": lambda make: F.conv2d(make((2, 3, 6, 6)), make((4, 3, 3, 3)), make((4,)), padding=1),
    "grouped conv2d": lambda make: F.conv2d(make((2, 4, 6, 6)), make((4, 2, 3, 3)), stride=2, groups=2),
    "conv_transpose2d": lambda make: F.conv_transpose2d(make((2, 3, 4, 4)), make((3, 2, 3, 3)), stride=2),
    "batch_norm": lambda make: F.batch_norm(make((2, 3, 4, 4)), None, None, make((3,)), make((3,)), True),
    "cross_entropy": lambda make: F.cross_entropy(make((4, 5)), Tensor([0, 1, 4, -100]).to(make.device),
                                                  weight=make((5,)).detach().abs(), label_smoothing=0.1),
    "log_softmax": lambda make: F.log_softmax(make((4, 5)), 1),
    "std": lambda make: F.std(make((4, 5)), 1),
    "max along a dim": lambda make: F.max(make((4, 5)), 1).values,
    "cumsum": lambda make: F.cumsum(make((4, 5)), 1),
    "pow of tensors": lambda make: F.pow(make((4, 5)).abs(), make((4, 5))),
    "clamp between tensors": lambda make: F.clamp(make((4, 5)), make((4, 5)), make((4, 5))),
    "floor division": lambda make: F.div(make((4, 5)), make((4, 5)), rounding_mode="floor"),
    "masked_fill": lambda make: F.masked_fill(make((4, 5)), make((4, 5)).detach() > 0, 2.0),
}


@pytest.mark.parametrize("op", WAITLESS_OPS)
def test_an_op_and_its_gradient_on_the_gpu_wait_for_nothing_and_are_the_cpus(strict_gpu, op):
    """No host round trip in an op's forward or backward pass (adaptive_avg_pool2d to other sizes than 1x1 looked
    for inf and NaN on the device, twice); the values and gradients are the CPU's."""
    results = {}
    for device in ("cpu", "gpu"):
        rng, leaves = numpy.random.default_rng(0), []

        def make(shape):
            leaves.append(Tensor(rng.standard_normal(shape).astype("float32"), device=device, requires_grad=True))
            return leaves[-1]
        make.device = device
        with strict_xp.recording() as log:
            out = WAITLESS_OPS[op](make)
            out.sum().backward()
        assert device == "cpu" or not waits(log), waits(log)
        results[device] = [host(out)] + [host(leaf.grad) for leaf in leaves if leaf.grad is not None]
    for cpu, gpu in zip(results["cpu"], results["gpu"], strict=True):
        numpy.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-5)


def test_adaptive_avg_pool2d_on_the_gpu_keeps_inf_and_nan_in_their_bins(strict_gpu):
    values = numpy.arange(2 * 6 * 7, dtype="float32").reshape(1, 2, 6, 7)
    values[0, 0, 1, 1], values[0, 1, 4, 5], values[0, 1, 0, 0] = numpy.inf, numpy.nan, -numpy.inf
    cpu, gpu = (F.adaptive_avg_pool2d(Tensor(values, device=device), (2, 3)) for device in ("cpu", "gpu"))
    numpy.testing.assert_array_equal(host(gpu), host(cpu))
    assert numpy.isinf(host(cpu)).sum() == 2 and numpy.isnan(host(cpu)).sum() == 1


def test_fill_with_a_0d_tensor_reads_it_back_only_from_another_device(strict_gpu):
    """As PyTorch's fill_ (a copy_ from a tensor on x's device): a GPU value was read back to the host first."""
    x, value, on_host = (Tensor(numpy.zeros((2, 3), "float32"), device="gpu"), Tensor(numpy.array(1e40), device="gpu"),
                         Tensor(numpy.array(2.5)))
    with strict_xp.recording() as log:
        x.fill_(value)  # float64 into float32: inf, as x.to(dtype)
    assert log == [] and numpy.isposinf(host(x)).all()
    with strict_xp.recording() as log:
        x.fill_(on_host)  # from the host: copied, not waited for
    assert [t.kind for t in log] == [strict_xp.TO_DEVICE] and (host(x) == 2.5).all()
    on_host = Tensor(numpy.zeros(2, "uint8")).expand(2, 2)
    on_host.fill_(Tensor(numpy.array(300), device="gpu"))  # to the host (PyTorch's item()), wrapped as there
    assert host(on_host).tolist() == [[44, 44], [44, 44]]


def test_init_constant_fills_on_the_device_as_fill(strict_gpu):
    """nn.init.constant_ (zeros_, ones_) read a 0-d GPU tensor's value back to the host and copied a host array of the
    tensor's size over: it is x.fill_(val) under no_grad, as PyTorch's."""
    weight, value = Tensor(numpy.ones((3, 4), "float32"), device="gpu", requires_grad=True), Tensor(2.5, device="gpu")
    with strict_xp.recording() as log:
        tinyrrn.nn.init.constant_(weight, value)
        tinyrrn.nn.init.zeros_(weight[1])
    assert log == [] and weight.requires_grad and weight.version == 2
    assert host(weight).tolist() == [[2.5] * 4, [0.0] * 4, [2.5] * 4]


EVERY_STEP = [(Adam, {}), (Adam, {"weight_decay": 0.1}), (Adam, {"amsgrad": True}),
              (Adam, {"amsgrad": True, "weight_decay": 0.1}), (tinyrrn.optim.AdamW, {"weight_decay": 0.1}),
              (tinyrrn.optim.AdamW, {"amsgrad": True}), (SGD, {}), (SGD, {"weight_decay": 0.1}),
              (SGD, {"momentum": 0.9}), (SGD, {"momentum": 0.9, "weight_decay": 0.1}),
              (SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
              (SGD, {"momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1})]


@pytest.mark.parametrize("optimizer, options", EVERY_STEP)
def test_every_optimiser_step_is_a_kernel_cupy_can_fuse_and_steps_as_on_the_cpu(strict_gpu, optimizer, options):
    """The kernels' numbers as cupy.fuse takes them (strict_xp._FusedNumber): SGD's kernels and Adam's with amsgrad
    branched on weight_decay (CuPy's TypeError at every step on a GPU), Adam's computed 1 - beta1 in the kernel (a
    float64 there: its float32 steps were not the CPU's)."""
    values = numpy.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    results = {}
    for device in ("cpu", "gpu"):
        p = Tensor(values, device=device, requires_grad=True)
        step = optimizer([p], lr=0.1, **options)
        for _ in range(2):
            p.grad = Tensor(values * 0.5, device=device)
            step.step()
        results[device] = host(p)
    numpy.testing.assert_allclose(results["gpu"], results["cpu"], rtol=1e-6)


# -- where CuPy's kernels answer otherwise than NumPy's --------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_argmax_argmin_and_max_along_a_dim_give_the_first_of_several_nans(strict_gpu, torch, device):
    """As PyTorch's: a NaN is the extreme, and of several the first is its index (CuPy's kernels return any one of
    them, NumPy's the first; the stand-in refuses such an argmax)."""
    values = numpy.array([[1.0, numpy.nan, 3.0, numpy.nan, numpy.inf], [numpy.nan, 2.0, numpy.nan, -numpy.inf, 0.0],
                          [numpy.nan, numpy.nan, 5.0, 7.0, -1.0]], "float32")
    x, t = Tensor(values, device=device), torch.from_numpy(values)
    for ours, theirs in ((x.argmax(), t.argmax()), (x.argmin(), t.argmin()), (x.argmax(1), t.argmax(1)),
                         (x.argmin(0, keepdim=True), t.argmin(0, keepdim=True)), (x.max(1).indices, t.max(1).indices),
                         (x.min(0).indices, t.min(0).indices), (x.half().argmax(0), t.half().argmax(0))):
        assert host(ours).tolist() == theirs.tolist() and ours.dtype == "int64" and ours.device == device
    assert numpy.isnan(host(x.max(1).values)).tolist() == t.max(1).values.isnan().tolist()


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_a_float16_softmax_off_the_last_dim_of_a_permuted_tensor_is_pytorchs(strict_gpu, torch, device):
    """PyTorch's float16 kernel rounds some exponentials to float16 before the division: they were rounded in a
    reshape of the exponentials, which is a copy (the rounding lost) when the input's layout is not C's."""
    values = (numpy.random.default_rng(0).standard_normal((5, 3, 4)) * 3).astype("float16")
    x, t = Tensor(values, device=device).permute(2, 1, 0), torch.from_numpy(values).permute(2, 1, 0)
    for dim in (0, 1):
        assert host(F.softmax(x, dim=dim)).tolist() == torch.softmax(t, dim).tolist(), dim


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_backward_refuses_to_add_into_an_expanded_grad(strict_gpu, torch, device):
    """As PyTorch: a .grad whose elements share memory (an expand()) is not added to in place; NumPy added each
    element's gradient into the one shared value in turn, and CuPy's threads race there."""
    t = torch.zeros(3, requires_grad=True)
    t.grad = torch.ones(1).expand(3)
    x = Tensor(numpy.zeros(3, "float32"), requires_grad=True, device=device)
    x.grad = Tensor(numpy.ones(1, "float32"), device=device).expand(3)
    for loss in ((t * torch.arange(1.0, 4.0)).sum(), (x * Tensor([1.0, 2.0, 3.0], device=device)).sum()):
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            loss.backward()


# -- the whole run ------------------------------------------------------------------------------
def test_a_run_on_the_gpu_is_interrupted_resumed_evaluated_and_predicts_as_on_the_cpu(
        on_strict_gpu, tiny_data, tmp_path, monkeypatch, sigint_at_batch, capsys):
    """python -m tinyrrn.train's code path on 'gpu': Ctrl-C mid-accumulation, --resume, then the
    same final weights as an uninterrupted run (and as the CPU's); evaluate and predict agree."""
    # SGD, whose steps follow the gradients: Adam moves every weight by about lr an update whatever its
    # gradient, so that two Adam runs apart only by float32 rounding part by up to 2 lr an update wherever
    # a gradient is near zero (its steps on the GPU are checked in float64 above)
    config = tiny_config(tiny_data, tmp_path, "--device", "gpu", "--epochs", "1", "--optimizer", "sgd")
    metrics, straight = training.train(config, str(tmp_path / "straight"))

    disarm = sigint_at_batch(5)  # mid-accumulation: updates come every 2 batches
    stopped = str(tmp_path / "stopped")
    with pytest.raises(signals.Interrupted) as stop:
        training.train(config, stopped)
    assert stop.value.exit_code == 130
    saved = final_weights(stopped)[1]  # device weights and (on the host) half-accumulated gradients
    assert saved["loader"]["position"] == 5 and saved["observed"] == 4
    disarm()
    resumed_metrics, _ = training.train(config, stopped, resume=True)

    (a, meta_a), (b, meta_b) = final_weights(straight), final_weights(stopped)
    assert meta_a["updates"] == meta_b["updates"] and meta_b["epoch"] == 1
    for key in a:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert resumed_metrics["video_error"] == metrics["video_error"]

    monkeypatch.setattr(backend, "_default_device", "cpu")
    cpu_metrics, on_cpu = training.train(config, str(tmp_path / "cpu"))
    for key, value in final_weights(on_cpu)[0].items():  # the CPU adds its products' blocks and batch norm's
        # sums in other orders (conv.window_product, norm.side_by_side): float32 rounding (measured: at most
        # 1.2e-6, on running variances of up to 4)
        numpy.testing.assert_allclose(a[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
    assert cpu_metrics["video_error"] == metrics["video_error"]

    capsys.readouterr()
    assert evaluation.main([straight, "--workers", "0", "--device", "gpu", "--out", str(tmp_path / "eval")]) == 0
    assert "video error" in capsys.readouterr().out
    with open(tmp_path / "eval" / "metrics.json") as f:
        assert json.load(f)["confusion"] == metrics["confusion"]  # best.npz, evaluated again

    video = os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi")
    printed = {}
    for device in ("gpu", "cpu"):
        assert prediction.main([video, "--checkpoint", straight, "--device", device]) == 0
        printed[device] = capsys.readouterr().out
    assert printed["gpu"] == printed["cpu"] and printed["gpu"].count("\n") == 5  # header + 4 classes


# -- what the loop waits for --------------------------------------------------------------------
@pytest.fixture(scope="module")
def epoch_traffic(tiny_data, tmp_path_factory):
    """The host traffic of one training epoch on the stand-in (no evaluation, no checkpoint):
    (Transfer list, batches, updates)."""
    out = tmp_path_factory.mktemp("traffic")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "_load_cupy", lambda: strict_xp)
        patch.setattr(backend, "_default_device", "gpu")
        (out / "run").mkdir()
        trainer = training.Trainer(tiny_config(tiny_data, out, "--device", "gpu"), str(out / "run"))
        with strict_xp.recording() as log, trainer.signals:
            trainer.start_epoch()
            training.train_one_epoch(trainer.model, trainer.loader, trainer.optimizer, trainer.update_size, trainer)
        trainer.bar.close()
    return log, len(trainer.loader), trainer.updates


def waits(log):
    """Where the host waited for the device: every device-to-host read and every synchronisation."""
    return collections.Counter(t.where for t in log if t.kind in (strict_xp.TO_HOST, strict_xp.SYNCHRONIZE))


FUNCTIONAL = "tinyrrn/functional/"  # the ops: they wait for nothing (the test below)


def test_a_resumed_run_on_the_gpu_draws_the_dropout_masks_of_an_uninterrupted_one(
        on_strict_gpu, tiny_data, tmp_path, monkeypatch, sigint_at_batch):
    """CuPy's generator (dropout on a GPU) was not in a checkpoint's random state: a resumed run started it again from
    the seed, drew other masks than the uninterrupted run from there on, and ended with other weights."""
    original = training.F.cross_entropy
    monkeypatch.setattr(training.F, "cross_entropy", lambda logits, labels: original(F.dropout(logits, 0.5), labels))
    config = tiny_config(tiny_data, tmp_path, "--device", "gpu", "--epochs", "1", "--optimizer", "sgd")
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    training.train(config, straight)
    disarm = sigint_at_batch(5)
    with pytest.raises(signals.Interrupted):
        training.train(config, stopped)
    disarm()
    training.train(config, stopped, resume=True)
    (a, _), (b, _) = final_weights(straight), final_weights(stopped)
    for key in a:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_the_training_loop_waits_for_the_device_once_per_step_and_once_per_update(epoch_traffic):
    log, batches, updates = epoch_traffic
    loop = {where: n for where, n in waits(log).items() if not where.startswith(FUNCTIONAL)}
    # loss.item() in forward_backward (the loss of every step), check_weights' one read per update,
    # and nothing else: no hidden per-op host round trip in the loop, the optimiser or the loader
    assert sorted(loop.values()) == sorted([batches, updates]), loop
    assert all(where.startswith("tinyrrn/train.py:") for where in loop), loop
    copies = collections.Counter(t.where for t in log if t.kind == strict_xp.TO_DEVICE)
    assert sum(n for where, n in copies.items() if where.startswith("tinyrrn/data/loader.py")) == batches


def test_a_training_step_waits_for_the_device_about_once(epoch_traffic):
    log, batches, updates = epoch_traffic
    assert sum(waits(log).values()) <= batches + updates, waits(log)


# -- the loader -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def truncated(tiny_data, tmp_path_factory):
    """The tiny training set with one video that fails while decoding: (dataset, that video's path)."""
    root = tmp_path_factory.mktemp("truncated") / "data"
    shutil.copytree(tiny_data, root)
    video = root / "Grow" / "v_Grow_g03_c01.avi"
    video.write_bytes(video.read_bytes()[:video.stat().st_size // 3])
    return UCF101(str(root), chunk=2, sample_every=2, resize=24, crop=16, cache_dir=str(root / "cache")), str(video)


@pytest.mark.filterwarnings("ignore:skipping bad video")
@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_copies_each_batch_to_the_device_once(strict_gpu, truncated, workers):
    dataset, video = truncated
    on_cpu = list(ChunkLoader(dataset, batch_size=4, seed=1, workers=0))
    loader = ChunkLoader(dataset, batch_size=4, seed=1, workers=workers, device="gpu")
    with strict_xp.recording() as log:
        on_gpu = list(loader)
    assert len(on_gpu) == len(on_cpu) == len(loader) and loader.bad_videos == [video]
    lost = numpy.sum(dataset.chunk_video == dataset.paths.index(video))
    assert lost and sum(len(labels) for _, labels, _ in on_gpu) == len(dataset) - lost  # batches closed up
    assert [t.kind for t in log] == [strict_xp.TO_DEVICE] * len(on_gpu)  # one copy per batch, nothing else
    for (clips, labels, videos), (cpu_clips, cpu_labels, cpu_videos) in zip(on_gpu, on_cpu):
        assert isinstance(clips, strict_xp.StrictArray) and isinstance(labels, strict_xp.StrictArray)
        assert clips.strides == cpu_clips.strides  # the same channels-last layout
        numpy.testing.assert_array_equal(clips.get(), cpu_clips)
        numpy.testing.assert_array_equal(labels.get(), cpu_labels)
        numpy.testing.assert_array_equal(videos, cpu_videos)


def test_memory_figures_on_the_gpu(on_strict_gpu):
    megabyte = tinyrrn.Tensor(numpy.zeros(2**18, "float32")).to("gpu")
    assert training.memory_mb()["gpu_pool_mb"] >= 1.0 and megabyte.device == "gpu"


# -- the GPU benchmark without a GPU --------------------------------------------------------------
def real_gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver
        return False


@pytest.mark.skipif(real_gpu(), reason="a GPU is present: benchmarks/gpu_check.sh runs the GPU benchmark")
@pytest.mark.parametrize("script", ["resnet.py", "conv.py"])
@pytest.mark.parametrize("side", ["tinyrrn", "torch"])
def test_the_gpu_benchmarks_run_until_they_find_no_gpu(side, script, request):
    """--device gpu is honoured by both sides of both benchmarks (conv.py ran on the CPU in silence)."""
    if side == "torch":
        request.getfixturevalue("torch")  # skipped, saying what to install, without PyTorch
    env = {k: v for k, v in os.environ.items() if k != "TINYRRN_TEST_STANDIN"}  # the real CuPy, if any
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), "--device", "gpu",
                           "--runs", "1", "--repeats", "1", "--warmup", "0", "--batch", "1", "--size", "32",
                           "--quiet-wait", "0", "--sides", side], capture_output=True, text=True, timeout=300, env=env)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in out, out
    assert f"no GPU for {side}: " in out and f"the {side} worker failed" in out, out


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_the_profile_lists_each_ops_time_on_either_device(device):
    """benchmarks/profile_ops.py on the main job's model: the step, then its ops by time (on the stand-in
    for 'gpu', through tests/standin on PYTHONPATH)."""
    env = dict(os.environ, TINYRRN_TEST_STANDIN="1", PYTHONPATH=os.pathsep.join(
        [os.path.join(ROOT, "tests", "standin"), ROOT]))
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "profile_ops.py"), "--model", "main",
                           "--batch", "4", "--steps", "1", "--warmup", "1", "--device", device, "--threads", "1"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"main on the {device.upper()}, batch 4: step ")
    assert ("of which the host queues work for" in lines[0]) == (device == "gpu")
    ops = {line.split()[0]: int(line.split()[1]) for line in lines[3:]}
    assert ops["conv2d"] == 16 and ops["batch_norm"] + ops["batch_norm_relu"] + ops["batch_norm_add_relu"] == 16 and ops["cross_entropy"] == 1

