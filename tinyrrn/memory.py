"""Freed memory stays with the process, for the next array of the same size.

NumPy allocates every array with the C library's malloc. glibc's malloc hands blocks above a
threshold (128 KB at first, rising with use to at most 32 MB) straight to the kernel and back
(mmap / munmap), and gives the top of its heap back whenever enough of it is free. A training
step frees and allocates arrays of the same sizes over and over, so each step then asks the
kernel for fresh pages again: a page fault and a page of zeros for every 4 KB touched.
Measured on 2 cores: a ResNet-50 training step (batch 8, 224x224) took 81,000 minor page faults
and 0.4-0.5 s of system time; the built-in job 310,000 faults and 1.0 s per epoch and model.
With the threshold at glibc's largest and no trimming: 0-30 faults and 0.01-0.05 s per step.

Elsewhere (macOS, musl) this does nothing.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1        # mallopt parameters (glibc's malloc.h)
M_MMAP_THRESHOLD = -3
LARGEST_HEAP_BLOCK = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems
NEVER_TRIM = 2 ** 31 - 1       # bytes of free heap top kept before any is returned (an int's maximum)


def keep_freed_memory():
    """Ask glibc's malloc to serve blocks up to 32 MB from its heap and to keep freed memory for reuse.

    Returns True when the C library took both settings, False where it has no mallopt (not glibc).
    The process's resident memory then stays at its peak instead of shrinking between steps.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGEST_HEAP_BLOCK)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
