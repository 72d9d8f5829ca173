"""A strict stand-in for CuPy that runs on the CPU.

Its arrays wrap NumPy arrays but, like CuPy's, refuse implicit conversion to
NumPy (``numpy.asarray``, ``__array__``) and refuse to mix with NumPy arrays
in arithmetic or function calls. Only names that CuPy also has are offered.
Running tinyrrn on it catches, without a GPU, the two usual GPU-port bugs: a
stray host round-trip and a hard-coded ``numpy`` call on device data. Where
CuPy answers otherwise than NumPy, it refuses: a keyword argument CuPy's
function does not take (NumPy's ``initial=``, ``where=``, ``correction=``), a
``ufunc.at`` CuPy has not (only add, subtract, maximum, minimum and the bitwise
ones, in the dtypes of their atomic operations), an out-of-range integer
array index, which CuPy wraps around in silence, and argmax or argmin of a
slice holding several NaNs, of which CuPy's kernels return any one.

Host traffic is observable: inside ``with strict_xp.recording() as log:`` every
host-to-device copy (``asarray``/``array`` of host data, ``ndarray.set``), every
device-to-host read (``get``, ``item``, ``tolist``, ``float``/``int``/``bool`` of an
array: each one waits for the device) and every explicit synchronisation is
appended to ``log`` as a ``Transfer(kind, where)``, ``where`` naming the tinyrrn
line that asked for it. ``cuda`` offers the streams, events, pinned memory and
memory pool that tinyrrn uses, as no-ops on the CPU.
"""
import collections
import contextlib
import functools
import inspect
import os
import re
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


TO_DEVICE, TO_HOST, SYNCHRONIZE = "to_device", "to_host", "synchronize"
Transfer = collections.namedtuple("Transfer", "kind where")
_logs = []  # the lists of the active recording() blocks
_PLUMBING = ("backend.py", "tensor.py")  # to_numpy / Tensor.item pass requests on


def _where():
    """'tinyrrn/<file>:<line>' of the innermost tinyrrn frame that is not backend/tensor plumbing
    (else the innermost frame outside this module)."""
    tinyrrn = sys.modules.get("tinyrrn")
    package = os.path.dirname(os.path.abspath(tinyrrn.__file__)) + os.sep if tinyrrn else None
    frame, outside = sys._getframe(1), None
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.endswith("strict_xp.py"):
            inside = package and name.startswith(package)
            if inside and name[len(package):] not in _PLUMBING:
                return f"tinyrrn/{name[len(package):]}:{frame.f_lineno}"
            outside = outside or (None if inside else f"{os.path.basename(name)}:{frame.f_lineno}")
        frame = frame.f_back
    return outside or "?"


def _note(kind):
    if _logs:
        transfer = Transfer(kind, _where())
        for log in _logs:
            log.append(transfer)


@contextlib.contextmanager
def recording():
    """Collect the host traffic of the block: a list of Transfer(kind, where)."""
    log = []
    _logs.append(log)
    try:
        yield log
    finally:
        _logs.remove(log)


def _unwrap(value):
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, _FusedNumber):
        return value.value
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


_GATHERS = {"take": 1, "take_along_axis": 1, "ndarray.take": 0}  # the position of their index array
_ANY = None  # a CuPy function that takes any keyword (**kwargs), or whose parameters cannot be read
_parameters = {}


def _keywords(cupy_function):
    """The keyword arguments CuPy's function takes (a set), or _ANY: from its signature, or, for Cython functions,
    methods and ufuncs, from the one its docstring starts with (``sum(self, axis=None, dtype=None, ...)``)."""
    try:
        signature = inspect.signature(cupy_function)
    except (TypeError, ValueError):
        first = (getattr(cupy_function, "__doc__", None) or "").lstrip().split("\n", 1)[0]
        match = re.match(r"[\w.]*\((.*)\)", first)
        if match is None:
            return _ANY
        names = set()
        for part in match.group(1).replace("\\*", "*").split(","):
            part = part.split("=")[0].strip()
            if part.startswith("**"):
                return _ANY
            if part and part not in ("/", "*", "self") and not part.startswith("*"):
                names.add(part.split()[-1])  # "int axis": axis
        return frozenset(names)
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return _ANY
    return frozenset(n for n, p in signature.parameters.items() if p.kind != inspect.Parameter.POSITIONAL_ONLY)


