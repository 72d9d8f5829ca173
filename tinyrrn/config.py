"""Training configuration: defaults, the paper's presets, TOML files and command-line flags.

Precedence: defaults < --preset < --config FILE.toml < explicit flags.

Every setting is either one that defines the run (``DEFINES_RUN``: the model, the data or the
trajectory; a resumed run refuses to change it, by name) or one that may change when a run is
resumed (``MAY_CHANGE``: applied, and recorded in the run's config.json), except the two that
name a new run's folder (``RUN_FOLDER``: a resumed run stays in its own, so they are refused with
--resume). A setting in neither list is refused until someone classifies it.
"""
import argparse
import difflib
import json
import math
import os
import sys

from .cli import (LARGEST_INTEGER, ArgumentParser, UsageError, add_compute_flags, add_debug_flag, default_device,
                  integer_range)
from .data.transforms import NORMALIZATIONS
from .models import ARCHITECTURES, SKIP_TYPES
from .models.resnet import WEIGHTS_LAYOUTS, UnitLayout
from .models.rrn import temporal_units
from .optim import OPTIMIZERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULTS = {
    "data": None,             # None: the built-in synthetic dataset (generated into the user cache)
    "list_dir": None,
    "split": 1,
    "arch": None,             # None: resnet_small on synthetic data, resnet50 on UCF-101
    "weights": None,
    "weights_layout": "torchvision",  # or "caffe": MSRA/Caffe ResNet-50 weights (tinyrrn.models.resnet.WEIGHTS_LAYOUTS)
    "skip": "identity",
    "positions": None,        # None: mid_block4 on synthetic data with T = 2, else context-1 skips ending at block4
    "context": 2,
    "average_logits": False,
    "sample_every": 10,
    "chunk": None,            # None: equal to context
    "resize": None,           # None: 256 (UCF-101) or the synthetic frames' height
    "crop": None,             # None: 224 (UCF-101) or 40 (synthetic)
    "normalize": None,        # None: the input convention of --weights-layout (torchvision or caffe)
    "flip": None,             # None: on for UCF-101, off for synthetic (its classes are directions)
    "per_frame_aug": False,
    "epochs": None,           # None: 10 (UCF-101) or 30 (synthetic)
    "optimizer": "adam",
    "lr": None,               # None: 1e-4 (fine-tuning on UCF-101) or 3e-3 (synthetic, from scratch)
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "constant",
    "warmup": 0,
    "update_every": "1%",
    "batch": None,            # None: 8 (UCF-101) or 16 (synthetic)
    "workers": 2,
    "freeze_bn": False,
    "seed": 0,
    "val_groups": 3,          # whole gNN groups of the training list held out to select the epoch on (0: none)
    "device": None,           # None: TINYRRN_DEVICE, else cpu
    "threads": None,          # None: TINYRRN_THREADS, else every available core
    "out": "runs",
    "name": None,
    "cache_dir": None,
    "max_steps": None,
    "log_every": 10,
    "baseline": None,         # also train the no-skip (context 1) model; None: only on synthetic data
    "distributed": False,     # force MPI data parallelism (else detected from the MPI launcher's environment)
    "sync_bn": False,         # with several ranks: batch-norm statistics over all ranks' chunks
}

# The least value of each integer setting (the flag says what the setting is); larger is fine, up to
# cli.LARGEST_INTEGER.
MINIMUM = {"split": 1, "context": 1, "sample_every": 1, "chunk": 1, "resize": 1, "crop": 1, "epochs": 1, "batch": 1,
           "workers": 0, "seed": 0, "val_groups": 0, "warmup": 0, "max_steps": 1, "log_every": 1, "threads": 1}
PATHS_OF_THE_RUN = ("data", "list_dir", "weights", "cache_dir")
# The settings that may stay None in a resolved config (fill_defaults): no --data, --weights, ...
MAY_BE_NONE = ("data", "list_dir", "weights", "positions", "threads", "max_steps")
# Absent from the config.json of runs made by older versions, which resume as before (builders reads
# them with their older meaning: no validation groups, torchvision's layout)
OLDER_RUNS_MAY_LACK = ("val_groups", "weights_layout")
# Number settings: (least value, whether the least value itself is allowed); each must be finite
FLOAT_MINIMUM = {"lr": (0.0, False), "weight_decay": (0.0, True), "momentum": (0.0, True)}

