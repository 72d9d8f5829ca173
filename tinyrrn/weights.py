"""Convert and inspect model weights: ``python -m tinyrrn.weights``, and the public home of weights files' names.

tinyrrn keeps weights in NumPy ``.npz`` files whose keys are torchvision's
state_dict names (:mod:`tinyrrn.weightfiles` reads, saves and loads them, and
``.pth`` files without torch), so a torchvision ResNet-50 checkpoint converts
one to one.

Command line::

    python -m tinyrrn.weights convert resnet50.pth resnet50.npz [--num-classes 101]
    python -m tinyrrn.weights convert runs/RUN backbone.npz        # a run's backbone (torchvision names)
    python -m tinyrrn.weights info resnet50.npz
"""

import os
import sys
import zipfile
from collections import OrderedDict

from . import builders, checkpoint
from .cli import ArgumentParser, UsageError, add_debug_flag, at_least, command
from .pth import UnsafePickleError, WeightsError, read_pth
from .weightfiles import (cast_like, check_finite, load_npz, negative_variance, parameter_count, read_weights,
                          refuse_unusable_dtypes, save_npz, unusable_dtype)

__all__ = ["WeightsError", "UnsafePickleError", "read_pth", "read_weights", "save_npz", "load_npz", "check_finite",
           "refuse_unusable_dtypes", "negative_variance", "cast_like", "convert", "parameter_count", "main"]

CLASSIFIER_KEYS = ("fc.weight", "fc.bias")  # what --num-classes drops


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
        dropped = [f"{name} {list(state.pop(name).shape)}" for name in CLASSIFIER_KEYS
                   if name in state]
    check_finite(state, source, "convert")  # a file no model could load is not written (fc dropped: not looked at)
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
