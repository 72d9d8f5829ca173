"""Frame counts of many videos from container metadata, optionally remembered in a JSON file.

Counting never decodes (see `video.frame_count`): AVI headers are read directly, other
containers are probed with ffmpeg in a few threads. With `index_path`, counts are stored
with each file's resolved path, stamp (cache.stamp: size, mtime, ctime) and decoding rule
(video.decoder: the rule and the ffmpeg), and reused on the next start-up while those are unchanged. A count is stored only when the file's stamp was the same before and after probing it
(a video being written or copied meanwhile is probed again next time). A bad video's verdict is not
kept: it is judged again each time (they are few), so a newer rule (or ffmpeg) that reads it is not overruled
by an index written before it. A damaged index file
counts as empty, with a warning naming it. The index is optional, as the frame cache is: one that cannot
be written (a full disk, a read-only folder) is warned about, and the counts are used all the same.
"""
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

from ..files import refuse_special_file, write_json
from .cache import stamp
from . import video
from .video import BadVideo, frame_count

_ENTRY_KEYS = {"signature", "frames", "reason"}


def _signature(path):
    return [*stamp(os.stat(path)), *video.decoder()]


def _probe(path):
    """(frames, reason, signature) of one video: 0 frames and the reason for a bad one; signature None when
    the file changed while it was probed."""
    before = _signature(path)
    try:
        frames, reason = frame_count(path), None
    except BadVideo as err:
        frames, reason = 0, err.reason
    return frames, reason, before if _signature(path) == before else None


def _is_entry(entry):
    """True for a stored count as count_frames writes it: a whole number of frames, zero (with the reason)
    for a bad video (a negative count would give a video no chunks without listing it as bad)."""
    if not (isinstance(entry, dict) and entry.keys() == _ENTRY_KEYS):
        return False
    frames, reason = entry["frames"], entry["reason"]
    return (type(frames) is int and frames >= 0 and (reason is None if frames else isinstance(reason, str))
            and isinstance(entry["signature"], list))


def _read_index(index_path):
    """The entries stored in `index_path`: {} when there is none, or when it is damaged (warned about)."""
    if not index_path or not os.path.exists(index_path):
        return {}
    refuse_special_file(index_path)  # a pipe or device: its read would never end
    try:
        with open(index_path) as f:
            stored = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        problem = f"not valid JSON ({err})"
    else:
        if isinstance(stored, dict) and all(map(_is_entry, stored.values())):
            return stored
        problem = "not a JSON object of frame counts"
    warnings.warn(f"{index_path}: {problem}; counting every video again", stacklevel=3)
    return {}


def count_frames(paths, index_path=None, threads=4):
    """{path: (frames, reason)} for `paths`; frames is 0 and reason says why for a bad video."""
    stored = _read_index(index_path)
    result, todo = {}, []
    for path in paths:
        entry = stored.get(os.path.realpath(path))
        if entry is not None and entry["frames"] and entry["signature"] == _signature(path):
            result[path] = (entry["frames"], entry["reason"])
        else:
            todo.append(path)
    with ThreadPoolExecutor(threads) as pool:
        probed = dict(zip(todo, pool.map(_probe, todo)))
    result.update({path: (frames, reason) for path, (frames, reason, _) in probed.items()})
    entries = {os.path.realpath(path): {"signature": signature, "frames": frames, "reason": reason}
               for path, (frames, reason, signature) in probed.items() if signature is not None and frames}
    if index_path and entries:
        try:
            write_json(index_path, {**stored, **entries}, indent=None)
        except OSError as err:  # a full disk, a read-only cache folder: the counts are there, only not kept
            warnings.warn(f"{index_path}: cannot write the frame counts ({err.strerror or err}); going on: they "
                          "are counted again next time", stacklevel=3)
    return result
