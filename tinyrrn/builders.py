"""Builders shared by every job (train, evaluate, predict, features, baseline, reproduce):
the dataset of a config (training, validation or test videos), the model of a config in its
weights layout, backbone weights, and a model from a checkpoint.

A config is the dict of settings that ``tinyrrn.config`` resolves from defaults, presets, a TOML
file and flags; a checkpoint carries the config it was trained with.
"""
import contextlib
import json
import os
import shlex
import zipfile

import numpy

from . import backend, checkpoint, config as configuration, rundir
from .data import UCF101, synthetic
from .data.splits import read_split, validation_groups
from .models import ARCHITECTURES, RecurrentResNet
from .models.resnet import CAFFE_LAYOUT_ARCHITECTURES, WEIGHTS_LAYOUTS
from .cli import UsageError, describe
from .files import not_a_folder
from .weightfiles import cast_like, check_finite, read_weights


def dataset_root(config):
    """The dataset root: --data, or the synthetic dataset in the user cache (generated if absent); its folder of
    split files (--list-dir) is checked too."""
    if config["data"] is not None:
        problem = not_a_folder(config["data"], "dataset folder")
        if problem:
            raise UsageError(f"{config['data']}: {problem} (--data)")
        root = config["data"]
    else:
        root = synthetic.generated_once(os.path.join(configuration.user_cache(), f"synthetic-v{synthetic.VERSION}"))
    split_folder(root, config["list_dir"], split=config.get("split"))
    return root


def check_recorded_folders(config, source, how):
    """A UsageError when a dataset or split folder ``config`` holds as ``source`` (a checkpoint, a run's config.json)
    recorded it, not as a flag gave it, is gone: named as recorded, not as a --data never given. ``how``: for each
    key to check ("data", "list_dir"), how to go on."""
    for key, what in (("data", "dataset folder"), ("list_dir", "folder of split files")):
        problem = not_a_folder(config[key], what) if key in how and config.get(key) is not None else None
        if problem:
            raise UsageError(f"{config[key]}: {problem}, where {source} was trained (moved since?); {how[key]}")


def split_folder(root, list_dir=None, root_name="--data", split=None):
    """The folder of the split files (classInd.txt, ...): ``list_dir``, else ROOT/ucfTrainTestlist; a UsageError
    naming --list-dir, or the dataset folder (``root_name``: how the user gave it), when it is not a folder, or
    naming the file when it lacks one of ``split``'s three files."""
    lists = list_dir or os.path.join(root, "ucfTrainTestlist")
    problem = not_a_folder(lists, "folder of split files")
    if problem:
        raise UsageError(f"{lists}: {problem} (classInd.txt, trainlist01.txt, ...): "
                         + ("--list-dir" if list_dir else f"{root_name} is not in UCF-101's layout, or give --list-dir"))
    needed = ["classInd.txt", f"trainlist{split:02d}.txt", f"testlist{split:02d}.txt"] if split in (1, 2, 3) else []
    for name in needed:
        if not os.path.exists(os.path.join(lists, name)):  # one of another kind: refused as such where read
            raise UsageError(f"{os.path.join(lists, name)}: no such split file (split {split} reads "
                             f"{needed[0]}, {needed[1]} and {needed[2]} from {lists})")
    return lists


def held_out_groups(config):
    """The group numbers of the configured split's training list held out for validation
    (``config["val_groups"]`` of them, chosen by ``config["seed"]``; see data.splits.validation_groups)."""
    if not config["val_groups"]:
        return []
    list_dir = split_folder(dataset_root(config), config["list_dir"])
    train_list = read_split(list_dir, config["split"])[1]
    try:
        return validation_groups(train_list, config["val_groups"], config["seed"])
    except ValueError as err:
        split_file = os.path.join(list_dir, f"trainlist{config['split']:02d}.txt")
        raise UsageError(f"{split_file}: {err}") from None


