"""Which array module does the math: NumPy on the CPU, CuPy on a GPU.

Every op asks :func:`xp_of` for the module of its *inputs*, so the GPU path
runs exactly the same lines as the CPU path. The default device for new
tensors comes from ``TINYRRN_DEVICE`` (``cpu``, ``gpu`` or ``auto``) or
:func:`set_device`. Asking for a GPU that is not there is an error, never a
silent fallback to the CPU; ``auto`` picks the GPU only when one works.
"""
import contextlib
import os
import sys

import numpy

DEVICES = ("cpu", "gpu", "auto")
TORCH_DEVICES = {"cuda": "gpu", "cuda:0": "gpu", "cpu:0": "cpu"}  # PyTorch's names of them (tinyrrn uses one GPU)
_default_device = None  # resolved lazily from TINYRRN_DEVICE


INSTALL_GPU = ("pip install 'tinyrrn[cuda12]' or 'tinyrrn[cuda13]' (CuPy with the CUDA toolkit "
               "libraries it needs), matching the CUDA version that nvidia-smi reports")
_cupy_checked = False


def _load_cupy():
    """Import CuPy and check, once, that a CUDA device answers, compiles a kernel and multiplies."""
    global _cupy_checked
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError(f"device 'gpu' needs CuPy, which is not installed: {INSTALL_GPU}") from err
    if _cupy_checked:
        return cupy
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver or runtime missing
        raise RuntimeError(f"device 'gpu': CuPy is installed but CUDA is not usable ({err})") from err
    if count < 1:
        raise RuntimeError("device 'gpu': CuPy is installed but no CUDA device was found")
    for what, library, check in (("compile a kernel", "NVRTC", lambda: cupy.arange(4, dtype="float32") * 2),
                                 ("multiply matrices", "cuBLAS", lambda: cupy.ones((4, 4), "float32") @
                                  cupy.ones((4, 4), "float32"))):
        try:
            check()
            cupy.cuda.Device().synchronize()
        except Exception as err:  # e.g. libnvrtc.so / libcublas.so not found: only a driver is installed
            raise RuntimeError(f"device 'gpu': CuPy cannot {what} ({library}: "
                               f"{str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                               f"{INSTALL_GPU}") from err
    _cupy_checked = True
    return cupy


def gpu_available():
    """True when a CuPy-backed GPU can be used."""
    try:
        _load_cupy()
        return True
    except RuntimeError:
        return False


def device_name(device):
    """tinyrrn's name of a device: PyTorch's 'cuda' and 'cuda:0' are 'gpu', 'cpu:0' is 'cpu'; any other as given."""
    return TORCH_DEVICES.get(device, device) if isinstance(device, str) else device


def unknown_device(device, op=""):
    """The error of a device that is not tinyrrn's (nor PyTorch's name of one)."""
    return ValueError(f"{op}{': ' if op else ''}unknown device {device!r}; expected one of {DEVICES}, or PyTorch's "
                      f"{', '.join(map(repr, TORCH_DEVICES))} (tinyrrn uses one GPU)")


def check_one_gpu(op, device):
    """Refuse a ``device`` of PyTorch's cuda() (of a tensor or a module) that is not tinyrrn's one GPU: None, 0, 'gpu',
    'cuda' or 'cuda:0'."""
    if device not in (None, 0) and device_name(device) != "gpu":
        raise ValueError(f"{op}: device {device!r} is not supported by tinyrrn, which uses one GPU (device None, 0, "
                         "'cuda' or 'cuda:0')")


def resolve_device(device):
    """Turn 'cpu' / 'gpu' / 'auto' (or PyTorch's names, TORCH_DEVICES; None for the default) into 'cpu' or 'gpu'."""
    if device is None:
        device = get_device()
    device = device_name(device)
    if device not in DEVICES:
        raise unknown_device(device)
    if device == "auto":
        return "gpu" if gpu_available() else "cpu"
    if device == "gpu":
        _load_cupy()
    return device


def set_device(device):
    """Set the default device ('cpu', 'gpu' or 'auto') for new tensors and models."""
    global _default_device
    _default_device = resolve_device(device)


@contextlib.contextmanager
def device_scope(device):
    """New tensors and models go to ``device`` inside the block (as ``with torch.device(...)``); the
    default device is restored after it."""
    global _default_device
    before = _default_device
    _default_device = resolve_device(device)
    try:
        yield
    finally:
        _default_device = before


def get_device():
    """The default device, from set_device() or else TINYRRN_DEVICE (default 'cpu')."""
    global _default_device
    if _default_device is None:
        _default_device = resolve_device(os.environ.get("TINYRRN_DEVICE", "cpu"))
    return _default_device


def module_for(device):
    """The array module of a device: numpy for 'cpu', cupy for 'gpu'."""
    return numpy if resolve_device(device) == "cpu" else _load_cupy()


def xp_of(array):
    """The array module an array belongs to (numpy, cupy, or a stand-in with the same API)."""
    if isinstance(array, (numpy.ndarray, numpy.generic)):
        return numpy
    return sys.modules[type(array).__module__.split(".")[0]]


def device_of(array):
    """'cpu' for NumPy arrays, 'gpu' for anything else (CuPy)."""
    return "cpu" if xp_of(array) is numpy else "gpu"


def to_numpy(array):
    """Copy a device array to host memory (no-op for NumPy arrays)."""
    if xp_of(array) is numpy:
        return numpy.asarray(array)
    return array.get()


def to_device(array, device):
    """Move an array to 'cpu' or 'gpu' (copying only when it is not already there)."""
    target = module_for(device)
    if xp_of(array) is target:
        return array
    return target.asarray(to_numpy(array))


def device_and_dtype(op, args, device, dtype):
    """The (device, numpy dtype or None) of PyTorch's ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` and
    keyword forms: a device is 'cpu', 'gpu' or 'auto' (or PyTorch's name of one: device_name), anything else a
    dtype; and of ``to(other)``, a tensor alone: its device and dtype."""
    from .tensor import Tensor  # here: tensor.py imports this module
    if any(isinstance(arg, Tensor) for arg in args):
        if len(args) > 1 or device is not None or dtype is not None:
            raise TypeError(f"{op}: to(other) takes a tensor alone (as PyTorch), got {args!r}")
        return args[0].device, args[0].dtype
    for arg in args:
        is_device = isinstance(arg, str) and device_name(arg) in DEVICES
        if is_device and device is None:
            device = arg
        elif dtype is None and not is_device:
            dtype = arg
        else:
            raise TypeError(f"{op}: takes a device and a dtype, once each, got {args!r}")
    try:
        return device_name(device), None if dtype is None else numpy.dtype(dtype)
    except TypeError:
        if isinstance(dtype, str):
            raise unknown_device(dtype, op) from None
        raise TypeError(f"{op}: {dtype!r} is neither a device {DEVICES} nor a dtype") from None
