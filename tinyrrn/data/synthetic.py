"""A synthetic action dataset in UCF-101's exact layout, where only frame order tells classes apart.

    python -m tinyrrn.data.synthetic OUT_DIR [--classes 12 --groups 25 --clips 1 --size 64x48 ...]

writes OUT_DIR/Class/v_Class_gGG_cCC.avi and OUT_DIR/ucfTrainTestlist/classInd.txt,
trainlist0{1,2,3}.txt and testlist0{1,2,3}.txt (CRLF, 1-based labels, test lists without labels).
Three official-style splits with disjoint test groups, as UCF-101's: split k tests the k-th run
of 7/25 of the groups (g01-g07, g08-g14, g15-g21 of 25; at least one group, at most a third)
and trains on all other groups; the groups after the third run (g22-g25 of 25) always train.

Classes come in pairs; the second class of a pair is the first played backwards:

    MoveRight / MoveLeft                      an object moves horizontally (position)
    Grow / Shrink                             an object's size changes (per-frame property)
    MoveDown / MoveUp                         an object moves vertically (position)
    Brighten / Darken                         the whole scene's brightness changes (per-frame property)
    Appear / Disappear                        an object fades in / out (appearance)
    RotateAnticlockwise / RotateClockwise     a square or triangle turns (orientation)

`--classes N` (even, 2-12, default 12) takes the first N/2 pairs. Each (pair, group) draws
a shape (disc, square, triangle), colours and a background (plain, gradient, stripes or
checker); each clip draws its length, start, size and speed. Both members of a pair use the
same draws, so video v_MoveLeft_gGG_cCC holds exactly the frames of v_MoveRight_gGG_cCC in
reverse order. Frame counts are k*m + 1 (k = --every) so that sampling every k-th frame also
takes the same frames from both; motion is uniform in time, so consecutive *sampled* frames
differ clearly (default 41-71 frames at 25 fps: 5-8 sampled frames).

Expected error: a model that ignores frame order (e.g. averages single-frame features) sees
the same frames for both members of a pair, so at best it is right about the pair and at chance
within it: 50% error with every class paired. A model that sees consecutive sampled frames in
order can reach ~0%. Position pairs need motion across space (skips from early, high-resolution
blocks); property pairs need only a change of a per-frame summary (late skips suffice).

Caution: a horizontal flip turns MoveRight into MoveLeft and clockwise into anticlockwise, so
train on this dataset with flips off (UCF101(..., flip=False)).
The default (12 classes x 25 videos, 64x48) is generated in a few seconds.
"""
import argparse
import fcntl
import glob
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import imageio_ffmpeg
import numpy as np

from ..cli import ArgumentParser, UsageError, at_least, command
from ..files import atomic_write, file_in_the_way
from ..progress import Progress
from .video import ffmpeg_path

VERSION = 4  # bumped whenever the videos or split lists change, so cached copies are regenerated
SPLITS = (1, 2, 3)
PAIRS = [("MoveRight", "MoveLeft", "move_x"), ("Grow", "Shrink", "grow"), ("MoveDown", "MoveUp", "move_y"),
         ("Brighten", "Darken", "brighten"), ("Appear", "Disappear", "appear"),
         ("RotateAnticlockwise", "RotateClockwise", "rotate")]
SHAPES = ("disc", "square", "triangle")
CODECS = {"mjpeg": ("yuvj444p", ["-q:v", "2"]), "mpeg4": ("yuv420p", ["-q:v", "3"]),
          "ffv1": ("bgr0", [])}


