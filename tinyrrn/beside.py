"""A second training run of a job in a process beside this one: the main job's two models, one per core.

The main job trains two independent models (the temporal skip and its no-skip baseline). Their
small ResNet has 8- to 64-channel layers on 40x40 frames: too little work per operation to keep two
cores busy on one run, so on a 2-core machine two runs side by side, one core each, finish in the
time of the longer one instead of the sum (measured in the README). Each run keeps its own model,
data order, checkpoints and run directory; the same seed gives the same weights either way.

``RunBeside`` starts the other run in a child process (spawned, in a session of its own, with its
console output in a log file) and says how far it is (``SharedClock``). The child is stopped only
through this process: a signal this process receives is passed on as signals.PASS_ON, and the child
ignores SIGINT, SIGTERM and SIGHUP (the terminal's Ctrl-C, systemd's or Slurm's SIGTERM to every
process of the job, reach this process too: one signal is never two); when this process fails
or is interrupted the child gets PASS_ON, writes a checkpoint at its next batch and ends, and
``--resume`` continues both runs. A child whose parent dies stops itself the same way. A child that
fails is said at once; this run goes on, and the job ends with the child's error.
"""
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback

from . import cli, signals
from .files import refuse_special_file
from .progress import JobClock, Progress, format_time


class SharedClock(JobClock):
    """The JobClock of runs side by side: run ``index`` writes its share done (0-1) into
    ``shares[index]``, shared by the processes; the job has left what its slowest run has left."""

    def __init__(self, shares, index, watch=None):
        super().__init__(len(shares))
        self.shares, self.index, self.first_seen, self.watch = shares, index, {}, watch

    def label(self):
        return f"run {self.index + 1} of {self.runs} (side by side), "

    def note(self, share):
        """'| job: 01:23 left' from each run's rate since this clock first saw it ('' until all have moved);
        ``watch()`` first, when given (RunBeside.check: has the run beside failed?)."""
        if self.watch is not None:
            self.watch()
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
    leaving the ``with`` block on an exception stops it with a checkpoint first.

    Every signal is passed on as signals.PASS_ON, which the child treats as Ctrl-C (a checkpoint at its next
    batch; a second one stops it at once); the child ignores SIGINT, SIGTERM and SIGHUP from its start, so that
    a signal to every process of the job is never counted twice."""

    def __init__(self, target, args, log_path, thread_count, label, resume_command):
        self.log_path, self.label, self.resume_command = log_path, label, resume_command
        refuse_special_file(log_path, "written")  # the child would wait forever to open a pipe nobody reads
        self.outcome, self.received, self.raised = None, 0, None
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied threads or locks
        self.results, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, args=(target, args, log_path, thread_count, sender, os.getpid()),
                                       name="tinyrrn-beside")
        handlers = {s: signal.signal(s, signal.SIG_IGN) for s in signals.HANDLED}  # the child's from its start
        try:
            self.process.start()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        sender.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            return
        if self.process.is_alive():
            print(f"stopping {self.label} beside this run (a checkpoint at its next batch; its output: "
                  f"{self.log_path})", file=sys.stderr, flush=True)
            self.signal(signal.SIGTERM)
        outcome = self._join()
        if outcome[0] != "done" and error is not self.raised:  # what the run beside kept, before this process's error
            print(f"{self.label}: {self._kept(outcome)}", file=sys.stderr, flush=True)

    @staticmethod
    def _kept(outcome):
        """What a child that did not finish left: its checkpoint, or why not."""
        if outcome[0] == "failed":
            return f"failed: {outcome[1]}"
        return (f"checkpoint written to {outcome[2]}" if outcome[2] else
                "stopped at once, without a checkpoint (its last one stays)")

    def signal(self, signum):
        """Pass a signal this process received on to the child, as signals.PASS_ON."""
        self.received = self.received or signum
        if self.process.is_alive():
            os.kill(self.process.pid, signals.PASS_ON)

    def _receive(self):
        """The child's outcome if it has sent it (None until then, or if it died without sending)."""
        try:
            if self.outcome is None and self.results.poll():
                self.outcome = self.results.recv()
        except (EOFError, OSError):  # closed without a word: the child died
            pass
        return self.outcome

    def check(self):
        """Between this run's batches: say at once when the run beside has failed (this run goes on)."""
        if self.outcome is None and not self.process.is_alive():
            outcome = self._receive() or self._died()
            if outcome[0] == "failed":
                print(f"\nwarning: {self.label}, trained beside this run, failed: {outcome[1]} (its output: "
                      f"{self.log_path}); this run goes on, then the job ends with that error",
                      file=sys.stderr, flush=True)

    def _died(self):
        """The outcome of a child that ended without sending one: stopped by the signal this process passed on
        (before it could handle it: it was starting), or else failed."""
        if self.outcome is None and self.received and self.process.exitcode == -signals.PASS_ON:
            self.outcome = ("interrupted", signals.PASS_ON, None)
        code = self.process.exitcode
        cause = (" (killed: by the system's out-of-memory killer, or by hand)" if code == -signal.SIGKILL else
                 f" ({signals.name(-code)})" if code < 0 else "")
        self.outcome = self.outcome or ("failed", f"its process ended with exit status {code}{cause}")
        return self.outcome

    def _join(self, clock=None):
        """Wait for the child to end, passing on the signals this process receives meanwhile; with
        ``clock`` (the child's SharedClock), show its progress until then. Returns its outcome."""
        previous = {s: signal.signal(s, lambda signum, frame: self.signal(signum)) for s in signals.HANDLED}
        bar = None
        if clock is not None and self.process.is_alive():
            bar = Progress(total=100, desc=f"waiting for {self.label} (run {clock.index + 1} of {clock.runs}, "
                                           f"output in {self.log_path}):")
        try:
            while self.process.is_alive():
                self.process.join(0.25)
                self._receive()  # read as it comes: a pipe holds only so much
                if bar is not None:
                    bar.note = clock.job_left()
                    bar.update(int(100 * clock.shares[clock.index]) - bar.n)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if bar is not None:
                bar.close()
        return self._receive() or self._died()

    def wait(self, clock):
        """The child's result once it ends, showing its progress (``clock``: this run's SharedClock);
        raises signals.Interrupted if a signal stopped it, cli.Failure if it failed."""
        other = SharedClock(clock.shares, 1 - clock.index)
        other.first_seen = clock.first_seen
        outcome = self._join(other)
        if outcome[0] == "done":
            return outcome[1]
        if outcome[0] == "interrupted":
            self.raised = signals.Interrupted(self.received or outcome[1], outcome[2], f"{self.label}: "
                                              f"{self._kept(outcome)}; continue with {self.resume_command}")
        else:
            self.raised = cli.Failure(f"{self.label}, trained beside this run, failed: {outcome[1]} (its output: "
                                      f"{self.log_path})")
        raise self.raised  # says what the run beside kept: __exit__ does not say it again


def _child(target, args, log_path, thread_count, results, parent):
    """The child process: its own session, output into the log, then ``target(*args)``; the outcome
    goes back through ``results`` as ('done', result), ('interrupted', signum, checkpoint or None) or
    ('failed', message).
    ``parent``: the PID of the process that started it, which it outlives by a second at most."""
    os.setsid()  # the terminal's signals reach the parent only, which passes them on
    signals.listen_to_the_job_only()
    log = open(log_path, "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    try:
        with signals.outside_training():
            cli.use_compute("cpu", thread_count)
            outcome = ("done", target(*args))
    except signals.Interrupted as stop:
        print(f"interrupted ({signals.name(stop.signum)}): {stop}", flush=True)
        outcome = ("interrupted", stop.signum, stop.checkpoint)
    except BaseException as err:  # everything, so that the parent hears of it in one line
        traceback.print_exc()
        outcome = ("failed", cli.describe(err))
    try:
        results.send(outcome)
    except OSError:  # the parent has gone: the log holds everything
        pass


def _stop_when_orphaned(parent):
    """Stop this process (with a checkpoint, as the parent's signals do) once ``parent`` has died."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signals.PASS_ON)
