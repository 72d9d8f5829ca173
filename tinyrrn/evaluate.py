"""Video-level evaluation (Section 3.3): average chunk probabilities over each video's M chunks.

    python -m tinyrrn.evaluate RUN_DIR/best.npz --data ROOT --split 1

Reports the paper's metric, the video-level error rate, with top-1/top-5
accuracy, mean class accuracy and clip (chunk) accuracy, and writes
metrics.json, a confusion matrix (CSV and PNG), a per-class table and each video's prediction
(predictions.csv), from which every figure can be recomputed.
"""
import contextlib
import csv
import os
import sys
import time

import numpy

from . import backend, rundir
from . import functional as F
from .cli import (ArgumentParser, UsageError, add_compute_flags, add_debug_flag, at_least, command, use_compute,
                  writing_into)
from .config import DEFAULTS, fill_defaults
from .builders import build_dataset, check_classes, check_recorded_folders, checkpoint_file, model_from_checkpoint
from .data import ChunkLoader
from .data.splits import read_split, shared_groups
from .files import atomic_write, read_json, remove_temporary_files, write_json
from .parallel import Communicator
from .plots import plot_confusion
from .progress import Progress
from .provenance import made_by
from .grad_mode import no_grad
from .tensor import Tensor

AVERAGING = "mean of the softmax probabilities of the M chunks of each video (paper, Sec. 3.3)"


def chunk_probabilities(model, dataset, batch=16, workers=2, desc="eval", stream=None):
    """Softmax probabilities (chunks, classes), labels and video indices of every chunk of ``dataset``, and
    the paths of the videos left out: those of ``dataset.bad_videos`` and those found bad when decoded.

    ``stream``: where the progress bar goes (default stderr)."""
    model.eval()
    loader = ChunkLoader(dataset, batch_size=batch, shuffle=False, workers=workers, device=backend.get_device())
    probs, labels, videos = [], [], []
    bar = Progress(total=len(loader), desc=desc, stream=stream)
    with no_grad():
        for clips, y, v in loader:  # clips and labels y on the model's device
            if not len(y):  # every chunk of this batch was from a bad video
                continue
            probs.append(F.softmax(model(Tensor(clips)), -1).data)
            labels.append(y)
            videos.append(v)
            bar.update(1)
    bar.close()
    classes = len(dataset.classes)
    if not probs:
        return numpy.zeros((0, classes), "float32"), numpy.zeros(0, "int64"), numpy.zeros(0, "int64"), \
            list(loader.bad_videos)
    xp = backend.xp_of(probs[0])  # one copy to the host at the end, not one wait per batch
    probs = backend.to_numpy(xp.concatenate(probs))
    refuse_non_finite(probs, model, f"the videos of {getattr(dataset, 'list_file', 'the dataset')}")
    return probs, backend.to_numpy(xp.concatenate(labels)), numpy.concatenate(videos), list(loader.bad_videos)


def refuse_non_finite(probabilities, model, what):
    """Refuse probabilities holding NaN or infinity (weights or batch-norm statistics that overflow): such
    output is never scored, ranked or used to select an epoch. ``model.source``: the checkpoint it came from."""
    if not numpy.isfinite(probabilities).all():
        source = getattr(model, "source", "the model being trained")
        raise ValueError(f"{source}: its weights or batch-norm statistics give non-finite (NaN or infinite) "
                         f"probabilities for {what}; not scored")


