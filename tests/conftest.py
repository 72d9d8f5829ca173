"""Shared fixtures.

Reference oracles (PyTorch, CuPy, MPI) are never dependencies: a test that needs one asks for
the ``torch``, ``cupy`` or ``mpiexec`` fixture, is skipped with a reason naming what to install
when it is missing, and is marked ``oracle`` so that CI can run just those tests after
installing ``pip install ".[oracle]"`` (``python -m pytest -m oracle``).
"""
import os
import shutil
import sys

import numpy
import pytest

import tinyrrn

ORACLE_FIXTURES = ("torch", "cupy", "mpiexec")
INSTALL = 'pip install ".[oracle]"'


def pytest_configure(config):
    config.addinivalue_line("markers", "oracle: needs a reference oracle (PyTorch, CuPy or MPI): "
                                       f"{INSTALL}, then python -m pytest -m oracle")


def pytest_collection_modifyitems(items):
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in ORACLE_FIXTURES):
            item.add_marker(pytest.mark.oracle)


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
    """Every test starts from the same random state."""
    tinyrrn.random.manual_seed(0)
    yield


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
