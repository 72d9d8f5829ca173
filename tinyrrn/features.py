"""Per-frame features from a frozen backbone, cached on disk (the paper's Table 1 baselines, Sec. 4.1).

    python -m tinyrrn.features --data ROOT --split 1 --weights resnet50.pth --layer layer4 [--out DIR]

Every sampled frame (every ``--sample-every``-th, paper: 10) of every train and test video of the
split is resized, centre-cropped and normalised as the dataset does for evaluation, passed through
the backbone in eval mode without gradients, and spatially averaged after ``--layer`` (layer2/3/4 =
the paper's block2/3/4). Output, under ``--out``:

    <Class>/<video>.npy   float32 (sampled frames, channels), one file per video
    index.json            settings, classes, every video: its file, 0-based label, subset and key (what
                          identifies its content: the frame cache's key of its path, size and times);
                          and "bad": every video left out, with its subset and the reason

Each array is written to a temporary file and renamed into place, so an interrupted extraction
resumes by skipping the videos whose file exists and whose key is unchanged (index.json, written
before the first of them, names the settings and weights they are of; a folder of files without it
is refused). A video that changed since its features were written (replaced, re-encoded,
re-downloaded), and every video of a folder written before keys were recorded, is extracted again.
``index.json`` says ``"complete": true`` once every video is done. ``--weights`` is a weights file (.npz or torchvision .pth, e.g. ImageNet
ResNet-50; ``--weights-layout caffe`` for MSRA/Caffe-layout weights, which also makes the input
BGR 0-255 mean-subtracted) or a tinyrrn checkpoint / run directory, whose backbone is then used.
Every training video gets features, the validation groups too: the baselines hold those out
themselves (tinyrrn.baseline).
"""
import hashlib
import json
import os
import signal
import sys
import warnings

import numpy

from . import backend, config as configuration, signals
from .data import BadVideo
from .data.cache import video_key
from .data.ucf101 import centre_clips, path_resolver
from .builders import (build_dataset, dataset_root, is_checkpoint, load_backbone, model_from_checkpoint,
                       reading_weights)
from .cli import (ArgumentParser, Failure, UsageError, add_compute_flags, add_debug_flag, at_least, command,
                  describe, use_compute, writing_into)
from .data.transforms import NORMALIZATIONS
from .files import atomic_write, read_json, remove_temporary_files, write_json
from .models import ARCHITECTURES
from .models.resnet import WEIGHTS_LAYOUTS
from .nn.module import move_keeping_layout
from .progress import Progress
from .rundir import RunLock, refuse_other_kind, removed_on_failure
from .grad_mode import no_grad
from .tensor import Tensor

LAYERS = ("layer2", "layer3", "layer4")
SETTINGS = ("data", "split", "layer", "weights", "weights_digest", "weights_layout", "arch", "sample_every", "resize",
            "crop", "normalize")


class OtherSettings(UsageError):
    """A feature folder that holds features made with other settings (``changed``: their names): the --out given
    cannot take these features, a usage error (exit status 2), as evaluate's --out of another report."""

    def __init__(self, message, changed):
        super().__init__(message)
        self.changed = changed


def described_settings(config, layer, weights_label):
    """The settings of a feature folder that the config describes (all but the weights' digest)."""
    return {"data": os.path.abspath(dataset_root(config)), "split": config["split"], "layer": layer,
            "weights": weights_label, "weights_layout": config["weights_layout"], "arch": config["arch"],
            "sample_every": config["sample_every"], "resize": config["resize"], "crop": config["crop"],
            "normalize": config["normalize"]}


def weights_digest(backbone):
    """A fingerprint of the backbone weights that features come from (the same file path may hold other
    weights later: a run trained on since), from each tensor's sum and sum of squares, added in float64
    by NumPy on host copies laid out as on the CPU: the same on every device (a GPU adds its sums in
    another order). The classifier ``fc`` is left out: no feature depends on it, and a weights file
    without one that fits leaves it random."""
    arrays = [move_keeping_layout(t.data, "cpu") for name, t in backbone.state_dict(keep_vars=True).items()
              if t.dtype.kind == "f" and not name.startswith("fc.")]
    sums = numpy.array([s for a in arrays for s in (a.sum(dtype="float64"), numpy.square(a).sum(dtype="float64"))])
    return hashlib.sha1(sums.tobytes()).hexdigest()[:16] if arrays else ""


def feature_file(rel):
    """'Class/v_x.avi' -> 'Class/v_x.npy'."""
    return os.path.splitext(rel)[0] + ".npy"


def _save_features(path, array):
    with atomic_write(path, "wb") as f:
        numpy.save(f, array)


