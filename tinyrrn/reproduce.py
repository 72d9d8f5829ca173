"""Run every row of the paper's Tables 1-4 and write REPORT.md: ``python -m tinyrrn.reproduce``.

    python -m tinyrrn.reproduce --data ROOT --weights resnet50.pth --tables 1,2,3,4 --splits 1,2,3
    python -m tinyrrn.reproduce                      # the built-in synthetic data, small backbone

Layout of the output folder (``--out``, default runs/reproduce-ucf101 or runs/reproduce-synthetic):

    grid.json                       the data and weights the grid was started with
    split<N>/<preset>/              one training run per row of Tables 2-4 (tinyrrn.train run directory)
    split<N>/features-<layer>/      cached per-frame features (tinyrrn.features) for Table 1
    split<N>/table1-<layer>-<model>-<znorm|raw>/   one Table 1 baseline (tinyrrn.baseline)
    grid.jsonl                      one line per finished row: error, seconds
    REPORT.md                       one table per paper table: paper error, ours, difference, run dir

Resume: a row is finished when its run directory holds ``eval/metrics.json`` and is then skipped
(saying so if settings that would change its result differ now); an unfinished training row
continues from its ``checkpoint.npz`` (tinyrrn.train resume). A row whose run has other settings
that define it (tinyrrn.config.DEFINES_RUN, e.g. ``--set skip=linear``) is moved aside to
``<dir>.replaced-<time>`` and trained afresh. Feature
extraction skips the videos already written, and an unfinished baseline (seconds long) is rerun.
Run the same command again after an interruption. Rows of different tables that are the same model
(e.g. Table 2 "Block4, identity", Table 3 "identity" and Table 4 "context 2") share one run.

Table 1 needs per-frame features of a pretrained backbone: on UCF-101 pass ``--weights`` (ImageNet
ResNet-50). On the synthetic data there are no pretrained weights for the small backbone, so the
grid first trains the no-skip (context 1) model of Table 4 and extracts features with its frozen
backbone; the report says so.
"""
import argparse
import json
import os
import sys
import time

from . import baseline, config as configuration, features, rundir, signals
from .builders import load_backbone
from .cli import UsageError, add_compute_flags, add_debug_flag, command, use_compute
from .files import JsonLog, write_json, write_text
from .models import ARCHITECTURES
from .models.rrn import default_positions, resolve_position
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

SYNTHETIC_EPOCHS = 12  # default epochs per training row on synthetic data (grid fits in 30 min on 2 cores)
BASELINE_EPOCHS = {"synthetic": 60, "ucf101": 30}


def rows(tables):
    """The grid's rows, in table order: dicts with table, key, label, paper, and preset or (layer, model, znorm)."""
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
            for t in (1, 2, 3, 5):
                preset = "baseline-resnet50" if t == 1 else f"table4-context{t}"
                skips = "baseline, no skip" if t == 1 else f"{t - 1} temporal skip{'s' if t > 2 else ''}"
                out.append({"table": 4, "key": f"table4-context{t}", "preset": preset,
                            "label": f"context {t} ({skips})", "paper": TABLE4_PAPER[t]})
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
              "list_dir": options["list_dir"], "split": split, "name": preset, "baseline": False,
              "out": options["out"], "seed": options["seed"], "device": options["device"],
              "threads": options["threads"], "workers": options["workers"]}
    if options["epochs"] is not None:
        config["epochs"] = options["epochs"]
    elif synthetic:
        config["epochs"] = SYNTHETIC_EPOCHS
    for key in ("batch", "cache_dir"):
        if options.get(key) is not None:
            config[key] = options[key]
    config.update(options.get("overrides") or {})
    filled = configuration.fill_defaults(config)
    if config["positions"] is None and filled["skip"] != "none":
        # the paper's rows without explicit positions (Table 4) mean "T-1 skips on the last units ending at
        # Block4"; fill_defaults may pick another default for synthetic data, which is not the paper's row
        filled["positions"] = None
    return filled


_UNIT_NAMES = {}


def model_key(config):
    """A key equal for configs that train the same model (positions resolved to unit names)."""
    arch = config["arch"]
    if arch not in _UNIT_NAMES:
        _UNIT_NAMES[arch] = ARCHITECTURES[arch](num_classes=2)
    backbone = _UNIT_NAMES[arch]
    if config["skip"] == "none":
        units = ()
    elif config["positions"] is None:
        units = default_positions(backbone, config["context"])
    else:
        positions = [config["positions"]] if isinstance(config["positions"], str) else config["positions"]
        units = tuple(dict.fromkeys(resolve_position(backbone, p) for p in positions))
    return json.dumps({**{k: v for k, v in config.items() if k not in ("name", "positions")},
                       "units": list(units)}, sort_keys=True)


