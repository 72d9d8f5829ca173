"""Thread policies on matrix products and element-wise passes, alone and beside a busy process.

    python benchmarks/threads.py [--threads 2] [--busy] [--repeats 20]

For each product shape (ResNet-50's convolutions at batch 8, 224x224, and the built-in job's
small ResNet at 32 frames of 40x40) and each element-wise size, the median time of:
- ``blas 1``: OpenBLAS with one thread;
- ``blas N``: OpenBLAS splitting the product over N threads itself;
- ``tinyrrn``: tinyrrn.threads (blocks taken in turn by the caller and N - 1 helpers, one BLAS
  thread per block).
``--busy`` starts one process spinning on a core for the whole run (``while True: pass``), as a
newcomer's machine with one other busy program. The medians show whether a policy degrades
there: the one the package uses must never be slower than ``blas 1``. On a shared machine
the minimum is the better estimate of the time alone, the median of the time beside others.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PRODUCTS = {  # name: (m, k, n) of out (m, n) = a (m, k) @ b (k, n)
    "resnet50 layer1 3x3 fwd": (25088, 576, 64),
    "resnet50 layer1 1x1 expand": (25088, 64, 256),
    "resnet50 layer3 3x3 fwd": (1568, 2304, 256),
    "resnet50 layer4 3x3 dW": (512, 392, 4608),
    "small layer1 3x3 fwd": (51200, 72, 8),
    "small layer2 3x3 fwd": (12800, 144, 16),
    "small layer4 3x3 fwd": (800, 576, 64),
    "small layer3 3x3 dW": (32, 3200, 288),
}
ELEMENTWISE = {"resnet50 activation": 8 * 56 * 56 * 256, "small activation": 32 * 40 * 40 * 8,
               "small layer4 activation": 32 * 5 * 5 * 64}


def min_median_ms(fn, repeats):
    """'min/median' milliseconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return f"{1000 * min(times):.2f}/{1000 * statistics.median(times):.2f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads of the threaded policies (default 2)")
    p.add_argument("--busy", action="store_true", help="run beside one process spinning on a core")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per case (default 20)")
    args = p.parse_args()

    import numpy
    import threadpoolctl

    from tinyrrn import threads
    threads.set_threads(args.threads)
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        print(f"{args.threads} threads{', beside one busy process' if busy else ''}; load average "
              f"{os.getloadavg()[0]:.1f}; min/median ms of {args.repeats} calls")
        print(f"{'product (m, k, n)':44s} {'blas 1':>13s} {f'blas {args.threads}':>13s} {'tinyrrn':>13s}")
        rng = numpy.random.default_rng(0)
        for name, (m, k, n) in PRODUCTS.items():
            a = rng.standard_normal((m, k), dtype=numpy.float32)
            b = rng.standard_normal((k, n), dtype=numpy.float32)
            out = numpy.empty((m, n), numpy.float32)
            row = []
            for count, split in ((1, False), (args.threads, False), (1, True)):
                with blas.limit(limits=count):
                    fn = (lambda: threads.matmul(a, b, out)) if split else (lambda: numpy.matmul(a, b, out=out))
                    row.append(min_median_ms(fn, args.repeats))
            print(f"{name + f' {(m, k, n)}':44s} " + " ".join(f"{t:>13s}" for t in row), flush=True)
        print(f"{'element-wise y = max(x, 0) * s (elements)':44s} {'1 thread':>13s} {'':13s} {'tinyrrn':>13s}")
        for name, size in ELEMENTWISE.items():
            x = rng.standard_normal((size // 64, 64), dtype=numpy.float32)
            y = numpy.empty_like(x)

            def relu_scale(x, y):
                numpy.maximum(x, 0, out=y)
                y *= 0.5
            inline = min_median_ms(lambda: relu_scale(x, y), args.repeats)
            split = min_median_ms(lambda: threads.split_rows(relu_scale, x, y), args.repeats)
            print(f"{name + f' ({size})':44s} {inline:>13s} {'':13s} {split:>13s}", flush=True)
    finally:
        if busy is not None:
            busy.kill()


if __name__ == "__main__":
    main()