def _check_keywords(name, cupy_function, kwargs):
    """StrictError (a TypeError, as CuPy's) for a keyword CuPy's ``name`` does not take: NumPy's ``initial=``,
    ``where=``, ``correction=``, ... have no CuPy counterpart and would fail on a GPU only."""
    if not kwargs or cupy_function is None:
        return
    key = id(cupy_function)
    if key not in _parameters:
        _parameters[key] = (_keywords(cupy_function), cupy_function)  # (kept alive: its id stays its own)
    known = _parameters[key][0]
    unknown = sorted(set(kwargs) - known) if known is not _ANY else []
    if unknown:
        raise StrictError(f"cupy's {name} takes no keyword argument {unknown[0]!r} (it takes {sorted(known)})")


@contextlib.contextmanager
def _wrapping_refused(index):
    """NumPy's IndexError for an out-of-range integer array index as a StrictError: CuPy wraps such an index around
    in silence (cupy.arange(3)[[1, 3]] is [1, 0]), in indexing, take, take_along_axis and ufunc.at; an int alone it
    refuses, as NumPy."""
    try:
        yield
    except IndexError as error:
        items = index if isinstance(index, tuple) else (index,)
        if "out of bounds" in str(error) and any(isinstance(i, (list, StrictArray)) and numpy.asarray(
                _unwrap(i)).dtype.kind in "iu" for i in items):
            raise StrictError(f"an out-of-range array index ({error}): CuPy wraps it around in silence where NumPy "
                              "raises; check the indices first") from None
        raise


def _nan_ties_refused(name, array, args, kwargs):
    """A StrictError for argmax or argmin of a float array with several NaNs in a reduced slice: CuPy's kernels (its
    own and CUB's) take a NaN as the extreme and return whichever NaN their order of reduction meets first, NumPy's
    (and PyTorch's) the first one."""
    axis = _unwrap(kwargs.get("axis", args[0] if args else None))
    if array.dtype.kind == "f" and array.size and numpy.isnan(array).sum(axis=axis).max() > 1:
        raise StrictError(f"{name} of a slice holding several NaNs: CuPy returns any one of them, NumPy the first; "
                          "find the first NaN apart (argmax of isnan)")


