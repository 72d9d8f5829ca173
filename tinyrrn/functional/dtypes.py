"""PyTorch's type promotion: the dtype of an op on tensors and Python numbers (torch.result_type).

NumPy's rules differ (int32 array + 2.5 is float64 there, float32 in PyTorch), so the
arithmetic ops cast their operands to :func:`result_type` before computing.
"""
import numpy

from ..tensor import Tensor

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
        raise TypeError(f"Promotion for uint16, uint32, uint64 types is not supported (as in PyTorch), "
                        f"attempted to promote {a} and {b}")
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    return numpy.promote_types(a, b)


def opmath(array):
    """``array`` in the dtype PyTorch computes a formula of several steps in ("opmath"): float16 as
    float32, so that the formula rounds once, at the end (``.astype(dtype, copy=False)``); any other
    array is itself (no copy)."""
    return array.astype("float32") if array.dtype == "float16" else array


def _number_dtype(value):
    if isinstance(value, (bool, numpy.bool_)):
        return numpy.dtype(bool)
    if isinstance(value, (int, numpy.integer)):
        return numpy.dtype("int64")
    if isinstance(value, (float, numpy.floating)):
        return DEFAULT_FLOAT
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
