"""Python's operators and the tensor methods, attached to Tensor in one place.

``tinyrrn/__init__.py`` calls :func:`attach` once (as DeZero's ``setup_variable``), so
tensor.py never imports the op library and there is no import cycle. Every entry maps a
method name to the op of :mod:`tinyrrn.functional` that implements it.
"""
import functools
import inspect
import numbers
import warnings

import numpy

from . import backend
from . import functional as F
from .functional._util import (NotImplementedOp, axis_index, broadcast_shape, check_tensors, integer, numpy_names,
                               only_torch_defaults, refuse_internal_overlap, unbroadcast)
from .functional.dtypes import TORCH_NAMES, array_of, assigned, category, dtype_argument, filled
from .functional.shape import _shape_arg, check_in_range, fills_mask, index_items, ints_first, is_basic, written_view
from .grad_mode import no_grad
from .tensor import (ArgumentError, Tensor, _saved_inputs, in_place_input, make_result, records_in_place, renamed,
                     written_in_place)


_PLAIN = frozenset((Tensor, float, int, bool))  # the usual operands, passed on after one look-up


def _taking_arrays(method):
    """``method(x, other)`` with ``other`` an array (NumPy's or CuPy's) taken as a Tensor on x's device: Python's
    operators take arrays, though the ops of tinyrrn.functional, as PyTorch's, take Tensors and numbers only. An
    operand of any other type (None, a list, a type of units) is NotImplemented, as PyTorch's operators answer, so
    that Python asks its reflected method (y.__radd__(x)), and raises its TypeError when there is none."""
    def wrapped(self, other):
        if type(other) not in _PLAIN:
            if hasattr(other, "shape") and not isinstance(other, (Tensor, numpy.generic)):
                other = Tensor(other, device=self.device)
            elif not isinstance(other, (Tensor, numbers.Number, numpy.generic)):
                return NotImplemented
        return method(self, other)
    return wrapped


def _swapped(op):
    """The reflected form: ``2 - x`` calls ``x.__rsub__(2)``, which is ``op(2, x)``."""
    return lambda self, other: op(other, self)


def _reflected_div(self, other):
    """``other / x`` as PyTorch's ``__rtruediv__``: x's reciprocal times a number (two roundings, not one); an array
    (a Tensor here: _taking_arrays) divides as a Tensor would, in their promoted dtype (array(2.5) / an int tensor is
    float64, not the float32 of x's reciprocal)."""
    if isinstance(other, Tensor):
        return F.div(other, self)
    return F.mul(F.reciprocal(self), other)


def _reflected_sub(self, other):
    """``other - x``: PyTorch's node of it is rsub's."""
    return renamed(F.sub(other, self), "rsub")


def _equality(op):
    """``==`` / ``!=``: element-wise with tensors, arrays and numbers (a complex one refused: tinyrrn has no
    complex dtype); anything else (None, a string, a Fraction or Decimal) is not equal, as Python's default
    comparison says and PyTorch's answers."""
    def method(self, other):
        if isinstance(other, (Tensor, int, float, complex)) or hasattr(other, "dtype"):
            return op(self, other)
        return NotImplemented
    return method


def _original(op, old, other):
    """x as an in-place ``op`` (x.mul_(other)) that the graph records reads it: ``old`` (in_place_input(x)), or a clone
    of its values where op's node saves x for its backward, as PyTorch's saves the original (x.mul_(w): w's gradient
    is x before the change)."""
    took_grad = (old.requires_grad, getattr(other, "requires_grad", False))
    return F.clone(old) if _saved_inputs(op.__name__, took_grad)[0] else old


def _before(value, x, old):
    """``value``, or ``old`` (in_place_input(x)) where it is x itself: x *= x reads x before the change."""
    return old if value is x else value


