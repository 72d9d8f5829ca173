"""Save, load and convert model weights.

tinyrrn keeps weights in NumPy ``.npz`` files whose keys are torchvision's
state_dict names, so a torchvision ResNet-50 checkpoint converts one to one.
``.pth`` files are read by :mod:`tinyrrn.pth` without torch and without running
any code the file might carry.

Command line::

    python -m tinyrrn.weights convert resnet50.pth resnet50.npz [--num-classes 101]
    python -m tinyrrn.weights convert runs/RUN backbone.npz        # a run's backbone (torchvision names)
    python -m tinyrrn.weights info resnet50.npz
"""

import os
import sys
import zipfile
from collections import OrderedDict

import numpy as np

from .backend import to_numpy, xp_of
from .cli import ArgumentParser, UsageError, add_debug_flag, at_least, command
from .files import atomic_write
from .pth import ZIP_MAGIC, UnsafePickleError, WeightsError, read_pth, strip_prefix

__all__ = ["WeightsError", "UnsafePickleError", "read_pth", "read_weights", "save_npz", "load_npz", "check_finite",
           "refuse_unusable_dtypes", "negative_variance", "cast_like", "convert", "parameter_count", "main"]

# Buffers that a state_dict holds but that are not trained parameters.
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
_INTEGER_BUFFERS = ("num_batches_tracked",)  # the one integer tensor of a model's state_dict
_CLASSIFIER_KEYS = ("fc.weight", "fc.bias")
EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # a zip archive without members starts with its end record


def read_weights(path, allow_expand=False):
    """Read a ``.pth`` or ``.npz`` file (told apart by content) into name -> ndarray
    (``allow_expand``: see tinyrrn.pth); DataParallel's ``module.`` prefix is stripped from either."""
    path = str(path)
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


def save_npz(model_or_state, path):
    """Write a model's state_dict (or a mapping of arrays) to ``path`` atomically
    (tinyrrn.files.atomic_write: a crash never leaves a half-written file)."""
    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
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


def refuse_unusable_dtypes(state, path):
    """Refuse the first tensor of ``state`` of an unusable dtype (``unusable_dtype``), naming file, key and dtype."""
    name = next((name for name, value in state.items() if unusable_dtype(name, value)), None)
    if name is not None:
        raise WeightsError(f"{path}: {name} is a tensor of {state[name].dtype}, not of real floating-point "
                           "numbers (nor an integer buffer such as num_batches_tracked); refusing to load it")


def check_finite(state, path):
    """Refuse weights no trained model holds, naming the first such tensor: one of a dtype that is not a real
    floating one (refuse_unusable_dtypes), NaN or infinite values, or a negative batch-norm running variance
    (finite, but every output through it would be NaN)."""
    refuse_unusable_dtypes(state, path)
    for name, value in state.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise WeightsError(f"{path}: {name} holds {int((~np.isfinite(value)).sum())} NaN or infinite "
                               "value(s); refusing to load it")
    negative = negative_variance(state)
    if negative is not None:
        raise WeightsError(f"{path}: {negative} holds negative values, which no variance can be; refusing to load it")


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
    targets = model.state_dict()
    if not strict and not any(name in targets for name in state):
        raise WeightsError(f"{path}: none of its {len(state)} tensors is one of {type(model).__name__}'s, so "
                           f"nothing would be loaded (its names: {_first_names(state)}; the model's: "
                           f"{_first_names(targets)})")
    state = cast_like(state, targets, path)
    for name, value in state.items():
        if name in targets:
            state[name] = xp_of(targets[name]).asarray(value)
    try:
        model.load_state_dict(state, strict=strict)
    except ValueError as error:
        raise ValueError(f"{path}: cannot load into {type(model).__name__}: {error}") from error


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


def convert(in_path, out_path, num_classes=None, allow_expand=False):
    """Convert ``in_path`` (``.pth`` or ``.npz``) to ``out_path`` (``.npz``) and print a summary.

    With ``num_classes`` the classifier ``fc.weight``/``fc.bias`` is dropped (any value drops
    the same two; it is only printed): a model with its own number of classes then keeps its
    fresh fc when it loads the file with ``load_npz(model, out_path, strict=False)`` or
    ``python -m tinyrrn.train --weights`` (a strict load refuses the file: fc is missing).
    ``allow_expand``: accept tensors far larger than their storage (tinyrrn.pth).
    A tinyrrn checkpoint or run directory gives its model's backbone, in torchvision's names.
    Returns the state written.
    """
    refuse_to_replace(in_path, out_path)
    from . import builders, checkpoint  # not at the top: both import this module
    source = builders.checkpoint_file(in_path)  # a run directory: its best.npz (else its checkpoint.npz)
    state, note = read_weights(source, allow_expand), ""
    if checkpoint.META_KEY in state:  # a tinyrrn checkpoint: its model's backbone, the weights --weights RUN takes
        model = checkpoint.prefixed(checkpoint.load(source)[0], "model")
        state = OrderedDict((name[len("backbone."):], value) for name, value in model.items()
                            if name.startswith("backbone."))
        if not state:
            raise WeightsError(f"{source}: a tinyrrn checkpoint whose model has no backbone (no model/backbone.* "
                               "arrays); nothing to convert")
        note = (f" (a tinyrrn checkpoint: its model's backbone; {len(model) - len(state)} tensor(s) of its temporal "
                "skips and its training state are left out)")
    dropped = []
    if num_classes is not None:
        dropped = [f"{name} {list(state.pop(name).shape)}" for name in _CLASSIFIER_KEYS
                   if name in state]
    save_npz(state, out_path)
    params, tensors = parameter_count(state)
    print(f"{source} -> {out_path}: {len(state)} entries, {params:,} parameters "
          f"in {tensors} tensors{note}")
    if num_classes is not None:
        print(f"dropped {', '.join(dropped) or 'nothing (no fc in file)'}; fc will be "
              f"initialised afresh for {num_classes} classes")
    return state


