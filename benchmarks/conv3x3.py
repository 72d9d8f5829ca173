"""ResNet-50's 3x3 convolutions by each method tinyrrn has, against torch's conv2d (oneDNN).

    python benchmarks/conv3x3.py [--batch 8] [--size 224] [--threads 2] [--repeats 5] [--runs 2]

Methods: ``im2col`` (tinyrrn.functional.conv's reference path: one strided view copied into a
column buffer, one matrix product; col2im for the input gradient), ``blocks`` (what conv2d does
below the Winograd sizes: the columns gathered and multiplied a cache-sized block at a time,
never stored whole; at stride 1 the input gradient is such a product too), ``winograd``
(what conv2d does at the Winograd sizes: tinyrrn.functional.winograd, F(2x2, 3x3), for the
forward pass and the input gradient, column blocks for the weight gradient; stride 1 only) and ``torch``
(torch.nn.functional.conv2d on channels-last tensors). For every distinct 3x3 shape: forward,
input gradient and weight gradient, each timed alone. Every method runs in its own process
(alternately, --runs times); the table shows the minimum over runs of each median, and the
process CPU time, which other programs on the machine disturb less than wall time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv import resnet50_convs  # noqa: E402

METHODS = ("im2col", "blocks", "winograd", "torch")
PARTS = ("forward", "input grad", "weight grad")


def shapes(size):
    """[(name, channels, out_channels, stride, input_hw, count)] of the distinct 3x3 convolutions."""
    seen = {}
    for name, c, o, k, s, p, hw in resnet50_convs(size):
        if k == 3:
            key = (c, o, s, hw)
            seen.setdefault(key, [name, 0])[1] += 1
    return [(name, c, o, s, hw, count) for (c, o, s, hw), (name, count) in seen.items()]


def worker(args):
    import numpy
    rng = numpy.random.default_rng(0)
    if args.method == "torch":
        import torch
        torch.set_num_threads(args.threads)
    else:
        from tinyrrn import threads
        from tinyrrn.functional import conv, winograd
        threads.set_threads(args.threads)
    results = {}
    for name, c, o, s, hw, _ in shapes(args.size):
        if args.method == "winograd" and s != 1:
            continue
        ho = (hw + 2 - 3) // s + 1
        x = rng.standard_normal((args.batch, hw, hw, c), dtype=numpy.float32)
        w = rng.standard_normal((o, 3, 3, c), dtype=numpy.float32).transpose(0, 3, 1, 2)
        g = rng.standard_normal((args.batch, ho, ho, o), dtype=numpy.float32)
        if args.method == "torch":
            cl = torch.channels_last
            tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=cl)
            tw = torch.from_numpy(numpy.ascontiguousarray(w)).contiguous(memory_format=cl)
            tg = torch.from_numpy(g).permute(0, 3, 1, 2).contiguous(memory_format=cl)
            size = tx.shape
            grad_input = torch.nn.grad.conv2d_input
            grad_weight = torch.nn.grad.conv2d_weight
            calls = {"forward": lambda: torch.nn.functional.conv2d(tx, tw, None, s, 1),
                     "input grad": lambda: grad_input(size, tw, tg, s, 1),
                     "weight grad": lambda: grad_weight(tx, tw.shape, tg, s, 1)}
            context = torch.no_grad
        elif args.method == "winograd":
            view = conv.windows(x, (3, 3), (1, 1), (1, 1))[0]
            calls = {"forward": lambda: winograd.conv3x3(x, w, 1),
                     "input grad": lambda: winograd.conv3x3_input_grad(g, w, 1),
                     "weight grad": lambda: conv.window_weight_product(g.reshape(-1, o), view)}
            context = None
        elif args.method == "blocks":
            view = conv.windows(x, (3, 3), (s, s), (1, 1))[0]
            rows = w.transpose(0, 2, 3, 1).reshape(o, 9 * c)
            g_rows = g.reshape(-1, o)

            def input_grad():  # conv2d's own: a column-block product at stride 1, col2im with a stride
                return conv._input_gradient(g.transpose(0, 3, 1, 2), w, x.shape, (s, s), ((1, 1), (1, 1)), (1, 1), 1,
                                            (ho, ho))
            calls = {"forward": lambda: conv.window_product(view, rows.T), "input grad": input_grad,
                     "weight grad": lambda: conv.window_weight_product(g_rows, view)}
            context = None
        else:
            rows = w.transpose(0, 2, 3, 1).reshape(o, 9 * c)
            g_rows = g.reshape(-1, o)

            def forward():
                cols, _ = conv.im2col(x, (3, 3), (s, s), (1, 1))
                return threads.matmul(cols, rows.T)

            def input_grad():
                return conv.col2im(threads.matmul(g_rows, rows), x.shape, (3, 3), (s, s), (1, 1), (ho, ho))

            def weight_grad():
                cols, _ = conv.im2col(x, (3, 3), (s, s), (1, 1))
                return threads.matmul(g_rows.T, cols)
            calls = {"forward": forward, "input grad": input_grad, "weight grad": weight_grad}
            context = None
        for part, fn in calls.items():
            fn()
            wall, cpu = [], []
            for _ in range(args.repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                if context is None:
                    fn()
                else:
                    with context():
                        fn()
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            results[f"{name}|{part}"] = (statistics.median(wall), statistics.median(cpu))
    print("RESULT " + json.dumps(results), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    p.add_argument("--size", type=int, default=224, help="input height and width of ResNet-50 (default 224)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads of each method's process: BLAS, tinyrrn's pool or torch (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per part, after one warm-up (default 5)")
    p.add_argument("--runs", type=int, default=2, help="processes per method, alternating (default 2)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help=f"methods to time (default: all, {' '.join(METHODS)})")
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.method:
        return worker(args)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if env.pop(name, None) is not None:
            print(f"unset {name} in the children (it slows a current OpenBLAS)")
    best = {}
    for _ in range(args.runs):
        for method in args.methods:
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--method", method], env=env,
                                 capture_output=True, text=True)
            lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
            if out.returncode or not lines:
                raise SystemExit(f"{method} failed:\n{out.stdout}{out.stderr}")
            for key, (wall, cpu) in json.loads(lines[-1][7:]).items():
                old = best.get((method, key), (float("inf"), float("inf")))
                best[method, key] = (min(old[0], wall), min(old[1], cpu))
    print(f"batch {args.batch}, {args.size}x{args.size}, {args.threads} threads, float32; "
          f"ms: wall (min over runs of the median) / process CPU; load average {os.getloadavg()[0]:.1f}")
    print(f"{'conv (count)':28s} {'part':12s} " + " ".join(f"{m:>15s}" for m in args.methods))
    totals = {m: [0.0, 0.0] for m in args.methods}
    for name, c, o, s, hw, count in shapes(args.size):
        for part in PARTS:
            cells = []
            for m in args.methods:
                wall, cpu = best.get((m, f"{name}|{part}"), (None, None))
                cells.append("-" if wall is None else f"{1000 * wall:.1f} / {1000 * cpu:.1f}")
                if wall is not None and (s == 1 or "winograd" not in args.methods):
                    totals[m][0] += count * wall
                    totals[m][1] += count * cpu
            print(f"{f'{name} ({count})':28s} {part:12s} " + " ".join(f"{cell:>15s}" for cell in cells))
    print(f"{'all stride-1 3x3, x count' if 'winograd' in args.methods else 'all 3x3, x count':41s} " +
          " ".join(f"{f'{1000 * t[0]:.0f} / {1000 * t[1]:.0f}':>15s}" for t in totals.values()))


if __name__ == "__main__":
    main()
