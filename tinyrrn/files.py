"""Files that a crash cannot leave half-written, and append-only JSON logs.

* ``atomic_write(path)`` -- write into a temporary file beside ``path``; only a complete,
  synced file is renamed over ``path``, so a crash (even ``kill -9``) keeps the previous
  version. ``write_json`` and ``write_text`` are the common cases.
* ``JsonLog(path)`` -- one JSON record per line (``metrics.jsonl``, ``grid.jsonl``), each
  with the time it was written; ``append_line`` adds each as a line of its own.
* ``read_json(path)`` -- a JSON file, whose damage is an error naming it. What is written is JSON
  proper (``to_json``): a NaN or an infinity, which JSON has not, is null.
* ``remove_temporary_files(folder)`` -- what writers killed mid-write left behind (``is_temporary``).
* ``refuse_special_file(path)`` -- a device, pipe or socket is never read, appended to or
  replaced as a file (a read of /dev/zero or of a pipe nobody writes never ends).

Errors name the file: a full disk is ``OSError`` with ``filename`` set to the path being
written, never a bare ``[Errno 28]``, nor only NumPy's "N requested and M written"; a file
where a folder of the path should be is named by ``file_in_the_way``.
"""
import contextlib
import errno
import json
import math
import os
import tempfile
import time

TEMPORARY_SUFFIX = ".tmp"


def _naming(path, err):
    """``err`` (an OSError) as the same error about ``path``."""
    return OSError(err.errno, err.strerror or str(err), os.fspath(path))


def _short_write(err, directory):
    """NumPy's errno-less short write ("N requested and M written") as ENOSPC when ``directory``'s disk
    has no room left; any other ``err`` as it is."""
    if not isinstance(err, OSError) or err.errno is not None:
        return err
    try:
        full = os.statvfs(directory).f_bavail == 0
    except OSError:  # the folder is gone: that is not a full disk
        return err
    return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({err})") if full else err


# A path's bytes that are not UTF-8 (Linux allows them) are surrogates in Python's str; text files that
# name paths write and read them back as the same bytes.
TEXT_ERRORS = "surrogateescape"


@contextlib.contextmanager
def atomic_write(path, mode="w", newline=None):
    """A file object (``mode`` "w" or "wb") whose content replaces ``path`` only when the block ends without error.
    Its own errors (OSError) name ``path``, never the temporary file. Text is UTF-8; the surrogates that stand
    for a file name's bytes that are not UTF-8 (os.fsdecode) are written as those bytes (TEXT_ERRORS)."""
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    refuse_special_file(path, "replaced")  # renamed over, /dev/full (as root) or a pipe would be gone, not written to
    try:
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=TEMPORARY_SUFFIX, dir=directory)
    except FileExistsError:  # makedirs said only 'File exists' of a file where the folder should be
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path) from None
    except OSError as err:
        raise _naming(path, err) from None
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "errors": TEXT_ERRORS}
        with os.fdopen(fd, mode, newline=newline, **text) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        try:
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; these are ordinary files
            os.replace(temporary, path)
        except OSError as err:  # e.g. path is a folder: the error names path, not the temporary file
            raise _naming(path, err) from None
    except BaseException as err:
        err = _short_write(err, directory)  # asked before the temporary file's room is freed
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(err, OSError) and err.filename is None:
            raise _naming(path, err) from None
        raise


