"""Sorting along a dimension: sort, argsort and topk, with PyTorch's named pairs (values, int64 indices), its order
of NaN (the greatest value) and stable ties; the gradient goes back to the elements each value came from."""
import collections

import numpy

from .. import backend
from ..tensor import Tensor, make_result
from ._util import ArgumentError, axis_index, check_tensors, flag, integer, refuse_out

# torch.return_types.sort and .topk
SortResult = collections.namedtuple("sort", ("values", "indices"))
TopkResult = collections.namedtuple("topk", ("values", "indices"))


def _order(x, axis, descending):
    """The indices that sort x along ``axis``, stably (equal elements in the order they come), NaN after every number
    (first when ``descending``), as PyTorch's stable sort: descending is the stable ascending order of x reversed,
    read backwards."""
    xp = backend.xp_of(x)
    if not descending:
        return _stable_argsort(x, axis)
    return (x.shape[axis] - 1) - xp.flip(_stable_argsort(xp.flip(x, axis), axis), axis)


def _stable_argsort(x, axis):
    """NumPy's argsort with kind='stable'; CuPy's argsort, which is always stable (its docs: kind None only means
    'stable', and other kinds are not accepted)."""
    if backend.xp_of(x) is numpy:
        return numpy.argsort(x, axis=axis, kind="stable")
    return backend.xp_of(x).argsort(x, axis=axis)


def _picked(op, input, axis, order):
    """(values, indices) of x taken along ``axis`` at ``order`` (some or all of x's sorting indices); the gradient of
    the values: g put back where each value came from, 0 elsewhere (the inverse of the full order)."""
    x = input.data
    xp = backend.xp_of(x)
    values = xp.take_along_axis(x, order, axis)

    def backward(g):
        grad = xp.zeros(x.shape, dtype=g.dtype)
        xp.put_along_axis(grad, order, g, axis)
        return (grad,)

    return make_result(values, (input,), backward, op), Tensor(order.astype("int64", copy=False))


def _checked(op, input, dim, descending, name="descending"):
    check_tensors(op, input)
    flag(op, name, descending)
    return axis_index(op, dim, input.ndim)


def sort(input, dim=-1, descending=False, *, stable=False, out=None):
    """torch.sort: a named pair (values, indices) of x sorted along ``dim``, ties in their order (stable, whatever
    ``stable`` says, as PyTorch's CPU sort), NaN greatest."""
    if out is not None:
        refuse_out("sort")
    axis = _checked("sort", input, dim, descending)
    flag("sort", "stable", stable)
    shaped = input if input.ndim else input.reshape(1)
    values, indices = _picked("sort", shaped, axis, _order(shaped.data, axis, descending))
    return SortResult(values, indices) if input.ndim else SortResult(values.reshape(()), indices.reshape(()))


def argsort(input, dim=-1, descending=False, *, stable=False):
    """torch.argsort: the int64 indices of sort(x, dim, descending), without gradient."""
    axis = _checked("argsort", input, dim, descending)
    flag("argsort", "stable", stable)
    data = input.data if input.ndim else input.data.reshape(1)
    return Tensor(_order(data, axis, descending).astype("int64", copy=False).reshape(input.shape))


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    """torch.topk: a named pair (values, indices) of the k largest (``largest``) or smallest elements along ``dim``,
    in sort's order (ties by position, NaN greatest; ``sorted=False`` returns that order too); k beyond the
    dimension's size is PyTorch's error."""
    if out is not None:
        refuse_out("topk")
    axis = _checked("topk", input, dim, largest, "largest")
    flag("topk", "sorted", sorted)
    k = integer("topk", "k", k)
    size = input.shape[axis] if input.ndim else 1
    if not 0 <= k <= size:
        raise ArgumentError(f"topk: selected index k out of range (k={k}, dimension of size {size}; as PyTorch)")
    shaped = input if input.ndim else input.reshape(1)
    order = _order(shaped.data, axis, largest)[(slice(None),) * axis + (slice(0, k),)]
    values, indices = _picked("topk", shaped, axis, order)
    return TopkResult(values, indices) if input.ndim else TopkResult(values.reshape(()), indices.reshape(()))
