"""Shared helpers of the tinyrrn-vs-torch benchmarks: one subprocess per side, alternating runs.

Timing NumPy (OpenBLAS) and torch in one process makes their thread pools
compete and torch look about 2x slower than it is, so each side runs in a
fresh child process of the benchmark script (``--worker tinyrrn|torch``)
that prints its measurements as one JSON line. The parent alternates the
sides ``--runs`` times and pools what the children measured.

Each child also times one large float32 matrix product (NumPy's BLAS in the
tinyrrn child, torch.mm in the torch child): the best rate either reaches is
the machine's practical bound, and each side's time is printed as a fraction
of it. Where the environment sets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they
slow a current OpenBLAS on some processors, see shared/REFERENCE.md), the
children run with both unset, and the parent says so; the kernel OpenBLAS
then runs is printed.
"""
import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

RESULT_PREFIX = "RESULT "
SIDES = ("tinyrrn", "torch")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
OPENBLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # unset together in the children
GEMM_SIZE = 4096


def add_common_arguments(parser):
    """--batch, --size, --threads, --repeats, --warmup, --runs, --sides and the hidden --worker."""
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--size", type=int, default=224, help="image height and width (default 224)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for each side: torch.set_num_threads, tinyrrn.threads.set_threads, and OPENBLAS_NUM_THREADS / "
                             "OMP_NUM_THREADS set before the child starts (default 2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed iterations in each child process, after the warm-up (default 3)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed iterations at the start of each child process (default 1)")
    parser.add_argument("--runs", type=int, default=2,
                        help="child processes per side, run alternately tinyrrn, torch, tinyrrn, ... (default 2)")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES),
                        help="which sides to time (default both; torch is skipped when not installed)")
    parser.add_argument("--quiet-wait", type=float, default=60,
                        help="before each child, wait up to this many seconds for other programs to leave "
                             "the CPU idle (default 60; 0 disables)")
    parser.add_argument("--keep-openblas-tuning", action="store_true",
                        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the children (default: unset both)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="where both sides compute: cpu, or gpu (tinyrrn on CuPy; torch on CUDA with cuDNN, "
                             "autotuned); --threads then sizes the host threads only (default cpu)")
    parser.add_argument("--tf32", action="store_true",
                        help="on a GPU, let both sides multiply float32 in TF32 on the tensor cores (torch: "
                             "allow_tf32 for cuDNN and matmul; CuPy: CUPY_TF32=1). Default: float32 on both "
                             "sides (torch's own default, TF32 in cuDNN's convolutions, is turned off)")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    return parser


class Device:
    """A worker's compute device: ``move(array)`` puts an input there, ``synchronize()`` waits for the
    work queued on it (a GPU runs asynchronously: a timing ends there), ``memory_mb()`` the memory
    the side's allocator holds on it (None on the CPU)."""

    def __init__(self, move=None, synchronize=None, memory_mb=None):
        self.move = move or (lambda array: array)
        self.synchronize = synchronize or (lambda: None)
        self.memory_mb = memory_mb or (lambda: None)


def tinyrrn_device(args):
    """--device for the tinyrrn side: its default device (new models and tensors go there)."""
    if args.device == "cpu":
        return Device()
    if args.tf32:
        os.environ["CUPY_TF32"] = "1"  # read when CuPy is imported
    from tinyrrn import backend
    try:
        backend.set_device("gpu")
    except RuntimeError as err:  # no CuPy, no CUDA device, no NVRTC/cuBLAS: the message says which
        raise SystemExit(f"no GPU for tinyrrn: {err}") from None
    cupy = backend.module_for("gpu")
    return Device(cupy.asarray, cupy.cuda.Device().synchronize,
                  lambda: cupy.get_default_memory_pool().total_bytes() / 2**20)


def torch_device(torch, args):
    """--device for the torch side: (torch.device, Device)."""
    if args.device == "cpu":
        return torch.device("cpu"), Device()
    if not torch.cuda.is_available():
        raise SystemExit(f"no GPU for torch: torch.cuda.is_available() is False (torch {torch.__version__}, "
                         f"built for CUDA {torch.version.cuda})")
    torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest kernels for these shapes
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
    device = torch.device("cuda")
    return device, Device(lambda tensor: tensor.to(device), torch.cuda.synchronize,
                          lambda: torch.cuda.max_memory_reserved() / 2**20)


def synchronized(fn, device):
    """``fn`` followed by waiting for the device, so that a timing covers the work it queued."""
    def call():
        fn()
        device.synchronize()
    return call


def torch_installed():
    return importlib.util.find_spec("torch") is not None


