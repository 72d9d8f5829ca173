"""Batches of chunks with background decoding, deterministic shuffling and exact resume.

Order: epoch e visits the chunks in permutation default_rng([seed, e]) (or in order without
shuffle), cut into batches. Each chunk's crop/flip RNG is default_rng([seed, e, chunk]), so a
batch's content depends on (seed, epoch, position) only, never on the number of workers or
their timing. Workers are threads (ffmpeg decodes in its own process; numpy releases the GIL),
keeping `prefetch` batches in flight ahead of the consumer.

Sharding: `batch_size` is the global batch. With `world` ranks, every rank cuts the same
global batches from the same order and loads its part, `global_batch[rank::world]`; a chunk's
augmentation does not depend on the rank that loads it, so N ranks together see exactly the
batches of one process. Every rank yields one batch per global batch, possibly empty (fewer
chunks than ranks), so that all ranks step together.

Bad videos: a chunk whose video cannot be decoded is dropped from its batch (which is then
smaller, possibly empty). The video is warned about once, appended to `bad_videos` and to
`bad_videos_path`, and not decoded again.

Position: `state_dict()` holds the epoch and the number of (global) batches already yielded in it;
after `load_state_dict` iteration yields exactly the remaining batches. Completing an epoch
moves to the next one (position 0); `set_epoch(e)` jumps to epoch e, keeping the position
only if e is the current epoch (so resuming, then calling set_epoch(e) in a loop, works).
"""
import os
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .video import BadVideo


class ChunkLoader:
    """Iterates (clips float32 (B, T, 3, H, W), labels int64 (B,), video indices int64 (B,)).

    clips is an NCHW view of channels-last memory, as returned by `Normalize`; a batch whose
    chunks were all from bad videos (or, with several ranks, none of them this rank's) has B = 0.
    `rank` of `world`: the part of every global batch of `batch_size` chunks this process loads.
    """

    def __init__(self, dataset, batch_size=8, shuffle=True, seed=0, workers=2, drop_last=False,
                 bad_videos_path=None, prefetch=2, rank=0, world=1):
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, {world}), got {rank}")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.workers, self.drop_last, self.prefetch = workers, drop_last, prefetch
        self.rank, self.world = rank, world
        self.bad_videos_path = bad_videos_path
        self.epoch, self.position, self.bad_videos = 0, 0, []
        for path in dataset.bad_videos:
            self.mark_bad(path, "unreadable metadata or zero frames", warn=False)

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch):
        """Iterate epoch `epoch` next (from its start, unless it is already the current epoch)."""
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def order(self, epoch):
        """Chunk indices of `epoch` in visiting order."""
        n = len(self.dataset)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        epoch, order, size = self.epoch, self.order(self.epoch), self.batch_size
        batches = [order[b * size:(b + 1) * size][self.rank::self.world] for b in range(self.position, len(self))]
        for results in self._results(epoch, batches):
            self.position += 1
            yield self._collate(results)
        self.epoch, self.position = epoch + 1, 0

    def _results(self, epoch, batches):
        """Per batch, the list of `dataset.get` results (or BadVideo errors), in order."""
        if self.workers == 0:
            for chunks in batches:
                yield [self._load(epoch, i) for i in chunks]
            return
        pool, pending = ThreadPoolExecutor(self.workers), deque()
        try:
            for chunks in batches:
                pending.append([pool.submit(self._load, epoch, i) for i in chunks])
                if len(pending) > self.prefetch:
                    yield [f.result() for f in pending.popleft()]
            while pending:
                yield [f.result() for f in pending.popleft()]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _load(self, epoch, i):
        path = self.dataset.paths[self.dataset.chunk_video[i]]
        if path in self.bad_videos:
            return BadVideo(path, "already found bad")
        try:
            return self.dataset.get(int(i), np.random.default_rng([self.seed, epoch, int(i)]))
        except BadVideo as err:
            return err

    def _collate(self, results):
        good = []
        for result in results:
            if isinstance(result, BadVideo):
                self.mark_bad(result.path, result.reason)
            else:
                good.append(result)
        if not good:
            empty = np.zeros((0, *self.dataset.clip_shape), np.float32)
            return empty, np.zeros(0, np.int64), np.zeros(0, np.int64)
        clips = np.stack([clip.transpose(0, 2, 3, 1) for clip, _, _ in good]).transpose(0, 1, 4, 2, 3)
        labels = np.array([label for _, label, _ in good], dtype=np.int64)
        videos = np.array([video for _, _, video in good], dtype=np.int64)
        return clips, labels, videos

    def mark_bad(self, path, reason, warn=True):
        """Skip the chunks of video `path` from now on (warned about once, listed in bad_videos_path)."""
        if path in self.bad_videos:
            return
        self.bad_videos.append(path)
        if warn:
            warnings.warn(f"skipping bad video {path}: {reason}", stacklevel=3)
        if self.bad_videos_path:
            os.makedirs(os.path.dirname(os.path.abspath(self.bad_videos_path)), exist_ok=True)
            listed = set()
            if os.path.exists(self.bad_videos_path):
                with open(self.bad_videos_path) as f:
                    listed = {line.rstrip("\n") for line in f}
            if path not in listed:
                with open(self.bad_videos_path, "a") as f:
                    f.write(path + "\n")

    def state_dict(self):
        """JSON-serialisable position: epoch, batches done in it, seed, and the settings it depends on."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "shuffle": self.shuffle,
                "batch_size": self.batch_size, "drop_last": self.drop_last, "chunks": len(self.dataset),
                "bad_videos": list(self.bad_videos)}

    def load_state_dict(self, state):
        """Restore a `state_dict()`; refuses one made with another batch size, dataset or order."""
        mine = self.state_dict()
        if state.get("chunks") != mine["chunks"]:
            raise ValueError(f"the saved position is in a plan of {state.get('chunks')} chunks, the dataset has "
                             f"{mine['chunks']} now: its videos or split lists changed since the run started")
        for key in ("shuffle", "batch_size", "drop_last"):
            if state.get(key) != mine[key]:
                raise ValueError(f"loader state {key}={state.get(key)!r} does not match this loader's {mine[key]!r}")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        for path in state.get("bad_videos", []):
            self.mark_bad(path, "bad in the resumed run", warn=False)
