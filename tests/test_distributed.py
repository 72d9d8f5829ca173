"""Data-parallel training (tinyrrn.parallel): sharding, sync batch norm, and N ranks vs one process.

The multi-process tests launch ``mpiexec -n 2`` (one thread per rank, with a timeout) and are
skipped where mpi4py or mpiexec is missing (``pip install ".[oracle]"`` or ``"tinyrrn[dist]"``).
"""
import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor, builders, checkpoint, config as configuration, parallel
from tinyrrn import train as training
from tinyrrn import functional as F
from tinyrrn.data import ChunkLoader
from tinyrrn.evaluate import evaluate
from tinyrrn.gradcheck import gradcheck
from tinyrrn.nn import BatchNorm2d, Sequential


def run_ranks(mpiexec, args, ranks=2, timeout=150):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([mpiexec, "-n", str(ranks), sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def tiny_args(data, out, *extra):
    return ["--data", data, "--out", str(out), "--cache-dir", str(out / "cache"), "--arch", "resnet_small",
            "--resize", "24", "--crop", "16", "--batch", "4", "--update-every", "8", "--epochs", "1",
            "--workers", "0", "--no-baseline", "--log-every", "1", "--no-flip", "--optimizer", "sgd",
            "--lr", "0.01", "--val-groups", "0", *extra]  # the data the 1e-4 tolerance below was measured on: with
    # --val-groups 1, float32 rounding in sync-BN grows to a 3.5% difference in conv1 after 4 updates


# -- without MPI -------------------------------------------------------------
class FakeChunks:
    """13 chunks of 5 videos; a chunk's clip holds its index."""

    def __init__(self, n=13):
        self.chunk_video = numpy.arange(n) % 5
        self.paths = [f"v{i}.avi" for i in range(5)]
        self.classes, self.bad_videos, self.clip_shape = ["a", "b"], [], (1, 3, 2, 2)

    def __len__(self):
        return len(self.chunk_video)

    def get(self, i, rng):
        return numpy.full((1, 3, 2, 2), i + rng.random() / 10, "float32"), i % 2, int(self.chunk_video[i])


def chunk_ids(batch):
    return [int(c) for c in batch[0][:, 0, 0, 0, 0]]


def test_shards_split_the_one_process_batches_and_cover_every_chunk_once():
    data = FakeChunks()
    single = ChunkLoader(data, batch_size=4, seed=3, workers=0)
    for ranks in (2, 3):
        for epoch in (0, 1):
            single.set_epoch(epoch)
            one = [chunk_ids(b) for b in single]
            shards = []
            for rank in range(ranks):
                loader = ChunkLoader(data, batch_size=4, rank=rank, world=ranks, seed=3, workers=rank % 2)
                loader.set_epoch(epoch)
                shards.append([chunk_ids(b) for b in loader])
            assert all(len(s) == len(one) == 4 for s in shards)  # every rank steps through every global batch
            for b, batch in enumerate(one):
                assert sorted(sum((s[b] for s in shards), [])) == sorted(batch)
            seen = sorted(c for s in shards for part in s for c in part)
            assert seen == list(range(len(data)))  # each chunk exactly once per epoch
    # the augmentation of a chunk does not depend on the rank that loads it
    clips_single = next(iter(ChunkLoader(data, batch_size=4, seed=3, workers=0)))[0]
    clip_rank1 = next(iter(ChunkLoader(data, batch_size=4, rank=1, world=2, seed=3, workers=0)))[0]
    numpy.testing.assert_array_equal(clip_rank1, clips_single[1::2])


def test_sharded_loader_resumes_mid_epoch_with_a_rank_independent_state():
    data = FakeChunks()
    loader = ChunkLoader(data, batch_size=4, rank=1, world=2, seed=3, workers=0)
    it = iter(loader)
    first = [chunk_ids(next(it)) for _ in range(2)]
    state = loader.state_dict()
    assert state["position"] == 2 and state["batch_size"] == 4  # global batches, as one process counts them
    rest = [chunk_ids(b) for b in it]
    again = ChunkLoader(data, batch_size=4, rank=1, world=2, seed=3, workers=0)
    again.load_state_dict(state)
    assert [chunk_ids(b) for b in again] == rest and len(first + rest) == 4


def test_sync_batch_norm_gradcheck_and_equals_batch_norm_on_one_process(rng):
    x = Tensor(rng.standard_normal((3, 4, 3, 2)) * 2 + 1, requires_grad=True)
    w = Tensor(rng.standard_normal(4), requires_grad=True)
    b = Tensor(rng.standard_normal(4), requires_grad=True)
    one = parallel.Communicator()
    sync = parallel.SyncBatchNorm(4, comm=one)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, True, reduce=sync.reduce), [x, w, b])
    # float32, channels-last memory: exactly F.batch_norm, running statistics included
    data = rng.standard_normal((4, 3, 5, 6)).astype("float32").transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
    g = rng.standard_normal(data.shape).astype("float32")
    results = []
    for layer in (BatchNorm2d(3), parallel.SyncBatchNorm(3, comm=one)):
        layer.weight.data[:] = on_device([1.5, 0.5, 2.0])
        xt = Tensor(on_device(data), requires_grad=True)
        layer(xt).backward(on_device(g))
        results.append([xt.grad, layer.weight.grad, layer.bias.grad, layer.running_mean, layer.running_var])
    for a, b in zip(*results):
        numpy.testing.assert_array_equal(host(a), host(b))


