"""What every command line of tinyrrn shares: where to compute, how many threads, how it ends.

* ``--device {cpu,gpu,auto}``: its default is ``TINYRRN_DEVICE`` (else cpu), so the variable
  works for every command, never silently ignored;
* ``--threads N``: the one thread setting (tinyrrn.threads; default ``TINYRRN_THREADS``, else
  every core this process may use);
* ``@command``: the one wrapper of every ``main``; all but training's refuse a launch of several MPI
  ranks. An expected failure ends in one line, ``error: <file or setting>: <what is wrong>``, and an
  exit status: 2 for usage and configuration errors (``UsageError``; a path given that is missing or
  of the wrong kind), 1 for failures at run time (a ValueError, OSError or ``Failure``), 128 + N after
  signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; 141, quietly, when the reader of the output is gone:
  ``| head -1``). Running out of memory (a setting too large for this machine) is one line, status 1, too.
  ``--debug`` or ``TINYRRN_DEBUG=1`` shows the traceback;
* ``ArgumentParser``: every command's parser. ``--help`` shows each flag's default once (a help
  text that states its own default, e.g. one that depends on the data, is left as it is), and a
  mistyped flag or choice is one ``error:`` line with a "did you mean" (exit status 2), not the usage.
"""
import argparse
import contextlib
import difflib
import errno
import functools
import os
import re
import signal
import sys
import textwrap
import traceback
import warnings

from . import backend, files, memory, provenance, signals, threads

EXIT_FAILURE, EXIT_USAGE = 1, 2


class UsageError(ValueError):
    """A flag, setting or configuration that cannot work (exit status 2); the message names it."""


class Failure(RuntimeError):
    """A run that cannot go on (exit status 1); the message says why and what was kept."""


class HelpFormatter(argparse.HelpFormatter):
    """--help of every command: each default shown exactly once; descriptions keep their line breaks.

    A flag's help gets " (default: X)" unless it says "default" itself, has no default (None),
    is required, or is an on/off switch (store_true/store_false)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (re.search(r"\bdefault\b", text, re.IGNORECASE) or action.required or action.nargs == 0
                or action.default in (None, argparse.SUPPRESS, [], ())):
            return text
        return text + " (default: %(default)s)"

    def _fill_text(self, text, width, indent):
        """Wrap each line on its own, so that a list in a description or epilog stays one item a line; an item's
        (an indented line's) wrapped lines hang under it, a paragraph's stay flush."""
        lines = []
        for line in text.splitlines():
            depth = len(line) - len(line.lstrip())
            lead = indent + " " * depth
            lines.append(textwrap.fill(line.strip(), width, initial_indent=lead,
                                       subsequent_indent=lead + "    " * (depth > 0)))
        return "\n".join(lines)


class ArgumentParser(argparse.ArgumentParser):
    """The parser of every command: ``HelpFormatter``, and a usage error as one line raised as
    ``UsageError`` (exit status 2 through ``command``), with a suggestion for a mistyped choice or flag."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            names = [str(c) for c in action.choices]
            close = difflib.get_close_matches(str(value), names, n=1)
            hint = f"did you mean {close[0]}?" if close else f"choose from {', '.join(names)}"
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} ({hint})")

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)
        args, extras = super().parse_known_args(args, namespace)
        flags = [s for a in self._actions for s in a.option_strings]
        for extra in extras:
            close = difflib.get_close_matches(extra.split("=")[0], flags, n=1) if extra.startswith("-") else []
            if close:
                self.error(f"unrecognized argument {extra} (did you mean {close[0]}?)")
        self.refuse_empty_values(args)
        return args, extras

    def refuse_empty_values(self, args):
        """An empty text value (``--resume "$RUN"`` with RUN unset) is a usage error naming the flag: no flag
        of tinyrrn takes one (a path, a name, a list), and read as "not given" it would run another job."""
        for action in self._actions:
            values = getattr(args, action.dest, None) if action.type is None and action.nargs != 0 else None
            if "" in (values if isinstance(values, list) else [values]):
                name = max(action.option_strings, key=len) if action.option_strings else action.metavar or action.dest
                self.error(f"{name} '': an empty value (an unset shell variable?)")

    def error(self, message):
        raise UsageError(f"{message}{self._dash_value_hint(message)} (see {self.prog} --help)")

    def _dash_value_hint(self, message):
        """For argparse's "argument --name: expected one argument" when the value given starts with '-'
        (--name -x, --lr -1e-3): argparse reads such a value as a flag; it is given as --name=-x."""
        match = re.match(r"argument (\S+): expected (one|at least one) argument", message)
        argv = getattr(self, "_argv", [])
        for i, word in enumerate(argv[:-1] if match else []):
            if word in match.group(1).split("/") and argv[i + 1].startswith("-"):
                return (f" ({word} {argv[i + 1]}: a value starting with '-' is read as another flag; "
                        f"write {word}={argv[i + 1]})")
        return ""


