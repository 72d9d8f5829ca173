"""Lesson 09: from a video file to a prediction -- sampling, chunks, and averaged probabilities (Sec. 3.3).

Run:  python lessons/09_video_to_prediction.py [--out DIR]

The paper never feeds a whole video to the network. It takes every 10th frame,
cuts the sampled frames into chunks of T consecutive ones, classifies each chunk
(the recurrent network's prediction at the chunk's last step), and averages the
chunks' class probabilities over the video (Sec. 3.3). Here we do each step by
hand on a real video file and check the result against tinyrrn.predict.

No dataset is needed: we render the video ourselves with the synthetic dataset's
renderer and write it with the bundled ffmpeg. Its scene first brightens, then
darkens -- two of the synthetic classes, Brighten and Darken, which contain the
same frames in opposite order, so only frame order tells them apart. A small
recurrent network learns them in a few seconds before we start.
"""
import os
import time

import matplotlib

matplotlib.use("Agg")  # draw into files, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

import tinyrrn  # noqa: E402
from tinyrrn import Tensor, no_grad  # noqa: E402
from tinyrrn import functional as F  # noqa: E402
from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args  # noqa: E402
from tinyrrn.data import Normalize, frame_count, read_sampled  # noqa: E402
from tinyrrn.data.synthetic import render, write_video  # noqa: E402
from tinyrrn.models import RecurrentResNet, resnet_small  # noqa: E402
from tinyrrn.optim import Adam  # noqa: E402
from tinyrrn.predict import predict  # noqa: E402

parser = ArgumentParser(description="From a video file to a prediction: sampling, chunks, averaging.")
parser.add_argument("--out", type=folder_to_write, default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the video and the picture (default: lessons/out)")
args = parse_script_args(parser)
os.makedirs(args.out, exist_ok=True)
print(__doc__)

EVERY, T, SIZE, FPS = 10, 2, 32, 25           # every 10th frame, chunks of T = 2, 32x32 frames at 25 fps
CLASSES = ["Brighten", "Darken"]
normalize = Normalize("torchvision")          # uint8 RGB (T, H, W, 3) -> float32 (T, 3, H, W)


def brightening_scene(seed, frames):
    """A synthetic scene (shape, colours, background drawn from ``seed``) whose brightness rises."""
    return render("brighten", frames, SIZE, SIZE, numpy.random.default_rng([seed, 1]),
                  numpy.random.default_rng([seed, 2]), EVERY)


# --- 0. A model that tells Brighten from Darken (a few seconds) ----------------------------------
# A Darken clip is a Brighten clip played backwards. We train on chunks of T = 2 sampled frames
# from 50 rendered scenes: a linear temporal skip (Eq. 3) at block4, where W_s can learn to
# compare the previous frame with the current one.
start = time.perf_counter()
tinyrrn.manual_seed(0)
rng = numpy.random.default_rng(0)
scenes = [brightening_scene(seed, int(rng.choice([41, 61, 81, 101, 121])))[::EVERY] for seed in range(50)]
model = RecurrentResNet(resnet_small(num_classes=2, widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), small_stem=False),
                        "linear", ("block4",), context=T)