def has_index(out_dir):
    """Whether ``out_dir`` holds a feature index (whose files a rerun goes on from)."""
    return os.path.isfile(os.path.join(out_dir, "index.json"))


def read_index(out_dir):
    """The index.json of a feature folder (None if absent), checked: a damaged one is a ValueError naming it."""
    if not has_index(out_dir):
        return None
    path = os.path.join(out_dir, "index.json")
    index = read_json(path)
    problem = index_problem(index)
    if problem:
        raise ValueError(f"{path}: {problem}; run python -m tinyrrn.features again into a new folder")
    return index


def index_problem(index):
    """What is wrong with a feature index (None when nothing): its classes, layer, and every video's
    file (inside the folder), 0-based label and subset."""
    if not isinstance(index, dict):
        return f"expected a JSON object (a feature index), got {json.dumps(index)[:40]}"
    classes, videos = index.get("classes"), index.get("videos")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        return f"'classes' is {json.dumps(classes)[:40]}, expected a list of class names"
    if not isinstance(index.get("layer"), str):
        return f"'layer' is {json.dumps(index.get('layer'))[:40]}, expected a layer name"
    if not isinstance(videos, list):
        return f"'videos' is {json.dumps(videos)[:40]}, expected a list"
    for i, video in enumerate(videos):
        if not isinstance(video, dict):
            return f"videos[{i}] is {json.dumps(video)[:40]}, expected an object"
        missing = [key for key in ("video", "file", "label", "subset") if key not in video]
        if missing:
            return f"videos[{i}] has no {', '.join(map(repr, missing))}"
        file, label = video["file"], video["label"]
        if not isinstance(video["video"], str) or not isinstance(file, str) or os.path.isabs(file) \
                or ".." in file.replace("\\", "/").split("/"):
            return f"videos[{i}]: video {video['video']!r}, file {file!r}: expected a name and a path inside the folder"
        if type(label) is not int or not 0 <= label < len(classes):
            return f"videos[{i}] ({file}): label {label!r} is not one of 0-{len(classes) - 1} ({len(classes)} classes)"
        if video["subset"] not in ("train", "test"):
            return f"videos[{i}] ({file}): subset {video['subset']!r}, expected 'train' or 'test'"
    bad = index.get("bad", [])
    if not isinstance(bad, list) or not all(isinstance(b, str) or isinstance(b, dict) and isinstance(
            b.get("video"), str) and b.get("subset") in ("train", "test") and isinstance(b.get("reason"), str)
            for b in bad):  # names alone: an older index
        return (f"'bad' is {json.dumps(bad)[:40]}, expected a list of "
                '{"video": ..., "subset": "train" or "test", "reason": ...}')
    return None


def older_index(index):
    """True for the index of a folder written before each video's key and every left-out video were recorded
    (an older tinyrrn): its features may be of videos that changed since, and its "bad" may miss videos."""
    return any("key" not in v for v in index["videos"]) or any(isinstance(b, str) for b in index.get("bad", []))


def changed_videos(index):
    """The videos of a feature index whose features are not of the video file as it is now: changed since
    (another key), gone, or recorded without a key (an older index)."""
    resolve = path_resolver(index.get("data") or "")
    changed = []
    for video in index["videos"]:
        path = resolve(video["video"])
        if path is None or video.get("key") != video_key(path):
            changed.append(video["video"])
    return changed


def made_with(index):
    """The settings and backbone weights (path and digest) a feature folder's features were made with."""
    return {key: index.get(key) for key in SETTINGS}


def videos_digest(index):
    """A fingerprint of which videos, as which content (their keys), a feature index holds features of."""
    return hashlib.sha1(json.dumps([[v["video"], v.get("key")] for v in index["videos"]]).encode()).hexdigest()[:16]


def extract(config, backbone, layer, out_dir, weights_label, batch=64, desc=None):
    """Extract (or finish extracting) the features of every video of ``config``'s split into ``out_dir``.

    config: a filled training config (data, split, list_dir, sample_every, resize, crop, normalize,
    cache_dir). backbone: a ResNet (put in eval mode here). Returns the index dict. ``out_dir`` is locked
    while features are written into it (a second process is refused) and must be new, empty or a feature
    folder: never a run or a report.
    """
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
    with removed_on_failure(out_dir, has_index), RunLock(out_dir):  # a new folder is kept once it has an index
        refuse_other_kind(out_dir, "feature folder", "--out")
        return _extract(config, backbone, layer, out_dir, weights_label, batch, desc)


