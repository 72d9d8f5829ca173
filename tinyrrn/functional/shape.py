"""Ops that move data without arithmetic: reshape, view, transpose, flatten, indexing, concatenation, padding,
copies."""
import functools
import math
import numbers
import operator

import numpy

from .. import backend
from ..tensor import Tensor, check_int64, make_result, renamed
from ._util import (ArgumentError, accurate_sum, axis_index, broadcast_shape, check_tensors, flag, integer, number,
                    numpy_names, only_torch_defaults, refuse_out, saved_beside_inputs, torch_name, unbroadcast)
from .dtypes import result_type


def _shape_arg(op, sizes, keyword=None, name="shape"):
    """Sizes given as arguments (2, 3), as one sequence ((2, 3)), or by PyTorch's keyword (shape=(2, 3))."""
    if keyword is not None:
        if sizes:
            raise TypeError(f"{op}: got {name} both as arguments and as {name}=")
        sizes = (keyword,)
    return tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes


def reshape(input, *sizes, shape=None):
    """The same elements in a new shape (one dimension may be -1): x.reshape(2, 3), ((2, 3)) or (shape=(2, 3))."""
    check_tensors("reshape", input)
    if not sizes and shape is None:
        raise TypeError("reshape() missing 1 required argument: 'shape' (as PyTorch; () is the 0-d shape)")
    shape = _shape_arg("reshape", sizes, shape)
    if any(operator.index(n) < -1 for n in shape) or sum(n == -1 for n in shape) > 1:
        raise ArgumentError(f"reshape: invalid shape {tuple(shape)} for {tuple(input.shape)} (sizes are >= 0, "
                            "and one of them may be -1)")
    try:
        out = input.data.reshape(shape)
    except ValueError:
        raise ArgumentError(f"reshape: cannot reshape {tuple(input.shape)} into {tuple(shape)}") from None
    return make_result(out, (input,), lambda g: (g.reshape(input.shape),), "reshape", view_of=input)


def view(input, *sizes, size=None, dtype=None):
    """x's elements in a new shape in the same memory (PyTorch's Tensor.view): as reshape, but refused, with
    PyTorch's RuntimeError, where that needs a copy (x.T.view(6)); PyTorch's view(dtype) is not supported."""
    if dtype is not None or len(sizes) == 1 and isinstance(sizes[0], (str, type, numpy.dtype)):
        raise NotImplementedError("view(dtype) is not supported by tinyrrn (a view of the bytes as another dtype); "
                                  "convert with .to(dtype)")
    if not sizes and size is None:
        raise TypeError("view() missing 1 required argument: 'size' (as PyTorch)")
    out = reshape(input, *sizes, shape=size)
    if not out._is_view and out.data.size:
        raise ArgumentError("view size is not compatible with input tensor's size and stride (at least one "
                            "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return renamed(out, "view")


def clone(input, *, memory_format=None):
    """A copy of x in new memory, laid out as x (torch.clone, PyTorch's preserve_format), in the graph."""
    check_tensors("clone", input)
    only_torch_defaults("clone", memory_format=(memory_format, None))
    return make_result(input.data.copy(order="K"), (input,), lambda g: (g,), "clone")


def contiguous(input, *, memory_format=None):
    """x itself when its memory is in row-major order, else a copy that is (PyTorch's Tensor.contiguous)."""
    check_tensors("contiguous", input)
    only_torch_defaults("contiguous", memory_format=(memory_format, None))
    if input.data.flags.c_contiguous:
        return input
    return make_result(backend.xp_of(input.data).ascontiguousarray(input.data), (input,), lambda g: (g,), "clone")


def permute(input, dims):
    """Reorder the dimensions (a view, as torch.permute): permute(x, (1, 0)), one tuple or list, as PyTorch's
    function (the method, Tensor.permute, also takes x.permute(1, 0))."""
    check_tensors("permute", input)
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"permute(): argument 'dims' must be tuple of ints, not {type(dims).__name__} (as PyTorch; "
                        "x.permute(1, 0) takes them one by one)")
    order = tuple(integer("permute", "dims", d) for d in dims)
    if len(order) != input.ndim:
        raise ArgumentError(f"permute: {order} is not a permutation of the {input.ndim} dims of {tuple(input.shape)}")
    dims = tuple(axis_index("permute", d, input.ndim) for d in order)
    if sorted(dims) != list(range(input.ndim)):
        raise ArgumentError(f"permute: {order} is not a permutation of the {input.ndim} dims "
                            f"of {tuple(input.shape)}")
    inverse = [0] * input.ndim
    for i, d in enumerate(dims):
        inverse[d] = i
    return make_result(input.data.transpose(dims), (input,), lambda g: (g.transpose(inverse),), "permute",
                       view_of=input)


def transpose(input, dim0, dim1):
    """Swap two dimensions (torch.transpose); a 0-d tensor takes dims 0 and -1."""
    check_tensors("transpose", input)
    dims = list(range(input.ndim))
    dim0, dim1 = axis_index("transpose", dim0, input.ndim), axis_index("transpose", dim1, input.ndim)
    if input.ndim:
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return renamed(permute(input, dims), "transpose")


def swapaxes(input, axis0, axis1):
    """torch.swapaxes: transpose under NumPy's names of the two dimensions (swapdims is transpose itself)."""
    return transpose(input, axis0, axis1)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one (torch.flatten); a 0-d tensor becomes shape (1,), and x itself
    is returned when they are one dimension, as PyTorch's."""
    check_tensors("flatten", input)
    start, end = axis_index("flatten", start_dim, input.ndim), axis_index("flatten", end_dim, input.ndim)
    if start > end:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    if start == end and input.ndim:
        return input
    # not -1: a size may be 0
    return reshape(input, *input.shape[:start], math.prod(input.shape[start:end + 1]), *input.shape[end + 1:])


