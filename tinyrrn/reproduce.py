"""Run every row of the paper's Tables 1-4 and write REPORT.md: ``python -m tinyrrn.reproduce``.

    python -m tinyrrn.reproduce --data ROOT --weights resnet50.pth --tables 1,2,3,4 --splits 1,2,3
    python -m tinyrrn.reproduce                      # the built-in synthetic data, small backbone

The protocol, the same for every row (tinyrrn.train's): ``--val-groups`` (default 3) whole groups
of each split's training list, chosen by ``--seed``, are held out; every row -- Table 1's
classifiers too -- trains on the other groups, selects its epoch by the lowest video error on
the held-out ones, and reports the test error of that epoch and of the last epoch. The test
split selects nothing. Table 4's context-1 row is Table 1's Block4 average-pool + Z-norm
baseline, as the paper's 0.236 is; the ResNet fine-tuned end to end on single frames is an extra
row. With several splits every row gets its mean over the splits and their spread, and the
best model's mean is set beside the paper's 0.198 (Sec. 4.3) and Table 5.

Layout of the output folder (``--out``, default runs/reproduce-ucf101 or runs/reproduce-synthetic):

    grid.json                       the data, weights (path and digest) and layout the grid was started with
    split<N>/<preset>/              one training run per row of Tables 2-4 (tinyrrn.train run directory)
    split<N>/features-<layer>/      cached per-frame features (tinyrrn.features) for Table 1
    split<N>/table1-<layer>-<model>-<znorm|raw>/   one Table 1 baseline (tinyrrn.baseline)
    grid.jsonl                      one line per finished row: errors, epochs, seconds (null for a row found
                                    finished without its line: the grid was stopped between the two)
    lock                            held while a reproduce process writes here (a second one is refused)
    REPORT.md                       the protocol, one table per paper table (paper error, ours, the selected
                                    epoch, difference, run dir; a run that departs from the protocol, e.g.
                                    stopped by --set max_steps, starred with how its epoch was chosen), the best
                                    model beside Table 5, where this differs from the paper, how to make it
                                    again (command line, code version, weights and data digests)

Resume: a row is finished when its run directory holds the final report of its training or baseline
(``eval/metrics.json`` with how its epoch was selected; evaluate's report of a row stopped in mid-training
is not one) and is then skipped; a grid whose report would show finished training rows trained with other
settings than those asked now (e.g. other ``--epochs`` or ``--set lr=...``) is refused, naming the rows: one
report states one protocol (give another ``--out`` for the new settings). An unfinished training row
continues from its ``checkpoint.npz`` (tinyrrn.train resume). A row whose run has other settings
that define it (tinyrrn.config.DEFINES_RUN, e.g. ``--set skip=linear``) is moved aside to
``<dir>.replaced-<time>`` and trained afresh; a report never shows a row under settings it was not
trained with. Feature extraction skips the videos already
written, and a baseline (seconds long) is rerun when its epochs, seed or validation groups
changed, or the weights of its features' backbone (even under the same path: the features are
then made afresh; other ``--weights`` under the same path are refused once a training row has a
run). Run the same command again after an interruption; one process at a time
writes into an output folder. Rows of different tables that are the same model (e.g. Table 2
"Block4, identity", Table 3 "identity" and Table 4 "context 2") share one run.

Table 1 needs per-frame features of a pretrained backbone: on UCF-101 pass ``--weights`` (ImageNet
ResNet-50). On the synthetic data there are no pretrained weights for the small backbone, so the
grid first trains the fine-tuned no-skip (context 1) row of Table 4 and extracts features with its
frozen backbone; the report says so.
"""
import contextlib
import difflib
import json
import os
import sys
import time

from . import baseline, checkpoint, config as configuration, features, rundir, signals
from .builders import backbone_state, dataset_root, held_out_groups, load_backbone, reading_weights, split_folder
from .data.splits import group_of, read_split
from .cli import (ArgumentParser, UsageError, add_compute_flags, add_debug_flag, at_least, command, use_compute,
                  writing_into)
from .files import TEXT_ERRORS, JsonLog, read_json, write_json, write_text
from .models.resnet import WEIGHTS_LAYOUTS, UnitLayout
from .models.rrn import temporal_units
from .provenance import made_by
from .train import train

# The paper's video-level error on UCF-101 split 1, copied from its text (Iqbal et al., 2017):
# Table 1 (baselines on ImageNet ResNet-50 features), Table 2 (position of the recurrent connection;
# the text gives only the convolutional rows), Table 3 (type at Block4), Table 4 (temporal context).
# None: the paper reports no number for that row.
TABLE_TITLES = {
    1: "Table 1: baselines on per-frame features (average pooling or GRU, with / without Z-norm)",
    2: "Table 2: position of the temporal skip connection (identity or 1x1 convolution, context 2)",
    3: "Table 3: type of the temporal skip connection at Block4 (context 2)",
    4: "Table 4: temporal context (identity skips on the last units ending at Block4)",
}
LAYER_NAMES = {"layer4": "Block4", "layer3": "Block3", "layer2": "Block2"}
TABLE1_PAPER = {  # (layer, model): (with Z-norm, without Z-norm)  -- paper Table 1
    ("layer4", "avgpool"): (0.236, 0.237), ("layer4", "gru"): (0.239, 0.276),
    ("layer3", "avgpool"): (0.309, 0.313), ("layer3", "gru"): (0.403, 0.325),
    ("layer2", "avgpool"): (0.431, 0.434), ("layer2", "gru"): (0.440, 0.493),
}
TABLE2_PAPER = {  # position: (identity, convolutional)  -- paper Table 2 lists only "Convolutional"
    "block1": (None, 0.265), "block2": (None, 0.234), "midblock4": (None, 0.231), "block4": (None, 0.219),
}
TABLE3_PAPER = {"identity": 0.197, "linear": 0.219, "nonlinear": 0.210}  # paper Table 3
TABLE4_PAPER = {1: 0.236, 2: 0.197, 3: 0.194, 5: 0.209}                  # paper Table 4
# Sec. 4.3: "On average [over the three splits] our best model achieves 0.198 on UCF-101, which is a
# relative improvement of 17% over the ResNet baseline which has an error rate of 0.236."
PAPER_BEST_MEAN, PAPER_BASELINE, PAPER_RELATIVE = 0.198, 0.236, "17%"
# Table 5, "Classification error rates for UCF-101", its appearance column (the rows with one)
TABLE5_APPEARANCE = (("Recurrent Residual Networks (the paper)", 0.198),
                     ("Dynamic Image Networks [1]", 0.231),
                     ("Two Stream Architecture [18]", 0.270),
                     ("Two Stream Architecture (GoogleNet) [25]", 0.247),
                     ("Two Stream Architecture (VGG-Net) [25]", 0.216))
BASELINE_KEY = "table1-layer4-avgpool-znorm"  # Table 1's Block4 avg. pool + Z-norm: the paper's "baseline 0.236"
FINETUNED_KEY = "table4-finetuned-resnet"     # the single-frame ResNet fine-tuned end to end (not in the paper)
BEST_KEY = "table3-identity"                  # the paper's best setup: identity skip at Block4, context 2

SYNTHETIC_EPOCHS = 12  # default epochs per training row on synthetic data (grid fits in 30 min on 2 cores)
BASELINE_EPOCHS = {"synthetic": 60, "ucf101": 30}


