"""UCF-101 (or any dataset in its layout) as chunks of T consecutive sampled frames.

Chunking rule. A video of n frames sampled every k-th frame has s = ceil(n / k) sampled
frames and yields M = floor(s / T) chunks: frames [0, T), [T, 2T), ...; the last s mod T
frames are left out. A video with 0 < s < T yields one chunk that repeats its last frame.

Frame counts come from container metadata before any decoding (`index.count_frames`; with
`cache_dir` they are remembered in `cache_dir/frame_counts.json`). When decoding later gives
slightly fewer frames than the metadata promised, a chunk reaching past the real end repeats
the last decoded frame; a video more than 10% and more than one sampled frame short is reported
as truncated (BadVideo, see video.truncated), and so is a file cut short, whatever it decodes. A video's chunks are always those its metadata gives
(`video_chunks`): evaluation, training and predict cut a video that decodes a little short alike.
Videos whose metadata cannot be read, or that report zero frames, get no chunks and are listed
in `bad_videos`; so do the videos `drop` takes out of the plan later (found bad when decoded),
and the chunks are then planned again. `bad_reasons` says why each was left out: this is the one
record of left-out videos that evaluate's `unreadable_videos` and a feature folder's "bad" come from.

Decoding cost. A chunk needs its video's sampled frames: without `cache_dir` every chunk decodes
its whole video (M decodes per video per epoch, softened only by a small in-memory memo of the
videos that fit in `memory` bytes, which serves sequential evaluation and a small dataset's later
epochs); with `cache_dir` each video is decoded once and later reads are memory-mapped (see
benchmarks/data.py). Train with a cache.
"""
import errno
import hashlib
import json
import os
import threading
import warnings
from collections import OrderedDict
from stat import S_ISREG

import numpy as np

from .cache import FrameCache
from .index import count_frames
from .splits import in_groups, name_key, read_split
from .transforms import Normalize, center_crops, crop, draw_crops
from .video import check_count, read_sampled, sampled_count


RECENT_FRAMES_BYTES = 128 * 2**20  # decoded frames a dataset keeps in memory: ~25 UCF-101 videos at
# a short side of 256, or the whole built-in synthetic dataset (18 MB), whose later epochs then read no file


