"""Frame counts of many videos from container metadata, optionally remembered in a JSON file.

Counting never decodes (see `video.frame_count`): AVI headers are read directly, other
containers are probed with ffmpeg in a few threads. With `index_path`, counts are stored
with each file's resolved path, size and mtime and reused on the next start-up while those are unchanged.
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor

from ..files import write_json
from .video import BadVideo, frame_count


def _signature(path):
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _probe(path):
    """(frame count, None) or (0, reason) for one video."""
    try:
        return frame_count(path), None
    except BadVideo as err:
        return 0, err.reason


def count_frames(paths, index_path=None, threads=4):
    """{path: (frames, reason)} for `paths`; frames is 0 and reason says why for a bad video."""
    stored = {}
    if index_path and os.path.exists(index_path):
        with open(index_path) as f:
            stored = json.load(f)
    result, todo = {}, []
    for path in paths:
        entry = stored.get(os.path.realpath(path))
        if entry is not None and entry["signature"] == _signature(path):
            result[path] = (entry["frames"], entry["reason"])
        else:
            todo.append(path)
    with ThreadPoolExecutor(threads) as pool:
        result.update(zip(todo, pool.map(_probe, todo)))
    if index_path and todo:
        entries = {os.path.realpath(p): {"signature": _signature(p), "frames": n, "reason": r}
                   for p, (n, r) in result.items()}
        write_json(index_path, {**stored, **entries}, indent=None)
    return result
