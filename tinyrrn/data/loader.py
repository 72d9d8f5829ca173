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

Device: with `device="gpu"` the loader hands out clips and labels already on the GPU. Each batch
is assembled in one host buffer (its chunks' clips, written there by the workers that decode them,
then its labels; pinned, i.e. page-locked, memory from a small ring of such buffers) and copied to
the device in one asynchronous copy on a stream of its own, one batch ahead: the copy of batch k+1
runs while the device computes on batch k, and the workers decode the batches after it meanwhile.
On the CPU the same code runs with plain host buffers, and the copy is nothing.

Bad videos: a chunk whose video cannot be decoded is dropped from its batch (which is then
smaller, possibly empty). The video is warned about once, appended to `bad_videos` and to
`bad_videos_path`, and not decoded again.

Position: `state_dict()` holds the epoch and the number of (global) batches already yielded in it,
and a digest of the plan (which video each chunk is of: a changed list is refused, even of as many
chunks); after `load_state_dict` iteration yields exactly the remaining batches. Completing an epoch
moves to the next one (position 0); `set_epoch(e)` jumps to epoch e, keeping the position
only if e is the current epoch (so resuming, then calling set_epoch(e) in a loop, works).
"""
import hashlib
import os
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from ..files import append_line, refuse_special_file
from .video import BadVideo, check_count


def _naming(err, where):
    """``err`` as an error of its kind whose message starts with ``where`` (a RuntimeError when its kind cannot be
    made from a message alone), as torch's DataLoader re-raises a worker's error."""
    try:
        return type(err)(f"{where}: {err}")
    except Exception:
        return RuntimeError(f"{where}: {type(err).__name__}: {err}")


class PlanChanged(ValueError):
    """A saved position in a plan other than the dataset's now: its videos or split lists changed since."""


