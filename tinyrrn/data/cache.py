"""On-disk cache of decoded frames: one uint8 .npy (n, H, W, 3) per video, so that later
epochs skip decoding.

Entries live under `<dir>/every<k>_short<s>/<Class>/<video>.npy` (k = sampling step, s =
resized short side), are written atomically (safe with several workers), read memory-mapped,
and are re-decoded when the video file is newer than its entry.
"""
import os

import numpy as np

from ..files import atomic_write


class FrameCache:
    """Decoded, sampled and resized frames of videos, keyed by their relative path."""

    def __init__(self, directory, sample_every, short_side):
        self.directory = os.path.join(str(directory), f"every{sample_every}_short{short_side or 'orig'}")

    def path(self, rel):
        return os.path.join(self.directory, rel + ".npy")

    def load(self, rel, video_path):
        """The cached frames of `rel`, or None if absent or older than `video_path`."""
        path = self.path(rel)
        try:
            if os.path.getmtime(path) < os.path.getmtime(video_path):
                return None
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return None

    def save(self, rel, frames):
        with atomic_write(self.path(rel), "wb") as f:
            np.save(f, np.ascontiguousarray(frames))