class ChunkSubset:
    """The chunks ``indices`` of a dataset, as a dataset (``get`` returns the original video index)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, numpy.asarray(indices, dtype=numpy.int64)
        self.classes, self.paths, self.clip_shape = dataset.classes, dataset.paths, dataset.clip_shape
        self.chunk_video = numpy.asarray(dataset.chunk_video)[self.indices]
        self.bad_videos = list(dataset.bad_videos)

    def __len__(self):
        return len(self.indices)

    def get(self, i, rng=None):
        return self.dataset.get(int(self.indices[i]), rng)


def video_shard(dataset, rank, size):
    """Chunk indices of the videos v with v % size == rank: all chunks of a video on one rank."""
    return numpy.flatnonzero(numpy.asarray(dataset.chunk_video) % size == rank)


def sharded_chunk_probabilities(model, dataset, batch, workers, desc, comm):
    """chunk_probabilities over all ranks: each rank runs its videos, every rank gets all chunks
    in the one-process order (by chunk index), so video metrics equal the one-process ones.
    On one process the shard is the whole dataset. Also returns the videos left out on any rank (sorted)."""
    indices = video_shard(dataset, comm.rank, comm.size)
    probs, labels, videos, bad = chunk_probabilities(model, ChunkSubset(dataset, indices), batch, workers, desc,
                                                     stream=comm.stream())
    # bad videos drop chunks: keep the indices of the chunks that came back (they keep their order)
    kept = indices[numpy.isin(numpy.asarray(dataset.chunk_video)[indices], videos)] if len(videos) else indices[:0]
    parts = comm.allgather((kept, probs, labels, videos, bad))
    order = numpy.argsort(numpy.concatenate([p[0] for p in parts]), kind="stable")
    left_out = sorted(set().union(*(p[4] for p in parts)))
    return (*(numpy.concatenate([p[i] for p in parts])[order] for i in (1, 2, 3)), left_out)


def video_metrics(probs, labels, videos, num_classes, names=None):
    """The paper's video-level metrics from chunk probabilities (host arrays). With ``names`` (each video
    index's name) also "predictions": one row per video (``PREDICTION_COLUMNS``; class indices), from which
    every figure can be recomputed; write_report saves them as predictions.csv."""
    video_ids, inverse = numpy.unique(videos, return_inverse=True)
    sums = numpy.zeros((len(video_ids), num_classes))
    numpy.add.at(sums, inverse, probs)
    video_probs = sums / numpy.bincount(inverse)[:, None]
    video_labels = numpy.zeros(len(video_ids), dtype=numpy.int64)
    video_labels[inverse] = labels
    predicted = video_probs.argmax(axis=1)
    correct = predicted == video_labels
    top5 = numpy.argsort(-video_probs, axis=1, kind="stable")[:, :5]  # ties in argmax's order: top-1 is in top 5
    confusion = numpy.zeros((num_classes, num_classes), dtype=numpy.int64)
    numpy.add.at(confusion, (video_labels, predicted), 1)
    per_class_total = confusion.sum(axis=1)
    per_class = numpy.where(per_class_total > 0, numpy.diag(confusion) / numpy.maximum(per_class_total, 1), numpy.nan)
    metrics = {
        "video_error": float(1 - correct.mean()) if len(correct) else float("nan"),
        "top1": float(correct.mean()) if len(correct) else float("nan"),
        "top5": float((top5 == video_labels[:, None]).any(axis=1).mean()) if len(correct) else float("nan"),
        "top5_k": int(min(5, num_classes)),  # with fewer than 5 classes, top-5 is of them all (summary says so)
        "mean_class_accuracy": float(numpy.nanmean(per_class)) if (per_class_total > 0).any() else float("nan"),
        "clip_accuracy": float((probs.argmax(axis=1) == labels).mean()) if len(labels) else float("nan"),
        "videos": int(len(video_ids)),
        "chunks": int(len(labels)),
        "averaging": AVERAGING,
        "per_class_accuracy": [None if numpy.isnan(a) else float(a) for a in per_class],
        "confusion": confusion.tolist(),
    }
    if names is not None:
        chunks = numpy.bincount(inverse)
        chunks_correct = numpy.bincount(inverse, weights=probs.argmax(axis=1) == labels, minlength=len(video_ids))
        metrics["predictions"] = [
            [names[v], int(y), int(p), float(video_probs[i, p]), top5[i].tolist(), int(n), int(c)]
            for i, (v, y, p, n, c) in enumerate(zip(video_ids, video_labels, predicted, chunks, chunks_correct))]
    return metrics


# predictions.csv: a video's true and predicted class, the mean chunk probability of the predicted class, its
# five most probable classes (|-separated, most probable first), its chunks and how many of them were right
PREDICTION_COLUMNS = ("video", "true_class", "predicted_class", "probability", "top5", "chunks", "chunks_correct")


def write_predictions(predictions, classes, path):
    """predictions.csv (atomically) from video_metrics' "predictions" rows."""
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(PREDICTION_COLUMNS)
        for video, true, predicted, probability, top5, chunks, right in predictions:
            writer.writerow([video, classes[true], classes[predicted], repr(probability),
                             "|".join(classes[c] for c in top5), chunks, right])


