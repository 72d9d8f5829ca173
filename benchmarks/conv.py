"""All 53 convolutions of ResNet-50 (torchvision's shapes), forward and forward+backward, tinyrrn vs torch.

    python benchmarks/conv.py [--batch 8] [--size 224] [--threads 2] [--repeats 3] [--runs 2]

Each side runs in its own child process (the script re-invokes itself with
--worker), alternately, with the same thread count; warm-up passes are not
timed. tinyrrn gets channels-last activations and weights (its native
layout); torch gets contiguous NCHW tensors as torchvision's resnet50 makes
them (--torch-channels-last for torch.channels_last). As in the network, the
input of conv1 (the image) needs no gradient; every other input does. With
--device gpu both sides compute on the GPU (tinyrrn on CuPy, torch with cuDNN),
and every conv's time ends with a device synchronisation.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402


def resnet50_convs(size):
    """[(name, in_ch, out_ch, kernel, stride, padding, input_hw)] of torchvision's resnet50."""
    convs = [("conv1", 3, 64, 7, 2, 3, size)]
    hw = (size + 2 * 3 - 7) // 2 + 1
    hw = (hw + 2 * 1 - 3) // 2 + 1  # max-pool 3x3/2
    channels = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            stride = 2 if (layer > 1 and b == 0) else 1
            name = f"layer{layer}.{b}"
            out_hw = (hw + 2 - 3) // stride + 1
            convs += [(f"{name}.conv1", channels, width, 1, 1, 0, hw),
                      (f"{name}.conv2", width, width, 3, stride, 1, hw),
                      (f"{name}.conv3", width, width * 4, 1, 1, 0, out_hw)]
            if b == 0:
                convs.append((f"{name}.downsample", channels, width * 4, 1, stride, 0, hw))
            channels, hw = width * 4, out_hw
    return convs


def forward_flops(batch, conv):
    _, c, o, k, s, p, hw = conv
    out_hw = (hw + 2 * p - k) // s + 1
    return 2 * batch * out_hw * out_hw * o * c * k * k


def total_flops(batch, convs, backward):
    """Forward: one product per conv; backward: two more (weight and input gradient), but none
    for the input gradient of conv1, whose input (the image) needs no gradient."""
    flops = 0
    for i, conv in enumerate(convs):
        f = forward_flops(batch, conv)
        flops += f + (f if i == 0 else 2 * f) * backward
    return flops


def make_cases(side, args, convs, move):
    """[(input, weight, grad_of_output, stride, padding)] per conv, inputs shared by shape, each array
    put on the side's device by ``move``."""
    import numpy
    rng = numpy.random.default_rng(0)
    arrays = {}

    def random(shape):
        if shape not in arrays:
            arrays[shape] = move(rng.standard_normal(shape, dtype=numpy.float32))
        return arrays[shape]

    cases = []
    for i, (name, c, o, k, s, p, hw) in enumerate(convs):
        out_hw = (hw + 2 * p - k) // s + 1
        x = random((args.batch, hw, hw, c))  # NHWC memory
        w = random((o, k, k, c)) * numpy.float32((2 / (c * k * k)) ** 0.5)
        g = random((args.batch, out_hw, out_hw, o))
        needs_grad = i > 0
        if side == "tinyrrn":
            from tinyrrn import Tensor
            nchw = (lambda a: a.transpose(0, 3, 1, 2))  # NCHW shape over NHWC memory
            cases.append((Tensor(nchw(x), requires_grad=needs_grad), Tensor(nchw(w), requires_grad=True),
                          nchw(g), s, p))
        else:
            import torch
            fmt = torch.channels_last if args.torch_channels_last else torch.contiguous_format
            tensor = (lambda a: a.permute(0, 3, 1, 2).contiguous(memory_format=fmt))
            cases.append((tensor(x).requires_grad_(needs_grad), tensor(w).requires_grad_(True),
                          tensor(g), s, p))
    return cases


