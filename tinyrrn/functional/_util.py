"""Helpers shared by the ops: argument checks, axes and broadcasting."""
import functools
import operator
import sys

import numpy

from ..tensor import ArgumentError, DtypeError, Tensor  # noqa: F401 (the ops' errors, defined with the Tensor they guard)
from ..grad_mode import records_graph
from ..tensor import _saved_inputs


def check_tensors(op, *tensors, names=("input", "other")):
    """Ops take Tensors, all on one device, as PyTorch: None, an array or a list is PyTorch's TypeError
    here, naming the argument (``names``, in the order of ``tensors``), not an AttributeError deep inside
    the op, and a CPU tensor meeting a GPU one is refused too. (An optional argument, such as a bias, is
    left out by the caller when it is None.)"""
    devices = set()
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            name = names[i] if i < len(names) else f"tensor {i + 1}"
            raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__} as argument '{name}' (as PyTorch); wrap "
                            "it: tinyrrn.Tensor(...)")
        devices.add(t.device)
    if len(devices) > 1:
        raise RuntimeError(f"{op}: expected all tensors to be on the same device, found {' and '.join(sorted(devices))}; "
                           "move them with .to(device)")


def refuse_internal_overlap(op, array):
    """PyTorch's refusal of a write into an array whose elements share memory (an expanded tensor's: a stride of 0
    along a dimension of more than one element; as PyTorch, no other overlap is looked for)."""
    if 0 in array.strides and any(stride == 0 and size > 1 for stride, size in zip(array.strides, array.shape)):
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation "
                           "(as PyTorch)")


def saved_beside_inputs(op, inputs, saved):
    """For an op whose PyTorch node saves the tensors of ``saved`` beside its ``inputs`` (index tensors, a class
    weight; anything not a Tensor is skipped): refuses an inference tensor among them when the op records a graph,
    and returns the check its backward calls first, which refuses one changed in place since, as PyTorch."""
    saved = [t for t in saved if isinstance(t, Tensor)]
    if (any(t._inference for t in saved) and records_graph() and any(p.requires_grad for p in inputs)
            and not all(p._inference for p in inputs)):
        raise RuntimeError(f"{op}: Inference tensors cannot be saved for backward (as PyTorch: its node saves a tensor "
                           "made in inference mode: an index, a weight, an input). Make a clone() to get a normal tensor")
    versions = [(t, t.version) for t in saved]

    def check():
        for t, version in versions:
            if t.version != version:
                raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                                   f"inplace operation: a tensor of shape {tuple(t.shape)} that {op!r} saved (an "
                                   "index, a weight, an input) was changed after the forward pass. Run the forward "
                                   "pass again after the change.")
    return check


def saving_originals(out, op, inputs, saves=None):
    """``out`` of ``op`` computed on copies of ``inputs`` (float16 ones in float32, as PyTorch's kernels compute
    them), whose node therefore saved the copies: its backward first refuses an original that PyTorch's node saves
    (``saves`` per input, else the op's table entry, _saved_inputs) changed in place since, and an inference tensor
    among them is refused now, as make_result's nodes do for their own inputs (anything not a Tensor is skipped)."""
    if out.backward_fn is None:
        return out
    if saves is None:
        saves = _saved_inputs(op, tuple(getattr(t, "requires_grad", False) for t in inputs))
    unchanged = saved_beside_inputs(op, [t for t in inputs if isinstance(t, Tensor)],
                                    [t for t, saved in zip(inputs, saves) if saved])
    backward = out.backward_fn

    def checked(g):
        unchanged()
        return backward(g)
    out.backward_fn = checked
    return out


def check_float(op, *tensors, names=("input", "other")):
    """Differentiable ops take floating-point tensors only (on one device: check_tensors); another dtype
    is a DtypeError (PyTorch's RuntimeError where it refuses the dtype too)."""
    check_tensors(op, *tensors, names=names)
    for t in tensors:
        if t.dtype.kind != "f":
            raise DtypeError(f"{op}: expected a floating-point tensor, got dtype {t.dtype} "
                            f"(shape {tuple(t.shape)}); convert with .astype('float32')")


