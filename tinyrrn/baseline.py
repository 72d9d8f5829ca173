"""The paper's Table 1 baselines on cached per-frame features (see tinyrrn.features).

    python -m tinyrrn.baseline --features DIR --model {avgpool,gru} [--znorm] [--out RUN_DIR]

* avgpool: a video's frame features are averaged and classified by one linear layer (softmax).
* gru: a 128-unit GRU runs over the video's frame features in order; a linear layer classifies
  its hidden state after the video's last frame (videos of a batch are zero-padded at the end
  and each video's own last step is read, so padding never reaches the prediction).
* --znorm: each feature dimension is standardised with the mean and standard deviation of the
  *training* videos' frames only; the same statistics are applied to the test videos.

Both train with Adam on video-level cross-entropy and are evaluated on the split's test videos
with tinyrrn.evaluate.video_metrics (one "chunk" per video), so the video error means what the
evaluator's does. The protocol is tinyrrn.train's: ``--val-groups N`` (default 3) whole groups
of the training videos, chosen by ``--seed`` as a training run chooses them, are held out (and
left out of the Z-norm statistics); the epoch with the lowest validation video error (the earliest
of equal ones) is kept,
and the test split is evaluated once for it and once for the last epoch; ``--val-groups 0``
trains on every training video and reports the last epoch. RUN_DIR gets config.json,
metrics.jsonl (loss and validation error per epoch), model.npz (the selected epoch), eval-last/
and, last, eval/ (its test metrics.json, confusion matrix, per-class table); a rerun first deletes
the previous run's results, so an interrupted one leaves none under its settings.
"""
import os
import shutil
import sys
import time

import numpy

from . import backend, nn, rundir
from . import functional as F
from . import random as tinyrandom
from .data.splits import in_groups, validation_groups
from .evaluate import protocol_reports, summary, video_metrics, write_report
from .cli import (ArgumentParser, UsageError, add_compute_flags, add_debug_flag, at_least, command, positive_number,
                  use_compute, writing_into)
from .features import made_with, older_index, read_index, videos_digest
from .files import JsonLog, write_json
from .optim import Adam
from .progress import Progress
from .provenance import made_by
from .grad_mode import no_grad
from .tensor import Tensor
from .weightfiles import save_npz

MODELS = ("avgpool", "gru")
RESULTS = ("eval", "eval-last", "model.npz")  # what a finished run leaves beside config.json and metrics.jsonl
DEFAULTS = {"epochs": 30, "lr": 1e-3, "batch": 32, "seed": 0, "hidden": 128, "val_groups": 3}


def load_features(features_dir):
    """(index, {'train': (list of (frames, C) arrays, labels, video names), 'test': ...}) from a complete
    feature folder."""
    index = read_index(features_dir)
    if index is None:
        raise UsageError(f"--features {features_dir}: no index.json (run python -m tinyrrn.features first)")
    if not index.get("complete"):
        raise ValueError(f"{features_dir}: feature extraction is not finished (index.json says incomplete); "
                         "run python -m tinyrrn.features again to resume it")
    if older_index(index):
        raise ValueError(f"{features_dir}: written by an older tinyrrn, whose index.json records neither what "
                         "identifies each video's content nor every video left out; run python -m tinyrrn.features "
                         "again into it (the same command) to bring it up to date")
    subsets = {}
    for subset in ("train", "test"):
        items = [v for v in index["videos"] if v["subset"] == subset]
        arrays = [_feature_array(features_dir, v["file"]) for v in items]
        widths = {a.shape[1] for a in arrays} | {a.shape[1] for a in subsets.get("train", ([],))[0]}
        if len(widths) > 1:
            odd = next(v["file"] for v, a in zip(items, arrays) if a.shape[1] != arrays[0].shape[1]) \
                if len({a.shape[1] for a in arrays}) > 1 else items[0]["file"]
            raise ValueError(f"{os.path.join(features_dir, odd)}: features {sorted(widths)} wide in one folder; "
                             "run python -m tinyrrn.features again into a new folder")
        subsets[subset] = (arrays, numpy.array([v["label"] for v in items], dtype=numpy.int64),
                           [v["video"] for v in items])
    return index, subsets