class _TwoEqualRanks(parallel.MPICommunicator):
    """MPICommunicator's gradient code without MPI: a second rank holding the same gradients (a sum doubles)."""

    def __init__(self):
        parallel.Communicator.__init__(self)

    def allreduce_sum(self, array):
        array *= 2
        return array


def test_summed_and_averaged_gradients_stay_each_parameters_gradient_tensor():
    """.grad is a Tensor (PyTorch's) through the ranks' sum, the mean over chunks and a checkpoint's state: the sum
    is taken by the gradient Tensor a reference is held to, a parameter no rank has a gradient for keeps None,
    and a loaded state (host arrays, as checkpoints hold them) gives Tensors on the parameters' device."""
    from tinyrrn.optim import SGD
    with_grad, without = (Tensor(on_device(numpy.ones(3, "float32")), requires_grad=True) for _ in range(2))
    (with_grad * 3).sum().backward()
    held = with_grad.grad
    comm = _TwoEqualRanks()
    comm.sum_gradients([with_grad, without])
    assert with_grad.grad is held and without.grad is None and host(held).tolist() == [6.0] * 3
    optimizer = parallel.DistributedOptimizer(SGD([with_grad, without], lr=0.5), parallel.Communicator())
    optimizer.observe(2, 1.0)
    state = optimizer.state_dict()
    assert type(state["gradients"][0][0]) is numpy.ndarray and list(state["gradients"][0]) == [0]
    optimizer.step()  # the mean over the 2 chunks: 3
    assert with_grad.grad is None and host(with_grad).tolist() == [-0.5] * 3 and host(held).tolist() == [3.0] * 3
    optimizer.load_state_dict(state)
    assert type(with_grad.grad) is Tensor and with_grad.grad.device == with_grad.device and without.grad is None
    assert host(with_grad.grad).tolist() == state["gradients"][0][0].tolist()


def test_convert_swaps_every_batch_norm_and_keeps_parameters():
    model = builders.build_model(configuration.fill_defaults({**configuration.DEFAULTS, "weights": None}), 4)
    before = model.state_dict()
    params = list(model.parameters())
    parallel.SyncBatchNorm.convert(model, parallel.Communicator())
    kinds = {type(m) for m in model.modules() if isinstance(m, BatchNorm2d)}
    assert kinds == {parallel.SyncBatchNorm}
    assert list(model.state_dict()) == list(before) and all(a is b for a, b in zip(model.parameters(), params))


def test_convert_keeps_each_batch_norms_settings():
    """affine=False (no weight) failed, and track_running_stats=False came back tracking statistics."""
    model = Sequential(BatchNorm2d(3, affine=False), BatchNorm2d(3, momentum=None, track_running_stats=False))
    parallel.SyncBatchNorm.convert(model, parallel.Communicator())
    plain, untracked = model
    assert (plain.affine, plain.weight, plain.track_running_stats) == (False, None, True)
    assert (untracked.affine, untracked.momentum, untracked.track_running_stats) == (True, None, False)
    assert untracked.running_mean is None and list(untracked.state_dict()) == ["weight", "bias"]


