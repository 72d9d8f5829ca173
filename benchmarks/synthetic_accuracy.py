"""Does the temporal skip matter? Video-level error on the built-in synthetic data.

    python benchmarks/synthetic_accuracy.py [--seeds 0 1 2] [--grid] [--epochs N]

Trains the default model (``python -m tinyrrn.train``'s settings) with its
temporal skip and without one (context 1) for every seed and prints both
video-level errors (mean and spread). With ``--grid`` it also trains one
model per skip position (block1, block2, mid_block4, block4) and skip type
(identity, linear, nonlinear) for the first seed. The synthetic classes come
in pairs that differ only in frame order, so a single-frame model is at
chance within each pair (about 50% error).
"""
import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinyrrn import config as configuration  # noqa: E402
from tinyrrn import train as training  # noqa: E402


def run(overrides, out):
    """Train one model quietly; return (video error, seconds)."""
    config = configuration.fill_defaults({**configuration.DEFAULTS, "baseline": False, "out": out, **overrides})
    start = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        metrics, _ = training.train(config)
    return metrics["video_error"], time.monotonic() - start


def spread(values):
    return f"{statistics.mean(values):.3f} +- {statistics.pstdev(values):.3f} (n={len(values)})"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                   help="seeds to train the skip and no-skip models with (none: only the grid)")
    p.add_argument("--epochs", type=int, help="epochs per model (default: the trainer's synthetic default)")
    p.add_argument("--grid", action="store_true", help="also train every skip position and type")
    p.add_argument("--grid-seed", type=int, default=0, help="seed of the grid's models")
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "tinyrrn-synthetic-accuracy"),
                   help="folder for the run directories")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args()
    common = {"epochs": args.epochs} if args.epochs else {}
    default = configuration.fill_defaults(dict(configuration.DEFAULTS))
    print(f"default model: {default['arch']} skip={default['skip']} positions={default['positions'] or 'auto'} "
          f"T={default['context']}, {default['epochs']} epochs, crop {default['crop']}")
    results = {"skip": [], "no_skip": [], "grid": {}}
    for seed in args.seeds:
        for key, overrides in (("skip", {}), ("no_skip", {"skip": "none", "context": 1})):
            error, seconds = run({**common, **overrides, "seed": seed}, args.out)
            results[key].append(error)
            print(f"seed {seed} {key:<8} video error {error:.3f}  ({seconds:.0f} s)", flush=True)
    if args.seeds:
        print(f"\nwith temporal skip:    {spread(results['skip'])}")
        print(f"without (context 1):   {spread(results['no_skip'])}")
        ratio = statistics.mean(results["skip"]) / max(statistics.mean(results["no_skip"]), 1e-9)
        print(f"ratio skip / no skip:  {ratio:.2f}  (target <= 0.5)")
    if args.grid:
        print(f"\nposition x skip type (seed {args.grid_seed}):")
        print(f"{'position':<12}" + "".join(f"{s:>11}" for s in ("identity", "linear", "nonlinear")))
        for position in ("block1", "block2", "mid_block4", "block4"):
            row = []
            for skip in ("identity", "linear", "nonlinear"):
                error, _ = run({**common, "seed": args.grid_seed, "skip": skip, "positions": [position]}, args.out)
                results["grid"][f"{position}/{skip}"] = error
                row.append(error)
            print(f"{position:<12}" + "".join(f"{e:>11.3f}" for e in row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
