"""PyTorch's type promotion: the dtype of an op on tensors and Python numbers (torch.result_type), and of a
tensor made from Python data (torch.tensor's inference).

NumPy's rules differ (int32 array + 2.5 is float64 there, float32 in PyTorch), so the
arithmetic ops cast their operands to :func:`result_type` before computing.
"""
import functools
import itertools
import numbers
from collections.abc import Sequence

import numpy

from .. import backend
from ..tensor import ArgumentError, DtypeError, Tensor, check_int64

DEFAULT_FLOAT = numpy.dtype("float32")  # what Python floats and int / int become (torch's default dtype)
_CATEGORIES = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < floating point
_KINDS_A_NUMBER_KEEPS = {int: "uif", float: "f"}  # int tensor + 2 stays int, float tensor * 2.5 stays float


def category(dtype):
    """0 for bool, 1 for integers, 2 for floating point (anything else is refused)."""
    kind = numpy.dtype(dtype).kind
    if kind not in _CATEGORIES:
        raise TypeError(f"unsupported dtype {dtype}: tinyrrn computes with bool, integer and float tensors")
    return _CATEGORIES[kind]


def promote(a, b):
    """The common dtype of two: a higher category wins whole (int64 with float16 is float16);
    within one category the wider (NumPy's promote_types: uint8 with int8 is int16)."""
    if a is None or b is None:
        return b if a is None else a
    wide_unsigned = {numpy.dtype(t) for t in ("uint16", "uint32", "uint64")} & {numpy.dtype(a), numpy.dtype(b)}
    if wide_unsigned and numpy.dtype(a) != numpy.dtype(b) and category(a) < 2 and category(b) < 2:
        raise DtypeError(f"Promotion for uint16, uint32, uint64 types is not supported (as in PyTorch), "
                        f"attempted to promote {a} and {b}")
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    return numpy.promote_types(a, b)


def number_fits(value, dtype, float16=True):
    """Whether a number converts to ``dtype`` as PyTorch converts a number argument, with its overflow check
    (c10's checked_convert): into an integer dtype within its range (an unsigned one takes a negative int down to
    -max, which wraps: -1 is 255); into float32, and float16 unless ``float16`` is False (where PyTorch's op rounds
    beyond its range to inf), inf, NaN or a finite value within its range; into float64 and bool any."""
    if dtype.kind in "iu":
        info = numpy.iinfo(dtype)
        wraps = dtype.kind == "u" and isinstance(value, (int, numpy.integer))
        return (-info.max if wraps else info.min) <= value <= info.max  # False for NaN and inf
    if dtype.kind == "f" and dtype.itemsize < 8 and (float16 or dtype.itemsize > 2):
        return not numpy.isfinite(value) or abs(value) <= float(numpy.finfo(dtype).max)  # in double, as PyTorch
    return True


def assigned(value, dtype, op="[]=", float16=False):
    """``value`` converted to ``dtype`` as PyTorch's x[i] = value converts it (a copy_): a tensor or array
    freely, as x.to(dtype) (a float into an int tensor rounds toward zero, NaN is PyTorch's value too); a number
    unless it overflows the dtype (number_fits: a negative int wraps into an unsigned one, -1 is 255; float16 takes
    inf, but with ``float16``, as PyTorch's fill_ and masked_fill_), as PyTorch."""
    if not isinstance(value, (numbers.Number, numpy.generic)):
        value = value.data if isinstance(value, Tensor) else value
        if not hasattr(value, "astype"):  # None, a string, a list: NumPy would parse or convert them
            raise TypeError(f"can't assign a {type(value).__name__} to a {dtype} tensor (a number, tensor or "
                            "array expected, as PyTorch)")
        with numpy.errstate(invalid="ignore", over="ignore"):
            return value.astype(dtype, copy=False)
    if isinstance(value, (complex, numpy.complexfloating)) and dtype != bool:
        raise ArgumentError(f"{op}: value {value!r} cannot be converted to type {dtype} without overflow (as PyTorch)")
    check_int64(value)
    if not number_fits(value, dtype, float16):
        raise ArgumentError(f"{op}: value {value!r} cannot be converted to type {dtype} without overflow (as PyTorch)")
    with numpy.errstate(over="ignore"):
        return numpy.asarray(value).astype(dtype)[()]


