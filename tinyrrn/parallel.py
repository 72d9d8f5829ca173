"""Data parallelism as a layer: one model trained by N processes that follow one trajectory.

    mpiexec -n 2 python -m tinyrrn.train [flags]          # detected from the MPI environment
    python -m tinyrrn.train --distributed [flags]          # force MPI (e.g. a launcher we do not detect)

Needs mpi4py and an MPI library (``pip install "tinyrrn[dist]"``: mpi4py and the mpich wheel).
The training loop is the same code on one process and on N ranks; what differs lives here:

* ``Communicator`` is one process, where every collective returns its input, and
  ``MPICommunicator`` the ranks of an MPI job, with the same methods.
* ``DistributedOptimizer`` wraps an optimiser as Horovod's does: it counts the chunks whose
  gradients were summed into ``.grad``, and at ``step()`` sums the gradients of all ranks (one
  flat Allreduce), divides by the global count, and steps.
* Sharding is the data loader's (``ChunkLoader(..., rank, world)``): every rank cuts the same
  global batches and loads ``global_batch[rank::world]``; sharded evaluation is
  ``tinyrrn.evaluate``'s (by video).
* Batch norm: by default each rank normalises with its own part of the batch (as PyTorch's
  DistributedDataParallel does) and ``average_buffers`` makes the running statistics equal
  before evaluation and checkpoints. ``SyncBatchNorm`` (``--sync-bn``) is ``F.batch_norm`` whose
  reduction hook sums the statistics and their gradients over the ranks: N ranks then follow
  one process within float rounding. ``--freeze-bn`` (fixed statistics) gives the same.
* GPUs: one per rank (local rank modulo device count); NCCL through CuPy when CuPy has it,
  else MPI on host copies. Not run in this project's CI (no GPU): see README, "Scaling out".
"""
import contextlib
import os
import signal
import sys
import time
import traceback
import warnings

import numpy

from . import backend, signals
from .cli import EXIT_FAILURE, EXIT_USAGE, Failure, UsageError, describe, launched_size
from .nn import BatchNorm2d
from .signals import Interrupted
from .tensor import Tensor

INSTALL_HINT = ('pip install "tinyrrn[dist]" (mpi4py and the mpich wheel), '
                'or pip install mpi4py built against your own MPI')
# Abort kills every rank at once; mpiexec forwards each rank's stderr asynchronously, so a rank's
# last line (why the job stopped) can be lost on a busy machine unless it waits this long first.
ABORT_GRACE_SECONDS = 0.5
# A rank with an expected failure (cli.command's one error line) waits this long for every other rank to have
# one too (a setting all refuse, a non-finite loss all see): then rank 0 alone says it, and no rank aborts.
AGREE_SECONDS = 5.0
# Settings that may differ between ranks (each host's cores and disks); every other one must be the same
PER_RANK_SETTINGS = ("workers", "threads", "cache_dir")


class DistributedError(UsageError):
    """A distributed launch that cannot work (e.g. mpi4py missing)."""


def init(force=False):
    """The communicator of this process: MPI when launched with several ranks (or ``force``), else one process."""
    size = launched_size()
    if size <= 1 and not force:
        return Communicator()
    try:
        from mpi4py import MPI  # optional: only a distributed launch needs it
    except ImportError as err:
        how = "--distributed was given" if size <= 1 else f"this process was started as one of {size} MPI ranks"
        raise DistributedError(f"{how}, but mpi4py cannot be imported ({err}): {INSTALL_HINT}") from None
    return MPICommunicator(MPI)