def rows(tables):
    """The grid's rows, in table order: dicts with table, key, label, paper, and preset or (layer, model, znorm);
    Table 4's context-1 row names the Table 1 row it is (``same_as``)."""
    out = []
    for table in tables:
        if table == 1:
            for layer in ("layer4", "layer3", "layer2"):
                for model in ("avgpool", "gru"):
                    for znorm in (True, False):
                        out.append({"table": 1, "key": f"table1-{layer}-{model}-{'znorm' if znorm else 'raw'}",
                                    "label": f"{LAYER_NAMES[layer]}, {'Avg. Pool' if model == 'avgpool' else 'GRU'}, "
                                             f"{'with' if znorm else 'without'} Z-norm",
                                    "paper": TABLE1_PAPER[layer, model][0 if znorm else 1],
                                    "layer": layer, "model": model, "znorm": znorm})
        elif table == 2:
            for pos, name in (("block1", "Block1"), ("block2", "Block2"), ("midblock4", "Mid Block4"),
                              ("block4", "Block4")):
                for j, skip in enumerate(("identity", "linear")):
                    out.append({"table": 2, "key": f"table2-{pos}-{skip}", "preset": f"table2-{pos}-{skip}",
                                "label": f"{name}, {'identity' if skip == 'identity' else 'convolutional (1x1)'}",
                                "paper": TABLE2_PAPER[pos][j]})
        elif table == 3:
            for skip, name in (("identity", "Identity mapping"), ("linear", "Conv. linear"),
                               ("nonlinear", "Conv. non-linear")):
                out.append({"table": 3, "key": f"table3-{skip}", "preset": f"table3-{skip}", "label": name,
                            "paper": TABLE3_PAPER[skip]})
        elif table == 4:
            out.append({"table": 4, "key": "table4-context1", "same_as": BASELINE_KEY, "paper": TABLE4_PAPER[1],
                        "label": "context 1 (baseline: Table 1's Block4 avg. pool + Z-norm)"})
            for t in (2, 3, 5):
                out.append({"table": 4, "key": f"table4-context{t}", "preset": f"table4-context{t}",
                            "label": f"context {t} ({t - 1} temporal skip{'s' if t > 2 else ''})",
                            "paper": TABLE4_PAPER[t]})
            out.append({"table": 4, "key": FINETUNED_KEY, "preset": "baseline-resnet50", "paper": None,
                        "label": "context 1, the ResNet fine-tuned on single frames (not in the paper)"})
        else:
            raise UsageError(f"--tables: unknown table {table}; the paper's tables are 1, 2, 3, 4")
    return out


def row_config(preset, options, split):
    """The training config of one row: the preset over the defaults, the user's data/weights/split and overrides.

    On synthetic data (no --data) the preset's ResNet-50 is dropped: the synthetic defaults (resnet_small,
    small frames) apply, with the row's skip type, positions and context.
    """
    values = dict(configuration.PRESETS[preset])
    synthetic = options["data"] is None
    if synthetic:
        values.pop("arch", None)
    config = {**configuration.DEFAULTS, **values, "data": options["data"], "weights": options["weights"],
              "weights_layout": options["weights_layout"], "list_dir": options["list_dir"], "split": split,
              "name": preset, "baseline": False, "out": options["out"], "seed": options["seed"],
              "val_groups": options["val_groups"], "device": options["device"], "threads": options["threads"],
              "workers": options["workers"]}
    if options["epochs"] is not None:
        config["epochs"] = options["epochs"]
    elif synthetic:
        config["epochs"] = SYNTHETIC_EPOCHS
    for key in ("batch", "cache_dir"):
        if options.get(key) is not None:
            config[key] = options[key]
    config.update(options.get("overrides") or {})
    try:
        filled = configuration.fill_defaults(config)
        configuration.refuse_ignored(options.get("overrides") or {}, filled, name=lambda key: key)
    except UsageError as err:  # reproduce's own flags are checked when parsed: --set put this row out of range
        raise UsageError(f"--set: row {preset}: {err}") from None
    if config["positions"] is None and filled["skip"] != "none":
        # the paper's rows without explicit positions (Table 4) mean "T-1 skips on the last units ending at
        # Block4"; fill_defaults may pick another default for synthetic data, which is not the paper's row
        filled["positions"] = None
    return filled


def model_key(config):
    """A key equal for configs that train the same model (positions resolved to unit names)."""
    units = temporal_units(UnitLayout(config["arch"]), config["skip"], config["positions"], config["context"])
    return json.dumps({**{k: v for k, v in config.items() if k not in ("name", "positions")},
                       "units": list(units)}, sort_keys=True)


def finished_result(run_dir):
    """The result of a finished row (the final report its training or baseline wrote into eval/metrics.json), or
    None: test error of the selected epoch, of the last epoch, the selected epoch's validation error, the epochs,
    the validation groups, the run directory. A report without the protocol (how its epoch was selected) is
    evaluate's of a row stopped before its training ended (evaluate RUN_DIR writes eval/ too): not finished."""
    path = os.path.join(run_dir, "eval", "metrics.json")
    if not os.path.isfile(path):
        return None
    metrics = read_json(path)
    problem = report_problem(metrics)
    if problem:
        raise ValueError(f"{path}: {problem} (a damaged report of a finished row); delete it to evaluate the row "
                         "again")
    if "selected_by" not in metrics or resumed_since(run_dir, metrics):
        return None
    last = metrics.get("last") or {}
    return {"error": metrics["video_error"], "last": last.get("video_error"), "val": metrics.get("val_video_error"),
            "epoch": metrics.get("epoch"), "epochs": metrics.get("epochs"), "val_groups": metrics.get("val_groups"),
            "selected_by": metrics.get("selected_by"), "data_digests": metrics.get("data_digests"),
            "weights_digest": metrics.get("weights_digest"), "run_dir": run_dir}


def resumed_since(run_dir, metrics):
    """Whether the run in ``run_dir`` was resumed to train on after its report ``metrics`` was written (e.g. with more
    --epochs, then stopped): its config.json then holds settings that change the training from those the report
    records, and the report is no longer the run's end. Reports of older versions record no settings: not known."""
    reported = metrics.get("settings")
    if not isinstance(reported, dict) or not os.path.isfile(os.path.join(run_dir, "config.json")):
        return False
    refused, applied = configuration.resume_changes(rundir.read_config(run_dir)[0], reported)
    return bool(refused) or any(key not in configuration.BOOKKEEPING for key in applied)


def report_problem(metrics):
    """What makes a row's report unusable in the grid's tables (None when nothing): its test video error
    (and the last epoch's, and the validation error, where present) must be numbers."""
    if not isinstance(metrics, dict):
        return f"expected a JSON object (a row's report), got {json.dumps(metrics)[:40]}"
    last = metrics.get("last") or {}
    if not isinstance(last, dict):
        return f"'last' is {json.dumps(last)[:40]}, expected an object"
    for key, value in (("video_error", metrics.get("video_error")), ("val_video_error", metrics.get("val_video_error")),
                       ("last.video_error", last.get("video_error"))):
        if (value is not None or key == "video_error") and \
                (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key!r} is {json.dumps(value)[:40]}, expected a number"
    return None


