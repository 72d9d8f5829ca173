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
