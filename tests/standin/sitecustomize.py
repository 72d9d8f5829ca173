"""Test-only: in a Python process started by the test suite under TINYRRN_TEST_STANDIN=1, device
'gpu' is the strict CuPy stand-in (tests/strict_xp.py), as in the suite's own process.

tests/conftest.py puts this folder on PYTHONPATH in that mode only; Python imports a module of this
name at start-up (the site module), before any of the child's code runs.
"""
import os
import sys

if os.environ.get("TINYRRN_TEST_STANDIN", "").strip() not in ("", "0"):
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: strict_xp
    import strict_xp
    from tinyrrn import backend

    def load_standin():
        return strict_xp

    load_standin.real = backend._load_cupy  # for the tests of the real check (tests/devices.py)
    backend._load_cupy = load_standin
