"""On-disk cache of decoded frames: one uint8 .npy (n, H, W, 3) per video, so that later
epochs skip decoding.

Entries live under `<dir>/every<k>_short<s>/<Class>/<video>.<key>.npy` (k = sampling step,
s = resized short side). The key (`video_key`) is a hash of the video file's resolved path, its `stamp`
(size, modification and change times) and what decodes it (video.decoder: the rule and the ffmpeg): two datasets
with the same file names never meet in one cache, and a changed video, or one a newer rule decodes
otherwise, is decoded afresh. The key is taken before decoding and frames are saved only if
the video still has it afterwards (one written or copied meanwhile is decoded again next time).
Entries are written atomically (safe with several workers and processes) and read memory-mapped;
a damaged entry (unreadable, empty, of another shape, or fewer frames than decoding allows) is warned about
and counts as missing; a cache folder whose entries cannot be read (permissions, I/O errors) is warned about once.
The cache is optional: when an entry cannot be written (a full disk, any OSError), that is warned
about once, naming the cache folder, and this process writes no more entries into it.
"""
import hashlib
import os
import threading
import warnings

import numpy as np

from ..files import atomic_write, special_file
from . import video
from .video import BadVideo, truncated


def stamp(stat):
    """What changes with a file's content, of its os.stat: size, modification time, and the change time that no
    one sets (a file replaced by one of its size whose mtime was kept, by cp -p, rsync -t, tar or os.utime, has
    the mtime of the one before, not its ctime). Not the inode: some network and FUSE file systems number a
    file anew at each mount, which would make every cached video look changed."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def video_key(video_path):
    """What identifies a video file's content, as decoded, without reading it: a hash of its resolved path,
    `stamp` and video.decoder() (a replaced, re-encoded or re-downloaded video, or a newer decoding rule or
    another ffmpeg, gets another key). The frame cache names its entries with it; a feature folder records it for
    each video (tinyrrn.features). A video that cannot be looked at (deleted, moved or made unreadable since the
    dataset was indexed) is a BadVideo."""
    real = os.path.realpath(video_path)
    try:
        stat = os.stat(real)
    except OSError as err:
        raise BadVideo(video_path, f"cannot read (deleted or moved since the dataset was indexed?): "
                                   f"{err.strerror or err}") from None
    # os.fsencode: a path's own bytes, also those that are not UTF-8 (held as surrogates in the str)
    return hashlib.sha1(os.fsencode("\0".join(map(str, [real, *stamp(stat), *video.decoder()])))).hexdigest()[:16]


class FrameCache:
    """Decoded, sampled and resized frames of videos, keyed by the video file itself."""

    _unwritable, _lock = set(), threading.Lock()  # the cache folders this process gave up writing into
    _unreadable = set()  # the cache folders whose entries could not be read, warned about once

    def __init__(self, directory, sample_every, short_side):
        self.short_side = short_side
        self.directory = os.path.join(str(directory), f"every{sample_every}_short{short_side or 'orig'}")

    def path(self, video_path):
        """The entry of a video file as it is now (a name inside the cache, whatever the video's path says)."""
        real = os.path.realpath(video_path)
        folder, name = os.path.basename(os.path.dirname(real)), os.path.basename(real)
        return os.path.join(self.directory, folder, f"{name}.{video_key(real)}.npy")

    def load(self, entry, expected=None):
        """The frames cached in `entry` (a `path`), or None when it is absent or damaged (also: too few of the
        `expected` sampled frames, the rule decoding holds a video to)."""
        if special_file(entry):  # a pipe or device: its read would never end
            warnings.warn(f"{entry}: not a regular file (a device, pipe or socket), not read as a frame cache entry; "
                          "decoding the video instead", stacklevel=3)
            return None
        try:
            frames = np.load(entry, mmap_mode="r")
        except FileNotFoundError:
            return None
        except OSError as err:  # the folder cannot be read (permissions, I/O): not one entry's damage
            if err.errno is None:
                problem = f"unreadable ({err})"
            else:
                with self._lock:
                    first = self.directory not in self._unreadable
                    self._unreadable.add(self.directory)
                if first:
                    warnings.warn(f"{self.directory}: cannot read frame cache entries ({err.strerror or err}: "
                                  f"{entry}); going on: videos are decoded instead", stacklevel=3)
                return None
        except (ValueError, EOFError) as err:
            problem = f"unreadable ({err})"
        else:
            problem = self._damage(frames, expected)
            if problem is None:
                return frames
        warnings.warn(f"{entry}: damaged frame cache entry, {problem}; decoding the video again", stacklevel=3)
        return None

    def _damage(self, frames, expected=None):
        """What is wrong with frames read from an entry, or None."""
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
            return f"holds {frames.dtype} {frames.shape}, not uint8 frames (n >= 1, H, W, 3)"
        if self.short_side and min(frames.shape[1:3]) != self.short_side:
            return f"frames of {frames.shape[2]}x{frames.shape[1]}, not of short side {self.short_side}"
        if expected is not None and truncated(len(frames), expected):
            return f"{len(frames)} sampled frames, where the video's metadata promises {expected}"
        return None

    def save(self, entry, video_path, frames):
        """Write `frames`, decoded from `video_path`, into `entry` (its `path` taken before decoding);
        nothing when the video has changed or gone since, or once an entry of this cache folder could not be written."""
        if self.directory in self._unwritable or special_file(entry):  # a pipe or device stays (load passes it over)
            return
        try:
            if self.path(video_path) != entry:
                return
        except BadVideo:
            return
        try:
            with atomic_write(entry, "wb") as f:
                np.save(f, np.ascontiguousarray(frames))
        except OSError as err:
            with self._lock:
                first = self.directory not in self._unwritable
                self._unwritable.add(self.directory)
            if first:
                warnings.warn(f"{self.directory}: cannot write frame cache entries ({err.strerror or err}); going "
                              "on without caching: videos not cached yet are decoded each time they are read",
                              stacklevel=3)