def parse_script_args(parser, argv=None):
    """``parser.parse_args(argv)`` for a script that is no ``@command`` (a lesson, a benchmark): a usage error
    of this module's ``ArgumentParser`` is one ``error:`` line and exit status 2, as of a command, no traceback;
    from then on a Ctrl-C of the script is one line too (``interrupted_script``)."""
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE) from None
    sys.excepthook = interrupted_script
    return args


def interrupted_script(kind, value, tb):
    """``sys.excepthook`` of a script: a Ctrl-C (KeyboardInterrupt) is one line, not a traceback of the line it
    stopped; Python then ends the process by SIGINT (exit status 130 in a shell). Other errors as Python shows them."""
    if issubclass(kind, KeyboardInterrupt):
        print("\ninterrupted (Ctrl-C)", file=sys.stderr, flush=True)
    else:
        sys.__excepthook__(kind, value, tb)


def folder_to_write(text):
    """An argparse ``type``: a folder to write into, made when missing; one that is a file, or under a file, is a
    usage error naming it before anything runs (not a traceback of os.makedirs once the work is done)."""
    in_the_way = text if os.path.lexists(text) and not os.path.isdir(text) else files.file_in_the_way(text)
    if in_the_way:
        raise argparse.ArgumentTypeError(f"{text!r}: {in_the_way} is a file (or a link to nothing), not a folder")
    return text


