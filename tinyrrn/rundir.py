"""A run directory: its name, its ``config.json``, and the lock that keeps it to one process.

``config.json`` holds the run's resolved settings; when a resumed run changes a setting that
may change (tinyrrn.config.MAY_CHANGE), the change is applied and listed under ``"changes"``
with the update it took effect at, and ``"run"`` is the run's identity (``new_run_id``), which its checkpoints
record too: a checkpoint of another run copied into the folder is not resumed as its own. ``RunLock`` is a lock file naming its holder (PID and host):
a second process that tries to write into a run directory in use is refused, and the lock of a
process that died is taken over with a warning.
"""
import contextlib
import datetime
import fcntl
import json
import os
import shutil
import socket
import sys
import uuid

from .cli import Failure, UsageError
from .files import is_temporary, read_json, remove_temporary_files, special_file, write_json

CHANGES_KEY = "changes"  # config.json: [{"update": u, "epoch": e, "settings": {key: [old, new]}}]
RUN_KEY = "run"  # config.json and each checkpoint's metadata: the run's identity (new_run_id)


def new_run_id():
    """The identity of a new run: random, so that two runs of the same settings (or a copy of a run's
    checkpoint in another run's folder) are never taken for one; a copy of the whole folder keeps it."""
    return uuid.uuid4().hex[:16]


def new_run_dir(config):
    """Make OUT/<date>-<name>, with a numbered suffix when that exists already (made atomically: runs started
    in the same second get one folder each); returns (its path, the topmost folder made, as ``create``)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    first = path = os.path.join(config["out"], f"{stamp}-{config['name']}")
    suffix = 1
    while True:
        try:
            return path, create(path)
        except FileExistsError:
            suffix += 1
            path = f"{first}-{suffix}"


def create(run_dir):
    """Make a new run directory (and its missing parents); returns the topmost folder made. One that cannot
    be made (a name too long, no permission, a full disk) leaves none of the parents it made behind."""
    top, parent = run_dir, os.path.dirname(os.path.abspath(run_dir))
    while not os.path.exists(parent):
        top, parent = parent, os.path.dirname(parent)
    try:
        os.makedirs(run_dir)
    except OSError:
        _remove_empty_parents(run_dir, top)
        raise
    return top


@contextlib.contextmanager
def removed_on_failure(folder, worth_keeping=lambda folder: False):
    """Make ``folder`` (and its missing parents) when it does not exist; when the block then fails, remove what was
    made unless ``worth_keeping(folder)`` (it holds what the command can go on from). A folder that existed, or a
    file in its place (refused by ``RunLock``), is left as it is."""
    try:
        made = create(folder)
    except FileExistsError:
        made = None
    try:
        yield
    except BaseException:
        if made is not None and not worth_keeping(folder):
            remove_unfinished(folder, made)
        raise


def remove_unfinished(run_dir, top):
    """Remove a run directory that ``create`` made (``top``: what it returned) and a run that failed before
    its first checkpoint left with nothing to resume; then its parents up to ``top``, if they are empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    _remove_empty_parents(run_dir, top)


def remove_unfinished_of(run_dir, top, holder):
    """``remove_unfinished`` for a rank other than 0 that stops the job before rank 0 could: only while ``run_dir``
    holds no checkpoint and its lock names rank 0's process (``holder``, what ``RunLock.acquire`` returned), so
    never a folder of the same name on another host's disk."""
    try:
        with open(os.path.join(run_dir, "lock")) as f:
            held_by = f.read().strip()
    except OSError:  # gone, or on a disk this host does not see
        return
    if held_by == holder and not os.path.lexists(os.path.join(run_dir, "checkpoint.npz")):
        remove_unfinished(run_dir, top)


def _remove_empty_parents(path, top):
    """Remove the folders above ``path``, up to ``top`` (which ``create`` made), while they are empty."""
    path, top = os.path.abspath(path), os.path.abspath(top)
    while path.startswith(top + os.sep):
        path = os.path.dirname(path)
        try:
            os.rmdir(path)
        except OSError:  # not empty: something else lives there
            return