def class_names(classes=12):
    """The first `classes` class names (classInd order)."""
    if classes % 2 or not 2 <= classes <= 2 * len(PAIRS):
        raise ValueError(f"classes must be even, 2 to {2 * len(PAIRS)}, got {classes}")
    return [name for pair in PAIRS[:classes // 2] for name in pair[:2]]


def _background(rng, width, height):
    """A static background (H, W, 3) float32: plain, gradient, stripes or checker; and whether it is dark."""
    dark = rng.random() < 0.5
    base = rng.uniform(0, 100, 3) if dark else rng.uniform(155, 255, 3)
    other = np.clip(base + rng.uniform(-40, 40, 3), 0, 255)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(6, 16)
    weight = {"plain": np.zeros_like(x), "gradient": x / width,
              "stripes": (np.floor((x + y) / period) % 2),
              "checker": (np.floor(x / period) + np.floor(y / period)) % 2}[rng.choice(["plain", "gradient", "stripes", "checker"])]
    return (base + weight[..., None] * (other - base)).astype(np.float32), dark


def _signed_distance(shape, u, v, r):
    """Distance (pixels) outside the shape of circumradius r centred at u = v = 0 (negative inside)."""
    if shape == "disc":
        return np.sqrt(u * u + v * v) - r
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.75 * r
    normals = np.radians([-90.0, 30.0, 150.0])
    return np.max([u * np.cos(a) + v * np.sin(a) for a in normals], axis=0) - 0.5 * r


def render(kind, frames, width, height, group_rng, clip_rng, every=10):
    """Frames (n, H, W, 3) uint8 of the first class of pair `kind`, played forwards."""
    background, dark = _background(group_rng, width, height)
    shape = group_rng.choice(SHAPES[1:] if kind == "rotate" else SHAPES)
    colour = group_rng.uniform(170, 255, 3) if dark else group_rng.uniform(0, 90, 3)
    colour[group_rng.integers(3)] *= group_rng.uniform(0.2, 1.0)          # tint
    side = min(width, height)
    steps = max(frames - 1, 1) / every                                    # steps between sampled frames
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None, None]
    r = np.full_like(t, clip_rng.uniform(0.14, 0.22) * side)
    angle, alpha, gain = clip_rng.uniform(0, 2 * np.pi), np.ones_like(t), 1.0
    cx, cy = (clip_rng.uniform(0.3, 0.7) * d for d in (width, height))
    if kind in ("move_x", "move_y"):
        extent = width if kind == "move_x" else height
        room = extent - 2.2 * r[0, 0, 0]
        travel = min(clip_rng.uniform(0.12, 0.18) * extent * steps, room)
        start = 1.1 * r[0, 0, 0] + clip_rng.random() * (room - travel)
        if kind == "move_x":
            cx = start + travel * t
        else:
            cy = start + travel * t
    elif kind == "grow":
        r = r * 0.5 * (1 + min(3.0, clip_rng.uniform(0.4, 0.6) * steps) * t)
    elif kind == "brighten":
        gain = 1.0 - min(0.8, clip_rng.uniform(0.15, 0.2) * steps) * (1 - t)
    elif kind == "appear":
        alpha = t ** clip_rng.uniform(0.7, 1.4)
    elif kind == "rotate":
        angle = angle - np.radians(clip_rng.uniform(25, 40)) * steps * t     # anticlockwise on screen (y down)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    du, dv = x - cx, y - cy
    u, v = du * np.cos(angle) + dv * np.sin(angle), -du * np.sin(angle) + dv * np.cos(angle)
    cover = alpha * np.clip(0.5 - _signed_distance(shape, u, v, r), 0, 1)
    image = background + cover[..., None] * (colour - background)
    return np.clip(np.round(image * np.asarray(gain)[..., None]), 0, 255).astype(np.uint8)


def write_video(path, frames, fps=25, codec="mjpeg"):
    """Write uint8 RGB frames (n, H, W, 3) as a video readable by imageio-ffmpeg."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
    pix_fmt, params = CODECS[codec]
    if codec == "mpeg4" and str(path).endswith(".avi"):
        params = params + ["-vtag", "XVID"]                                 # as UCF-101's AVIs
    writer = imageio_ffmpeg.write_frames(ffmpeg_path(path), (frames.shape[2], frames.shape[1]), fps=fps, codec=codec,
                                         pix_fmt_out=pix_fmt, quality=None, macro_block_size=1,
                                         output_params=params, ffmpeg_log_level="error")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def _frame_counts(frames, every):
    """The frame counts EVERY*m+1 (m >= 1) within the range (lo, hi)."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    lo, hi = frames
    counts = [every * m + 1 for m in range(1, hi // every + 1) if lo <= every * m + 1 <= hi]
    if not counts:
        raise ValueError(f"frames range {lo}-{hi} holds no count of the form {every}*m+1 (m >= 1)")
    return counts


def split_test_groups(groups, split):
    """The test groups (1-based) of split 1-3 out of `groups`: disjoint runs, as UCF-101's of 25."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    per_split = min(max(1, round(7 * groups / 25)), groups // len(SPLITS))
    return range((split - 1) * per_split + 1, split * per_split + 1)


def generate(out_dir, seed=0, classes=12, groups=25, clips=1, size=(64, 48), frames=(41, 71), every=10,
             fps=25, codec="mjpeg", threads=2):
    """Write the dataset (videos and the lists of splits 1-3) to `out_dir`; returns out_dir."""
    if groups < len(SPLITS) or clips < 1:
        raise ValueError(f"need groups >= {len(SPLITS)} (one test group per split) and clips >= 1, "
                         f"got {groups} and {clips}")
    names, counts = class_names(classes), _frame_counts(frames, every)
    width, height = size
    jobs = []
    for p, (forward, backward, kind) in enumerate(PAIRS[:classes // 2]):
        for g in range(1, groups + 1):
            for c in range(1, clips + 1):
                jobs.append((p, kind, forward, backward, g, c))

    def make(job):
        p, kind, forward, backward, g, c = job
        clip_rng = np.random.default_rng([seed, p, g, c])
        video = render(kind, int(clip_rng.choice(counts)), width, height,
                       np.random.default_rng([seed, p, g]), clip_rng, every)
        for name, seq in ((forward, video), (backward, video[::-1])):
            os.makedirs(os.path.join(out_dir, name), exist_ok=True)
            write_video(os.path.join(out_dir, name, f"v_{name}_g{g:02d}_c{c:02d}.avi"), seq, fps, codec)

    bar = Progress(total=2 * len(jobs), desc="generating synthetic videos")  # a job writes a video and its reverse
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(make, jobs):
            bar.update(2)
    bar.close()

    lists = os.path.join(out_dir, "ucfTrainTestlist")
    os.makedirs(lists, exist_ok=True)
    files = {"classInd.txt": [f"{i} {n}" for i, n in enumerate(names, 1)]}
    for split in SPLITS:
        test_groups = split_test_groups(groups, split)
        train, test = [], []
        for label, name in enumerate(names, 1):
            for g in range(1, groups + 1):
                for c in range(1, clips + 1):
                    rel = f"{name}/v_{name}_g{g:02d}_c{c:02d}.avi"
                    if g in test_groups:
                        test.append(rel)
                    else:
                        train.append(f"{rel} {label}")
        files[f"trainlist{split:02d}.txt"], files[f"testlist{split:02d}.txt"] = train, test
    for file in list_files():
        with atomic_write(os.path.join(lists, file), "wb") as f:
            f.write("".join(line + "\r\n" for line in files[file]).encode())
    return out_dir


def list_files():
    """The names of the split files, in the order ``generate`` writes them (after every video)."""
    return ["classInd.txt"] + [f"{kind}list{split:02d}.txt" for split in SPLITS for kind in ("train", "test")]


def generated_once(root, seed=0):
    """The default dataset in ``root`` (the user cache), generated if it is not there, safely with other processes
    doing the same: under a lock file beside it (the others wait, then use it) and into a temporary folder beside
    it, renamed into place once complete, so that a killed generation never leaves or hands out a partial
    dataset. A folder lacking a split list (left by an older tinyrrn killed while writing) is generated again."""
    def complete():
        return all(os.path.isfile(os.path.join(root, "ucfTrainTestlist", name)) for name in list_files())
    if complete():
        return root
    parent, name = os.path.split(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, f"{name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends however it ends
        if complete():  # generated by the process this one waited for
            return root
        for left in glob.glob(os.path.join(parent, f"{name}.tmp-*")):  # of a generation that was killed
            shutil.rmtree(left, ignore_errors=True)
        print(f"generating the synthetic dataset into {root} (once) ...", flush=True)
        temporary = tempfile.mkdtemp(prefix=f"{name}.tmp-", dir=parent)
        os.chmod(temporary, 0o755)  # as a folder made by os.makedirs (mkdtemp makes 0700)
        generate(temporary, seed=seed)
        if os.path.exists(root):  # incomplete
            shutil.rmtree(root)
        os.rename(temporary, root)
    return root


# The largest --size side and --frames count the command takes (UCF-101: 320x240, at most 1,776 frames): a video
# is rendered whole in memory, and larger ones ended in a traceback (MemoryError) or checked their range for ever
LARGEST = {"--size": 1024, "--frames": 2000}


def _pair(text, sep, what):
    try:
        a, b = (int(v) for v in text.lower().split(sep))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must look like A{sep}B with integers, got {text!r}") from None
    if min(a, b) < 1:
        raise argparse.ArgumentTypeError(f"{what} {text!r}: both numbers must be at least 1")
    if max(a, b) > LARGEST[what]:
        raise argparse.ArgumentTypeError(f"{what} {text!r}: both numbers must be at most {LARGEST[what]}")
    return a, b


def _check(flag, check, *args):
    """Run ``check(*args)``; its ValueError as a UsageError naming ``flag``."""
    try:
        check(*args)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from None


@command
def main(argv=None):
    parser = ArgumentParser(prog="python -m tinyrrn.data.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write the videos and ucfTrainTestlist/ into")
    parser.add_argument("--classes", type=int, default=12, help="number of classes, even, 2-12 (default 12)")
    parser.add_argument("--groups", type=at_least(len(SPLITS)), default=25,
                        help="groups per class, at least 3; each of the 3 splits tests its own 7/25 (default 25)")
    parser.add_argument("--clips", type=at_least(1), default=1, help="clips per group (default 1)")
    parser.add_argument("--size", type=lambda s: _pair(s, "x", "--size"), default=(64, 48),
                        help="frame size WxH, each at most 1024 (default 64x48, 4:3 like UCF-101)")
    parser.add_argument("--frames", type=lambda s: _pair(s, "-", "--frames"), default=(41, 71),
                        help="range LO-HI of frames per video, at most 2000; counts are EVERY*m+1 (default 41-71)")
    parser.add_argument("--every", type=at_least(1), default=10,
                        help="sampling step the videos are designed for (default 10)")
    parser.add_argument("--fps", type=at_least(1), default=25, help="frame rate (default 25)")
    parser.add_argument("--codec", choices=sorted(CODECS), default="mjpeg",
                        help="mjpeg (near-lossless, default), mpeg4 (XVID, like UCF-101) or ffv1 (lossless)")
    parser.add_argument("--seed", type=at_least(0), default=0, help="random seed; same seed, same dataset (default 0)")
    args = parser.parse_args(argv)
    _check(f"--classes {args.classes}", class_names, args.classes)
    _check(f"--frames {args.frames[0]}-{args.frames[1]}", _frame_counts, args.frames, args.every)
    out = args.out_dir
    if os.path.lexists(out) and not os.path.isdir(out):
        raise UsageError(f"{out}: a file (or a link to nothing), not a folder to write the dataset into; name a new "
                         "or empty folder")
    if os.path.isdir(out) and os.listdir(out):
        raise UsageError(f"{out}: holds files already: the videos and split lists would be written over or mixed "
                         "with them; name a new or empty folder")
    if file_in_the_way(out):  # os.makedirs said only 'File exists'
        raise UsageError(f"{out}: not in a folder: {file_in_the_way(out)} is a file")
    parent, name = os.path.split(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent)  # a dataset appears only when complete
    try:
        os.chmod(temporary, 0o755)  # as a folder made by os.makedirs (mkdtemp makes 0700)
        generate(temporary, args.seed, args.classes, args.groups, args.clips, args.size, args.frames, args.every,
                 args.fps, args.codec)
        os.rename(temporary, out)  # over an empty folder too
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    print(f"wrote {args.classes * args.groups * args.clips} videos and ucfTrainTestlist/ to {out}")


if __name__ == "__main__":
    sys.exit(main())
