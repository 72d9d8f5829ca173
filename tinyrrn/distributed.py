"""Data-parallel training over MPI ranks: one model, N processes, one trajectory.

    mpiexec -n 2 python -m tinyrrn.train [flags]          # detected from the MPI environment
    python -m tinyrrn.train --distributed [flags]          # force MPI (e.g. a launcher we do not detect)

Needs mpi4py and an MPI library (``pip install "tinyrrn[dist]"``: mpi4py and the mpich wheel).

* ``Communicator`` is the one-process stand-in (every collective is the identity), and
  ``MPICommunicator`` the real one with the same API, so the trainer has one code path.
* Sharding (``ShardedLoader``): every rank builds the same global order of epoch e
  (``ChunkLoader.order``), cuts it into the same global batches of ``--batch`` chunks as one
  process would, and takes ``global_batch[rank::size]``. Each chunk keeps its augmentation RNG
  ``default_rng([seed, epoch, chunk])``, so N ranks see exactly the chunks one process sees.
* Gradients: each rank sums its chunks' gradients; at an update all gradients go into one
  flat buffer (plus one "has a gradient" flag per parameter), one Allreduce(SUM), then a
  division by the global number of observed chunks. Counts, loss and the stop flag of every
  global batch are summed with one tiny Allreduce, so every rank makes the same decisions.
* Batch norm: by default each rank normalises with its own part of the batch (as PyTorch's
  DistributedDataParallel does) and the running statistics are averaged over the ranks before
  evaluation and checkpoints. ``--sync-bn`` swaps in ``SyncBatchNorm``, whose statistics (and
  their gradients) are summed over all ranks: then N ranks follow one process within float
  rounding. ``--freeze-bn`` (fixed statistics) gives the same.
* GPUs: one per rank (local rank modulo device count); NCCL through CuPy when CuPy has it,
  else MPI on host copies. Not run in this project's CI (no GPU): see README, "Scaling out".
"""
import contextlib
import os
import sys
import time
import traceback

import numpy

from . import backend
from .data import ChunkLoader
from .nn import BatchNorm2d

INSTALL_HINT = ('pip install "tinyrrn[dist]" (mpi4py and the mpich wheel), '
                'or pip install mpi4py built against your own MPI')
# Set by mpiexec/mpirun of MPICH and Intel MPI (PMI), Open MPI and MVAPICH.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


class DistributedError(RuntimeError):
    """A distributed launch that cannot work (e.g. mpi4py missing)."""


def launched_size(environ=None):
    """The number of ranks an MPI launcher started (1 when not launched by one)."""
    environ = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return 1


def init(force=False):
    """The communicator of this process: MPI when launched with several ranks (or ``force``), else one process."""
    size = launched_size()
    if size <= 1 and not force:
        return Communicator()
    try:
        from mpi4py import MPI
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
        self.comm_seconds, self.calls = 0.0, 0  # time spent in (and number of) collectives

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

    def use_gpu(self):
        """Make this rank's GPU (local rank modulo the device count) the current CuPy device."""

    def on_root(self, fn, *args):
        """``fn(*args)`` run on rank 0 only; its result (or the exception it raised) on every rank."""
        result = error = None
        if self.is_root:
            try:
                result = fn(*args)
            except Exception as err:  # raised on every rank below
                error = err
        if self.size > 1:
            result, error = self.bcast((result, error))
        if error is not None:
            raise error
        return result

    @contextlib.contextmanager
    def root_first(self):
        """Run the block on rank 0 first, then on the others (for work that fills shared caches)."""
        if not self.is_root:
            self.barrier()
        yield
        if self.is_root:
            self.barrier()

    @contextlib.contextmanager
    def timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.comm_seconds += time.perf_counter() - start
            self.calls += 1