def test_a_distributed_launch_without_mpi4py_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import fails
    monkeypatch.setenv("PMI_SIZE", "2")
    assert parallel.launched_size() == 2
    with pytest.raises(parallel.DistributedError, match=r"2 MPI ranks.*pip install \"tinyrrn\[dist\]\""):
        parallel.init()
    monkeypatch.delenv("PMI_SIZE")
    assert parallel.launched_size({"PMI_SIZE": "\u00b2"}) == 1  # '²'.isdigit(), but no count (int('²') failed)
    assert isinstance(parallel.init(), parallel.Communicator)  # a plain run needs no MPI
    assert training.main(["--distributed", "--epochs", "0"]) == 2  # the error, not a traceback


class RankOfTwo(parallel.Communicator):
    """Rank 1 of 2, whose abort is recorded (it would end the process)."""
    rank, size = 1, 2

    def __init__(self):
        super().__init__()
        self.aborted = []

    def abort(self, code=1):
        self.aborted.append(code)


def test_a_ctrl_c_on_one_rank_outside_training_is_said_as_such(capsys):
    """It was 'rank 1 failed: KeyboardInterrupt: ; stopping all 2 ranks' and exit status 1."""
    comm = RankOfTwo()
    with parallel.failure_guard(comm, show_traceback=False):
        raise KeyboardInterrupt
    assert comm.aborted == [130]
    assert capsys.readouterr().err == "\ninterrupted (Ctrl-C) on rank 1; stopping all 2 ranks\n"


# -- with MPI (mpiexec -n 2) ----------------------------------------------------
def weights(run_dir):
    arrays, meta = checkpoint.load(os.path.join(run_dir, "checkpoint.npz"))
    return checkpoint.prefixed(arrays, "model"), meta