class Grid:
    """Runs the rows of the requested tables and splits, skipping finished ones; then writes the report."""

    def __init__(self, options):
        self.options = options
        self.out = options["out"]
        self.results = {}   # (split, key) -> finished_result(...)
        self.weights_digest = None  # of --weights (check_grid_file)
        self.digests = {}   # split -> weights digest of Table 1's backbone (table1_digest)
        self.log = JsonLog(os.path.join(self.out, "grid.jsonl"))
        self.run_dirs = self.plan()
        if self.table1_rows() and options["data"] is not None and not options["weights"]:  # before anything is written
            raise UsageError("Table 1 (and Table 4's context-1 row, which is Table 1's Block4 avg. pool + Z-norm) "
                             "needs --weights (ImageNet ResNet-50 weights, .pth or .npz) on real data")

    def plan(self):
        """{(split, row key): run directory}; rows that train the same model share the first one's directory,
        and Table 4's context-1 row is its Table 1 row."""
        dirs, first = {}, {}
        for split in self.options["splits"]:
            for row in rows([1, 2, 3, 4]):
                own = os.path.join(self.out, f"split{split}", row["key"])
                if row["table"] == 1:
                    dirs[split, row["key"]] = own
                elif "same_as" in row:
                    dirs[split, row["key"]] = dirs[split, row["same_as"]]
                else:
                    key = model_key(row_config(row["preset"], self.options, split))
                    dirs[split, row["key"]] = first.setdefault(key, own)
        return dirs

    def check_grid_file(self):
        """Refuse to mix rows of different data, weights or weights layout in one output folder. Other weights
        under the same path are refused too while a training row has a run (its config.json records the path
        only, and its checkpoint goes on from the earlier weights); Table 1's rows make their features afresh."""
        os.makedirs(self.out, exist_ok=True)
        path = os.path.join(self.out, "grid.json")
        weights = self.options["weights"]
        with reading_weights(weights) if weights else contextlib.nullcontext():  # errors name --weights
            digest = checkpoint.weights_digest(backbone_state(weights)[1]) if weights else None
        mine = {"data": os.path.abspath(self.options["data"]) if self.options["data"] else None,
                "weights": os.path.abspath(weights) if weights else None,
                "weights_layout": self.options["weights_layout"],
                "weights_digest": digest}
        self.weights_digest = mine["weights_digest"]
        if not os.path.isfile(path):
            write_json(path, mine)
            return
        saved = read_json(path)
        if not isinstance(saved, dict):
            raise ValueError(f"{path}: expected a JSON object (the grid's data and weights), got "
                             f"{json.dumps(saved)[:40]}; use another --out")
        saved.setdefault("weights_digest", mine["weights_digest"])  # a grid.json of an older tinyrrn
        changed = [k for k in mine if saved.get(k) != mine[k]]
        if changed == ["weights_digest"]:
            training = {row["key"] for row in rows([2, 3, 4]) if "preset" in row}
            trained = sorted({os.path.relpath(d, self.out) for (_, key), d in self.run_dirs.items()
                              if key in training and os.path.isfile(os.path.join(d, "config.json"))})
            if trained:
                raise ValueError(f"{weights}: holds other weights than this grid's training rows started from "
                                 f"(digest {saved['weights_digest']}, now {mine['weights_digest']}): "
                                 f"{', '.join(trained)}; use another --out")
            write_json(path, mine)  # only Table 1 used them: its features are made afresh
        elif changed:
            differ = ", ".join(f"{k} {saved.get(k)!r} (now {mine[k]!r})" for k in changed)
            raise ValueError(f"{self.out} holds a grid of other data/weights: {differ}; use another --out")

    # training rows (Tables 2-4) -------------------------------------------------
    def train_row(self, row, split):
        """Train (or resume) a row; a finished row is skipped; a row whose run has other settings that
        define it is moved aside and trained afresh."""
        config = row_config(row["preset"], self.options, split)
        run_dir = self.run_dirs[split, row["key"]]
        head = f"== split {split} {row['key']}"
        refused = self.settings_changes(run_dir, config)[0]
        if refused:
            aside = f"{run_dir}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(run_dir, aside)
            print(f"{head}: its settings changed ({configuration.describe_changes(refused)}): the old run moved to "
                  f"{aside}; training afresh", flush=True)
        result = finished_result(run_dir)
        if result is None:
            start = time.monotonic()
            resume = rundir.resumable(run_dir)
            print(f"\n{head}: {'resuming' if resume else 'training'} in {run_dir}", flush=True)
            train(config, run_dir, resume=resume, resume_command=RESUME_GRID, setting_flag=set_flag)
            result = finished_result(run_dir)
            self.log_row(split, row["key"], result, round(time.monotonic() - start, 1))
        else:  # finished with these settings: check_finished_rows refused the grid otherwise
            print(f"{head}: finished ({run_dir}), skipped", flush=True)
            self.log_row(split, row["key"], result)
        self.results[split, row["key"]] = result
        return run_dir

    @staticmethod
    def settings_changes(run_dir, config):
        """(refused, changed): settings of ``config`` that differ from the run in ``run_dir`` and define
        it, and those that may change but would change its result (none when there is no run yet)."""
        if not os.path.isfile(os.path.join(run_dir, "config.json")):
            return {}, {}
        refused, applied = configuration.resume_changes(rundir.read_config(run_dir)[0], config)
        return refused, {k: v for k, v in applied.items() if k not in configuration.BOOKKEEPING}

    def check_finished_rows(self):
        """Refuse, before any work, a grid whose report would show finished training rows trained with other
        settings than the options now ask (e.g. --epochs 2 after --epochs 1): REPORT.md states one protocol, and
        a row kept from before would be reported under settings it was not trained with."""
        shown = [r for r in rows(self.options["tables"]) if "preset" in r]
        if 1 in self.options["tables"] and self.options["data"] is None and not self.options["weights"]:
            shown += [r for r in rows([4]) if r["key"] == FINETUNED_KEY]  # Table 1's backbone on synthetic data
        others = []
        for split in self.options["splits"]:
            for row in {r["key"]: r for r in shown}.values():
                run_dir = self.run_dirs[split, row["key"]]
                changed = self.settings_changes(run_dir, row_config(row["preset"], self.options, split))[1]
                if changed and finished_result(run_dir) is not None:
                    others.append(f"split {split} {row['key']} ({configuration.describe_changes(changed)})")
        if others:
            raise UsageError(f"{self.out}: {len(others)} finished row(s) were trained with other settings than "
                             f"asked now: {'; '.join(dict.fromkeys(others))}; REPORT.md states one protocol for all "
                             "its rows. Give another --out to start a fresh report with these settings, or run with "
                             "the rows' settings (delete a row's eval/ to continue it under the new ones)")

    def current_result(self, row, split):
        """A training row's result when its run was trained with the settings this grid asks for now, else None
        (a row of other settings, not yet trained again, is never reported under this grid's protocol)."""
        run_dir = self.run_dirs[split, row["key"]]
        if any(self.settings_changes(run_dir, row_config(row["preset"], self.options, split))):
            return None
        return finished_result(run_dir)

    def row_finished(self, row, split):
        """Whether a training row is finished with settings that define it as this grid does (train_row skips it)."""
        run_dir = self.run_dirs[split, row["key"]]
        config = row_config(row["preset"], self.options, split)
        return finished_result(run_dir) is not None and not self.settings_changes(run_dir, config)[0]

    # Table 1 ---------------------------------------------------------------------
    def table1_backbone(self, split, train=True):
        """(backbone, weights label, feature config) for Table 1 features; remembers its weights digest.

        On synthetic data the backbone is the fine-tuned no-skip (context 1) row's, trained first; with
        ``train=False`` None while that row is not finished (and on real data without --weights)."""
        base = row_config("baseline-resnet50", self.options, split)
        if self.options["weights"]:
            source = self.options["weights"]
        elif self.options["data"] is not None:  # none to make features with: a grid that needs them is refused
            return None
        else:
            finetuned = next(r for r in rows([4]) if r["key"] == FINETUNED_KEY)
            if train:
                self.train_row(finetuned, split)  # the no-skip (context 1) model, trained per frame
            elif not self.row_finished(finetuned, split):
                return None
            source = self.run_dirs[split, FINETUNED_KEY]
        backbone, arch = load_backbone(source, base["arch"], layout=base["weights_layout"])
        self.digests[split] = features.weights_digest(backbone)
        return backbone, os.path.abspath(source), {**base, "arch": arch}

    def table1_digest(self, split):
        """The weights digest of the backbone that Table 1's features of ``split`` must come from now (the same
        path may hold other weights since), or None while there is none (see table1_backbone)."""
        if split not in self.digests and self.table1_backbone(split, train=False) is None:
            return None
        return self.digests[split]

    def baseline_epochs(self):
        return self.options["baseline_epochs"] or BASELINE_EPOCHS["synthetic" if self.options["data"] is None
                                                                  else "ucf101"]

    def table1_finished(self, row, split):
        """The result of a Table 1 row finished with this grid's epochs, seed and validation groups, on features
        of this grid's settings and backbone weights, or None."""
        run_dir = self.run_dirs[split, row["key"]]
        result = finished_result(run_dir)
        if result is None or not os.path.isfile(os.path.join(run_dir, "config.json")):
            return None
        saved = rundir.read_config(run_dir)[0]
        wanted = {"epochs": self.baseline_epochs(), "seed": self.options["seed"], "val_groups": self.options["val_groups"]}
        if not all(saved.get(k) == v for k, v in wanted.items()):
            return None
        # the result is of those settings (an older tinyrrn's rerun, interrupted, left its predecessor's under them)
        if result["epochs"] != wanted["epochs"] or result["val_groups"] != saved.get("held_out_groups"):
            return None
        # and its features are of this grid's settings (--set resize=32 must not report resize 24's result)
        layer = row["layer"] if "layer" in row else next(r["layer"] for r in rows([1]) if r["key"] == row["same_as"])
        index = features.read_index(self.feature_dir(split, layer))
        described = features.described_settings(row_config("baseline-resnet50", self.options, split), layer,
                                                self.table1_label(split))
        same = index is not None and all(index.get(k) == v for k, v in described.items() if k != "arch")
        # of the videos as they are now (none changed since it was extracted), and the very features its baseline
        # was trained on: the videos, settings and weights (features made again by another row leave it stale)
        same = same and saved.get("features_videos") == features.videos_digest(index) \
            and saved.get("features_made_with") == features.made_with(index) and not features.changed_videos(index)
        # and weights: the digest last, as it loads the backbone
        return result if same and index.get("weights_digest") == self.table1_digest(split) else None

    def feature_dir(self, split, layer):
        return os.path.join(self.out, f"split{split}", f"features-{layer}")

    def table1_label(self, split):
        """What Table 1's feature folders name as their weights: the weights file, or the fine-tuned run."""
        return os.path.abspath(self.options["weights"] or self.run_dirs[split, FINETUNED_KEY])

    def table1(self, table_rows, split):
        todo = [r for r in table_rows if self.table1_finished(r, split) is None]
        for r in table_rows:
            if r not in todo:
                print(f"== split {split} {r['key']}: finished, skipped", flush=True)
                self.results[split, r["key"]] = self.table1_finished(r, split)
                self.log_row(split, r["key"], self.results[split, r["key"]])
        if not todo:
            return
        backbone, label, config = self.table1_backbone(split)
        for layer in dict.fromkeys(r["layer"] for r in todo):
            feature_dir = self.feature_dir(split, layer)
            print(f"\n== split {split}: features after {layer} -> {feature_dir}", flush=True)
            try:  # resumes, or checks that finished features are of these settings and weights
                features.extract(config, backbone, layer, feature_dir, label, batch=self.options["feature_batch"])
            except features.OtherSettings as other:
                aside = f"{feature_dir}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
                os.rename(feature_dir, aside)
                print(f"== {feature_dir}: made with other {', '.join(other.changed)}: moved to {aside}; "
                      "extracting afresh", flush=True)
                features.extract(config, backbone, layer, feature_dir, label, batch=self.options["feature_batch"])
            for r in (r for r in todo if r["layer"] == layer):
                start = time.monotonic()
                run_dir = self.run_dirs[split, r["key"]]
                print(f"== split {split} {r['key']}", flush=True)
                baseline.run(feature_dir, r["model"], r["znorm"], run_dir, epochs=self.baseline_epochs(),
                             seed=self.options["seed"], val_groups=self.options["val_groups"])
                self.results[split, r["key"]] = finished_result(run_dir)
                self.log_row(split, r["key"], self.results[split, r["key"]], round(time.monotonic() - start, 1))

    def log_row(self, split, key, result, seconds=None):
        """Append a finished row's line to grid.jsonl: with the ``seconds`` it took when this process ran it, else
        (found finished) only when the log lacks that line -- a grid stopped between a row's report and its line
        left the row finished without one --, its seconds then unknown (null). A key an older version's line lacks
        (weights_digest) is not compared."""
        line = {"split": split, "row": key, **result}
        if seconds is None and any(all(record.get(k, v) == v for k, v in line.items()) for record in self.log.records()):
            return
        self.log.write({**line, "seconds": seconds})

    # the whole grid --------------------------------------------------------------
    def requested_rows(self):
        """The rows of the requested tables (only those named by --only, when given)."""
        chosen = rows(self.options["tables"])
        only = self.options.get("only")
        return [r for r in chosen if r["key"] in only] if only else chosen

    def table1_rows(self):
        """The Table 1 rows the requested rows need (Table 4's context-1 row is one), each once."""
        table1 = {r["key"]: r for r in rows([1])}
        needed = [table1[r.get("same_as", r["key"])] for r in self.requested_rows() if r["table"] == 1 or "same_as" in r]
        return list({r["key"]: r for r in needed}.values())

    def run(self):
        needed = self.table1_rows()
        for split in self.options["splits"]:
            if needed:
                self.table1(needed, split)
            for row in self.requested_rows():
                if "preset" in row:
                    self.train_row(row, split)
        self.collect()

    def collect(self):
        """Fill the results of rows finished earlier with this grid's settings (for a report after a partial run);
        Table 4's context-1 row gets its Table 1 row's result."""
        for split in self.options["splits"]:
            for row in rows([1, 2, 3, 4]):
                if self.results.get((split, row["key"])) is None:
                    table1 = row["table"] == 1 or "same_as" in row
                    finished = self.table1_finished(row, split) if table1 else self.current_result(row, split)
                    if finished is not None:
                        self.results[split, row["key"]] = finished

    def protocol(self):
        """What REPORT.md states about how the rows were trained and selected."""
        splits = self.options["splits"]
        config = row_config(BEST_KEY, self.options, splits[0])
        groups, test_groups, list_dir = {}, {}, None
        for split in splits:
            try:
                groups[split] = held_out_groups({**config, "split": split})
                list_dir = split_folder(dataset_root(config), config["list_dir"])
                test_groups[split] = sorted({group_of(rel)[1] for rel, _ in read_split(list_dir, split)[2]})
            except (OSError, ValueError):  # no data to read the split files of: nothing ran either
                groups[split] = test_groups[split] = None
        return {"val_groups": self.options["val_groups"], "groups": groups, "seed": self.options["seed"],
                "list_dir": list_dir, "test_groups": test_groups,
                "epochs": config["epochs"], "lr": config["lr"], "batch": config["batch"],
                "resize": config["resize"], "crop": config["crop"],
                "update_every": config["update_every"], "sample_every": config["sample_every"],
                "optimizer": config["optimizer"], "weights": self.options["weights"],
                "weights_digest": self.weights_digest,
                "weights_layout": config["weights_layout"], "normalize": config["normalize"],
                "per_frame_aug": config["per_frame_aug"], "flip": config["flip"],
                "baseline_epochs": self.baseline_epochs(), "baseline_lr": baseline.DEFAULTS["lr"],
                "overrides": self.options.get("overrides") or {}}