class MPICommunicator(Communicator):
    """All processes of MPI.COMM_WORLD; GPU arrays are reduced with NCCL when CuPy offers it."""

    def __init__(self, MPI):
        super().__init__()
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks on this host
        self.local_rank = local.Get_rank()
        local.Free()
        self.nccl = None

    def allreduce_sum(self, array):
        with self.timed():
            if backend.xp_of(array) is numpy:
                self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
            elif self.nccl is not None:  # unverified here: no GPU in this project's CI
                import cupy
                from cupy.cuda import nccl
                kind = {numpy.dtype("float32"): nccl.NCCL_FLOAT32, numpy.dtype("float64"): nccl.NCCL_FLOAT64}
                stream = cupy.cuda.get_current_stream()
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
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)

    def use_gpu(self):
        """One GPU per rank (local rank modulo the devices of this host); NCCL if CuPy has it (unverified here)."""
        cupy = backend.module_for("gpu")
        cupy.cuda.Device(self.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        try:
            from cupy.cuda import nccl
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
def failure_guard(comm):
    """On several ranks, an exception on any rank stops the whole job: print it, then MPI_Abort.

    Without this a failed rank leaves the others waiting forever in their next collective.
    Checkpoints survive: they are written to a temporary file and renamed (rank 0 only).
    """
    if comm.size == 1:
        yield
        return
    try:
        yield
    except SystemExit as stop:
        if stop.code not in (0, None):
            print(f"rank {comm.rank} failed: exit status {stop.code}; stopping all {comm.size} ranks",
                  file=sys.stderr, flush=True)
            comm.abort(stop.code if isinstance(stop.code, int) else 1)
        raise
    except BaseException as err:  # noqa: B902 - KeyboardInterrupt too: the others would hang
        traceback.print_exc()
        print(f"rank {comm.rank} failed: {type(err).__name__}: {err}; stopping all {comm.size} ranks",
              file=sys.stderr, flush=True)
        comm.abort(1)


# -- data ----------------------------------------------------------------------
class ShardedLoader(ChunkLoader):
    """A ChunkLoader that yields this rank's part of every global batch.

    ``batch_size`` is the global batch (the batch of a one-process run); the global batches are
    the one-process loader's, and rank r gets ``global_batch[r::size]``. One item is yielded per
    global batch on every rank -- None when this rank's part is empty (fewer chunks than ranks,
    or bad videos) -- so all ranks step together. ``position`` counts global batches, so
    ``state_dict()`` is the same on every rank and equals a one-process run's.
    """

    def __init__(self, dataset, batch_size=8, rank=0, size=1, **kwargs):
        super().__init__(dataset, batch_size=batch_size, **kwargs)
        self.rank, self.size = rank, size

    def shard(self, global_batch):
        """This rank's chunks of one global batch."""
        return global_batch[self.rank::self.size]

    def __iter__(self):
        epoch, order = self.epoch, self.order(self.epoch)
        batches = [self.shard(order[b * self.batch_size:(b + 1) * self.batch_size])
                   for b in range(self.position, len(self))]
        for results in self._results(epoch, batches):
            self.position += 1
            yield self._collate(results)
        self.epoch, self.position = epoch + 1, 0


# -- gradients and buffers -------------------------------------------------------
def reduce_gradients(params, comm, divide_by=1.0):
    """Sum every parameter's gradient over the ranks with one Allreduce and divide by ``divide_by``.

    Gradients go into one flat buffer followed by one flag per parameter (1 where a rank has a
    gradient); a parameter no rank has a gradient for keeps ``grad = None`` (as with one process).
    Returns the flat buffer's gradient views, assigned to ``p.grad``.
    """
    xp = backend.xp_of(params[0].data)
    sizes = [p.size for p in params]
    total = sum(sizes)
    flat = xp.zeros(total + len(params), dtype=params[0].dtype)
    offset = 0
    for i, (p, n) in enumerate(zip(params, sizes)):
        if p.grad is not None:
            flat[offset:offset + n] = p.grad.reshape(-1)
            flat[total + i] = 1
        offset += n
    comm.allreduce_sum(flat)
    if divide_by != 1.0:
        flat[:total] *= 1.0 / divide_by
    flags = backend.to_numpy(flat[total:])
    offset = 0
    for p, n, flag in zip(params, sizes, flags):
        p.grad = flat[offset:offset + n].reshape(p.shape) if flag > 0 else None
        offset += n


def average_buffers(model, comm):
    """Make the replicas' buffers equal: float buffers (BN running statistics) averaged over the
    ranks with one Allreduce, integer ones (batch counts) taken from rank 0."""
    if comm.size == 1:
        return
    buffers = [(m, name) for m in model.modules() for name in m._buffers]
    floats = [(m, name) for m, name in buffers if m._buffers[name].dtype.kind == "f"]
    if floats:
        xp = backend.xp_of(floats[0][0]._buffers[floats[0][1]])
        flat = xp.concatenate([m._buffers[name].reshape(-1).astype("float64") for m, name in floats])
        comm.allreduce_sum(flat)
        flat /= comm.size
        offset = 0
        for m, name in floats:
            b = m._buffers[name]
            b[...] = flat[offset:offset + b.size].reshape(b.shape)
            offset += b.size
    ints = comm.bcast([backend.to_numpy(m._buffers[name]) for m, name in buffers
                       if m._buffers[name].dtype.kind != "f"])
    for (m, name), value in zip([(m, n) for m, n in buffers if m._buffers[n].dtype.kind != "f"], ints):
        m._buffers[name][...] = backend.xp_of(m._buffers[name]).asarray(value)


# -- synchronised batch norm ----------------------------------------------------
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

    def __init__(self, num_features, eps=1e-5, momentum=0.1, comm=None):
        super().__init__(num_features, eps, momentum)
        self.comm = comm if comm is not None else Communicator()

    def reduce(self, sums):
        if not _contributes[0]:
            sums[...] = 0
        return self.comm.allreduce_sum(sums)

    @classmethod
    def convert(cls, model, comm):
        """Replace every BatchNorm2d of ``model`` by a SyncBatchNorm sharing its parameters and buffers."""
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is BatchNorm2d:
                    sync = cls(child.weight.shape[0], child.eps, child.momentum, comm)
                    sync.weight, sync.bias = child.weight, child.bias
                    for key, value in child.named_buffers():
                        sync.register_buffer(key, value)
                    sync.train(child.training)
                    setattr(parent, name, sync)
        return model
