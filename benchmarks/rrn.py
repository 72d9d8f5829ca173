"""Time and memory of one ResNet-50 recurrent residual network training step for T = 1, 2, 3.

    python benchmarks/rrn.py [--batch 2] [--size 224] [--contexts 1 2 3] [--steps 3]

Each context runs in its own process (so peak memory is its own): T = 1 is
the plain ResNet-50 (Eq. 1), T = 2 and 3 use identity temporal skips on the
last T-1 units (block4 for T = 2). A step is forward, backward and an Adam
update on clips of shape (batch, T, 3, size, size). The paper's promise is
that cost grows linearly with T: layers below the first skip run on B*T
frames, layers above the last skip on B frames only.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker(args):
    import numpy

    from tinyrrn import Tensor
    from tinyrrn import functional as F
    from tinyrrn.models import RecurrentResNet, resnet50
    from tinyrrn.optim import Adam

    skip = "none" if args.context == 1 else "identity"
    model = RecurrentResNet(resnet50(num_classes=101), skip, context=args.context)
    optimizer = Adam(model.parameters(), lr=1e-4)
    rng = numpy.random.default_rng(0)
    clips = rng.standard_normal((args.batch, args.context, 3, args.size, args.size)).astype("float32")
    labels = numpy.arange(args.batch) % 101
    times = []
    for _ in range(args.steps + 1):  # the first step warms up memory
        start = time.perf_counter()
        loss = F.cross_entropy(model(Tensor(clips)), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    print(json.dumps({"context": args.context, "positions": list(model.positions), "first_s": times[0],
                      "step_s": min(times[1:]), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=2, help="clips per step (default 2)")
    p.add_argument("--size", type=int, default=224, help="frame height and width (default 224)")
    p.add_argument("--contexts", type=int, nargs="+", default=[1, 2, 3], help="chunk lengths T to time (default 1 2 3)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per context, after one warm-up step (default 3)")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads of each worker process (default 2)")
    p.add_argument("--context", type=int, help=argparse.SUPPRESS)  # set in the worker process
    args = p.parse_args()
    if args.context is not None:
        return worker(args)
    env = {**os.environ, **{k: str(args.threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}}
    print(f"ResNet-50 RRN training step (forward + backward + Adam), batch {args.batch}, {args.size}x{args.size}, "
          f"{args.threads} threads, each T in its own process")
    print(f"{'T':>2}  {'skips at':<22} {'step (s)':>9} {'per frame (s)':>14} {'first step (s)':>15} {'peak RSS (MB)':>14}")
    for context in args.contexts:
        out = subprocess.run([sys.executable, __file__, "--context", str(context), "--batch", str(args.batch),
                              "--size", str(args.size), "--steps", str(args.steps)],
                             env=env, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        per_frame = r["step_s"] / (args.batch * context)
        print(f"{context:>2}  {','.join(r['positions']) or '-':<22} {r['step_s']:>9.2f} {per_frame:>14.3f} "
              f"{r['first_s']:>15.2f} {r['peak_rss_mb']:>14.0f}")


if __name__ == "__main__":
    main()