def _dims_list(op, dims, ndim):
    """A tuple or list of dims (or one int) as axes, each once: a repeated one is PyTorch's RuntimeError."""
    axes = [axis_index(op, d, ndim) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
    for i, axis in enumerate(axes):
        if axis in axes[:i]:
            raise ArgumentError(f"{op}: dim {axis} appears multiple times in the list of dims (as PyTorch)")
    return axes


@numpy_names
def squeeze(input, dim=None):
    """x without its dimensions of size 1 (torch.squeeze, a view): all of them, or those of ``dim`` (an int or a
    tuple) that have size 1."""
    check_tensors("squeeze", input)
    axes = range(input.ndim) if dim is None else _dims_list("squeeze", dim, input.ndim)
    return renamed(reshape(input, tuple(n for i, n in enumerate(input.shape) if not (i in axes and n == 1))), "squeeze")


@numpy_names
def unsqueeze(input, dim):
    """x with a dimension of size 1 inserted at ``dim``, in [-ndim - 1, ndim] (torch.unsqueeze, a view)."""
    check_tensors("unsqueeze", input)
    dim = axis_index("unsqueeze", dim, input.ndim + 1)
    return renamed(reshape(input, *input.shape[:dim], 1, *input.shape[dim:]), "unsqueeze")


def expand(input, *sizes, size=None, implicit=False):
    """x repeated along its dimensions of size 1, and new leading ones, to ``sizes`` (torch.expand, a view with no
    copy, which takes writes where PyTorch's does: see refuse_internal_overlap): -1 keeps a dimension's size; the
    gradient sums over the repeats. PyTorch's ``implicit`` (a bool that marks an expand its tracer inserted)
    changes nothing."""
    check_tensors("expand", input)
    flag("expand", "implicit", implicit)
    sizes = tuple(integer("expand", "size", n) for n in _shape_arg("expand", sizes, size, "size"))
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ArgumentError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                            f"number of dimensions in the tensor ({input.ndim}) (as PyTorch)")
    shape = list(sizes)
    for i, n in enumerate(sizes):
        if i < lead and n < 0:
            raise ArgumentError(f"expand: The expanded size of the tensor ({n}) isn't allowed in a leading, "
                                f"non-existing dimension {i} (as PyTorch)")
        if i >= lead and n == -1:
            shape[i] = input.shape[i - lead]
        elif i >= lead and input.shape[i - lead] not in (1, n) or n < 0:
            raise ArgumentError(f"expand: The expanded size of the tensor ({n}) must match the existing size "
                                f"({input.shape[i - lead]}) at non-singleton dimension {i}. Target sizes: "
                                f"{list(sizes)}. Tensor sizes: {list(input.shape)} (as PyTorch)")
    strides = (0,) * lead + tuple(s if n == m else 0 for s, n, m in zip(input.data.strides, input.shape, shape[lead:]))
    xp = backend.xp_of(input.data)
    out = xp.lib.stride_tricks.as_strided(input.data, tuple(shape), strides)  # writeable, as PyTorch's
    return make_result(out, (input,), lambda g: (unbroadcast(g, input.shape),), "expand", view_of=input)


def expand_as(input, other):
    """x expanded to other's shape (torch.Tensor.expand_as)."""
    check_tensors("expand_as", input, other)
    return expand(input, other.shape)


def repeat(input, *sizes, repeats=None):
    """x tiled ``sizes`` times along each dimension (torch.Tensor.repeat, a copy; more sizes than dimensions add
    leading ones); the gradient sums over the copies."""
    check_tensors("repeat", input)
    if not sizes and repeats is None:
        raise TypeError("repeat() missing 1 required positional argument: 'repeats' (as PyTorch)")
    sizes = tuple(integer("repeat", "repeats", n) for n in _shape_arg("repeat", sizes, repeats, "repeats"))
    if len(sizes) < input.ndim:
        raise ArgumentError("repeat: Number of dimensions of repeat dims can not be smaller than number of dimensions "
                            f"of tensor ({len(sizes)} < {input.ndim}, as PyTorch)")
    if any(n < 0 for n in sizes):
        raise ArgumentError(f"repeat: Trying to create tensor with negative dimension, repeats {list(sizes)} (as PyTorch)")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    out = backend.xp_of(input.data).tile(input.data.reshape(shape), sizes)

    def backward(g):
        split = g.reshape([m for r, n in zip(sizes, shape) for m in (r, n)])  # (repeat, size) per dimension
        return (accurate_sum(split, tuple(range(0, split.ndim, 2))).reshape(input.shape),)

    return make_result(out, (input,), backward, "repeat")


def flip(input, *order, dims=None):
    """x reversed along ``dims`` (ints, one tuple or list, or dims=; torch.flip, a copy)."""
    check_tensors("flip", input)
    if not order and dims is None:
        raise TypeError('flip() missing 1 required positional arguments: "dims" (as PyTorch)')
    axes = _dims_list("flip", _shape_arg("flip", order, dims, "dims"), input.ndim)
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(input.ndim)) + (Ellipsis,)
    return make_result(input.data[index].copy(), (input,), lambda g: (g[index],), "flip")


def _is_int(item):
    """An index that selects one position: a Python or NumPy int, or a 0-d integer array (not a bool)."""
    if isinstance(item, (bool, numpy.bool_)):
        return False
    return isinstance(item, (int, numpy.integer)) or (getattr(item, "ndim", None) == 0 and item.dtype.kind in "iu"
                                                       and item.dtype != "uint8")  # uint8: a mask, even 0-d


def _dims_taken(item):
    """How many dimensions of the indexed tensor an index item (not an int) stands for."""
    if item is None or isinstance(item, (bool, numpy.bool_)):
        return 0
    if isinstance(item, (list, tuple)):
        item = numpy.asarray(item)
    return item.ndim if getattr(item, "dtype", None) is not None and item.dtype.kind == "b" else 1


def _dims_used(items):
    """How many dimensions of the indexed tensor the items other than Ellipsis stand for."""
    return sum(1 if _is_int(i) else _dims_taken(i) for i in items if i is not Ellipsis)