def filled(number, dtype, op="[]="):
    """A number (of a one-element tensor or array too) put at a mask as PyTorch puts it (masked_fill_), or filled in
    by new_full: converted with PyTorch's overflow check (assigned's, into float16 too)."""
    return assigned(number, dtype, op, float16=True)


def opmath(array):
    """``array`` in the dtype PyTorch computes a formula of several steps in ("opmath"): float16 as
    float32, so that the formula rounds once, at the end (``.astype(dtype, copy=False)``); any other
    array is itself (no copy)."""
    return array.astype("float32") if array.dtype == "float16" else array


def _number_dtype(value):
    if isinstance(value, (bool, numpy.bool_)):
        return numpy.dtype(bool)
    if isinstance(value, (int, numpy.integer)):
        return numpy.dtype("uint64" if value >= 2 ** 63 else "int64")  # PyTorch's type of a Python int past int64
    if isinstance(value, (float, numpy.floating)):
        return DEFAULT_FLOAT
    if isinstance(value, (complex, numpy.complexfloating)):
        raise TypeError(f"unsupported operand {value!r}: tinyrrn has no complex dtype (PyTorch would compute in one)")
    raise TypeError(f"unsupported operand {value!r} of type {type(value).__name__}: "
                    "expected a Tensor, an array or a Python number")


def result_type(*operands):
    """The dtype PyTorch gives an op on these operands (Tensors, arrays, Python numbers).

    Tensors with dimensions decide; 0-d tensors, then Python numbers, count only when of a
    higher category (bool < integer < float): int64 tensor + 2.5 is float32, float16 tensor
    + float64 0-d tensor stays float16, uint8 tensor + 300 stays uint8, bool tensor + 1 is int64.
    """
    if len(operands) == 2:  # fast paths: equal dtypes, or a number that cannot change the type
        a, b = operands if isinstance(operands[0], Tensor) else operands[::-1]
        if isinstance(a, Tensor) and (isinstance(b, Tensor) and a.dtype == b.dtype
                                      or a.dtype.kind in _KINDS_A_NUMBER_KEEPS.get(type(b), "")):
            return a.dtype
    groups = [None, None, None]  # dimensioned tensors, 0-d tensors, Python numbers
    for value in operands:
        if isinstance(value, Tensor) or (hasattr(value, "dtype") and hasattr(value, "ndim")
                                         and not isinstance(value, numpy.generic)):
            rank = 0 if value.ndim else 1
            groups[rank] = promote(groups[rank], numpy.dtype(value.dtype))
        else:
            groups[2] = promote(groups[2], _number_dtype(value))
    result = None
    for dtype in groups:
        if dtype is not None and (result is None or category(dtype) > category(result)):
            result = promote(result, dtype)
    return result


# PyTorch's scalar-type name of each dtype tinyrrn holds (its errors' 'Float', its x.type()'s torch.FloatTensor)
TORCH_NAMES = {numpy.dtype(dtype): name for dtype, name in (
    ("bool", "Bool"), ("uint8", "Byte"), ("int8", "Char"), ("int16", "Short"), ("int32", "Int"), ("int64", "Long"),
    ("uint16", "UInt16"), ("uint32", "UInt32"), ("uint64", "UInt64"), ("float16", "Half"), ("float32", "Float"),
    ("float64", "Double"))}
TORCH_DTYPES = frozenset(TORCH_NAMES)


@functools.lru_cache(maxsize=None)
def _scalar_dtype(kind):
    """The dtype torch.tensor infers for a number of type ``kind`` (None for a type that is no number)."""
    if issubclass(kind, numpy.generic):
        return numpy.dtype(kind)
    if issubclass(kind, bool):
        return numpy.dtype(bool)
    if issubclass(kind, int):
        return numpy.dtype("int64")
    if issubclass(kind, float):
        return DEFAULT_FLOAT
    return None


def dtype_argument(op, dtype):
    """An op's ``dtype`` argument (a NumPy dtype or its name; PyTorch's: the input is converted to it first), or None."""
    if dtype is None:
        return None
    try:
        dtype = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: argument 'dtype' must be a dtype (a NumPy dtype or its name), not "
                        f"{type(dtype).__name__} {dtype!r}") from None
    if dtype not in TORCH_DTYPES:
        raise TypeError(f"{op}: dtype {dtype} is not one of tinyrrn's (bool, integers, float16, float32, float64)")
    return dtype