def _extract(config, backbone, layer, out_dir, weights_label, batch, desc):
    config = {**config, "chunk": 1, "context": 1, "val_groups": 0}  # every training video
    datasets = {"train": build_dataset(config, train=True), "test": build_dataset(config, train=False)}
    settings = {**described_settings(config, layer, weights_label), "weights_digest": weights_digest(backbone)}
    os.makedirs(out_dir, exist_ok=True)
    previous = read_index(out_dir)
    if previous is not None:
        changed = [k for k in SETTINGS if previous.get(k) != settings[k]]
        if changed:
            raise OtherSettings(f"{out_dir} holds features made with other settings ({', '.join(changed)}: "
                                f"{[previous.get(k) for k in changed]} != {[settings[k] for k in changed]}); "
                                "use another --out", changed)
    videos = []
    for subset, dataset in datasets.items():
        for i, ((rel, label), path) in enumerate(zip(dataset.videos, dataset.paths)):
            if path not in dataset.bad_reasons:  # unreadable metadata: listed in "bad" at the end
                videos.append({"video": rel, "file": feature_file(rel), "label": int(label), "subset": subset,
                               "key": video_key(path), "_dataset": dataset, "_i": i})
    for name in {os.path.dirname(item["file"]) for item in videos}:  # RunLock cleans the top level only
        remove_temporary_files(os.path.join(out_dir, name))  # files of an extraction that was killed
    # files of a folder without an index (of unknown weights and settings) were refused by refuse_other_kind;
    # a file is kept only when its video's key is the one recorded with it (the video has not changed since)
    written = {v["file"]: v.get("key") for v in previous["videos"]} if previous is not None else {}
    todo = [item for item in videos if written.get(item["file"]) != item["key"]
            or not os.path.isfile(os.path.join(out_dir, item["file"]))]
    if previous is not None and older_index(previous):
        warnings.warn(f"{out_dir}: its index.json records no key of each video's content (written by an older "
                      "tinyrrn): every video is extracted again", stacklevel=2)
    for item in todo:  # before the new index names the new keys: a stale file never passes for a fresh one
        if os.path.isfile(os.path.join(out_dir, item["file"])):
            os.remove(os.path.join(out_dir, item["file"]))
    index = {**settings, "complete": False, "classes": list(datasets["train"].classes),
             "videos": [{k: v for k, v in item.items() if not k.startswith("_")} for item in videos], "bad": []}
    write_json(os.path.join(out_dir, "index.json"), index)

    device = backend.get_device()
    backbone.eval()
    bar = Progress(total=len(videos), desc=desc or f"features {layer}")
    bar.update(len(videos) - len(todo))  # already extracted
    pending, frames_in_batch = [], 0  # (item, normalised frames) waiting for one forward pass

    def flush():
        nonlocal pending, frames_in_batch
        if not pending:
            return
        x = numpy.concatenate([frames for _, frames in pending])
        with no_grad():
            out = backend.to_numpy(backbone.features(Tensor(backend.to_device(x, device)), layer).data)
        start = 0
        for item, frames in pending:
            _save_features(os.path.join(out_dir, item["file"]), out[start:start + len(frames)].astype(numpy.float32))
            start += len(frames)
        bar.update(len(pending))
        pending, frames_in_batch = [], 0

    for item in todo:
        dataset = item["_dataset"]
        try:
            frames = dataset.frames(item["_i"])
        except BadVideo as err:
            warnings.warn(f"skipping bad video {item['video']}: {err}", stacklevel=2)
            dataset.drop([err.path], {err.path: err.reason})
            bar.update(1)
            continue
        x = centre_clips(frames, 1, dataset.crop, dataset.normalize)[:, 0]  # every frame, as a chunk of one
        pending.append((item, x))
        frames_in_batch += len(x)
        if frames_in_batch >= batch:
            flush()
    flush()
    bar.close()
    # every video left out, from the datasets' one record of them: unreadable metadata or found bad when decoded
    index["bad"] = [{"video": rel, "subset": subset, "reason": dataset.bad_reasons[path]}
                    for subset, dataset in datasets.items()
                    for (rel, _), path in zip(dataset.videos, dataset.paths) if path in dataset.bad_reasons]
    bad = {b["video"] for b in index["bad"]}
    index["videos"] = [v for v in index["videos"] if v["video"] not in bad]
    index["complete"] = True
    write_json(os.path.join(out_dir, "index.json"), index)
    return index