def check_same_dtype(op, *tensors, names=("input", "other")):
    """Products take operands of one dtype, as PyTorch (which refuses float32 @ float64 rather than
    promote); None (no bias, the last) is skipped."""
    tensors = [t for t in tensors if t is not None]
    check_tensors(op, *tensors, names=names)
    dtypes = [t.dtype for t in tensors]
    if len(set(dtypes)) > 1:
        raise ArgumentError(f"{op}: expected operands of one dtype, got {', '.join(map(str, dtypes))}; "
                            "convert with .astype(...)")


def check_product(op, *tensors, names=("input", "other")):
    """Products (matmul, linear) take operands of one dtype (check_same_dtype), float or integer, as PyTorch's CPU
    kernels (integers wrap as there); bool ones are refused, as PyTorch refuses them. An optional last one (a bias)
    may be None."""
    check_tensors(op, *tensors[:2], names=names)
    check_same_dtype(op, *tensors, names=names)
    if tensors[0].dtype == bool:
        raise DtypeError(f"{op}: \"addmm_impl_cpu_\" not implemented for 'Bool' (as PyTorch): multiply bool tensors "
                         "as integers, .astype('int64')")


def axis_index(op, axis, ndim):
    """``axis`` (negative counts from the end) as an index in [0, ndim), or PyTorch's IndexError.

    A 0-d tensor takes axis 0 or -1, as in PyTorch (0 is returned; it names no real axis).
    """
    if type(axis) is not int:
        axis = integer(op, "dim", axis)
    size = max(ndim, 1)
    if not -size <= axis < size:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-size}, {size - 1}], but got {axis})")
    return axis % size


def user_stacklevel():
    """warnings.warn's stacklevel that names the caller's first frame outside tinyrrn: the user's line, however many
    of tinyrrn's frames (a method's, a decorator's) are between. For warnings only: it walks the stack."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tinyrrn."):
        frame, level = frame.f_back, level + 1
    return level


def only_torch_defaults(op, **options):
    """PyTorch's options that tinyrrn does not have, each given as (value, PyTorch's default): taken at the
    default, so that PyTorch's code runs, and refused otherwise with an error that says so."""
    for name, (value, default) in options.items():
        if value is not default and value != default:
            raise NotImplementedError(f"{op}: {name}={value!r} is not supported by tinyrrn (only "
                                      f"PyTorch's default, {name}={default!r})")


class OutError(NotImplementedError, TypeError):
    """out= given to an op: PyTorch's function writes its result into that tensor, which tinyrrn does not support
    (a NotImplementedError, PyTorch's RuntimeError where the inputs require grad), and PyTorch's Tensor method, which
    tinyrrn's op also is, refuses it (a TypeError)."""


class NotImplementedOp(AttributeError, NotImplementedError):
    """A PyTorch op (a Tensor method, a torch function) that tinyrrn does not have: a NotImplementedError that says so,
    and an AttributeError, as for any missing name (hasattr(x, 'sort') is False)."""


def refuse_out(op):
    """The error for an op given PyTorch's out= (see OutError); the ops that PyTorch gives out= take it by keyword and
    call this when it is not None, so that it costs one comparison."""
    raise OutError(f"{op}: out= is not supported by tinyrrn (PyTorch writes the result into that tensor); use the "
                   f"result instead: y = {op}(...), or y[...] = {op}(...) under no_grad()")


def torch_name(op, name, value, torch_name, torch_value, default=None):
    """An argument given by its NumPy name (axis, keepdims) or PyTorch's (dim, keepdim), not both."""
    if torch_value is None:
        return value
    if value is not default:
        raise TypeError(f"{op}: got both {name}= and {torch_name}= (the same argument)")
    return torch_value


def numpy_names(op):
    """``op`` also taking NumPy's names of its ``dim`` and ``keepdim`` (``axis``, ``keepdims``), as PyTorch's functions
    and methods take them; both names of one argument are PyTorch's TypeError."""
    @functools.wraps(op)
    def wrapped(*args, **kwargs):
        for numpy_name, name in (("axis", "dim"), ("keepdims", "keepdim")):
            if numpy_name in kwargs:
                if name in kwargs:
                    raise TypeError(f"{op.__name__}() got both {numpy_name}= and {name}= (the same argument)")
                kwargs[name] = kwargs.pop(numpy_name)
        return op(*args, **kwargs)
    return wrapped