@pytest.mark.parametrize("bn", ["--sync-bn", "--freeze-bn"])
def test_two_ranks_follow_one_rank_with_the_same_global_batch(mpiexec, tiny_data, tmp_path, bn):
    """2 ranks x 2 chunks == 1 rank x 4 chunks: weights after 4 updates, and the evaluation."""
    mpi_out = tmp_path / "mpi"
    done = run_ranks(mpiexec, ["-m", "tinyrrn.train", *tiny_args(tiny_data, mpi_out, "--max-steps", "4", "--name", "two", bn)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("video-level error on the test split") == 1  # printed by rank 0 only
    runs = glob.glob(str(mpi_out / "*-two"))
    assert len(runs) == 1  # one run directory, made by rank 0
    two = runs[0]
    config = configuration.resolve(tiny_args(tiny_data, tmp_path / "one", "--max-steps", "4", bn))[0]
    one = training.train(config, str(tmp_path / "one"))[1]

    a, meta_a = weights(one)
    b, meta_b = weights(two)
    assert meta_a["updates"] == meta_b["updates"] == 4 and meta_a["loader"] == meta_b["loader"]
    for key in a:  # float32: the ranks' products sum in other groupings; batch norm of 2-4 chunks amplifies
        # that (the exact check is float64: test_sync_batch_norm_and_sharded_evaluation_on_two_ranks)
        numpy.testing.assert_allclose(b[key], a[key], rtol=1e-3, atol=1e-4, err_msg=key)
    steps = [json.loads(line) for line in open(os.path.join(two, "metrics.jsonl")) if '"step"' in line]
    assert [s["update"] for s in steps] == [1, 2, 3, 4] and steps[0]["ranks"] == 2 and 0 <= steps[0]["comm_share"] <= 1
    # the final evaluation, sharded by video over the 2 ranks, equals one process's on the same weights
    sharded = json.load(open(os.path.join(two, "eval", "metrics.json")))
    model, _ = builders.model_from_checkpoint(two)
    single = evaluate(model, builders.build_dataset(config, train=False), 4, 0)
    for key in ("video_error", "top1", "top5", "mean_class_accuracy", "clip_accuracy", "videos", "chunks", "confusion"):
        assert sharded[key] == single[key], key


HELPER = textwrap.dedent('''
    import contextlib, os, signal, sys
    import numpy
    from tinyrrn import Tensor, builders, checkpoint, config as configuration, parallel, signals, train as training
    from tinyrrn import functional as F
    from tinyrrn.evaluate import evaluate, chunk_probabilities
    from tinyrrn.nn import BatchNorm2d

    mode, data, out, flags = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    comm = parallel.init()
    assert comm.size == 2, comm.size
    with parallel.failure_guard(comm):
        if mode == "fail":
            if comm.rank == 1:
                raise RuntimeError("disk on fire")
            comm.barrier()  # rank 0 would wait here forever without the abort
            print("NOT STOPPED", flush=True)
        elif mode == "checks":
            # sync batch norm over 2 ranks == batch norm of the concatenated batch (float64)
            rng = numpy.random.default_rng(0)
            x = rng.standard_normal((6, 3, 4, 5)) * 2 + 1
            g = rng.standard_normal(x.shape)
            ref = BatchNorm2d(3)
            ref.running_mean, ref.running_var = ref.running_mean.double(), ref.running_var.double()
            ref.weight.data, ref.bias.data = numpy.array([1.5, .5, 2.]), numpy.array([.1, -.2, .3])
            xt = Tensor(x.copy(), requires_grad=True)
            y = ref(xt)
            y.backward(g)
            sync = parallel.SyncBatchNorm(3, comm=comm)
            sync.running_mean, sync.running_var = ref.running_mean * 0, ref.running_var * 0 + 1
            sync.weight.data, sync.bias.data = numpy.array([1.5, .5, 2.]), numpy.array([.1, -.2, .3])
            part = slice(3 * comm.rank, 3 * comm.rank + 3)
            xs = Tensor(x[part].copy(), requires_grad=True)
            ys = sync(xs)
            ys.backward(g[part])
            numpy.testing.assert_allclose(ys.data, y.data[part], rtol=1e-10, atol=1e-12)
            numpy.testing.assert_allclose(xs.grad, xt.grad[part], rtol=1e-9, atol=1e-12)
            for mine, theirs in ((sync.weight.grad, ref.weight.grad), (sync.bias.grad, ref.bias.grad)):
                numpy.testing.assert_allclose(comm.allreduce_sum(mine.data.copy()), theirs, rtol=1e-9, atol=1e-12)
            numpy.testing.assert_allclose(sync.running_var.numpy(), ref.running_var.numpy(), rtol=1e-12)
            # unequal shares (5 rows and 1, as a global batch's last one splits): the statistics are the global
            # batch's, not the mean of the ranks' (which equal shares cannot tell apart)
            sync2 = parallel.SyncBatchNorm(3, comm=comm)
            sync2.running_mean, sync2.running_var = Tensor(numpy.zeros(3)), Tensor(numpy.ones(3))
            sync2.weight.data, sync2.bias.data = numpy.array([1.5, .5, 2.]), numpy.array([.1, -.2, .3])
            part = slice(0, 5) if comm.rank == 0 else slice(5, 6)
            xs = Tensor(x[part].copy(), requires_grad=True)
            ys = sync2(xs)
            ys.backward(g[part])
            numpy.testing.assert_allclose(ys.data, y.data[part], rtol=1e-10, atol=1e-12)
            numpy.testing.assert_allclose(xs.grad, xt.grad[part], rtol=1e-9, atol=1e-12)
            numpy.testing.assert_allclose(comm.allreduce_sum(sync2.weight.grad.data.copy()), ref.weight.grad, rtol=1e-9)
            numpy.testing.assert_allclose(sync2.running_var.numpy(), ref.running_var.numpy(), rtol=1e-12)
            # a rank without values joins the collectives and adds nothing
            with parallel.no_contribution() if comm.rank == 1 else contextlib.nullcontext():
                alone = sync(Tensor(x[:3].copy()))
            if comm.rank == 0:
                plain = BatchNorm2d(3)  # in float64, as its input (PyTorch refuses mixed dtypes)
                plain.running_mean, plain.running_var = ref.running_mean * 0, ref.running_var * 0 + 1
                plain.weight.data, plain.bias.data = sync.weight.data, sync.bias.data
                numpy.testing.assert_allclose(alone.data, plain(Tensor(x[:3].copy())).data, rtol=1e-10, atol=1e-12)
            # evaluation sharded by video == one process, on every rank
            config = configuration.resolve(["--data", data, "--cache-dir", os.path.join(out, "cache"),
                                            "--resize", "24", "--crop", "16", "--workers", "0"])[0]
            with comm.root_first():
                test_set = builders.build_dataset(config, train=False)
            model = builders.build_model(config, len(test_set.classes)).eval()
            sharded = evaluate(model, test_set, 3, 0, comm=comm)
            single = evaluate(model, test_set, 4, 0)
            assert sharded["videos"] == 8 and sharded["chunks"] == len(test_set)
            for key in single:
                assert key in ("seconds", "predictions") or sharded[key] == single[key], key
            for ours, theirs in zip(sharded["predictions"], single["predictions"], strict=True):  # batches of 3 and 4:
                assert ours[:3] + ours[4:] == theirs[:3] + theirs[4:]  # their products round otherwise
                assert abs(ours[3] - theirs[3]) <= 1e-5 * theirs[3]
            print(f"rank {comm.rank} CHECKS OK", flush=True)
        elif mode == "idle":
            # a rank with no chunks (idle_pass) joins the collectives and adds no gradient: below a batch-norm
            # layer its zero output gradient became the other ranks' statistics' gradients, summed in
            from tinyrrn.nn import Conv2d, Sequential
            def model(sync):
                layers = Sequential(Conv2d(3, 4, 3), sync(4), Conv2d(4, 2, 3), sync(2))
                for i, p in enumerate(layers.parameters()):
                    p.data = numpy.random.default_rng(i).standard_normal(p.shape).astype("float32")
                return layers
            x = numpy.random.default_rng(9).standard_normal((2, 3, 6, 6)).astype("float32")
            g = numpy.random.default_rng(8).standard_normal((2, 2, 2, 2)).astype("float32")
            alone = model(BatchNorm2d)  # one process, rank 0's chunks
            alone(Tensor(x)).backward(g)
            ranks = model(lambda n: parallel.SyncBatchNorm(n, comm=comm))
            if comm.rank == 0:
                ranks(Tensor(x)).backward(g)
            else:
                parallel.idle_pass(ranks, x.shape[1:])
            comm.sum_gradients(list(ranks.parameters()))
            for mine, theirs in zip(ranks.parameters(), alone.parameters()):
                numpy.testing.assert_allclose(mine.grad, theirs.grad, rtol=1e-5, atol=1e-6)
            print(f"rank {comm.rank} IDLE OK", flush=True)
        elif mode == "resume":
            # Ctrl-C on rank 1 only, mid-accumulation: both ranks stop at the same batch; resuming
            # ends with the weights of an uninterrupted 2-rank run (batch-norm statistics too: ``flags``)
            base = ["--data", data, "--out", out, "--cache-dir", os.path.join(out, "cache"), "--arch",
                    "resnet_small", "--resize", "24", "--crop", "16", "--batch", "4", "--update-every", "8",
                    "--epochs", "2", "--workers", "0", "--no-baseline", "--no-flip", "--val-groups", "1", *flags]
            config = configuration.resolve(base)[0]
            straight = os.path.join(out, "straight")
            training.train(config, straight, comm=comm)
            calls, original = {"n": 0}, F.cross_entropy
            def interrupt(*args):
                calls["n"] += 1
                if calls["n"] == 5 and comm.rank == 1:
                    os.kill(os.getpid(), signal.SIGINT)
                return original(*args)
            training.F.cross_entropy = interrupt
            stopped = os.path.join(out, "stopped")
            try:
                training.train(config, stopped, comm=comm)
                raise AssertionError("not interrupted")
            except signals.Interrupted as stop:
                assert stop.exit_code == 130 and stop.checkpoint.endswith("checkpoint.npz")
            training.F.cross_entropy = original
            if comm.rank == 0:
                meta = checkpoint.load(os.path.join(stopped, "checkpoint.npz"))[1]
                assert meta["observed"] == 4 and meta["loader"]["position"] == 5, meta
            comm.barrier()
            training.train(config, stopped, resume=True, comm=comm)
            if comm.rank == 0:
                a = checkpoint.load(os.path.join(straight, "checkpoint.npz"))[0]
                b = checkpoint.load(os.path.join(stopped, "checkpoint.npz"))[0]
                for key in a:
                    numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)
                print("RESUME OK", flush=True)
''')


@pytest.fixture()
def helper(tmp_path):
    path = tmp_path / "helper.py"
    path.write_text(HELPER)
    return str(path)


@pytest.mark.cpu_only("the two-rank checks compare float64 host arrays")
def test_sync_batch_norm_and_sharded_evaluation_on_two_ranks(mpiexec, tiny_data, tmp_path, helper):
    done = run_ranks(mpiexec, [helper, "checks", tiny_data, str(tmp_path)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rank 0 CHECKS OK" in done.stdout and "rank 1 CHECKS OK" in done.stdout


@pytest.mark.cpu_only("the two-rank check compares host arrays")
def test_a_rank_without_chunks_adds_no_gradient_with_sync_batch_norm(mpiexec, tiny_data, tmp_path, helper):
    """mpiexec -n 3 ... --sync-bn --batch 2 (one rank idle in every batch) ended far from one process's weights
    (0.3 in a running variance after 4 updates): the idle rank's zero chunk added gradients below each BN layer."""
    done = run_ranks(mpiexec, [helper, "idle", tiny_data, str(tmp_path)], timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rank 0 IDLE OK" in done.stdout and "rank 1 IDLE OK" in done.stdout


@pytest.mark.parametrize("bn", [["--sync-bn"], []])
def test_interrupted_two_rank_run_resumes_to_the_same_weights(mpiexec, tiny_data, tmp_path, helper, bn):
    """With each rank's own batch-norm statistics (the default) the resumed run's running statistics differed in the
    last bits: the checkpoint in mid-epoch held their mean only, from which every rank went on."""
    done = run_ranks(mpiexec, [helper, "resume", tiny_data, str(tmp_path), *bn])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESUME OK" in done.stdout


def test_a_failing_rank_stops_the_whole_job(mpiexec, tiny_data, tmp_path, helper):
    done = run_ranks(mpiexec, [helper, "fail", tiny_data, str(tmp_path)], timeout=60)  # a hang would time out
    assert done.returncode != 0
    assert "rank 1 failed: RuntimeError: disk on fire; stopping all 2 ranks" in done.stderr
    assert "NOT STOPPED" not in done.stdout


FAILING = textwrap.dedent('''
    import sys
    from tinyrrn import cli, parallel

    @cli.command(several_ranks=True)
    def main(argv):
        parallel.AGREE_SECONDS = 1.0  # a lone failure is not kept waiting the default 5 s here
        comm = parallel.init()
        with parallel.failure_guard(comm, show_traceback=False):
            comm.barrier()  # the failures come after a first collective
            if argv[0] == "agreed":  # every rank refuses the same file; rank 1 has a second word to say
                raise ValueError("best.npz: damaged" + (" (and more)" if comm.rank else ""))
            if argv[0] == "data":
                parallel.same_on_every_rank(comm, {"training chunks": 10 + 2 * comm.rank, "classes": ["a"]}, "data",
                                            "read the same data")
            if argv[0] == "lone" and comm.rank == int(argv[1]):
                raise cli.UsageError(f"only rank {comm.rank} is refused")
            comm.barrier()
            print("NOT STOPPED", flush=True)
    sys.exit(main())
''')


@pytest.mark.parametrize("mode, code, says", [
    ("agreed", 1, "rank 1: error: best.npz: damaged (and more)\nerror: best.npz: damaged\n"),
    ("data", 2, "error: rank 1 has other data than rank 0: training chunks 10 (rank 1: 12); read the same data\n"),
])
def test_an_error_every_rank_meets_is_said_once_by_rank_0_without_an_abort(mpiexec, tmp_path, mode, code, says):
    """A non-finite loss, a refused resume or damaged file that every rank meets was 'rank R failed: ...' once per
    rank, an MPI_Abort line each, and exit status 1 for a usage error: now rank 0's one error line."""
    (tmp_path / "failing.py").write_text(FAILING)
    done = run_ranks(mpiexec, [str(tmp_path / "failing.py"), mode], timeout=60)
    assert (done.returncode, done.stderr) == (code, says)
    assert "NOT STOPPED" not in done.stdout


@pytest.mark.parametrize("rank", [0, 1])
def test_an_expected_error_on_one_rank_alone_still_stops_every_rank(mpiexec, tmp_path, rank):
    """On rank 0 (a checkpoint it alone failed to write) MPI_Abort returned: a second line 'rank 0 failed: ...'
    followed, and a second MPI_Abort, of exit status 1."""
    (tmp_path / "failing.py").write_text(FAILING)
    done = run_ranks(mpiexec, [str(tmp_path / "failing.py"), "lone", str(rank)], timeout=60)  # a hang would time out
    assert done.returncode == 2 and "NOT STOPPED" not in done.stdout
    said = [line for line in done.stderr.splitlines() if not line.startswith("Abort(")]  # (MPICH's own line)
    assert said == [f"error: rank {rank} alone: only rank {rank} is refused; stopping all 2 ranks"], done.stderr


LONE_FAILURE = textwrap.dedent('''
    import os, sys
    from tinyrrn import parallel, train as training
    parallel.AGREE_SECONDS = 1.0  # a lone failure is not kept waiting the default 5 s here
    if os.environ.get("PMI_RANK") == "1":
        if sys.argv[1] == "start":  # an expected error met by rank 1 alone, while rank 0 builds its model
            def refuse(*args, **kwargs):
                raise ValueError("resnet.npz: unreadable on rank 1")
            training.build_model = refuse
        else:  # an unexpected one in the first epoch, before the first checkpoint, or ("late") in the second
            loss, calls = training.F.cross_entropy, []
            def fail(*args):
                calls.append(1)
                if sys.argv[1] == "epoch" or len(calls) > 16:  # rank 1 has 13 batches an epoch
                    raise RuntimeError("disk on fire")
                return loss(*args)
            training.F.cross_entropy = fail
    sys.exit(training.main(sys.argv[2:]))
''')


@pytest.mark.parametrize("when, says", [
    ("start", r"error: rank 1 alone: resnet.npz: unreadable on rank 1; stopping all 2 ranks\n"),
    ("epoch", r"rank 1 failed: RuntimeError: disk on fire; stopping all 2 ranks\n"),
    ("late", r"rank 1 failed: RuntimeError: disk on fire; stopping all 2 ranks\n"),
])
def test_a_rank_failing_alone_removes_a_new_run_folder_only_before_its_first_checkpoint(mpiexec, tiny_data, tmp_path,
                                                                                       when, says):
    """Rank 0 made the new run's folder; a failure of rank 1 alone stopped it by MPI_Abort, before it could remove
    the folder, which stayed (its lock, and config.json), a run no --resume can go on with. An expected error met
    by one rank was no 'error:' line. After the first checkpoint the folder is kept."""
    (tmp_path / "lone.py").write_text(LONE_FAILURE)
    extra = ["--epochs", "2"] if when == "late" else []
    done = run_ranks(mpiexec, [str(tmp_path / "lone.py"), when, *tiny_args(tiny_data, tmp_path / "runs", *extra)],
                     timeout=60)
    assert done.returncode != 0 and re.search(says, done.stderr), done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error: ")]) == (when == "start")
    kept = glob.glob(str(tmp_path / "runs" / "*" / "checkpoint.npz"))
    assert (len(kept), len(os.listdir(tmp_path / "runs"))) == ((1, 2) if when == "late" else (0, 1))  # and cache/


def test_ranks_given_other_settings_or_a_missing_dataset_are_one_error_line(mpiexec, tiny_data, tmp_path):
    """Ranks started with other flags (an MPMD launch, a per-host TINYRRN_DEVICE) trained different runs in silence
    or waited for one another forever (one refusing its flags before joining MPI too); a dataset missing on rank 0
    stopped the job as 'rank 0 failed'; a refused flag was said once per rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    rank = [sys.executable, "-m", "tinyrrn.train", "--data", tiny_data, "--out", str(tmp_path / "runs")]
    done = subprocess.run([mpiexec, "-n", "1", *rank, "--lr", "0.1", ":", "-n", "1", *rank, "--workers", "0"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert (done.returncode, done.stderr) == (2, "error: rank 1 has other settings than rank 0: lr 0.1 (rank 1: "
                                                 "'not given'); give every rank the same command and TINYRRN_DEVICE "
                                                 "(only --workers, --threads and --cache-dir may differ)\n")
    done = run_ranks(mpiexec, ["-m", "tinyrrn.train", "--data", str(tmp_path / "nowhere"), "--out",
                               str(tmp_path / "runs")], timeout=60)
    assert (done.returncode, done.stderr) == (2, f"error: {tmp_path / 'nowhere'}: no such dataset folder (--data)\n")
    done = run_ranks(mpiexec, ["-m", "tinyrrn.train", "--epochs", "0"], timeout=60)  # refused before MPI was joined
    assert (done.returncode, done.stderr.count("error: --epochs 0: must be an integer of at least 1")) == (2, 1)
    assert not (tmp_path / "runs").exists()


def test_ranks_starting_from_other_weights_are_refused(mpiexec, tiny_data, tmp_path):
    """A --weights path holding other weights on another host: each replica started from its own weights and
    the ranks averaged gradients of different models, in silence."""
    (tmp_path / "other.py").write_text(textwrap.dedent('''
        import os, sys
        from tinyrrn import train as training
        if os.environ.get("PMI_RANK") == "1":
            build = training.build_model
            def other_weights(config, classes):
                model = build(config, classes)
                next(iter(model.parameters())).data[...] += 1
                return model
            training.build_model = other_weights
        sys.exit(training.main(sys.argv[1:]))
    '''))
    done = run_ranks(mpiexec, [str(tmp_path / "other.py"), *tiny_args(tiny_data, tmp_path / "runs")], timeout=60)
    assert done.returncode == 2 and re.fullmatch(
        r"error: rank 1 has other data or weights than rank 0: starting weights \(digest\) '[0-9a-f]{16}' \(rank 1: "
        r"'[0-9a-f]{16}'\); every rank must read the same dataset and --weights \(the same paths and files on every "
        r"host\)\n", done.stderr), done.stderr
    assert os.listdir(tmp_path / "runs") == ["cache"]  # the new run's folder is removed


SIGNAL_ON_RANK_1 = textwrap.dedent('''
    import os, signal, sys
    from tinyrrn import train as training
    if os.environ.get("PMI_RANK") == "1":
        if sys.argv[1] == "batch":  # Ctrl-C on rank 1 alone, at its third chunk of training
            loss, calls = training.F.cross_entropy, []
            def interrupt(*args):
                calls.append(1)
                if len(calls) == 3:
                    os.kill(os.getpid(), signal.SIGINT)
                return loss(*args)
            training.F.cross_entropy = interrupt
        else:  # ... during the final test evaluation, which stops at once
            evaluate = training.evaluate
            def interrupt(*args, **kwargs):
                if kwargs.get("desc", "").startswith("test"):
                    os.kill(os.getpid(), signal.SIGINT)
                return evaluate(*args, **kwargs)
            training.evaluate = interrupt
    sys.exit(training.main(sys.argv[2:]))
''')


def test_ctrl_c_on_one_rank_is_said_once_and_during_the_final_evaluation_stops_every_rank(mpiexec, tiny_data,
                                                                                         tmp_path):
    """The agreed stop was 'interrupted ...' once per rank; a signal on one rank during the final evaluation
    stopped that rank at once and left the others waiting in their next collective forever."""
    (tmp_path / "stop.py").write_text(SIGNAL_ON_RANK_1)
    done = run_ranks(mpiexec, [str(tmp_path / "stop.py"), "batch", *tiny_args(tiny_data, tmp_path / "a")], timeout=60)
    assert done.returncode == 130 and done.stderr.count("interrupted (Ctrl-C): checkpoint written to") == 1, \
        done.stderr
    done = run_ranks(mpiexec, [str(tmp_path / "stop.py"), "final", *tiny_args(tiny_data, tmp_path / "b")], timeout=60)
    assert done.returncode == 130 and re.search(
        r"interrupted \(Ctrl-C\) on rank 1: stopped before the final test evaluation ended; \S+checkpoint.npz "
        r"\(epoch 1, update \d+\) is kept as it was; .* runs the evaluation again; stopping all 2 ranks", done.stderr)


@pytest.mark.parametrize("name", ["evaluate", "predict", "features", "baseline", "reproduce", "weights", "data.check",
                                  "data.synthetic"])
def test_a_one_process_command_refuses_a_launch_of_several_ranks(name, monkeypatch, capsys, tmp_path):
    """Only training is distributed: under mpiexec another command would run once per rank over the
    same files (two reports written at once, one run folder per rank). It says so in one line first."""
    import importlib
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.chdir(tmp_path)
    assert importlib.import_module(f"tinyrrn.{name}").main(["nothing"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: python -m tinyrrn.{name} runs on one process, but this is one of 2 MPI ranks: "
                   "only python -m tinyrrn.train runs on several ranks; run it without mpiexec\n")
    assert os.listdir(tmp_path) == []


def test_evaluate_under_mpiexec_writes_no_report(mpiexec, tiny_data, tmp_path):
    done = run_ranks(mpiexec, ["-m", "tinyrrn.evaluate", str(tmp_path / "no-run"), "--out", str(tmp_path / "report")],
                     timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("error: python -m tinyrrn.evaluate runs on one process") == 2  # once per rank
    assert not (tmp_path / "report").exists()
