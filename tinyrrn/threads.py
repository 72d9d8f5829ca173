"""How many threads tinyrrn computes with: one setting for every thread pool of the package.

``TINYRRN_THREADS`` (or :func:`set_threads`, or a job's ``--threads`` flag) sets it; the
default is the number of cores this process may run on.

tinyrrn spreads its own work over that many threads: a large matrix product or element-wise
pass is cut into blocks of rows, and the calling thread and a small persistent pool of helper
threads take the blocks in turn (NumPy releases the GIL inside matrix-matrix products, ufunc
loops and einsum, so the blocks run at the same time; not inside a vector-matrix product, which a
block must therefore not use). The BLAS library (NumPy's OpenBLAS or MKL) is limited to one
thread per call through threadpoolctl. Why not let BLAS split its products itself: a product
split by the library waits for every one of its threads, and when another program holds a
core, one of them is descheduled and each small product waits for it -- on a busy 2-core
machine the built-in training job ran 3-5x slower with two OpenBLAS threads than with one.
Blocks taken in turn cannot stall that way: when a helper gets no core, the calling thread
takes every block itself, as fast as with one thread. Work below a size threshold runs inline,
where handing it to another thread would cost more than it saves.

On CuPy arrays none of this applies: each function here calls the operation once, whole, and
the GPU runs it as one kernel; an element-wise chain (:func:`elementwise`, :func:`update_in_place`)
is compiled to one kernel by ``cupy.fuse``.
"""
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy
import threadpoolctl

from . import backend

# Below these sizes a block is not worth handing to another thread (measured on 2 cores:
# waking a helper costs tens of microseconds; see benchmarks/threads.py).
MIN_BLOCK_ELEMENTS = 1 << 17   # element-wise work on one thread: 128k values per block
MIN_BLOCK_FLOPS = 1 << 25      # matrix products: 32 MFLOP per block
UPDATE_BLOCK_ELEMENTS = 1 << 15  # an optimiser's update on one thread: 128 KB of float32 per array and block
# On several threads, element-wise blocks and updates are 4x larger: on small blocks each NumPy
# operation takes a few microseconds, and handing the GIL from thread to thread as long again.
# Measured on 2 cores: Adam on ResNet-50 99 ms with 128 KB blocks, 76 ms with 512 KB (one thread: 81
# and 101 ms); batch norm + ReLU forward and backward on ResNet-50's shapes 61 against 57 ms.
SHARED_BLOCK_SCALE = 4
# Partial sums take blocks 2x larger (256k values) on any number of threads, so that their sums come
# in the same order, and the results are the same, whatever the thread count (batch norm on 2
# threads: 57 ms with 128k, 53 ms with 256k; the same on one).
REDUCTION_BLOCK_SCALE = 2
BLOCKS_PER_THREAD = 2          # more blocks than threads, so a thread that starts late takes fewer
# Work worth sharing is cut into a multiple of the thread count: far more threads than cores only cut it into
# smaller blocks (one per row) for threads that wait for a core. A few per core are allowed (a test of two threads
# on one core); more are refused.
MAX_THREADS_PER_CORE = 4

_threads = None
_limiter = None
_helpers = None                # ThreadPoolExecutor of get_threads() - 1 helper threads
_inside = threading.local()    # .running is True in a thread running a task: nested splits run inline


def available_cores():
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _from_environment():
    text = os.environ.get("TINYRRN_THREADS", "").strip()
    if not text:
        return available_cores()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:  # ('²'.isdigit(), but int('²') fails)
        raise ValueError(f"TINYRRN_THREADS={text!r}: expected a positive whole number of threads")
    return int(text)


def set_threads(count=None):
    """Use ``count`` threads (None: TINYRRN_THREADS, else every available core); returns the count.

    Sizes tinyrrn's pool to ``count`` threads (the caller and count - 1 helpers), limits the
    BLAS library to one thread per call, and OpenMP pools (if any are loaded) to ``count``.
    """
    global _threads, _limiter, _helpers
    from_environment = count is None
    count = _from_environment() if from_environment else int(count)
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count}")
    most = MAX_THREADS_PER_CORE * available_cores()
    if count > most:
        given = f"TINYRRN_THREADS={str(count)!r}" if from_environment else f"{count} threads"
        raise ValueError(f"{given}: more than {most} ({MAX_THREADS_PER_CORE} per core of the {available_cores()} "
                         "this process may run on): more threads than cores only wait for one")
    if _limiter is not None:
        _limiter.restore_original_limits()
    _limiter = threadpoolctl.threadpool_limits(limits={"blas": 1, "openmp": count})
    if _helpers is not None:
        _helpers.shutdown(wait=True)
    _helpers = ThreadPoolExecutor(count - 1, thread_name_prefix="tinyrrn",
                                  initializer=_mark_helper) if count > 1 else None
    _threads = count
    return count


def get_threads():
    """The thread count in use (set from TINYRRN_THREADS on first use)."""
    return _threads if _threads is not None else set_threads()


def _mark_helper():
    _inside.running = True