class _Quiet:
    """A stream that drops everything (progress bars of ranks other than 0)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


class Communicator:
    """One process: rank 0 of 1; every collective returns its input. Same API as MPICommunicator."""

    rank, size, local_rank = 0, 1, 0

    def __init__(self):
        self.comm_seconds = 0.0  # time spent in collectives (their share of a step is logged)
        self.before_abort = []  # what this rank undoes for rank 0 before ``abort`` stops it (see MPICommunicator)

    @property
    def is_root(self):
        return self.rank == 0

    def stream(self):
        """Where this rank's progress bars go: stderr on rank 0, nowhere on the others."""
        return sys.stderr if self.is_root else _Quiet()

    def allreduce_sum(self, array):
        """Sum ``array`` (contiguous NumPy or CuPy) over all ranks, in place; returns it."""
        return array

    def allgather(self, obj):
        """[obj of rank 0, obj of rank 1, ...] on every rank (pickled: for small or host data)."""
        return [obj]

    def gather(self, obj):
        """[obj of every rank] on rank 0, None on the others (pickled)."""
        return [obj]

    def bcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        return obj

    def barrier(self):
        pass

    def abort(self, code=1):
        os._exit(code)

    def all_failing(self, seconds):
        """True when every rank calls this within ``seconds`` (each after an expected failure of its own)."""
        return True

    def failures(self, message):
        """[message of every rank] on rank 0 (after ``all_failing``), None on the others."""
        return [message]

    def use_gpu(self):
        """Make this rank's GPU (local rank modulo the device count) the current CuPy device."""

    def sum_gradients(self, params):
        """Sum every parameter's ``.grad`` over the ranks (a parameter without one on every rank keeps None)."""

    def on_root(self, fn, *args):
        """``fn(*args)`` run on rank 0 only; its result (or the exception it raised) on every rank."""
        result = error = None
        if self.is_root:
            try:
                result = fn(*args)
            except Exception as err:  # raised on every rank below
                error = err
        result, error = self.bcast((result, error))
        if error is not None:
            raise error
        return result

    @contextlib.contextmanager
    def root_first(self):
        """Run the block on rank 0 first, then on the others (for work that fills shared caches). An error
        rank 0 meets there is raised on every rank, the others not running the block (as ``on_root``)."""
        error = None
        if self.is_root:
            try:
                yield
            except Exception as err:  # raised on every rank below
                error = err
        error = self.bcast(error)  # the others wait here for rank 0's block
        if error is not None:
            raise error
        if not self.is_root:
            yield

    @contextlib.contextmanager
    def timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.comm_seconds += time.perf_counter() - start