def build_dataset(config, train, validation=False):
    """The chunks of the configured split: its training videos outside the validation groups
    (``train``), the validation groups' videos (``validation``; read as test videos are), or its
    test videos. ``config["val_groups"]`` 0 (or absent, in an older run's config): no validation."""
    groups = held_out_groups(config) if train and config.get("val_groups") else []
    return UCF101(dataset_root(config), split=config["split"], train=train, list_dir=config["list_dir"],
                  sample_every=config["sample_every"], chunk=config["chunk"], resize=config["resize"],
                  crop=config["crop"], normalize=config["normalize"], per_frame_aug=config["per_frame_aug"],
                  flip=config["flip"], cache_dir=config["cache_dir"], val_groups=groups, validation=validation)


def build_backbone(arch, num_classes, layout="torchvision"):
    """A ResNet ``arch`` built for weights of ``layout`` (models.resnet.WEIGHTS_LAYOUTS)."""
    if layout != "torchvision" and arch not in CAFFE_LAYOUT_ARCHITECTURES:
        raise UsageError(f"--weights-layout {layout}: MSRA/Caffe-layout weights exist for "
                         f"{', '.join(CAFFE_LAYOUT_ARCHITECTURES)} only, not --arch {arch}")
    return ARCHITECTURES[arch](num_classes=num_classes, **WEIGHTS_LAYOUTS[layout]["model"])


def build_model(config, num_classes):
    """The RecurrentResNet of ``config``; backbone weights from --weights (a weights file, or a tinyrrn
    checkpoint or run directory of the same arch, layout and input convention: its backbone; see
    load_backbone_weights)."""
    arch, layout = config["arch"], config.get("weights_layout", "torchvision")
    backbone = build_backbone(arch, num_classes, layout)
    if config["weights"]:
        load_backbone_weights(backbone, config["weights"], (arch, layout, config["normalize"]))
    return RecurrentResNet(backbone, config["skip"], config["positions"], config["context"],
                           config["average_logits"])


def check_weights(config):
    """Load --weights into a backbone of ``config`` once, before a run starts anything (a run directory, a second
    process): a file that is missing, no weights file or of another backbone is one UsageError naming --weights."""
    path = config["weights"]
    if not path:
        return
    arch, layout = config["arch"], config.get("weights_layout", "torchvision")
    with reading_weights(path):
        load_backbone_weights(build_backbone(arch, 2, layout), path, (arch, layout, config["normalize"]))


