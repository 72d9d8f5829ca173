"""Scan a UCF-101-layout dataset for missing and bad videos.

    python -m tinyrrn.data.check ROOT [--split N] [--list-dir DIR] [--every K] [--resize S]

Checks every video of the split's train and test lists: missing (not found, case-insensitively),
or bad (cannot be opened, zero frames, or decoding ends more than 10% and more than one sampled
frame short of the container's frame count, i.e. truncated: see video.truncated). Videos are decoded as training
reads them (every K-th frame, the short side resized to S: train's --resize, 256 with --data), so that a video
that cannot be resized so is bad here too. Prints one line per problem; exits with status 1 if any.
"""
import os
import sys

from ..builders import split_folder
from ..cli import ArgumentParser, UsageError, add_debug_flag, command
from ..files import not_a_folder
from ..progress import progress
from .splits import read_split
from .ucf101 import path_resolver
from .video import BadVideo, read_checked


RESIZE = 256  # the short side train and evaluate resize frames to with --data (config's resize default)


def check_video(path, every=10, resize=RESIZE):
    """None if the video decodes fully, resized to short side `resize`, else the reason it is bad."""
    try:
        read_checked(path, every, short_side=resize)
    except BadVideo as err:
        return err.reason
    return None


def scan(root, split=1, list_dir=None, every=10, resize=RESIZE):
    """(missing paths, [(bad path, reason)]) over the train and test lists of `split`."""
    _, train, test = read_split(split_folder(root, list_dir, root, split), split)
    resolve = path_resolver(root)
    missing, bad = [], []
    for rel, _ in progress(train + test, desc=f"check split {split}"):
        path = resolve(rel)
        if path is None:
            missing.append(os.path.join(root, rel))
        elif (reason := check_video(path, every, resize)) is not None:
            bad.append((path, reason))
    return missing, bad


@command
def main(argv=None):
    parser = ArgumentParser(prog="python -m tinyrrn.data.check", description=__doc__.split("\n")[0])
    parser.add_argument("root", help="dataset folder holding Class/v_Class_gGG_cCC.avi")
    parser.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="split whose lists to check (default 1)")
    parser.add_argument("--list-dir", help="folder of classInd.txt and the split lists (default ROOT/ucfTrainTestlist)")
    parser.add_argument("--every", type=int, default=10, help="sampling step used for decoding (default 10)")
    parser.add_argument("--resize", type=int, default=RESIZE,
                        help=f"short side frames are resized to, as train's --resize (default {RESIZE})")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.every < 1:
        raise UsageError(f"--every {args.every}: must be at least 1 (every k-th frame)")
    if args.resize < 1:
        raise UsageError(f"--resize {args.resize}: must be at least 1 (the frames' short side in pixels)")
    problem = not_a_folder(args.root, "dataset folder")
    if problem:
        raise UsageError(f"{args.root}: {problem}")
    missing, bad = scan(args.root, args.split, args.list_dir, args.every, args.resize)
    for path in missing:
        print(f"missing\t{path}")
    for path, reason in bad:
        print(f"bad\t{path}\t{reason}")
    print(f"{len(missing)} missing, {len(bad)} bad", file=sys.stderr)
    return 1 if missing or bad else 0


if __name__ == "__main__":
    sys.exit(main())