def write_report(metrics, classes, out_dir):
    """confusion.png, confusion.csv, per_class.csv, predictions.csv (when ``metrics`` holds video_metrics'
    "predictions": every figure can be recomputed from it) and metrics.json in out_dir, each atomically;
    metrics.json, which marks a report written (and names its checkpoint), last. The picture, the write most
    likely to fail, comes first: when it fails the earlier report stays whole. Once it has replaced the earlier
    picture, the earlier metrics.json and predictions.csv are removed: a table failing then (a full disk) leaves
    a folder that is no report, never new files beside the figures of other weights."""
    metrics = dict(metrics)
    predictions = metrics.pop("predictions", None)
    plot_confusion(numpy.array(metrics["confusion"]), classes, os.path.join(out_dir, "confusion.png"))
    for name in ("metrics.json", "predictions.csv"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, name))
    with atomic_write(os.path.join(out_dir, "confusion.csv"), newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted"] + list(classes))
        for name, row in zip(classes, metrics["confusion"]):
            writer.writerow([name] + row)
    with atomic_write(os.path.join(out_dir, "per_class.csv"), newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "videos", "accuracy"])
        for name, row, acc in zip(classes, metrics["confusion"], metrics["per_class_accuracy"]):
            writer.writerow([name, sum(row), "" if acc is None else f"{acc:.4f}"])
    if predictions is not None:
        write_predictions(predictions, classes, os.path.join(out_dir, "predictions.csv"))
        metrics["predictions"] = "predictions.csv"
    write_json(os.path.join(out_dir, "metrics.json"), {**metrics, "classes": list(classes)})


# The headline figures of an evaluation (logged per epoch, and kept for the last epoch beside the selected one)
HEADLINE = ("video_error", "top1", "top5", "mean_class_accuracy", "clip_accuracy")


def selection_rule(val_groups, val_error=None, validated=()):
    """How the reported epoch was chosen: on the held-out training groups, or the last epoch without them
    (or without a validated epoch whose weights are kept: --max-steps stopped the run in its first, or in the
    first after resuming found best.npz stale; ``validated``: the epochs validated)."""
    if not val_groups:
        return "the last epoch (--val-groups 0: no validation groups)"
    if val_error is None and validated:
        return (f"the last weights (the weights of the validated epochs {', '.join(map(str, sorted(validated)))} "
                "were lost, best.npz being stale on resuming, and --max-steps stopped the run before another "
                "epoch ended)")
    if val_error is None:
        return "the last weights (--max-steps stopped the run before any epoch ended: none was validated)"
    groups = ", ".join(f"g{g:02d}" for g in val_groups)
    return f"the lowest validation video error ({val_error:.4f}) on groups {groups} held out of the training list"


def protocol_reports(selected_epoch, selected, last_epoch, last, val_groups, val_errors):
    """(selected, last): the test-split reports of the validation protocol (see tinyrrn.train).

    ``selected`` / ``last``: test metrics of the epoch chosen on the validation groups and of the
    last epoch; ``val_errors``: {epoch: validation video error} (empty without validation groups).
    The selected epoch's report says how it was chosen and carries the last epoch's headline
    figures under "last"."""
    last = {**last, "split": "test", "epoch": last_epoch, "val_video_error": val_errors.get(last_epoch)}
    selected = {**selected, "split": "test", "epoch": selected_epoch, "epochs": last_epoch,
                "selected_by": selection_rule(val_groups, val_errors.get(selected_epoch), val_errors),
                "val_groups": list(val_groups), "val_video_error": val_errors.get(selected_epoch),
                "last": {key: last[key] for key in ("epoch", "val_video_error", *HEADLINE)}}
    return selected, last


def weights_record(path, digest, updates):
    """The fields of a report naming the weights it is of: the checkpoint file, the digest of its model's
    weights (checkpoint.weights_digest) and the updates they had. A report is matched to a checkpoint on them."""
    return {"checkpoint": os.path.abspath(path), "weights_digest": digest, "updates": updates}


def rerun_record(settings, datasets):
    """The fields of a report that name what made it, to make it again: the command line and code version
    (provenance.made_by), the settings (a run's config) and the digest of each set of videos used
    ({name: dataset}; UCF101.digest)."""
    return {"made_by": made_by(), "settings": settings,
            "data_digests": {name: dataset.digest() for name, dataset in datasets.items()}}


