"""A strict stand-in for CuPy that runs on the CPU.

Its arrays wrap NumPy arrays but, like CuPy's, refuse implicit conversion to
NumPy (``numpy.asarray``, ``__array__``) and refuse to mix with NumPy arrays
in arithmetic or function calls. Only names that CuPy also has are offered.
Running tinyrrn on it catches, without a GPU, the two usual GPU-port bugs: a
stray host round-trip and a hard-coded ``numpy`` call on device data.
"""
import sys
import types
import weakref

import numpy

try:
    import cupy as _cupy
except ImportError:  # the names check then only uses NumPy's
    _cupy = None


class StrictError(TypeError):
    """A device array met NumPy implicitly."""


def _unwrap(value):
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, numpy.ndarray):
        raise StrictError(f"a NumPy array of shape {value.shape} was mixed with device arrays")
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, slice):
        return slice(_unwrap(value.start), _unwrap(value.stop), _unwrap(value.step))
    return value


_wrappers = weakref.WeakValueDictionary()  # one wrapper per NumPy array, so `a.base is b.base` as in CuPy


def _wrap(value):
    if isinstance(value, (numpy.ndarray, numpy.generic)):
        array = numpy.asarray(value)
        wrapper = _wrappers.get(id(array))
        if wrapper is None:
            wrapper = _wrappers[id(array)] = StrictArray(array)
        return wrapper
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return value


def _device_function(fn, name, host_inputs=False):
    def call(*args, **kwargs):
        if host_inputs:  # explicit host-to-device copies, as cupy.asarray allows
            args = tuple(a._a if isinstance(a, StrictArray) else a for a in args)
        else:
            args = _unwrap(args)
            kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs))
    call.__name__ = name
    return call


class StrictArray:
    """A device-array stand-in: NumPy semantics, no implicit trips to the host."""

    __array_ufunc__ = None  # NumPy's ufuncs and operators refuse these arrays
    __array_function__ = None

    def __init__(self, array):
        self._a = array

    def __array__(self, *args, **kwargs):
        raise StrictError("implicit conversion of a device array to NumPy; call .get()")

    def get(self):
        """Explicit device-to-host copy, as cupy.ndarray.get()."""
        return self._a.copy()

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: _wrap(self._a.T))

    def __len__(self):
        return len(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    def __getattr__(self, name):
        if name.startswith("__"):  # e.g. __array_interface__: numpy.asarray must not find a way in
            raise AttributeError(f"device arrays have no {name!r}")
        if _cupy is not None and not hasattr(_cupy.ndarray, name):
            raise AttributeError(f"cupy.ndarray has no attribute {name!r}")
        attr = getattr(self._a, name)
        return _device_function(attr, name) if callable(attr) else _wrap(attr)


def _operator(name):
    def method(self, *others):
        return _wrap(getattr(self._a, name)(*_unwrap(others)))
    method.__name__ = name
    return method


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor"):
    for _form in ("__{}__", "__r{}__"):
        setattr(StrictArray, _form.format(_op), _operator(_form.format(_op)))

    def _inplace(self, other, _name=f"__i{_op}__"):
        getattr(self._a, _name)(_unwrap(other))
        return self
    setattr(StrictArray, f"__i{_op}__", _inplace)
for _op in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_op}__", _operator(f"__{_op}__"))
StrictArray.__hash__ = None


class _Ufunc:
    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _device_function(self._ufunc, self._ufunc.__name__)(*args, **kwargs)

    def at(self, array, index, values):
        self._ufunc.at(_unwrap(array), _unwrap(index), _unwrap(values))


def _namespace(numpy_module, cupy_module, names):
    functions = {}
    for name in names:
        if cupy_module is not None and not hasattr(cupy_module, name):
            continue
        functions[name] = _device_function(getattr(numpy_module, name), name)
    return types.SimpleNamespace(**functions)


lib = types.SimpleNamespace(stride_tricks=_namespace(
    numpy.lib.stride_tricks, _cupy.lib.stride_tricks if _cupy else None, ["as_strided"]))
random = _namespace(numpy.random, _cupy.random if _cupy else None, ["random_sample", "seed"])
asarray = _device_function(numpy.asarray, "asarray", host_inputs=True)
array = _device_function(numpy.array, "array", host_inputs=True)
ndarray = StrictArray


def __getattr__(name):
    if _cupy is not None and not hasattr(_cupy, name):
        raise AttributeError(f"cupy has no attribute {name!r}")
    attr = getattr(numpy, name)
    if isinstance(attr, numpy.ufunc):
        return _Ufunc(attr)
    if callable(attr) and not isinstance(attr, type):
        return _device_function(attr, name)
    return attr  # dtypes, constants


sys.modules.setdefault("strict_xp", sys.modules[__name__])