def _layout(n, clip_shape):
    """(bytes of n float32 clips, offset of the n int64 labels after them, total bytes) of a batch buffer."""
    clip_bytes = n * int(np.prod(clip_shape)) * 4
    labels_at = -(-clip_bytes // 8) * 8  # int64 labels start 8-byte aligned
    return clip_bytes, labels_at, labels_at + 8 * n


def _batch_views(buffer, n, clip_shape):
    """The clips (n, T, 3, H, W; an NCHW view of channels-last memory) and labels (n,) int64 that a
    flat uint8 batch buffer (host or device) holds."""
    clip_bytes, labels_at, total = _layout(n, clip_shape)
    t, c, h, w = clip_shape
    clips = buffer[:clip_bytes].view(np.float32).reshape(n, t, h, w, c).transpose(0, 1, 4, 2, 3)
    return clips, buffer[labels_at:total].view(np.int64)


class BatchStaging:
    """Where a batch is assembled on the host, and how it reaches the device that computes on it.

    CPU: a fresh host buffer per batch, which is the batch (nothing is copied). GPU: a ring of
    `slots` pinned host buffers of `capacity` bytes, handed out in turn; `send` copies one, in one
    asynchronous copy on this staging's own stream, to a fresh device buffer. The compute stream
    waits for that copy on the device (no host wait); a host buffer is refilled only once its last
    copy has finished. Buffers are sent in the order they were handed out.
    """

    def __init__(self, device, capacity, slots):
        self.xp = backend.module_for(device)
        self.copies = self.xp is not np  # a GPU: batches are copied, one batch ahead
        self.capacity, self.handed_out, self.sent = capacity, 0, 0
        self.ring = [[None, None] for _ in range(slots)]  # [pinned host buffer, event of its last copy]
        self.stream = self.xp.cuda.Stream(non_blocking=True) if self.copies else None

    def host(self, nbytes):
        """A flat uint8 host buffer of `nbytes` to assemble the next batch in."""
        if not self.copies:
            return np.empty(nbytes, np.uint8)
        slot = self.ring[self.handed_out % len(self.ring)]
        self.handed_out += 1
        if slot[0] is None:
            slot[0] = np.ndarray(self.capacity, np.uint8, buffer=self.xp.cuda.alloc_pinned_memory(self.capacity))
        if slot[1] is not None and not slot[1].done:
            slot[1].synchronize()  # wait until its previous batch is on the device (done long since, as a rule)
        return slot[0][:nbytes]

    def send(self, host):
        """Start copying a filled host buffer to the device: (the buffer there, the copy's event), or
        on the CPU (the host buffer, None)."""
        if not self.copies:
            return host, None
        slot = self.ring[self.sent % len(self.ring)]
        self.sent += 1
        device = self.xp.empty(host.size, np.uint8)  # memory of the compute stream, which may still read
        self.stream.wait_event(self.xp.cuda.get_current_stream().record())  # it: the copy waits for that
        if host.size:
            device.set(host, stream=self.stream)
        slot[1] = self.stream.record()
        return device, slot[1]

    def receive(self, sent):
        """The buffer `send` returned, once the compute stream has been told to wait for its copy."""
        buffer, copied = sent
        if copied is not None:
            self.xp.cuda.get_current_stream().wait_event(copied)
        return buffer


class ChunkLoader:
    """Iterates (clips float32 (B, T, 3, H, W), labels int64 (B,), video indices int64 (B,)).

    clips is an NCHW view of channels-last memory, as returned by `Normalize`; a batch whose
    chunks were all from bad videos (or, with several ranks, none of them this rank's) has B = 0.
    `rank` of `world`: the part of every global batch of `batch_size` chunks this process loads.
    `device`: where clips and labels are ('cpu' or 'gpu'; video indices stay on the host).
    """

    def __init__(self, dataset, batch_size=8, shuffle=True, seed=0, workers=2, drop_last=False,
                 bad_videos_path=None, prefetch=2, rank=0, world=1, device="cpu"):
        for name, value, least in (("batch_size", batch_size, 1), ("workers", workers, 0), ("prefetch", prefetch, 0),
                                   ("world", world, 1), ("seed", seed, 0)):
            check_count(name, value, least)
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, {world}), got {rank}")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.workers, self.drop_last, self.prefetch = workers, drop_last, prefetch
        self.rank, self.world, self.device = rank, world, device
        self.bad_videos_path = bad_videos_path
        self.epoch, self.position, self.bad_videos = 0, 0, []
        for path in dataset.bad_videos:
            self.mark_bad(path, "unreadable metadata or zero frames", warn=False)

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch):
        """Iterate epoch `epoch` next (from its start, unless it is already the current epoch)."""
        check_count("epoch", epoch, 0)
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def order(self, epoch):
        """Chunk indices of `epoch` in visiting order."""
        n = len(self.dataset)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        epoch, order, size = self.epoch, self.order(self.epoch), self.batch_size
        batches = [order[b * size:(b + 1) * size][self.rank::self.world] for b in range(self.position, len(self))]
        staging = BatchStaging(self.device, _layout(-(-size // self.world), self.dataset.clip_shape)[2],
                               slots=self.prefetch + 3)  # the batches a buffer can be busy with, and one more
        ahead = 1 if staging.copies else 0
        sent = deque()  # batches whose copy to the device has started, not yet handed out
        for host, results in self._results(epoch, batches, staging):
            sent.append(self._collate(host, results, staging))
            while len(sent) > ahead:
                self.position += 1
                yield self._on_device(sent.popleft(), staging)
        while sent:
            self.position += 1
            yield self._on_device(sent.popleft(), staging)
        self.epoch, self.position = epoch + 1, 0

    def _results(self, epoch, batches, staging):
        """Per batch: its host buffer, the clip of each of its chunks written in there by `_load`,
        and the list of (label, video) or BadVideo errors of its chunks, in order."""
        clip_shape = self.dataset.clip_shape
        if self.workers == 0:
            for chunks in batches:
                host = staging.host(_layout(len(chunks), clip_shape)[2])
                clips = _batch_views(host, len(chunks), clip_shape)[0]
                yield host, [self._load(epoch, i, clip) for i, clip in zip(chunks, clips)]
            return
        pool, pending = ThreadPoolExecutor(self.workers), deque()
        try:
            for chunks in batches:
                host = staging.host(_layout(len(chunks), clip_shape)[2])
                clips = _batch_views(host, len(chunks), clip_shape)[0]
                pending.append((host, [pool.submit(self._load, epoch, i, clip) for i, clip in zip(chunks, clips)]))
                if len(pending) > self.prefetch:
                    host, futures = pending.popleft()
                    yield host, [f.result() for f in futures]
            while pending:
                host, futures = pending.popleft()
                yield host, [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _load(self, epoch, i, out):
        """Decode chunk i into `out` (its place in the batch buffer): (label, video), or the BadVideo error."""
        path = self.dataset.paths[self.dataset.chunk_video[i]]
        if path in self.bad_videos:
            return BadVideo(path, "already found bad")
        try:
            clip, label, video = self.dataset.get(int(i), np.random.default_rng([self.seed, epoch, int(i)]))
        except BadVideo as err:
            return err
        except Exception as err:  # not a bad video's: raised, naming the video (the epoch's thousands are unnamed)
            if path in str(err):
                raise
            raise _naming(err, f"{path} (chunk {int(i)})") from err
        out[...] = clip
        return label, video

    def _collate(self, host, results, staging):
        """Drop the chunks of bad videos, write the labels, start the copy to the device:
        (what staging.send returned, the batch's size, its video indices)."""
        good = [j for j, result in enumerate(results) if not isinstance(result, BadVideo)]
        for result in results:
            if isinstance(result, BadVideo):
                self.mark_bad(result.path, result.reason)
        clip_shape = self.dataset.clip_shape
        clips, labels = _batch_views(host, len(good), clip_shape)
        if len(good) < len(results):  # close the gaps: the good clips to the front (rare)
            clips[...] = _batch_views(host, len(results), clip_shape)[0][good]
        labels[...] = [results[j][0] for j in good]
        videos = np.array([results[j][1] for j in good], dtype=np.int64)
        return staging.send(host[:_layout(len(good), clip_shape)[2]]), len(good), videos

    def _on_device(self, collated, staging):
        """(clips, labels, videos) of a collated batch; labels are copied out of the batch buffer,
        so that keeping them does not keep the clips' memory."""
        sent, n, videos = collated
        clips, labels = _batch_views(staging.receive(sent), n, self.dataset.clip_shape)
        return clips, labels.copy(), videos

    def mark_bad(self, path, reason, warn=True):
        """Skip the chunks of video `path` from now on (warned about once, listed in bad_videos_path)."""
        if path in self.bad_videos:
            return
        self.bad_videos.append(path)
        if warn:
            warnings.warn(f"skipping bad video {path}: {reason}", stacklevel=3)
        if self.bad_videos_path:
            refuse_special_file(self.bad_videos_path, "read or appended to")  # a pipe's would never end
            os.makedirs(os.path.dirname(os.path.abspath(self.bad_videos_path)), exist_ok=True)
            listed = set()
            if os.path.exists(self.bad_videos_path):  # paths as their own bytes, also those that are not UTF-8
                with open(self.bad_videos_path, encoding="utf-8", errors="surrogateescape") as f:
                    listed = {line.rstrip("\n") for line in f}
            if path not in listed:
                append_line(self.bad_videos_path, path)

    def state_dict(self):
        """JSON-serialisable position: epoch, batches done in it, seed, and the settings and plan it depends on."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "shuffle": self.shuffle,
                "batch_size": self.batch_size, "drop_last": self.drop_last, "chunks": len(self.dataset),
                "plan": self._plan_digest(), "bad_videos": list(self.bad_videos)}

    def _plan_digest(self):
        """A digest of the dataset's plan: which video file each chunk is of, in order."""
        digest = hashlib.sha1(os.fsencode("\0".join(self.dataset.paths)))  # also paths that are not UTF-8
        digest.update(np.asarray(self.dataset.chunk_video, np.int64).tobytes())
        return digest.hexdigest()[:16]

    def load_state_dict(self, state):
        """Restore a `state_dict()`; refuses one made with another batch size, dataset or order."""
        mine = self.state_dict()
        if state.get("chunks") != mine["chunks"]:
            raise PlanChanged(f"the saved position is in a plan of {state.get('chunks')} chunks, the dataset has "
                             f"{mine['chunks']} now: its videos or split lists changed since the run started")
        if state.get("plan", mine["plan"]) != mine["plan"]:  # (no plan: saved before plans were compared)
            raise PlanChanged(f"the saved position is in a plan of {mine['chunks']} chunks of other videos, or in "
                             "another order, than the dataset's now: its videos or split lists changed since the "
                             "run started")
        for key in ("shuffle", "batch_size", "drop_last"):
            if state.get(key) != mine[key]:
                raise ValueError(f"loader state {key}={state.get(key)!r} does not match this loader's {mine[key]!r}")
        for key in ("seed", "epoch", "position"):
            check_count(f"loader state {key}", state[key], 0)  # (a KeyError when it has none)
        if state["position"] > len(self):
            raise ValueError(f"loader state position {state['position']} is past the {len(self)} batches of an epoch")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        for path in state.get("bad_videos", []):
            self.mark_bad(path, "bad in the resumed run", warn=False)
