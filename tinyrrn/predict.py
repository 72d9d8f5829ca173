"""Classify one video file: ``python -m tinyrrn.predict VIDEO --checkpoint RUN_DIR/best.npz``.

The video is sampled and cut into chunks as in training (every k-th frame,
centre crop, chunks of T frames; a video shorter than T sampled frames
repeats its last frame), and the chunk probabilities are averaged (Sec. 3.3).
"""
import os
import sys

import numpy

from . import backend
from . import functional as F
from .builders import checkpoint_file, model_from_checkpoint
from .cli import ArgumentParser, UsageError, add_compute_flags, add_debug_flag, at_least, command, use_compute
from .data import Normalize
from .data.video import frame_count, read_sampled, sampled_count
from .data.ucf101 import centre_clips, video_chunks
from .evaluate import refuse_non_finite
from .grad_mode import no_grad
from .tensor import Tensor


def predict(model, config, path, batch=16):
    """Class probabilities (averaged over the video's chunks) and the number of chunks. A video that cannot
    be read, or that is truncated (data.video.truncated), is refused (BadVideo), as training, evaluation and
    tinyrrn.data.check refuse it. Its chunks are those evaluation plans from its metadata (video_chunks),
    also when it decodes a frame short."""
    frames, every = frame_count(path), config["sample_every"]
    decoded = read_sampled(path, every, config["resize"], expected=sampled_count(frames, every))
    clips = centre_clips(decoded, config["chunk"], config["crop"], Normalize(config["normalize"]),
                         video_chunks(frames, every, config["chunk"]))
    chunks, total = len(clips), 0
    with no_grad():
        for start in range(0, chunks, batch):
            logits = model(Tensor(backend.to_device(clips[start:start + batch], backend.get_device())))
            total = total + F.softmax(logits, -1).data.sum(axis=0)
    probabilities = backend.to_numpy(total) / chunks
    refuse_non_finite(probabilities, model, path)
    return probabilities, chunks


def top_classes(probabilities, top):
    """The indices of the ``top`` most probable classes, ties in argmax's order (the first class first): top-1
    is the class evaluation counts for the video."""
    return numpy.argsort(-probabilities, kind="stable")[:top]


def refuse_no_video_file(path):
    """A usage error (exit status 2) for a VIDEO path that is missing or a folder (not ffmpeg's words for it)."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such video file")
    if os.path.isdir(path):
        raise UsageError(f"{path}: a folder, not a video file")


@command
def main(argv=None):
    p = ArgumentParser(prog="python -m tinyrrn.predict",
                       description="Top classes of a video (any container/codec ffmpeg reads).")
    p.add_argument("video", help="video file, e.g. v_Basketball_g01_c01.avi or clip.mp4")
    p.add_argument("--checkpoint", required=True, help="checkpoint file or run directory (its best.npz; its checkpoint.npz when it has none)")
    p.add_argument("--top", type=at_least(1), default=5, help="how many classes to list")
    add_compute_flags(p)
    add_debug_flag(p)
    args = p.parse_args(argv)
    use_compute(args.device, args.threads)
    path = checkpoint_file(args.checkpoint)  # a run directory's best.npz (or checkpoint.npz), named in the output
    model, config = model_from_checkpoint(path)
    refuse_no_video_file(args.video)
    probs, chunks = predict(model, config, args.video)
    print(f"{args.video}: {chunks} chunks of {config['chunk']} frames (every {config['sample_every']}th frame); "
          f"checkpoint {path} (weights digest {model.digest})")
    for rank, c in enumerate(top_classes(probs, args.top), 1):
        print(f"{rank}. {model.classes[c]:<24} {probs[c]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
