"""On-disk cache of decoded frames: one uint8 .npy (n, H, W, 3) per video, so that later
epochs skip decoding.

Entries live under `<dir>/every<k>_short<s>/<Class>/<video>.<key>.npy` (k = sampling step,
s = resized short side). The key is a hash of the video file's resolved path, size and
modification time: two datasets with the same file names never meet in one cache, and a
changed video is decoded afresh. Entries are written atomically (safe with several workers
and processes) and read memory-mapped.
"""
import hashlib
import os

import numpy as np

from ..files import atomic_write


class FrameCache:
    """Decoded, sampled and resized frames of videos, keyed by the video file itself."""

    def __init__(self, directory, sample_every, short_side):
        self.directory = os.path.join(str(directory), f"every{sample_every}_short{short_side or 'orig'}")

    def path(self, video_path):
        """The entry of a video file (a name inside the cache, whatever the video's path says)."""
        real = os.path.realpath(video_path)
        stat = os.stat(real)
        key = hashlib.sha1(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        folder, name = os.path.basename(os.path.dirname(real)), os.path.basename(real)
        return os.path.join(self.directory, folder, f"{name}.{key}.npy")

    def load(self, video_path):
        """The cached frames of a video file, or None."""
        try:
            return np.load(self.path(video_path), mmap_mode="r")
        except (OSError, ValueError):
            return None

    def save(self, video_path, frames):
        with atomic_write(self.path(video_path), "wb") as f:
            np.save(f, np.ascontiguousarray(frames))
