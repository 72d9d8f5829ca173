"""Lesson 06: a training loop on one page -- load, forward, loss, backward, accumulate, Adam step.

Run:  python lessons/06_training_loop.py [--out DIR]

Training repeats one short loop: load a mini-batch of chunks, run the model
forward, measure the loss, run backward to get every weight's gradient, and let
the optimiser move the weights. Everything else in tinyrrn/train.py (checkpoints,
logs, progress bars, evaluation, signals, several processes) stands around that
loop, not inside it.

One detail comes from the paper (Sec. 4): "we update the model after observing 1%
of training data", with Adam. Its authors' framework accumulates gradients: every
mini-batch adds its gradients, and once that many chunks have been observed, the
sum is divided by the number of chunks observed and the optimiser takes one step.
An update then follows the mean gradient of many mini-batches, as if they were one
big batch, and the batch that fits in memory no longer decides the update.

We generate a tiny synthetic dataset into a temporary folder, write the loop by
hand, check the accumulation rule, read tinyrrn's own train_one_epoch and check that
it computes the same weights, then train for a few epochs and plot the loss.
"""
import inspect
import math
import os
import tempfile
import time

import matplotlib

matplotlib.use("Agg")  # draw into files, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

import tinyrrn  # noqa: E402
from tinyrrn import Tensor, train  # noqa: E402
from tinyrrn import functional as F  # noqa: E402
from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args  # noqa: E402
from tinyrrn.data import UCF101, ChunkLoader  # noqa: E402
from tinyrrn.data.synthetic import generate  # noqa: E402
from tinyrrn.models import RecurrentResNet, resnet_small  # noqa: E402
from tinyrrn.optim import Adam  # noqa: E402
from tinyrrn.parallel import Communicator, DistributedOptimizer  # noqa: E402

parser = ArgumentParser(description="A training loop on one page, with the paper's gradient accumulation.")
parser.add_argument("--out", type=folder_to_write, default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the loss curve (default: lessons/out)")
args = parse_script_args(parser)
os.makedirs(args.out, exist_ok=True)
print(__doc__)
started = time.perf_counter()

# --- 1. Load: a tiny synthetic dataset, cut into chunks, served in mini-batches ------------------
# Four classes in two pairs (MoveRight/MoveLeft, Grow/Shrink): the second of a pair is the first
# played backwards. Three groups, two clips each, 32x32 frames; split 1 trains on groups 2 and 3.
# Random 28x28 crops, no flips (a flip would turn MoveRight into MoveLeft).
data_dir = tempfile.TemporaryDirectory()
generate(data_dir.name, classes=4, groups=3, clips=2, size=(32, 32), threads=2)
train_set = UCF101(data_dir.name, split=1, train=True, resize=None, crop=28,
                   flip=False)  # decoded videos stay in memory (128 MB by default): later epochs decode nothing
BATCH, LR = 4, 1e-2  # chunks per mini-batch; Adam's learning rate
loader = ChunkLoader(train_set, batch_size=BATCH, shuffle=True, seed=0, workers=0)
chunks = len(train_set)
print(f"1. Load: {len(train_set.videos)} training videos, every 10th frame, cut into {chunks} chunks of "
      f"T = {train_set.chunk} frames, each a clip\n   (T, 3, H, W) = {train_set.clip_shape}. The loader serves "
      f"{len(loader)} mini-batches of up to {BATCH} chunks per epoch, shuffled in an\n"
      "   order that depends on (seed, epoch) only.")
assert len(loader) == math.ceil(chunks / BATCH)

# "1% of the training data": tinyrrn counts it in chunks, rounded up (train.update_size).
# UCF-101 has about 2.5 million frames (Sec. 4); split 1 trains on 9,537 of its 13,320 videos.
ucf_chunks = int(round(2.5e6 * 9537 / 13320 / 10 / 2, -2))  # every 10th frame, chunks of T = 2; to the hundred
print(f"   On UCF-101 that is roughly {ucf_chunks:,} training chunks, so 1% is "
      f"{train.update_size('1%', ucf_chunks)} chunks: an update after more than 100 mini-batches of 8.")
print(f"   Our {chunks} chunks would make 1% a single chunk (update_size('1%', {chunks}) = "
      f"{train.update_size('1%', chunks)}), so we use the same rule with a larger share:")
UPDATE = 4 * BATCH  # a multiple of the batch, since an update can only follow a whole mini-batch
LAST = chunks - (math.ceil(chunks / UPDATE) - 1) * UPDATE  # what the epoch's last update observes
print(f"   an update after every {UPDATE} chunks = {UPDATE // BATCH} mini-batches; the epoch's last update observes the\n"
      f"   {LAST} chunks that are left.")
assert train.update_size("1%", ucf_chunks) > 100 * 8 and train.update_size("1%", chunks) == 1 and 0 < LAST < UPDATE


def new_model():
    """The same small recurrent ResNet every time: an identity temporal skip (Eq. 2), T = 2. At block1,
    where the feature maps are large: MoveRight and MoveLeft differ by motion across space."""
    tinyrrn.manual_seed(0)
    backbone = resnet_small(num_classes=len(train_set.classes), widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1))
    return RecurrentResNet(backbone, "identity", ("block1",), context=2).train()