def _spelled_out(items, ndim):
    """Two or more Ellipses as PyTorch reads them (NumPy takes one): each stands for the dimensions the
    other items leave, as full slices; those past the last dimension are dropped."""
    left = max(ndim - _dims_used(items), 0)
    items = [s for i in items for s in ((slice(None),) * left if i is Ellipsis else (i,))]
    while items and isinstance(items[-1], slice) and items[-1] == slice(None) and _dims_used(items) > ndim:
        items.pop()
    return tuple(items)


INDEX_DTYPES = ("int64", "int32", "uint8", "bool")
_INDEX_ITEMS = (int, slice, type(None), type(Ellipsis), list, tuple)  # the index items that are no array  # PyTorch's dtypes of index tensors (0-d: any integer)


def _index_array(op, tensor):
    """A tensor in an index as its array; refused, as PyTorch refuses it, unless it is of an index dtype or a
    0-d integer (an int8 index would wrap around silently: 200 stored as -56)."""
    array = tensor.data
    if array.dtype not in INDEX_DTYPES and not (array.ndim == 0 and array.dtype.kind in "iu"):
        raise IndexError(f"{op}: tensors used as indices must be long, int, byte or bool tensors (as PyTorch), got "
                         f"{array.dtype}; convert with .astype('int64')")
    return array


def _may_pass_int64(values):
    """Whether a list of numbers may hold one past int64's top, which NumPy wraps around (one below its bottom it
    refuses): max, at C speed; True for a nested list, for check_int64 to walk."""
    try:
        return max(values, default=0) >= 2 ** 63
    except TypeError:  # lists in it (or anything else no number)
        return True


def index_items(op, index, ndim):
    """An index (of x[index] or x[index] = v, x of ``ndim`` dims) as a tuple of items NumPy takes, read as
    PyTorch reads it: tensors as their arrays, one-element integer ones as ints, uint8 ones as masks,
    several Ellipses, or one among advanced items, spelled out; refused where PyTorch refuses (a step of 0 or less, an int beyond int64)
    or reads it otherwise than NumPy (a list of sequences, or of slices, None or Ellipsis)."""
    if isinstance(index, list) and any(isinstance(i, (list, tuple, Tensor)) or getattr(i, "ndim", 0) for i in index):
        raise IndexError(f"{op}: a list of sequences {index!r} as an index is ambiguous (PyTorch reads it as a "
                         "tuple, with a deprecation warning; NumPy as one array): index with a tuple or an array")
    if isinstance(index, list) and any(isinstance(i, slice) or i is None or i is Ellipsis for i in index):
        raise IndexError(f"{op}: a list holding a slice, None or Ellipsis, {index!r}, as an index is refused (PyTorch "
                         "reads it as a tuple, with a deprecation warning; NumPy refuses it): index with a tuple")
    items = tuple(_index_array(op, i) if isinstance(i, Tensor) else i
                  for i in (index if isinstance(index, tuple) else (index,)))
    for i in items:
        if isinstance(i, (str, bytes)):  # PyTorch reads it as data for a tensor
            raise TypeError(f"{op}: a {type(i).__name__} is no index (as PyTorch: new(): invalid data type "
                            f"'{type(i).__name__}'), got {index!r}")
        if not isinstance(i, _INDEX_ITEMS) and not hasattr(i, "dtype"):  # a float, a set: no index for NumPy either
            raise IndexError(f"{op}: only integers, slices (`:`), ellipsis (`...`), None and long or byte tensors are "
                             f"valid indices (as PyTorch), got a {type(i).__name__} in {index!r}")
    items = tuple(int(i) if _is_int(i) else i.astype(bool) if getattr(i, "dtype", None) == "uint8" else i
                  for i in items)  # a uint8 tensor is a mask, as in PyTorch
    for i in items:  # PyTorch's ValueError for an int past int64: NumPy reads [2 ** 64 - 1] as [-1]
        if type(i) is int and not -2 ** 63 <= i < 2 ** 63 or isinstance(i, (list, tuple)) and _may_pass_int64(i):
            check_int64(i)
    if any(isinstance(i, slice) and i.step is not None and i.step <= 0 for i in items):
        raise ValueError(f"{op}: step must be greater than zero (as PyTorch), got {index!r}")
    if any(isinstance(i, numpy.bool_) for i in items):  # NumPy's 0-d mask; PyTorch takes a Python bool only
        raise IndexError(f"{op}: a NumPy bool as an index is refused (as PyTorch); use True or False, got {index!r}")
    ellipses = sum(i is Ellipsis for i in items)
    if ellipses > 1 or ellipses and not is_basic(items):  # (an Ellipsis of no dimension between two arrays does
        return _spelled_out(items, ndim)                  # not part them in PyTorch, as in NumPy)
    return items


def is_basic(items):
    """Whether index items (of index_items) are basic indexing, ints, slices, None and Ellipsis: a view."""
    return all(i is None or i is Ellipsis or type(i) in (int, slice) for i in items)


def written_view(items):
    """The view of x that x[index] = v writes into, PyTorch's reading (index_put_ on it): index items (of
    index_items) with each array replaced by full slices over the dimensions it takes (a 0-d mask, which adds
    a dimension, by None)."""
    view = ()
    for i in items:
        if is_basic((i,)):
            view += (i,)
        else:
            view += (slice(None),) * _dims_taken(i) or (None,)
    return view


def fills_mask(items):
    """Whether index items (of index_items) hold one array and it is a mask: PyTorch then puts a one-element value
    with masked_fill_ (a Python bool, or a 0-d mask, counts as an array of indices there)."""
    arrays = [i for i in items if not is_basic((i,))]
    if len(arrays) != 1:
        return False
    mask = numpy.asarray(arrays[0]) if isinstance(arrays[0], (list, tuple)) else arrays[0]
    return getattr(mask, "dtype", None) == bool and mask.ndim > 0