def _is_dense(array):
    """Whether an array's elements fill one block of memory without gaps, in some order of its dimensions
    (PyTorch's is_non_overlapping_and_dense)."""
    expected = array.itemsize
    for stride, size in sorted((s, n) for s, n in zip(array.strides, array.shape) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _may_overlap(a, b):
    """NumPy's (CuPy's) bounds test of two arrays of one module: False when their memory is surely apart, at
    the cost of one comparison (a number's value is a host scalar, never in a device tensor's memory)."""
    xp = backend.xp_of(a)
    return backend.xp_of(b) is xp and a.size > 0 and b.size > 0 and xp.may_share_memory(a, b)


def _overlap(written, read):
    """How the memory of two arrays overlaps, as PyTorch's get_overlap_status: None (apart, or too hard to tell:
    memory that is not dense, which PyTorch does not check either), "full" (the same block, laid out alike) or
    "partial". NumPy's bounds test first, so that arrays apart cost one comparison."""
    if not _may_overlap(written, read):
        return None
    if not (_is_dense(written) and _is_dense(read)):
        return None
    first_written, first_read = (a[(slice(0, 1),) * a.ndim] if a.ndim else a for a in (written, read))
    same_block = _may_overlap(first_written, first_read) and written.nbytes == read.nbytes
    return "full" if same_block and written.strides == read.strides else "partial"


def _refuse_overlap(symbol, overlap):
    if overlap:
        raise RuntimeError(f"{symbol}: unsupported operation: some elements of the input tensor and the written-to "
                           f"tensor refer to a single memory location ({overlap} overlap; as PyTorch). Copy the "
                           "value first")


def _leading_ones_dropped(value, ndim):
    """``value`` without its leading size-1 dims beyond ``ndim`` (PyTorch's copy_ drops them; NumPy not at an
    int or a mask index), or itself when others are there."""
    extra = getattr(value, "ndim", 0) - ndim
    if extra <= 0 or any(n != 1 for n in value.shape[:extra]):
        return value
    return value.reshape(value.shape[extra:])


def _target(symbol, array, index):
    """Where x[index] = ... writes in x's ``array``: (target, where), target[where] the written elements; advanced
    index items (of index_items) as PyTorch applies them, the ints first (x[:, 0, :, idx] takes idx's dimension
    last: ints_first)."""
    if type(index) is tuple and not is_basic(index):
        select, where = ints_first(index)
        target = array[select] if select else array
        check_in_range(symbol, where, target.shape)
        return target, where
    return array, index


def _write(symbol, self, index, value):
    """self.data[index] = value (an array, or a number, of self's dtype), counted in self's version, at index items
    as _target applies them; a value whose shape does not fit is PyTorch's RuntimeError (here an ArgumentError), not
    NumPy's ValueError."""
    target, where = _target(symbol, self.data, index)
    if 0 in target.strides:  # an expanded tensor, or a view of one
        _expanded_write(symbol, target, where)
    try:
        try:
            target[where] = value
        except (ValueError, TypeError):
            target[where] = _leading_ones_dropped(value, target[where].ndim)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"{symbol}: a value of shape {tuple(getattr(value, 'shape', ()))} does not fit "
                            f"x[{index!r}] of x's shape {tuple(self.shape)} ({error})") from None
    self.version += 1


def _expanded_write(symbol, target, where):
    """target[where] = ..., target's elements in shared memory, as PyTorch: refused where the written elements share
    it (a copy_ at basic index items), and PyTorch's warning at advanced ones (index_put_, masked_fill_)."""
    if where is Ellipsis or is_basic(where):
        refuse_internal_overlap(symbol, target[where])
    elif any(stride == 0 and size > 1 for stride, size in zip(target.strides, target.shape)):
        warnings.warn("Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor before "
                      "performing this operation. This also applies to advanced indexing e.g. tensor[indices] = "
                      "tensor", UserWarning, stacklevel=4)


def _setitem(self, index, value):
    """``x[index] = value``: converted as PyTorch converts it (assigned) and written into x (its version
    counts the change), recorded in the graph while one is recorded for x or the value (_put; records_in_place);
    refused for a tensor or array of another dtype at an advanced index (PyTorch's index_put does not cast; a number,
    a NumPy one too, it converts, and a one-element value at a mask: filled, a tensor requiring grad cast)."""
    recorded = records_in_place("[]=", self, value)
    items = index_items("setitem", index, self.ndim)
    array = value.data if isinstance(value, Tensor) else value
    if hasattr(array, "shape") and not isinstance(array, numpy.generic) and array.size == 1 and fills_mask(items):
        if recorded and getattr(value, "requires_grad", False):
            value = _to(value, dtype=self.dtype)
        else:
            value = filled(array.item(), self.dtype)  # (of any dtype, and in x's memory too: x[mask] = x[0])
    source = self.dtype if isinstance(value, numpy.generic) else getattr(value, "dtype", self.dtype)
    if source != self.dtype and not is_basic(items):
        raise ArgumentError(f"Index put requires the source and destination dtypes match, got {self.dtype} for the "
                            f"destination and {source} for the source (as PyTorch; basic indexing casts)")
    written = assigned(value, self.dtype)
    if hasattr(written, "shape") and _may_overlap(self.data, written):
        _refuse_overlap("[]=", _overlap_of_put(self.data, items, written))
    if recorded:
        old = in_place_input(self)
        written_in_place(self, old, _put("[]=", old, items, _before(value, self, old), written))
    else:
        _write("[]=", self, items, written)


def _put(symbol, old, items, value, written):
    """x[items] = value out of place: a copy of ``old`` (in_place_input(x)) with ``written`` (value converted to x's
    dtype) at ``items``, recorded as PyTorch's node of the change (CopySlices, IndexPutBackward0, which save no
    tensor): old's gradient is g with zeros at items; value's, when a Tensor that requires grad, g at items summed
    to its shape (as broadcast into them), on its device."""
    result = Tensor(old.data.copy(order="K"))
    _write(symbol, result, items, written)
    grads_value = getattr(value, "requires_grad", False)

    def backward(g):
        kept = g.copy(order="K")
        target, where = _target(symbol, kept, items)
        target[where] = 0
        if not grads_value:
            return (kept,)
        target, where = _target(symbol, g, items)
        at = target[where]
        at = at.reshape((1,) * (value.ndim - at.ndim) + at.shape)  # (leading ones dropped by _write)
        return kept, backend.to_device(unbroadcast(at, value.shape), value.device)

    return make_result(result.data, (old, value) if grads_value else (old,), backward, "setitem")


