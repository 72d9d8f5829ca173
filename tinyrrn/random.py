"""One seed for everything random in tinyrrn: parameter initialisation, dropout, shuffling."""
import numpy

_generator = numpy.random.default_rng(0)


def manual_seed(seed):
    """Seed tinyrrn's generator, NumPy's global state and (at its next use: random_of) the GPU's; return the generator.
    Seeds as PyTorch takes them: any int from -2**63 to 2**64 - 1 (a negative one as its 64-bit
    two's complement) or a float (its int part); beyond them PyTorch's ValueError."""
    global _generator
    seed = int(seed)
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError(f"manual_seed: Overflow when unpacking long long: {seed} (as PyTorch)")
    seed %= 2 ** 64
    _generator = numpy.random.default_rng(seed)
    numpy.random.seed(seed % 2**32)
    global _device_seed
    _device_seed = seed
    return _generator


_device_seed = None  # manual_seed's seed, not yet given to the GPU's generator


def random_of(xp):
    """``xp.random``, the generator of arrays on xp's device: NumPy's global one, or the GPU's (CuPy's own), which
    takes the last manual_seed's seed at its first use after it, as PyTorch's manual_seed seeds every device (CuPy
    may not be loaded, nor a GPU usable, when manual_seed is called)."""
    global _device_seed
    if xp is not numpy and _device_seed is not None:
        xp.random.seed(_device_seed)
        _device_seed = None
    return xp.random


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
