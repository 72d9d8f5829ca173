"""ResNet-50 inference and training step (forward, backward, Adam), tinyrrn vs torch, with peak memory.

    python benchmarks/resnet.py [--batch 8] [--size 224] [--threads 2] [--repeats 3] [--runs 2]
    python benchmarks/resnet.py --device gpu [--torch-channels-last]     # CuPy vs PyTorch + cuDNN
    python benchmarks/resnet.py --arch resnet_small --batch 32 --size 40 --threads 1   # the main job's backbone

Each side runs in its own child process (the script re-invokes itself with
--worker), alternately, with the same thread count. A child first times
--repeats evaluation forwards (no graph), then --repeats training steps as
the trainer runs them: model forward, cross-entropy, backward, the
optimiser's step and zero_grad (tinyrrn.optim.Adam; torch.optim.Adam). The
first --warmup iterations of each are not timed: the first one in a fresh
process is much slower (page faults on fresh memory); their times are
printed apart. Peak RSS is the child's ru_maxrss after both phases.
torchvision is not needed: the torch model is written below with
torchvision's resnet50 layout (stride in the 3x3 conv). With --device gpu both
sides compute on the GPU (each timing ends with a device synchronisation) and
the memory each side's allocator holds there is printed too.

--arch resnet_small times the backbone of the main job (``python -m tinyrrn.train``: 8- to
64-channel basic blocks, a 3x3/1 stem, 12 classes) as its frame-wise baseline trains it there:
batches of 32 frames of 40x40 on one thread per model. Its layers are small, so its speed is
that of small products and of Python per op, not of the large GEMMs ResNet-50's figures measure.

The bound (CPU): a training step is about 24.6 GFLOP per 224x224 image (8.2
forward, twice that backward), inference 8.2; at the best rate a large
float32 GEMM reaches on this machine (timed in each child) that is the
fastest a step could be. Each side's median is printed as a fraction of it.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402

GFLOP_PER_IMAGE_224 = {"inference": 8.2, "train": 24.6}  # ResNet-50 at 224x224
SMALL_CLASSES = 12  # the synthetic data's classes (tinyrrn.data.synthetic)


def torch_resnet(torch, arch):
    """torchvision's resnet50 (v1.5), or tinyrrn's resnet_small (basic blocks of 8-64 channels, a 3x3/1 stem,
    no max-pool), without torchvision."""
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, width, stride, downsample):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
            self.relu, self.downsample = nn.ReLU(inplace=True), downsample

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride, downsample):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4)
            self.relu, self.downsample = nn.ReLU(inplace=True), downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    if arch == "resnet_small":
        unit, expansion, counts, widths, classes = BasicBlock, 1, (1, 1, 2, 2), (8, 16, 32, 64), SMALL_CLASSES
        layers = [nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True)]
    else:
        unit, expansion, counts, widths, classes = Bottleneck, 4, (3, 4, 6, 3), (64, 128, 256, 512), 1000
        layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                  nn.MaxPool2d(3, 2, 1)]
    cin = widths[0]
    for i, (blocks, width) in enumerate(zip(counts, widths)):
        stride, cout = 1 if i == 0 else 2, width * expansion
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        layers.append(nn.Sequential(unit(cin, width, stride, down), *(unit(cout, width, 1, None)
                                                                      for _ in range(blocks - 1))))
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def worker(args):
    import numpy
    rng = numpy.random.default_rng(0)
    images = rng.standard_normal((args.batch, args.size, args.size, 3), dtype=numpy.float32)  # NHWC
    labels = rng.integers(0, SMALL_CLASSES if args.arch == "resnet_small" else 1000, args.batch)
    if args.worker == "tinyrrn":
        import tinyrrn
        from tinyrrn import functional as F
        from tinyrrn.models import resnet50, resnet_small
        from tinyrrn.optim import Adam
        from tinyrrn.memory import keep_freed_memory
        from tinyrrn.threads import set_threads
        set_threads(args.threads)  # the package's one thread setting, as --threads / TINYRRN_THREADS
        keep_freed_memory()  # as tinyrrn's commands do (tinyrrn.memory)
        device = _timing.tinyrrn_device(args)
        tinyrrn.manual_seed(0)
        model = resnet_small(SMALL_CLASSES) if args.arch == "resnet_small" else resnet50()
        x = tinyrrn.Tensor(device.move(images).transpose(0, 3, 1, 2))  # NCHW shape, channels-last memory
        labels = device.move(labels)
        optimizer = Adam(model.parameters(), lr=args.lr)
        no_grad = tinyrrn.no_grad

        def train_step():  # as tinyrrn.train's step
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    else:
        torch = _timing.set_torch_threads(args.threads)
        where, device = _timing.torch_device(torch, args)
        torch.manual_seed(0)
        model = torch_resnet(torch, args.arch)
        fmt = torch.channels_last if args.torch_channels_last else torch.contiguous_format
        model = model.to(where, memory_format=fmt)
        x = torch.from_numpy(images).to(where).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
        y = torch.from_numpy(labels).to(where)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        no_grad = torch.no_grad

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()

    def infer():
        with no_grad():
            model(x)

    started = time.perf_counter()
    result = {"side": args.worker, "parameters": sum(p.numel() for p in model.parameters())}
    model.eval()
    result["inference_cpu"], result["train_cpu"] = [], []
    result["inference"], result["inference_warmup"] = _timing.time_calls(
        _timing.synchronized(infer, device), args.repeats, args.warmup, result["inference_cpu"])
    result["inference_rss_mb"] = _timing.peak_rss_mb()
    model.train()
    result["train"], result["train_warmup"] = _timing.time_calls(
        _timing.synchronized(train_step, device), args.repeats, args.warmup, result["train_cpu"])
    result["device_mb"] = device.memory_mb()
    result["wall_s"] = time.perf_counter() - started
    _timing.report(result, gemm=args.device == "cpu")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _timing.add_common_arguments(parser)
    parser.add_argument("--arch", choices=("resnet50", "resnet_small"), default="resnet50",
                        help="the model: ResNet-50, or the main job's backbone resnet_small (give it --batch 32 "
                             "--size 40 --threads 1, as the main job's baseline trains it) (default resnet50)")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="run the torch model and input in torch.channels_last memory format")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    name = {"resnet50": "ResNet-50", "resnet_small": "resnet_small (the main job's backbone)"}[args.arch]
    print(f"{name} on the {args.device.upper()}, batch {args.batch}, {args.size}x{args.size}, float32, "
          f"{args.threads} threads, " + ("TF32 allowed on the GPU, " if args.tf32 and args.device == "gpu" else "") +
          f"{args.runs} runs x {args.repeats} timed iterations per side (after {args.warmup} warm-up)")
    results = _timing.run_children(__file__, argv, args)
    counts = {side: side_results[0]["parameters"] for side, side_results in results.items()}
    if len(set(counts.values())) > 1:
        raise SystemExit(f"error: the two sides' models differ: {counts} parameters")
    print()
    print(f"{'':40s} {'side':8s} {'min':>7s} {'median':>7s} {'CPU median':>10s} {'first (warm-up)':>16s}")
    medians = {}
    for key, label in (("inference", "inference, ms/image"),
                       ("train", "training step (+bwd+Adam), ms/image")):
        for side, side_results in results.items():
            lo, med = (1000 * t / args.batch for t in _timing.min_median(_timing.pooled(side_results, key)))
            first = [1000 * r[key + "_warmup"][0] / args.batch for r in side_results if r[key + "_warmup"]]
            medians[side, key] = med
            cpu = 1000 * _timing.min_median(_timing.pooled(side_results, key + "_cpu"))[1] / args.batch
            first_text = " / ".join(f"{f:.0f}" for f in first)
            print(f"{label:40s} {side:8s} {lo:7.1f} {med:7.1f} {cpu:10.1f} {first_text:>16s}")
        if len(results) == 2:
            print(f"{'':40s} ratio tinyrrn/torch (medians): {medians['tinyrrn', key] / medians['torch', key]:.2f}x")
    if args.device == "cpu" and args.arch == "resnet50":  # the bound's GFLOP are ResNet-50's
        scale = (args.size / 224) ** 2 * 1e9
        _timing.print_bound(results, {(side, label): GFLOP_PER_IMAGE_224[key] * scale / (medians[side, key] / 1000)
                                      for key, label in (("inference", "inference"), ("train", "training step"))
                                      for side in results})
    rss = {side: max(r["peak_rss_mb"] for r in rs) for side, rs in results.items()}
    infer_rss = {side: max(r["inference_rss_mb"] for r in rs) for side, rs in results.items()}
    for side in results:
        print(f"{'peak RSS, MB (after inference / total)':40s} {side:8s} {infer_rss[side]:7.0f} {rss[side]:7.0f}")
    if len(results) == 2:
        print(f"{'':40s} ratio tinyrrn/torch (total): {rss['tinyrrn'] / rss['torch']:.2f}x")
    for side, side_results in results.items():
        if side_results[0]["device_mb"] is not None:
            print(f"{'GPU memory held by the allocator, MB':40s} {side:8s} "
                  f"{max(r['device_mb'] for r in side_results):7.0f}")


if __name__ == "__main__":
    main()