def parser():
    p = ArgumentParser(
        prog="python -m tinyrrn.features",
        description="Extract per-frame features (every k-th frame, spatially averaged after a block) of every "
                    "video of a split with a frozen backbone, for the Table 1 baselines. Resumable.")
    a = p.add_argument
    a("--data", help="dataset root in UCF-101 layout; omit for the built-in synthetic dataset")
    a("--list-dir", help="folder of the split files (default DATA/ucfTrainTestlist)")
    a("--split", type=int, default=1, choices=(1, 2, 3), help="official split number")
    a("--weights", required=True,
      help="backbone weights (.npz or torchvision .pth, e.g. ImageNet ResNet-50) or a tinyrrn checkpoint/run dir")
    a("--layer", choices=LAYERS, default="layer4", help="features after this block (paper: block2/3/4)")
    a("--arch", choices=sorted(ARCHITECTURES),
      help="backbone (default resnet50 on UCF-101, resnet_small on synthetic; a checkpoint sets its own)")
    a("--sample-every", type=int, default=10, help="take every k-th frame (paper: 10)")
    a("--resize", type=int, help="short side before cropping (default 256, synthetic 48)")
    a("--crop", type=int, help="centre crop size (default 224, synthetic 40)")
    a("--weights-layout", choices=sorted(WEIGHTS_LAYOUTS),
      help="layout of a weights file: torchvision (default), or caffe for MSRA/Caffe ResNet-50 weights (see "
      "tinyrrn.train); a checkpoint sets its own")
    a("--normalize", choices=NORMALIZATIONS, help="input convention of the weights (default: that of --weights-layout; "
      "a checkpoint sets its own)")
    a("--batch", type=at_least(1), default=64, help="frames per forward pass (gathered across videos)")
    a("--cache-dir", help="on-disk cache of decoded frames "
      f"(default {os.path.join(configuration.user_cache(), 'frames')})")
    add_compute_flags(p)
    add_debug_flag(p)
    a("--out", help="output folder (default features/<data>-split<N>-<layer>)")
    return p


def _refuse_other_than_checkpoints(args, saved):
    """A checkpoint sets its backbone and input convention: a flag asking for another is refused (features of
    another backbone, or of frames normalised as the model never saw them, would be wrong in silence)."""
    if args.arch not in (None, saved["arch"]):
        raise UsageError(f"--arch {args.arch}: --weights {args.weights} is a tinyrrn checkpoint of {saved['arch']}; "
                         f"leave --arch out to use its backbone, or give weights of {args.arch}")
    for flag, key in (("--weights-layout", "weights_layout"), ("--normalize", "normalize")):
        if getattr(args, key) not in (None, saved[key]):
            raise UsageError(f"{flag} {getattr(args, key)}: --weights {args.weights} is a tinyrrn checkpoint trained "
                             f"with {flag} {saved[key]}; leave {flag} out to use the run's")


@command
def main(argv=None):
    args = parser().parse_args(argv)
    use_compute(args.device, args.threads)
    backbone, model = None, {"arch": args.arch, "weights_layout": args.weights_layout or "torchvision",
                             "normalize": args.normalize}
    with reading_weights(args.weights):
        if is_checkpoint(args.weights):  # the run's backbone and input convention, never the flags' defaults
            run_model, saved = model_from_checkpoint(args.weights)
            backbone, model = run_model.backbone.eval(), {key: saved[key] for key in model}
            _refuse_other_than_checkpoints(args, model)
    config = configuration.fill_defaults({**configuration.DEFAULTS, **model, "data": args.data,
                                          "list_dir": args.list_dir, "split": args.split,
                                          "sample_every": args.sample_every, "resize": args.resize, "crop": args.crop,
                                          "cache_dir": args.cache_dir})
    name = os.path.basename(os.path.normpath(args.data)) if args.data else "synthetic"
    out = args.out or os.path.join("features", f"{name}-split{args.split}-{args.layer}")
    if backbone is None:
        with reading_weights(args.weights):
            backbone, _ = load_backbone(args.weights, config["arch"], layout=config["weights_layout"])
    arch = config["arch"]

    def kept():  # a new folder without an index (nothing to go on from) is removed by extract
        return "; the features written so far are kept: run the same command again to go on" if has_index(out) else ""
    try:
        with writing_into(out):
            index = extract({**config, "arch": arch}, backbone, args.layer, out, os.path.abspath(args.weights),
                            args.batch)
    except OSError as err:  # a full disk: what is kept, if any (else the error as it is: --out under a file)
        if not kept():
            raise
        raise Failure(describe(err) + kept()) from None
    except (KeyboardInterrupt, signals.Interrupted) as stop:
        raise signals.Interrupted(getattr(stop, "signum", signal.SIGINT), message="stopped" + kept()) from None
    print(f"wrote features of {len(index['videos'])} videos ({len(index['bad'])} bad) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
