"""Stopping a run without losing it: Ctrl-C (SIGINT).

While a run trains, ``StopSignals`` turns the signal into a request: the training loop
finishes its batch, every rank agrees, a checkpoint is written at that position, and
``Interrupted`` is raised with the conventional exit code (128 + the signal number: 130 after
Ctrl-C). A second signal stops at once.
"""
import signal
import sys

HANDLED = (signal.SIGINT,)


def name(signum):
    """'Ctrl-C' for SIGINT, else the signal's name ('SIGTERM')."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class Interrupted(BaseException):
    """A signal stopped the job. ``checkpoint``: the file written at the stop, or None (stopped at once).

    A BaseException, like KeyboardInterrupt, so that ``except Exception`` does not swallow it.
    """

    def __init__(self, signum, checkpoint=None, message=""):
        self.signum, self.checkpoint = signum, checkpoint
        self.exit_code = 128 + signum
        super().__init__(message or f"stopped by {name(signum)}")


class StopSignals:
    """While active (a ``with`` block), Ctrl-C sets ``received`` instead of stopping
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