def ints_first(items):
    """Advanced index items (of index_items) as PyTorch applies them, in two steps: the ints alone, as basic
    indexing (a view), then the rest on what is left, so that an int between a slice and an array does not
    separate the arrays' dimensions as NumPy's would (x[:, 0, :, idx] keeps idx's dimension last). ``select`` is
    () when no dimension is taken (x[()] of a 0-d array would be a number, not a view)."""
    select = ()
    for i in items:
        select += (i,) if type(i) is int or i is Ellipsis else (slice(None),) * _dims_taken(i)
    return select, tuple(i for i in items if type(i) is not int)


def check_in_range(op, items, shape):
    """IndexError, as NumPy's and PyTorch's, for an integer array among advanced index items (of ints_first's rest,
    with no int or Ellipsis) that is out of range of the dimension of ``shape`` it indexes: CuPy wraps such an index
    around in silence (cupy.arange(3)[[1, 3]] is [1, 0]). An index array on a GPU is checked there and read back
    once, a list on the host."""
    axis = 0
    for item in items:
        if item is None or isinstance(item, bool):  # a new dimension
            continue
        if isinstance(item, slice):
            axis += 1
            continue
        array = numpy.asarray(item) if isinstance(item, (list, tuple)) else item
        if array.dtype.kind == "b":
            axis += array.ndim
            continue
        if axis >= len(shape):  # too many indices: NumPy's IndexError says so
            return
        size = shape[axis]
        outside = (array < -size) | (array >= size)
        if array.size and bool(outside.any()):
            raise IndexError(f"{op}: index {int(array[outside].reshape(-1)[0])} is out of bounds for dimension {axis} "
                             f"with size {size} (as PyTorch)")
        axis += 1


def getitem(x, index):
    """x[index] with PyTorch's rules: ints, slices, None, ..., integer/bool arrays, lists.

    Integers select first, as basic indexing; the remaining array indices then place their
    broadcast dimensions as NumPy does (where they stand when adjacent, else in front). So
    x[1, :, idx] of a (2, 5, 6) tensor is (5, len(idx)) as in PyTorch (NumPy: (len(idx), 5)).
    Repeated positions accumulate their gradients.
    """
    check_tensors("getitem", x)
    items = index_items("getitem", index, x.ndim)
    xp = backend.xp_of(x.data)
    if is_basic(items):  # a view
        def backward(g):
            grad = xp.zeros(x.shape, dtype=g.dtype)
            grad[items] = g
            return (grad,)
        view = x.data[items if Ellipsis in items else items + (Ellipsis,)]  # with an Ellipsis NumPy gives a
        out = make_result(view, (x,), backward, "getitem", view_of=x)  # 0-d view, not a copy: x[1] is a view
        out._written_into = (x, items)
        return out
    select, rest = ints_first(items)
    view = x.data[select] if select else x.data
    check_in_range("getitem", rest, view.shape)
    unchanged = saved_beside_inputs("getitem", (x,), index if isinstance(index, tuple) else (index,))

    def backward(g):
        unchanged()  # PyTorch's node saved the index tensors
        grad = xp.zeros(x.shape, dtype=g.dtype)
        xp.add.at(grad[select] if select else grad, rest, g)  # repeated positions accumulate
        return (grad,)

    return make_result(view[rest], (x,), backward, "getitem")


def gather(input, dim, index, *, sparse_grad=False):
    """torch.gather: out[i][j] = x[index[i][j]][j] for dim 0, and so on: x's elements at ``index`` (an int64 or
    int32 tensor of x's number of dimensions, no larger than x but along ``dim``) along ``dim``; the gradient adds g
    into the gathered positions (a scatter-add: repeated ones accumulate). PyTorch's ``sparse_grad`` at its default
    only."""
    only_torch_defaults("gather", sparse_grad=(sparse_grad, False))
    check_tensors("gather", input, index, names=("input", "index"))
    if index.dtype not in ("int64", "int32"):
        raise ArgumentError(f"gather(): Expected dtype int32/int64 for index, got {index.dtype} (as PyTorch)")
    axis = axis_index("gather", dim, input.ndim)
    x, where = input.data.reshape(input.shape or (1,)), index.data.reshape(index.shape or (1,))
    if where.ndim != x.ndim:
        raise ArgumentError(f"gather: Index tensor must have the same number of dimensions as input tensor, got "
                            f"{index.ndim} and {input.ndim} (as PyTorch)")
    if any(n > m for d, (n, m) in enumerate(zip(where.shape, x.shape)) if d != axis):
        raise ArgumentError(f"gather: Size does not match: expected index {list(index.shape)} to be no larger than "
                            f"self {list(input.shape)} apart from dimension {axis} (as PyTorch)")
    if where.size and bool(((where < 0) | (where >= x.shape[axis])).any()):
        raise ArgumentError(f"gather: index out of bounds for dimension {axis} with size {x.shape[axis]}: an index "
                            f"is below 0 or not below the size (as PyTorch)")
    xp = backend.xp_of(x)
    kept = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(where.shape))
    unchanged = saved_beside_inputs("gather", (input,), (index,))

    def backward(g):
        unchanged()  # PyTorch's node saved the index
        grad = xp.zeros(x.shape, dtype=g.dtype)
        positions = tuple(where if d == axis else xp.arange(n).reshape([-1 if e == d else 1 for e in range(x.ndim)])
                          for d, n in enumerate(where.shape))
        xp.add.at(grad, positions, g.reshape(where.shape))  # repeated positions accumulate
        return (grad.reshape(input.shape),)

    out = xp.take_along_axis(x[kept], where, axis).reshape(index.shape)
    return make_result(out, (input,), backward, "gather")


