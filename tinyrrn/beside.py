"""A second training run of a job in a process beside this one: the main job's two models, one per core.

The main job trains two independent models (the temporal skip and its no-skip baseline). Their
small ResNet has 8- to 64-channel layers on 40x40 frames: too little work per operation to keep two
cores busy on one run, so on a 2-core machine two runs side by side, one core each, finish in the
time of the longer one instead of the sum (measured in the README). Each run keeps its own model,
data order, checkpoints and run directory; the same seed gives the same weights either way.

``RunBeside`` starts the other run in a child process (spawned, in a session of its own, with its
console output in a log file) and says how far it is (``SharedClock``). The child is stopped only
through this process: a signal this process receives is passed on (the terminal's Ctrl-C does not
reach the child directly, so that one Ctrl-C is never two); when this process fails or is
interrupted the child gets SIGTERM, writes a checkpoint at its next batch and ends, and ``--resume``
continues both runs. A child whose parent dies stops itself the same way.
"""
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback

from . import cli, signals
from .progress import JobClock, Progress, format_time


class SharedClock(JobClock):
    """The JobClock of runs side by side: run ``index`` writes its share done (0-1) into
    ``shares[index]``, shared by the processes; the job has left what its slowest run has left."""

    def __init__(self, shares, index):
        super().__init__(len(shares))
        self.shares, self.index, self.first_seen = shares, index, {}

    def label(self):
        return f"run {self.index + 1} of {self.runs} (side by side), "

    def note(self, share):
        """'| job: 01:23 left' from each run's rate since this clock first saw it ('' until all have moved)."""
        self.shares[self.index] = share
        return self.job_left()

    def job_left(self):
        now, left = time.monotonic(), []
        for run, share in enumerate(self.shares):
            start, start_share = self.first_seen.setdefault(run, (now, share))
            if share >= 1:
                left.append(0.0)
            elif share > start_share:
                left.append((now - start) / (share - start_share) * (1 - share))
            else:
                return ""
        return f"| job: {format_time(max(left))} left"


class RunBeside:
    """``target(*args)`` in a child process beside this one, on ``thread_count`` threads of the CPU,
    its console output appended to ``log_path``. ``wait`` returns its result (or raises its error);
    leaving the ``with`` block on an exception stops it with a checkpoint first."""

    def __init__(self, target, args, log_path, thread_count, label):
        self.log_path, self.label = log_path, label
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied threads or locks
        self.results, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, args=(target, args, log_path, thread_count, sender),
                                       name="tinyrrn-beside")
        self.process.start()
        sender.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None and self.process.is_alive():
            signum = error.signum if isinstance(error, signals.Interrupted) else signal.SIGTERM
            print(f"stopping {self.label} beside this run ({signals.name(signum)}: a checkpoint at its next batch; "
                  f"its output: {self.log_path})", file=sys.stderr, flush=True)
            self.signal(signum)
            self._join()

    def signal(self, signum):
        if self.process.is_alive():
            os.kill(self.process.pid, signum)

    def _join(self, clock=None):
        """Wait for the child to end, passing on the signals this process receives meanwhile; with
        ``clock`` (the child's SharedClock), show its progress until then. Returns its outcome."""
        previous = {s: signal.signal(s, lambda signum, frame: self.signal(signum)) for s in signals.HANDLED}
        bar, outcome = None, None
        if clock is not None and self.process.is_alive():
            bar = Progress(total=100, desc=f"waiting for {self.label} (run {clock.index + 1} of {clock.runs}, "
                                           f"output in {self.log_path}):")
        try:
            while self.process.is_alive():
                self.process.join(0.25)
                if outcome is None and self.results.poll():  # read as it comes: a pipe holds only so much
                    outcome = self.results.recv()
                if bar is not None:
                    bar.note = clock.job_left()
                    bar.update(int(100 * clock.shares[clock.index]) - bar.n)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if bar is not None:
                bar.close()
        if outcome is None and self.results.poll():
            outcome = self.results.recv()
        return outcome or ("failed", f"it ended with exit status {self.process.exitcode}")

    def wait(self, clock):
        """The child's result once it ends, showing its progress (``clock``: this run's SharedClock);
        raises signals.Interrupted if a signal stopped it, cli.Failure if it failed."""
        other = SharedClock(clock.shares, 1 - clock.index)
        other.first_seen = clock.first_seen
        outcome = self._join(other)
        if outcome[0] == "done":
            return outcome[1]
        if outcome[0] == "interrupted":
            raise signals.Interrupted(outcome[1], message=f"{self.label}: {outcome[2]}")
        raise cli.Failure(f"{self.label}, trained beside this run, failed: {outcome[1]} (its output: {self.log_path})")


def _child(target, args, log_path, thread_count, results):
    """The child process: its own session, output into the log, then ``target(*args)``; the outcome
    goes back through ``results`` as ('done', result), ('interrupted', signum, message) or ('failed', message)."""
    os.setsid()  # the terminal's signals reach the parent only, which passes them on
    log = open(log_path, "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        with signals.outside_training():
            cli.use_compute("cpu", thread_count)
            results.send(("done", target(*args)))
    except signals.Interrupted as stop:
        print(f"interrupted ({signals.name(stop.signum)}): {stop}", flush=True)
        results.send(("interrupted", stop.signum, str(stop)))
    except BaseException as err:  # everything, so that the parent hears of it in one line
        traceback.print_exc()
        results.send(("failed", cli.describe(err)))


def _stop_when_orphaned(parent):
    """Stop this process (with a checkpoint, as SIGTERM does) once its parent has died."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)