def resumable(run_dir):
    """True when ``run_dir`` holds a run to resume (its checkpoint.npz), False when it holds none yet (no such
    folder, or no config.json). A run without its checkpoint (stopped before its first one, or the file was lost)
    is a UsageError: it is never trained afresh in place, over its log, best.npz and reports."""
    checkpoint_path, config = (os.path.join(run_dir, name) for name in ("checkpoint.npz", "config.json"))
    if os.path.isfile(checkpoint_path):
        return True
    if os.path.lexists(checkpoint_path):
        raise UsageError(f"{checkpoint_path}: not a file (a folder, or a link to nothing) where the run's checkpoint "
                         "should be; nothing was changed")
    if not os.path.isfile(config):
        return False
    raise UsageError(f"{checkpoint_path}: no checkpoint to resume from (the run was stopped before its first "
                     "checkpoint, or the file was lost or moved); nothing was changed. Put the file back to resume "
                     f"the run, or start a new run with the settings in {config} (python -m tinyrrn.train ...)")


# What each command writes first into its folder, in the order asked: the kind of folder it makes (a report's
# picture comes first, its metrics.json last)
KINDS = (("training run", "checkpoint.npz"), ("reproduce grid", "grid.json"), ("feature folder", "index.json"),
         ("evaluation report", "metrics.json"), ("evaluation report", "confusion.png"))


def folder_kind(folder):
    """What ``folder`` holds: None (no folder, or an empty one), 'training run', 'baseline run', 'reproduce grid',
    'feature folder', 'evaluation report', or 'other files'. A config.json is a baseline's when it names the
    features it was trained on, else a training run's. The one place that tells the outputs of commands apart."""
    if not os.path.isdir(folder):
        return None
    # a lock alone: a process starting in an empty folder; temporary files: left by a writer killed mid-write
    names = {name for name in os.listdir(folder) if name != "lock" and not is_temporary(name)}
    if not names:
        return None
    if "config.json" in names:
        try:
            settings = read_json(os.path.join(folder, "config.json"))
        except (OSError, ValueError):
            settings = None
        return "baseline run" if isinstance(settings, dict) and "features" in settings else "training run"
    return next((kind for kind, name in KINDS if name in names), "other files")


def refuse_other_kind(folder, kind, flag):
    """A UsageError when ``folder`` (given as ``flag``) holds the output of another command than a ``kind``;
    nothing is written into it."""
    found = folder_kind(folder)
    if found not in (None, kind):
        raise UsageError(f"{flag} {folder}: holds another command's output ({found}), not {kind}s: writing here "
                         "would mix the two up or replace its files; name another folder")


def refuse_other_run(folder, flag=None):
    """A UsageError when ``folder`` (given as ``flag``, if any), where a training run is read (to resume, evaluate,
    predict with), holds another command's output: named as such, rather than as a run missing its files. One with a
    checkpoint is a training run whatever else it holds (its config.json replaced: read_config says what is wrong)."""
    found = folder_kind(folder)
    checkpoints = [name for name in ("checkpoint.npz", "best.npz") if os.path.lexists(os.path.join(folder, name))]
    if found not in (None, "training run", "other files") and not checkpoints:
        raise UsageError(f"{flag + ' ' if flag else ''}{folder}: holds another command's output ({found}), not a "
                         "training run; name the folder of a run of python -m tinyrrn.train, or its checkpoint")
    runs = sorted(name for name in os.listdir(folder) if folder_kind(os.path.join(folder, name)) == "training run") \
        if found == "other files" and not checkpoints else []
    if runs:  # --out's folder (runs/), named where one of its runs was meant
        raise UsageError(f"{flag + ' ' if flag else ''}{folder}: a folder of {len(runs)} run director"
                         f"{'ies' if len(runs) > 1 else 'y'}, not a run directory itself: name one of them, e.g. the "
                         f"newest, {os.path.join(folder, runs[-1])}")


def read_config(run_dir):
    """(settings, changes, run id or None) from RUN_DIR/config.json; a directory without one is not a run
    directory, and a config.json that is not a JSON object (whose "changes" are a list) is refused."""
    path = os.path.join(run_dir, "config.json")
    if os.path.isfile(run_dir):  # RUN/checkpoint.npz, RUN/best.npz: the folder holding it is the run
        folder = os.path.dirname(os.path.abspath(run_dir))
        inside = f"; the run directory holding it is {folder}" if os.path.isfile(os.path.join(folder, "config.json")) \
            else ""
        raise UsageError(f"{run_dir}: a file, not a run directory{inside}")
    if not os.path.isdir(run_dir):
        raise UsageError(f"{run_dir}: no such run directory")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(f"{path}: not a file (a folder, or a link to nothing) where the run's settings should be")
    if not os.path.isfile(path) and os.path.isfile(os.path.join(run_dir, "checkpoint.npz")):
        raise UsageError(f"{path}: missing beside the run's checkpoint.npz (lost or moved); nothing was changed. "
                         "Put it back to resume the run (evaluate and predict read the checkpoint alone)")
    if not os.path.isfile(path):
        raise UsageError(f"{run_dir}: not a run directory (no config.json)")
    try:
        with open(path) as f:
            settings = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(settings, dict):
        raise UsageError(f"{path}: expected a JSON object of a run's settings, got {json.dumps(settings)[:40]}")
    changes = settings.pop(CHANGES_KEY, [])
    if not isinstance(changes, list):
        raise UsageError(f"{path}: expected {CHANGES_KEY!r} to be a list of the changes made on resuming, got "
                         f"{json.dumps(changes)[:40]}")
    run_id = settings.pop(RUN_KEY, None)
    if not isinstance(run_id, (str, type(None))):
        raise UsageError(f"{path}: expected {RUN_KEY!r} to be the run's identity (text), got {json.dumps(run_id)[:40]}")
    return settings, changes, run_id