def _tensor_list(op, tensors):
    """cat's and stack's tensors, from a list or a tuple of Tensors: anything else (a Tensor, which would be
    iterated as its rows, a generator, a set) is PyTorch's TypeError."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: argument 'tensors' must be a list or tuple of Tensors, not {type(tensors).__name__} "
                        "(as PyTorch)")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a Tensor as element {i}, got {type(t).__name__} (as PyTorch)")
    check_tensors(op, *tensors)  # on one device
    return tensors


def concatenate(tensors, axis=0, *, dim=None, out=None):
    """Join tensors along an existing axis (or PyTorch's ``dim``; torch.cat), of any dtypes: the result
    in their promoted dtype (torch.result_type); a 1-D empty tensor among tensors of other dims is left out
    (its dtype counts), as PyTorch's legacy rule."""
    if out is not None:
        refuse_out("concatenate")
    axis = torch_name("concatenate", "axis", axis, "dim", dim, 0)
    tensors = _tensor_list("concatenate", tensors)
    if not tensors:
        raise ArgumentError("concatenate: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ArgumentError(f"concatenate: zero-dimensional tensor (at position {i}) cannot be concatenated "
                                "(as PyTorch)")
    dtype = result_type(*tensors)
    ref = next((t.shape for t in tensors if t.shape != (0,)), tensors[0].shape)
    skipped = [t.shape == (0,) and len(ref) != 1 for t in tensors]
    joined = [t for t, skip in zip(tensors, skipped) if not skip]
    axis = axis_index("concatenate", axis, len(ref))
    for t in joined[1:]:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(ref, t.shape)) if i != axis):
            raise ArgumentError(f"concatenate: shapes {tuple(ref)} and {tuple(t.shape)} differ "
                                f"outside axis {axis}")
    xp = backend.xp_of(tensors[0].data)
    sizes = [0 if skip else t.shape[axis] for t, skip in zip(tensors, skipped)]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]

    def backward(g):  # each input's gradient is a view of its slice of g
        before = (slice(None),) * axis
        return tuple(xp.zeros((0,), g.dtype) if skip else g[before + (slice(lo, hi),)]
                     for lo, hi, skip in zip(bounds, bounds[1:], skipped))

    return make_result(xp.concatenate([t.data.astype(dtype, copy=False) for t in joined], axis=axis), tensors,
                       backward, "concatenate")


cat = concat = concatenate  # PyTorch's other names of it


def stack(tensors, axis=0, *, dim=None, out=None):
    """Join tensors of equal shape along a new axis (or PyTorch's ``dim``; torch.stack)."""
    if out is not None:
        refuse_out("stack")
    axis = torch_name("stack", "axis", axis, "dim", dim, 0)
    tensors = _tensor_list("stack", tensors)
    if not tensors:
        raise ArgumentError("stack: expected a non-empty list of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ArgumentError(f"stack: shapes {tuple(tensors[0].shape)} and {tuple(t.shape)} differ")
    axis = axis_index("stack", axis, tensors[0].ndim + 1)
    expanded = [reshape(t, *t.shape[:axis], 1, *t.shape[axis:]) for t in tensors]
    return renamed(concatenate(expanded, axis=axis), "stack")


def split(tensor, split_size_or_sections, dim=0):
    """torch.split: x cut along ``dim`` into pieces of ``split_size_or_sections`` elements (an int: the last piece may
    be smaller) or of each size of a list (which adds up to the dim's size); a tuple of views, each in the graph."""
    check_tensors("split", tensor)
    if tensor.ndim == 0:
        raise ArgumentError("split expects at least a 1-dimensional tensor (as PyTorch)")
    axis = axis_index("split", dim, tensor.ndim)
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [integer("split", "split_sizes", size) for size in split_size_or_sections]
        if any(size < 0 for size in sizes) or sum(sizes) != n:
            raise ArgumentError(f"split_with_sizes expects split_sizes to be non-negative and to sum exactly to {n} "
                                f"(input tensor's size at dimension {axis}), but got split_sizes={sizes} (as PyTorch)")
    else:
        size = integer("split", "split_size", split_size_or_sections)
        if size < 0 or size == 0 and n:
            raise ArgumentError(f"split expects split_size be positive (0 only for a dim of size 0), but got "
                                f"split_size={size} for a dim of size {n} (as PyTorch)")
        sizes = [size] * (n // size) + [n % size] * bool(n % size) if n else [0]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    before = (slice(None),) * axis
    return tuple(getitem(tensor, before + (slice(lo, hi),)) for lo, hi in zip(bounds, bounds[1:]))


def chunk(input, chunks, dim=0):
    """torch.chunk: x cut along ``dim`` into at most ``chunks`` pieces of ceil(size / chunks) elements (split's views;
    the last may be smaller, and fewer pieces come when the size runs out; a dim of size 0 gives ``chunks`` empty
    ones)."""
    check_tensors("chunk", input)
    chunks = integer("chunk", "chunks", chunks)
    if chunks <= 0:
        raise ArgumentError(f"chunk expects `chunks` to be greater than 0, got: {chunks} (as PyTorch)")
    if input.ndim == 0:
        raise ArgumentError("chunk expects at least a 1-dimensional tensor (as PyTorch)")
    n = input.shape[axis_index("chunk", dim, input.ndim)]
    return split(input, [0] * chunks if n == 0 else -(-n // chunks), dim)


def unbind(input, dim=0):
    """torch.unbind: the slices of x along ``dim``, each without that dim (a tuple of views, each in the graph)."""
    check_tensors("unbind", input)
    if input.ndim == 0:
        raise IndexError("unbind: Dimension specified as 0 but tensor has no dimensions (as PyTorch)")
    axis = axis_index("unbind", dim, input.ndim)
    before = (slice(None),) * axis
    return tuple(getitem(input, before + (i,)) for i in range(input.shape[axis]))


def narrow(input, dim, start, length):
    """torch.narrow: the view of ``length`` elements of x along ``dim`` from ``start`` (an int or a 0-d integer tensor,
    which may count from the end)."""
    check_tensors("narrow", input)
    if input.ndim == 0:
        raise ArgumentError("narrow() cannot be applied to a 0-dim tensor (as PyTorch)")
    axis = axis_index("narrow", dim, input.ndim)
    start, length, n = integer("narrow", "start", start), integer("narrow", "length", length), input.shape[axis]
    if not -n <= start <= n:
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], but got {start}) "
                         "(as PyTorch)")
    start += n if start < 0 else 0
    if length < 0:
        raise ArgumentError("narrow(): length must be non-negative (as PyTorch)")
    if start + length > n:
        raise ArgumentError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) (as PyTorch)")
    return getitem(input, (slice(None),) * axis + (slice(start, start + length),))