# -- the report --------------------------------------------------------------------
def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"


def _mean(values):
    return sum(values) / len(values) if values else None


def over_splits(results, key, splits):
    """One row over ``splits``: each split's result (or None) and, over those that ran, the mean
    selected-epoch error, its range, and the mean last-epoch and validation errors."""
    runs = [results.get((split, key)) for split in splits]
    done = [r for r in runs if r is not None]
    errors = [r["error"] for r in done]

    def mean_of(name):  # only when every finished split has it
        values = [r[name] for r in done if r.get(name) is not None]
        return _mean(values) if len(values) == len(done) else None
    return {"runs": runs, "count": len(done), "mean": _mean(errors), "last": mean_of("last"), "val": mean_of("val"),
            "low": min(errors, default=None), "high": max(errors, default=None)}


def _errors(selected, last, show_last):
    """'0.200 / 0.250': the selected epoch's test error / the last epoch's (one number without validation)."""
    if selected is None:
        return "n/a"
    return f"{selected:.3f} / {_fmt(last)}" if show_last else f"{selected:.3f}"


def _where(runs, splits, out):
    """The run directories of a row, relative to ``out``: 'split{1,2}/name' when the names agree."""
    paths = [(split, os.path.relpath(r["run_dir"], out)) for split, r in zip(splits, runs) if r is not None]
    if not paths:
        return "not run"
    names = {path.split(os.sep, 1)[-1] for _, path in paths}
    if len(paths) > 1 and len(names) == 1:
        return f"split{{{','.join(str(split) for split, _ in paths)}}}/{names.pop()}"
    return ", ".join(path for _, path in paths)