def child_environment(threads, keep_openblas_tuning=False):
    """The environment of a child: thread counts fixed before NumPy/torch load their pools,
    and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed together unless kept."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    if not keep_openblas_tuning:
        for name in OPENBLAS_TUNING:
            env.pop(name, None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")  # import this checkout's tinyrrn
    return env


def run_children(script, argv, args):
    """Run every side ``args.runs`` times alternately; {side: [result dict, ...]}."""
    sides = [s for s in args.sides if s != "torch" or torch_installed()]
    if "torch" in args.sides and "torch" not in sides:
        print("torch is not installed: timing tinyrrn only")
    tuned = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_") and k not in THREAD_VARIABLES}
    removed = {k: v for k, v in tuned.items() if k in OPENBLAS_TUNING and not args.keep_openblas_tuning}
    if removed:
        print(f"unset in the children (they slow a current OpenBLAS; --keep-openblas-tuning keeps them): {removed}")
    kept = {k: v for k, v in tuned.items() if k not in removed}
    print(f"OpenBLAS settings inherited by the children: {kept or 'none'}")
    results = {side: [] for side in sides}
    env = child_environment(args.threads, args.keep_openblas_tuning)
    for run in range(args.runs):
        for side in sides:
            wait_for_quiet(args.quiet_wait)
            command = [sys.executable, os.path.abspath(script), *argv, "--worker", side]
            busy_before, children_before = cpu_busy_seconds(), children_cpu_seconds()
            done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            others = cpu_busy_seconds() - busy_before - (children_cpu_seconds() - children_before)
            lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
            if done.returncode != 0 or not lines:
                sys.stderr.write(done.stdout + done.stderr)
                raise SystemExit(f"the {side} worker failed (exit status {done.returncode})")
            result = json.loads(lines[-1][len(RESULT_PREFIX):])
            result["others_cpu_s"] = others
            print(f"  run {run + 1}/{args.runs} {side:8s} done in {result['wall_s']:.1f} s; "
                  f"other programs used {others:.1f} CPU-s meanwhile", flush=True)
            results[side].append(result)
    for side, side_results in results.items():
        clean = [r for r in side_results if not disturbed(r)]
        if clean and len(clean) < len(side_results):
            print(f"  {side}: leaving out {len(side_results) - len(clean)} run(s) disturbed by other programs")
            results[side] = clean
    return results


def disturbed(result, share=0.1):
    """True when other programs used more than ``share`` of one core during a child's run."""
    return result["others_cpu_s"] > share * result["wall_s"]


def cpu_busy_seconds():
    """CPU time all programs have used since boot, summed over cores (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s, busy_limit=0.2):
    """Wait (at most max_wait_s) until other programs use under busy_limit of one core.

    The cores are shared: a benchmark run while something else computes is
    slowed, OpenBLAS's and OpenMP's synchronising threads most of all.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before = cpu_busy_seconds()
        time.sleep(1.0)
        if cpu_busy_seconds() - before < busy_limit or time.monotonic() > deadline:
            return


def report(result, gemm=True):
    """Print a worker's result as the line the parent reads, with its GEMM rate (when ``gemm``:
    the CPU bound) and BLAS kernel."""
    result["gemm_gflops"] = gemm_gflops(result["side"]) if gemm else None
    result["blas"] = blas_kernels()
    result["peak_rss_mb"] = peak_rss_mb()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def peak_rss_mb():
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gemm_gflops(side, n=GEMM_SIZE, repeats=3):
    """Best GFLOP/s of an n x n float32 matrix product as each side multiplies: tinyrrn.threads.matmul
    (NumPy's BLAS, one thread per call, blocks over tinyrrn's threads) or torch.mm (torch's threads).
    NumPy's own matmul would run on one thread here: tinyrrn limits BLAS to one thread per call."""
    import numpy
    rng = numpy.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=numpy.float32) for _ in range(2))
    if side == "torch":
        import torch
        a, b = torch.from_numpy(a), torch.from_numpy(b)
        product = torch.mm
    else:
        from tinyrrn.threads import matmul as product
    timed, _ = time_calls(lambda: product(a, b), repeats, warmup=1)
    return 2 * n ** 3 / min(timed) / 1e9


def blas_kernels():
    """'openblas <architecture>' (or the library's name) of every BLAS pool loaded in this process."""
    import threadpoolctl
    return sorted({f"{pool['internal_api']} {pool.get('architecture', '')}".strip()
                   for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"})


def print_bound(results, side_flops_per_s):
    """Print each side's GEMM rate, the bound (the best of them), and each side's fraction of it.

    ``side_flops_per_s``: {(side, label): FLOP/s that side reached}, e.g. a training
    step's FLOP per image divided by its median time per image.
    """
    rates = {side: max(r["gemm_gflops"] for r in rs) for side, rs in results.items()}
    kernels = sorted({k for rs in results.values() for r in rs for k in r["blas"]})
    bound = max(rates.values())
    print(f"GEMM bound: {GEMM_SIZE}^2 float32 product, best of each side: " +
          ", ".join(f"{side} {rate:.0f} GFLOP/s" for side, rate in rates.items()) +
          f"; BLAS kernels loaded: {', '.join(kernels) or 'none'}")
    for (side, label), flops_per_s in side_flops_per_s.items():
        print(f"  {label:38s} {side:8s} {flops_per_s / 1e9:6.0f} GFLOP/s = {flops_per_s / 1e9 / bound:4.0%} "
              f"of the bound ({bound:.0f})")


def time_calls(fn, repeats, warmup, cpu=None):
    """(timed durations in s, warm-up durations in s) of ``fn()``.

    ``cpu``, a list, receives the process CPU time (all threads) of each timed
    call: when other programs share the cores, wall time grows but CPU time
    much less, so the two together show whether a run was disturbed.
    """
    warm, timed = [], []
    for i in range(warmup + repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        (warm if i < warmup else timed).append(time.perf_counter() - start)
        if cpu is not None and i >= warmup:
            cpu.append(time.process_time() - start_cpu)
    return timed, warm


def pooled(results, key):
    """All values of ``key`` (a list in each result) over the runs of one side."""
    return [v for r in results for v in r[key]]


def min_median(values):
    return min(values), statistics.median(values)


def set_torch_threads(threads):
    import torch
    torch.set_num_threads(threads)
    return torch
