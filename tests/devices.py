"""Devices in the tests: the suite runs on the default device (``TINYRRN_DEVICE=gpu python -m pytest``).

``TINYRRN_TEST_STANDIN=1`` makes 'gpu' the strict CuPy stand-in (tests/strict_xp.py) where there is
no GPU (tests/conftest.py applies it). Tests that build inputs with NumPy move them with
``on_device`` and compare through ``host``.
"""
import os

import numpy

import strict_xp
import tinyrrn
from tinyrrn import backend

STANDIN = os.environ.get("TINYRRN_TEST_STANDIN", "").strip() not in ("", "0")
# the real check (CuPy, CUDA, NVRTC, cuBLAS), for tests of it; in a process the suite started (pytest-xdist's
# workers), tests/standin/sitecustomize.py has replaced it already and keeps it as .real
real_load_cupy = getattr(backend._load_cupy, "real", backend._load_cupy)


def use_standin():
    """'gpu' is the strict stand-in in this process and, through tests/standin/sitecustomize.py on
    PYTHONPATH, in every Python process it starts."""
    backend._load_cupy = lambda: strict_xp
    site = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)


def on_device(array):
    """A host array (or list) moved to the default device, for tests that build their inputs with NumPy."""
    return backend.to_device(numpy.asarray(array), backend.get_device())


def host(value):
    """A tensor's data or an array (on any device) as a NumPy array, for comparisons."""
    return backend.to_numpy(value.data if isinstance(value, tinyrrn.Tensor) else value)
