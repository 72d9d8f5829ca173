"""Weights files: read (``.npz``, ``.pth``), save, load into a model, and the checks their tensors pass.

tinyrrn keeps weights in NumPy ``.npz`` files whose keys are torchvision's
state_dict names, so a torchvision ResNet-50 checkpoint converts one to one.
``.pth`` files are read by :mod:`tinyrrn.pth` without torch and without running
any code the file might carry. :mod:`tinyrrn.weights` is the command that
converts and inspects them, and the public home of these names.
"""

import zipfile
from collections import OrderedDict

import numpy as np

from .backend import to_numpy, xp_of
from .files import atomic_write, refuse_special_file
from .pth import ZIP_MAGIC, WeightsError, read_pth, strip_prefix
from .tensor import Tensor


# Buffers that a state_dict holds but that are not trained parameters.
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
_INTEGER_BUFFERS = ("num_batches_tracked",)  # the one integer tensor of a model's state_dict
EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # a zip archive without members starts with its end record


def read_weights(path, allow_expand=False):
    """Read a ``.pth`` or ``.npz`` file (told apart by content) into name -> ndarray
    (``allow_expand``: see tinyrrn.pth); DataParallel's ``module.`` prefix is stripped from either."""
    path = str(path)
    refuse_special_file(path)  # a pipe's read would never end
    with open(path, "rb") as file:
        head = file.read(len(ZIP_MAGIC))
    if head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):  # a zip: .npz, or a zip-format .pth
        return strip_prefix(_read_npz(path), "module.") if _is_npz(path) else read_pth(path, allow_expand)
    if head[:1] == b"\x80":  # a pickle (protocol 2 or later): a legacy-format .pth
        return read_pth(path, allow_expand)
    raise WeightsError(f"{path}: not a weights file (neither a PyTorch .pth nor a NumPy .npz)")


def _is_npz(path):
    """True when the zip archive at ``path`` holds only ``.npy`` members."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as error:
        raise WeightsError(f"{path}: corrupt or truncated zip archive: {error}") from error
    return all(name.endswith(".npy") for name in names)


def _read_npz(path):
    """Read every array of an ``.npz`` file, refusing pickled object arrays, members that are not arrays and
    a file without any."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = OrderedDict((name, npz[name]) for name in npz.files)
    except Exception as error:  # any failure parsing untrusted bytes
        raise WeightsError(f"{path}: cannot read .npz: {type(error).__name__}: {error}") from error
    odd = next((name for name, value in arrays.items() if not isinstance(value, np.ndarray)), None)
    if odd is not None:  # NumPy returns the raw bytes of a member that is not in .npy format
        raise WeightsError(f"{path}: member {odd}.npy is not a NumPy array (.npy format); not a weights file")
    if not arrays:
        raise WeightsError(f"{path}: holds no tensors (an empty .npz)")
    return arrays


def arrays_of(state):
    """name -> array of a state_dict whose values are Tensors (a model's) or arrays (a file's): each Tensor's own
    array, shared."""
    return {name: value.data if isinstance(value, Tensor) else value for name, value in state.items()}


def save_npz(model_or_state, path):
    """Write a model's state_dict (or a mapping of Tensors or arrays) to ``path`` atomically
    (tinyrrn.files.atomic_write: a crash never leaves a half-written file), as host arrays."""
    state = arrays_of(model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state)
    with atomic_write(path, "wb") as file:
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
            for name, value in state.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, to_numpy(value), allow_pickle=False)


def unusable_dtype(name, value):
    """True when ``value`` (the tensor ``name``) is no tensor of weights: of a dtype that is not a real floating
    one (an integer one only for an integer buffer, ``num_batches_tracked``). Complex, bool, text, date or record
    tensors would be cast silently to the model's floats (complex ones losing their imaginary part)."""
    kind = value.dtype.kind
    return not (kind == "f" or (kind in "iu" and name.endswith(_INTEGER_BUFFERS)))


def refuse_unusable_dtypes(state, path, doing="load"):
    """Refuse the first tensor of ``state`` of an unusable dtype (``unusable_dtype``), naming file, key and dtype."""
    name = next((name for name, value in state.items() if unusable_dtype(name, value)), None)
    if name is not None:
        raise WeightsError(f"{path}: {name} is a tensor of {state[name].dtype}, not of real floating-point "
                           f"numbers (nor an integer buffer such as num_batches_tracked); refusing to {doing} it")