optimizer = Adam(model.parameters(), lr=3e-3)
UPDATES = 200
for update in range(UPDATES):
    clips, labels = [], []
    for _ in range(16):
        sampled = scenes[rng.integers(len(scenes))]
        label = int(rng.integers(2))                       # 0 Brighten, 1 Darken (played backwards)
        sampled = sampled[::-1] if label else sampled
        first = rng.integers(len(sampled) - T + 1)
        clips.append(normalize(sampled[first:first + T]))
        labels.append(label)
    loss = F.cross_entropy(model(Tensor(numpy.stack(clips))), Tensor(numpy.array(labels)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()
print(f"0. Trained a small recurrent ResNet for {UPDATES} updates of 16 chunks in {time.perf_counter() - start:.1f} s "
      f"(last loss {loss.item():.3f}).")

# --- 1. A real video file --------------------------------------------------------------------
# 121 frames of a new scene brightening, then 40 frames of it darkening again: 161 frames, 6.4 s.
scene = brightening_scene(seed=1000, frames=121)
video = numpy.concatenate([scene, scene[::-1][1:41]])
path = os.path.join(args.out, "brighten_then_darken.avi")
write_video(path, video, fps=FPS)   # Motion-JPEG in an AVI, through imageio-ffmpeg's bundled ffmpeg
assert frame_count(path) == len(video) == 161
print(f"\n1. Wrote {path}: {len(video)} frames of {SIZE}x{SIZE} at {FPS} fps "
      f"({len(video) / FPS:.1f} s; the frame count is read back from the AVI header)")

# --- 2. Decode every 10th frame --------------------------------------------------------------
# ffmpeg's select filter keeps frames 0, 10, 20, ...; only those cross the pipe to Python.
sampled = read_sampled(path, every=EVERY)
kept = numpy.arange(0, len(video), EVERY)
difference = numpy.abs(sampled.astype(int) - video[kept].astype(int)).mean()
assert sampled.shape == (len(kept), SIZE, SIZE, 3) and difference < 3
print(f"2. Decoded every {EVERY}th frame: {sampled.shape[0]} frames {tuple(sampled.shape[1:])} uint8 -- frames "
      f"{kept[0]}, {kept[1]}, ..., {kept[-1]} of the video")
print(f"   they match the frames we wrote to {difference:.1f} grey levels on average (JPEG is lossy)")
brightness = sampled.mean(axis=(1, 2, 3))
print("   mean brightness of the sampled frames: " + " ".join(f"{b:.0f}" for b in brightness))
assert numpy.all(numpy.diff(brightness[:13]) > 0) and numpy.all(numpy.diff(brightness[12:]) < 0)

# --- 3. Cut chunks of T consecutive sampled frames --------------------------------------------
chunks = len(sampled) // T                 # M = floor(s / T) chunks; the last s mod T frames are left out
chunk_frames = sampled[:chunks * T].reshape(chunks, T, SIZE, SIZE, 3)
first_frame = kept[:chunks * T:T]
assert chunks == 8 and len(sampled) - chunks * T == 1
print(f"\n3. {len(sampled)} sampled frames make {chunks} chunks of T = {T}; the last {len(sampled) - chunks * T} "
      "is left out (as in training):")
print("   chunk:        " + " ".join(f"{c:>8}" for c in range(chunks)))
print("   video frames: " + " ".join(f"{f:>4}+{f + EVERY:<3}" for f in first_frame))

# --- 4. Classify every chunk, average the probabilities (Sec. 3.3) ------------------------------
with no_grad():
    logits = model(Tensor(numpy.stack([normalize(c) for c in chunk_frames])))   # (chunks, classes)
    per_chunk = F.softmax(logits, -1).numpy()
video_probs = per_chunk.mean(axis=0)
truth = numpy.array([0 if f + EVERY <= 120 else 1 for f in first_frame])    # brightening until frame 120
print("\n4. Class probabilities per chunk (the network's output at each chunk's last step):")
for c in range(len(CLASSES)):
    print(f"   P({CLASSES[c]:<8}) " + " ".join(f"{p:8.2f}" for p in per_chunk[:, c]))
print("   predicted    " + " ".join(f"{CLASSES[k]:>8}" for k in per_chunk.argmax(axis=1)))
print("   true         " + " ".join(f"{CLASSES[k]:>8}" for k in truth))
assert numpy.array_equal(per_chunk.argmax(axis=1), truth)
print(f"   video level (mean over the {chunks} chunks): " +
      ", ".join(f"P({name}) = {p:.2f}" for name, p in zip(CLASSES, video_probs)) +
      f" -> {CLASSES[video_probs.argmax()]}")
assert video_probs.argmax() == 0 and 0.5 < video_probs[0] < 1
print("   Every chunk is right, and the average names the video's main action; it also hides the\n"
      "   darkening at the end, which only the per-chunk view shows.")

config = {"sample_every": EVERY, "resize": None, "crop": SIZE, "chunk": T, "normalize": "torchvision"}
library_probs, library_chunks = predict(model, config, path)
assert library_chunks == chunks and numpy.allclose(library_probs, video_probs, atol=1e-6)
print("   tinyrrn.predict.predict (what `python -m tinyrrn.predict VIDEO` runs) gives the same "
      f"{chunks} chunks and probabilities: yes")

# --- 5. The picture --------------------------------------------------------------------------
fig = plt.figure(figsize=(10, 4.6))
grid = fig.add_gridspec(2, chunks, height_ratios=[0.75, 3], hspace=0.3, top=0.9, bottom=0.11)
for c in range(chunks):
    ax = fig.add_subplot(grid[0, c])
    ax.imshow(numpy.concatenate(list(chunk_frames[c]), axis=1))   # the chunk's two frames side by side
    ax.set_title(f"frames {first_frame[c]}, {first_frame[c] + EVERY}", fontsize=7)
    ax.axis("off")
ax = fig.add_subplot(grid[1, :])
centres = (first_frame + EVERY / 2) / FPS
for c, colour in zip(range(len(CLASSES)), ("tab:orange", "tab:blue")):
    ax.plot(centres, per_chunk[:, c], "o-", color=colour, label=f"P({CLASSES[c]}) per chunk")
    ax.axhline(video_probs[c], color=colour, linestyle="--", linewidth=1,
               label=f"video average P({CLASSES[c]}) = {video_probs[c]:.2f}")
ax.axvspan(120 / FPS, len(video) / FPS, color="0.92", zorder=0)
ax.text(130 / FPS, 0.5, "the scene\ndarkens", fontsize=8, color="0.4")
ax.set_xlim(0, len(video) / FPS)
ax.set_ylim(-0.05, 1.05)
ax.set_xlabel("time in the video (s), at the centre of each chunk")
ax.set_ylabel("class probability")
ax.legend(fontsize=7, loc="center left")
fig.suptitle(f"{os.path.basename(path)}: every {EVERY}th frame, chunks of {T}, probabilities averaged (Sec. 3.3)",
             fontsize=10)
picture = os.path.join(args.out, "video_prediction.png")
fig.savefig(picture, dpi=110)
plt.close(fig)
print(f"\n5. Class probability per chunk along the video: {picture}")

print("""
What to remember:
  * A video becomes chunks: decode every 10th frame, cut runs of T consecutive sampled frames,
    drop the few left over (tinyrrn/data/ucf101.py cuts training videos by the same rule).
  * The network classifies each chunk (its last step's output); the video's prediction is the
    mean of the chunks' probabilities (Sec. 3.3), a summary that favours the main action.
  * Plotting the per-chunk probabilities shows what the average hides: where in the video
    the model sees which action.""")
