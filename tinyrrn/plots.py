"""Pictures of a run: the training curve and the confusion matrix (matplotlib, drawn off-screen).

Each is written as every other output is (tinyrrn.files.atomic_write): a full disk leaves the previous
picture in place, and the error names the file."""
import json
import os
import warnings

import numpy

from .files import atomic_write


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


COUNTS_UP_TO = 25  # classes up to which every cell shows its count (UCF-101's 101 would be unreadable)


def save_figure(fig, path, dpi):
    """Write ``fig`` as a PNG to ``path`` atomically, then free it."""
    try:
        with atomic_write(path, "wb") as file:
            fig.savefig(file, format="png", dpi=dpi)
    finally:
        _pyplot().close(fig)


def plot_confusion(confusion, classes, path):
    """Rows: true class, columns: predicted class, shaded by the share of the row's videos (the colour
    bar); with at most COUNTS_UP_TO classes each non-empty cell also shows its number of videos."""
    plt = _pyplot()
    rows = confusion.sum(axis=1, keepdims=True)
    shares = confusion / rows.clip(min=1)
    size = max(4.0, 0.18 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's videos")
    if len(classes) <= COUNTS_UP_TO:
        for (i, j), count in numpy.ndenumerate(confusion):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    ticks = range(len(classes))
    fontsize = 8 if len(classes) <= 20 else 4
    ax.set_xticks(ticks, classes, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, classes, fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    counts = "; numbers: videos" if len(classes) <= COUNTS_UP_TO else ""
    ax.set_title(f"video-level confusion\n(shade: share of each true class{counts})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def plot_training_curve(metrics_jsonl, path):
    """Training loss per logging step and validation video error per epoch, from metrics.jsonl. A damaged line
    (a disk that filled mid-line, an edit) is left out with a warning naming it: a picture never stops a run.
    Without the log (lost since) nothing is drawn: the picture drawn before stays."""
    if not os.path.exists(metrics_jsonl):
        return
    plt = _pyplot()
    losses, errors = [], []  # (update, value) pairs
    with open(metrics_jsonl, errors="replace") as f:  # a byte that is not UTF-8: that line is damaged, not the file
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                if record.get("kind") == "step":
                    losses.append((record["update"], record["loss"]))
                elif record.get("kind") == "epoch" and record.get("val_video_error") is not None:
                    errors.append((record["update"], record["val_video_error"]))
            except (ValueError, AttributeError, KeyError) as err:
                warnings.warn(f"{metrics_jsonl}:{number}: not a record of the log ({type(err).__name__}: {err}); "
                              "left out of the training curve")
    steps, losses = zip(*losses) if losses else ((), ())
    epochs, errors = zip(*errors) if errors else ((), ())
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, color="tab:blue", label="training loss")
    ax.set_xlabel("update")
    ax.set_ylabel("cross-entropy", color="tab:blue")
    if errors:
        ax2 = ax.twinx()
        ax2.plot(epochs, errors, "o-", color="tab:red", label="validation video error")
        ax2.set_ylabel("video-level error", color="tab:red")
        ax2.set_ylim(0, 1)
    ax.set_title("training curve")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
