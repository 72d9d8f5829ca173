"""Where a training step's time goes, op by op: each op's forward and backward, and the optimiser.

    python benchmarks/profile_ops.py [--model resnet50|main|baseline] [--batch 8] [--size 224] [--device cpu|gpu]

--model resnet50 times ResNet-50 on (batch, 3, size, size) images; --model main the main job's model
(``python -m tinyrrn.train`` with no arguments: resnet_small with a temporal skip at mid_block4, clips
of T = 2 frames of 40x40, 12 classes); --model baseline the main job's no-skip baseline (the same
backbone, frame-wise: chunks of one frame, T per clip of --batch, so that --batch 8 gives it the 16
frames the main model's 8 clips hold). A step is the trainer's: forward, cross-entropy, backward,
Adam's step and zero_grad.

First the step is timed whole (--steps steps after --warmup), and on a GPU also the host's part:
the time until the step's last kernel is queued. A host time close to the step's wall time means
the step waits on Python and kernel launches, not on the GPU. Then every op's forward is timed
from the end of the op before it to its result (the Python between ops counts to the op after
it) and its backward around its gradient function; on a GPU each is followed by a
synchronisation, so that an op's kernels count to it (these syncs slow the step: the by-op total
is longer than the step's time). Ops are listed by total time.
"""
import collections
import importlib
import time

import numpy

from tinyrrn.cli import ArgumentParser, parse_script_args

OP_MODULES = ("conv", "elementwise", "linear", "loss", "norm", "pool", "reduction", "shape")


def build(args):
    """(model, a function making one batch of inputs and labels on the device)."""
    import tinyrrn
    from tinyrrn import backend
    from tinyrrn.builders import build_model
    from tinyrrn.config import DEFAULTS, fill_defaults
    from tinyrrn.models import resnet50
    from tinyrrn.train import frame_wise
    rng = numpy.random.default_rng(0)
    tinyrrn.manual_seed(0)
    if args.model == "resnet50":
        model = resnet50()
        shape, classes = (args.batch, 3, args.size, args.size), 1000
    else:
        config, batch = fill_defaults({**DEFAULTS}), args.batch
        if args.model == "baseline":  # as the main job builds it (tinyrrn.train._main)
            batch *= config["chunk"]
            config = {**config, **frame_wise(config), "skip": "none", "positions": None}
        model = build_model(config, num_classes=12)
        shape, classes = (batch, config["chunk"], 3, config["crop"], config["crop"]), 12
    device = backend.get_device()
    inputs = backend.to_device(rng.standard_normal(shape, dtype=numpy.float32), device)
    labels = backend.to_device(rng.integers(0, classes, shape[0]), device)
    return model, inputs, labels


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("resnet50", "main", "baseline"), default="resnet50",
                        help="ResNet-50 on images, or the main job's model on clips, or its frame-wise baseline (default resnet50)")
    parser.add_argument("--batch", type=int, default=8, help="images (resnet50) or clips (main; the baseline gets their frames) per batch (default 8)")
    parser.add_argument("--size", type=int, default=224, help="image height and width for resnet50 (default 224)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where to compute (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="tinyrrn's threads (default: every core)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps, whole and by op (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--top", type=int, default=25, help="ops listed (default 25)")
    args = parse_script_args(parser, argv)

    import tinyrrn
    from tinyrrn import backend, memory, threads
    from tinyrrn import functional as F
    from tinyrrn.optim import Adam
    backend.set_device(args.device)
    threads.set_threads(args.threads)
    memory.keep_freed_memory()
    model, inputs, labels = build(args)
    optimizer = Adam(model.parameters(), lr=1e-4)
    xp = backend.module_for(args.device)
    sync = xp.cuda.Device().synchronize if args.device == "gpu" else (lambda: None)

    def step():
        loss = F.cross_entropy(model(tinyrrn.Tensor(inputs)), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(args.warmup):
        step()
    sync()
    walls, hosts = [], []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        hosts.append(time.perf_counter() - started)
        sync()
        walls.append(time.perf_counter() - started)
    print(f"{args.model} on the {args.device.upper()}, batch {args.batch}"
          + (f", {args.size}x{args.size}" if args.model == "resnet50" else "")
          + f": step {1000 * numpy.median(walls):.1f} ms (median of {args.steps})"
          + (f", of which the host queues work for {1000 * numpy.median(hosts):.1f} ms" if args.device == "gpu" else ""))

    forward, backward = collections.defaultdict(float), collections.defaultdict(float)
    calls = collections.Counter()
    modules = [importlib.import_module(f"tinyrrn.functional.{name}") for name in OP_MODULES]
    original = modules[0].make_result
    last = [0.0]

    def timed_result(data, parents, backward_fn, op, **options):
        sync()
        now = time.perf_counter()
        forward[op] += now - last[0]
        calls[op] += 1

        def timed_backward(g, fn=backward_fn, op=op):
            started = time.perf_counter()
            result = fn(g)
            sync()
            backward[op] += time.perf_counter() - started
            return result
        out = original(data, parents, timed_backward, op, **options)
        last[0] = time.perf_counter()
        return out

    for module in modules:
        module.make_result = timed_result
    phases = collections.defaultdict(float)
    try:
        for _ in range(args.steps):
            started = last[0] = time.perf_counter()
            loss = F.cross_entropy(model(tinyrrn.Tensor(inputs)), labels)
            sync()
            forwarded = time.perf_counter()
            loss.backward()
            sync()
            backwarded = time.perf_counter()
            optimizer.step()
            optimizer.zero_grad()
            sync()
            phases["forward"] += forwarded - started
            phases["backward"] += backwarded - forwarded
            phases["optimiser"] += time.perf_counter() - backwarded
    finally:
        for module in modules:
            module.make_result = original
    n = args.steps
    print("by op, with a synchronisation after each: " + ", ".join(f"{k} {1000 * v / n:.1f} ms" for k, v in phases.items()))
    print(f"{'op':22s} {'calls':>6s} {'forward ms':>11s} {'backward ms':>12s}")
    for op in sorted(forward, key=lambda o: -(forward[o] + backward[o]))[:args.top]:
        print(f"{op:22s} {calls[op] // n:6d} {1000 * forward[op] / n:11.2f} {1000 * backward[op] / n:12.2f}")


if __name__ == "__main__":
    main()
