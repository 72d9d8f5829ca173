"""Matrix products: matmul (batched, broadcasting), mm, bmm, mv, dot, outer, the fully connected layer, and the
lookups that stand for a product with one-hot rows (embedding, one_hot)."""
import math
import warnings

from .. import backend, threads
from ..tensor import Tensor, make_result
from ._util import (ArgumentError, accurate_sum, axis_index, broadcast_shape, check_product, check_tensors, integer,
                    quiet, refuse_out, unbroadcast)
from .elementwise import add, mul, where
from .shape import index_select, reshape


def matmul(input, other, *, out=None):
    """input @ other (torch.matmul): leading (batch) dims broadcast as in NumPy; a 1-D ``input`` is a
    row and a 1-D ``other`` a column vector whose dimension the result drops (1-D @ 1-D is a 0-d dot). Float or
    integer tensors of one dtype (check_product)."""
    if out is not None:
        refuse_out("matmul")
    check_product("matmul", input, other)  # Tensors, as PyTorch: an array or a list is a TypeError (x @ array takes it)
    if input.ndim == 0 or other.ndim == 0 or input.shape[-1] != other.shape[-2 if other.ndim > 1 else 0]:
        raise ArgumentError(f"matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} do not fit "
                            "(need >= 1 dim each and a.shape[-1] == b.shape[-2], or b.shape[0] for a 1-D b)")
    a2 = reshape(input, 1, input.shape[0]) if input.ndim == 1 else input
    b2 = reshape(other, other.shape[0], 1) if other.ndim == 1 else other
    broadcast_shape("matmul", a2.shape[:-2], b2.shape[:-2])  # the batch dims
    xp = backend.xp_of(input.data)

    def backward(g):
        ga = xp.matmul(g, xp.swapaxes(b2.data, -1, -2)) if a2.requires_grad else None
        gb = xp.matmul(xp.swapaxes(a2.data, -1, -2), g) if b2.requires_grad else None
        return (unbroadcast(ga, a2.shape) if ga is not None else None,
                unbroadcast(gb, b2.shape) if gb is not None else None)

    result = make_result(xp.matmul(a2.data, b2.data), (a2, b2), backward, "matmul")
    if input.ndim > 1 and other.ndim > 1:
        return result
    return reshape(result, result.shape[:-2] + result.shape[-2:-1] * (input.ndim > 1)
                   + result.shape[-1:] * (other.ndim > 1))


@quiet
def linear(input, weight, bias=None, *, out=None):
    """x @ weight.T + bias, with weight shaped (out_features, in_features), or (in_features,) for x @ weight, as
    in PyTorch; the bias is (out_features,) or broadcasts to the output's shape, as PyTorch's (whose fast path
    for a contiguous input of 3 or more dims refuses some of those, a (N, 1) bias; tinyrrn takes them all). A 1-d
    weight takes no bias with a 2-d input, as there (PyTorch's addmm), and only a 0-d one with a 1-d input. Float or
    integer tensors of one dtype (check_product)."""
    if out is not None:
        refuse_out("linear")
    check_product("linear", input, weight, bias, names=("input", "weight", "bias"))
    if weight.ndim == 1 and input.ndim and input.shape[-1] == weight.shape[0]:  # PyTorch: input @ weight, no last dim
        result = matmul(input, weight)
        if bias is not None and input.ndim == 2:  # PyTorch's addmm, refused for any bias
            raise ArgumentError("linear: a bias with a 2-d input and a 1-d weight is refused, as PyTorch (mat2 must be "
                                "a matrix)")
        if bias is not None and broadcast_shape("linear", result.shape, bias.shape) != result.shape:
            raise ArgumentError(f"linear: bias {tuple(bias.shape)} does not broadcast to the output's shape "
                                f"{tuple(result.shape)} (as PyTorch)")
        return result if bias is None else add(result, bias)
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise ArgumentError(f"linear: input {tuple(input.shape)} does not fit weight {tuple(weight.shape)} "
                            "(need input.shape[-1] == weight.shape[1])")
    out_shape = input.shape[:-1] + (weight.shape[0],)
    row_bias = bias is not None and bias.shape == (weight.shape[0],)  # the layer's bias, added to every row
    if bias is not None and not row_bias and broadcast_shape("linear", out_shape, bias.shape) != out_shape:
        raise ArgumentError(f"linear: bias {tuple(bias.shape)} does not fit weight {tuple(weight.shape)} "
                            f"(it must broadcast to the output's shape {out_shape}, as PyTorch)")
    x2 = input.data.reshape(math.prod(input.shape[:-1]), input.shape[-1])  # not -1: a size may be 0
    result = threads.matmul(x2, weight.data.T)
    if row_bias:
        result += bias.data
    result = result.reshape(out_shape)
    if bias is not None and not row_bias:
        result += bias.data

    def backward(g):
        g2 = g.reshape(x2.shape[0], weight.shape[0])
        gx = threads.matmul(g2, weight.data).reshape(input.shape)
        gw = threads.matmul(g2.T, x2)
        if bias is None:
            return gx, gw
        return gx, gw, accurate_sum(g2, 0) if row_bias else unbroadcast(g, bias.shape)

    parents = (input, weight) + ((bias,) if bias is not None else ())
    return make_result(result, parents, backward, "linear")


