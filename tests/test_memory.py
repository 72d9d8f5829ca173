"""Freed memory is kept for reuse by tinyrrn's commands: allocating the same array again costs no
page faults. Importing tinyrrn alone leaves the C library's malloc as it was."""
import os
import subprocess
import sys

import pytest

from tinyrrn import backend, cli, memory, threads

COUNT_FAULTS = """
import resource, sys, numpy
import tinyrrn
if sys.argv[1] == "keep":
    from tinyrrn import memory
    assert memory.keep_freed_memory()
numpy.ones(4_000_000)  # 32 MB: glibc's largest heap block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    numpy.ones(4_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


GLIBC = glibc()


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt: Linux with glibc only")
def test_a_freed_array_is_reused_without_page_faults_and_import_alone_changes_nothing():
    faults = {how: int(subprocess.run([sys.executable, "-c", COUNT_FAULTS, how], capture_output=True, text=True,
                                      check=True).stdout) for how in ("import", "keep")}
    # measured: 92 to 1,300 against 0 (transparent huge pages make fewer, larger faults): at least 5 for each
    # of the ten 32 MB allocations without keeping, against none once freed memory is kept
    assert faults["import"] >= 50 and faults["keep"] < 10


def test_keep_freed_memory_says_whether_the_c_library_took_it():
    assert memory.keep_freed_memory() is GLIBC


def test_the_commands_keep_freed_memory(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(True))
    cli.use_compute(backend.get_device(), threads.get_threads())
    assert calls == [True]