def _overlap_of_put(data, items, value):
    """The overlap PyTorch refuses in data[items] = value, value an array in data's memory: at advanced items
    (index_put_ on the view written_view) any; at basic items (a copy) a partial one, of the value as PyTorch
    shapes it (a 0-d value fills, a broadcast one repeats elements: neither is checked, as PyTorch)."""
    if not is_basic(items):
        return _overlap(data[written_view(items)], value)
    written = data[items]
    if value.ndim == 0 or value.size != written.size:
        return None
    return _overlap(written, value.reshape(written.shape)) == "partial" and "partial"


def _fill(self, value):
    """``x.fill_(value)``, as PyTorch's: every element set to a number, converted with PyTorch's overflow check (into
    float16 too), or to a 0-d tensor's value, converted as x.to(dtype) (assigned) and written from the device it is on
    (PyTorch's copy_: a GPU tensor's is not read back to the host); an expanded tensor too (one value in shared
    memory). Recorded in the graph while one is recorded for x or the value (_put)."""
    recorded = records_in_place("fill_", self, value)
    if getattr(value, "ndim", 0):
        raise ArgumentError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions "
                            "(as PyTorch)")
    written = assigned(value, self.dtype, float16=True)  # a NumPy number, or the 0-d tensor's array (either device)
    written = written if isinstance(written, numpy.generic) else backend.to_device(written, self.device)
    if recorded:
        old = in_place_input(self)
        return written_in_place(self, old, _put("fill_", old, Ellipsis, _before(value, self, old), written))
    self.data[...] = written
    self.version += 1
    return self


def _masked_fill(self, mask, value):
    """``x.masked_fill_(mask, value)``, as PyTorch's: masked_fill written into x, whose shape the mask broadcasts to;
    recorded in the graph while one is recorded for x or the value (records_in_place)."""
    recorded = records_in_place("masked_fill_", self, value)
    if recorded:
        old = in_place_input(self)
        result = F.masked_fill(old, mask, _before(value, self, old))
    else:
        with no_grad():
            result = F.masked_fill(self, mask, value)
    if result.shape != self.shape:
        raise ArgumentError(f"masked_fill_: output with shape {list(self.shape)} doesn't match the broadcast shape "
                            f"{list(result.shape)} (as PyTorch)")
    if recorded:
        return written_in_place(self, old, result)
    _write("masked_fill_", self, Ellipsis, result.data)
    return self


def _copy(self, src, non_blocking=False):
    """``x.copy_(src)``, as PyTorch's: src's values (a tensor's, broadcast into x's shape, from any device; a number's)
    converted freely to x's dtype (an int64 300 into uint8 wraps to 44) and written into x; a source that overlaps x
    in another layout is refused. Recorded in the graph while one is recorded for x or src (_put)."""
    if isinstance(src, (numbers.Number, numpy.generic)):
        src = Tensor(src, device=self.device)
    check_tensors("copy_", src, names=("other",))
    recorded = records_in_place("copy_", self, src)
    if broadcast_shape("copy_", self.shape, src.shape) != self.shape:
        raise ArgumentError(f"copy_: output with shape {list(self.shape)} doesn't match the broadcast shape "
                            f"{list(numpy.broadcast_shapes(self.shape, src.shape))} (as PyTorch)")
    if _overlap(self.data, src.data) == "partial":  # as PyTorch
        _refuse_overlap("copy_", "partial")
    written = backend.to_device(src.data, self.device).astype(self.dtype, copy=False)
    if recorded:
        old = in_place_input(self)
        return written_in_place(self, old, _put("copy_", old, Ellipsis, _before(src, self, old), written))
    _write("copy_", self, Ellipsis, written)
    return self


def _zero(self):
    """``x.zero_()``, as PyTorch's: x.fill_(0)."""
    return _fill(self, 0)


def _needs_dim(op):
    """Tensor.softmax and Tensor.log_softmax, as PyTorch's methods: ``dim`` needed (they have no implicit one), and
    ``dtype`` second (the function's third argument is F.softmax's _stacklevel)."""
    def method(self, dim=None, dtype=None, **kwargs):
        if dim is None and kwargs.get("axis") is None:
            raise TypeError(f"{op.__name__}() missing 1 required positional argument: 'dim' (as PyTorch's Tensor method)")
        return op(self, dim=dim, dtype=dtype, **kwargs)
    return method


def _relu(self):
    """``x.relu()``, as PyTorch's method: no arguments (F.relu's inplace is the function's; x.relu_() changes x)."""
    return F.relu(self)


def _squeeze(self, *dims, **kwargs):
    """``x.squeeze(dim)``, or PyTorch's method's ``x.squeeze(0, 1)``: dims as separate arguments (not torch.squeeze's)."""
    return F.squeeze(self, dims, **kwargs) if len(dims) > 1 else F.squeeze(self, *dims, **kwargs)