# What a resumed run may change (see the module docstring). The number of ranks defines the run
# too; it is not a setting but is compared the same way (tinyrrn.train).
DEFINES_RUN = ("data", "list_dir", "split", "arch", "weights", "weights_layout", "skip", "positions", "context",
               "average_logits", "sample_every", "chunk", "resize", "crop", "normalize", "flip", "per_frame_aug",
               "optimizer", "update_every", "batch", "seed", "val_groups", "freeze_bn", "sync_bn")
IGNORED_UNLESS = {"momentum": ("optimizer", "sgd")}  # a setting that acts only where another has this value
MAY_CHANGE = ("epochs", "max_steps", "lr", "schedule", "warmup", "weight_decay", "momentum", "log_every",
              "workers", "device", "threads", "cache_dir", "out", "name", "baseline", "distributed")
# ... of which these change nothing in the trained weights (a finished run is still finished)
BOOKKEEPING = ("log_every", "workers", "device", "threads", "cache_dir", "out", "name", "baseline", "distributed")
# ... and these name a new run's folder (OUT/<date>-<name>): a resumed run stays where it is, so they are refused
RUN_FOLDER = ("out", "name")
# A file name is at most 255 bytes (NAME_MAX); a run's folder is <date>-NAME, with a "-N" suffix when taken
MAX_NAME_BYTES = 255 - len("20260101-120000-") - len("-999")

# The paper's rows (Tables 2-4 and the ResNet-50 baseline), on UCF-101 with ImageNet weights.
# Readings that are this project's, not the paper's (each an option):
# * Mid Block4, "the last convolutional skip connection in block4", is layer4.0: the projection
#   unit, block4's only convolutional skip. "Mid" also fits the middle unit, layer4.1 of
#   ResNet-50: --positions layer4.1 (reproduce: --set positions='["layer4.1"]').
# * Table 4 (T = 3, 5): the paper does not say where its T-1 skips are; positions=None puts them
#   on the last T-1 units ending at block4 (models.rrn.default_positions).
# * Weights: torchvision's layout by default; the authors' framework used MSRA/Caffe ResNet-50
#   weights, loaded with --weights-layout caffe.
# * The epoch is selected on --val-groups whole groups held out of the training list, never on
#   the test split (the paper does not say how it chose).
_PAPER = {"arch": "resnet50", "sample_every": 10, "optimizer": "adam", "update_every": "1%", "baseline": False}
PRESETS = {
    "baseline-resnet50": {**_PAPER, "skip": "none", "context": 1},
    **{f"table2-{pos.replace('_', '')}-{skip}": {**_PAPER, "skip": skip, "positions": [pos], "context": 2}
       for pos in ("block1", "block2", "mid_block4", "block4") for skip in ("identity", "linear")},
    **{f"table3-{skip}": {**_PAPER, "skip": skip, "positions": ["block4"], "context": 2}
       for skip in ("identity", "linear", "nonlinear")},
    **{f"table4-context{t}": {**_PAPER, "skip": "identity", "positions": None, "context": t} for t in (2, 3, 5)},
}


def preset_summary(name):
    """One short line on a preset: its table, skip type, positions and context."""
    values = PRESETS[name]
    t = values["context"]
    if values["skip"] == "none":
        return "Table 4 (extra row): no skip, T = 1"
    table = name.split("-")[0].replace("table", "Table ")
    if values["positions"] is None:
        plural = "s" if t > 2 else ""
        return f"{table}: {values['skip']} skip{plural}, last {t - 1} unit{plural}, T = {t}"
    best = " (best)" if name == "table3-identity" else ""
    return f"{table}: {values['skip']} skip at {', '.join(values['positions'])}, T = {t}{best}"


def _default(key, text=None):
    """'default X' for a flag of train, with the value on each dataset when they differ (see fill_defaults)."""
    synthetic, ucf = (fill_defaults({**DEFAULTS, "data": data})[key] for data in (None, "UCF-101"))
    show = text or (lambda v: "on" if v is True else "off" if v is False else str(v))
    if synthetic == ucf:
        return f"default {show(synthetic)}"
    return f"default {show(synthetic)} for the synthetic data, {show(ucf)} with --data"