def chunks_of(sampled, chunk):
    """Chunks of a video with `sampled` sampled frames (an int or an array): floor(s / T), at least
    one when s > 0 (the chunking rule above)."""
    return np.where(sampled > 0, np.maximum(sampled // chunk, 1), 0)


def video_chunks(frames, every, chunk):
    """How many chunks of `chunk` sampled frames a video of `frames` frames (its metadata's count, an int or
    an array) yields when sampled every `every`-th frame: the one rule the dataset's plan and predict follow."""
    return chunks_of(sampled_count(frames, every), chunk)


def chunk_frames(frames, start, chunk):
    """The `chunk` sampled frames from `start` on, the last frame repeated past the video's end."""
    return frames[np.minimum(start + np.arange(chunk), len(frames) - 1)]


def centre_clips(frames, chunk, size, normalize, count=None):
    """The `count` chunks (default: as many as the decoded `frames` make) of one video's sampled frames,
    centre-cropped to `size` and normalised, as evaluation sees them: float32 (M, T, 3, size, size); a
    chunk past the frames decoded repeats the last one. For `predict` (count: `video_chunks`) and `features`."""
    count = int(chunks_of(len(frames), chunk) if count is None else count)
    picked = chunk_frames(frames, 0, count * chunk)
    clips = normalize(crop(picked, *center_crops(picked, size), size))
    return clips.reshape(count, chunk, *clips.shape[1:])


class _RecentFrames:
    """Decoded videos kept in memory up to ``budget`` bytes, the least recently used leaving first;
    concurrent requests for one video decode it once. A cache entry (memory-mapped) is kept as a copy
    in memory: no open file per kept video, and later reads skip opening, hashing and parsing it."""

    def __init__(self, budget):
        self.budget, self.held = budget, 0
        self.items, self.lock, self.key_locks = OrderedDict(), threading.Lock(), {}

    def get(self, key, make):
        with self.lock:
            key_lock = self.key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self.lock:
                if key in self.items:
                    self.items.move_to_end(key)
                    return self.items[key]
            value = make()
            if value.nbytes > self.budget:
                return value
            if isinstance(value, np.memmap):  # a cache entry: into memory (its pages are read once, here)
                value = np.array(value)
            with self.lock:
                self.items[key] = value
                self.held += value.nbytes
                while self.held > self.budget:
                    self.held -= self.items.popitem(last=False)[1].nbytes
            return value


def path_resolver(root):
    """Lookup of 'Class/file' under `root`, comparing names as splits.name_key does (case-insensitively, in one
    Unicode form); returns the real path or None."""
    folders = {name_key(e.name): e.path for e in os.scandir(root) if e.is_dir()} if os.path.isdir(root) else {}
    files = {}

    def resolve(rel):
        folder, _, name = rel.partition("/")
        exact = os.path.join(root, rel)
        if os.path.isfile(exact):
            return exact
        real_folder = folders.get(name_key(folder))
        if real_folder is None:
            return None
        if real_folder not in files:
            files[real_folder] = {name_key(e.name): e.path for e in os.scandir(real_folder) if e.is_file()}
        return files[real_folder].get(name_key(name))
    return resolve


SIGNATURE_BLOCK = 4096  # bytes read at each end of a video for its signature (UCF101.signatures)


def file_signature(path):
    """[size, mtime_ns, digest of the first and last SIGNATURE_BLOCK bytes] of ``path``; [None] * 3 when it cannot be
    read, and no digest of what is no regular file (a pipe's open would wait for a writer)."""
    try:
        stat = os.stat(path)
        if not S_ISREG(stat.st_mode):
            return [stat.st_size, stat.st_mtime_ns, None]
        with open(path, "rb") as file:
            head = file.read(SIGNATURE_BLOCK)
            file.seek(max(stat.st_size - SIGNATURE_BLOCK, len(head)))
            tail = file.read(SIGNATURE_BLOCK)
    except OSError:
        return [None, None, None]
    return [stat.st_size, stat.st_mtime_ns, hashlib.blake2b(head + tail, digest_size=8).hexdigest()]


class UCF101:
    """Chunks of one split of a UCF-101-layout dataset: `get(i, rng)` -> (clip, label, video index).

    root: folder holding Class/v_Class_gGG_cCC.avi; list_dir: the split files (default
    root/ucfTrainTestlist). Training draws a random crop (and a horizontal flip if `flip`) per
    chunk, or per frame with `per_frame_aug`; evaluation takes the centre crop.
    val_groups: group numbers (gNN) of the training list held out for validation (see
    splits.validation_groups): with train=True they are left out, and validation=True gives
    those held-out videos alone, read as test videos are (centre crop, no flip). missing="error"
    refuses missing videos in one error; "skip" drops them and lists them in `self.missing`.
    cache_dir keeps decoded uint8 frames (and frame counts) on disk for later epochs.
    flip=False turns off flips (needed for direction classes, e.g. the synthetic MoveLeft/MoveRight);
    memory: bytes of decoded frames kept in memory (the videos used last; the built-in synthetic dataset
    fits whole in the default). self.list_file: the split list the videos come from.
    """

    def __init__(self, root, split=1, train=True, list_dir=None, sample_every=10, chunk=2, resize=256,
                 crop=224, normalize="torchvision", per_frame_aug=False, flip=True, missing="error",
                 cache_dir=None, memory=RECENT_FRAMES_BYTES, val_groups=(), validation=False):
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
        if validation and not (train and val_groups):
            raise ValueError("validation=True is the held-out groups of the training list: it needs train=True "
                             "and val_groups")
        for name, value in (("chunk", chunk), ("sample_every", sample_every), ("crop", crop), ("resize", resize)):
            if value is not None or name != "resize":  # resize None: frames of their own size
                check_count(name, value, 1)
        if resize is not None and resize < crop:
            raise ValueError(f"crop {crop} is larger than resize {resize} (the frames' short side): "
                             "raise resize or lower crop")
        self.root = str(root)
        if os.path.isfile(self.root):
            raise NotADirectoryError(errno.ENOTDIR, "a file, not a dataset folder", self.root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(errno.ENOENT, "no such dataset folder", self.root)
        self.list_dir = str(list_dir) if list_dir is not None else os.path.join(self.root, "ucfTrainTestlist")
        # self.train: random crops and flips (the training subset); validation reads like the test list
        self.split, self.train, self.sample_every, self.chunk = split, train and not validation, sample_every, chunk
        self.val_groups, self.validation = sorted(val_groups), validation
        self.resize, self.crop, self.per_frame_aug, self.flip = resize, crop, per_frame_aug, flip
        self.normalize = normalize if isinstance(normalize, Normalize) else Normalize(normalize)
        self.classes, train_list, test_list = read_split(self.list_dir, split)
        listed = train_list if train else test_list
        self.list_file = os.path.join(self.list_dir, f"{'train' if train else 'test'}list{split:02d}.txt")
        if not listed:
            raise ValueError(f"{self.list_file}: lists no videos")
        if train and val_groups:
            listed = [(rel, label) for rel, label in listed if in_groups(rel, self.val_groups) == validation]
            if not listed:
                raise ValueError(f"{self.list_file}: no video {'in' if validation else 'outside'} the validation "
                                 f"groups {', '.join(f'g{g:02d}' for g in self.val_groups)}")

        resolve = path_resolver(self.root)
        found = [(rel, label, resolve(rel)) for rel, label in listed]
        self.missing = [os.path.join(self.root, rel) for rel, _, path in found if path is None]
        if self.missing and missing == "error":
            raise FileNotFoundError(
                f"{len(self.missing)} of {len(listed)} videos listed in {self.list_file} "
                f"are missing under {self.root}, e.g. {', '.join(self.missing[:3])} "
                "(python -m tinyrrn.data.check lists them all; fix the folder or the list, or in Python pass "
                "UCF101(..., missing='skip') to skip them)")
        kept = [(rel, label, path) for rel, label, path in found if path is not None]
        self.videos = [(rel, label) for rel, label, _ in kept]
        self.paths = [path for _, _, path in kept]

        if cache_dir and os.path.lexists(cache_dir) and not os.path.isdir(cache_dir):  # a file, a link to nothing
            # refused, not warned about as a read-only or full cache folder is: the path itself is wrong
            raise NotADirectoryError(errno.ENOTDIR, "not a folder, so it cannot hold the frame cache (--cache-dir)",
                                     str(cache_dir))
        self.cache = FrameCache(cache_dir, sample_every, resize) if cache_dir else None
        index_path = os.path.join(str(cache_dir), "frame_counts.json") if cache_dir else None
        counts = count_frames(self.paths, index_path)
        self.frame_counts = np.array([counts[p][0] for p in self.paths], dtype=np.int64)
        self.bad_reasons = {p: counts[p][1] for p in self.paths if counts[p][0] == 0}  # path -> why, in order
        for path in self.bad_videos:
            warnings.warn(f"skipping bad video {path}: {counts[path][1]}", stacklevel=2)
        if self.train:
            self._warn_untrained_classes()
        self._plan()
        self._recent = _RecentFrames(memory)

    def _warn_untrained_classes(self):
        """Warn, naming the list, about the classes of classInd.txt that no training video (found and readable) is
        of: the model keeps an output for each, which it learns never to predict, and their test videos are scored."""
        trained = {label for (_, label), path in zip(self.videos, self.paths) if path not in self.bad_reasons}
        untrained = [name for label, name in enumerate(self.classes) if label not in trained]
        if untrained:
            held_out = f" outside the validation groups {', '.join(f'g{g:02d}' for g in self.val_groups)}" \
                if self.val_groups else ""
            warnings.warn(f"{self.list_file}: no training video of {len(untrained)} of the {len(self.classes)} classes "
                          f"of {os.path.join(self.list_dir, 'classInd.txt')} ({', '.join(untrained[:5])}"
                          f"{', ...' if len(untrained) > 5 else ''}){held_out}: the model is trained never to "
                          "predict them, and their test videos are scored", stacklevel=3)

    def _plan(self):
        """The chunks of every video from its frame count (none for a bad video)."""
        chunks = video_chunks(self.frame_counts, self.sample_every, self.chunk)
        self.chunk_video = np.repeat(np.arange(len(self.videos)), chunks)
        first = np.cumsum(chunks) - chunks                     # first chunk index of each video
        self.chunk_start = (np.arange(len(self.chunk_video)) - first[self.chunk_video]) * self.chunk

    def drop(self, paths, reasons=None):
        """Take the videos `paths` (found bad when decoded; `reasons`: {path: why}, where known) out of the
        plan: their chunks are gone."""
        index = {path: i for i, path in enumerate(self.paths)}
        for path in paths:
            self.frame_counts[index[path]] = 0
            if path not in self.bad_reasons:
                self.bad_reasons[path] = (reasons or {}).get(path, "found bad when decoded")
        self._plan()

    def signatures(self):
        """[path as listed, size, mtime_ns, digest] of each listed video, in the list's order (all None for one gone
        since): what identifies the data without decoding it, for a resumed run to compare with its start. The
        digest is of the file's first and last SIGNATURE_BLOCK bytes (a container's header and its index), so that
        another video of the same size and mtime (cp -p) is told apart at the cost of two small reads. Not the change
        time the frame cache's key also takes (cache.stamp): a chmod or chown changes it, and no one can set it back,
        so a run whose videos were only given other permissions could never resume."""
        return [[rel, *file_signature(path)] for (rel, _), path in zip(self.videos, self.paths)]

    def digest(self):
        """A fingerprint of the data, for a report: the class names and each video as listed, with its label
        and size in bytes (not its contents, which would mean reading every video; nor its modification time,
        which a copy of the dataset changes). Equal for the same videos wherever they lie."""
        listed = [[rel, label, size] for (rel, label), (_, size, *_) in zip(self.videos, self.signatures())]
        return hashlib.sha1(json.dumps([self.classes, listed]).encode()).hexdigest()[:16]

    @property
    def bad_videos(self):
        """The paths of the videos left out (``bad_reasons``' keys), in the order they were found."""
        return list(self.bad_reasons)

    def __len__(self):
        return len(self.chunk_video)

    @property
    def clip_shape(self):
        """The shape of one chunk as `get` returns it: (T, 3, crop, crop)."""
        return (self.chunk, 3, self.crop, self.crop)

    def frames(self, video):
        """All sampled, resized uint8 frames (s, H, W, 3) of video `video` (cache, then decoding)."""
        return self._recent.get(video, lambda: self._load(video))

    def _load(self, video):
        path = self.paths[video]
        entry = self.cache.path(path) if self.cache else None  # taken before decoding (see FrameCache)
        expected = sampled_count(int(self.frame_counts[video]), self.sample_every)
        frames = self.cache.load(entry, expected) if self.cache else None
        if frames is None:
            frames = read_sampled(path, self.sample_every, self.resize, expected)
            if self.cache:
                self.cache.save(entry, path, frames)
        if min(frames.shape[1:3]) < self.crop:
            raise ValueError(f"{path}: frames of {frames.shape[2]}x{frames.shape[1]} are smaller than the "
                             f"{self.crop}x{self.crop} crop: pass resize (the short side) of at least {self.crop}")
        return frames

    def get(self, i, rng=None):
        """(clip float32 (T, 3, crop, crop), label, video index) of chunk `i`.

        `rng` (a numpy Generator) draws training crops and flips; None means
        default_rng(i). Raises video.BadVideo if the video cannot be decoded.
        """
        if not 0 <= i < len(self):
            raise IndexError(f"chunk index {i} out of range for {len(self)} chunks")
        video = int(self.chunk_video[i])
        picked = chunk_frames(self.frames(video), self.chunk_start[i], self.chunk)
        if self.train:
            rng = rng if rng is not None else np.random.default_rng(i)
            boxes = draw_crops(rng, picked, self.crop, self.per_frame_aug, self.flip)
        else:
            boxes = center_crops(picked, self.crop)
        return self.normalize(crop(picked, *boxes, self.crop)), self.videos[video][1], video

    def __repr__(self):
        subset = "validation" if self.validation else "train" if self.train else "test"
        return (f"UCF101(root={self.root!r}, split={self.split}, {subset}, videos={len(self.videos)}, "
                f"chunks={len(self)}, T={self.chunk}, every={self.sample_every})")