def _feature_array(features_dir, name):
    """One video's (frames, C) features, checked: readable, 2-D floats, not empty, finite."""
    path = os.path.join(features_dir, name)
    try:
        array = numpy.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # EOFError: a file of 0 bytes
        raise ValueError(f"{path}: not a readable feature file ({type(err).__name__}); run python -m "
                         "tinyrrn.features again into a new folder") from None
    if array.ndim != 2 or array.dtype.kind != "f" or 0 in array.shape:
        raise ValueError(f"{path}: features of shape {array.shape} and dtype {array.dtype}, expected "
                         "(frames, C) floats with at least one frame and one channel")
    if not numpy.isfinite(array).all():
        raise ValueError(f"{path}: holds NaN or infinite values")
    return array.astype(numpy.float32)


def znorm_stats(train_sequences, eps=1e-6):
    """Per-dimension (mean, std) over every frame of the training videos (std floored at eps)."""
    frames = numpy.concatenate(train_sequences).astype(numpy.float64)
    return frames.mean(axis=0).astype(numpy.float32), numpy.maximum(frames.std(axis=0), eps).astype(numpy.float32)


def apply_znorm(sequences, stats):
    mean, std = stats
    return [(s - mean) / std for s in sequences]


class AvgPoolClassifier(nn.Module):
    """Mean of the frame features -> linear classifier."""

    def __init__(self, features, classes):
        super().__init__()
        self.fc = nn.Linear(features, classes)

    def forward(self, x, lengths):
        """x (B, T, C) zero-padded after each video's lengths[b] frames -> logits (B, classes)."""
        xp = backend.xp_of(x.data)
        lengths = xp.asarray(lengths)
        return self.fc(F.sum(x, axis=1) / Tensor(lengths[:, None].astype(x.dtype)))


class GRUClassifier(nn.Module):
    """A GRU over the frame features; linear classifier on the hidden state after each video's last frame."""

    def __init__(self, features, classes, hidden=128):
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x, lengths):
        """x (B, T, C) zero-padded at the end -> logits (B, classes) from step lengths[b]-1 of video b."""
        outputs, _ = self.gru(x)
        xp = backend.xp_of(x.data)
        last = outputs[xp.arange(x.shape[0]), xp.asarray(lengths) - 1]
        return self.fc(last)


def build(model, features, classes, hidden=128):
    if model == "avgpool":
        return AvgPoolClassifier(features, classes)
    if model == "gru":
        return GRUClassifier(features, classes, hidden)
    raise ValueError(f"unknown baseline model {model!r}; expected one of {MODELS}")


def pad(sequences):
    """(B, T_max, C) float32 zero-padded at the end, and lengths (B,)."""
    lengths = numpy.array([len(s) for s in sequences], dtype=numpy.int64)
    out = numpy.zeros((len(sequences), lengths.max(), sequences[0].shape[1]), dtype=numpy.float32)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out, lengths


def predict(model, sequences, batch=64):
    """Softmax probabilities (videos, classes) of every sequence, in order (eval mode, no graph)."""
    model.eval()
    device = backend.get_device()
    probs = []
    order = numpy.argsort([len(s) for s in sequences], kind="stable")  # similar lengths: little padding
    with no_grad():
        for start in range(0, len(order), batch):
            chosen = order[start:start + batch]
            x, lengths = pad([sequences[i] for i in chosen])
            logits = model(Tensor(backend.to_device(x, device)), lengths)
            probs.append(backend.to_numpy(F.softmax(logits, -1).data))
    result = numpy.empty((len(sequences), probs[0].shape[1]), dtype=numpy.float32)
    result[order] = numpy.concatenate(probs)
    return result


