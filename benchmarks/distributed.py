"""Data-parallel scaling on the CPU: training throughput with 1 and 2 MPI ranks, one thread each.

    python benchmarks/distributed.py [--ranks 1 2] [--updates 12] [--batch 16] [--update-every 32]

Each rank count runs in its own ``mpiexec -n N`` (OPENBLAS/OMP threads = 1 per rank) and
trains the default synthetic model (resnet_small, T = 2, 40x40 crops) for ``--updates``
updates after one warm-up update, with the same global batch whatever the rank count. It
reports global clips/s, seconds per update, the speed-up over one rank, and the share of
rank time spent in collectives (the Allreduce calls, including waiting for the slower rank),
plus the cost of one bare Allreduce of the flat gradient buffer. Needs mpi4py and mpiexec
(``pip install ".[dist]"``); the synthetic dataset is generated into the user cache once.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RESULT = "RESULT "


def config_for(args, out):
    from tinyrrn import config as configuration
    flags = ["--out", out, "--batch", str(args.batch), "--update-every", str(args.update_every),
             "--workers", "0", "--no-baseline", "--epochs", "1000", "--log-every", "1000000"]
    if args.data:
        flags += ["--data", args.data]
    if args.sync_bn:
        flags.append("--sync-bn")
    return configuration.resolve(flags)[0]


def worker(args):
    """One rank: warm up one update, time ``--updates`` updates, report from rank 0."""
    import io
    import numpy
    from tinyrrn import backend, parallel
    from tinyrrn import train as training
    comm = parallel.init()
    with parallel.failure_guard(comm):
        out = comm.bcast(tempfile.mkdtemp(prefix="tinyrrn-bench-") if comm.is_root else None)
        config = config_for(args, out)
        trainer = training.Trainer({**config, "max_steps": 1}, out, comm=comm)
        comm.stream = io.StringIO  # no progress bars

        def train_until_max_steps():
            while not trainer.reached_max_steps():
                trainer.start_epoch()
                training.train_one_epoch(trainer.model, trainer.loader, trainer.optimizer, trainer.update_size,
                                         trainer)
                trainer.bar.close()
                trainer.epoch += trainer.loader.position == 0
        train_until_max_steps()  # warm-up: first touches of every array, frame cache
        trainer.config = {**trainer.config, "max_steps": 1 + args.updates}
        comm.barrier()
        comm_before, start = comm.comm_seconds, time.perf_counter()
        train_until_max_steps()
        elapsed = time.perf_counter() - start
        comm_seconds = comm.comm_seconds - comm_before
        # one bare Allreduce of the flat gradient buffer (what an update sends), 10 times
        flat = numpy.zeros(sum(p.numel() for p in trainer.optimizer.params) + len(trainer.optimizer.params), "float32")
        comm.barrier()
        t0 = time.perf_counter()
        for _ in range(10):
            comm.allreduce_sum(flat)
        allreduce_ms = (time.perf_counter() - t0) / 10 * 1000
        shares = comm.allgather(comm_seconds / elapsed)
        if comm.is_root:
            clips = args.updates * trainer.update_size
            print(RESULT + json.dumps({"ranks": comm.size, "clips_per_s": clips / elapsed,
                                       "s_per_update": elapsed / args.updates, "comm_share": sum(shares) / len(shares),
                                       "allreduce_ms": allreduce_ms if comm.size > 1 else 0.0,
                                       "gradient_mb": flat.nbytes / 2**20, "update_size": trainer.update_size,
                                       "device": backend.get_device()}), flush=True)
            shutil.rmtree(out, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="rank counts to time (default 1 2)")
    p.add_argument("--updates", type=int, default=12, help="timed updates per run (default 12)")
    p.add_argument("--batch", type=int, default=16, help="global chunks per forward/backward step (default 16)")
    p.add_argument("--update-every", type=int, default=32, help="chunks per update (default 32)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads per rank (default 1)")
    p.add_argument("--data", help="dataset root (default: the built-in synthetic dataset)")
    p.add_argument("--sync-bn", action="store_true", help="synchronised batch norm")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.path.isfile(mpiexec) else shutil.which("mpiexec")
    if not mpiexec:
        sys.exit("no mpiexec: pip install \".[dist]\" (mpi4py and mpich)")
    from tinyrrn import builders
    from tinyrrn.data import ChunkLoader
    train_set = builders.build_dataset(config_for(args, tempfile.gettempdir()), train=True)
    for _ in ChunkLoader(train_set, batch_size=64, shuffle=False, workers=2):  # fill the frame cache first
        pass
    env = {**os.environ, **{k: str(args.threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                            "MKL_NUM_THREADS")}}
    forwarded = ["--updates", str(args.updates), "--batch", str(args.batch), "--update-every",
                 str(args.update_every)] + (["--data", args.data] if args.data else []) + \
        (["--sync-bn"] if args.sync_bn else [])
    results = []
    for ranks in args.ranks:
        done = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker",
                               *forwarded], capture_output=True, text=True, env=env, timeout=1800)
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
        if done.returncode or not lines:
            sys.exit(f"{ranks} ranks failed:\n{done.stdout}\n{done.stderr}")
        results.append(json.loads(lines[0][len(RESULT):]))
    base = results[0]["clips_per_s"]
    print(f"resnet_small T=2, global batch {args.batch}, update every {results[0]['update_size']} chunks, "
          f"{args.updates} updates, {args.threads} BLAS thread(s) per rank, gradient buffer "
          f"{results[0]['gradient_mb']:.2f} MB{', sync BN' if args.sync_bn else ''}")
    print(f"{'ranks':>5} {'clips/s':>9} {'s/update':>9} {'speed-up':>9} {'comm share':>11} {'allreduce':>10}")
    for r in results:
        print(f"{r['ranks']:>5} {r['clips_per_s']:>9.1f} {r['s_per_update']:>9.3f} {r['clips_per_s'] / base:>8.2f}x "
              f"{100 * r['comm_share']:>10.1f}% {r['allreduce_ms']:>8.2f}ms")
    print("comm share: time in collectives (Allreduce, incl. waiting for the slower rank) / step time, "
          "mean over ranks; allreduce: one bare Allreduce of the flat gradient buffer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
