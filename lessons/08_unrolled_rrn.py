"""Lesson 08: the unrolled recurrent network, as tinyrrn/models/rrn.py runs it.

Run:  python lessons/08_unrolled_rrn.py [--out DIR]

A recurrent residual network (lesson 03) is one ResNet applied to every frame of a
chunk, with temporal skips that add a unit's input from step t-1 to its sum at step t.
The obvious way to run it is a loop over time: frame 1 through the whole network,
then frame 2, and so on, remembering each unit's input for the next step.

tinyrrn.models.RecurrentResNet runs the same graph differently:
  * time-major batching: the frames of all B clips and all T steps go through a
    level together, as one batch of T*B images ordered step by step, so a
    temporal skip is just a shift of that batch by B rows;
  * pruning: the prediction uses the last step only, so each level computes only
    the steps that can still reach it (the paper's Fig. 3): above the last skip,
    one step; below each skip, one step more.

We run both, check that they agree, count the work each does, and draw Fig. 3.
"""
import os
import time

import numpy

import tinyrrn
from tinyrrn import Tensor, no_grad
from tinyrrn import functional as F
from tinyrrn import nn
from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args
from tinyrrn.models import RecurrentResNet, resnet_small
from unrolled_figure import draw_unrolled  # lessons/unrolled_figure.py: Fig. 3 with matplotlib