def _where(self, condition, other):
    """``x.where(condition, y)``, as PyTorch's: torch.where(condition, x, y)."""
    return F.where(condition, self, other)


@numpy_names
def _size(self, dim=None):
    """``x.size()`` is the shape and ``x.size(dim)`` its length along ``dim``, as PyTorch's (the
    element count, NumPy's ``array.size``, is ``x.numel()``)."""
    if dim is None:
        return self.shape
    if self.ndim == 0:
        raise IndexError("size: Dimension specified as 0 but tensor has no dimensions (as PyTorch)")
    return self.shape[axis_index("size", dim, self.ndim)]


def _numel(self):
    """The number of elements, as PyTorch's ``x.numel()``."""
    return self.data.size


def _dim(self):
    """The number of dimensions, as PyTorch's ``x.dim()`` (also ``x.ndim``)."""
    return self.data.ndim


def _reversed(self):
    """``x.T``, as PyTorch's: a matrix transposed; any other number of dimensions reversed (0-D: the same
    value), with PyTorch's deprecation warning."""
    if self.ndim != 2:
        warnings.warn("Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
                      if self.ndim == 0 else
                      "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
                      "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
                      "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
                      "tensor.", UserWarning, stacklevel=2)
    return F.permute(self, tuple(reversed(range(self.ndim))))


def _flipped(self):
    """``reversed(x)``, as PyTorch's: x.flip(0), a tensor (a 0-d tensor is x itself), not Python's reverse iterator."""
    return F.flip(self, 0) if self.ndim else self


def _matrix_transpose(name, batches=True):
    """``x.mT`` (and ``x.H``, ``x.mH``, ``x.adjoint()``: tinyrrn has no complex dtype, so the conjugate is the value
    itself), as PyTorch's: the last two dimensions swapped, on a matrix (or, ``batches``, a batch of matrices); a
    0-D tensor is itself, with PyTorch's deprecation warning, and any other is refused."""
    def method(self):
        if self.ndim == 0:
            warnings.warn(("adjoint() is" if name == "adjoint()" else f"Tensor.{name} is") + " deprecated on 0-D "
                          "tensors. " + ("This function is the identity in these cases." if name == "mT" else
                                         "Consider using x.conj()."), UserWarning, stacklevel=2)
            return self
        if self.ndim < 2 or not batches and self.ndim > 2:
            hint = "" if self.ndim < 2 else " For batches of matrices, consider using tensor.mH"
            raise ArgumentError(f"tensor.{name} is only supported on matrices "
                                + ("or batches of matrices" if batches else "(2-D tensors)")
                                + f". Got {self.ndim}-D tensor." + hint)
        return F.transpose(self, -2, -1)
    method.__doc__ = _matrix_transpose.__doc__
    return method


def _t(self):
    """``x.t()``, as PyTorch's: a matrix transposed, a tensor of fewer dimensions as it is (a new node)."""
    if self.ndim > 2:
        raise ArgumentError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return renamed(F.permute(self, tuple(reversed(range(self.ndim)))), "t")


def _to(self, *args, device=None, dtype=None, non_blocking=False, copy=False, memory_format=None):
    """x.to(device), x.to(dtype), x.to(device, dtype) or keywords, as PyTorch: x itself when nothing changes (a copy
    with ``copy=True``), else a differentiable conversion (F.astype, F.to_device); ``non_blocking`` changes nothing
    here (tinyrrn's copies between devices wait). PyTorch's non_blocking and copy by keyword only."""
    only_torch_defaults("Tensor.to", memory_format=(memory_format, None))
    device, dtype = backend.device_and_dtype("Tensor.to", args, device, dtype)
    out = self if dtype is None or dtype == self.dtype else F.astype(self, dtype)
    out = out if device is None else F.to_device(out, device)
    return F.clone(out) if copy and out is self else out


