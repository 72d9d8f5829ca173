"""One seed for everything random in tinyrrn: parameter initialisation, dropout, shuffling."""
import json

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
    global _device, _device_seeded
    _device, _device_seeded = [seed, 0], False
    return _generator


# The GPU's generator (CuPy's own) has no state to save: its stream is [manual_seed's seed, step], a step being what
# next_step starts (a training run's batch), and it is seeded from the two at its first use in each step. None
# before any manual_seed.
_device, _device_seeded = None, False


def random_of(xp):
    """``xp.random``, the generator of arrays on xp's device: NumPy's global one, or the GPU's, which takes the last
    manual_seed's seed at its first use after it, as PyTorch's manual_seed seeds every device (CuPy may not be loaded,
    nor a GPU usable, when manual_seed is called); from the step next_step started on, a seed of the seed and step."""
    global _device_seeded
    if xp is not numpy and _device is not None and not _device_seeded:
        seed, step = _device
        xp.random.seed(int.from_bytes(numpy.random.SeedSequence(_device).generate_state(2).tobytes(), "little")
                       if step else seed)
        _device_seeded = True
    return xp.random


def next_step():
    """Start the GPU generator's stream of the next step (O(1): seeded at its first use), so that a run resumed from a
    checkpoint between two steps (get_state) draws what an uninterrupted run draws from there on."""
    global _device_seeded
    if _device is not None:
        _device[1] += 1
        _device_seeded = False


def generator():
    """The numpy.random.Generator used for parameter initialisation (host memory)."""
    return _generator


def get_state():
    """Everything needed to continue the same random streams, as JSON-serialisable data."""
    name, keys, pos, has_gauss, gauss = numpy.random.get_state()
    return {"generator": _generator.bit_generator.state,
            "numpy": [name, keys.tolist(), pos, has_gauss, gauss],
            "device": None if _device is None else list(_device)}


def set_state(state):
    """Restore what get_state() returned (one without "device", of an older tinyrrn, leaves the GPU's as it is)."""
    global _device, _device_seeded
    device = state.get("device", _device)
    if device is not None and not (isinstance(device, list) and len(device) == 2 and all(
            type(n) is int and 0 <= n < 2 ** 64 for n in device)):
        raise ValueError(f"'device' is {json.dumps(device)[:40]}, not [seed, step]")
    _generator.bit_generator.state = state["generator"]
    name, keys, pos, has_gauss, gauss = state["numpy"]
    numpy.random.set_state((name, numpy.array(keys, dtype=numpy.uint32), pos, has_gauss, gauss))
    if device is not _device:
        _device, _device_seeded = list(device), False
