import numpy
import pytest

import tinyrrn


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