# --- 2. The loop, by hand ----------------------------------------------------------------------------
def my_train_one_epoch(model, loader, optimizer, update_size):
    """One epoch of load -> forward -> loss -> backward -> accumulate -> Adam step; returns each update's loss."""
    observed, loss_sum, update_losses = 0, 0.0, []
    for clips, labels, _ in loader:                               # load: (B, T, 3, H, W), (B,)
        logits = model(Tensor(clips))                             # forward: (B, classes)
        loss = F.cross_entropy(logits, Tensor(labels))            # loss: the mean over the B chunks
        (loss * len(labels)).backward()                           # backward: ADDS sum-over-chunks grads to .grad
        observed += len(labels)
        loss_sum += loss.item() * len(labels)
        if observed >= update_size:                               # enough chunks seen: one update
            update_losses.append(take_step(optimizer, observed, loss_sum))
            observed, loss_sum = 0, 0.0
    if observed:                                                  # the epoch's last, partial update
        update_losses.append(take_step(optimizer, observed, loss_sum))
    return update_losses


def take_step(optimizer, observed, loss_sum):
    """Divide the summed gradients by the number of chunks observed, step, clear; the mean loss."""
    for p in optimizer.params:
        p.grad *= 1.0 / observed                                  # the mean gradient over the observed chunks
    optimizer.step()                                              # Adam
    optimizer.zero_grad()                                         # the next update starts from zero
    return loss_sum / observed


hand_model = new_model()
hand_adam = Adam(hand_model.parameters(), lr=LR)
loader.set_epoch(0)
hand_losses = my_train_one_epoch(hand_model, loader, hand_adam, UPDATE)
expected_steps = math.ceil(chunks / UPDATE)
print(f"\n2. The loop by hand, one epoch: {len(loader)} mini-batches, {hand_adam.steps} Adam steps = ceil({chunks} chunks / "
      f"{UPDATE}) = {expected_steps}\n   (the last of {LAST} chunks); mean loss per update: "
      + " ".join(f"{v:.3f}" for v in hand_losses))
assert hand_adam.steps == len(hand_losses) == expected_steps


# --- 3. The accumulation rule --------------------------------------------------------------------------
# Ten chunks in mini-batches of 4, 4 and 2: their gradients summed, then divided by the 10 chunks
# observed, against ONE batch of all 10 chunks.
def accumulated_gradient(model, clips, labels, sizes, divide_by="chunks"):
    """The gradient over mini-batches of ``sizes`` chunks: summed over chunks and divided by the chunks
    observed (the rule), or with divide_by="batches", each batch's mean gradient averaged over the batches."""
    model.zero_grad()
    start = 0
    for size in sizes:
        loss = F.cross_entropy(model(Tensor(clips[start:start + size])), Tensor(labels[start:start + size]))
        (loss * size if divide_by == "chunks" else loss).backward()
        start += size
    return numpy.concatenate([p.grad.flatten().numpy() for p in model.parameters()]) / (
        start if divide_by == "chunks" else len(sizes))