def run_tasks(tasks):
    """Call every zero-argument function of ``tasks``, spread over the pool; their results in order.

    The calling thread and the helpers take tasks in turn until none is left. The caller then
    waits only for tasks a helper has started, never for a helper that has not started yet
    (on a busy machine it may get a core much later; it then finds nothing left to do). A task
    that itself splits work runs its parts inline, on its own thread. The first exception a
    task raises is raised here, after every started task has finished.
    """
    helpers = min(get_threads() - 1, len(tasks) - 1)
    if helpers < 1 or getattr(_inside, "running", False):
        return [task() for task in tasks]
    batch = _Batch(tasks)
    for _ in range(helpers):
        _helpers.submit(batch.help)
    _inside.running = True
    try:
        batch.take_tasks()
    finally:
        _inside.running = False
    return batch.results()


class _Batch:
    """Tasks taken in turn by several threads; counts of started and finished ones under one lock."""

    def __init__(self, tasks):
        self.tasks, self.outputs, self.errors = tasks, [None] * len(tasks), []
        self.started = self.finished = 0
        self.changed = threading.Condition()
        self.numpy_errors = numpy.geterr()  # the caller's: NumPy's error state is per thread

    def help(self):
        """take_tasks on a helper thread, under the caller's NumPy error state (a quiet op's blocks stay quiet)."""
        with numpy.errstate(**self.numpy_errors):
            self.take_tasks()

    def take_tasks(self):
        while True:
            with self.changed:
                if self.started == len(self.tasks) or self.errors:
                    return
                i = self.started
                self.started += 1
            try:
                self.outputs[i] = self.tasks[i]()
            except BaseException as error:  # handed to the caller by results()
                with self.changed:
                    self.errors.append(error)
            with self.changed:
                self.finished += 1
                self.changed.notify_all()

    def results(self):
        """Wait for every started task (no new one starts: the caller's loop has ended); the outputs."""
        with self.changed:
            self.changed.wait_for(lambda: self.finished == self.started)
        if self.errors:
            raise self.errors[0]
        return self.outputs


def _shared_scale():
    """How many times larger element-wise blocks are on this many threads (SHARED_BLOCK_SCALE or 1)."""
    return SHARED_BLOCK_SCALE if get_threads() > 1 else 1