def check_finite(state, path, doing="load"):
    """Refuse weights no trained model holds, naming the first such tensor: one of a dtype that is not a real
    floating one (refuse_unusable_dtypes), NaN or infinite values, or a negative batch-norm running variance
    (finite, but every output through it would be NaN). ``doing``: what is refused ("load", "convert")."""
    refuse_unusable_dtypes(state, path, doing)
    for name, value in state.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise WeightsError(f"{path}: {name} holds {int((~np.isfinite(value)).sum())} NaN or infinite "
                               f"value(s); refusing to {doing} it")
    negative = negative_variance(state)
    if negative is not None:
        raise WeightsError(f"{path}: {negative} holds negative values, which no variance can be; refusing to "
                           f"{doing} it")


def negative_variance(state):
    """The name of the first batch-norm running variance (``*running_var``) of ``state`` holding a value below 0, or None."""
    return next((name for name, value in state.items()
                 if name.endswith("running_var") and bool((to_numpy(value) < 0).any())), None)


def load_npz(model, path, strict=True):
    """Load weights from ``path`` (``.npz`` or ``.pth``) into ``model``.

    The whole file is read and checked (NaN or infinite values are refused) before
    the model is touched.  Arrays are
    cast to the dtype of the model's arrays (``cast_like``) and moved to their array module
    (NumPy or CuPy).  ``model.load_state_dict`` then checks names and shapes and
    either loads everything or raises ``ValueError`` listing every problem, in
    which case the model is left unchanged.  ``strict=False`` allows missing and unexpected
    names, but not a file none of whose names is the model's: it would load nothing.
    """
    state = read_weights(path)
    check_finite(state, path)
    targets = arrays_of(model.state_dict())
    if not strict and not any(name in targets for name in state):
        raise WeightsError(f"{path}: none of its {len(state)} tensors is one of {type(model).__name__}'s, so "
                           f"nothing would be loaded (its names: {_first_names(state)}; the model's: "
                           f"{_first_names(targets)}){_submodule_hint(state, targets, model)}")
    state = cast_like(state, targets, path)
    for name, value in state.items():
        if name in targets:
            state[name] = xp_of(targets[name]).asarray(value)
    try:
        model.load_state_dict(state, strict=strict)
    except ValueError as error:
        raise ValueError(f"{path}: cannot load into {type(model).__name__}: {error}"
                         f"{_submodule_hint(state, targets, model)}") from error


def _submodule_hint(state, targets, model):
    """When none of ``state``'s names is ``model``'s (whose state_dict is ``targets``) but most are those of one
    submodule of it (a ResNet's in an RRN's ``backbone``), or most of the model's are those of one submodule of the
    file's model (an RRN's file loaded into a ResNet), the words that say so; else ''."""
    if any(name in targets for name in state):
        return ""
    prefix = _common_prefix(state, targets)
    if prefix:
        return f"; they are those of its {prefix[:-1]}: load it into model.{prefix[:-1]}"
    prefix = _common_prefix(targets, state)
    if prefix:
        return (f"; they are under {prefix!r} in the file: this {type(model).__name__} is the {prefix[:-1]} of the "
                f"file's model; load the file into that model, or save its {prefix[:-1]} alone")
    return ""


def _common_prefix(names, within):
    """The prefix (ending in '.') of ``within``'s names under which most of ``names`` lie, or None."""
    prefixes = {name[:i + 1] for name in within for i, char in enumerate(name) if char == "."}
    matches = {prefix: sum(prefix + name in within for name in names) for prefix in prefixes}
    prefix = max(matches, key=matches.get, default=None)
    return prefix if prefix is not None and 2 * matches[prefix] >= len(names) else None


def _first_names(state, shown=3):
    names = list(state)
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def cast_like(state, targets, path):
    """``state`` with every tensor that ``targets`` (a model's state_dict) names too cast to that model
    tensor's dtype, as host arrays. A value the dtype cannot hold (1e300 in float64 becomes an infinity in
    float32) is refused, naming the file and the key: it would load as an infinity, in silence."""
    cast = OrderedDict(state)
    for name, value in state.items():
        if name not in targets:
            continue
        dtype = targets[name].dtype
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                cast[name] = value.astype(dtype, copy=False)
        except (TypeError, ValueError) as error:
            raise WeightsError(f"{path}: {name!r} ({value.dtype}) cannot be cast to {dtype}: {error}") from error
        if cast[name].dtype.kind == "f" and not np.isfinite(cast[name]).all():
            raise WeightsError(f"{path}: {name} holds values beyond the range of {dtype} (largest magnitude "
                               f"{float(np.abs(value).max()):.3g}), the model's dtype; refusing to load it")
    return cast


def parameter_count(state):
    """Return ``(parameters, tensors)``: trainable-parameter count and tensor count.

    Counts floating-point entries, leaving out batch-norm running statistics and
    ``num_batches_tracked``.
    """
    params = [value for name, value in state.items()
              if np.issubdtype(value.dtype, np.floating) and not name.endswith(_BUFFER_SUFFIXES)]
    return sum(int(np.prod(value.shape)) for value in params), len(params)
