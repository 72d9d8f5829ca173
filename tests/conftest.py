"""Shared fixtures.

Reference oracles (PyTorch, CuPy, MPI) are never dependencies: a test that needs one asks for
the ``torch``, ``cupy`` or ``mpiexec`` fixture, is skipped with a reason naming what to install
when it is missing, and is marked ``oracle`` so that CI can run just those tests after
installing ``pip install ".[oracle]"`` (``python -m pytest -m oracle``).

Devices: ``TINYRRN_DEVICE=gpu python -m pytest`` runs the suite with the GPU as the default
device (tests build their arrays there, or compare through ``backend.to_numpy``). Without a
GPU, ``TINYRRN_TEST_STANDIN=1`` (with ``TINYRRN_DEVICE=gpu``) makes 'gpu' the strict CuPy
stand-in (tests/strict_xp.py) in this process and in every Python process the tests start
(tests/devices.py). Tests that only make sense on host arrays are marked ``cpu_only`` and
skipped when the default device is the GPU.
"""
import os
import shutil
import signal
import sys

import numpy
import pytest

import devices
import strict_xp
import tinyrrn
from tinyrrn import backend, threads
from tinyrrn import train as training

if devices.STANDIN:
    devices.use_standin()
try:
    ON_GPU = backend.get_device() == "gpu"
except RuntimeError as err:  # TINYRRN_DEVICE=gpu without a usable GPU
    raise pytest.UsageError(f"TINYRRN_DEVICE: {err}; without a GPU, TINYRRN_TEST_STANDIN=1 runs the suite "
                            "on the strict CuPy stand-in") from None

ORACLE_FIXTURES = ("torch", "cupy", "mpiexec")
INSTALL = 'pip install ".[oracle]"'


def pytest_configure(config):
    config.addinivalue_line("markers", "oracle: needs a reference oracle (PyTorch, CuPy or MPI): "
                                       f"{INSTALL}, then python -m pytest -m oracle")
    config.addinivalue_line("markers", "cpu_only(reason): about host arrays only; skipped when the default "
                                       "device is the GPU (TINYRRN_DEVICE=gpu)")


def pytest_report_header(config):
    return (f"tinyrrn default device: {backend.get_device()}"
            + (" (the strict CuPy stand-in, TINYRRN_TEST_STANDIN)" if devices.STANDIN and ON_GPU else ""))


def pytest_collection_modifyitems(items):
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in ORACLE_FIXTURES):
            item.add_marker(pytest.mark.oracle)
        marker = item.get_closest_marker("cpu_only")
        if marker is not None and ON_GPU:
            item.add_marker(pytest.mark.skip(reason="host arrays only (default device: gpu): "
                                                    + (marker.args[0] if marker.args else "")))


def import_oracle(name, what):
    return pytest.importorskip(name, reason=f"needs {what} as a reference oracle: {INSTALL}")


@pytest.fixture(scope="session")
def torch():
    """PyTorch (CPU), the reference for forward values and gradients."""
    return import_oracle("torch", "PyTorch")


@pytest.fixture(scope="session")
def cupy():
    """CuPy's namespace (importable without a GPU), the reference for array-module names."""
    return import_oracle("cupy", "CuPy")


@pytest.fixture(scope="session")
def mpiexec():
    """The mpiexec next to this Python (the mpich wheel's), else on PATH."""
    import_oracle("mpi4py", "mpi4py and an MPI library")
    found = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = found if os.path.isfile(found) else shutil.which("mpiexec")
    if not found:
        pytest.skip(f"needs mpiexec (the mpich wheel): {INSTALL}")
    return found


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state (and on the session's default device: a
    command line run in-process sets the device from its --device, as it must)."""
    device = backend.get_device()
    tinyrrn.random.manual_seed(0)
    yield
    backend.set_device(device)


@pytest.fixture(scope="session")
def _session_threads():
    return threads.get_threads()


@pytest.fixture(autouse=True)
def _strict_gradcheck(monkeypatch):
    """The suite's gradient checks hold to rtol 1e-4, ten times tighter than PyTorch's default, which
    tinyrrn.gradcheck takes for its users: every op here passes it in float64."""
    monkeypatch.setitem(tinyrrn.gradcheck.__kwdefaults__, "rtol", 1e-4)


@pytest.fixture(autouse=True)
def _default_threads(_session_threads):
    """Every test ends with the session's thread count (TINYRRN_THREADS, else every core), whatever it
    or a command run in-process set: tests set_threads freely."""
    yield
    if threads.get_threads() != _session_threads:
        threads.set_threads()


@pytest.fixture
def strict_gpu(monkeypatch):
    """'gpu' is the strict CuPy stand-in (tests/strict_xp.py) for this test; the default device is unchanged."""
    monkeypatch.setattr(backend, "_load_cupy", lambda: strict_xp)
    return strict_xp


@pytest.fixture
def on_strict_gpu(strict_gpu, monkeypatch):
    """The strict stand-in as the default device for this test."""
    monkeypatch.setattr(backend, "_default_device", "gpu")
    return strict_gpu


@pytest.fixture
def sigint_at_batch(monkeypatch):
    """disarm = sigint_at_batch(n): the n-th loss the trainer computes sends this process SIGINT
    (Ctrl-C); disarm() puts the trainer's loss back."""
    def arm(n):
        calls, original = {"n": 0}, training.F.cross_entropy

        def interrupting(*args):
            calls["n"] += 1
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGINT)
            return original(*args)
        monkeypatch.setattr(training.F, "cross_entropy", interrupting)
        return lambda: monkeypatch.setattr(training.F, "cross_entropy", original)
    return arm


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny synthetic dataset: 4 classes x 5 groups x 2 clips of 32x24 videos (g01 is the test group)."""
    from tinyrrn.data import synthetic
    root = tmp_path_factory.mktemp("tiny") / "data"
    synthetic.generate(str(root), seed=1, classes=4, groups=5, clips=2, size=(32, 24), frames=(21, 41))
    return str(root)
