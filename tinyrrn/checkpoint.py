"""Checkpoints: arrays plus JSON metadata in one .npz, written atomically (temporary file + rename).

A crash while writing never corrupts the previous checkpoint: the new file only
replaces it, by an atomic rename, once it is complete and synced to disk. Only finite
arrays are written: a checkpoint with a NaN or an infinity is refused, naming the array,
and the previous file stays as it was; one read with such an array (altered since) is
refused too, so that no evaluation or resumed run starts from it.
"""
import hashlib
import json
import os

import numpy

from .backend import to_numpy, xp_of
from .cli import UsageError
from .pth import ZIP_MAGIC
from .weightfiles import EMPTY_ZIP_MAGIC, WeightsError, arrays_of, negative_variance, refuse_unusable_dtypes, save_npz

META_KEY = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or not a tinyrrn checkpoint."""


class NotACheckpoint(CheckpointError, UsageError):
    """A path that names no checkpoint (missing, a folder, another kind of file): a usage error (exit status 2), as
    train --resume or --weights of such a path; a checkpoint damaged since it was written stays a CheckpointError."""


def first_non_finite(arrays):
    """The name of the first floating-point array of ``arrays`` (all on one device) holding a NaN or an
    infinity, or None. One device-to-host transfer for all of them."""
    floats = [(name, a) for name, a in arrays.items() if a.dtype.kind == "f" and a.size]
    if not floats:
        return None
    xp = xp_of(floats[0][1])
    finite = to_numpy(xp.stack([xp.isfinite(a).all() for _, a in floats]))
    return next((name for (name, _), ok in zip(floats, finite) if not ok), None)


def weights_digest(arrays):
    """A short digest of named arrays or Tensors (a model's state_dict, name -> Tensor): equal exactly when every
    name, dtype, shape and value is. It ties best.npz and the test reports to the weights they are of."""
    digest = hashlib.sha256()
    arrays = arrays_of(arrays)
    for name in sorted(arrays):
        array = numpy.ascontiguousarray(to_numpy(arrays[name]))
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.data)
    return digest.hexdigest()[:16]


def save(path, arrays, meta):
    """Write ``arrays`` (name -> NumPy/CuPy array or Tensor) and JSON-serialisable ``meta`` to ``path`` atomically,
    as host arrays."""
    state = {name: to_numpy(value) for name, value in arrays_of(arrays).items()}  # on a GPU, some on the host already
    bad = first_non_finite(state)
    if bad is not None:
        raise CheckpointError(f"{path}: not written: {bad} holds NaN or infinite values")
    state[META_KEY] = numpy.frombuffer(json.dumps(meta).encode(), dtype=numpy.uint8)
    save_npz(state, path)


def load(path):
    """(arrays, meta) from a checkpoint written by :func:`save`; errors name the file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise NotACheckpoint(f"{path}: a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise NotACheckpoint(f"{path}: no such checkpoint")
    with open(path, "rb") as file:
        head = file.read(len(ZIP_MAGIC))
        if head == EMPTY_ZIP_MAGIC:
            raise NotACheckpoint(f"{path}: holds no tensors (an empty .npz), not a tinyrrn checkpoint")
        if head != ZIP_MAGIC:  # a config.json, a video, ...: NumPy would try it as a pickle
            raise NotACheckpoint(f"{path}: not a tinyrrn checkpoint (not a .npz archive); expected a run "
                                  "directory or its best.npz or checkpoint.npz")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as err:  # truncated zip, bad header, a pickle, ...
        reason = "an array of Python objects, which tinyrrn never writes" if "pickle" in str(err) else \
            f"{type(err).__name__}: {err}"
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if META_KEY not in arrays:
        raise NotACheckpoint(f"{path}: not a tinyrrn checkpoint (no {META_KEY} entry): a file of weights alone? a "
                              "checkpoint is a run's best.npz or checkpoint.npz; weights start a run with "
                              "python -m tinyrrn.train --weights FILE")
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except ValueError as err:  # not UTF-8, or not JSON
        raise CheckpointError(f"{path}: its metadata is not readable JSON ({err})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its metadata is {json.dumps(meta)[:40]}, not a JSON object (tinyrrn writes "
                              "one: the file was changed or damaged since)")
    try:
        refuse_unusable_dtypes(arrays, path)
    except WeightsError as err:
        raise CheckpointError(f"{err} (tinyrrn writes none: the file was changed or damaged since)") from None
    bad = first_non_finite(arrays)
    if bad is not None:
        raise CheckpointError(f"{path}: {bad} holds NaN or infinite values (tinyrrn writes finite ones only: "
                              "the file was changed or damaged since)")
    negative = negative_variance(arrays)
    if negative is not None:
        raise CheckpointError(f"{path}: {negative} holds negative values, which no variance can be (the file was "
                              "changed or damaged since)")
    return arrays, meta


def check_meta(path, meta, kinds):
    """Refuse metadata lacking a key of ``kinds`` ({key: type or tuple of types}), or holding a value of
    another type there, naming the file and the key (a checkpoint of an older tinyrrn, or a damaged one)."""
    for key, kind in kinds.items():
        if key not in meta:
            raise CheckpointError(f"{path}: its metadata has no {key!r} (written by an older tinyrrn, or changed "
                                  "since)")
        value, types = meta[key], kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):  # True is no count
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise CheckpointError(f"{path}: its metadata's {key!r} is {json.dumps(value)[:40]}, not {names}")


def prefixed(arrays, prefix):
    """The entries of ``arrays`` under ``prefix/``, with the prefix removed."""
    start = len(prefix) + 1
    return {name[start:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}