def _sizes(op, sizes, size):
    """new_zeros' (and the others') size: ints, one tuple or list of them, or size=; PyTorch's errors."""
    if not sizes and size is None:
        raise TypeError(f'{op}() missing 1 required positional arguments: "size" (as PyTorch)')
    sizes = _shape_arg(op, sizes, size, "size")
    sizes = tuple(integer(op, "size", n) for n in sizes)
    if any(n < 0 for n in sizes):
        raise ArgumentError(f"{op}: Trying to create tensor with negative dimension: {list(sizes)} (as PyTorch)")
    return sizes


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    """``x.new_full(size, fill_value)``, as PyTorch's: a new tensor of x's dtype and device (or ``dtype``, ``device``),
    a leaf, filled with a number converted as masked_fill converts it (filled)."""
    only_torch_defaults("new_full", layout=(layout, None), pin_memory=(pin_memory, False))
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"new_full(): argument 'size' must be a tuple of ints, not {type(size).__name__} (as PyTorch)")
    if isinstance(fill_value, Tensor) and fill_value.ndim == 0:
        fill_value = fill_value.item()
    if not isinstance(fill_value, (numbers.Number, numpy.generic)):
        raise TypeError(f"new_full(): argument 'fill_value' must be a number, not {type(fill_value).__name__} "
                        "(as PyTorch)")
    dtype = self.dtype if dtype is None else dtype_argument("new_full", dtype)
    value = filled(fill_value, dtype, "new_full")
    data = backend.module_for(device or self.device).full(_sizes("new_full", (size,), None), value, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def _new(op, fill):
    """``x.new_zeros(*size)``, ``x.new_ones`` and ``x.new_empty`` (zeros too), as PyTorch's: new_full of ``fill``."""
    def method(self, *sizes, size=None, **options):
        return _new_full(self, _sizes(op, sizes, size), fill, **options)
    method.__doc__ = _new.__doc__
    return method


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    """``x.new_tensor(data)``, as PyTorch's: torch.tensor(data) of x's dtype and device (or ``dtype``, ``device``), a
    new leaf; a tensor's values are copied, with PyTorch's warning."""
    only_torch_defaults("new_tensor", layout=(layout, None), pin_memory=(pin_memory, False))
    dtype = self.dtype if dtype is None else dtype_argument("new_tensor", dtype)
    device = device or self.device
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than tensor.new_tensor("
                      "sourceTensor).", UserWarning, stacklevel=2)
        data = data.data
    if hasattr(data, "shape") and hasattr(data, "dtype") and not isinstance(data, numpy.generic):
        array = backend.to_device(data, device).astype(dtype)  # (a copy)
    else:
        array = array_of(data, device, to=dtype)
    return Tensor(array, requires_grad=requires_grad)


def _tolist(self):
    """The values as (nested lists of) Python numbers, as PyTorch's ``x.tolist()`` (a 0-d tensor's: one number)."""
    return backend.to_numpy(self.data).tolist()


def _equal(self, other):
    """``x.equal(other)``, as PyTorch's torch.equal: True when the Tensor ``other`` has x's shape and values (compared
    in their promoted dtype; NaN equals nothing), a bool."""
    if not isinstance(other, Tensor):
        raise TypeError(f"equal(): argument 'other' (position 1) must be Tensor, not {type(other).__name__}")
    if other.device != self.device:
        raise RuntimeError(f"equal(): expected both tensors on the same device, got {self.device} and {other.device} "
                           "(as PyTorch)")
    return self.shape == other.shape and bool(backend.xp_of(self.data).array_equal(self.data, other.data))


def _cpu(self):
    """``x.cpu()``, as PyTorch's: x itself on the host, else a differentiable copy there."""
    return _to(self, "cpu")


def _cuda(self, device=None, non_blocking=False):
    """``x.cuda()``, as PyTorch's: x on the GPU (tinyrrn's 'gpu'; one device: backend.check_one_gpu); without a
    usable GPU, a RuntimeError that says why."""
    backend.check_one_gpu("cuda", device)
    return _to(self, "gpu", non_blocking=non_blocking)


def _view_as(self, other):
    """``x.view_as(other)``, as PyTorch's: x.view(other.size())."""
    check_tensors("view_as", self, other)
    return F.view(self, other.shape)


def _reshape_as(self, other):
    """``x.reshape_as(other)``, as PyTorch's: x.reshape(other.size())."""
    check_tensors("reshape_as", self, other)
    return F.reshape(self, other.shape)


def _type_as(self, other):
    """``x.type_as(other)``, as PyTorch's: x.to(other.dtype) (x itself when the dtypes agree)."""
    check_tensors("type_as", self, other)
    return _to(self, dtype=other.dtype)


def _type_name(dtype, device):
    """PyTorch's name of the type of a tensor of ``dtype`` on ``device``: 'torch.FloatTensor', 'torch.cuda.LongTensor'."""
    return f"torch.{'cuda.' if device == 'gpu' else ''}{TORCH_NAMES[dtype]}Tensor"


def _type(self, dtype=None, non_blocking=False):
    """``x.type()``, as PyTorch's: the name of x's type (_type_name); ``x.type(t)``: x.to(t) for a dtype, or for such a
    name, which gives the device too ('torch.FloatTensor' is on the host), as PyTorch (x itself when nothing changes)."""
    if dtype is None:
        return _type_name(self.dtype, self.device)
    named = next(((d, device) for d in TORCH_NAMES for device in ("cpu", "gpu") if _type_name(d, device) == dtype),
                 None) if isinstance(dtype, str) else None
    if named is not None:
        return _to(self, named[1], named[0], non_blocking=non_blocking)
    try:
        dtype = dtype_argument("type", dtype)
    except TypeError:
        if isinstance(dtype, str):  # (PyTorch's error of any name it does not know)
            raise ValueError(f"type(): invalid type: {dtype!r}; expected a dtype, or a name such as "
                             "'torch.FloatTensor'") from None
        raise
    return _to(self, dtype=dtype, non_blocking=non_blocking)


def _cast(dtype):
    """``x.float()``, ``x.double()``, ``x.half()``, ``x.long()``, ``x.int()`` and ``x.bool()``: ``x.to(dtype)``, as
    PyTorch's (x itself when it has that dtype, else a differentiable conversion; PyTorch's keyword memory_format
    None only, as Tensor.to's)."""
    def method(self, *, memory_format=None):
        return _to(self, dtype=dtype, memory_format=memory_format)
    method.__doc__ = _cast.__doc__
    return method


def _in_place(op, symbol):
    """``x += y`` and the like (and x.add_(y, alpha=2), x.mul_(y)), as PyTorch: the result is written into x's array
    (its version counts the change, so a graph that saved x refuses backward), cast to x's dtype unless that goes
    down from float to integer or to bool (an integer tensor's ``/=`` is refused; int64 into uint8 wraps), as
    PyTorch's canCast, in x's shape. While a graph is recorded for x or y, the change is recorded in it as the
    op's node (records_in_place: a leaf that requires grad is refused), as PyTorch."""
    def method(self, other, **options):
        recorded = records_in_place(symbol, self, other)
        if isinstance(other, Tensor) and _overlap(self.data, other.data) == "partial":  # as PyTorch
            _refuse_overlap(symbol, "partial")
        if recorded:
            old = in_place_input(self)
            result = op(_original(op, old, other), _before(other, self, old), **options)
        else:
            with no_grad():
                result = op(self, other, **options)
        if result.shape != self.shape:
            raise RuntimeError(f"{symbol}: output with shape {list(self.shape)} doesn't match the broadcast "
                               f"shape {list(result.shape)}")
        if category(result.dtype) > category(self.dtype):  # PyTorch's canCast: int64 into uint8 wraps, as there
            raise RuntimeError(f"{symbol}: result type {result.dtype} can't be cast to the desired output type {self.dtype}")
        if recorded:
            return written_in_place(self, old, result if result.dtype == self.dtype else F.astype(result, self.dtype))
        _write(symbol, self, Ellipsis, result.data)
        return self
    return method


def _one_by_one(op):
    """Tensor.permute and Tensor.tile, as PyTorch's methods: ``x.permute(1, 0)``, dims one by one, as well as the
    function's one tuple or list, or dims= (torch.permute(x, 1, 0) is a TypeError)."""
    def method(self, *dims, **kwargs):
        if "dims" in kwargs and not dims:
            return op(self, **kwargs)
        if not dims:
            raise TypeError(f'{op.__name__}() missing 1 required positional arguments: "dims" (as PyTorch; () for a '
                            '0-d tensor)')
        return op(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims, **kwargs)
    method.__doc__ = _one_by_one.__doc__
    return method


def _is_contiguous(self, memory_format=None):
    """``x.is_contiguous()``, as PyTorch's: whether x's memory is in row-major order (memory_format None only)."""
    only_torch_defaults("is_contiguous", memory_format=(memory_format, None))
    return bool(self.data.flags.c_contiguous)


def _is_floating_point(self):
    """``x.is_floating_point()``, as PyTorch's."""
    return self.dtype.kind == "f"


def _element_size(self):
    """``x.element_size()``, as PyTorch's: the bytes of one element."""
    return self.data.itemsize


def _takes_out(op):
    """Whether the function ``op`` (under its decorators) has PyTorch's out= parameter."""
    code = getattr(inspect.unwrap(op), "__code__", None)
    return code is not None and "out" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]