def relative(a, b):
    return float(numpy.linalg.norm(a - b) / numpy.linalg.norm(b))


clips, labels, _ = next(iter(ChunkLoader(train_set, batch_size=10, shuffle=True, seed=1, workers=0)))
model = new_model().eval()  # batch-norm with fixed statistics: a chunk's loss ignores its batch-mates
big = accumulated_gradient(model, clips, labels, [10])
accumulated = accumulated_gradient(model, clips, labels, [4, 4, 2])
print(f"\n3. Accumulation: mini-batches of 4, 4 and 2 chunks, gradients summed, divided by the 10 chunks,\n"
      f"   against one batch of the 10 chunks (batch-norm in evaluation mode):\n"
      f"   relative difference {relative(accumulated, big):.1e} -- the same gradient, up to float32 rounding.")
assert relative(accumulated, big) < 1e-5
mean_of_means = accumulated_gradient(model, clips, labels, [4, 4, 2], divide_by="batches")
print(f"   Dividing by the number of mini-batches instead (the mean of the three batch means) weighs the\n"
      f"   2-chunk batch's chunks twice as much: relative difference {relative(mean_of_means, big):.1e}.")
assert relative(mean_of_means, big) > 1e-2
model.train()
in_training = relative(accumulated_gradient(model, clips, labels, [4, 4, 2]), accumulated_gradient(model, clips, labels, [10]))
print(f"   In training mode batch-norm normalises with each mini-batch's own statistics, so the accumulated\n"
      f"   gradient is that of three small batches, not of one big one: relative difference {in_training:.1e}.")
assert in_training > 0.05

# --- 4. tinyrrn's loop ---------------------------------------------------------------------------------
print("\n4. tinyrrn/train.py's loop takes the same steps: forward_backward runs forward -> loss -> backward,\n"
      "   DistributedOptimizer.step divides by the chunks observed (on all processes) and steps Adam:\n")
print("   " + inspect.getsource(train.forward_backward).replace("\n", "\n   "))
print("   " + inspect.getsource(train.train_one_epoch).replace("\n", "\n   "))


class Run:
    """What train_one_epoch asks of the run around it (tinyrrn.train.Trainer in a real run): here,
    only a record of the losses; no signals, no step limit, no checkpoints."""

    def __init__(self):
        self.batch_losses, self.update_losses = [], []

    def timed(self, loader):            # the Trainer times the wait for each batch
        return loader

    def stop_signal(self):              # 1.0 after Ctrl-C or SIGTERM
        return 0.0

    def check_loss(self, mean_loss):    # the Trainer stops at a non-finite loss
        assert math.isfinite(mean_loss)

    def after_batch(self, chunks, loss_sum):
        self.batch_losses.append(loss_sum / chunks)

    def after_update(self, mean_loss):
        self.update_losses.append(mean_loss)

    def reached_max_steps(self):        # --max-steps
        return False


library_model = new_model()
library_adam = DistributedOptimizer(Adam(library_model.parameters(), lr=LR), Communicator())  # one process
run = Run()
loader.set_epoch(0)
assert train.train_one_epoch(library_model, loader, library_adam, UPDATE, run)
hand_state, library_state = ({k: v.numpy() for k, v in m.state_dict().items()} for m in (hand_model, library_model))
largest = max(float(numpy.abs(hand_state[k] - library_state[k]).max()) for k in hand_state)
identical = all(numpy.array_equal(hand_state[k], library_state[k]) for k in hand_state)
print(f"   Same data, seed and order: train_one_epoch took {library_adam.steps} steps (ours {hand_adam.steps}); "
      f"the {len(hand_state)} weights and statistics\n   of the two models differ by at most {largest:.1e} "
      f"({'bit for bit identical' if identical else 'float32 rounding'}); update losses equal: "
      f"{numpy.allclose(run.update_losses, hand_losses, rtol=1e-6)}")