def finished_error(run_dir):
    """The video error of a finished row (its eval/metrics.json), or None."""
    path = os.path.join(run_dir, "eval", "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)["video_error"]


class Grid:
    """Runs the rows of the requested tables and splits, skipping finished ones; then writes the report."""

    def __init__(self, options):
        self.options = options
        self.out = options["out"]
        self.results = {}   # (split, key) -> (error, run_dir)
        self.log = JsonLog(os.path.join(self.out, "grid.jsonl"))
        self.run_dirs = self.plan()

    def plan(self):
        """{(split, row key): run directory}; rows that train the same model share the first one's directory."""
        dirs, first = {}, {}
        for split in self.options["splits"]:
            for row in rows(sorted(set(self.options["tables"]) | {4})):
                own = os.path.join(self.out, f"split{split}", row["key"])
                if row["table"] == 1:
                    dirs[split, row["key"]] = own
                    continue
                key = model_key(row_config(row["preset"], self.options, split))
                dirs[split, row["key"]] = first.setdefault(key, own)
        return dirs

    def check_grid_file(self):
        """Refuse to mix rows of different data or weights in one output folder."""
        os.makedirs(self.out, exist_ok=True)
        path = os.path.join(self.out, "grid.json")
        mine = {"data": os.path.abspath(self.options["data"]) if self.options["data"] else None,
                "weights": os.path.abspath(self.options["weights"]) if self.options["weights"] else None}
        if os.path.isfile(path):
            with open(path) as f:
                saved = json.load(f)
            if {k: saved.get(k) for k in mine} != mine:
                raise ValueError(f"{self.out} holds a grid of other data/weights ({saved}); use another --out")
        else:
            write_json(path, mine)

    # training rows (Tables 2-4) -------------------------------------------------
    def train_row(self, row, split):
        """Train (or resume) a row; a finished row is skipped; a row whose run has other settings that
        define it is moved aside and trained afresh."""
        config = row_config(row["preset"], self.options, split)
        run_dir = self.run_dirs[split, row["key"]]
        head = f"== split {split} {row['key']}"
        refused, changed = self.settings_changes(run_dir, config)
        if refused:
            aside = f"{run_dir}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(run_dir, aside)
            print(f"{head}: its settings changed ({configuration.describe_changes(refused)}): the old run moved to "
                  f"{aside}; training afresh", flush=True)
        error = finished_error(run_dir)
        if error is None:
            start = time.monotonic()
            resume = os.path.isfile(os.path.join(run_dir, "checkpoint.npz"))
            print(f"\n== split {split} {row['key']}: {'resuming' if resume else 'training'} in {run_dir}", flush=True)
            metrics, _ = train(config, run_dir, resume=resume)
            error = metrics["video_error"]
            self.log.write({"split": split, "row": row["key"], "run_dir": run_dir, "video_error": error,
                            "seconds": round(time.monotonic() - start, 1)})
        else:
            kept = (f"; kept although {configuration.describe_changes(changed)} changed (delete its eval/ to continue "
                    "it with them)") if changed else ""
            print(f"{head}: finished ({run_dir}), skipped{kept}", flush=True)
        self.results[split, row["key"]] = (error, run_dir)
        return run_dir

    @staticmethod
    def settings_changes(run_dir, config):
        """(refused, changed): settings of ``config`` that differ from the run in ``run_dir`` and define
        it, and those that may change but would change its result (none when there is no run yet)."""
        if not os.path.isfile(os.path.join(run_dir, "config.json")):
            return {}, {}
        refused, applied = configuration.resume_changes(rundir.read_config(run_dir)[0], config)
        return refused, {k: v for k, v in applied.items() if k not in configuration.BOOKKEEPING}

    # Table 1 ---------------------------------------------------------------------
    def table1_backbone(self, split):
        """(backbone, weights label, feature config) for Table 1 features."""
        base = row_config("baseline-resnet50", self.options, split)
        if self.options["weights"]:
            backbone, arch = load_backbone(self.options["weights"], base["arch"])
            return backbone, os.path.abspath(self.options["weights"]), {**base, "arch": arch}
        if self.options["data"] is not None:
            raise UsageError("Table 1 needs --weights (ImageNet ResNet-50 weights, .pth or .npz) on real data")
        run_dir = self.train_row(rows([4])[0], split)  # the no-skip (context 1) model, trained per frame
        backbone, arch = load_backbone(run_dir, base["arch"])
        return backbone, os.path.abspath(run_dir), {**base, "arch": arch}

    def table1(self, table_rows, split):
        todo = [r for r in table_rows if finished_error(self.table1_dir(r, split)) is None]
        for r in table_rows:
            if r not in todo:
                print(f"== split {split} {r['key']}: finished, skipped", flush=True)
                self.results[split, r["key"]] = (finished_error(self.table1_dir(r, split)), self.table1_dir(r, split))
        if not todo:
            return
        backbone, label, config = self.table1_backbone(split)
        epochs = self.options["baseline_epochs"] or BASELINE_EPOCHS["synthetic" if self.options["data"] is None
                                                                    else "ucf101"]
        for layer in dict.fromkeys(r["layer"] for r in todo):
            feature_dir = os.path.join(self.out, f"split{split}", f"features-{layer}")
            index = features.read_index(feature_dir)
            if index is None or not index.get("complete"):
                print(f"\n== split {split}: features after {layer} -> {feature_dir}", flush=True)
                features.extract(config, backbone, layer, feature_dir, label, batch=self.options["feature_batch"])
            for r in (r for r in todo if r["layer"] == layer):
                start = time.monotonic()
                run_dir = self.table1_dir(r, split)
                print(f"== split {split} {r['key']}", flush=True)
                metrics = baseline.run(feature_dir, r["model"], r["znorm"], run_dir, epochs=epochs,
                                       seed=self.options["seed"])
                self.results[split, r["key"]] = (metrics["video_error"], run_dir)
                self.log.write({"split": split, "row": r["key"], "run_dir": run_dir, "video_error": metrics["video_error"],
                           "seconds": round(time.monotonic() - start, 1)})

    def table1_dir(self, row, split):
        return self.run_dirs[split, row["key"]]

    # the whole grid --------------------------------------------------------------
    def run(self):
        all_rows = rows(self.options["tables"])
        only = self.options.get("only")
        if only:
            all_rows = [r for r in all_rows if r["key"] in only]
        for split in self.options["splits"]:
            if 1 in self.options["tables"]:
                self.table1([r for r in all_rows if r["table"] == 1], split)
            for row in all_rows:
                if row["table"] != 1:
                    self.train_row(row, split)

    def collect(self):
        """Fill results of rows finished earlier (for a report after a partial run)."""
        for split in self.options["splits"]:
            for row in rows(self.options["tables"]):
                if (split, row["key"]) in self.results:
                    continue
                run_dir = self.run_dirs[split, row["key"]]
                error = finished_error(run_dir)
                if error is not None:
                    self.results[split, row["key"]] = (error, run_dir)


# -- the report --------------------------------------------------------------------
def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"


def report(results, tables, splits, data, out, epochs_note="", seconds=None):
    """REPORT.md text: a header on the data used, then one markdown table per paper table.

    results: {(split, row key): (video error or None, run_dir)}; run directories are shown relative to ``out``.
    """
    synthetic = data is None
    lines = ["# tinyrrn reproduction of Iqbal et al. (2017), Tables 1-4", ""]
    if synthetic:
        lines += ["**Data: tinyrrn's built-in synthetic dataset** (12 motion classes in pairs, small ResNet "
                  "`resnet_small` trained from scratch). **The paper's numbers are for UCF-101 with an ImageNet "
                  "ResNet-50 and are shown for reference only**: the differences below do not measure how well "
                  "tinyrrn reproduces the paper. Table 1 features come from the frozen backbone of the grid's "
                  "no-skip (context 1) model, as there are no pretrained weights for the small backbone. On this "
                  "data a model blind to frame order is at best 50% wrong (each class has a time-reversed twin)."]
    else:
        lines += [f"**Data: {data}** (UCF-101 layout). Paper errors are the video-level error on UCF-101 split 1 "
                  "as printed in the paper; n/a where the paper gives no number (e.g. other splits)."]
    lines += ["", f"Video-level error = 1 - top-1 accuracy of the mean chunk softmax per video (tinyrrn.evaluate). "
              f"Difference = tinyrrn - paper. Splits: {', '.join(map(str, splits))}.{epochs_note}"]
    if seconds is not None:
        lines += ["", f"This invocation took {seconds / 60:.1f} min."]
    for table in tables:
        lines += ["", f"## {TABLE_TITLES[table]}", "", "| row | paper error | tinyrrn error | difference | run directory |",
                  "|---|---|---|---|---|"]
        for split in splits:
            for row in rows([table]):
                error, run_dir = results.get((split, row["key"]), (None, None))
                paper = row["paper"] if split == 1 else None
                diff = "n/a" if error is None or paper is None else f"{error - paper:+.3f}"
                label = row["label"] + (f" (split {split})" if len(splits) > 1 else "")
                where = os.path.relpath(run_dir, out) if run_dir else "not run"
                lines.append(f"| {label} | {_fmt(paper)} | {_fmt(error)} | {diff} | {where} |")
    return "\n".join(lines) + "\n"


def parser():
    p = argparse.ArgumentParser(
        prog="python -m tinyrrn.reproduce",
        description="Run every row of the paper's Tables 1-4 (resuming finished rows) and write REPORT.md with "
                    "the paper's error, tinyrrn's error and the difference. Without --data: the synthetic "
                    "dataset and a small backbone (the paper's numbers are then for reference only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a = p.add_argument
    a("--data", help="dataset root in UCF-101 layout; omit for the built-in synthetic dataset")
    a("--list-dir", help="folder of the split files (default DATA/ucfTrainTestlist)")
    a("--weights", help="ImageNet ResNet-50 weights (.pth or .npz): the backbone of every row and Table 1's "
                        "feature extractor (required for Table 1 on real data)")
    a("--tables", default="1,2,3,4", help="comma-separated paper tables to run")
    a("--splits", default="1", help="comma-separated splits 1-3 (the synthetic data has three official-style splits too)")
    a("--epochs", type=int, help=f"epochs per training row (default: the preset's 10, or {SYNTHETIC_EPOCHS} on "
                                 "synthetic data)")
    a("--baseline-epochs", type=int, help="epochs of each Table 1 baseline (default 30, or 60 on synthetic data)")
    a("--batch", type=int, help="chunks per forward pass of training rows (default 8, or 16 on synthetic data)")
    a("--feature-batch", type=int, default=64, help="frames per forward pass of feature extraction")
    a("--workers", type=int, default=2, help="background decoding threads")
    a("--cache-dir", help="on-disk cache of decoded frames (default: user cache)")
    a("--seed", type=int, default=0, help="seed of every row")
    add_compute_flags(p)
    add_debug_flag(p)
    a("--only", help="comma-separated row keys to run (e.g. table3-identity); default: every row")
    a("--set", action="append", default=[], metavar="KEY=VALUE",
      help="override a training setting of every row (keys as in tinyrrn.train's config, values JSON or text)")
    a("--out", help="output folder (default runs/reproduce-ucf101 or runs/reproduce-synthetic)")
    return p


def parse_overrides(items):
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in configuration.DEFAULTS:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(configuration.DEFAULTS)}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def options_from(argv=None):
    args = parser().parse_args(argv)
    tables = [int(t) for t in args.tables.split(",") if t.strip()]
    splits = [int(s) for s in args.splits.split(",") if s.strip()]
    if not splits or any(s not in (1, 2, 3) for s in splits):
        raise UsageError(f"--splits {args.splits}: expected split numbers 1-3, comma-separated")
    return {"data": args.data, "list_dir": args.list_dir, "weights": args.weights, "tables": tables, "splits": splits,
            "epochs": args.epochs, "baseline_epochs": args.baseline_epochs, "batch": args.batch,
            "feature_batch": args.feature_batch, "workers": args.workers, "cache_dir": args.cache_dir,
            "seed": args.seed, "device": args.device, "threads": args.threads, "overrides": parse_overrides(args.set),
            "only": [k.strip() for k in args.only.split(",")] if args.only else None,
            "out": args.out or os.path.join("runs", "reproduce-" + ("synthetic" if args.data is None else "ucf101"))}


def run_grid(options):
    """Run the grid and write OUT/REPORT.md (also after an interruption); returns (exit code, report path)."""
    start = time.monotonic()
    use_compute(options["device"], options["threads"])
    grid = Grid(options)
    grid.check_grid_file()
    code = 0
    try:
        grid.run()
    except (signals.Interrupted, KeyboardInterrupt) as stop:
        print("\ninterrupted: run the same command again to resume the grid", file=sys.stderr, flush=True)
        code = getattr(stop, "exit_code", 130)
    finally:
        grid.collect()
        note = ""
        if options["data"] is None:
            epochs = options["epochs"] or SYNTHETIC_EPOCHS
            note = f" Training rows: {epochs} epochs each on the synthetic data."
        text = report(grid.results, options["tables"], options["splits"], options["data"], options["out"], note,
                      time.monotonic() - start)
        path = os.path.join(options["out"], "REPORT.md")
        write_text(path, text)
        print(f"wrote {path}", flush=True)
    return code, path


@command
def main(argv=None):
    code, path = run_grid(options_from(argv))
    if code == 0:
        with open(path) as f:
            print("\n" + f.read())
    return code


if __name__ == "__main__":
    sys.exit(main())