def _without_out(name, op):
    """The Tensor method ``name`` of the function ``op``, which takes out= as PyTorch's function does: PyTorch's Tensor
    methods take none (x.add(y, out=None) is their TypeError), so the method refuses it."""
    @functools.wraps(op)
    def method(self, *args, **kwargs):
        if "out" in kwargs:
            raise TypeError(f"{name}() got an unexpected keyword argument 'out' (as PyTorch's Tensor method; the "
                            f"function takes it)")
        return op(self, *args, **kwargs)
    return method


# PyTorch's Tensor methods that tinyrrn has not (see _not_here)
NOT_HERE = frozenset("""cummax cummin scatter scatter_add scatter_reduce index_add index_fill index_copy
    index_put masked_scatter take take_along_dim put nonzero argwhere rot90 diff
    kthvalue median nanmedian mode unique unique_consecutive count_nonzero bincount histc
    diag_embed trace
    erfinv logcumsumexp allclose isclose nansum
    nanmean aminmax inner kron addmm baddbmm addmv tensor_split hsplit vsplit dsplit select
    index_reduce unfold as_strided stride data_ptr storage untyped_storage storage_offset share_memory_ pin_memory
    to_sparse to_dense apply_ map_ resize_ resize_as_ set_ scatter_ scatter_add_ scatter_reduce_ index_add_
    index_fill_ index_copy_ index_put_ masked_scatter_ put_ uniform_ normal_ bernoulli_ random_ exponential_
    geometric_ log_normal_ cauchy_ clamp_ clamp_min_ clamp_max_ clip_ abs_ neg_ sqrt_ rsqrt_ exp_ expm1_ log_
    log1p_ pow_ square_ reciprocal_ remainder_ floor_divide_ sign_ floor_ ceil_ round_ trunc_ sigmoid_ tanh_
    squeeze_ unsqueeze_ t_ transpose_ swapaxes_ swapdims_""".split())