def refuse_to_replace(in_path, out_path):
    """A UsageError when writing ``out_path`` would replace the input file (also through a link) or a tinyrrn
    checkpoint: conversion never destroys weights it cannot give back."""
    from . import checkpoint  # not at the top: checkpoint imports this module
    if not os.path.isfile(out_path):
        return
    if os.path.exists(in_path) and os.path.samefile(in_path, out_path):
        raise UsageError(f"{out_path}: is the input file; name another output file")
    try:
        with zipfile.ZipFile(out_path) as archive:
            if f"{checkpoint.META_KEY}.npy" not in archive.namelist():
                return
    except zipfile.BadZipFile:  # no archive: no checkpoint
        return
    raise UsageError(f"{out_path}: a tinyrrn checkpoint (a run's weights and training state); it is not replaced: "
                     "name another output file")


def _info(path, allow_expand=False):
    """Print each entry's name, shape and dtype, then the parameter count; of a tinyrrn checkpoint,
    its model's entries only (the optimiser's state and metadata beside them are not weights); of a run directory,
    its best.npz (else its checkpoint.npz), as convert."""
    from . import builders, checkpoint  # not at the top: both import this module
    path = builders.checkpoint_file(path)
    state = read_weights(path, allow_expand)
    note = ""
    if checkpoint.META_KEY in state:
        arrays = checkpoint.load(path)[0]
        state = checkpoint.prefixed(arrays, "model")
        note = (f" (a tinyrrn checkpoint: its model's entries; the optimiser's state beside them, "
                f"{len(arrays) - len(state)} arrays, is not counted)")
    width = max((len(name) for name in state), default=0)
    for name, value in state.items():
        refused = "  (not real floating-point numbers: refused when loaded)" if unusable_dtype(name, value) else ""
        print(f"{name:<{width}}  {str(list(value.shape)):<18} {value.dtype}{refused}")
    params, tensors = parameter_count(state)
    print(f"{len(state)} entries, {params:,} parameters in {tensors} parameter tensors{note}")


@command
def main(argv=None):
    """Command-line entry point: ``convert`` and ``info``."""
    parser = ArgumentParser(
        prog="python -m tinyrrn.weights",
        description="Convert torchvision .pth checkpoints to tinyrrn .npz weights, or inspect "
                    "a weights file. .pth files are read without torch and without running "
                    "code from the file.")
    commands = parser.add_subparsers(dest="command", required=True)
    convert_parser = commands.add_parser(
        "convert", help="convert a .pth (zip or legacy format) or .npz file to .npz",
        description="Convert a .pth (zip or legacy format) or .npz file to .npz.")
    convert_parser.add_argument("input", help="input weights file (.pth or .npz), or a tinyrrn checkpoint or run "
                                              "directory (its model's backbone)")
    convert_parser.add_argument("output", help="output .npz file (written atomically)")
    convert_parser.add_argument(
        "--num-classes", type=at_least(1), metavar="N",
        help="drop the classifier (fc.weight, fc.bias); N is only reported, any value drops the same "
             "two. The model you load the file into keeps its own fresh fc: load_npz(model, OUTPUT, "
             "strict=False), or python -m tinyrrn.train --weights OUTPUT (a strict load refuses it)")
    info_parser = commands.add_parser(
        "info", help="list names, shapes, dtypes and the parameter count",
        description="List each entry's name, shape and dtype, and the parameter count "
                    "(floating-point tensors except batch-norm running statistics).")
    info_parser.add_argument("file", help="weights file (.pth or .npz), or a tinyrrn checkpoint or run directory")
    for sub in (convert_parser, info_parser):
        sub.add_argument("--allow-expand", action="store_true",
                         help="accept .pth tensors that take far more memory than their storage (stride 0 "
                              "over a large shape); refused by default")
        add_debug_flag(sub)
    args = parser.parse_args(argv)
    if args.command == "convert":
        convert(args.input, args.output, args.num_classes, args.allow_expand)
    else:
        _info(args.file, args.allow_expand)
    return 0


if __name__ == "__main__":
    sys.exit(main())
