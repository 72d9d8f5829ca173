"""Ops that move data without arithmetic: reshape, transpose, flatten, indexing, concatenation."""
from .. import backend
from ..tensor import Tensor, make_result
from ._util import check_float


def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def reshape(x, *shape):
    """The same elements in a new shape (one dimension may be -1)."""
    shape = _shape_arg(shape)
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape {tuple(x.shape)} into {tuple(shape)}") from None
    return make_result(out, (x,), lambda g: (g.reshape(x.shape),), "reshape")


def permute(x, *dims):
    """Reorder the dimensions (a view, as torch.permute)."""
    dims = _shape_arg(dims)
    if sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims of {tuple(x.shape)}")
    inverse = [0] * x.ndim
    for i, d in enumerate(dims):
        inverse[d % x.ndim] = i
    return make_result(x.data.transpose(dims), (x,), lambda g: (g.transpose(inverse),), "permute")


def transpose(x, dim0, dim1):
    """Swap two dimensions (torch.transpose)."""
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, *dims)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one (torch.flatten)."""
    start, end = start_dim % x.ndim, end_dim % x.ndim
    shape = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return reshape(x, *shape)


def _is_advanced(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") or isinstance(i, (list, Tensor)) for i in items)


def getitem(x, index):
    """x[index] with NumPy's basic and integer-array indexing."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    xp = backend.xp_of(x.data)

    def backward(g):
        grad = xp.zeros(x.shape, dtype=g.dtype)
        if _is_advanced(index):
            xp.add.at(grad, index, g)  # repeated indices accumulate
        else:
            grad[index] = g
        return (grad,)

    return make_result(x.data[index], (x,), backward, "getitem")


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    check_float("concatenate", *tensors)
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(ref, t.shape))
                                     if i != axis % len(ref)):
            raise ValueError(f"concatenate: shapes {tuple(ref)} and {tuple(t.shape)} differ "
                             f"outside axis {axis}")
    xp = backend.xp_of(tensors[0].data)
    sizes = [t.shape[axis] for t in tensors]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]

    def backward(g):  # each input's gradient is a view of its slice of g
        before = (slice(None),) * (axis % g.ndim)
        return tuple(g[before + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:]))

    return make_result(xp.concatenate([t.data for t in tensors], axis=axis), tensors, backward,
                       "concatenate")


def stack(tensors, axis=0):
    """Join tensors of equal shape along a new axis."""
    tensors = list(tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tuple(tensors[0].shape)} and {tuple(t.shape)} differ")
    axis = axis % (tensors[0].ndim + 1)
    expanded = [reshape(t, *t.shape[:axis], 1, *t.shape[axis:]) for t in tensors]
    return concatenate(expanded, axis=axis)