def _product_of(op, dims, input, other, names):
    """mm's, bmm's, mv's and dot's checks, as PyTorch's: Tensors of one dtype (check_product) of ``dims`` dims each,
    the inner sizes equal (and bmm's batch sizes: no broadcasting), else PyTorch's RuntimeError."""
    check_product(op, input, other, names=names)
    if (input.ndim, other.ndim) != dims:
        raise ArgumentError(f"{op}: expected {dims[0]}-D and {dims[1]}-D tensors, got {input.ndim}-D and "
                            f"{other.ndim}-D (as PyTorch)")
    inner = (input.shape[-1], other.shape[-2 if other.ndim > 1 else 0])
    batches = (input.shape[0], other.shape[0]) if dims == (3, 3) else (0, 0)
    if inner[0] != inner[1] or batches[0] != batches[1]:
        raise ArgumentError(f"{op}: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be multiplied "
                            "(as PyTorch)")
    return matmul(input, other)


def mm(input, mat2, *, out=None):
    """torch.mm: the product of two matrices (no broadcasting, as PyTorch's; matmul for that)."""
    if out is not None:
        refuse_out("mm")
    return _product_of("mm", (2, 2), input, mat2, ("input", "mat2"))


def bmm(input, mat2, *, out=None):
    """torch.bmm: the products of two batches of matrices of one batch size (no broadcasting, as PyTorch's)."""
    if out is not None:
        refuse_out("bmm")
    return _product_of("bmm", (3, 3), input, mat2, ("input", "mat2"))


def mv(input, vec, *, out=None):
    """torch.mv: a matrix times a vector."""
    if out is not None:
        refuse_out("mv")
    return _product_of("mv", (2, 1), input, vec, ("input", "vec"))


def dot(input, tensor, *, out=None):
    """torch.dot: the inner product of two vectors of one length and dtype, a 0-d tensor."""
    if out is not None:
        refuse_out("dot")
    return _product_of("dot", (1, 1), input, tensor, ("input", "tensor"))


def outer(input, vec2, *, out=None):
    """torch.outer: out[i, j] = input[i] * vec2[j] of two vectors, in their promoted dtype (a product: mul)."""
    if out is not None:
        refuse_out("outer")
    check_tensors("outer", input, vec2, names=("input", "vec2"))
    for name, vector in (("self", input), ("vec2", vec2)):
        if vector.ndim != 1:
            raise ArgumentError(f"outer: Expected 1-D argument {name}, but got {vector.ndim}-D (as PyTorch)")
    return mul(reshape(input, -1, 1), vec2)