def summary(metrics):
    """One line with the headline numbers."""
    skipped = metrics.get("unreadable_videos") or []
    k = metrics.get("top5_k", 5)  # fewer than 5 classes: top-5 holds them all, so every video is in it (as a clamped
    # torch.topk(5) would count; torch.topk itself refuses k > classes)
    return (f"video error {metrics['video_error']:.4f} | top-1 {metrics['top1']:.4f} | top-5 {metrics['top5']:.4f} "
            + (f"(of {k} classes: all of them) " if k < 5 else "") +
            f"| mean class acc {metrics['mean_class_accuracy']:.4f} | clip acc {metrics['clip_accuracy']:.4f} "
            f"({metrics['videos']} videos, {metrics['chunks']} chunks"
            + (f"; {len(skipped)} unreadable video(s) left out, listed in metrics.json as unreadable_videos: "
               f"{skipped[0]}{', ...' if len(skipped) > 1 else ''}" if skipped else "") + ")")


def no_video_evaluated(dataset, left_out):
    """The error when every video of ``dataset`` turned out bad (``left_out``: their paths): its list, which
    videos, and (for the validation groups) how to train without them."""
    validation = getattr(dataset, "validation", False)
    where = getattr(dataset, "list_file", None)
    return (f"{where + ': ' if where else ''}no video could be evaluated: all {len(dataset.paths)} "
            f"{'videos of the validation groups' if validation else 'videos'} are bad ({left_out[0]}, ...)"
            + ("; replace them, or start a run with --val-groups 0 (no validation: the last epoch is reported)"
               if validation else ""))


def evaluate(model, dataset, batch=16, workers=2, out_dir=None, desc="eval", comm=None):
    """Run the model over ``dataset`` and return the video-level metrics (and write them if out_dir).

    With a communicator of several ranks (tinyrrn.parallel) each rank runs the chunks of its
    share of the videos; every rank returns the metrics of the whole set (equal to one process's)
    and rank 0 alone writes the report.
    """
    start = time.monotonic()
    comm = comm if comm is not None else Communicator()
    probs, labels, videos, left_out = sharded_chunk_probabilities(model, dataset, batch, workers, desc, comm)
    if not len(videos):
        raise ValueError(no_video_evaluated(dataset, left_out))
    metrics = video_metrics(probs, labels, videos, len(dataset.classes), names=[rel for rel, _ in dataset.videos])
    # every video left out of the figures: unreadable metadata, or found bad when decoded (the loader's list)
    metrics["unreadable_videos"] = left_out
    metrics["seconds"] = round(time.monotonic() - start, 2)
    if out_dir is not None and comm.is_root:
        write_report(metrics, dataset.classes, out_dir)
    return metrics


# training's test reports: RUN_DIR/eval (best.npz, the selected epoch) and RUN_DIR/eval-last (checkpoint.npz)
REPORT_FOLDERS = {"best.npz": "eval", "checkpoint.npz": "eval-last"}
PROTOCOL = ("split", "epoch", "epochs", "selected_by", "val_groups", "val_video_error", "last", "stopped_by")


def other_videos(args, trained):
    """The suffix naming the test videos asked for when they are not those of the checkpoint's run
    (``trained``: its config): '-split2', '-DATA', '-LIST_DIR'; '' for the run's own."""
    def same(key, value):
        if value is None:
            return True
        if key == "split":
            return value == trained["split"]
        return trained[key] is not None and os.path.abspath(value) == os.path.abspath(trained[key])
    asked = (("split", args.split, f"split{args.split}"), ("data", args.data, args.data),
             ("list_dir", args.list_dir, args.list_dir))
    return "".join("-" + os.path.basename(os.path.normpath(str(name))) for key, value, name in asked
                   if not same(key, value))


def report_folder(path, suffix):
    """Where evaluate writes by default: the folder training writes for that checkpoint (eval/ for best.npz,
    eval-last/ for checkpoint.npz), followed by ``suffix`` (other_videos) for other test videos."""
    path = checkpoint_file(path)
    name = REPORT_FOLDERS.get(os.path.basename(path), "eval-" + os.path.splitext(os.path.basename(path))[0])
    return os.path.join(os.path.dirname(os.path.abspath(path)), name + suffix)


