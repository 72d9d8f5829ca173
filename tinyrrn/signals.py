"""Stopping a run without losing it: Ctrl-C (SIGINT), SIGTERM and SIGHUP.

SIGTERM is what ``kill``, ``docker stop``, Slurm and most schedulers send before they kill a
job; SIGHUP comes when a terminal closes. While a run trains, ``StopSignals`` turns each of
them into a request: the training loop finishes its batch, every rank agrees, a checkpoint is
written at that position, and ``Interrupted`` is raised with the conventional exit code
(128 + the signal number: 130 after Ctrl-C, 143 after SIGTERM). A second signal stops at once.
Outside training (``outside_training``) SIGTERM and SIGHUP stop at once, as Ctrl-C does, by an
``Interrupted`` without a checkpoint, so that clean-up code (``finally``, lock files) still runs.
After the last checkpoint (the final evaluation) ``StopAtOnce`` stops at once at any of the three,
saying that the checkpoint is kept and how to go on. Before any of that, while ``python -m tinyrrn.<command>``
is still importing, each of the three ends the process in one line (``quiet_until_started``).
"""
import os
import signal
import sys

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # in a run beside: (PASS_ON,) (listen_to_the_job_only)
PASS_ON = signal.SIGUSR1  # how the job's process passes a signal on to its run beside (tinyrrn.beside)


def name(signum):
    """'Ctrl-C' for SIGINT, "the job's stop request" for PASS_ON, else the signal's name ('SIGTERM')."""
    return {signal.SIGINT: "Ctrl-C", PASS_ON: "the job's stop request"}.get(signum) or signal.Signals(signum).name


def listen_to_the_job_only():
    """In a run beside (tinyrrn.beside): stop only at PASS_ON, the signals the job's process passes on. SIGINT,
    SIGTERM and SIGHUP stay ignored, as the child inherits them: sent to every process of the job (a terminal, a
    systemd control group, a Slurm job step), they reach the parent too, which passes them on; heard twice, the
    second stopped the run beside at once, without its checkpoint."""
    global HANDLED
    HANDLED = (PASS_ON,)


class Interrupted(BaseException):
    """A signal stopped the job. ``checkpoint``: the file written at the stop, or None (stopped at once).

    A BaseException, like KeyboardInterrupt, so that ``except Exception`` does not swallow it.
    """

    def __init__(self, signum, checkpoint=None, message=""):
        self.signum, self.checkpoint = signum, checkpoint
        self.exit_code = 128 + signum
        super().__init__(message or f"stopped by {name(signum)}")


class StopSignals:
    """While active (a ``with`` block), SIGINT, SIGTERM and SIGHUP set ``received`` instead of stopping
    the process; the loop reads it and stops at the next batch. A second signal raises Interrupted."""

    def __init__(self, announce=True):
        self.announce, self.received, self._previous = announce, 0, {}

    def __enter__(self):
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        if self.received:
            raise Interrupted(signum, message=f"{name(signum)} again: stopped at once, without a checkpoint")
        self.received = signum
        if self.announce:
            print(f"\n{name(signum)}: finishing this batch, then writing a checkpoint "
                  f"({name(signum)} again to stop at once)", file=sys.stderr, flush=True)


class StopAtOnce:
    """While active, the signals ``signums`` raise Interrupted at once, with ``checkpoint`` (the file
    kept, or None) and ``message`` (what was kept and how to go on)."""

    def __init__(self, signums, checkpoint=None, message=""):
        self.signums, self.checkpoint, self.message = signums, checkpoint, message

    def __enter__(self):
        self._previous = {s: signal.signal(s, self._stop) for s in self.signums}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _stop(self, signum, frame):
        raise Interrupted(signum, self.checkpoint, self.message)


def outside_training():
    """While active: SIGTERM and SIGHUP (a run beside's PASS_ON) raise Interrupted at once (as Ctrl-C raises
    KeyboardInterrupt)."""
    return StopAtOnce(tuple(signum for signum in HANDLED if signum != signal.SIGINT))


def _exit_while_starting(signum, frame):
    print(f"\ninterrupted ({name(signum)}) while starting", file=sys.stderr, flush=True)
    os._exit(128 + signum)  # nothing is written yet; an exception here would be a traceback through the imports


DEFAULT_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL,
                    signal.SIGHUP: signal.SIG_DFL}


def quiet_until_started():
    """Ctrl-C, SIGTERM and SIGHUP end the process at once in one line, with the exit status they have once a
    command runs (130, 143, 129), until ``started``: installed by the package while ``python -m tinyrrn.<command>``
    imports it, where a KeyboardInterrupt was a traceback of the imports and SIGTERM a silent death by the signal.
    A signal that is ignored (SIGINT in a run beside's child, SIGHUP under nohup) stays ignored."""
    for signum, default in DEFAULT_HANDLERS.items():
        if signal.getsignal(signum) is default:
            signal.signal(signum, _exit_while_starting)


def started():
    """A command runs (cli.command): the signals have their default handlers again, which the command replaces."""
    for signum, default in DEFAULT_HANDLERS.items():
        if signal.getsignal(signum) is _exit_while_starting:
            signal.signal(signum, default)