class MPICommunicator(Communicator):
    """All processes of MPI.COMM_WORLD; GPU arrays are reduced with NCCL when CuPy offers it."""

    def __init__(self, MPI):
        super().__init__()
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks on this host
        self.local_rank = local.Get_rank()
        local.Free()
        self.failing = self.comm.Dup()  # failing ranks agree here, apart from any collective in progress
        self.nccl = None

    def allreduce_sum(self, array):
        with self.timed():
            if backend.xp_of(array) is numpy:
                self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
            elif self.nccl is not None:  # unverified here: no GPU in this project's CI
                from cupy.cuda import nccl  # only on a GPU rank with NCCL (see use_gpu)
                kind = {numpy.dtype("float32"): nccl.NCCL_FLOAT32, numpy.dtype("float64"): nccl.NCCL_FLOAT64}
                stream = backend.module_for("gpu").cuda.get_current_stream()
                self.nccl.allReduce(array.data.ptr, array.data.ptr, array.size, kind[array.dtype],
                                    nccl.NCCL_SUM, stream.ptr)
                stream.synchronize()  # so that the time counted here is the reduction's
            else:  # CuPy without NCCL: through host memory
                host = backend.to_numpy(array).copy()
                self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
                array.set(host)
        return array

    def allgather(self, obj):
        with self.timed():
            return self.comm.allgather(obj)

    def gather(self, obj):
        with self.timed():
            return self.comm.gather(obj, root=0)

    def bcast(self, obj):
        with self.timed():
            return self.comm.bcast(obj, root=0)

    def barrier(self):
        with self.timed():
            self.comm.Barrier()

    def abort(self, code=1):
        """Stop every rank. Rank 0, waiting in a collective, never reaches its own ``finally``: what it would undo
        there (a new run folder without a checkpoint) is undone first here, by ``before_abort``. Never returns:
        MPICH's MPI_Abort can return before the launcher ends this process, which then said more and aborted again."""
        for undo in self.before_abort:
            with contextlib.suppress(Exception):  # the job stops either way
                undo()
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_SECONDS)  # mpiexec forwards output asynchronously: let the last lines out
        self.comm.Abort(code)
        os._exit(code)

    def all_failing(self, seconds):
        request = self.failing.Ibarrier()  # completes once every rank has failed; a rank still working never joins
        deadline = time.monotonic() + seconds
        while not request.Test():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def failures(self, message):
        return self.failing.gather(message, root=0)

    def sum_gradients(self, params):
        """One Allreduce of every gradient in one flat buffer, followed by one flag per parameter
        (1 where a rank has a gradient), so a parameter no rank has a gradient for keeps None. Each sum is a view
        of the buffer (no copy back), taken by the parameter's gradient Tensor (or a new one)."""
        xp = backend.xp_of(params[0].data)
        sizes = [p.numel() for p in params]
        total = sum(sizes)
        flat = xp.zeros(total + len(params), dtype=params[0].dtype)
        offset = 0
        for i, (p, n) in enumerate(zip(params, sizes)):
            if p.grad is not None:
                flat[offset:offset + n] = p.grad.data.reshape(-1)
                flat[total + i] = 1
            offset += n
        self.allreduce_sum(flat)
        flags = backend.to_numpy(flat[total:])
        offset = 0
        for p, n, flag in zip(params, sizes, flags):
            summed = flat[offset:offset + n].reshape(p.shape)
            if flag == 0:
                p.grad = None
            elif p.grad is None:
                p.grad = Tensor(summed)
            else:
                p.grad.data = summed
            offset += n

    def use_gpu(self):
        """One GPU per rank (local rank modulo the devices of this host); NCCL if CuPy has it (unverified here)."""
        cupy = backend.module_for("gpu")
        cupy.cuda.Device(self.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        try:
            with warnings.catch_warnings():  # CuPy warns at import when libnccl is missing: said below, once
                warnings.simplefilter("ignore")
                from cupy.cuda import nccl  # optional part of CuPy
            available = nccl.available
        except ImportError:
            available = False
        if not available:
            if self.is_root:
                print("NCCL not available in CuPy: gradients are reduced through MPI on host memory", flush=True)
            return
        uid = self.bcast(nccl.get_unique_id() if self.is_root else None)
        self.nccl = nccl.NcclCommunicator(self.size, uid, self.rank)


@contextlib.contextmanager
def failure_guard(comm, show_traceback=True):
    """On several ranks, an exception on any rank stops the whole job: print it, then MPI_Abort.

    Without this a failed rank leaves the others waiting forever in their next collective.
    Checkpoints survive: they are written to a temporary file and renamed (rank 0 only). A stop
    that every rank agreed on (a signal, after its checkpoint) is not a failure: rank 0 says it, and every rank
    exits with its status; one rank's stop at once (no checkpoint) stops every rank. So is an
    expected failure (cli.command's: a ValueError, OSError or Failure) that every rank has within
    AGREE_SECONDS: rank 0 raises it (one ``error:`` line, and any other rank's other message beside it),
    the others exit with its status in silence; one that this rank alone has is one ``error: rank R alone: ...``
    line, and MPI_Abort with its status (a new run folder rank 0 made is removed first: ``before_abort``).
    """
    if comm.size == 1:
        yield
        return
    try:
        yield
    except Interrupted as stop:
        if stop.checkpoint is None:  # this rank alone stopped at once (a second signal): the others may be mid-collective
            print(f"\ninterrupted ({signals.name(stop.signum)}) on rank {comm.rank}: {stop}; stopping all {comm.size} ranks",
                  file=sys.stderr, flush=True)
            comm.abort(stop.exit_code)
        if not comm.is_root:  # every rank stopped after the same batch: rank 0 says so
            raise SystemExit(stop.exit_code) from None
        raise
    except SystemExit as stop:
        if stop.code not in (0, None):
            print(f"rank {comm.rank} failed: exit status {stop.code}; stopping all {comm.size} ranks",
                  file=sys.stderr, flush=True)
            comm.abort(stop.code if isinstance(stop.code, int) else 1)
        raise
    except (ValueError, OSError, Failure) as err:  # expected: one error line when every rank has one
        if not comm.all_failing(AGREE_SECONDS):
            _stop_all(comm, err, show_traceback)
        messages = comm.failures(describe(err))
        if not comm.is_root:
            raise SystemExit(EXIT_USAGE if isinstance(err, UsageError) else EXIT_FAILURE) from None
        for rank, message in enumerate(messages):
            if message != messages[0]:
                print(f"rank {rank}: error: {message}", file=sys.stderr, flush=True)
        raise  # rank 0's, printed by cli.command
    except BaseException as err:  # noqa: B902 - KeyboardInterrupt too: the others would hang
        _stop_all(comm, err, show_traceback)


def _stop_all(comm, err, show_traceback):
    """Say that this rank failed, and why (a Ctrl-C outside training as such), and stop every rank (MPI_Abort)."""
    if isinstance(err, KeyboardInterrupt):
        print(f"\ninterrupted (Ctrl-C) on rank {comm.rank}; stopping all {comm.size} ranks", file=sys.stderr, flush=True)
        comm.abort(128 + signal.SIGINT)
        return
    if show_traceback:
        traceback.print_exc()
    if isinstance(err, (ValueError, OSError, Failure)):  # expected (cli.command's), met by this rank alone
        print(f"error: rank {comm.rank} alone: {describe(err)}; stopping all {comm.size} ranks", file=sys.stderr,
              flush=True)
        comm.abort(EXIT_USAGE if isinstance(err, UsageError) else EXIT_FAILURE)
    print(f"rank {comm.rank} failed: {type(err).__name__}: {err}; stopping all {comm.size} ranks",
          file=sys.stderr, flush=True)
    comm.abort(1)


def same_on_every_rank(comm, values, what, hint):
    """Refuse, on every rank alike (a UsageError), ``values`` ({name: value}) that differ between the ranks, naming
    them: ranks given other settings, or reading other data, would train different runs in silence or wait for one
    another forever in collectives that no longer match. ``what``: what the values are; ``hint``: what to do."""
    if comm.size == 1:
        return
    every = comm.allgather(values)
    for rank, theirs in enumerate(every[1:], 1):
        differ = [key for key in sorted(set(theirs) | set(every[0])) if theirs.get(key) != every[0].get(key)]
        if differ:
            shown = ", ".join(f"{key} {every[0].get(key, 'not given')!r} (rank {rank}: {theirs.get(key, 'not given')!r})"
                              for key in differ)
            raise UsageError(f"rank {rank} has other {what} than rank 0: {shown}; {hint}")


# -- gradients -------------------------------------------------------------------
class DistributedOptimizer:
    """An optimiser whose update averages the gradients of every chunk observed on every rank.

    Gradients accumulate in each parameter's ``.grad`` (summed over chunks); ``observe`` counts
    the chunks (of all ranks) and their summed loss. ``step()`` sums the gradients over the
    ranks, divides them by the observed count, takes one step of the wrapped optimiser at the
    learning rate ``schedule(update)`` and clears gradients and counts. On one process the
    sum over ranks does nothing, so the update is the plain average over observed chunks.
    """

    def __init__(self, optimizer, comm, schedule=None):
        self.optimizer, self.comm, self.schedule = optimizer, comm, schedule
        self.params = optimizer.params
        self.observed, self.loss_sum = 0, 0.0

    @property
    def steps(self):
        return self.optimizer.steps

    @property
    def lr(self):
        return self.optimizer.lr

    def observe(self, chunks, loss_sum):
        """Count ``chunks`` more chunks (of all ranks) whose gradients are in .grad, with their summed loss."""
        self.observed += chunks
        self.loss_sum += loss_sum

    def step(self):
        """One update from the mean gradient of the observed chunks; returns their mean loss."""
        self.comm.sum_gradients(self.params)
        for p in self.params:
            if p.grad is not None:  # (in its array: an op per parameter would cost more than the scaling)
                mean = p.grad.data
                mean *= 1.0 / self.observed
                p.grad.version += 1
        if self.schedule is not None:
            self.optimizer.lr = self.schedule(self.optimizer.steps)
        self.optimizer.step()
        self.optimizer.zero_grad()
        loss = self.loss_sum / self.observed
        self.observed, self.loss_sum = 0, 0.0
        return loss

    def state_dict(self):
        """The wrapped optimiser's state, the observed count and loss, and the gradients accumulated
        towards the next update: every rank's own (``gradients[rank][i]``, host arrays, on rank 0;
        None on the others). Call on every rank."""
        own = {i: backend.to_numpy(p.grad.data) for i, p in enumerate(self.params)
               if p.grad is not None and self.observed}
        return {**self.optimizer.state_dict(), "observed": self.observed, "loss_sum": self.loss_sum,
                "gradients": self.comm.gather(own)}

    def load_state_dict(self, state):
        """Restore what state_dict() returned (on every rank: each rank takes its own gradients)."""
        self.optimizer.load_state_dict(state)
        self.observed, self.loss_sum = state["observed"], state["loss_sum"]
        xp = backend.xp_of(self.params[0].data)
        for i, grad in state["gradients"][self.comm.rank].items():  # (arrays, as checkpoints hold them)
            self.params[int(i)].grad = Tensor(xp.asarray(grad))


# -- batch norm -------------------------------------------------------------------
def average_buffers(model, comm):
    """Make the replicas' buffers equal: float buffers (BN running statistics) averaged over the
    ranks with one Allreduce, integer ones (batch counts) taken from rank 0. On one process nothing is
    done (each integer buffer would be read back from a GPU)."""
    if comm.size == 1:
        return
    buffers = list(model.buffers())
    floats = [b for b in buffers if b.dtype.kind == "f"]
    ints = [b for b in buffers if b.dtype.kind != "f"]
    if floats:
        xp = backend.xp_of(floats[0].data)
        flat = xp.concatenate([b.data.reshape(-1).astype("float64") for b in floats])
        comm.allreduce_sum(flat)
        flat /= comm.size
        offset = 0
        for b in floats:  # written into each buffer Tensor's array, in place
            b.data[...] = flat[offset:offset + b.data.size].reshape(b.shape)
            b.version += 1
            offset += b.data.size
    for b, value in zip(ints, comm.bcast([backend.to_numpy(b.data) for b in ints])):
        b.data[...] = backend.xp_of(b.data).asarray(value)
        b.version += 1


_contributes = [True]


@contextlib.contextmanager
def no_contribution():
    """Inside: SyncBatchNorm layers count no values of this rank (a rank with an empty batch
    runs a dummy chunk so that it still joins every collective)."""
    _contributes[0] = False
    try:
        yield
    finally:
        _contributes[0] = True


class SyncBatchNorm(BatchNorm2d):
    """BatchNorm2d whose training statistics are those of all ranks' batches together (``--sync-bn``).

    It is F.batch_norm with a reduction hook: the per-channel sums of each rank (count and sum x,
    sum (x - mean)^2, and in the backward pass sum g and sum g (x - mean)) are summed over the
    ranks, in float64, before they are used. Same parameters, buffers and state_dict names as
    BatchNorm2d; evaluation is unchanged. With one rank it computes exactly what BatchNorm2d does.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, comm=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.comm = comm if comm is not None else Communicator()

    def reduce(self, sums):
        if not _contributes[0]:
            sums[...] = 0
        return self.comm.allreduce_sum(sums)

    @classmethod
    def convert(cls, model, comm):
        """Replace every BatchNorm2d of ``model`` by a SyncBatchNorm of the same settings (affine and
        track_running_stats too, as PyTorch's convert_sync_batchnorm) sharing its parameters and buffers."""
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is BatchNorm2d:
                    sync = cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats,
                               comm)
                    sync.weight, sync.bias = child.weight, child.bias
                    for key in ("running_mean", "running_var", "num_batches_tracked"):
                        setattr(sync, key, getattr(child, key))
                    sync.train(child.training)
                    setattr(parent, name, sync)
        return model


def idle_pass(model, clip_shape):
    """For a rank whose share of a global batch is empty: with SyncBatchNorm layers, run one zero
    chunk that counts for nothing, so that this rank joins every batch-norm collective of the
    forward and backward passes (the other ranks wait for it there). Without them: nothing.

    Its gradients are dropped: a zero output gradient is not zero below a batch-norm layer, whose
    input gradient takes the statistics' gradients summed over all ranks."""
    if not any(isinstance(m, SyncBatchNorm) for m in model.modules()):
        return
    params = list(model.parameters())
    kept = [p.grad for p in params]  # the gradients of this rank's earlier chunks, set aside untouched
    for p in params:
        p.grad = None
    clips = backend.module_for(backend.get_device()).zeros((1, *clip_shape), dtype="float32")
    with no_contribution():
        logits = model(Tensor(clips))
        logits.backward(logits.data * 0)
    for p, grad in zip(params, kept):
        p.grad = grad