def _is_sequence(data):
    return isinstance(data, (list, tuple, range)) or isinstance(data, Sequence) and not isinstance(data, (str, bytes))


_promoted = functools.lru_cache(maxsize=None)(promote)


def _inferred(data, numbers):
    """torch.tensor's dtype of ``data`` (its infer_scalar_type: promoted over all its items), collecting the types
    of its numbers in ``numbers``. Nested lists are looked at a depth at a time, and a number's dtype once per type."""
    dtype, level = None, [data]
    while level:
        deeper = []
        kinds = set(map(type, level))
        for kind in kinds:
            items = level if len(kinds) == 1 else [item for item in level if type(item) is kind]
            if _scalar_dtype(kind) is not None:
                numbers.add(kind)
                dtype = _promoted(dtype, _scalar_dtype(kind))
            elif kind in (list, tuple, range) or _is_sequence(items[0]):
                if not all(map(len, items)):  # as PyTorch: [] is float32
                    dtype = _promoted(dtype, DEFAULT_FLOAT)
                deeper.extend(itertools.chain.from_iterable(items))
            else:
                for item in items:
                    dtype = _promoted(dtype, _other_dtype(item))
        level = deeper
    return dtype


def _other_dtype(data):
    """The dtype of an array; PyTorch's error for anything else that is no number or sequence."""
    if isinstance(data, Tensor):
        raise TypeError("a tensor holds bools, integers or floats, not a list of tensors: stack them with "
                        "tinyrrn.functional.stack")
    if hasattr(data, "dtype") and hasattr(data, "shape"):  # an array
        return numpy.dtype(data.dtype)
    if isinstance(data, (str, bytes, complex)):
        raise TypeError(f"a tensor holds bools, integers or floats, not {type(data).__name__} (tinyrrn has no "
                        "complex dtype)" if isinstance(data, complex) else
                        f"a tensor holds bools, integers or floats, not {type(data).__name__} (as PyTorch: new(): "
                        f"invalid data type '{type(data).__name__}')")
    raise RuntimeError(f"Could not infer dtype of {type(data).__name__} (as PyTorch)")


def array_of(data, device=None, to=None):
    """An array of Python data (numbers, NumPy scalars and arrays, nested in lists or tuples) on ``device``, in the
    dtype torch.tensor infers: a NumPy scalar's or array's own, float32 for a Python float, int64 for an int, bool,
    and in a list the promotion of its items' (``[numpy.float64(1.5), 2]`` is float64, ``[numpy.float16(1), 2]``
    float16), or in the dtype ``to``, each value converted as PyTorch converts it (through a double, to a float
    dtype; through the inferred dtype to another); with PyTorch's refusals (a NumPy bool or uint64 number as an
    integer, a 0-d array first in a list, an int beyond int64)."""
    numbers = set()
    dtype = _inferred(data, numbers)
    if dtype not in TORCH_DTYPES:
        raise TypeError(f"a tensor holds bools, integers or floats, not {dtype} (as PyTorch, which refuses it or "
                        f"makes a complex tensor; tinyrrn has no complex dtype)")
    if dtype.kind in "iu" and numbers & {numpy.bool_, numpy.uint64}:
        kind = (numbers & {numpy.bool_, numpy.uint64}).pop()
        raise TypeError(f"'numpy.{kind.__name__}' object cannot be interpreted as an integer (as PyTorch, in a list "
                        f"of {dtype})")
    first = data
    while _is_sequence(first) and len(first):
        first = first[0]
        if getattr(first, "ndim", None) == 0 and not isinstance(first, numpy.generic) and first is not data:
            raise TypeError("len() of unsized object (as PyTorch: a 0-d array first in a list is read as a "
                            "sequence)")
    xp = backend.module_for(device)
    if dtype.kind != "f":
        check_int64(data)
    target = dtype if to is None else numpy.dtype(to)
    array = xp.asarray(data, dtype="float64" if "f" in (dtype.kind, target.kind) else dtype)
    if target == array.dtype:
        return array
    with numpy.errstate(over="ignore", invalid="ignore"):  # beyond float16 or float32: inf, as PyTorch
        return array.astype(target)
