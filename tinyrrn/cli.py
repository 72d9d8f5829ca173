"""What every command line of tinyrrn shares: where to compute and with how many threads.

* ``--device {cpu,gpu,auto}``: its default is ``TINYRRN_DEVICE`` (else cpu), so the variable
  works for every command, never silently ignored;
* ``--threads N``: the one thread setting (tinyrrn.threads; default ``TINYRRN_THREADS``, else
  every core this process may use).
"""
import os

from . import backend, threads


def default_device():
    """TINYRRN_DEVICE, or 'cpu' when it is not set."""
    return os.environ.get("TINYRRN_DEVICE", "").strip() or "cpu"


def add_compute_flags(parser, defaults=True):
    """Add --device and --threads to ``parser``. ``defaults=False`` leaves both unset when not given
    (for parsers whose values go into a training config, where the defaults are filled in later)."""
    device = {"default": default_device()} if defaults else {}
    parser.add_argument("--device", choices=backend.DEVICES, **device,
                        help="where to compute (gpu needs CuPy); default: TINYRRN_DEVICE, else cpu")
    parser.add_argument("--threads", type=int, **({"default": None} if defaults else {}),
                        help="CPU threads for BLAS and tinyrrn's thread pools; default: TINYRRN_THREADS, "
                             "else every available core")


def use_compute(device, thread_count=None):
    """Apply --device and --threads: the default device of new arrays, and the thread pools' size."""
    threads.set_threads(thread_count)
    backend.set_device(device)