def worker(args):
    import time
    convs = resnet50_convs(args.size)
    if args.worker == "tinyrrn":
        from tinyrrn import functional as F
        from tinyrrn import no_grad
        from tinyrrn.memory import keep_freed_memory
        from tinyrrn.threads import set_threads
        set_threads(args.threads)  # the package's one thread setting, as --threads / TINYRRN_THREADS
        keep_freed_memory()  # as tinyrrn's commands do (tinyrrn.memory)
        device = _timing.tinyrrn_device(args)
        conv2d = F.conv2d

        def backward(out, g):
            out.backward(g)
    else:
        torch = _timing.set_torch_threads(args.threads)
        _, device = _timing.torch_device(torch, args)
        no_grad = torch.no_grad
        conv2d = torch.nn.functional.conv2d
        move = device.move
        device.move = lambda array: move(torch.from_numpy(array))

        def backward(out, g):
            out.backward(g)
    cases = make_cases(args.worker, args, convs, device.move)

    def forward_pass(per_conv):
        with no_grad():
            for i, (x, w, _, s, p) in enumerate(cases):
                start = time.perf_counter()
                conv2d(x, w, None, s, p)
                device.synchronize()
                per_conv[i] += time.perf_counter() - start

    def training_pass(per_conv):
        for i, (x, w, g, s, p) in enumerate(cases):
            start = time.perf_counter()
            backward(conv2d(x, w, None, s, p), g)
            device.synchronize()
            per_conv[i] += time.perf_counter() - start
            x.grad = w.grad = None

    started = time.perf_counter()
    result = {"side": args.worker}
    for key, fn in (("forward", forward_pass), ("forward_backward", training_pass)):
        passes = []  # per-conv times of every pass, the warm-up ones first
        result[key + "_cpu"] = []
        timed, warm = _timing.time_calls(lambda: fn(passes.append([0.0] * len(cases)) or passes[-1]),
                                         args.repeats, args.warmup, result[key + "_cpu"])
        result[key] = timed
        result[key + "_warmup"] = warm
        result[key + "_per_conv"] = [sum(p[i] for p in passes[args.warmup:]) / args.repeats
                                     for i in range(len(cases))]
    result["wall_s"] = time.perf_counter() - started
    _timing.report(result, gemm=args.device == "cpu")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _timing.add_common_arguments(parser)
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="give torch channels_last tensors instead of contiguous NCHW")
    parser.add_argument("--per-conv", action="store_true",
                        help="also print the mean time of every conv shape, both sides")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    convs = resnet50_convs(args.size)
    print(f"ResNet-50's {len(convs)} convolutions, batch {args.batch}, {args.size}x{args.size}, float32, "
          f"{args.threads} threads, {args.runs} runs x {args.repeats} timed passes per side "
          f"(after {args.warmup} warm-up)")
    results = _timing.run_children(__file__, argv, args)
    print()
    print(f"{'':24s} {'side':8s} {'min s':>8s} {'median s':>9s} {'CPU s':>7s} {'GFLOP/s':>8s} {'peak RSS':>9s}")
    best = {}
    for key, label, with_backward in (("forward", "forward only", False),
                                      ("forward_backward", "forward + backward", True)):
        flops = total_flops(args.batch, convs, with_backward)
        for side, side_results in results.items():
            lo, med = _timing.min_median(_timing.pooled(side_results, key))
            rss = max(r["peak_rss_mb"] for r in side_results)
            cpu = _timing.min_median(_timing.pooled(side_results, key + "_cpu"))[1]
            best[side, key] = med
            print(f"{label:24s} {side:8s} {lo:8.3f} {med:9.3f} {cpu:7.2f} {flops / lo / 1e9:8.1f} {rss:7.0f} MB")
        if len(results) == 2:
            print(f"{'':24s} ratio tinyrrn/torch (medians): {best['tinyrrn', key] / best['torch', key]:.2f}x")
    print("(min/median: wall time of one pass; CPU s: median process CPU time of one pass, all threads;\n"
          " GFLOP/s from the min)")
    if args.device == "cpu":
        _timing.print_bound(results, {(side, label): total_flops(args.batch, convs, with_backward) / best[side, key]
                                      for key, label, with_backward in (("forward", "forward only (median)", False),
                                                                        ("forward_backward", "forward + backward (median)",
                                                                         True))
                                      for side in results})
    if args.per_conv:
        print("\nmean ms per pass, per conv shape, summed over the convs of that shape:")
        columns = [(side, key) for key in ("forward", "forward_backward") for side in results]
        print(f"{'conv (first of shape)':24s} {'count':>5s} " +
              " ".join(f"{side[:5] + (' fwd' if key == 'forward' else ' f+b'):>10s}" for side, key in columns))
        groups = {}
        for i, conv in enumerate(convs):
            groups.setdefault(conv[1:] + (i == 0,), []).append(i)
        for members in groups.values():
            times = [1000 * sum(sum(r[key + "_per_conv"][i] for i in members) for r in results[side])
                     / len(results[side]) for side, key in columns]
            print(f"{convs[members[0]][0]:24s} {len(members):5d} " + " ".join(f"{t:10.1f}" for t in times))


if __name__ == "__main__":
    main()