def positive_number(text):
    """An argparse ``type``: a finite number above 0 (a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number above 0")
    return value


# The largest integer setting: NumPy's int64 (a C long) holds it; a larger --sample-every was a traceback
LARGEST_INTEGER = 2 ** 63 - 1


def integer_range(value, least):
    """What an integer setting out of its range must be: of at least ``least`` (for ``value`` below it or no
    integer), else at most LARGEST_INTEGER."""
    return f"an integer of at least {least}" if value is None or value < least else "an integer of at most 2**63 - 1"


def at_least(least):
    """An argparse ``type``: an integer of at least ``least``, at most LARGEST_INTEGER (else one usage
    error naming the flag)."""
    def integer(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not least <= value <= LARGEST_INTEGER:
            raise argparse.ArgumentTypeError(f"{text!r}: must be {integer_range(value, least)}")
        return value
    integer.__name__ = f"integer >= {least}"
    return integer


def default_device():
    """TINYRRN_DEVICE, or 'cpu' when it is not set."""
    return os.environ.get("TINYRRN_DEVICE", "").strip() or "cpu"


def add_compute_flags(parser, defaults=True):
    """Add --device and --threads to ``parser``. ``defaults=False`` leaves both unset when not given
    (for parsers whose values go into a training config, where the defaults are filled in later)."""
    device = {"default": default_device()} if defaults else {}
    parser.add_argument("--device", choices=backend.DEVICES, **device,
                        help="where to compute: cpu, gpu (needs CuPy) or auto (the GPU when one works, else the "
                             "CPU); default: TINYRRN_DEVICE, else cpu")
    parser.add_argument("--threads", type=int, **({"default": None} if defaults else {}),
                        help="CPU threads for BLAS and tinyrrn's thread pools; default: TINYRRN_THREADS, "
                             "else every available core")


def add_debug_flag(parser):
    """Add --debug (read by ``command`` before parsing; listed here for --help)."""
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (or TINYRRN_DEBUG=1)")


def use_compute(device, thread_count=None, recorded=None):
    """Apply --device and --threads: the default device of new arrays, and the thread pools' size;
    and keep freed host memory for reuse (tinyrrn.memory: a command owns its process, a library import does not).
    ``recorded``: {"device" or "threads": the file that gave the value (a --config file, a resumed run's
    config.json)} for those no flag gave, whose errors name that file and key."""
    recorded = recorded or {}

    def refuse(key, value, flag_error, err):
        if key in recorded and value is not None:  # (threads None: TINYRRN_THREADS, which flag_error names)
            raise UsageError(f"{recorded[key]}: {key} = {value!r}: {err}; --{key} sets another") from None
        raise UsageError(flag_error) from None
    memory.keep_freed_memory()
    try:
        threads.set_threads(thread_count)
    except ValueError as err:  # without --threads the value came from TINYRRN_THREADS, which the error names
        refuse("threads", thread_count, str(err) if thread_count is None else f"--threads: {err}", err)
    try:
        backend.set_device(device)
    except (RuntimeError, ValueError) as err:  # no CuPy, no CUDA, an unknown name
        source = "--device" if os.environ.get("TINYRRN_DEVICE", "").strip() != device else "TINYRRN_DEVICE"
        refuse("device", device, f"{source} {device}: {err}", err)


def describe(err):
    """One line saying what went wrong, naming the file when the error has one."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        in_the_way = files.file_in_the_way(err.filename) if isinstance(err, NotADirectoryError) else None
        if in_the_way:  # /dev/full, a link to nothing: no file, no folder either
            kind = "a file" if os.path.isfile(in_the_way) else "no folder"
            return f"{err.filename}: not in a folder: {in_the_way} is {kind}"
        return f"{err.filename}: {err.strerror}"
    text = str(err).strip() or type(err).__name__
    if isinstance(err, MemoryError):  # NumPy's "Unable to allocate 14.0 TiB for an array with shape ..."
        text = f"out of memory: {text}"
    return " ".join(text.split())  # one line


@contextlib.contextmanager
def writing_into(folder, elsewhere="with --out DIR"):
    """A ``folder`` (or a file in it) that this process may not write (read-only, no permission) is one error
    that says so and how to write ``elsewhere``."""
    try:
        yield
    except OSError as err:
        top = os.path.abspath(folder)
        path = os.path.abspath(os.fspath(err.filename)) if err.filename is not None else ""
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not (path + os.sep).startswith(top + os.sep):
            raise
        raise Failure(f"{describe(err)}: {folder} cannot be written into; write elsewhere {elsewhere}") from None


def debugging(argv):
    return "--debug" in argv or os.environ.get("TINYRRN_DEBUG", "") not in ("", "0")


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=file or sys.stderr, flush=True)


# Set by mpiexec/mpirun of MPICH and Intel MPI (PMI), Open MPI and MVAPICH.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_size(environ=None):
    """The number of ranks an MPI launcher started (1 when not launched by one)."""
    environ = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isascii() and value.isdigit():  # ('²'.isdigit(), but int('²') fails)
            return int(value)
    return 1


def _module_name(function):
    """The dotted name of the module that defines ``function``, also when it runs as ``python -m`` (__main__)."""
    spec = getattr(sys.modules.get(function.__module__), "__spec__", None)
    return spec.name if spec is not None else function.__module__