def parser():
    """The argparse parser of `python -m tinyrrn.train`. Its defaults are filled in by ``fill_defaults``
    (they depend on the data), so every flag's help states its own."""
    width = max(map(len, PRESETS)) + 2
    p = ArgumentParser(
        prog="python -m tinyrrn.train",
        description="Train a recurrent residual network (Iqbal et al., 2017) and evaluate it by video. "
                    "With no arguments: the built-in synthetic dataset, a small ResNet on the CPU, "
                    "and the same model without a temporal skip for comparison.",
        epilog="presets (--preset): rows of the paper's tables, on UCF-101 with ResNet-50; they need --data "
               "(python -m tinyrrn.reproduce runs every row, also on the synthetic data). Table 2's identity "
               "rows are described in the paper's text, which gives no number for them:\n"
               + "\n".join(f"  {name:<{width}}{preset_summary(name)}" for name in sorted(PRESETS)),
        argument_default=argparse.SUPPRESS)
    a = p.add_argument
    a("--config", help="TOML file of settings (keys as the flags, with underscores); flags override it")
    a("--preset", choices=sorted(PRESETS), metavar="PRESET", help="a row of the paper's tables (listed below; "
      "needs --data). table2-midblock4-* take Mid Block4 as layer4.0, block4's projection unit (add --positions "
      "layer4.1 for the middle unit), table4-context3/5 put their skips on the last T-1 units: this project's "
      "readings")
    a("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint; flags given "
      "with it may change only " + ", ".join("--" + key.replace("_", "-") for key in MAY_CHANGE
                                              if key not in RUN_FOLDER)
      + " (recorded in config.json), and are refused if they change the model, the data or the trajectory; "
      "--out and --name are refused (the run goes on in its own folder)")
    a("--data", help="dataset root in UCF-101 layout (Class/v_Class_gGG_cCC.avi); default: the built-in synthetic "
      f"dataset, generated once into {os.path.join(user_cache(), 'synthetic-v*')}")
    a("--list-dir", dest="list_dir", help="folder of the split files (default DATA/ucfTrainTestlist)")
    a("--split", type=int, choices=(1, 2, 3), help=f"official split number ({_default('split')})")
    a("--arch", choices=sorted(ARCHITECTURES), help=f"backbone ({_default('arch')})")
    a("--weights", help="backbone weights (.npz, or a torchvision .pth) e.g. ImageNet ResNet-50, or a tinyrrn "
      "run directory or checkpoint (its model's backbone); fc is dropped (default: none, random initialisation)")
    a("--weights-layout", dest="weights_layout", choices=sorted(WEIGHTS_LAYOUTS),
      help="the layout the weights were trained in: torchvision, or caffe, MSRA's ResNet-50 as the "
           "authors' framework used (torchvision's tensor names; stride in the first 1x1 conv, Caffe's pool1, "
           f"BGR 0-255 mean-subtracted input unless --normalize says otherwise); ResNet-50 only "
           f"({_default('weights_layout')})")
    a("--skip", choices=SKIP_TYPES,
      help=f"temporal skip type: none (Eq. 1), identity (Eq. 2), linear (Eq. 3), nonlinear (Eq. 4) "
           f"({_default('skip')})")
    a("--positions", nargs="+", help="skip positions: block1 block2 mid_block4 (= layer4.0, block4's projection "
      "unit; layer4.1 is the 'middle unit' reading) block4, or unit names like layer4.2 (default: mid_block4 on "
      "the synthetic data with T = 2, see README; otherwise the T-1 units ending at block4, this project's choice "
      "for T > 2)")
    a("--context", type=int, help=f"temporal context T of the model (needs >= T-1 skips; {_default('context')})")
    a("--average-logits", dest="average_logits", action="store_true",
      help="average the logits of all T steps instead of using the last step's")
    a("--sample-every", dest="sample_every", type=int,
      help=f"take every k-th frame of a video (paper: 10; {_default('sample_every')})")
    a("--chunk", type=int, help="frames per chunk (default: the context T)")
    a("--resize", type=int, help=f"short side of frames before cropping ({_default('resize')})")
    a("--crop", type=int, help=f"square crop size fed to the network ({_default('crop')})")
    a("--normalize", choices=NORMALIZATIONS, help="input convention of the weights (default: that of "
      "--weights-layout)")
    a("--flip", dest="flip", action="store_true",
      help=f"random horizontal flips in training ({_default('flip')}: the synthetic classes are directions)")
    a("--no-flip", dest="flip", action="store_false", help="no flips (for direction-sensitive classes)")
    a("--per-frame-aug", dest="per_frame_aug", action="store_true",
      help="draw crop and flip per frame (as the authors did) instead of per chunk")
    a("--epochs", type=int, help=f"passes over the training chunks ({_default('epochs')})")
    a("--optimizer", choices=sorted(OPTIMIZERS), help=f"Adam (paper) or SGD with momentum ({_default('optimizer')})")
    a("--lr", type=float, help=f"learning rate ({_default('lr')})")
    a("--momentum", type=float, help=f"SGD momentum ({_default('momentum')})")
    a("--weight-decay", dest="weight_decay", type=float, help=f"L2 weight decay ({_default('weight_decay')})")
    a("--schedule", choices=("constant", "step", "cosine"),
      help="learning-rate schedule over the updates after --warmup: constant; step, x0.1 after each third of "
           f"them; cosine, half a cosine from lr down to 0 at the end of training ({_default('schedule')})")
    a("--warmup", type=int, help=f"updates of linear learning-rate warm-up ({_default('warmup')})")
    a("--update-every", dest="update_every",
      help="chunks observed per update (e.g. 64) or a percentage of the training chunks (paper: 1%%); an update "
           "falls at the end of a batch, so a value below --batch updates after every batch "
           f"({_default('update_every').replace('%', '%%')})")
    a("--batch", type=int, help="chunks per forward/backward pass (gradients accumulate up to --update-every; "
      f"{_default('batch')})")
    a("--workers", type=int, help=f"background decoding threads ({_default('workers')})")
    a("--freeze-bn", dest="freeze_bn", action="store_true",
      help="keep batch-norm statistics fixed (eval mode) while training; for small batches")
    a("--seed", type=int, help="seed for initialisation, shuffling, augmentation and the validation groups "
      f"({_default('seed')})")
    a("--val-groups", dest="val_groups", type=int,
      help="whole gNN groups of the training list held out for validation (chosen by --seed, listed in "
           "RUN_DIR/val_groups.txt): the epoch with the lowest validation video error is kept (best.npz) and "
           "the test split is evaluated only at the end, for that epoch and the last; 0 trains on the whole "
           f"list and reports the last epoch ({_default('val_groups')})")
    a("--out", help=f"folder that holds run directories ({_default('out')})")
    a("--name", help="run name: the run directory is OUT/<date>-<name> (default: the preset's name, else "
      "synthetic-SKIP-TT or ucf101-SKIP-TT)")
    a("--cache-dir", dest="cache_dir", help=f"folder of the on-disk cache of decoded frames and frame counts; one "
      f"that cannot be written is warned about and the run goes on ({_default('cache_dir')})")
    a("--max-steps", dest="max_steps", type=int, help="stop after this many updates (smoke tests; default: no limit)")
    a("--log-every", dest="log_every", type=int, help=f"updates between log lines ({_default('log_every')})")
    a("--baseline", dest="baseline", action="store_true",
      help="also train the same backbone without a temporal skip (context 1) and compare: on the CPU with "
           "2+ threads side by side in a second process (its output in RUN_DIR/baseline.log), else after "
           f"the first model ({_default('baseline')})")
    a("--no-baseline", dest="baseline", action="store_false", help="do not train the comparison model")
    a("--distributed", action="store_true",
      help="data-parallel over MPI ranks (needs mpi4py: pip install 'tinyrrn[dist]'); on by itself under "
           "mpiexec -n N. --batch is the global batch, split over the ranks")
    a("--sync-bn", dest="sync_bn", action="store_true",
      help="with several ranks: batch-norm statistics of all ranks' chunks together (N ranks then follow "
           "the trajectory of one process with the same --batch)")
    add_compute_flags(p, defaults=False)
    add_debug_flag(p)
    return p


