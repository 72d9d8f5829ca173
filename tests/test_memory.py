"""Freed memory is kept for reuse: allocating the same array again costs no page faults."""
import platform
import subprocess
import sys

import pytest

from tinyrrn import memory

COUNT_FAULTS = """
import resource, sys, numpy
if sys.argv[1] == "keep":
    from tinyrrn import memory
    assert memory.keep_freed_memory()
numpy.ones(4_000_000)  # 32 MB: glibc's largest heap block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    numpy.ones(4_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt: Linux with glibc only")
def test_a_freed_array_is_reused_without_page_faults():
    faults = {how: int(subprocess.run([sys.executable, "-c", COUNT_FAULTS, how], capture_output=True, text=True,
                                      check=True).stdout) for how in ("default", "keep")}
    assert faults["default"] > 100 and faults["keep"] < 10  # measured: about 1,300 against 0


def test_keep_freed_memory_says_whether_the_c_library_took_it():
    assert memory.keep_freed_memory() is GLIBC