def special_file(path):
    """Whether ``path`` is (or links to) a device, a pipe or a socket: never read or replaced as a file (a read of
    /dev/zero or of a pipe nobody writes never ends; a rename over /dev/full replaces the device)."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def refuse_special_file(path, done="read"):
    """An OSError naming ``path`` when it is a device, pipe or socket (``special_file``): it is not ``done``."""
    if special_file(path):
        raise OSError(errno.EINVAL, f"not a regular file (a device, pipe or socket), so it is not {done}", path)


def file_in_the_way(path):
    """The nearest folder above ``path`` that exists as something else (a file), named as ``path`` names it; None
    when the nearest that exists is a folder. Of a NotADirectoryError, what the user can act on."""
    parent = os.path.dirname(os.fspath(path))
    while parent and not os.path.lexists(parent) and parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)
    return parent if parent and os.path.lexists(parent) and not os.path.isdir(parent) else None


def not_a_folder(path, what):
    """Why ``path`` is no ``what`` (a kind of folder: 'dataset folder'), in words to follow the path in an error: 'a
    file, not a dataset folder', 'no such dataset folder' (naming the file a path through one goes through); None
    when it is a folder."""
    if os.path.isdir(path):
        return None
    if os.path.isfile(path):
        return f"a file, not a {what}"
    if os.path.exists(path):
        return f"not a regular file (a device, pipe or socket), not a {what}"
    in_the_way = file_in_the_way(path)
    return f"no such {what}" + (f" ({in_the_way} is a file)" if in_the_way else "")


def write_text(path, text):
    """Replace ``path`` by ``text``, atomically."""
    with atomic_write(path) as file:
        file.write(text)


def _finite_or_null(obj):
    """``obj`` with each float that is no finite number (NaN, an infinity) as None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(value) for value in obj]
    return obj


def to_json(obj, indent=None):
    """``obj`` as JSON proper: a NaN or an infinity, which JSON has not (Python's json writes them, most readers refuse
    the whole file), is null."""
    return json.dumps(_finite_or_null(obj), indent=indent, allow_nan=False)


def write_json(path, obj, indent=1):
    """Replace ``path`` by ``obj`` as JSON (``to_json``), atomically."""
    write_text(path, to_json(obj, indent) + "\n")


def read_json(path):
    """The JSON value in ``path``; one that is not JSON (or not UTF-8) is a ValueError naming the file, and a
    device, pipe or socket an OSError naming it, unread."""
    refuse_special_file(path)
    try:
        with open(path) as file:
            return json.load(file)
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def is_temporary(name):
    """Whether the file ``name`` is one of ``atomic_write``'s temporary files: never content, only left by a writer
    killed mid-write."""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def remove_temporary_files(folder):
    """Delete the temporary files ``atomic_write`` leaves when its process is killed mid-write; returns their names."""
    if not os.path.isdir(folder):
        return []
    left = [name for name in os.listdir(folder) if is_temporary(name)]
    for name in left:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
    return left


def append_line(path, line):
    """Append ``line`` (text, without its newline) to ``path`` as a whole line of its own: a write that fails
    part-way (a full disk) is cut off again, leaving the file as it was; a last line that a crash left without
    its newline (a log is not synced as it grows) is ended first, never continued by ``line``. Errors name
    ``path``; a pipe nobody reads, which would block forever, is refused."""
    refuse_special_file(path, "appended to")
    data, size = line.encode("utf-8", TEXT_ERRORS) + b"\n", None
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as err:
        raise _naming(path, err) from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        while data:
            data = data[os.write(fd, data):]
    except OSError as err:
        if size is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
        raise _naming(path, err) from None
    finally:
        os.close(fd)


class JsonLog:
    """An append-only log of JSON records, one per line, each stamped with its ``time``."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def write(self, record):
        """Append ``record`` (a dict) as one line."""
        append_line(self.path, to_json({"time": round(time.time(), 3), **record}))

    def sync(self):
        """Put the records written so far on the disk (appends are not synced one by one): a checkpoint, which
        records the log's size, syncs it first, so that a power cut never leaves one counting records the disk lost."""
        if not os.path.exists(self.path):
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise _naming(self.path, err) from None

    def size(self):
        """Bytes written so far (0 before the first record)."""
        return os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def truncate(self, size):
        """Drop everything after the first ``size`` bytes (records written after a checkpoint that was then lost)."""
        if os.path.exists(self.path) and os.path.getsize(self.path) > size:
            os.truncate(self.path, size)

    def records(self):
        """Every record, in order."""
        if not os.path.exists(self.path):
            return []
        with open(self.path) as file:
            return [json.loads(line) for line in file if line.strip()]
