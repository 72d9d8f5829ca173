"""Data-loading throughput: sampled frames per second from 320x240 AVIs (XVID, like UCF-101).

    python benchmarks/data.py [--videos 16] [--workers 0 1 2] [--step-s 4.6]

Generates temporary videos with tinyrrn.data.synthetic, then times one epoch of
ChunkLoader (random crops, normalisation, batches) with each number of workers, decoding
every time; then with the frame cache cold (first epoch fills it) and warm. "frames/s" counts
sampled frames delivered in batches (chunks x T). The last column compares the loading time
of one batch, without any overlap, to a training step of --step-s seconds.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # run from a checkout
from tinyrrn.cli import ArgumentParser, parse_script_args
from tinyrrn.data import UCF101, ChunkLoader
from tinyrrn.data.synthetic import generate


def time_epoch(dataset, workers, batch_size):
    """(seconds, batches) for one epoch of a fresh loader."""
    loader = ChunkLoader(dataset, batch_size=batch_size, workers=workers, seed=0)
    start = time.perf_counter()
    batches = sum(1 for _ in loader)
    return time.perf_counter() - start, batches


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=16, help="number of temporary videos (default 16)")
    parser.add_argument("--frames", default="151-191", help="frames per video, LO-HI (default 151-191, UCF-101's typical length)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="worker counts to time (default 0 1 2)")
    parser.add_argument("--batch-size", type=int, default=8, help="chunks per batch (default 8)")
    parser.add_argument("--chunk", type=int, default=2, help="frames per chunk T (default 2)")
    parser.add_argument("--resize", type=int, default=256, help="short side after resizing (default 256)")
    parser.add_argument("--crop", type=int, default=224, help="crop size (default 224)")
    parser.add_argument("--step-s", type=float, default=4.6,
                        help="training step to compare with, seconds (default 4.6: a ResNet-50 step on 16 images at 224x224, "
                             "twice the 2.3 s PyTorch took for 8 on 2 cores of the project's reference AVX2 machine; "
                             "give your own step's time)")
    args = parse_script_args(parser, argv)
    lo, hi = (int(v) for v in args.frames.split("-"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = generate(f"{tmp}/videos", seed=0, classes=2, groups=max(3, -(-args.videos // 2)), size=(320, 240),
                        frames=(lo, hi), codec="mpeg4")
        print(f"generated 320x240 mpeg4/XVID AVIs in {time.perf_counter() - start:.1f} s")
        # memory=0: no in-memory reuse of decoded videos, as with a real dataset of thousands of videos
        options = dict(split=1, train=True, chunk=args.chunk, resize=args.resize, crop=args.crop, memory=0)
        rows = [(f"decode, {w} workers", UCF101(root, **options), w) for w in args.workers]
        cached = UCF101(root, cache_dir=f"{tmp}/cache", **options)
        rows += [("cache cold (filling), 2 workers", cached, 2), ("cache warm, 0 workers", cached, 0),
                 ("cache warm, 2 workers", cached, 2)]
        print(f"{len(cached.videos)} train videos, {len(cached)} chunks of T={args.chunk}, batch {args.batch_size}")
        print(f"{'setting':34s} {'frames/s':>9s} {'ms/batch':>9s} {'% of step':>10s}")
        for name, dataset, workers in rows:
            seconds, batches = time_epoch(dataset, workers, args.batch_size)
            frames = len(dataset) * args.chunk
            per_batch = seconds / batches
            print(f"{name:34s} {frames / seconds:9.1f} {1000 * per_batch:9.1f} {100 * per_batch / args.step_s:9.1f}%")


if __name__ == "__main__":
    main()