def _block_count(length, work, min_work, most=None):
    """How many blocks (at most ``most``) to cut ``length`` rows holding ``work`` units into: 1 when small."""
    return max(1, min(length, int(work // min_work), most or length))


def _shared_blocks(length, work, min_work, most=None):
    """How many blocks to cut work that is worth sharing (``work`` at least ``min_work``) into: a multiple of
    the thread count (at most ``length``), so that no thread waits on another's last block (3 blocks on 2
    threads take as long as 4); 1 when small. Their sizes (:func:`_block_edges`) then differ by a row
    at most, the larger ones first, taken first."""
    if work < min_work:
        return 1
    share = get_threads()
    blocks = _block_count(length, work, min_work, most)
    return min(length, -(-blocks // share) * share)


def _block_edges(length, blocks):
    """``blocks`` + 1 boundaries that cut range(length) into parts whose sizes differ by one at most, the
    larger first (taken first by the threads: 8 rows in 6 blocks run as 2+1+1 rows on each of 2 threads,
    not 2+2 on one)."""
    size, larger = divmod(length, blocks)
    return [i * size + min(i, larger) for i in range(blocks + 1)]


def split_rows(fn, *arrays, min_block=None):
    """``fn`` applied to matching blocks of rows (axis 0) of ``arrays``, in parallel when large.

    Returns the list of ``fn``'s results, one per block (one block, the whole arrays, when
    they are small, on one thread, or on a GPU). ``fn`` must treat rows independently --
    element-wise work, writing into an output passed as one of the arrays. ``min_block``: the
    fewest elements (of the first array) worth a block of their own (default MIN_BLOCK_ELEMENTS,
    SHARED_BLOCK_SCALE times more on several threads); the number of blocks is a multiple of the
    thread count (:func:`_shared_blocks`). Blocks of about that size also keep a function that
    makes several passes over its block working in the cache, so they are cut even on one thread.
    Partial sums take :func:`sum_rows`, whose blocks do not depend on the thread count.
    """
    first = arrays[0]
    if backend.xp_of(first) is not numpy or first.ndim == 0:
        return [fn(*arrays)]
    min_block = min_block or MIN_BLOCK_ELEMENTS * _shared_scale()
    return _on_row_blocks(fn, arrays, _shared_blocks(first.shape[0], first.size, min_block))


def _on_row_blocks(fn, arrays, blocks):
    """``fn`` of each of ``blocks`` matching blocks of rows of ``arrays``, over the pool; their results."""
    if blocks == 1:
        return [fn(*arrays)]
    edges = _block_edges(arrays[0].shape[0], blocks)
    return run_tasks([lambda lo=lo, hi=hi: fn(*(a[lo:hi] for a in arrays))
                      for lo, hi in zip(edges, edges[1:])])


@functools.lru_cache(maxsize=None)
def fused(kernel, xp):
    """``kernel`` compiled by ``xp.fuse`` (CuPy: one GPU kernel for the whole chain), once per kernel."""
    return xp.fuse(kernel)


def elementwise(kernel, *operands, out=None):
    """``kernel(*operands, out)``, an element-wise chain, run as one pass over memory; returns ``out``
    (default: a new array shaped and laid out like the first operand).

    The kernel is a plain function of arrays and numbers, written with operators, in-place
    updates and the array module's ufuncs (``backend.xp_of``), that writes its result into its
    last argument ``out`` and returns nothing. It is written once for both devices: on the CPU
    it runs as it is, on matching blocks of rows over the pool (operands shaped like ``out``
    are cut, per-channel vectors and numbers go whole), each block's temporaries small enough
    for the cache; on a GPU ``cupy.fuse`` compiles it to one kernel (:func:`fused`).
    """
    first = operands[0]
    xp = backend.xp_of(first)
    if out is None:
        out = xp.empty_like(first)
    if xp is numpy:
        cut = [getattr(a, "shape", None) == out.shape for a in operands]

        def on_blocks(*blocks):  # the blocks of the cut operands and of out, in order
            blocks = iter(blocks)
            kernel(*(next(blocks) if c else a for a, c in zip(operands, cut)), next(blocks))
        split_rows(on_blocks, *(a for a, c in zip(operands, cut) if c), out)
    else:
        fused(kernel, xp)(*operands, out)
    return out


def update_in_place(kernel, arrays_per_call, *numbers):
    """``kernel(*arrays, *numbers)`` for every tuple of same-shaped ``arrays`` (an optimiser's
    parameter, gradient and buffers): an element-wise chain that updates some of them in place.

    On the CPU the blocks of rows of every call (about UPDATE_BLOCK_ELEMENTS values each, on
    several threads SHARED_BLOCK_SCALE times more) go to the pool together, so that small
    parameters fill the threads too; on a GPU, one fused kernel per call."""
    arrays_per_call = list(arrays_per_call)
    if arrays_per_call and backend.xp_of(arrays_per_call[0][0]) is not numpy:
        for arrays in arrays_per_call:
            fused(kernel, backend.xp_of(arrays[0]))(*arrays, *numbers)
        return
    elements = UPDATE_BLOCK_ELEMENTS * _shared_scale()
    run_tasks([lambda block=block: kernel(*block, *numbers)
               for arrays in arrays_per_call for block in _row_blocks(arrays, elements)])


def _row_blocks(arrays, elements):
    """Same-shaped arrays cut into matching blocks of rows of about ``elements`` values."""
    first = arrays[0]
    if first.ndim == 0 or first.size <= elements:
        return [arrays]
    rows = max(1, elements * first.shape[0] // first.size)
    return [tuple(a[lo:lo + rows] for a in arrays) for lo in range(0, first.shape[0], rows)]


def sum_rows(kernel, *arrays):
    """The sum over blocks of rows of ``kernel(*blocks)``, a per-block reduction (e.g. column sums of a
    (rows, C) block): partial sums on the pool's threads, then added; blocks of the same size whatever
    the thread count (MIN_BLOCK_ELEMENTS * REDUCTION_BLOCK_SCALE), so the same sums. One call on a GPU."""
    first = arrays[0]
    if backend.xp_of(first) is not numpy:
        return kernel(*arrays)
    blocks = _block_count(first.shape[0], first.size, MIN_BLOCK_ELEMENTS * REDUCTION_BLOCK_SCALE)
    return sum(_on_row_blocks(kernel, arrays, blocks))


def matmul(a, b, out=None):
    """``a @ b`` for matrices, or stacks of them (equal leading size), split over the threads when
    large; into ``out`` when given.

    The longer side of each result is cut into blocks (rows of ``a``, or columns of ``b``):
    each block is an independent BLAS call on one thread, writing its part of ``out``.
    """
    xp = backend.xp_of(a)
    if a.ndim != b.ndim or a.ndim not in (2, 3) or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: expected matrices (m, k) and (k, n), or stacks (s, m, k) and (s, k, n), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    if out is None:
        out = xp.empty(a.shape[:-1] + b.shape[-1:], dtype=xp.result_type(a, b))
    if xp is not numpy:
        return xp.matmul(a, b, out=out)
    stack = [(a, b, out)] if a.ndim == 2 else list(zip(a, b, out))
    run_tasks([task for a_i, b_i, out_i in stack for task in _product_blocks(a_i, b_i, out_i)])
    return out


def _product_blocks(a, b, out):
    """Tasks that compute out = a @ b (NumPy matrices) block by block; one task when small."""
    (m, k), n = a.shape, b.shape[1]
    rows = m >= n
    blocks = _shared_blocks(m if rows else n, 2 * m * n * k, MIN_BLOCK_FLOPS, BLOCKS_PER_THREAD * get_threads())
    edges = _block_edges(m if rows else n, blocks)
    if rows:
        return [lambda lo=lo, hi=hi: numpy.matmul(a[lo:hi], b, out=out[lo:hi]) for lo, hi in zip(edges, edges[1:])]
    return [lambda lo=lo, hi=hi: numpy.matmul(a, b[:, lo:hi], out=out[:, lo:hi]) for lo, hi in zip(edges, edges[1:])]
