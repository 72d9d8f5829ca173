"""``python -m tinyrrn``: what to run."""
import sys

from . import cli

COMMANDS = (
    ("python -m tinyrrn.train", "train + evaluate on the built-in synthetic videos, with a no-skip baseline"),
    ("python -m tinyrrn.evaluate RUN_DIR", "video-level error of a trained run on its test split"),
    ("python -m tinyrrn.predict VIDEO --checkpoint RUN_DIR", "the top classes of one video"),
    ("python -m tinyrrn.reproduce", "every row of the paper's Tables 1-4, then REPORT.md"),
    ("python lessons/01_autograd.py", "the first of nine lessons (from a checkout: lessons/)"),
    ("python -m pytest", 'the tests (from a checkout, after pip install ".[test]")'),
)
MORE = ("features", "baseline", "weights", "data.check", "data.synthetic")


def refuse_arguments(argv):
    """The error line for arguments, which this menu takes none of: ``python -m tinyrrn train`` printed the menu and
    exited 0, training nothing (a script went on as if it had); it names the command that runs them."""
    names = [command.split()[2][len("tinyrrn."):] for command, _ in COMMANDS if command.startswith("python -m tinyrrn.")]
    names += list(MORE)
    if argv[0] in names:
        return f"error: python -m tinyrrn takes no arguments; run the command as python -m tinyrrn.{' '.join(argv)}"
    return (f"error: python -m tinyrrn takes no arguments ({argv[0]!r} given); the commands are "
            f"{', '.join(f'python -m tinyrrn.{name}' for name in names)}")


@cli.command
def main(argv):
    if argv and argv not in (["-h"], ["--help"]):
        print(refuse_arguments(argv), file=sys.stderr)
        return 2
    width = max(len(command) for command, _ in COMMANDS) + 2
    print('tinyrrn reproduces "Recurrent Residual Learning for Action Recognition" (Iqbal et al., 2017) in '
          "NumPy/CuPy.\n")
    for command, what in COMMANDS:
        print(f"  {command:<{width}}{what}")
    print(f"\nmore: {', '.join(f'python -m tinyrrn.{name}' for name in MORE)}.\n"
          "Every command explains its flags with --help; README.md explains the rest.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