def movedim(input, source, destination):
    """torch.movedim (moveaxis): x's dims ``source`` moved to the places ``destination`` (two ints, or two sequences
    of ints of one length), the others kept in their order (a view: permute)."""
    check_tensors("movedim", input)
    if isinstance(source, (tuple, list)) != isinstance(destination, (tuple, list)):
        raise TypeError("movedim(): source and destination must both be ints or both be sequences of ints "
                        "(as PyTorch)")
    sources, destinations = (_dims_list("movedim", dims, input.ndim) for dims in (source, destination))
    if len(sources) != len(destinations):
        raise ArgumentError(f"movedim: Invalid source or destination dims: source ({sources} dims) should contain the "
                            f"same number of dims as destination ({destinations} dims) (as PyTorch)")
    if input.ndim == 0:
        return permute(input, ())
    order, rest = [None] * input.ndim, iter(d for d in range(input.ndim) if d not in sources)
    for s, d in zip(sources, destinations):
        order[d] = s
    return permute(input, tuple(next(rest) if d is None else d for d in order))


def tile(input, dims):
    """torch.tile: x repeated ``dims`` times (a tuple or list of ints) along its dims; fewer than x's dims repeat
    its last ones (Tensor.repeat of dims with leading 1s)."""
    check_tensors("tile", input)
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"tile(): argument 'dims' must be tuple of ints, not {type(dims).__name__} (as PyTorch)")
    return repeat(input, (1,) * (input.ndim - len(dims)) + tuple(dims))


def unflatten(input, dim, sizes):
    """torch.unflatten: x's dim ``dim`` split into dims of ``sizes`` (a tuple or list of ints, one of them may be
    -1), whose product is its size (a view where x's memory allows: reshape)."""
    check_tensors("unflatten", input)
    if not isinstance(sizes, (tuple, list)):
        raise TypeError(f"unflatten(): argument 'sizes' must be tuple of ints, not {type(sizes).__name__} "
                        "(as PyTorch)")
    if input.ndim == 0:
        raise IndexError("unflatten: Dimension specified as 0 but tensor has no dimensions (as PyTorch)")
    axis = axis_index("unflatten", dim, input.ndim)
    sizes = tuple(integer("unflatten", "sizes", n) for n in sizes)
    if not sizes:
        raise ArgumentError("unflatten: sizes must be non-empty (as PyTorch)")
    n, known = input.shape[axis], math.prod(size for size in sizes if size != -1)
    if sizes.count(-1) > 1 or (n % known if -1 in sizes and known else known != n and -1 not in sizes):
        raise ArgumentError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} ({n}) "
                            "in the input tensor (as PyTorch; one size may be -1)")
    return reshape(input, input.shape[:axis] + sizes + input.shape[axis + 1:])


def ravel(input):
    """torch.ravel: x's elements in one dimension (a view where x's memory allows: reshape; a 0-d tensor gives
    shape (1,))."""
    check_tensors("ravel", input)
    return reshape(input, -1)


def index_select(input, dim, index):
    """torch.index_select: x's slices along ``dim`` at the positions of ``index`` (an int64 or int32 tensor of at most
    one dim), in their order and repeated as there (a copy; repeated positions accumulate their gradients)."""
    check_tensors("index_select", input, index, names=("input", "index"))
    if index.dtype not in ("int64", "int32"):
        raise ArgumentError(f"index_select(): Expected dtype int32 or int64 for index, got {index.dtype} (as PyTorch)")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector (as PyTorch)")
    axis = axis_index("index_select", dim, input.ndim)
    where, size = index.data.reshape(-1), input.shape[axis] if input.ndim else 1
    if where.size and bool(((where < 0) | (where >= size)).any()):  # PyTorch's IndexError along dim 0, else its
        error = IndexError if axis == 0 else ArgumentError              # RuntimeError
        raise error(f"index_select: index out of range in self: an index is below 0 or not below the size {size} of "
                    f"dim {axis} (as PyTorch)")
    if input.ndim == 0:  # as PyTorch: one position, and a 0-d result
        if where.size != 1:
            raise ArgumentError(f"index_select(): Index to scalar can have only 1 value, got {where.size} value(s) "
                                "(as PyTorch)")
        return reshape(getitem(reshape(input, 1), Tensor(where)), ())
    return getitem(input, (slice(None),) * axis + (Tensor(where),))

def unbatched_too(op):
    """``op`` of (N, C, H, W) inputs also takes one (C, H, W) input, as PyTorch's conv and pooling:
    run as a batch of one, the batch dimension dropped from each result."""
    @functools.wraps(op)
    def wrapper(input, *args, **kwargs):
        if not (isinstance(input, Tensor) and input.ndim == 3):
            return op(input, *args, **kwargs)
        out = op(reshape(input, 1, *input.shape), *args, **kwargs)
        drop = (lambda t: reshape(t, *t.shape[1:]))
        return tuple(map(drop, out)) if isinstance(out, tuple) else drop(out)
    return wrapper