def fit(model, sequences, labels, epochs=30, lr=1e-3, batch=32, seed=0, log=None, desc="train", after_epoch=None):
    """Train ``model`` with Adam on video-level cross-entropy; returns the mean loss of each epoch.

    ``after_epoch(epoch)``, called after each epoch (1-based), returns figures (a dict) for the log."""
    device = backend.get_device()
    optimizer = Adam(model.parameters(), lr=lr)
    rng = numpy.random.default_rng(seed)
    losses = []
    bar = Progress(total=epochs, desc=desc)
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(sequences))
        total = 0.0
        for start in range(0, len(order), batch):
            chosen = order[start:start + batch]
            x, lengths = pad([sequences[i] for i in chosen])
            logits = model(Tensor(backend.to_device(x, device)), lengths)
            loss = F.cross_entropy(logits, backend.to_device(labels[chosen], device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
        losses.append(total / len(order))
        figures = after_epoch(epoch + 1) if after_epoch else {}
        if log:
            log.write({"kind": "epoch", "epoch": epoch + 1, "loss": losses[-1], **figures})
        bar.update(1, loss=losses[-1])
    bar.close()
    return losses


AVERAGING = {"avgpool": "none: one prediction per video, the softmax of a linear classifier of the mean of its "
                        "frame features ('chunks' counts videos)",
             "gru": "none: one prediction per video, the softmax of a linear classifier of the GRU's hidden state "
                    "after its last frame ('chunks' counts videos)"}


def video_error(model, sequences, labels, classes, names=None):
    """The metrics of one prediction per video (tinyrrn.evaluate.video_metrics; with the videos' ``names``, their
    predictions too)."""
    return video_metrics(predict(model, sequences), labels, numpy.arange(len(labels)), classes, names)


def left_out(index, subset="test"):
    """The videos of ``subset`` a feature index holds no features of (unreadable or undecodable), sorted."""
    return sorted(b["video"] for b in index.get("bad", []) if b["subset"] == subset)


def run(features_dir, model="avgpool", znorm=False, out_dir=None, epochs=DEFAULTS["epochs"], lr=DEFAULTS["lr"],
        batch=DEFAULTS["batch"], seed=DEFAULTS["seed"], hidden=DEFAULTS["hidden"], val_groups=DEFAULTS["val_groups"],
        flag="--out"):
    """Train and evaluate one baseline under the validation protocol (module docstring); returns the
    test metrics of the selected epoch, the last epoch's under "last" (written to out_dir if given).

    ``out_dir`` is locked while the baseline writes into it (a second process is refused) and must be
    new, empty or a baseline run's (``flag``: how the user named it): never a training run or a report."""
    settings = {"epochs": epochs, "lr": lr, "batch": batch, "seed": seed, "hidden": hidden, "val_groups": val_groups}
    if not out_dir:
        return _run(features_dir, model, znorm, None, **settings)
    with rundir.removed_on_failure(out_dir), rundir.RunLock(out_dir):  # a new folder: removed if this run fails
        rundir.refuse_other_kind(out_dir, "baseline run", flag)
        return _run(features_dir, model, znorm, out_dir, **settings)


def _run(features_dir, model, znorm, out_dir, epochs, lr, batch, seed, hidden, val_groups):
    start = time.monotonic()
    index, subsets = load_features(features_dir)
    (train_x, train_y, train_names), (test_x, test_y, test_names) = subsets["train"], subsets["test"]
    if not train_x or not test_x:
        raise ValueError(f"{features_dir}: needs training and test videos, has {len(train_x)} and {len(test_x)}")
    try:
        groups = validation_groups([(name, 0) for name in train_names], val_groups, seed)
    except ValueError as err:  # a --val-groups the list cannot give: a usage error, as train's
        raise UsageError(f"{features_dir}: {err}") from None
    held = numpy.array([in_groups(name, groups) for name in train_names], dtype=bool)
    val_x, val_y = [x for x, h in zip(train_x, held) if h], train_y[held]
    train_x, train_y = [x for x, h in zip(train_x, held) if not h], train_y[~held]
    if znorm:
        stats = znorm_stats(train_x)  # the videos trained on only
        train_x, val_x, test_x = (apply_znorm(x, stats) for x in (train_x, val_x, test_x))
    classes = len(index["classes"])
    settings = {"features": os.path.abspath(features_dir), "features_videos": videos_digest(index),
                "features_made_with": made_with(index), "layer": index["layer"], "model": model, "znorm": znorm,
                "epochs": epochs, "lr": lr, "batch": batch, "seed": seed, "hidden": hidden, "val_groups": val_groups,
                "held_out_groups": groups}
    log = None
    if out_dir:
        remove_results(out_dir)  # before config.json names the new settings: no older result stays under them
        write_json(os.path.join(out_dir, "config.json"), settings)
        log = JsonLog(os.path.join(out_dir, "metrics.jsonl"))
        log.truncate(0)  # a rerun starts its log afresh
    tinyrandom.manual_seed(seed)
    net = build(model, train_x[0].shape[1], classes, hidden).to(backend.get_device())
    validation, best = {}, {}

    def validate(epoch):  # the epoch with the lowest validation error is kept (the first of equals)
        validation[epoch] = video_error(net, val_x, val_y, classes)["video_error"]
        if not best or validation[epoch] < validation[best["epoch"]]:
            best.update(epoch=epoch, state={k: v.clone() for k, v in net.state_dict().items()})
        return {"val_video_error": validation[epoch]}
    fit(net, train_x, train_y, epochs, lr, batch, seed, log, desc=f"{model}{' z-norm' if znorm else ''}",
        after_epoch=validate if groups else None)
    last = video_error(net, test_x, test_y, classes, test_names)
    selected = last
    if groups and best["epoch"] != epochs:
        net.load_state_dict(best["state"])
        selected = video_error(net, test_x, test_y, classes, test_names)
    # what the figures are of: the test videos left out (tinyrrn.features' record), how a video is predicted, and
    # the features (their folder, and the settings and backbone weights they were made with)
    scored = {"unreadable_videos": left_out(index), "averaging": AVERAGING[model],
              "features": settings["features"], "features_made_with": settings["features_made_with"],
              "made_by": made_by(), "settings": settings}  # (the features' videos: settings["features_videos"])
    selected, last = {**selected, **scored}, {**last, **scored}
    selected, last = protocol_reports(best.get("epoch", epochs), selected, epochs, last, groups, validation)
    selected["seconds"] = round(time.monotonic() - start, 2)
    if out_dir:
        save_npz(net, os.path.join(out_dir, "model.npz"))
        write_report(last, index["classes"], os.path.join(out_dir, "eval-last"))
        write_report(selected, index["classes"], os.path.join(out_dir, "eval"))  # last: eval/ says finished
    return selected


def remove_results(out_dir):
    """Delete a run directory's results (eval/ first: its metrics.json marks a finished run)."""
    for name in RESULTS:
        path = os.path.join(out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def parser():
    p = ArgumentParser(
        prog="python -m tinyrrn.baseline",
        description="Table 1 baselines on cached per-frame features: average pooling + linear classifier, "
                    "or a 128-unit GRU; optional Z-normalisation with training-set statistics.")
    a = p.add_argument
    a("--features", required=True, help="feature folder written by python -m tinyrrn.features")
    a("--model", choices=MODELS, default="avgpool", help="average pooling + linear, or GRU + linear")
    a("--znorm", action="store_true", help="Z-normalise each feature dimension (training-set statistics)")
    a("--epochs", type=at_least(1), default=DEFAULTS["epochs"], help="passes over the training videos")
    a("--lr", type=positive_number, default=DEFAULTS["lr"], help="Adam learning rate")
    a("--batch", type=at_least(1), default=DEFAULTS["batch"], help="videos per update")
    a("--hidden", type=at_least(1), default=DEFAULTS["hidden"], help="GRU units (paper: 128)")
    a("--seed", type=at_least(0), default=DEFAULTS["seed"],
      help="seed for initialisation, shuffling and the validation groups (those of a training run with this seed)")
    a("--val-groups", type=at_least(0), default=DEFAULTS["val_groups"],
      help="whole gNN groups of the training videos held out to select the epoch on (0: the last epoch)")
    add_compute_flags(p)
    add_debug_flag(p)
    a("--out", help="run directory for config, log, model and eval/ (default FEATURES/<model>[-znorm])")
    return p


def refuse_no_feature_folder(features):
    """A usage error (exit status 2) naming --features when it names no folder: missing, or a file (where the
    default --out would be made); a folder without index.json is one too (load_features)."""
    if not os.path.lexists(features):
        raise UsageError(f"--features {features}: no such feature folder (written by python -m tinyrrn.features)")
    if not os.path.isdir(features):
        raise UsageError(f"--features {features}: a file, not a feature folder (written by python -m tinyrrn.features)")


@command
def main(argv=None):
    args = parser().parse_args(argv)
    use_compute(args.device, args.threads)
    refuse_no_feature_folder(args.features)
    out = args.out or os.path.join(args.features, args.model + ("-znorm" if args.znorm else ""))
    with writing_into(out):  # the default is inside the feature folder, which may be shared and read-only
        metrics = run(args.features, args.model, args.znorm, out, args.epochs, args.lr, args.batch, args.seed,
                      args.hidden, args.val_groups, flag="--out" if args.out else "the default --out")
    print(f"test split, epoch {metrics['epoch']} of {metrics['epochs']} (selected by {metrics['selected_by']}): "
          f"{summary(metrics)}")
    print(f"test split, last epoch: video error {metrics['last']['video_error']:.4f}")
    print(f"wrote {out}/eval/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
