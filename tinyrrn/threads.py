"""How many threads tinyrrn computes with: one setting for every thread pool of the package.

``TINYRRN_THREADS`` (or :func:`set_threads`, or a job's ``--threads`` flag) sets it; the
default is the number of cores this process may run on. BLAS and OpenMP pools (NumPy's
OpenBLAS or MKL) are limited to it through threadpoolctl, so a busy machine is never
asked for more threads than the user allowed.
"""
import os

import threadpoolctl

_threads = None
_limiter = None


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
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"TINYRRN_THREADS={text!r}: expected a positive whole number of threads")
    return int(text)


def set_threads(count=None):
    """Use ``count`` threads (None: TINYRRN_THREADS, else every available core); returns the count."""
    global _threads, _limiter
    count = _from_environment() if count is None else int(count)
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count}")
    if _limiter is not None:
        _limiter.restore_original_limits()
    _limiter = threadpoolctl.threadpool_limits(limits=count)
    _threads = count
    return count


def get_threads():
    """The thread count in use (set from TINYRRN_THREADS on first use)."""
    return _threads if _threads is not None else set_threads()