def cross(input, other, dim=None, *, out=None):
    """torch.cross: the cross products of the 3-vectors of input and other (broadcast, one dtype) along ``dim``; without
    dim, the first dim of size 3, with PyTorch's deprecation warning. PyTorch's gradients: cross(other, g) for input,
    cross(g, input) for other."""
    if out is not None:
        refuse_out("cross")
    check_tensors("cross", input, other)
    if input.dtype != other.dtype:
        raise ArgumentError(f"cross: expected scalar type {input.dtype} but found {other.dtype} (as PyTorch)")
    shape = broadcast_shape("cross", input.shape, other.shape)
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                      "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ArgumentError(f"no dimension of size 3 in input (as PyTorch's cross), shape {shape}")
    axis = axis_index("cross", dim, len(shape))
    sizes = [((1,) * (len(shape) - t.ndim) + t.shape)[axis] for t in (input, other)]
    if sizes != [3, 3]:
        raise ArgumentError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {sizes[0]} and {sizes[1]} "
                            "(as PyTorch)")
    xp = backend.xp_of(input.data)

    def product(a, b):
        return xp.cross(a, b, axis=axis)

    return make_result(product(input.data, other.data), (input, other),
                       lambda g: (unbroadcast(product(other.data, g), input.shape) if input.requires_grad else None,
                                  unbroadcast(product(g, input.data), other.shape) if other.requires_grad else None),
                       "cross")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` (num_embeddings, dim) at the int64 or int32 indices ``input``: input.shape + (dim,)
    (torch.nn.functional.embedding); repeated indices accumulate their gradients, and the ``padding_idx`` row (a
    negative one counts from the end) gets none. max_norm, scale_grad_by_freq and sparse are not supported."""
    check_tensors("embedding", input, weight, names=("input", "weight"))
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by tinyrrn")
    if weight.ndim != 2:
        raise ArgumentError("embedding: 'weight' must be 2-D (as PyTorch)")
    if input.dtype not in ("int64", "int32"):
        raise ArgumentError(f"embedding: expected indices of dtype int64 or int32, got {input.dtype} (as PyTorch)")
    rows = index_select(weight, 0, reshape(input, -1))
    if padding_idx is not None:
        size, padding_idx = weight.shape[0], integer("embedding", "padding_idx", padding_idx)
        if not -size <= padding_idx < size:
            raise AssertionError("Padding_idx must be within num_embeddings")  # (PyTorch's assert)
        counted = Tensor(input.data.reshape(-1, 1) != padding_idx % size)
        rows = where(counted, rows, rows.detach())  # the same rows; no gradient to the padding one
    return reshape(rows, *input.shape, weight.shape[1])


def one_hot(tensor, num_classes=-1):
    """An int64 tensor of tensor.shape + (num_classes,), 1 at each index of ``tensor`` (int64) and 0 elsewhere
    (torch.nn.functional.one_hot); num_classes -1 is the largest index + 1. Indices below 0 or not below
    num_classes are PyTorch's RuntimeError (looked at on the host, as PyTorch does)."""
    check_tensors("one_hot", tensor, names=("tensor",))
    if tensor.dtype != "int64":
        raise ArgumentError("one_hot is only applicable to index tensor of type LongTensor.")
    indices, num_classes = tensor.data, integer("one_hot", "num_classes", num_classes)
    xp = backend.xp_of(indices)
    if num_classes == -1:
        if indices.size == 0:
            raise ArgumentError("Can not infer total number of classes from empty tensor.")
        num_classes = int(indices.max()) + 1
    if indices.size and int(indices.min()) < 0:
        raise ArgumentError("Class values must be non-negative.")
    if indices.size and int(indices.max()) >= num_classes:
        raise ArgumentError("Class values must be smaller than num_classes.")
    return Tensor((indices[..., None] == xp.arange(num_classes)).astype("int64"))