def _relative(error, reference):
    """The relative improvement 1 - error / reference, as the paper's "17%"."""
    return "n/a" if error is None or reference is None else f"{1 - error / reference:+.1%}"


def departure(result, protocol, table):
    """How a finished row departs from the protocol REPORT.md states for its table, or None: it ended before
    its epochs (``--set max_steps``), or its epoch was not selected on the validation groups (none validated)."""
    epochs = protocol["baseline_epochs"] if table == 1 else protocol["epochs"]
    short = result.get("epochs") is not None and result["epochs"] < epochs
    unvalidated = bool(protocol["val_groups"]) and result.get("val") is None and result.get("selected_by") is not None
    if not short and not unvalidated:
        return None
    return (f"epoch {result['epoch']} of {result['epochs']} (the protocol: {epochs} epochs), selected by "
            f"{result.get('selected_by') or 'a rule its report does not name'}")


def _epochs(result, protocol, table):
    """The selected epoch of a row's run, '3 of 10', starred when the run departs from the protocol."""
    if result is None or result.get("epoch") is None:
        return "n/a"
    return f"{result['epoch']} of {result['epochs']}" + ("*" if departure(result, protocol, table) else "")


def _table(results, table, splits, out, show_last, protocol):
    """One paper table: paper error, each split's errors, the mean and spread over splits, the selected epochs,
    the difference; then the runs that depart from the protocol (``departure``), each with how it was selected."""
    multi = len(splits) > 1
    head = ["row", "paper"] + [f"split {s}" for s in splits] + (["mean over splits", "spread (min-max)"] if multi else [])
    head += [f"selected epoch{' per split' if multi else ''}", "split 1 - paper", "run directory"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    departures = []
    for row in rows([table]):
        summary, kind = over_splits(results, row["key"], splits), 1 if "same_as" in row else table  # a Table 1 run
        cells = [row["label"], _fmt(row["paper"])]
        cells += [_errors(r["error"], r["last"], show_last) if r else "n/a" for r in summary["runs"]]
        departures += [f"- split {split}, {row['label']}: {departure(r, protocol, kind)}"
                       for split, r in zip(splits, summary["runs"]) if r and departure(r, protocol, kind)]
        if multi:
            counted = "" if summary["count"] in (0, len(splits)) else f" ({summary['count']} of {len(splits)} splits)"
            cells += [_errors(summary["mean"], summary["last"], show_last) + counted,
                      "n/a" if summary["low"] is None else f"{summary['low']:.3f}-{summary['high']:.3f}"]
        cells.append(", ".join(_epochs(r, protocol, kind) for r in summary["runs"]))
        first = results.get((1, row["key"])) if 1 in splits else None
        cells += ["n/a" if first is None or row["paper"] is None else f"{first['error'] - row['paper']:+.3f}",
                  _where(summary["runs"], splits, out)]
        lines.append("| " + " | ".join(cells) + " |")
    if departures:
        lines += ["", "\\* Not trained or selected as the protocol above says (its figures are of these epochs):", ""]
        lines += departures
    return lines


def _relative_improvements(results, splits):
    """Table 4's rows against both baselines, as the paper's "17% relative improvement"."""
    baseline = over_splits(results, BASELINE_KEY, splits)["mean"]
    finetuned = over_splits(results, FINETUNED_KEY, splits)["mean"]
    over = "mean over splits" if len(splits) > 1 else f"split {splits[0]}"
    lines = ["", f"Relative improvement, 1 - error / baseline error (ours: selected epochs, {over}):", "",
             f"| row | paper, over its baseline {PAPER_BASELINE} | ours, over Table 1's Block4 avg. pool + Z-norm "
             f"({_fmt(baseline)}) | ours, over the fine-tuned single-frame ResNet ({_fmt(finetuned)}) |",
             "|---|---|---|---|"]
    for row in rows([4]):
        if "preset" in row and row["key"] != FINETUNED_KEY:
            mean = over_splits(results, row["key"], splits)["mean"]
            lines.append(f"| {row['label']} | {_relative(row['paper'], PAPER_BASELINE)} | {_relative(mean, baseline)} "
                         f"| {_relative(mean, finetuned)} |")
    return lines


def _best_model(results, tables, splits, show_last):
    """The paper's best setup (and the row with the lowest validation error) beside Sec. 4.3 and Table 5."""
    over = f"mean over splits {', '.join(map(str, splits))}" if len(splits) > 1 else f"split {splits[0]} only"
    best = over_splits(results, BEST_KEY, splits)
    candidates = {}  # one entry per run: the lowest mean validation error picks a model without the test split
    for row in rows(tables):
        summary = over_splits(results, row["key"], splits)
        if summary["val"] is not None and summary["count"] == len(splits):
            candidates.setdefault(tuple(r["run_dir"] for r in summary["runs"]), (summary["val"], row, summary))
    val, row, chosen = min(candidates.values(), key=lambda c: c[0]) if candidates else (None, None, None)
    same = chosen is not None and chosen["runs"] == best["runs"]
    lines = ["", "## The best model beside the paper's 0.198 (Sec. 4.3) and Table 5's appearance streams", "",
             "| model | video error (the paper's: UCF-101; ours: the data above) | where it comes from |",
             "|---|---|---|",
             f"| tinyrrn: identity skip at Block4, context 2 (the paper's best setup) | "
             f"{_errors(best['mean'], best['last'], show_last)} | this grid, {over}"
             + (f"; also the row with the lowest validation error ({val:.3f})" if same else "") + " |"]
    if chosen is not None and not same:
        lines.append(f"| tinyrrn: {row['label']} (Table {row['table']}), the row with the lowest validation error "
                     f"({val:.3f}) | {_errors(chosen['mean'], chosen['last'], show_last)} | this grid, {over}; "
                     "chosen on the validation groups, not the test split |")
    for name, error in TABLE5_APPEARANCE:
        where = "Sec. 4.3 (mean over the 3 splits) and Table 5" if error == PAPER_BEST_MEAN else "the paper's Table 5"
        lines.append(f"| {name} | {error:.3f} | {where} |")
    baseline = over_splits(results, BASELINE_KEY, splits)["mean"]
    finetuned = over_splits(results, FINETUNED_KEY, splits)["mean"]
    lines += ["", f"Relative improvement of the best setup: the paper's {PAPER_BEST_MEAN} over its ResNet baseline "
              f"{PAPER_BASELINE} is {_relative(PAPER_BEST_MEAN, PAPER_BASELINE)} (the paper says {PAPER_RELATIVE}); "
              f"ours ({over}) is {_relative(best['mean'], baseline)} over Table 1's Block4 avg. pool + Z-norm and "
              f"{_relative(best['mean'], finetuned)} over the fine-tuned single-frame ResNet."]
    return lines


# The groups UCF-101's official split k tests (its testlist0k.txt): the k-th run of 7 of the 25 groups
OFFICIAL_TEST_GROUPS = {split: list(range(7 * split - 6, 7 * split + 1)) for split in (1, 2, 3)}


def group_ranges(groups):
    """'g01-g07, g09' for the sorted group numbers [1, ..., 7, 9]."""
    runs = []
    for g in groups:
        if runs and g == runs[-1][1] + 1:
            runs[-1][1] = g
        else:
            runs.append([g, g])
    return ", ".join(f"g{a:02d}" + (f"-g{b:02d}" if b > a else "") for a, b in runs)


def _protocol(protocol, splits, synthetic):
    """The opening section: splits, selection, epochs, learning rate, weights and the readings taken."""
    p = protocol
    tested = "; ".join(f"split {s}: " + (group_ranges(groups) if groups else "not read")
                       for s, groups in p["test_groups"].items())
    official = (not synthetic and all(groups == OFFICIAL_TEST_GROUPS[s] for s, groups in p["test_groups"].items()))
    kind = ("the synthetic dataset's split files" if synthetic else
            "the official split files" if official else "the split files")
    split_files = kind + (f" in `{p['list_dir']}`" if p["list_dir"] else "") + f" (test groups {tested})"
    lines = ["## Protocol", "", f"- **Splits**: {', '.join(map(str, splits))}, {split_files}."]
    if p["val_groups"]:
        held = "; ".join(f"split {s}: " + (", ".join(f"g{g:02d}" for g in groups) if groups else "not read")
                         for s, groups in p["groups"].items())
        lines.append(f"- **Selection (UCF-101 has no validation split)**: {p['val_groups']} whole groups of each "
                     f"split's training list are held out for validation ({held}; chosen by seed {p['seed']}, listed "
                     "in each run's val_groups.txt), so no source footage is shared with the videos trained on. "
                     "Every row, Table 1's classifiers included, trains on the other groups, is validated after "
                     "every epoch, and reports the test error of the epoch with the lowest validation video error "
                     "and, after the slash, of its last epoch. The test split is evaluated for those two epochs "
                     "only and selects nothing.")
    else:
        lines.append("- **Selection**: none (`--val-groups 0`): every row trains on its whole training list and "
                     "reports its last epoch; the test split selects nothing.")
    lines.append(f"- **Seeds**: 1 (seed {p['seed']}): each figure is one training run; no mean or spread over seeds "
                 "is given, so differences between rows may be within seed-to-seed noise (the main job's spread over "
                 "5 seeds: README; `benchmarks/seeds.py`).")
    augmentation = "random crops" + (" and horizontal flips" if p["flip"] else "")
    lines.append(f"- **Training rows (Tables 2-4)**: {p['epochs']} epochs, {p['optimizer'].capitalize()} with lr "
                 f"{p['lr']:g}, one update per {p['update_every']} of the training chunks (the paper's rule), batches "
                 f"of {p['batch']} chunks, every {p['sample_every']}th frame; {augmentation} drawn per "
                 f"{'frame' if p['per_frame_aug'] else 'chunk'}."
                 + (f" Overrides (`--set`): {p['overrides']}." if p["overrides"] else ""))
    source = ("per-frame features of the frozen backbone of the fine-tuned no-skip row (there are no ImageNet "
              "weights for `resnet_small`)" if synthetic else f"per-frame features of `{p['weights']}`"
              if p["weights"] else "per-frame features of ImageNet weights, which need `--weights` (none was given)")
    lines.append(f"- **Table 1 classifiers**: {p['baseline_epochs']} epochs, Adam with lr {p['baseline_lr']:g}, on "
                 f"{source}, every {p['sample_every']}th frame, centre crop.")
    layout = ("torchvision's (stride in the 3x3 conv, padded pool1)" if p["weights_layout"] == "torchvision" else
              "MSRA/Caffe's (stride in the first 1x1 conv, Caffe's pool1)")
    weights = f"`{p['weights']}`" if p["weights"] else "none (trained from scratch)"
    lines.append(f"- **Weights**: {weights}; the network in {layout} layout; inputs normalised the "
                 f"{p['normalize']} way.")
    lines.append("- **Readings that are this project's**: Mid Block4 = layer4.0, the projection unit (block4's "
                 "only convolutional skip); `--set positions='[\"layer4.1\"]'` takes the middle-unit reading. "
                 "Table 4's T = 3 and 5 put their T-1 skips on the last T-1 units ending at Block4 (the paper "
                 "does not say where).")
    lines.append(f"- **Table 4's baseline**: its context-1 row is Table 1's Block4 avg. pool + Z-norm result, as "
                 f"the paper's {PAPER_BASELINE} is; the ResNet fine-tuned end to end on single frames is an extra "
                 "row (paper: n/a). Relative improvements are given over both.")
    return lines


def _differences(protocol, splits, synthetic):
    """The closing list: where this report's numbers were made otherwise than the paper's."""
    p = protocol
    items = []
    if synthetic:
        items.append("**Data and backbone**: a synthetic dataset and `resnet_small` trained from scratch, not UCF-101 "
                     "and an ImageNet ResNet-50; every paper number above is for reference only. Table 1's features "
                     "come from the fine-tuned no-skip backbone, not from ImageNet weights.")
    items.append("**Model selection**: " + (f"on {p['val_groups']} groups held out of each training list, which the "
                 "rows therefore do not train on; the paper does not say how it chose its epochs (UCF-101 has no "
                 "validation split)." if p["val_groups"] else "the last epoch; the paper does not say how it chose."))
    items.append(f"**Epochs and learning rate**: the paper gives neither; here {p['epochs']} epochs at lr "
                 f"{p['lr']:g} (Table 1: {p['baseline_epochs']} epochs at {p['baseline_lr']:g}).")
    if p["weights_layout"] == "torchvision" and not synthetic:
        items.append("**Weights layout**: torchvision's ResNet-50; the authors' framework used MSRA/Caffe weights "
                     "(`--weights-layout caffe` loads those).")
    items.append("**Mid Block4 and the placement of T > 2 skips**: this project's readings (see Protocol).")
    if not p["per_frame_aug"]:
        items.append("**Augmentation**: crops" + (" and flips" if p["flip"] else "") + " drawn per chunk; the "
                     "authors' framework drew them per frame (`--set per_frame_aug=true`).")
    items.append(f"**Settings the paper does not give, this project's choices**: frames resized to a short side of "
                 f"{p['resize']} and cropped to {p['crop']}x{p['crop']} (a random crop in training, the centre crop at "
                 f"test), batches of {p['batch']} chunks, W_s (Eq. 3 and 4) initialised as PyTorch's Conv2d (its batch "
                 "norm as 1 and 0), and a video's last sampled frames that do not fill a chunk left out (a video "
                 "shorter than one chunk repeats its last frame).")
    items.append("**Table 2**: the paper prints its convolutional rows only; its identity rows have no paper number.")
    items.append("**Splits**: the paper does not name the split of its Tables 1-4; this project reads them as split 1 "
                 "(\"we further evaluate our best model on all three splits\", Sec. 4.3), and its "
                 f"{PAPER_BEST_MEAN} is the mean over splits 1-3; this report ran split{'s' if len(splits) > 1 else ''} "
                 f"{', '.join(map(str, splits))}.")
    items.append(f"**The paper's {PAPER_RELATIVE}**: Sec. 4.3 states it for {PAPER_BEST_MEAN} against "
                 f"{PAPER_BASELINE} ({_relative(PAPER_BEST_MEAN, PAPER_BASELINE)} by 1 - error / baseline), Table 4's "
                 "caption for 0.194 (\"from 0.236 to 0.194\" for context two, whose row reads 0.197).")
    return ["", "## Where this differs from the paper", ""] + [f"- {item}" for item in items]


def report(results, options, protocol, seconds=None):
    """REPORT.md text: the data, the protocol, one markdown table per paper table, the best model
    beside the paper's, and where this differs from the paper.

    results: {(split, row key): finished_result(...)}; protocol: Grid.protocol(); run directories
    are shown relative to ``options["out"]``.
    """
    tables, splits, data, out = options["tables"], options["splits"], options["data"], options["out"]
    synthetic, show_last = data is None, bool(protocol["val_groups"])
    lines = ["# tinyrrn reproduction of Iqbal et al. (2017), Tables 1-4", ""]
    if synthetic:
        lines += ["**Data: tinyrrn's built-in synthetic dataset** (12 motion classes in pairs, small ResNet "
                  "`resnet_small` trained from scratch). **The paper's numbers are for UCF-101 with an ImageNet "
                  "ResNet-50 and are shown for reference only**: the differences below do not measure how well "
                  "tinyrrn reproduces the paper. On this data a model blind to frame order is at best 50% wrong "
                  "(each class has a time-reversed twin)."]
    else:
        lines += [f"**Data: {data}** (UCF-101 layout). Paper errors are the video-level error on UCF-101 split 1 "
                  "as printed in the paper; n/a where the paper gives no number."]
    lines += [""] + _protocol(protocol, splits, synthetic)
    cell = ("test error of the selected epoch / of the last epoch" if show_last else "test error of the last epoch")
    lines += ["", f"Video-level error = 1 - top-1 accuracy of the mean chunk softmax per video (tinyrrn.evaluate). "
              f"Each error cell: {cell}. Selected epoch: the epoch of the first figure, of the "
              f"epochs its run trained. Difference = tinyrrn's split 1 (selected epoch) - paper."]
    if seconds is not None:
        lines += ["", f"This invocation took {seconds / 60:.1f} min."]
    for table in tables:
        lines += ["", f"## {TABLE_TITLES[table]}", ""] + _table(results, table, splits, out, show_last, protocol)
        if table == 4:
            lines += _relative_improvements(results, splits)
    lines += _best_model(results, tables, splits, show_last)
    lines += _differences(protocol, splits, synthetic)
    lines += _made(results, protocol, splits)
    return "\n".join(lines) + "\n"


def _made(results, protocol, splits):
    """The closing section: the command line, code version, weights and data this report was made with."""
    made = made_by()
    code = f"tinyrrn {made['tinyrrn']}, " + (
        "not run from a git checkout (no commit known)" if made["git_commit"] is None else
        f"git commit {made['git_commit']}" + (" (with changes to tracked files not committed)"
                                              if made["git_modified"] else ""))
    weights = (f"`{protocol['weights']}`, digest {protocol.get('weights_digest') or 'n/a'}" if protocol["weights"]
               else "none (trained from scratch)")
    data = []
    for split in splits:  # every training row of a split reads the same videos: any finished one's report says which
        digests = next((r["data_digests"] for (s, _), r in results.items() if s == split and r.get("data_digests")), {})
        data.append(f"split {split}: " + (", ".join(f"{name} {digest}" for name, digest in digests.items())
                                          or "no finished training row"))
    return ["", "## How to make this report again", "", f"- **Command**: `{made['command']}`", f"- **Code**: {code}",
            f"- **Weights**: {weights}",
            f"- **Data** (digests of the videos' listed paths, labels and sizes): {'; '.join(data)}. Each row's "
            "eval/metrics.json names its own command, settings, weights digest and data, and its predictions.csv "
            "the predictions its figures come from."]


def parser():
    p = ArgumentParser(
        prog="python -m tinyrrn.reproduce",
        description="Run every row of the paper's Tables 1-4 (resuming finished rows) and write REPORT.md with "
                    "the paper's error, tinyrrn's error and the difference. Without --data: the synthetic "
                    "dataset and a small backbone (the paper's numbers are then for reference only).")
    a = p.add_argument
    a("--data", help="dataset root in UCF-101 layout; omit for the built-in synthetic dataset")
    a("--list-dir", help="folder of the split files (default DATA/ucfTrainTestlist)")
    a("--weights", help="ImageNet ResNet-50 weights (.pth or .npz): the backbone of every row and Table 1's "
                        "feature extractor (required for Table 1 on real data)")
    a("--tables", default="1,2,3,4", help="comma-separated paper tables to run")
    a("--splits", default="1", help="comma-separated splits 1-3 (the synthetic data has three official-style splits too)")
    a("--epochs", type=at_least(1), help=f"epochs per training row (default: the preset's 10, or {SYNTHETIC_EPOCHS} on "
                                 "synthetic data)")
    a("--baseline-epochs", type=at_least(1), help="epochs of each Table 1 baseline (default 30, or 60 on synthetic data)")
    a("--batch", type=at_least(1), help="chunks per forward pass of training rows (default 8, or 16 on synthetic data)")
    a("--feature-batch", type=at_least(1), default=64, help="frames per forward pass of feature extraction")
    a("--workers", type=at_least(0), default=2, help="background decoding threads")
    a("--cache-dir", help="on-disk cache of decoded frames "
      f"(default {os.path.join(configuration.user_cache(), 'frames')})")
    a("--seed", type=at_least(0), default=0, help="seed of every row (and of the choice of validation groups)")
    a("--val-groups", type=at_least(0), default=3,
      help="whole gNN groups of each split's training list held out to select every row's epoch on, Table 1's "
           "too (0: train on the whole list and report the last epoch)")
    a("--weights-layout", choices=sorted(WEIGHTS_LAYOUTS), default="torchvision",
      help="layout of --weights: torchvision, or caffe for MSRA/Caffe ResNet-50 weights (see tinyrrn.train --help)")
    add_compute_flags(p)
    add_debug_flag(p)
    a("--only", help="comma-separated row keys to run (e.g. table3-identity); default: every row")
    a("--set", action="append", default=[], metavar="KEY=VALUE",
      help="override a training setting of every row (keys as in tinyrrn.train's config, values JSON or text)")
    a("--out", help="output folder (default runs/reproduce-ucf101 or runs/reproduce-synthetic)")
    return p


# What a row is (its preset's skip, positions and context) and what reproduce's own flags set: not --set
ROW_KEYS = {"skip": None, "positions": None, "context": None, "average_logits": None, "name": None,
            "baseline": None, "resume": None, "split": "--splits", "data": "--data", "list_dir": "--list-dir",
            "weights": "--weights", "weights_layout": "--weights-layout", "out": "--out", "seed": "--seed",
            "val_groups": "--val-groups", "device": "--device", "threads": "--threads", "workers": "--workers",
            "epochs": "--epochs", "batch": "--batch", "cache_dir": "--cache-dir"}


RESUME_GRID = "python -m tinyrrn.reproduce with the same flags (finished rows are skipped)"


def set_flag(key):
    """How a user of reproduce changes the training setting ``key`` of every row (lr: --set lr=VALUE)."""
    return f"--set {key}=VALUE"


def parse_overrides(items):
    """{key: value} of --set KEY=VALUE items (values JSON or text), each checked as its training flag."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        settable = sorted(set(configuration.DEFAULTS) - set(ROW_KEYS))
        if not sep:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE with KEY one of {settable}")
        if key not in configuration.DEFAULTS:
            close = difflib.get_close_matches(key, settable, n=1)  # as --config's typo check
            raise UsageError(f"--set {item!r}: unknown setting {key}" + (f" (did you mean {close[0]}?)" if close else "")
                             + f"; --set takes {settable}")
        if key in ROW_KEYS:
            raise UsageError(f"--set {item!r}: {key} " + (f"is reproduce's own flag: use {ROW_KEYS[key]}" if ROW_KEYS[key]
                             else "defines a row of the paper's tables: choose rows with --only"))
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
        configuration.check_setting("--set", key, overrides[key])
    configuration.check_ranges(overrides, source="--set")  # lr=-1: '--set: lr = -1: ...', not '--lr -1: ...'
    return overrides


def numbers(flag, text, noun, allowed):
    """The comma-separated ``noun`` numbers of ``flag``, each one of ``allowed``; a UsageError otherwise."""
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        values = []
    if not values or any(v not in allowed for v in values):
        raise UsageError(f"{flag} {text}: expected {noun} numbers {allowed[0]}-{allowed[-1]}, comma-separated")
    return values


def options_from(argv=None):
    args = parser().parse_args(argv)
    tables = numbers("--tables", args.tables, "table", (1, 2, 3, 4))
    splits = numbers("--splits", args.splits, "split", (1, 2, 3))
    only = [k.strip() for k in args.only.split(",")] if args.only else None
    keys = [row["key"] for row in rows(tables)]
    for key in only or ():
        if key not in keys:
            near = difflib.get_close_matches(key, keys, n=1)
            raise UsageError(f"--only {key}: not a row of tables {args.tables}"
                             + (f" (did you mean {near[0]}?)" if near else f"; rows: {', '.join(keys)}"))
    args.data, args.list_dir, args.weights = (os.path.abspath(os.path.expanduser(p)) if p else p  # as train records them
                                              for p in (args.data, args.list_dir, args.weights))
    return {"data": args.data, "list_dir": args.list_dir, "weights": args.weights, "tables": tables, "splits": splits,
            "epochs": args.epochs, "baseline_epochs": args.baseline_epochs, "batch": args.batch,
            "feature_batch": args.feature_batch, "workers": args.workers, "cache_dir": args.cache_dir,
            "seed": args.seed, "val_groups": args.val_groups, "weights_layout": args.weights_layout,
            "device": args.device, "threads": args.threads, "overrides": parse_overrides(args.set),
            "only": only,
            "out": args.out or os.path.join("runs", "reproduce-" + ("synthetic" if args.data is None else "ucf101"))}


def run_grid(options):
    """Run the grid and write OUT/REPORT.md (also after an interruption); returns (exit code, report path)."""
    start = time.monotonic()
    use_compute(options["device"], options["threads"])
    for split in options["splits"]:  # --data, --list-dir and each split's files, before the grid says or writes anything
        dataset_root({**options, "split": split})
    with rundir.removed_on_failure(options["out"], worth_keeping=holds_results), \
            rundir.RunLock(options["out"]):  # one process per output folder: a second one is refused
        rundir.refuse_other_kind(options["out"], "reproduce grid", "--out")
        grid = Grid(options)
        grid.check_grid_file()
        grid.check_finished_rows()
        code = 0
        try:
            grid.run()
        except (signals.Interrupted, KeyboardInterrupt) as stop:
            print("\ninterrupted: run the same command again to resume the grid", file=sys.stderr, flush=True)
            code = getattr(stop, "exit_code", 130)
        finally:
            grid.collect()
            text = report(grid.results, options, grid.protocol(), time.monotonic() - start)
            path = os.path.join(options["out"], "REPORT.md")
            write_text(path, text)
            print(f"wrote {path}", flush=True)
    return code, path


def holds_results(out):
    """Whether a grid's folder holds more than its grid.json and REPORT.md: rows, features, their log."""
    return bool(set(os.listdir(out)) - {"grid.json", "REPORT.md"})


@command
def main(argv=None):
    options = options_from(argv)
    with writing_into(options["out"]):
        code, path = run_grid(options)
    if code == 0:
        print("\n" + read_report(path))
    return code


def read_report(path):
    """The text of a REPORT.md written by `run_grid` (with the bytes of the paths it names, `files.TEXT_ERRORS`)."""
    with open(path, encoding="utf-8", errors=TEXT_ERRORS) as f:
        return f.read()


if __name__ == "__main__":
    sys.exit(main())