def _print_path_bytes():
    """Let printed paths carry their own bytes, also those that are not UTF-8 (Linux allows them; Python holds
    them as surrogates). Under most locales (en_US.UTF-8) stdout refused them, so a command that had done its
    work ended in "error: 'utf-8' codec can't encode ...", and stderr printed such a name as '\\udcff' escapes."""
    for stream, own in ((sys.stdout, sys.__stdout__), (sys.stderr, sys.__stderr__)):
        if stream is own and hasattr(stream, "reconfigure"):  # not a stream put in place by a caller (pytest's capture)
            stream.reconfigure(errors="surrogateescape")


def _reader_gone():
    """The exit status when stdout's reader is gone (``| head -1``): 128 + SIGPIPE, quietly, as for a program that
    SIGPIPE stops; stdout is pointed at nothing, so that Python's flush at exit fails no more."""
    with contextlib.suppress(OSError, ValueError):  # a stream without a file (pytest's capture) has nothing to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def _of_a_path_given(err, argv):
    """Whether ``err`` says that a path given in ``argv`` is missing or of the wrong kind (a folder where a file is
    needed, or the reverse), or lies under a file (--out notes.txt/runs): the user named a wrong path, a usage error,
    as the commands' own checks of their paths say. The same error of another path (a run's file deleted mid-run)
    is not."""
    if not isinstance(err, (FileNotFoundError, NotADirectoryError, IsADirectoryError)) or err.filename is None:
        return False
    given = {os.path.abspath(word.split("=", 1)[-1] if word.startswith("--") else word) for word in argv if word}
    if os.path.abspath(os.fsdecode(err.filename)) in given:
        return True
    in_the_way = files.file_in_the_way(err.filename) if isinstance(err, NotADirectoryError) else None
    top = os.path.abspath(os.fsdecode(in_the_way)) if in_the_way else None
    return top is not None and any(path == top or path.startswith(top + os.sep) for path in given)


def command(main=None, *, several_ranks=False):
    """Wrap a command's ``main(argv)`` so that it returns an exit status and never ends in a traceback
    for an expected failure (a ValueError or OSError with a message naming the file or setting).

    A command runs on one process unless ``several_ranks`` (``@command(several_ranks=True)``: training,
    tinyrrn.parallel): launched as several MPI ranks it would run once per rank over the same files
    (reports written at once, one run folder each), so it refuses, in one line, before anything else."""
    if main is None:
        return functools.partial(command, several_ranks=several_ranks)

    @functools.wraps(main)
    def run(argv=None):
        signals.started()
        argv = list(sys.argv[1:] if argv is None else argv)
        debug = debugging(argv)
        _print_path_bytes()
        try:
            ranks = launched_size()
            if ranks > 1 and not several_ranks:
                raise UsageError(f"python -m {_module_name(main)} runs on one process, but this is one of {ranks} MPI "
                                 "ranks: only python -m tinyrrn.train runs on several ranks; run it without mpiexec")
            with signals.outside_training(), warnings.catch_warnings(), provenance.running(_module_name(main), argv):
                if not debug:
                    # a warning is one line (not its source line), and NumPy's overflow and NaN warnings
                    # stay silent: the run's own checks of the loss and weights say it in one error line
                    warnings.showwarning = _one_line_warning
                    warnings.filterwarnings("ignore", category=RuntimeWarning)
                status = main(argv) or 0
            sys.stdout.flush()  # a reader gone is met here, not in Python's flush at exit
            return status
        except BrokenPipeError:
            return _reader_gone()
        except signals.Interrupted as stop:
            print(f"\ninterrupted ({signals.name(stop.signum)}): {stop}", file=sys.stderr, flush=True)
            return stop.exit_code
        except KeyboardInterrupt:
            print("\ninterrupted (Ctrl-C)", file=sys.stderr, flush=True)
            return 128 + 2
        except (ValueError, OSError, Failure, MemoryError) as err:  # MemoryError: a setting too large (--hidden 10**10)
            if debug:
                traceback.print_exc()
            print(f"error: {describe(err)}", file=sys.stderr, flush=True)
            return EXIT_USAGE if isinstance(err, UsageError) or _of_a_path_given(err, argv) else EXIT_FAILURE
    return run