def _not_here(self, name):
    """A missing attribute: NotImplementedOp (an AttributeError too) for PyTorch's methods of NOT_HERE, else
    Python's AttributeError. (Python calls it only when the usual look-up fails: no cost to the others.)"""
    if name in NOT_HERE:
        hint = f"; compute x = x.{name[:-1]}(...) instead" if name.endswith("_") and hasattr(Tensor, name[:-1]) else ""
        raise NotImplementedOp(f"Tensor.{name} is not implemented by tinyrrn (PyTorch's method){hint}")
    raise AttributeError(f"'Tensor' object has no attribute {name!r}")

OPERATORS = {
    # arithmetic, with broadcasting and PyTorch's type promotion
    "__add__": F.add, "__radd__": F.add,  # PyTorch's x.__radd__(s) is add(x, s), as __rmul__
    "__sub__": F.sub, "__rsub__": _reflected_sub,
    "__mul__": F.mul, "__rmul__": F.mul,  # PyTorch's x.__rmul__(s) is mul(x, s): s is the scalar operand
    "__truediv__": F.div, "__rtruediv__": _reflected_div,
    "__floordiv__": F.floor_divide, "__rfloordiv__": _swapped(F.floor_divide),
    "__pow__": F.pow, "__rpow__": _swapped(F.pow),
    "__mod__": F.remainder, "__rmod__": _swapped(F.remainder),
    "__iadd__": _in_place(F.add, "+="), "__isub__": _in_place(F.sub, "-="),
    "__imul__": _in_place(F.mul, "*="), "__itruediv__": _in_place(F.div, "/="),
    "__ifloordiv__": _in_place(F.floor_divide, "//="), "__ipow__": _in_place(F.pow, "**="),
    "__imod__": _in_place(F.remainder, "%="),
    "__matmul__": F.matmul, "__rmatmul__": _swapped(F.matmul),
    # bitwise, of bool and integer tensors (masks: m1 & m2), without gradient
    "__and__": F.bitwise_and, "__rand__": F.bitwise_and, "__or__": F.bitwise_or, "__ror__": F.bitwise_or,
    "__xor__": F.bitwise_xor, "__rxor__": F.bitwise_xor,
    "__iand__": _in_place(F.bitwise_and, "&="), "__ior__": _in_place(F.bitwise_or, "|="),
    "__ixor__": _in_place(F.bitwise_xor, "^="),
    "__lshift__": F.bitwise_left_shift, "__rlshift__": _swapped(F.bitwise_left_shift),
    "__rshift__": F.bitwise_right_shift, "__rrshift__": _swapped(F.bitwise_right_shift),
    "__ilshift__": _in_place(F.bitwise_left_shift, "<<="), "__irshift__": _in_place(F.bitwise_right_shift, ">>="),
    # comparisons: bool tensors without gradient
    "__lt__": F.lt, "__le__": F.le, "__gt__": F.gt, "__ge__": F.ge,
    "__eq__": _equality(F.eq), "__ne__": _equality(F.ne),
}
OPERATORS = {name: _taking_arrays(op) for name, op in OPERATORS.items()}  # x + array: see _taking_arrays