def _pad_value(value, dtype, fills):
    """pad's ``value`` in x's dtype: None is 0, as in PyTorch, and anything but a real number its TypeError; where
    the pad ``fills`` any element, a value the dtype cannot hold (NaN or an overflow for integers, beyond float16's
    range) is refused, as PyTorch refuses it (a bool takes any number: NaN is True); a pad that only crops checks
    no other value, as PyTorch's."""
    if value is None:
        return 0
    value = number(value)
    if not isinstance(value, (numbers.Real, numpy.bool_)):  # a complex, a sequence, an array: PyTorch's TypeError
        raise TypeError(f"pad: argument 'value' must be a real number, not {type(value).__name__} (as PyTorch)")
    if type(value) is int and dtype.kind == "f":
        value = float(value)  # a float argument in PyTorch (OverflowError beyond float64's range)
    finite = type(value) is int or bool(numpy.isfinite(value))  # NumPy's isfinite takes no int beyond int64
    if not fills:
        return 0
    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iu":
        fits = finite and numpy.iinfo(dtype).min <= value <= numpy.iinfo(dtype).max
    else:  # (float16's largest as a Python float: compared in float16, 1e10 overflowed with NumPy's warning)
        fits = not finite or abs(value) <= float(numpy.finfo(dtype).max)
    if not fits:
        raise ArgumentError(f"pad: value {value!r} cannot be converted to {dtype} without overflow")
    return value


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """x padded (torch.nn.functional.pad): with ``value`` (None: 0) in mode 'constant', else with copies of x's
    own elements, mirrored about its edges ('reflect'), its edges repeated ('replicate') or wrapped around from
    the other end ('circular').

    ``pad`` gives (before, after) amounts from the last dimension backwards: (left, right) pads
    W, (left, right, top, bottom) pads W and H. A negative amount crops, as in PyTorch.
    """
    check_tensors("pad", input)
    if mode not in PAD_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not one of PyTorch's {PAD_MODES}")
    if not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad: argument 'pad' must be a tuple or list of ints, not {type(pad).__name__} (as PyTorch)")
    pad = tuple(integer("pad", "pad", p) for p in pad)
    if len(pad) % 2 or len(pad) > 2 * input.ndim:
        raise ArgumentError(f"pad: {pad} must hold a (before, after) pair for each of at most the "
                            f"{input.ndim} dims of {tuple(input.shape)}")
    amounts = [(0, 0)] * (input.ndim - len(pad) // 2) + [pad[i:i + 2] for i in range(len(pad) - 2, -1, -2)]
    if mode != "constant":
        return _pad_copying(input, pad, mode, value, amounts[input.ndim - len(pad) // 2:])
    shape = tuple(n + before + after for n, (before, after) in zip(input.shape, amounts))
    if any(n + min(before, 0) + min(after, 0) < 0 for n, (before, after) in zip(input.shape, amounts)):
        raise ArgumentError(f"pad: {pad} crops more than the input {tuple(input.shape)} holds")
    source, target = [], []  # the part of x that is kept, and where it lands
    for n, (before, after) in zip(input.shape, amounts):
        start = max(-before, 0)
        stop = max(n - max(-after, 0), start)
        source.append(slice(start, stop))
        target.append(slice(max(before, 0), max(before, 0) + stop - start))
    source, target = tuple(source), tuple(target)
    xp = backend.xp_of(input.data)
    fills = any(before > 0 or after > 0 for before, after in amounts)
    out = xp.full(shape, _pad_value(value, input.dtype, fills), dtype=input.dtype)
    out[target] = input.data[source]

    def backward(g):
        grad = xp.zeros(input.shape, dtype=g.dtype)
        grad[source] = g[target]
        return (grad,)

    return make_result(out, (input,), backward, "pad")


def _copied_positions(mode, n, before, after, xp):
    """For a dim of size n padded by (before, after) in ``mode``, the input position each output copies: as
    PyTorch, reflect and replicate pad the whole dim, then crop; circular crops, then wraps around what is kept."""
    if mode == "circular":
        start, kept = max(-before, 0), n - max(-before, 0) - max(-after, 0)
        return start + xp.arange(-max(before, 0), kept + max(after, 0)) % max(kept, 1)
    position = xp.arange(-before, n + after)
    if mode == "replicate":
        return xp.clip(position, 0, n - 1)
    period = max(2 * n - 2, 1)
    position %= period
    return xp.where(position < n, position, period - position)


def _pad_copying(x, pad, mode, value, amounts):
    """pad in mode reflect, replicate or circular, with PyTorch's refusals: (before, after) ``amounts`` for the
    last 1 to 3 dims, of an input that has one or two more (a batch); the gradient adds up every copy's."""
    if value is not None and value != 0:
        raise ArgumentError(f"pad: mode {mode!r} takes no value argument, got {value!r} (as PyTorch)")
    padded = len(amounts)
    if not 1 <= padded <= 3 or x.ndim not in (padded + 1, padded + 2):
        raise NotImplementedError(f"pad: padding size {len(pad)} in mode {mode!r} is not supported for a {x.ndim}-D "
                                  f"input (as PyTorch: 2, 4 or 6 for one or two dims more)")
    sizes = x.shape[x.ndim - padded:]
    if mode != "circular" and (0 in x.shape[x.ndim - padded - 1:] or
                               any(n + before + after < 1 for n, (before, after) in zip(sizes, amounts))):
        raise ArgumentError(f"pad: mode {mode!r} needs an input {tuple(x.shape)} of non-zero dims (but the batch) "
                            f"and an output of at least one element along each padded dim, got pad {pad}")
    for n, (before, after) in zip(sizes, amounts):  # circular: PyTorch's wraps of more than is kept are unsound
        kept = n - max(-before, 0) - max(-after, 0)
        if mode == "reflect" and max(before, after) >= n or mode == "circular" and not max(before, after) <= kept >= 0:
            rule = "less than the dim" if mode == "reflect" else "at most what is kept of the dim (no wrapping twice)"
            raise ArgumentError(f"pad: in mode {mode!r} each amount must be {rule}, got pad {pad} for input "
                                f"{tuple(x.shape)}")
    xp = backend.xp_of(x.data)
    first = x.ndim - padded
    positions = [_copied_positions(mode, n, before, after, xp) for n, (before, after) in zip(sizes, amounts)]
    out = x.data
    for axis, taken in enumerate(positions, first):
        out = xp.take(out, taken, axis=axis)

    def backward(g):  # each copy's gradient added to its source: a product with the (out, n) one-hot matrix
        for axis, taken, n in zip(range(first, x.ndim), positions, sizes):
            one_hot = (taken[:, None] == xp.arange(n)).astype(g.dtype)
            g = xp.moveaxis(xp.tensordot(g, one_hot, axes=([axis], [0])), -1, axis)
        return (g,)

    return make_result(out, (x,), backward, "pad")


def broadcast_to(input, size):
    """torch.broadcast_to: expand(x, size), a view."""
    return expand(input, size)


def _triangle(name):
    def op(input, diagonal=0, *, out=None):
        if out is not None:
            refuse_out(name)
        check_tensors(name, input)
        diagonal = integer(name, "diagonal", diagonal)
        if input.ndim < 2:
            raise ArgumentError(f"{name}: input tensor must have at least 2 dimensions (as PyTorch)")
        kernel = getattr(backend.xp_of(input.data), name)  # (on the last two dims)
        return make_result(kernel(input.data, diagonal), (input,), lambda g: (kernel(g, diagonal),), name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"torch.{name}: the {'upper' if name == 'triu' else 'lower'} triangle of the matrices of x (its last "
                  f"two dims) from the ``diagonal``-th diagonal on (0 the main one, > 0 above it), the rest zeroed, any "
                  f"dtype; the gradient: {name} of g.")
    return op


triu, tril = _triangle("triu"), _triangle("tril")


def roll(input, shifts, dims=None):
    """torch.roll: x's elements shifted by ``shifts`` along ``dims`` (ints, or sequences of one length), those past
    the end coming back at the start; without dims, along x flattened (its shape kept). The gradient: g rolled
    back."""
    check_tensors("roll", input)
    shifts = [integer("roll", "shifts", s) for s in (shifts if isinstance(shifts, (tuple, list)) else (shifts,))]
    axes = None if dims is None else [axis_index("roll", d, input.ndim) for d in
                                      (dims if isinstance(dims, (tuple, list)) else (dims,))]
    if not shifts:
        raise ArgumentError("roll: `shifts` required (as PyTorch)")
    if axes is None and len(shifts) != 1 or axes is not None and len(axes) != len(shifts):
        raise ArgumentError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                            f"{0 if axes is None else len(axes)} (as PyTorch)")
    xp = backend.xp_of(input.data)

    def rolled(array, sign):
        if axes is None:
            return xp.roll(array.reshape(-1), sign * shifts[0]).reshape(array.shape)
        return xp.roll(array, [sign * s for s in shifts], axes)

    return make_result(rolled(input.data, 1), (input,), lambda g: (rolled(g, -1),), "roll")


def _diagonal_view(array, offset, axis1, axis2):
    """The ``offset``-th diagonal of ``array`` over two of its axes, as the last axis: a writeable view (NumPy's
    diagonal is read-only), as PyTorch's."""
    index = [slice(None)] * array.ndim
    index[axis2 if offset >= 0 else axis1] = slice(operator.abs(offset), None)
    base = array[tuple(index)]
    rest = [i for i in range(array.ndim) if i not in (axis1, axis2)]
    shape = tuple(base.shape[i] for i in rest) + (min(base.shape[axis1], base.shape[axis2]),)
    strides = tuple(base.strides[i] for i in rest) + (base.strides[axis1] + base.strides[axis2],)
    return backend.xp_of(array).lib.stride_tricks.as_strided(base, shape, strides)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """torch.diagonal: the ``offset``-th diagonal (> 0 above the main one) of x over dims ``dim1`` and ``dim2``, as its
    last dim, the others kept (a view). The gradient: g on that diagonal of zeros."""
    check_tensors("diagonal", input)
    offset = integer("diagonal", "offset", offset)
    axis1, axis2 = axis_index("diagonal", dim1, input.ndim), axis_index("diagonal", dim2, input.ndim)
    if axis1 == axis2:
        raise ArgumentError(f"diagonal: diagonal dimensions cannot be identical {dim1}, {dim2} (as PyTorch)")
    return make_result(_diagonal_view(input.data, offset, axis1, axis2), (input,),
                       lambda g: (_on_diagonal(g, input.shape, offset, axis1, axis2),), "diagonal", view_of=input)


def _on_diagonal(values, shape, offset, axis1, axis2):
    """Zeros of ``shape`` with ``values`` on the diagonal that _diagonal_view names."""
    array = backend.xp_of(values).zeros(shape, dtype=values.dtype)
    _diagonal_view(array, offset, axis1, axis2)[...] = values
    return array


def diag(input, diagonal=0, *, out=None):
    """torch.diag: of a vector, the square matrix with it on the ``diagonal``-th diagonal (> 0 above the main one),
    zeros elsewhere; of a matrix, a copy of that diagonal (a vector); other dims refused, as PyTorch."""
    if out is not None:
        refuse_out("diag")
    check_tensors("diag", input)
    offset = integer("diag", "diagonal", diagonal)
    if input.ndim == 2:
        return make_result(_diagonal_view(input.data, offset, 0, 1).copy(), (input,),
                           lambda g: (_on_diagonal(g, input.shape, offset, 0, 1),), "diag")
    if input.ndim != 1:
        raise ArgumentError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D (as PyTorch)")
    n = input.shape[0] + operator.abs(offset)
    return make_result(_on_diagonal(input.data, (n, n), offset, 0, 1), (input,),
                       lambda g: (_diagonal_view(g, offset, 0, 1).copy(),), "diag")


def masked_select(input, mask, *, out=None):
    """torch.masked_select: the elements of x where the bool ``mask`` is True, x and mask broadcast together, as a
    1-D tensor (its length is known on the host only: a GPU waits for it, as PyTorch's). The gradient: g put back at
    the mask's places, summed over x's broadcast dims."""
    if out is not None:
        refuse_out("masked_select")
    check_tensors("masked_select", input, mask, names=("input", "mask"))
    if mask.dtype != bool:
        raise ArgumentError("masked_select: expected BoolTensor for mask (as PyTorch)")
    xp = backend.xp_of(input.data)
    shape = broadcast_shape("masked_select", input.shape, mask.shape)
    where = xp.broadcast_to(mask.data, shape)
    unchanged = saved_beside_inputs("masked_select", (input,), (mask,))

    def backward(g):
        unchanged()  # PyTorch's node saved the mask
        grad = xp.zeros(shape, dtype=g.dtype)
        grad[where] = g
        return (unbroadcast(grad, input.shape),)

    return make_result(xp.broadcast_to(input.data, shape)[where], (input,), backward, "masked_select")
