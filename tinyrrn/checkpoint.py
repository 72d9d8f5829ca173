"""Checkpoints: arrays plus JSON metadata in one .npz, written atomically (temporary file + rename).

A crash while writing never corrupts the previous checkpoint: the new file only
replaces it, by an atomic rename, once it is complete and synced to disk. Only finite
arrays are written: a checkpoint with a NaN or an infinity is refused, naming the array,
and the previous file stays as it was; one read with such an array (altered since) is
refused too, so that no evaluation or resumed run starts from it.
"""
import json
import os

import numpy

from .backend import to_numpy, xp_of
from .pth import ZIP_MAGIC
from .weights import save_npz

META_KEY = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or not a tinyrrn checkpoint."""


def first_non_finite(arrays):
    """The name of the first floating-point array of ``arrays`` (all on one device) holding a NaN or an
    infinity, or None. One device-to-host transfer for all of them."""
    floats = [(name, a) for name, a in arrays.items() if a.dtype.kind == "f" and a.size]
    if not floats:
        return None
    xp = xp_of(floats[0][1])
    finite = to_numpy(xp.stack([xp.isfinite(a).all() for _, a in floats]))
    return next((name for (name, _), ok in zip(floats, finite) if not ok), None)


def save(path, arrays, meta):
    """Write ``arrays`` (name -> NumPy/CuPy array) and JSON-serialisable ``meta`` to ``path`` atomically."""
    state = {name: to_numpy(value) for name, value in arrays.items()}  # on a GPU, some may be on the host already
    bad = first_non_finite(state)
    if bad is not None:
        raise CheckpointError(f"{path}: not written: {bad} holds NaN or infinite values")
    state[META_KEY] = numpy.frombuffer(json.dumps(meta).encode(), dtype=numpy.uint8)
    save_npz(state, path)


def load(path):
    """(arrays, meta) from a checkpoint written by :func:`save`; errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    with open(path, "rb") as file:
        if file.read(len(ZIP_MAGIC)) != ZIP_MAGIC:  # a config.json, a video, ...: NumPy would try it as a pickle
            raise CheckpointError(f"{path}: not a tinyrrn checkpoint (not a .npz archive); expected a run "
                                  "directory or its best.npz or checkpoint.npz")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as err:  # truncated zip, bad header, a pickle, ...
        reason = "an array of Python objects, which tinyrrn never writes" if "pickle" in str(err) else \
            f"{type(err).__name__}: {err}"
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: not a tinyrrn checkpoint (no {META_KEY} entry)")
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except ValueError as err:  # not UTF-8, or not JSON
        raise CheckpointError(f"{path}: its metadata is not readable JSON ({err})") from None
    bad = first_non_finite(arrays)
    if bad is not None:
        raise CheckpointError(f"{path}: {bad} holds NaN or infinite values (tinyrrn writes finite ones only: "
                              "the file was changed or damaged since)")
    return arrays, meta


def prefixed(arrays, prefix):
    """The entries of ``arrays`` under ``prefix/``, with the prefix removed."""
    start = len(prefix) + 1
    return {name[start:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}