def _device_function(fn, name, host_inputs=False, cupy_function=None):
    def call(*args, **kwargs):
        _check_keywords(name, cupy_function, kwargs)
        if host_inputs:  # explicit host-to-device copies, as cupy.asarray allows
            if args and not isinstance(args[0], StrictArray):
                _note(TO_DEVICE)
            args = tuple(a._a if isinstance(a, StrictArray) else a for a in args)
        elif name in _GATHERS:
            with _wrapping_refused(args[_GATHERS[name]]):
                return _wrap(fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
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

    def get(self, stream=None):
        """Explicit device-to-host copy, as cupy.ndarray.get()."""
        _note(TO_HOST)
        return self._a.copy()

    def set(self, array, stream=None):
        """Explicit host-to-device copy into this array, as cupy.ndarray.set() (same shape and dtype)."""
        if not isinstance(array, numpy.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if array.dtype != self.dtype or array.shape != self.shape:
            raise ValueError(f"set: {array.dtype}{array.shape} into {self.dtype}{self.shape}")
        _note(TO_DEVICE)
        self._a[...] = array

    def item(self):
        _note(TO_HOST)
        return self._a.item()

    def tolist(self):
        _note(TO_HOST)
        return self._a.tolist()

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: _wrap(self._a.T))
    # cupy.ndarray.data: the memory pointer of the first element (its ``ptr``, an address)
    data = property(lambda self: types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0]))

    def __len__(self):
        return len(self._a)

    def __float__(self):
        _note(TO_HOST)
        return float(self._a)

    def __int__(self):
        _note(TO_HOST)
        return int(self._a)

    def __bool__(self):
        _note(TO_HOST)
        return bool(self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    def __getitem__(self, index):
        with _wrapping_refused(index):
            return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        with _wrapping_refused(index):
            self._a[_unwrap(index)] = _unwrap(value)

    def __getattr__(self, name):
        if name.startswith("__"):  # e.g. __array_interface__: numpy.asarray must not find a way in
            raise AttributeError(f"device arrays have no {name!r}")
        if _cupy is not None and not hasattr(_cupy.ndarray, name):
            raise AttributeError(f"cupy.ndarray has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)
        method = _device_function(attr, f"ndarray.{name}", cupy_function=getattr(_cupy.ndarray, name, None)
                                  if _cupy is not None else None)
        if name in ("argmax", "argmin"):
            return lambda *args, **kwargs: _nan_ties_refused(name, self._a, args, kwargs) or method(*args, **kwargs)
        return method


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
        return _device_function(self._ufunc, self._ufunc.__name__, cupy_function=getattr(_cupy, self._ufunc.__name__)
                                if _cupy is not None else None)(*args, **kwargs)

    def at(self, array, index, values):
        """CuPy's ufunc.at: a scatter of add, subtract, maximum, minimum and the bitwise ones only, at integer
        indices of its atomic operations' dtypes only (add: no int64, int8 or bool), as cupy/_core/_routines_indexing."""
        name, wrapped, index = self._ufunc.__name__, index, _unwrap(index)
        if name not in _SCATTER_DTYPES:
            raise NotImplementedError(f"`{name}.at` is not supported by CuPy")
        if any(numpy.asarray(i).dtype.kind in "iu" for i in (index if isinstance(index, tuple) else (index,))
               if not isinstance(i, (slice, int, type(None), type(Ellipsis)))) \
                and array.dtype.name not in _SCATTER_DTYPES[name].split():
            raise StrictError(f"cupy.{name}.at takes {_SCATTER_DTYPES[name]} only, not {array.dtype}")
        with _wrapping_refused(wrapped):
            self._ufunc.at(_unwrap(array), index, _unwrap(values))


_SCATTER_DTYPES = {"add": "int32 float16 float32 float64 uint32 uint64", "subtract": "int32 uint32",
                   "maximum": "int32 float32 float64 uint32 uint64", "minimum": "int32 float32 float64 uint32 uint64",
                   **dict.fromkeys(("bitwise_and", "bitwise_or", "bitwise_xor"), "int32 int64 uint32 uint64")}


def _namespace(numpy_module, cupy_module, names):
    functions = {}
    for name in names:
        if cupy_module is not None and not hasattr(cupy_module, name):
            continue
        functions[name] = _device_function(getattr(numpy_module, name), name, cupy_function=getattr(cupy_module, name)
                                           if cupy_module is not None else None)
    return types.SimpleNamespace(**functions)


def _cupy_names(namespace, cupy_namespace):
    """``namespace`` after checking that CuPy offers each of its names (when CuPy is importable)."""
    if cupy_namespace is not None:
        missing = [name for name in vars(namespace) if not hasattr(cupy_namespace, name)]
        assert not missing, f"the stand-in offers names CuPy lacks: {missing}"
    return namespace


class _MemoryPool:
    """cupy.get_default_memory_pool(): here the bytes of the live device arrays."""

    def used_bytes(self):
        return sum(w._a.nbytes for w in list(_wrappers.values()) if w._a.base is None)

    total_bytes = used_bytes

    def free_all_blocks(self, stream=None):
        pass


_memory_pool = _MemoryPool()


def get_default_memory_pool():
    return _memory_pool


class _Event:
    """cupy.cuda.Event: here every event has already happened."""

    done = True

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        pass

    def record(self, stream=None):
        pass

    def synchronize(self):
        _note(SYNCHRONIZE)


class _Stream:
    """cupy.cuda.Stream: here work runs at once, so ordering is trivially kept."""

    _current = []

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.null_stream = null

    def record(self, event=None):
        return event if event is not None else _Event()

    def wait_event(self, event):
        pass

    def synchronize(self):
        _note(SYNCHRONIZE)

    def use(self):
        _Stream._current[:] = [self]
        return self

    def __enter__(self):
        _Stream._current.append(self)
        return self

    def __exit__(self, *exc):
        _Stream._current.pop()


_Stream.null = _Stream(null=True)


class _Device:
    """cupy.cuda.Device: one device, 0."""

    id = 0

    def __init__(self, device=None):
        pass

    def use(self):
        pass

    def synchronize(self):
        _note(SYNCHRONIZE)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _get_current_stream(device_id=-1):
    return _Stream._current[-1] if _Stream._current else _Stream.null


def _alloc_pinned_memory(size):
    """Page-locked host memory on a GPU; here ordinary memory (a buffer numpy.ndarray can use)."""
    return bytearray(size)


if _cupy is not None:  # the stand-in's objects offer only what CuPy's offer
    for _ours, _theirs in ((_MemoryPool, _cupy.cuda.MemoryPool), (_Event, _cupy.cuda.Event),
                           (_Stream, _cupy.cuda.Stream), (_Device, _cupy.cuda.Device)):
        _missing = [n for n in vars(_ours) if not n.startswith("_") and not hasattr(_theirs, n)]
        assert not _missing, f"{_theirs.__name__} has no {_missing}"
cuda = _cupy_names(types.SimpleNamespace(
    Stream=_Stream, Event=_Event, Device=_Device, get_current_stream=_get_current_stream,
    alloc_pinned_memory=_alloc_pinned_memory,
    runtime=_cupy_names(types.SimpleNamespace(getDeviceCount=lambda: 1), _cupy.cuda.runtime if _cupy else None)),
    _cupy.cuda if _cupy else None)
lib = types.SimpleNamespace(stride_tricks=_namespace(
    numpy.lib.stride_tricks, _cupy.lib.stride_tricks if _cupy else None, ["as_strided"]))


class _RandomState:
    """cupy.random's generator: a state of its own, apart from NumPy's global one, drawn from the operating system's
    entropy until seed() is called (as CuPy's, without CUPY_SEED)."""

    def __init__(self):
        self._state = numpy.random.RandomState()

    def seed(self, seed=None):
        self._state.seed(None if seed is None else int(seed) % 2 ** 32)  # CuPy takes 64 bits

    def random_sample(self, size=None, dtype=float):
        return _wrap(numpy.asarray(self._state.random_sample(size)).astype(dtype, copy=False))


_random_state = _RandomState()
random = _cupy_names(types.SimpleNamespace(random_sample=_random_state.random_sample, seed=_random_state.seed),
                     _cupy.random if _cupy else None)
fused = []  # the functions fuse() compiled, in order: tests check which chains a GPU runs as one kernel


def fuse(function):
    """cupy.fuse: CuPy compiles ``function`` to one kernel; here it runs as written, on the stand-in's
    arrays (as cupy.fuse runs it on NumPy arrays), its number arguments as _FusedNumber, and is listed
    in ``fused``."""
    fused.append(function)

    @functools.wraps(function)
    def kernel(*args):
        if any(isinstance(a, numpy.generic) for a in args):
            raise StrictError(f"{function.__name__}: a NumPy number passed to a fused kernel: CuPy's fuse takes it as "
                              "a weak (Python) number, NumPy by its dtype; pass a Python number")
        return function(*(_FusedNumber(a) if isinstance(a, (int, float)) else a for a in args))
    return kernel


class _FusedNumber:
    """A number argument of a fused kernel as CuPy's fuse traces it: a variable of the kernel, not a Python
    number. It has no Python value (bool(), float(), an ``if`` on it: CuPy's TypeError), and arithmetic with
    another number, which on a GPU gives a float64 (int64) variable, no longer a weak number, that turns the
    chain's float32 math into float64, is refused (compute it on the host and pass it in); with arrays it is
    the weak Python number it holds, as there."""

    def __init__(self, value):
        self.value = value

    def _no_value(self, *args):
        raise TypeError("Cannot convert to Python scalar in cupy.fuse")

    __bool__ = __int__ = __float__ = __index__ = __complex__ = _no_value


def _number_operator(name):
    def method(self, *others):
        if others and isinstance(others[0], StrictArray):
            return NotImplemented  # the array's reflected operator takes the number
        raise StrictError(f"{name} of a number argument in a fused kernel (with {others!r}): CuPy's fuse computes it "
                          "as a float64 (int64) variable of the kernel, which turns its float32 math into float64; "
                          "compute it on the host and pass it in")
    method.__name__ = name
    return method


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor"):
    for _form in ("__{}__", "__r{}__"):
        setattr(_FusedNumber, _form.format(_op), _number_operator(_form.format(_op)))
for _op in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert"):
    setattr(_FusedNumber, f"__{_op}__", _number_operator(f"__{_op}__"))
_FusedNumber.__hash__ = None


asarray = _device_function(numpy.asarray, "asarray", host_inputs=True, cupy_function=getattr(_cupy, "asarray", None))
array = _device_function(numpy.array, "array", host_inputs=True, cupy_function=getattr(_cupy, "array", None))
ndarray = StrictArray


def __getattr__(name):
    if _cupy is not None and not hasattr(_cupy, name):
        raise AttributeError(f"cupy has no attribute {name!r}")
    attr = getattr(numpy, name)
    if isinstance(attr, numpy.ufunc):
        return _Ufunc(attr)
    if callable(attr) and not isinstance(attr, type):
        function = _device_function(attr, name, cupy_function=getattr(_cupy, name) if _cupy is not None else None)
        if name in ("argmax", "argmin"):
            return lambda array, *args, **kwargs: (_nan_ties_refused(name, _unwrap(array), args, kwargs)
                                                   or function(array, *args, **kwargs))
        if name in ("argsort", "sort"):  # CuPy's sorts are always stable, NumPy's default (quicksort) is not
            return lambda array, axis=-1, kind=None: function(array, axis=axis, kind="stable")
        return function
    return attr  # dtypes, constants


sys.modules.setdefault("strict_xp", sys.modules[__name__])