assert library_adam.steps == hand_adam.steps == expected_steps
assert largest < 1e-6 and numpy.allclose(run.update_losses, hand_losses, rtol=1e-6)

# --- 5. Train for a few epochs; the loss curve ---------------------------------------------------------
EPOCHS = 60
for epoch in range(1, EPOCHS):
    loader.set_epoch(epoch)
    train.train_one_epoch(library_model, loader, library_adam, UPDATE, run)
assert library_adam.steps == EPOCHS * expected_steps == len(run.update_losses)
first_epoch, last_epoch = run.update_losses[:expected_steps], run.update_losses[-expected_steps:]
print(f"\n5. {EPOCHS} epochs, {library_adam.steps} updates ({expected_steps} per epoch): mean loss per update "
      f"{numpy.mean(first_epoch):.3f} in the first epoch (chance: ln {len(train_set.classes)} = "
      f"{math.log(len(train_set.classes)):.3f}), {numpy.mean(last_epoch):.3f} in the last.")
assert numpy.mean(last_epoch) < 0.5 * numpy.mean(first_epoch)
is_last = numpy.arange(len(run.update_losses)) % expected_steps == expected_steps - 1
update_losses = numpy.array(run.update_losses)
second_half = numpy.arange(len(update_losses)) >= len(update_losses) // 2
spread = {name: float(update_losses[which & second_half].std()) for name, which in (("full", ~is_last), ("last", is_last))}
print(f"   Each epoch's last update sees only {LAST} chunks, a noisy mean: over the last {EPOCHS // 2} epochs its loss "
      f"spreads with\n   a standard deviation of {spread['last']:.2f}, the full updates' with {spread['full']:.2f} "
      "(the orange triangles in the picture).")
assert spread["last"] > spread["full"]

fig, ax = plt.subplots(figsize=(8, 4.2))
batches_per_epoch = len(loader)
ax.plot(numpy.arange(1, len(run.batch_losses) + 1) / batches_per_epoch, run.batch_losses, ".", color="0.65",
        markersize=4, label=f"mini-batch loss ({BATCH} chunks)")
update_at = numpy.array([min((u % expected_steps + 1) * (UPDATE // BATCH), batches_per_epoch)  # the batch it follows
                         + (u // expected_steps) * batches_per_epoch for u in range(len(run.update_losses))])
ax.plot(update_at / batches_per_epoch, update_losses, "-", color="tab:blue", linewidth=1)
ax.plot(update_at[~is_last] / batches_per_epoch, update_losses[~is_last], "o", color="tab:blue",
        markersize=4, label=f"update loss (the mean over the {UPDATE} chunks it observed)")
ax.plot(update_at[is_last] / batches_per_epoch, update_losses[is_last], "^", color="tab:orange",
        markersize=5, label=f"the epoch's last update: only {LAST} chunks, a noisy mean")
ax.axhline(math.log(len(train_set.classes)), color="tab:red", linestyle="--", linewidth=1,
           label=f"chance: ln {len(train_set.classes)}")
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy")
ax.set_ylim(bottom=0)
ax.legend(fontsize=8)
ax.set_title(f"train_one_epoch on {chunks} synthetic chunks: Adam, an update after every {UPDATE} chunks", fontsize=10)
fig.tight_layout()
picture = os.path.join(args.out, "training_loss.png")
fig.savefig(picture, dpi=110)
plt.close(fig)
print(f"   The loss curve: {picture}")
data_dir.cleanup()
print(f"   (the whole lesson took {time.perf_counter() - started:.1f} s)")

print("""
What to remember:
  * A training loop is load -> forward -> loss -> backward -> step; backward ADDS to .grad,
    so gradients accumulate until the optimiser step and zero_grad clear them.
  * "Update after 1% of the data" is gradient accumulation: sum each chunk's gradient over
    many mini-batches, divide by the number of chunks observed (not of mini-batches), take one
    Adam step. Without batch-norm's batch statistics that is exactly one big batch's gradient.
  * tinyrrn.train.train_one_epoch is this loop; what stands around it (the Trainer: progress,
    logs, checks, checkpoints, signals) is hooks, so the loop stays readable on one screen.""")
