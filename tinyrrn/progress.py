"""A small progress bar with rate and ETA, for training, evaluation and data scans.

    for x in progress(items, desc="train"): ...
    bar = Progress(total=100, desc="eval"); bar.update(1, loss=0.3); bar.close()

On a terminal the bar redraws in place on stderr (at most 10 times a second); when stderr
is not a terminal (logs, CI) nothing is drawn and `close` prints one summary line.
"""
import sys
import time


def format_time(seconds):
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def _fmt_value(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """Counts steps towards `total` (None if unknown) and reports rate, ETA and postfix values."""

    def __init__(self, total=None, desc="", stream=None, interval=0.1):
        self.total, self.desc, self.interval = total, desc, interval
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.n, self.postfix, self.closed = 0, {}, False
        self.note = ""  # text after the values, e.g. the time a whole job has left
        self.start = self._last_draw = time.monotonic()

    def update(self, n=1, **postfix):
        """Advance by `n` steps; keyword values (e.g. loss=0.3) are shown after the counts."""
        self.n += n
        self.postfix.update(postfix)
        now = time.monotonic()
        if self.live and (now - self._last_draw >= self.interval or self.n == self.total):
            self._last_draw = now
            self.stream.write("\r" + self.line() + "\033[K")
            self.stream.flush()

    def line(self):
        """The current status as one line of text."""
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        parts = [self.desc] if self.desc else []
        if self.total:
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            parts.append(f"{100 * self.n / self.total:3.0f}% {self.n}/{self.total}")
            parts.append(f"[{format_time(elapsed)}<{format_time(eta)}, {rate:.3g}/s]")
        else:
            parts.append(f"{self.n} [{format_time(elapsed)}, {rate:.3g}/s]")
        parts += [f"{key}={_fmt_value(value)}" for key, value in self.postfix.items()]
        return " ".join(parts + ([self.note] if self.note else []))

    def close(self):
        """Finish the bar: end the live line, or print the summary line when not a terminal."""
        if self.closed:
            return
        self.closed = True
        self.stream.write(("\r" if self.live else "") + self.line() + ("\033[K\n" if self.live else "\n"))
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(iterable, total=None, desc="", stream=None):
    """Yield from `iterable` while showing a `Progress` bar (total defaults to len(iterable))."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with Progress(total, desc, stream) as bar:
        for item in iterable:
            yield item
            bar.update()


class JobClock:
    """Where a job of several training runs stands (run i of n) and the time the whole job has left.

    The time left is measured on the run in progress, from the first batch it reports: its rate
    gives the rest of this run, and each run still to come is taken to last as long as this one.
    The main job's no-skip baseline trains on the same chunks but computes one step per chunk, not
    two (one after the other on one core: about 55 s for it after 80 s for the skip model), so during
    the first run the estimate errs on the long side. (Side by side: tinyrrn.beside.SharedClock.)"""

    def __init__(self, runs):
        self.runs, self.index, self.first = runs, 0, None

    def start_run(self, index):
        self.index, self.first = index, None

    def label(self):
        return f"run {self.index + 1} of {self.runs}, " if self.runs > 1 else ""

    def note(self, share):
        """'| job: 12:34 left' when this run is ``share`` (0-1) done ('' until a rate is measured)."""
        now = time.monotonic()
        if self.first is None:
            self.first = (now, share)
            return ""
        start, done = self.first[0], share - self.first[1]
        if done <= 0:
            return ""
        per_run = (now - start) / done
        left = per_run * ((1 - share) + (self.runs - self.index - 1))
        return f"| {'job' if self.runs > 1 else 'run'}: {format_time(left)} left"