def axes_tuple(op, axis, ndim):
    """The axes a reduction runs over: all for None or an empty list (as PyTorch), else each checked
    once; () for a 0-d tensor."""
    if _is_array(axis):  # a 0-d one has an __index__, a 1-d one iterates: PyTorch takes ints, a tuple or a list
        raise TypeError(f"{op}: argument 'dim' must be an int, a tuple or a list of ints, not {type(axis).__name__} "
                        "(as PyTorch)")
    if axis is None or (numpy.ndim(axis) == 1 and len(axis) == 0):
        return tuple(range(ndim))
    axes = tuple(axis_index(op, a, ndim) for a in ((axis,) if numpy.ndim(axis) == 0 else axis))
    if len(set(axes)) != len(axes):
        raise ArgumentError(f"{op}: dim {axis} names an axis more than once")
    return axes if ndim else ()


def broadcast_shape(op, a, b):
    """The broadcast shape of two shapes, or an error naming both."""
    if a == b or not b:
        return a
    try:
        return numpy.broadcast_shapes(a, b)
    except ValueError:
        raise ArgumentError(f"{op}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast together") from None


def accurate_sum(array, axis, keepdims=False):
    """``array.sum(axis)`` added in float64 and returned in the array's dtype: NumPy adds along a strided
    axis one value at a time in the input's dtype (a float32 bias gradient over 2e6 rows came 1.5%
    low, a float16 one stopped at 2048), where PyTorch's sums are accurate. For the gradients of
    broadcast operands and biases; tinyrrn.functional.sum does the same."""
    if array.dtype.kind != "f":
        return array.sum(axis=axis, keepdims=keepdims)
    return array.sum(axis=axis, keepdims=keepdims, dtype="float64").astype(array.dtype)


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return accurate_sum(grad, axes, keepdims=True).reshape(shape)


def flag(op, name, value):
    """A bool argument, which is True or False: PyTorch's ops refuse 1, None or a NumPy bool with a
    TypeError rather than take its truth value."""
    if not isinstance(value, bool):
        raise TypeError(f"{op}: argument '{name}' must be bool, not {type(value).__name__} (as PyTorch)")
    return value


def integer(op, name, value):
    """An int argument (a NumPy int or a 0-d integer tensor too), as an int; a bool, a float or an
    array is refused with PyTorch's TypeError, not read as a number."""
    if not isinstance(value, (bool, numpy.bool_)) and not _is_array(value):  # a 0-d array has an __index__
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{op}: argument '{name}' must be an int, not {type(value).__name__} {value!r} (as PyTorch)")


def _is_array(value):
    """Whether ``value`` is an array (NumPy's or CuPy's), not a Tensor or a NumPy number."""
    return hasattr(value, "shape") and not isinstance(value, (Tensor, numpy.generic))


def number(value):
    """A float argument as a Python number: PyTorch also reads a one-element tensor as its value
    (label_smoothing=torch.tensor(0.1)); anything else is returned for the op's own checks."""
    return value.item() if isinstance(value, Tensor) else value


def pair(value, name, op="", minimum=None, single=True):
    """An int, a one-element list or tuple or a pair of ints as a pair (PyTorch's kernel_size/stride/
    padding convention; a bool or an array is refused, as there, though PyTorch reads a bool inside a
    tuple as an int). ``single=False`` refuses a one-element sequence, as PyTorch's conv layers' kernel_size.

    With ``minimum`` (0 or 1), a value below it is an error naming the op, argument and value.
    """
    values = tuple(value) if isinstance(value, (tuple, list)) else (integer(op, name, value),) * 2
    if len(values) == 1 and single:  # PyTorch's ops expand a one-element sequence as an int
        values *= 2
    if len(values) != 2:
        raise ArgumentError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    try:
        values = tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r} (as PyTorch)") from None
    if minimum is not None and min(values) < minimum:
        rule = "positive" if minimum == 1 else "non-negative"
        raise ArgumentError(f"{op}: {name} must be {rule}, got {values}")
    return values


def quiet(op):
    """``op`` without NumPy's floating-point warnings (division by zero, overflow, an invalid value), in its forward
    pass and in its node's backward: PyTorch gives the same inf and NaN silently."""
    @functools.wraps(op)
    def wrapped(*args, **kwargs):
        with numpy.errstate(all="ignore"):
            out = op(*args, **kwargs)
        if out.backward_fn is not None:
            out.backward_fn = _quiet_backward(out.backward_fn)
        return out
    return wrapped


def _quiet_backward(backward):
    def silent(g):
        with numpy.errstate(all="ignore"):
            return backward(g)
    return silent