@contextlib.contextmanager
def reading_weights(path):
    """Reading --weights ``path`` (train, features): a file that is missing or cannot be read as weights is one
    UsageError naming --weights (exit status 2), as every other flag naming a file that cannot work."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file (--weights)")
    try:
        yield
    except UsageError as err:  # of a checkpoint or run directory: the flag named once
        if "--weights" in str(err):
            raise
        raise UsageError(f"--weights {err}") from None
    except (ValueError, OSError) as err:
        raise UsageError(f"--weights {describe(err)}") from None


def backbone_state(path, built_as=None):
    """(file, name -> array): the tensors of a weights file, or the backbone's of a tinyrrn checkpoint or run
    directory, refused when ``built_as`` (arch, weights layout, normalize) is given and the checkpoint is of others:
    a backbone fed frames normalised as it never saw them would start training from features gone wrong in silence."""
    if not is_checkpoint(path):
        return path, read_weights(path)
    path = checkpoint_file(path)
    arrays, meta = checkpoint.load(path)
    config = saved_settings(path, meta)
    saved = config["arch"], config.get("weights_layout", "torchvision"), config["normalize"]
    if built_as is not None and saved[:2] != tuple(built_as[:2]):
        raise UsageError(f"--weights {path}: a tinyrrn checkpoint of {saved[0]} ({saved[1]} layout), not of "
                         f"{built_as[0]} ({built_as[1]} layout): start from its backbone with --arch {saved[0]} "
                         f"--weights-layout {saved[1]}")
    if built_as is not None and saved[2] != built_as[2]:
        raise UsageError(f"--weights {path}: a tinyrrn checkpoint trained on frames of --normalize {saved[2]}, not "
                         f"{built_as[2]}: start from its backbone with --normalize {saved[2]}")
    start = len("backbone.")
    return path, {name[start:]: value for name, value in checkpoint.prefixed(arrays, "model").items()
                  if name.startswith("backbone.")}


def load_backbone_weights(backbone, path, built_as=None):
    """Load every backbone tensor strictly from ``path`` (a weights file, or a tinyrrn checkpoint or run
    directory: its model's backbone, see backbone_state); ``fc`` is kept only if its shape fits, and a
    batch norm's ``num_batches_tracked`` (absent from files saved before PyTorch 0.4.1) only if there.

    Everything is checked before anything changes (names, shapes, finite values): a refused
    file leaves the backbone as it was."""
    path, state = backbone_state(path, built_as)
    own = backbone.state_dict()
    for key in ("fc.weight", "fc.bias"):
        if key in state and state[key].shape != own[key].shape:
            del state[key]
    missing = [k for k in own if k not in state and not k.startswith("fc.") and not k.endswith(".num_batches_tracked")]
    if missing:
        prefix = next((p for p in ("backbone.", "module.", "model.") if all(p + k in state for k in missing)), None)
        hint = f" (the file's names start with {prefix!r}: strip it)" if prefix else ""
        raise ValueError(f"{path}: backbone tensors missing ({len(missing)}){hint}: {', '.join(missing)}")
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise ValueError(f"{path}: tensors the backbone does not have ({len(unexpected)}): {', '.join(unexpected)}")
    check_finite(state, path)
    state = cast_like(state, own, path)
    try:
        backbone.load_state_dict(state, strict=False)  # checks shapes, then assigns
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def checkpoint_file(path):
    """A checkpoint file, or a run directory's best.npz (its checkpoint.npz when it has no best.npz). A folder
    named as a checkpoint file (last.npz/) stays itself, refused by checkpoint.load as a folder."""
    if os.path.isdir(path) and not path.endswith(".npz"):
        rundir.refuse_other_run(path)
        best, last = (os.path.join(path, name) for name in ("best.npz", "checkpoint.npz"))
        if not any(map(os.path.lexists, (best, last, os.path.join(path, "config.json")))):
            raise checkpoint.NotACheckpoint(f"{path}: a folder holding no checkpoint (best.npz or checkpoint.npz), "
                                            "not a training run; name the folder of a run of python -m tinyrrn.train, "
                                            "or its checkpoint")
        return best if os.path.lexists(best) else last
    return path


def model_from_checkpoint(path):
    """(model in eval mode, config) from a checkpoint file or a run directory; a run's best.npz that holds other
    weights than the run selected is refused (refuse_unselected_best)."""
    path = checkpoint_file(path)
    arrays, meta = checkpoint.load(path)
    model, config = model_from_state(checkpoint.prefixed(arrays, "model"), meta, path)
    refuse_unselected_best(path, model.digest)
    return model, config


def refuse_unselected_best(path, digest):
    """A CheckpointError when ``path`` is a run's best.npz and its weights (``digest``) are not those the
    checkpoint.npz beside it records as selected: a run stopped between writing the two (checkpoint.npz first)
    left the best.npz of an earlier epoch, which would be evaluated as the selected one. Only the metadata of
    checkpoint.npz is read; without a readable one nothing says which weights were selected."""
    if os.path.basename(path) != "best.npz":
        return
    run = os.path.dirname(path) or "."
    beside = os.path.join(run, "checkpoint.npz")
    try:
        with numpy.load(beside, allow_pickle=False) as archive:
            meta = json.loads(archive[checkpoint.META_KEY].tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return
    selected = meta.get("best_digest") if isinstance(meta, dict) else None
    if isinstance(selected, str) and selected != digest:
        raise checkpoint.CheckpointError(
            f"{path}: holds other weights than the selected epoch {meta.get('best_epoch')} that {beside} records "
            f"(left by a run stopped between writing the two, or replaced since); resume the run, which selects its "
            f"epoch again (python -m tinyrrn.train --resume {shlex.quote(run)}), or name {beside}")


def check_classes(expected, found, where):
    """Refuse data whose class list (``found``, from ``where``) differs from a model's (``expected``)."""
    if list(expected) == list(found):
        return
    first = next(i for i in range(max(len(expected), len(found)))
                 if i >= len(expected) or i >= len(found) or expected[i] != found[i])
    theirs = repr(found[first]) if first < len(found) else f"the data has no class {first + 1} (it has {len(found)})"
    ours = repr(expected[first]) if first < len(expected) else f"no class {first + 1} (it has {len(expected)})"
    raise UsageError(f"{where}: classes differ from the model's ({len(found)} vs {len(expected)}); first "
                     f"difference at label {first + 1}: {theirs}, where the model has {ours}")


def saved_settings(path, meta):
    """The training settings in a checkpoint's metadata, checked as a run's config.json is (every setting
    there, of its kind and range) with its class names: a damaged or foreign file is one error naming the key."""
    checkpoint.check_meta(path, meta, {"config": dict, "classes": list})
    configuration.check_run_settings(path, meta["config"])
    classes = meta["classes"]
    if not classes or not all(isinstance(name, str) and name for name in classes):
        raise checkpoint.CheckpointError(f"{path}: its metadata's 'classes' is {str(classes)[:40]}, not a list of "
                                         "class names")
    twice = next((name for i, name in enumerate(classes) if name in classes[:i]), None)
    if twice is not None:  # a prediction of that name would be of two classes
        raise checkpoint.CheckpointError(f"{path}: its metadata's 'classes' names {twice!r} twice (tinyrrn writes "
                                         "each class once: the file was changed or damaged since)")
    return meta["config"]


def model_from_state(state, meta, path):
    """(model in eval mode, config) from a checkpoint's model arrays and metadata. The model knows its
    classes, epoch, updates and the digest of its weights (checkpoint.weights_digest)."""
    config = saved_settings(path, meta)
    model = build_model({**config, "weights": None}, len(meta["classes"]))
    try:
        model.load_state_dict(state)
    except ValueError as err:
        raise checkpoint.CheckpointError(f"{path}: {err}") from None
    model.classes, model.epoch, model.updates = meta["classes"], meta.get("epoch"), meta.get("updates")
    model.digest, model.source = checkpoint.weights_digest(state), path
    recorded = meta.get("digest")  # (absent from checkpoints written before digests)
    if isinstance(recorded, str) and recorded != model.digest:
        raise checkpoint.CheckpointError(f"{path}: its model's weights (digest {model.digest}) are not those it was "
                                         f"written with (digest {recorded}): the file was changed or damaged since")
    return model.to(backend.get_device()).eval(), config


def is_checkpoint(path):
    """True for a run directory or a tinyrrn checkpoint (.npz with metadata); False for plain weights."""
    if os.path.isdir(path):
        return True
    if not path.endswith(".npz"):
        return False
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            return checkpoint.META_KEY in archive.files
    except (ValueError, zipfile.BadZipFile) as err:  # not a zip, a pickle (a missing file stays an OSError)
        raise ValueError(f"{path}: not a readable .npz file ({type(err).__name__})") from None
    except EOFError:  # NumPy's word for a file of 0 bytes
        raise ValueError(f"{path}: not a readable .npz file (empty)") from None


def load_backbone(weights, arch, num_classes=1000, layout="torchvision"):
    """(backbone ResNet in eval mode, its arch): from a checkpoint/run directory (which knows its
    arch and layout) or a weights file of ``layout``."""
    if is_checkpoint(weights):
        model, saved = model_from_checkpoint(weights)
        return model.backbone.eval(), saved["arch"]
    backbone = build_backbone(arch, num_classes, layout)
    load_backbone_weights(backbone, weights)
    return backbone.to(backend.get_device()).eval(), arch
