"""The main job's errors over seeds: the range the README quotes.

    python benchmarks/seeds.py [--seeds 0,1,2] [--out runs/seeds] [tinyrrn.train flags, e.g. --epochs 10]

Runs ``python -m tinyrrn.train`` (the model with a temporal skip and the no-skip baseline, side by
side with 2+ threads, as the main job trains them) once per seed, each in its own run directory
OUT/<date>-seed<S>, as a separate process so that its wall time and CPU seconds (user + system,
all threads) are its own. Other flags go to tinyrrn.train unchanged. Prints a markdown table -- per seed, both models' test video errors of
the selected epoch and of the last epoch, as train reports them, wall time and CPU seconds --
with the mean +- spread (population standard deviation) over the seeds, and writes it to
OUT/seeds.md (and the numbers to OUT/seeds.json).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = (("skip", ""), ("no skip", "baseline"))  # label, run directory below the job's
sys.path.insert(0, ROOT)  # run from a checkout
from tinyrrn.cli import ArgumentParser, command  # noqa: E402


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_errors(run_dir):
    """{error, epoch, epochs, last} of a finished run, from the report train writes (eval/metrics.json)."""
    with open(os.path.join(run_dir, "eval", "metrics.json")) as f:
        metrics = json.load(f)
    return {"error": metrics["video_error"], "epoch": metrics["epoch"], "epochs": metrics["epochs"],
            "last": metrics["last"]["video_error"]}


def run_seed(seed, out, train_flags):
    """Train the main job for one seed; returns its results (errors of both models, wall and CPU seconds)."""
    name = f"seed{seed}"
    before = set(os.listdir(out)) if os.path.isdir(out) else set()
    cpu, start = children_cpu_seconds(), time.monotonic()
    command = [sys.executable, "-m", "tinyrrn.train", *train_flags, "--seed", str(seed), "--out", out,
               "--name", name, "--baseline"]
    print("$ " + " ".join(command), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, env=env)
    if done.returncode:  # train said why in its own error line
        raise SystemExit(done.returncode)
    wall, cpu = time.monotonic() - start, children_cpu_seconds() - cpu
    (run_dir,) = [os.path.join(out, d) for d in set(os.listdir(out)) - before if d.endswith(f"-{name}")]
    return {"seed": seed, "run_dir": run_dir, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            **{label: read_errors(os.path.join(run_dir, sub)) for label, sub in MODELS}}


def spread(values, digits):
    """mean ± population standard deviation (statistics.pstdev), as the README quotes it."""
    return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def table(results):
    """The markdown table of ``results`` (run_seed's dicts), with a last row of mean ± population standard deviation."""
    head = ["seed"] + [f"{label}: {what}" for label, _ in MODELS for what in ("selected epoch", "last epoch")]
    lines = ["| " + " | ".join(head + ["wall s", "CPU s"]) + " |", "|" + "---:|" * (len(head) + 2)]
    for r in results:
        cells = [str(r["seed"])]
        for label, _ in MODELS:
            m = r[label]
            cells += [f"{m['error']:.3f} (epoch {m['epoch']} of {m['epochs']})", f"{m['last']:.3f}"]
        lines.append("| " + " | ".join(cells + [f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}"]) + " |")
    mean = [f"mean ± std, population (n={len(results)})"]
    for label, _ in MODELS:
        mean += [spread([r[label]["error"] for r in results], 3), spread([r[label]["last"] for r in results], 3)]
    mean += [spread([r["wall_s"] for r in results], 0), spread([r["cpu_s"] for r in results], 0)]
    lines.append("| " + " | ".join(mean) + " |")
    return "\n".join(lines)


def seed_list(text):
    """An argparse ``type``: comma-separated seeds, whole numbers of at least 0."""
    seeds = [s.strip() for s in text.split(",") if s.strip()]
    if not seeds or not all(s.isdigit() for s in seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: must be comma-separated whole numbers, e.g. 0,1,2")
    return [int(s) for s in seeds]


@command
def main(argv=None):
    p = ArgumentParser(description=__doc__.split("\n")[0], epilog="Other flags go to tinyrrn.train.",
                       allow_abbrev=False)  # --seed is a flag of train, not short for --seeds
    p.add_argument("--seeds", type=seed_list, default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--out", default=os.path.join("runs", "seeds"), help="folder of the runs and the table "
                                                                          "(default runs/seeds)")
    # argparse's own parse: the flags it does not know go to train, which suggests for a mistyped one itself
    args, train_flags = argparse.ArgumentParser.parse_known_args(p, argv)
    p.refuse_empty_values(args)
    refused = [f for f in train_flags if f.split("=")[0] in ("--seed", "--out", "--name", "--no-baseline", "--resume")]
    if refused:
        p.error(f"{refused[0]} is set per seed by this script")
    results = [run_seed(seed, args.out, train_flags) for seed in args.seeds]
    text = table(results)
    with open(os.path.join(args.out, "seeds.md"), "w") as f:
        seeds = ",".join(map(str, args.seeds))
        f.write(f"python benchmarks/seeds.py --seeds {seeds} {' '.join(train_flags)}\n\n{text}\n")
    with open(os.path.join(args.out, "seeds.json"), "w") as f:
        json.dump({"train_flags": train_flags, "results": results}, f, indent=1)
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
