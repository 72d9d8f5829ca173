"""What made a report, so that it can be made again: the command line and the code's version (git commit).

Every command (cli.command) records its own command line while it runs, in the environment, so that the
processes it spawns (the main job's baseline beside its model) name the same one.
"""
import contextlib
import os
import shlex
import subprocess
import sys

COMMAND = "TINYRRN_COMMAND"  # the command line of the tinyrrn command that runs now


@contextlib.contextmanager
def running(module, argv):
    """``python -m module ARGV...`` is the command line of what runs inside this block."""
    before = os.environ.get(COMMAND)
    os.environ[COMMAND] = shlex.join(["python", "-m", module, *argv])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(COMMAND, None)
        else:
            os.environ[COMMAND] = before


def command_line():
    """The tinyrrn command running (``running``), else this process's own command line."""
    return os.environ.get(COMMAND) or shlex.join(getattr(sys, "orig_argv", sys.argv))


def _git(*args):
    """The output of a git command in tinyrrn's own folder, or None (no git, or not a git checkout)."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version():
    """tinyrrn's version and, when it runs from a git checkout that tracks it, the commit and whether tracked
    files differ from it (None where unknown: an installed copy)."""
    from . import __version__
    tracked = _git("ls-files", "--error-unmatch", "__init__.py") is not None
    commit = _git("rev-parse", "HEAD") if tracked else None
    changes = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"tinyrrn": __version__, "git_commit": commit, "git_modified": None if changes is None else bool(changes)}


def made_by():
    """{"command": ..., "tinyrrn": ..., "git_commit": ..., "git_modified": ...} for a report."""
    return {"command": command_line(), **code_version()}