METHODS = {
    **OPERATORS,
    "__neg__": F.neg, "__pos__": F.positive, "__abs__": F.abs, "__invert__": F.bitwise_not,
    "__getitem__": F.getitem, "__setitem__": _setitem, "__reversed__": _flipped,
    # reductions and shapes
    "sum": F.sum, "mean": F.mean, "max": F.max, "min": F.min, "amax": F.amax, "amin": F.amin, "argmax": F.argmax,
    "argmin": F.argmin, "var": F.var, "std": F.std, "all": F.all, "any": F.any,
    "prod": F.prod, "cumsum": F.cumsum, "cumprod": F.cumprod,
    "sort": F.sort, "argsort": F.argsort, "topk": F.topk, "norm": F.norm, "logsumexp": F.logsumexp,
    "reshape": F.reshape, "view": F.view, "clone": F.clone, "contiguous": F.contiguous, "transpose": F.transpose,
    "permute": _one_by_one(F.permute), "flatten": F.flatten, "squeeze": _squeeze, "unsqueeze": F.unsqueeze, "expand": F.expand,
    "expand_as": F.expand_as, "repeat": F.repeat, "flip": F.flip, "view_as": _view_as, "reshape_as": _reshape_as,
    "split": F.split, "chunk": F.chunk, "gather": F.gather, "index_select": F.index_select, "unbind": F.unbind,
    "narrow": F.narrow, "movedim": F.movedim, "moveaxis": F.movedim, "tile": _one_by_one(F.tile), "unflatten": F.unflatten,
    "ravel": F.ravel, "broadcast_to": F.broadcast_to, "diag": F.diag, "diagonal": F.diagonal,
    "masked_select": F.masked_select, "roll": F.roll, "tril": F.tril, "triu": F.triu,
    # element-wise functions
    "add": F.add, "sub": F.sub, "mul": F.mul, "neg": F.neg, "positive": F.positive, "remainder": F.remainder, "floor_divide": F.floor_divide,
    "matmul": F.matmul, "mm": F.mm, "bmm": F.bmm, "mv": F.mv, "dot": F.dot, "outer": F.outer, "cross": F.cross,
    "exp": F.exp, "log": F.log, "relu": _relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "rsqrt": F.rsqrt,
    "log1p": F.log1p, "expm1": F.expm1, "sign": F.sign, "sgn": F.sign, "floor": F.floor, "ceil": F.ceil,
    "round": F.round, "trunc": F.trunc,
    "erf": F.erf, "erfc": F.erfc,
    "sin": F.sin, "cos": F.cos, "tan": F.tan, "asin": F.asin, "acos": F.acos, "atan": F.atan, "sinh": F.sinh,
    "cosh": F.cosh, "asinh": F.asinh, "acosh": F.acosh, "atanh": F.atanh, "exp2": F.exp2, "log2": F.log2,
    "log10": F.log10, "frac": F.frac, "sinc": F.sinc, "logit": F.logit, "nan_to_num": F.nan_to_num,
    "arcsin": F.asin, "arccos": F.acos, "arctan": F.atan, "arcsinh": F.asinh, "arccosh": F.acosh, "arctanh": F.atanh,
    "atan2": F.atan2, "arctan2": F.atan2, "hypot": F.hypot, "fmod": F.fmod, "fmin": F.fmin, "fmax": F.fmax,
    "logaddexp": F.logaddexp, "xlogy": F.xlogy, "lerp": F.lerp, "float_power": F.float_power,
    "absolute": F.abs, "negative": F.neg, "multiply": F.mul, "divide": F.div, "true_divide": F.div,
    "subtract": F.sub, "greater": F.gt, "greater_equal": F.ge, "less": F.lt, "less_equal": F.le, "not_equal": F.ne,
    "pow": F.pow, "div": F.div, "reciprocal": F.reciprocal, "abs": F.abs, "sqrt": F.sqrt, "square": F.square,
    "clamp": F.clamp, "clip": F.clip, "clamp_min": F.clamp_min, "clamp_max": F.clamp_max,
    "maximum": F.maximum, "minimum": F.minimum,
    "where": _where, "masked_fill": F.masked_fill,
    "eq": F.eq, "ne": F.ne, "lt": F.lt, "le": F.le, "gt": F.gt, "ge": F.ge,
    "isnan": F.isnan, "isinf": F.isinf, "isfinite": F.isfinite,
    "bitwise_and": F.bitwise_and, "bitwise_or": F.bitwise_or, "bitwise_xor": F.bitwise_xor,
    "bitwise_not": F.bitwise_not, "bitwise_left_shift": F.bitwise_left_shift,
    "bitwise_right_shift": F.bitwise_right_shift, "logical_and": F.logical_and, "logical_or": F.logical_or,
    "logical_xor": F.logical_xor, "logical_not": F.logical_not,
    # in place (x itself, changed: see _in_place)
    "add_": _in_place(F.add, "add_"), "sub_": _in_place(F.sub, "sub_"), "mul_": _in_place(F.mul, "mul_"),
    "div_": _in_place(F.div, "div_"), "fill_": _fill, "zero_": _zero, "masked_fill_": _masked_fill,
    "copy_": _copy,
    "relu_": F.relu_,
    "softmax": _without_out("softmax", _needs_dim(F.softmax)),
    "log_softmax": _without_out("log_softmax", _needs_dim(F.log_softmax)),
    # dtype and device (differentiable: the gradient flows back to the original)
    "astype": F.astype, "to": _to, "float": _cast("float32"), "double": _cast("float64"), "half": _cast("float16"),
    "long": _cast("int64"), "int": _cast("int32"), "bool": _cast("bool"), "type_as": _type_as,
    "type": _type,
    "tolist": _tolist, "equal": _equal, "cpu": _cpu, "cuda": _cuda,
    # new tensors of x's dtype and device
    "new_full": _new_full, "new_zeros": _new("new_zeros", 0), "new_ones": _new("new_ones", 1),
    "new_empty": _new("new_empty", 0), "new_tensor": _new_tensor,
    # PyTorch's shape queries
    "size": _size, "numel": _numel, "dim": _dim, "nelement": _numel, "ndimension": _dim,
    "is_contiguous": _is_contiguous, "is_floating_point": _is_floating_point, "element_size": _element_size,
    "__getattr__": _not_here,
    # PyTorch's transposes (properties)
    "T": property(_reversed, doc=_reversed.__doc__), "mT": property(_matrix_transpose("mT")),
    "H": property(_matrix_transpose("H", batches=False)), "mH": property(_matrix_transpose("mH")),
    "adjoint": _matrix_transpose("adjoint()"), "t": _t, "swapaxes": F.swapaxes, "swapdims": F.transpose,
}



METHODS = {name: _without_out(name, op) if not name.startswith("__") and callable(op) and _takes_out(op) else op
           for name, op in METHODS.items()}


def attach():
    """Give Tensor its operators and methods (idempotent)."""
    for name, op in METHODS.items():
        setattr(Tensor, name, op)