parser = ArgumentParser(description="The unrolled recurrent network: step by step vs time-major batched.")
parser.add_argument("--out", type=folder_to_write, default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the Fig. 3 picture (default: lessons/out)")
args = parse_script_args(parser)
os.makedirs(args.out, exist_ok=True)
print(__doc__)

# A small ResNet with units layer1.0, layer2.0, layer3.0, layer3.1, layer4.0, layer4.1, layer4.2.
# Temporal context T = 4 needs 3 temporal skips; we put identity skips (Eq. 2) on units without
# a projection shortcut, where the skip adds x_{t-1} itself.
tinyrrn.manual_seed(0)
B, T, SIZE = 8, 4, 32
model = RecurrentResNet(resnet_small(num_classes=5, widths=(8, 16, 16, 32), blocks=(1, 1, 2, 3)),
                        "identity", ("layer3.1", "layer4.1", "layer4.2"), context=T).eval()
backbone = model.backbone
units = backbone.units()
assert all(dict(units)[name].downsample is None for name in model.positions)
clips = numpy.random.default_rng(0).standard_normal((B, T, 3, SIZE, SIZE)).astype("float32")
print(f"Model: identity temporal skips at {list(model.positions)}, context T = {T}; "
      f"input: B = {B} clips of T = {T} frames, {SIZE}x{SIZE}.\n")


# --- 1. The slow, obvious unrolling ----------------------------------------------------
def step_by_step(model, clips):
    """Every unit at every step, in a loop over time; the prediction is the last step's logits."""
    x_prev = {}                                   # each unit's input at the previous step
    for t in range(clips.shape[1]):
        x = model.backbone.stem(clips[:, t])      # frame t of every clip: (B, 3, H, W)
        x_now = {}
        for name, unit in model.backbone.units():
            x_now[name] = x
            skip = x_prev[name] if name in model.positions and t > 0 else None   # Eq. 2: + x_{t-1}
            x = unit(x, extra=skip)                # relu(F(x) + x + skip)
        x_prev = x_now
        logits = model.backbone.head(x)
    return logits


with no_grad():
    slow = step_by_step(model, Tensor(clips)).numpy()
    batched = model(Tensor(clips)).numpy()
assert numpy.allclose(slow, batched, rtol=1e-5, atol=1e-5)
print(f"1. Step-by-step loop and RecurrentResNet give the same logits {batched.shape} "
      f"(largest difference {numpy.abs(slow - batched).max():.1e}): yes")
model.train()
with no_grad():
    slow_train, batched_train = step_by_step(model, Tensor(clips)).numpy(), model(Tensor(clips)).numpy()
model.eval()
assert not numpy.allclose(slow_train, batched_train, atol=1e-3)
print("   (in evaluation mode. In training mode they differ: batch-norm then normalises over the batch\n"
      "   it is given, B frames of one step in the loop, but all the steps a level computes when batched)")

# --- 2. Time-major batching: a temporal skip is a shift by B rows ---------------------------
tags = numpy.array([[10 * b + t for t in range(T)] for b in range(3)], dtype="float32")  # 3 clips: tag = 10 b + t
time_major = F.permute(Tensor(tags[:, :, None]), (1, 0, 2)).reshape(-1).numpy()          # as rrn.py lays out frames
print(f"\n2. Time-major order (tag = 10 * clip + step, 3 clips): {time_major.astype(int).tolist()}")
now, previous = time_major[3:], time_major[:-3]
print(f"   rows from B on  (steps 1..T-1): {now.astype(int).tolist()}\n"
      f"   rows up to -B   (steps 0..T-2): {previous.astype(int).tolist()}")
assert numpy.array_equal(now - previous, numpy.ones_like(now))
assert numpy.shares_memory(now, time_major) and numpy.shares_memory(previous, time_major)
print("   row by row the same clip, one step apart: x[B:] is x_t and x[:-B] is x_{t-1}, two views, no copy.")

# --- 3. Which steps each level must compute (Fig. 3) ---------------------------------------
levels = ["stem"] + [name for name, _ in units] + ["fc"]


def steps_needed(levels, skips, steps):
    """For each level, the steps whose output can reach the prediction (the last step's logits)."""
    needed, out = {steps - 1}, {}
    for level in reversed(levels):
        out[level] = sorted(needed)
        if level in skips:  # the unit at step t also reads its input at step t-1
            needed = needed | {t - 1 for t in needed if t > 0}
    return out


plan = steps_needed(levels, model.positions, T)


def counting(function, level, log):
    """Wrap a layer's forward to record how many frames it processes (rows / B) and its output shape."""
    def counted(x, *rest, **kwargs):
        out = function(x, *rest, **kwargs)
        log.append((level, x.shape[0] // B, out.shape))
        return out
    return counted


# Every evaluation of a level runs its first layer once on the frames it computes: the stem's
# conv1, each unit's conv1 (the start of its residual branch), the classifier fc.
log = []
first_layer = {"stem": backbone.conv1, "fc": backbone.fc, **{name: unit.conv1 for name, unit in units}}
for level, layer in first_layer.items():
    layer.forward = counting(layer.forward, level, log)   # an instance attribute shadows the method


def frames_per_level(run):
    log.clear()
    with no_grad():
        run()
    counts, calls, shapes = {level: 0 for level in levels}, {level: 0 for level in levels}, {}
    for level, steps, shape in log:
        counts[level] += steps
        calls[level] += 1
        shapes[level] = shape
    return counts, calls, shapes


slow_counts, slow_calls, shapes = frames_per_level(lambda: step_by_step(model, Tensor(clips)))
fast_counts, fast_calls, _ = frames_per_level(lambda: model(Tensor(clips)))
assert all(slow_counts[level] == T and slow_calls[level] == T for level in levels)
assert all(fast_counts[level] == len(plan[level]) and fast_calls[level] == 1 for level in levels)


def multiply_adds_per_frame(level):
    """Conv and linear multiply-adds of one frame through ``level`` (every conv of a basic block
    writes the size of its conv1's output)."""
    module = {"stem": backbone.conv1, "fc": backbone.fc}.get(level) or dict(units)[level]
    pixels = shapes[level][2] * shapes[level][3] if level != "fc" else 1
    return pixels * sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


cost = {level: multiply_adds_per_frame(level) for level in levels}
print(f"\n3. Steps each level computes, counted while the models ran (steps 0..{T - 1}, prediction at step {T - 1}):")
print(f"   {'level':<10}{'needed steps':<16}{'loop':>6}{'batched':>9}{'MACs per frame':>16}")
for level in levels:
    skip = "  <- temporal skip" if level in model.positions else ""
    print(f"   {level:<10}{str(plan[level]):<16}{slow_counts[level]:>6}{fast_counts[level]:>9}{cost[level]:>16,}{skip}")
slow_macs = B * sum(slow_counts[level] * cost[level] for level in levels)
fast_macs = B * sum(fast_counts[level] * cost[level] for level in levels)
print(f"   level evaluations per clip: loop {sum(slow_counts.values())}, batched {sum(fast_counts.values())};  "
      f"multiply-adds for the batch: loop {slow_macs / 1e6:.1f} M, batched {fast_macs / 1e6:.1f} M "
      f"({slow_macs / fast_macs:.2f}x less)")
assert fast_macs < slow_macs and sum(fast_counts.values()) == sum(len(s) for s in plan.values())
below_skips = [level for level in levels if len(plan[level]) == T]       # must run at every step
share = sum(cost[level] for level in below_skips) / sum(cost.values())
print("   Every step the loop computes beyond a level's needed steps is thrown away: its output never\n"
      f"   reaches the prediction. Here the levels below the lowest skip ({below_skips[0]} .. {below_skips[-1]}) must\n"
      f"   run at every step and hold {share:.0%} of a frame's multiply-adds, so pruning can save at most\n"
      f"   {1 / share:.2f}x here. The lower the skips, the more levels above them run at one step only.")
assert fast_macs >= share * slow_macs

# The paper's settings on ResNet-50 (16 units), where rrn.py places T-1 skips on the last units:
resnet50_units = [f"layer{i}.{j}" for i, count in zip(range(1, 5), (3, 4, 6, 3)) for j in range(count)]
settings = {"T=2, block4": ("layer4.2",), "T=2, block2": ("layer2.3",), "T=3": ("layer4.1", "layer4.2"),
            "T=5": ("layer3.5", "layer4.0", "layer4.1", "layer4.2")}
print("\n   The same rule for ResNet-50 (stem + 16 units + fc), level evaluations per clip:")
resnet50_levels = ["stem"] + resnet50_units + ["fc"]
pruned = {}
for setting, skips in settings.items():
    steps = len(skips) + 1
    resnet50_plan = steps_needed(resnet50_levels, skips, steps)
    needed = pruned[setting] = sum(len(s) for s in resnet50_plan.values())
    print(f"   {setting:<13} skips at {', '.join(skips):<38} loop {len(resnet50_levels) * steps:>3}, pruned {needed:>3}")
    # a level's output is needed at 1 + (number of skips above it) steps
    assert all(len(resnet50_plan[level]) == 1 + sum(1 for above in resnet50_levels[i + 1:] if above in skips)
               for i, level in enumerate(resnet50_levels))
assert pruned["T=2, block2"] < pruned["T=2, block4"]  # a low skip leaves more levels at one step

# --- 4. Time it (printed, not asserted: a busy machine changes the numbers, not the counts) ---------
every_step = RecurrentResNet(backbone, "identity", model.positions, context=T, average_logits=True).eval()
every_counts, _, _ = frames_per_level(lambda: every_step(Tensor(clips)))
assert all(every_counts[level] == T for level in levels)  # averaging every step's logits needs every step


def best_of(run, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with no_grad():
            run()
        times.append(time.perf_counter() - start)
    return min(times)


timings = {"loop over steps": best_of(lambda: step_by_step(model, Tensor(clips))),
           "batched, every step": best_of(lambda: every_step(Tensor(clips))),
           "batched and pruned": best_of(lambda: model(Tensor(clips)))}
print("\n4. Forward time for the batch, best of 5: " +
      ", ".join(f"{name} {seconds * 1e3:.0f} ms" for name, seconds in timings.items()))
print(f"   Batching calls each level once ({sum(fast_calls.values())} calls) instead of once per step "
      f"({sum(slow_calls.values())} calls), with up to T*B = {T * B}\n"
      "   images per matrix product instead of B; pruning removes the work counted above.")

# --- 5. Fig. 3 -------------------------------------------------------------------------------
picture = os.path.join(args.out, "fig3_computed_steps.png")
computed = {(level + 1, t) for level, name in enumerate(levels) for t in plan[name]}
computed |= {(0, t) for t in plan["stem"]}                  # the frames the stem reads
arrows = draw_unrolled(picture, ["frame"] + levels, [str(t) for t in range(T)], model.positions, computed,
                       title=f"Fig. 3 as rrn.py runs it: T = {T}, identity skips at {', '.join(model.positions)};\n"
                             f"filled: computed ({sum(fast_counts.values())} level evaluations per clip), "
                             f"dashed: never computed (the loop computes all {sum(slow_counts.values())})")
assert arrows == len(model.positions) * (T - 1)
print(f"\n5. Fig. 3 with the computed steps filled and the pruned ones dashed: {picture}")

print("""
What to remember:
  * Unrolling over time is one graph; running it level by level with all steps of all clips
    in one time-major batch (row t*B + b) makes a temporal skip a shift by B rows.
  * With the prediction at the last step, a level needs only the steps that can still reach
    it: one above the last skip, one more below each skip (Fig. 3). Count the work to see it:
    the levels below the lowest skip run at every step and bound the saving.
  * Equal outputs in evaluation mode; in training mode batch-norm's statistics depend on
    which frames share a batch, so batching is part of the model's definition there.""")
