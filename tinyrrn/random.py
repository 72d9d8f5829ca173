"""One seed for everything random in tinyrrn: parameter initialisation, dropout, shuffling."""
import sys

import numpy

_generator = numpy.random.default_rng(0)


def manual_seed(seed):
    """Seed tinyrrn's generator, NumPy's global state and (when loaded) CuPy's; return the generator.
    Seeds as PyTorch takes them: any int from -2**63 to 2**64 - 1 (a negative one as its 64-bit
    two's complement) or a float (its int part); beyond them PyTorch's ValueError."""
    global _generator
    seed = int(seed)
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError(f"manual_seed: Overflow when unpacking long long: {seed} (as PyTorch)")
    seed %= 2 ** 64
    _generator = numpy.random.default_rng(seed)
    numpy.random.seed(seed % 2**32)
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        try:
            cupy.random.seed(seed)
        except Exception:  # CuPy installed but no usable GPU: nothing to seed
            pass
    return _generator


def generator():
    """The numpy.random.Generator used for parameter initialisation (host memory)."""
    return _generator


def get_state():
    """Everything needed to continue the same random streams, as JSON-serialisable data."""
    name, keys, pos, has_gauss, gauss = numpy.random.get_state()
    return {"generator": _generator.bit_generator.state,
            "numpy": [name, keys.tolist(), pos, has_gauss, gauss]}


def set_state(state):
    """Restore what get_state() returned."""
    _generator.bit_generator.state = state["generator"]
    name, keys, pos, has_gauss, gauss = state["numpy"]
    numpy.random.set_state((name, numpy.array(keys, dtype=numpy.uint32), pos, has_gauss, gauss))