def test_videos(config):
    """Which test videos a report is of: the dataset (None: the built-in synthetic one), list folder and split."""
    return {"data": config["data"] and os.path.abspath(config["data"]),
            "list_dir": config["list_dir"] and os.path.abspath(config["list_dir"]), "split": config["split"]}


@contextlib.contextmanager
def report_lock(out, flag):
    """Hold, from the check of the report folder ``out`` (named by ``flag``, --out, or None) to its last file,
    the lock of the folder it lies in: its training run's (RUN/lock: training writes eval/ and eval-last/ too)
    when ``out`` is inside one, else ``out``'s own. A training run or a second evaluation of that folder is then
    refused (rundir.RunLock), never mixed up with this one. Yields the folder locked; a report folder made for
    the lock and left empty (the evaluation failed) is removed."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"{f'{flag} {out}' if flag else out}: is a file, not a folder for the report")
    run = os.path.dirname(os.path.abspath(out))
    folder = run if rundir.folder_kind(run) == "training run" else out
    made = not os.path.exists(out)
    try:
        with rundir.RunLock(folder):
            remove_temporary_files(out)  # of an evaluation killed mid-write (RunLock cleans its own folder only)
            yield folder
    finally:
        if made:
            with contextlib.suppress(OSError):  # not empty: the report was written
                os.rmdir(out)


def check_report_folder(out, videos, checkpoint, flag):
    """Refuse, before any work (under report_lock), a report folder that holds another command's output (a run),
    or the report of other test videos (two datasets of one name would share eval-NAME); and a folder the user
    named (``flag``: --out) that holds the report of another checkpoint, or one naming none (a baseline's,
    an older tinyrrn's). The default folder is the checkpoint's own: its report is replaced."""
    where = f"{flag} {out}" if flag else out
    rundir.refuse_other_kind(out, "evaluation report", flag or "the report folder")
    written = read_report(out)
    if written is None:
        return
    if written.get("test_videos") not in (None, videos):
        other = written["test_videos"]
        raise UsageError(f"{where}: holds the report of other test videos ({other['data'] or 'synthetic'}, "
                         f"split {other['split']}); name another folder with --out")
    if flag and written.get("checkpoint") != os.path.abspath(checkpoint):
        of = f"of {written['checkpoint']}" if written.get("checkpoint") else "that names no checkpoint"
        raise UsageError(f"{where}: holds a report {of}, not of {os.path.abspath(checkpoint)}; name another folder "
                         "with --out")


def read_report(out):
    """The metrics.json in ``out`` as a dict, or None when there is none (or a damaged one: nothing to keep)."""
    try:
        written = read_json(os.path.join(out, "metrics.json"))
    except (OSError, ValueError):
        return None
    return written if isinstance(written, dict) else None


def training_protocol(out, model):
    """The fields only training knows (epoch, how it was selected, the last epoch's figures), from the report
    training wrote into ``out`` for the same weights as ``model`` (builders.model_from_state); {} when there is
    none, or when it is of other weights (the run went on since, e.g. was stopped in mid-epoch). A report names
    its weights by their digest (checkpoint.weights_digest); one written before digests, by its epoch (and
    updates, when it has them)."""
    written = read_report(out)
    if written is None:
        return {}
    if "weights_digest" in written:
        same = written["weights_digest"] == model.digest
    else:
        same = written.get("epoch") == model.epoch and written.get("updates", model.updates) == model.updates
    return {key: written[key] for key in PROTOCOL if key in written} if same else {}


def refuse_trained_videos(dataset, trained_split, checkpoint):
    """Refuse test videos of another split whose groups (source footage) are in the training list of the split
    the checkpoint was trained on (UCF-101's splits: split 2's test groups are in split 1's training list):
    their error would not be a test."""
    if dataset.split == trained_split:  # the split's own lists are checked for leaks when read
        return
    train_list = f"trainlist{trained_split:02d}.txt"
    shared, names = shared_groups(read_split(dataset.list_dir, trained_split)[1], dataset.videos)
    if shared:
        raise UsageError(f"--split {dataset.split}: {len(shared)} of its test groups are in the training list of "
                         f"split {trained_split} ({os.path.join(dataset.list_dir, train_list)}), which {checkpoint} "
                         f"was trained on: {names}; its error there would not be a test. Evaluate it on split "
                         f"{trained_split}, or train a model on split {dataset.split}")


def run_cache_dir(config, path):
    """The frame cache the run trains with (the cache_dir of its config.json, which a resumed run may have changed;
    else the checkpoint's at ``path``) when that folder is one (it holds frame_counts.json): its counts and
    frames are used, not decoded again; else the user's default cache. A folder that a checkpoint names and that
    holds no frame cache is never written into."""
    recorded = [config.get("cache_dir")]
    with contextlib.suppress(ValueError):  # no run folder, or a damaged config.json: the checkpoint's
        recorded.insert(0, rundir.read_config(os.path.dirname(os.path.abspath(path)))[0].get("cache_dir"))
    for folder in recorded:
        if isinstance(folder, str) and os.path.isfile(os.path.join(folder, "frame_counts.json")):
            return folder
    return fill_defaults({**DEFAULTS, "data": config["data"]})["cache_dir"]


@command
def main(argv=None):
    p = ArgumentParser(prog="python -m tinyrrn.evaluate",
                       description="Evaluate a checkpoint by video: chunk probabilities averaged "
                                   "over each video's chunks (the paper's rule).")
    p.add_argument("checkpoint", help="checkpoint file (RUN_DIR/best.npz or RUN_DIR/checkpoint.npz) or a run directory")
    p.add_argument("--data", help="dataset root (default: the dataset the checkpoint was trained on)")
    p.add_argument("--list-dir", help="folder of split files (default DATA/ucfTrainTestlist)")
    p.add_argument("--split", type=int, choices=(1, 2, 3), help="split (default: the checkpoint's)")
    p.add_argument("--batch", type=at_least(1), help="chunks per forward pass (default: the checkpoint's training "
                                                     "--batch, with which training wrote its report: a chunk's "
                                                     "probabilities depend on the batch's size in their last bits)")
    p.add_argument("--workers", type=at_least(0), default=2, help="background decoding threads")
    p.add_argument("--cache-dir", help="on-disk cache of decoded frames (default: the run's, when its folder is a "
                                       "frame cache; else ~/.cache/tinyrrn/frames, or $XDG_CACHE_HOME/tinyrrn/frames)")
    p.add_argument("--out", help="folder for metrics.json and the confusion matrix (default: the folder training "
                                 "writes for that checkpoint, RUN_DIR/eval for best.npz or a run directory and "
                                 "RUN_DIR/eval-last for checkpoint.npz, keeping the epoch and selection training "
                                 "recorded there; for other test videos than the run's, e.g. --data /data/other: "
                                 "RUN_DIR/eval-other)")
    add_compute_flags(p)
    add_debug_flag(p)
    args = p.parse_args(argv)
    use_compute(args.device, args.threads)
    path = checkpoint_file(args.checkpoint)
    model, config = model_from_checkpoint(path)
    check_recorded_folders(config, path, {key: f"give --{key.replace('_', '-')} where it is now"
                                          for key in ("data", "list_dir") if getattr(args, key) is None})
    suffix, trained_split = other_videos(args, config), config["split"]
    for key in ("data", "list_dir", "split"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    config["cache_dir"] = args.cache_dir or run_cache_dir(config, path)
    dataset = build_dataset(config, train=False)
    check_classes(model.classes, dataset.classes, os.path.join(dataset.list_dir, "classInd.txt"))
    refuse_trained_videos(dataset, trained_split, path)
    out = args.out or report_folder(path, suffix)
    with writing_into(os.path.dirname(os.path.abspath(out))), \
            report_lock(out, "--out" if args.out else None) as locked:
        if os.path.dirname(os.path.abspath(path)) == locked:  # its run: training may have replaced it since it was read
            model = model_from_checkpoint(path)[0]
        check_report_folder(out, test_videos(config), path, "--out" if args.out else None)
        metrics = evaluate(model, dataset, args.batch or config["batch"], args.workers)
        metrics.update(weights_record(path, model.digest, model.updates), test_videos=test_videos(config),
                       **rerun_record(config, {"test": dataset}))
        if not args.out and not suffix:  # training's own report of this checkpoint: keep what only training knows
            metrics = {**training_protocol(out, model), **metrics}
        write_report(metrics, dataset.classes, out)
    print(summary(metrics))
    print(f"averaging: {metrics['averaging']}")
    print(f"wrote {out}/metrics.json, confusion.csv, confusion.png, per_class.csv, predictions.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
