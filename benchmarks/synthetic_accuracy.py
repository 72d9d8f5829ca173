"""Where does the temporal skip help? Every position x skip type on the built-in synthetic data.

    python benchmarks/synthetic_accuracy.py [--seed 0] [--epochs N] [--out DIR] [--json FILE]

Trains the main job's model (``python -m tinyrrn.train``'s settings) once per skip position
(block1, block2, mid_block4, block4) and skip type (identity, linear, nonlinear) and prints two
tables at the epoch selected on the held-out training groups, as train reports it: the
validation video error, which is what a choice among these settings may rest on, and the test
video error, which only reports (the test split selects nothing, not even the default skip
position). The synthetic classes come in pairs that differ only in frame order, so a
single-frame model is at chance within each pair (about 50% error). The main job's errors over
seeds, with and without the skip, come from benchmarks/seeds.py.
"""
import contextlib
import io
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinyrrn import config as configuration  # noqa: E402
from tinyrrn import train as training  # noqa: E402
from tinyrrn.cli import ArgumentParser, parse_script_args  # noqa: E402


POSITIONS = ("block1", "block2", "mid_block4", "block4")
SKIPS = ("identity", "linear", "nonlinear")


def run(overrides, out):
    """Train one model quietly; return its validation and test video errors at the selected epoch, and
    the seconds it took."""
    config = configuration.fill_defaults({**configuration.DEFAULTS, "baseline": False, "out": out, **overrides})
    start = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        metrics, _ = training.train(config)
    return metrics["val_video_error"], metrics["video_error"], time.monotonic() - start


def main(argv=None):
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0, help="seed of every model (default 0)")
    p.add_argument("--epochs", type=int, help="epochs per model (default: the trainer's synthetic default)")
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "tinyrrn-synthetic-accuracy"),
                   help="folder for the run directories (default: tinyrrn-synthetic-accuracy in the system's "
                        "temporary folder)")
    p.add_argument("--json", help="also write the errors to this JSON file")
    args = parse_script_args(p, argv)
    common = {"seed": args.seed, **({"epochs": args.epochs} if args.epochs else {})}
    results = {}
    for position in POSITIONS:
        for skip in SKIPS:
            validation, test, seconds = run({**common, "skip": skip, "positions": [position]}, args.out)
            results[f"{position}/{skip}"] = {"val_video_error": validation, "video_error": test}
            print(f"{position}/{skip}: validation {validation:.3f}, test {test:.3f} ({seconds:.0f} s)", flush=True)
    for key, title in (("val_video_error", "validation video error (what a choice may rest on)"),
                       ("video_error", "test video error (reported only)")):
        print(f"\nposition x skip type (seed {args.seed}), {title}:")
        print(f"{'position':<12}" + "".join(f"{s:>11}" for s in SKIPS))
        for position in POSITIONS:
            print(f"{position:<12}" + "".join(f"{results[f'{position}/{s}'][key]:>11.3f}" for s in SKIPS))
    best = min(results, key=lambda setting: results[setting]["val_video_error"])
    print(f"\nlowest validation error: {best}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