def write_config(run_dir, config, changes=(), run_id=None):
    write_json(os.path.join(run_dir, "config.json"), {**config, **({CHANGES_KEY: list(changes)} if changes else {}),
                                                      **({RUN_KEY: run_id} if run_id else {})})


class RunLock:
    """``RUN_DIR/lock`` held (``flock``) while a process writes into the run directory.

    The file names its holder. The operating system releases the lock when the process ends,
    however it ends, so a lock file whose lock is free was left by a process that died: it is
    taken over with a warning. Leftover temporary files of that process are removed.
    """

    def __init__(self, run_dir):
        self.run_dir, self.path, self.file = run_dir, os.path.join(run_dir, "lock"), None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self):
        """Take the lock; returns the holder written into the lock file ("process PID on host HOST")."""
        if os.path.lexists(self.run_dir) and not os.path.isdir(self.run_dir):  # makedirs said only 'File exists'
            raise UsageError(f"{self.run_dir}: a file (or a link to nothing), not a folder to write into; name a "
                             "folder")
        os.makedirs(self.run_dir, exist_ok=True)
        if special_file(self.path):  # read below: a pipe nobody writes would never end
            raise UsageError(f"{self.path}: not a regular file (a device, pipe or socket) where the lock file of "
                             f"{self.run_dir} should be; remove it")
        if os.path.islink(self.path):  # written through, the file it links to would be replaced, then unlinked
            raise UsageError(f"{self.path}: a link (to {os.readlink(self.path)}), not the lock file of {self.run_dir}, "
                             "which is never written through; remove the link")
        while True:
            file = open(self.path, "a+")
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                with file:
                    raise self._in_use(file) from None
            if os.path.exists(self.path) and os.path.samefile(self.path, file.fileno()):
                break
            file.close()  # the holder removed the file as we opened it: take the new one
        file.seek(0)
        left = file.read().strip()
        if left:
            print(f"warning: {self.run_dir}: taking over the lock of {left}, which is no longer running",
                  file=sys.stderr, flush=True)
        holder = f"process {os.getpid()} on host {socket.gethostname()}"
        try:
            file.seek(0)
            file.truncate()
            file.write(holder + "\n")
            file.flush()
        except OSError as err:  # a full disk, a quota
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # as release does, still holding it: an empty lock file names no holder
            with contextlib.suppress(OSError):  # on a full disk, close flushes the text again and fails again
                file.close()
            raise Failure(f"{self.run_dir}: cannot write its lock file {self.path} ({err.strerror or err}); "
                          "nothing else was written there") from None
        self.file = file
        remove_temporary_files(self.run_dir)  # from writers of a process that was killed
        return holder

    def check_free(self):
        """Refuse, as ``acquire`` does, while another process holds the lock; takes nothing (a look before
        starting work that would take it later, e.g. a second process)."""
        try:
            file = open(self.path)
        except FileNotFoundError:  # no lock file: nobody holds it
            return
        with file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # let go when the file closes
            except BlockingIOError:
                raise self._in_use(file) from None

    def _in_use(self, file):
        """The error naming the holder, from the lock ``file`` it wrote."""
        file.seek(0)
        holder = file.read().strip() or "another process"
        return Failure(f"{self.run_dir}: in use by {holder} (lock file {self.path}); wait for it to finish or stop it")

    def release(self):
        """Remove the lock file (gone already when the run directory was deleted: nothing to do) and let go; nothing
        when the lock was not taken (``acquire`` failed: the file may be another process's)."""
        if self.file is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # while still holding it: a waiting process then opens a fresh file
        self.file.close()