def load_toml(path):
    """Settings from a TOML file (a leading UTF-8 byte-order mark is ignored); unknown keys and values of
    the wrong kind or out of range are an error naming the file and the key."""
    if not os.path.isfile(path):  # a folder, a pipe or a device is there, but no such file
        what = ("a folder" if os.path.isdir(path) else "not a regular file (a device, pipe or socket)"
                if os.path.exists(path) else "no such file")
        raise UsageError(f"{path}: {what}, not a configuration file (--config takes a TOML file)")
    with open(path, "rb") as f:
        data = f.read()
    try:
        values = tomllib.loads(data.decode("utf-8-sig"))  # a byte-order mark (some editors write one) is not TOML
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML: {err}") from None
    values = {k.replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        close = next(iter(difflib.get_close_matches(unknown[0], DEFAULTS, n=1)), None)  # as a mistyped flag's
        raise UsageError(f"{path}: unknown settings {unknown}" + (f" (did you mean {close}?)" if close else "")
                         + f"; known: {sorted(DEFAULTS)}")
    for key, value in values.items():
        check_setting(path, key, value)
    check_ranges(values, source=path)
    return values


def check_setting(source, key, value):
    """A UsageError naming ``source`` (a TOML file, --set) and the key where a value is not what the
    key's flag takes: a bool for an on/off flag, a list for a flag of several values, the flag's
    type (int, float, text) and choices."""
    action = next((a for a in parser()._actions if a.dest == key), None)
    if action is None:
        return
    def fits(item):
        if action.type is int:
            return isinstance(item, int) and not isinstance(item, bool)
        if action.type is float:
            return isinstance(item, (int, float)) and not isinstance(item, bool)
        if key == "update_every" and isinstance(item, int) and not isinstance(item, bool):
            return True  # update_every = 64: chunks, as the flag's text "64"
        return isinstance(item, str) and item != "" and (action.choices is None or item in action.choices)
    if action.nargs == 0:  # --flip / --no-flip and the like
        ok, wanted = isinstance(value, bool), "true or false"
    elif action.nargs in ("+", "*"):
        ok, wanted = isinstance(value, list) and all(map(fits, value)), "a list of text values"
    else:
        ok = fits(value) and (action.choices is None or value in action.choices)
        wanted = (f"one of {sorted(action.choices)}" if action.choices else
                  {int: "an integer", float: "a number"}.get(action.type, "text, not empty"))
    if not ok:
        raise UsageError(f"{source}: {key} = {value!r}: expected {wanted} (as --{key.replace('_', '-')} takes)")


def check_run_settings(path, settings):
    """A UsageError naming ``path`` (a run's config.json) where ``settings`` are not a resolved config of
    this version: a setting missing, one it does not know (a newer version's: it would be ignored), a value of the
    wrong kind (check_setting) or out of range (check_ranges)."""
    missing = [key for key in DEFAULTS if key not in settings and key not in OLDER_RUNS_MAY_LACK]
    if missing:
        raise UsageError(f"{path}: not the settings of a run of this version of python -m tinyrrn.train "
                         f"({len(missing)} missing: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
    unknown = [key for key in settings if key not in DEFAULTS]  # (no setting was ever removed)
    if unknown:
        raise UsageError(f"{path}: holds {len(unknown)} setting(s) this version of tinyrrn does not know: "
                         f"{', '.join(map(str, unknown[:5]))}{', ...' if len(unknown) > 5 else ''} (written by a newer "
                         "version, or edited); ignoring them would make another model than the run's: use the version "
                         "that wrote it")
    for key in DEFAULTS:
        if key in settings and (settings[key] is not None or key not in MAY_BE_NONE):
            check_setting(path, key, settings[key])
    check_ranges(settings, source=path)


def requested(argv=None):
    """(the settings the command line asks for -- a preset, a TOML file, flags; no defaults --,
    resume dir or None, preset name or None, {setting: the --config file that gave it (no flag did)}).
    TINYRRN_DEVICE counts as asking for a device."""
    args = vars(parser().parse_args(argv))
    args.pop("debug", None)
    resume = args.pop("resume", None)
    given = {"device": os.environ["TINYRRN_DEVICE"]} if os.environ.get("TINYRRN_DEVICE", "").strip() else {}
    preset = args.pop("preset", None)
    if preset:
        given.update(PRESETS[preset])
        if not resume:  # a preset names a new run's folder; a resumed run keeps its own name
            given["name"] = preset
    config_file = args.pop("config", None)
    from_file = load_toml(config_file) if config_file else {}
    given.update(from_file)
    given.update(args)
    if resume:  # they would be recorded in its config.json, naming a folder the run is not in
        moving = [("--" if key in args else f"{config_file}: ") + key for key in RUN_FOLDER
                  if key in args or key in from_file]
        if moving:
            one = len(moving) == 1
            raise UsageError(f"--resume {resume}: the run goes on in its own folder; {' and '.join(moving)} "
                             f"name{'s' if one else ''} the folder of a new run: leave {'it' if one else 'them'} out")
    for key in PATHS_OF_THE_RUN:  # recorded whole, so that a run resumes (and is compared) from any folder
        if isinstance(given.get(key), str):
            given[key] = os.path.abspath(os.path.expanduser(given[key]))
    if isinstance(given.get("out"), str):  # "~/runs" from a TOML file (no shell expands it) is not ./~/runs
        given["out"] = os.path.expanduser(given["out"])
    return given, resume, preset, {key: config_file for key in from_file if key not in args}


def resolve(argv=None):
    """(config dict, resume dir or None) from the command line."""
    given, resume = requested(argv)[:2]
    return fill_defaults({**DEFAULTS, **given}), resume


def _comparable(key, value):
    if key == "positions" and isinstance(value, str):
        value = [value]
    return str(value) if key == "update_every" else json.dumps(value, sort_keys=True)


def resume_changes(saved, asked):
    """(refused, applied): {key: (saved value, asked value)} of the settings ``asked`` changes in
    ``saved``. Settings that define the run are refused, and so is any setting nobody classified."""
    refused, applied = {}, {}
    for key in sorted(set(saved) | set(asked)):
        old, new = saved.get(key), asked.get(key, saved.get(key))
        if _comparable(key, old) != _comparable(key, new):
            (applied if key in MAY_CHANGE else refused)[key] = (old, new)
    return refused, applied


def describe_changes(changes):
    """'lr 0.003 -> 0.001, epochs 2 -> 3' (unclassified settings say so)."""
    return ", ".join(f"{key} {old!r} -> {new!r}" + ("" if key in DEFINES_RUN + MAY_CHANGE else " (not classified)")
                     for key, (old, new) in changes.items())


def user_cache():
    """$XDG_CACHE_HOME/tinyrrn or ~/.cache/tinyrrn."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tinyrrn")


def fill_defaults(config):
    """Settings left as None get the value that fits the dataset (synthetic or UCF-101)."""
    c = dict(config)
    synthetic = c["data"] is None
    if c["arch"] is None:
        c["arch"] = "resnet_small" if synthetic else "resnet50"
    for key, ucf, synth in (("epochs", 10, 30), ("lr", 1e-4, 3e-3), ("batch", 8, 16)):
        if c[key] is None:
            c[key] = synth if synthetic else ucf
    if synthetic and c["positions"] is None and c["context"] == 2:
        # chosen on validation error over 3 seeds (benchmarks/synthetic_accuracy.py, README's research
        # notes): a third of the synthetic classes differ only in the direction of motion, which needs a
        # skip with residual units above it; of those positions mid_block4 erred least
        c["positions"] = ["mid_block4"]
    if c["chunk"] is None:
        c["chunk"] = c["context"]
    if c["normalize"] is None:
        c["normalize"] = WEIGHTS_LAYOUTS[c["weights_layout"]]["normalize"]
    if c["resize"] is None:
        c["resize"] = 48 if synthetic else 256
    if c["crop"] is None:
        c["crop"] = 40 if synthetic else 224
    if c["flip"] is None:
        c["flip"] = not synthetic
    if c["baseline"] is None:
        c["baseline"] = synthetic
    if c["device"] is None:
        c["device"] = default_device()
    if c["cache_dir"] is None:
        c["cache_dir"] = os.path.join(user_cache(), "frames")
    if c["name"] is None:
        c["name"] = ("synthetic" if synthetic else "ucf101") + f"-{c['skip']}-T{c['context']}"
    check_ranges(c)
    return c


def refuse_ignored(given, config, name=lambda key: "--" + key.replace("_", "-")):
    """A UsageError for a setting ``given`` that ``config``'s run would ignore (IGNORED_UNLESS: --momentum
    with Adam), each setting named by ``name`` (a flag by default)."""
    for key, (other, value) in IGNORED_UNLESS.items():
        if given.get(key) is not None and config.get(other) != value:
            raise UsageError(f"{name(key)} {given[key]!r}: acts only with {name(other)} {value}, and this run's "
                             f"{name(other)} is {config.get(other)}, which would ignore it: leave it out, or add "
                             f"{name(other)} {value}")


def parse_update_every(value):
    """(number, is a percentage) from --update-every's '64' (chunks) or '1%' (of the training chunks); a
    ValueError saying what is wrong with it."""
    text = str(value).strip()
    try:
        number = float(text[:-1]) if text.endswith("%") else int(text)
    except ValueError:
        raise ValueError("expected a number of chunks (e.g. 64) or a percentage of the training chunks "
                         "(e.g. 1%)") from None
    if text.endswith("%") and not 0 < number <= 100:
        raise ValueError("the percentage must be in (0, 100]")
    if not text.endswith("%") and number < 1:
        raise ValueError("must be at least 1 chunk")
    return number, text.endswith("%")


def check_ranges(config, source=None):
    """A UsageError naming the first setting out of its range: an integer below its least value
    (MINIMUM), a number not finite or below its least (FLOAT_MINIMUM: --lr -0.003 would climb the
    loss), a chunk shorter than the context (the temporal skip would never see an earlier frame) or longer
    (without average_logits its first frames would never reach the prediction), a
    crop larger than the frames' short side, an --update-every that is no count or percentage
    (parse_update_every). A setting is named as its flag (--log-every 0), or with
    ``source`` (a TOML file, a run's config.json) as that file's key (FILE: log_every = 0)."""
    def setting(key):
        value = config[key]
        return f"{key} = {value!r}" if source else f"--{key.replace('_', '-')} {value!r}"

    def refuse(message):
        raise UsageError(f"{source}: {message}" if source else message)

    for key, least in MINIMUM.items():
        value = config.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not least <= value <= LARGEST_INTEGER):
            refuse(f"{setting(key)}: must be {integer_range(value if type(value) is int else None, least)}")
    for key, (least, inclusive) in FLOAT_MINIMUM.items():
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                value < least or (value == least and not inclusive):
            refuse(f"{setting(key)}: must be a finite number {'of at least' if inclusive else 'above'} {least}")
    if config.get("update_every") is not None:
        try:
            parse_update_every(config["update_every"])
        except ValueError as err:
            refuse(f"{setting('update_every')}: {err}")
    name = config.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or name in (".", "..")
                             or "/" in name or os.sep in name
                             or any(c < " " or c == "\x7f" for c in name)):  # a newline splits every line naming it
        refuse(f"{setting('name')}: must be a plain file name, without control characters (the run directory is "
               "OUT/<date>-NAME); use --out for the folder")
    if isinstance(name, str) and len(os.fsencode(name)) > MAX_NAME_BYTES:
        refuse(f"{setting('name')[:60]}...: {len(os.fsencode(name))} bytes, longer than a folder name may be "
               f"with the date before it (<date>-NAME; at most {MAX_NAME_BYTES} bytes)")
    if config.get("chunk") is not None and config.get("context") is not None and config["chunk"] < config["context"]:
        refuse(f"{setting('chunk')} is shorter than {setting('context')}: the temporal skip would never see an "
               "earlier frame; use a chunk of at least the context")
    if config.get("chunk") is not None and config.get("context") is not None and config["chunk"] > config["context"] \
            and not config.get("average_logits"):
        refuse(f"{setting('chunk')} is longer than {setting('context')}: the prediction comes from the last step, "
               f"which sees only the last {config['context']} frames, so the chunk's first "
               f"{config['chunk'] - config['context']} would never reach it; use a chunk equal to the context, "
               "or --average-logits to predict from every step")
    if config.get("crop") is not None and config.get("resize") is not None and config["crop"] > config["resize"]:
        refuse(f"{setting('crop')} is larger than {setting('resize')}, the short side of the resized frames: "
               "a crop must fit in them; use a crop of at most the resize")
    if config.get("arch") in ARCHITECTURES and config.get("skip") in SKIP_TYPES and config.get("context") is not None:
        try:  # the model's skips, from the backbone's unit names (before anything is built, or a run started)
            temporal_units(UnitLayout(config["arch"]), config["skip"], config.get("positions"), config["context"])
        except ValueError as err:
            given = f"{setting('positions')} " if config.get("positions") is not None else ""
            refuse(f"{given}{setting('context')} with {setting('arch')}: {err}")
