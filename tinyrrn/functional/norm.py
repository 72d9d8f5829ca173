"""Batch normalisation (Ioffe & Szegedy, 2015), as torch.nn.functional.batch_norm.

Every pass over the activations (the per-channel sums, the output, and the two of the backward
pass) is a kernel below run by tinyrrn.threads on blocks of rows: the blocks go to all
threads, and each block's temporaries stay in the cache. The element-wise ones (the output,
the input gradient) are plain functions that CuPy compiles to one kernel each on a GPU. ``batch_norm_relu`` is
relu(batch_norm(x)) in the same passes (a ResNet's BN is mostly followed by a ReLU), and
``batch_norm_add_relu`` relu(batch_norm(x) + other), the end of a residual unit (Eq. 1), in them too.
"""
import math
import numbers

import numpy

from .. import backend, threads
from ..grad_mode import records_graph
from ..tensor import Tensor, make_result
from ._util import (ArgumentError, check_float, check_tensors, flag, number, quiet, saved_beside_inputs,
                    saving_originals)
from .elementwise import _relu, astype


def _rows(array):
    """(N, C, ...) as a (rows, C) matrix; a free view when memory is channels-last."""
    if array.ndim == 2:
        return array
    moved = array.transpose((0,) + tuple(range(2, array.ndim)) + (1,))
    return moved.reshape(math.prod(moved.shape[:-1]), array.shape[1])  # not -1: there may be 0 channels


def _sum_over_rows(block):
    """Sum over the rows of a (rows, C) block. On NumPy by ``einsum``, not ``ones @ block``: NumPy holds
    the GIL through a vector-matrix product, so that the blocks of the other threads would wait for it.
    On CuPy exactly as ``ones @ block``: cuBLAS reads the rows whole, where a reduction kernel over
    axis 0 reads each column strided, and CuPy's einsum makes C products of 1 x rows x 1 (ResNet-50's
    batch norm + ReLU forward on an H200, batch 16: 0.43 ms a call so, 0.95 by a sum over axis 0,
    0.79 by einsum). With CUPY_TF32=1 this product, as every float32 product, rounds its inputs to TF32."""
    xp = backend.xp_of(block)
    if xp is numpy:
        return numpy.einsum("ij->j", block)
    return (xp.ones((1, block.shape[0]), block.dtype) @ block).reshape(-1)


def _dot_over_rows(a, b):
    """sum(a * b) over the rows of two (rows, C) blocks; on CuPy the product, then _sum_over_rows."""
    xp = backend.xp_of(a)
    if xp is numpy:
        return numpy.einsum("ij,ij->j", a, b)
    return _sum_over_rows(a * b)


def _column_sums(rows):
    """Sum over the rows of a (rows, C) matrix: block sums on the threads, added."""
    return threads.sum_rows(_sum_over_rows, rows)


def _centred_squares(x, mean):
    """sum((x - mean)^2) over the rows of a block: the variance's numerator."""
    centred = x - mean
    return _dot_over_rows(centred, centred)


# Element-wise chains (tinyrrn.threads.elementwise: blocks over the threads on the CPU, one fused
# kernel on a GPU); each writes into its last argument.
def normalise(x, scale, shift, out):
    """out = x * scale + shift: the output, with scale = gamma / std and shift = beta - mean * scale,
    as PyTorch's CPU kernel computes it."""
    backend.xp_of(x).multiply(x, scale, out=out)
    out += shift


def normalise_relu(x, scale, shift, out):
    """out = max(x * scale + shift, 0) (F.relu's select: -0.0 kept)."""
    normalise(x, scale, shift, out)
    _relu(out, out)


def normalise_add_relu(x, scale, shift, other, out):
    """out = max(x * scale + shift + other, 0)."""
    normalise(x, scale, shift, out)
    out += other
    _relu(out, out)


def _scaled(g, scale, out):
    """out = scale g: the input gradient with fixed statistics (evaluation)."""
    backend.xp_of(g).multiply(g, scale, out=out)


def _input_gradient(g, x, mean, scale, centred_coefficient, constant, out):
    """out = scale g + a (x - mean) + b: the input gradient in training (a, b per channel); ``out``
    may be g itself."""
    backend.xp_of(g).multiply(g, scale, out=out)
    centred = x - mean
    centred *= centred_coefficient
    out += centred
    out += constant


def _gradient_sums(g, x, y, mean, relu, gated):
    """[sum g, sum g (x - mean)] over the rows of a block; with ``relu`` g is first gated by the
    ReLU's output y (g where y > 0), into ``gated``, for the second pass to reuse."""
    xp = backend.xp_of(x)
    if relu:
        g = xp.multiply(g, xp.logical_not(y <= 0), out=gated)  # as elementwise._relu_gradient
    return xp.concatenate([_sum_over_rows(g), _dot_over_rows(g, x - mean)])


def _gamma(weight, like):
    """The scale parameter's values, or ones when there is none."""
    return weight.data if weight is not None else backend.xp_of(like).ones_like(like)


def _affine(mean, var, weight, bias, eps):
    """1 / std, and the scale and shift of batch norm with statistics mean and var (the output is x * scale +
    shift): scale = gamma / std and shift = beta - mean * scale, as PyTorch's CPU kernel computes them."""
    inv_std = 1 / backend.xp_of(mean).sqrt(var + eps)
    scale = _gamma(weight, inv_std) * inv_std
    return inv_std, scale, (bias.data if bias is not None else 0) - mean * scale


def fixed_affine(running_mean, running_var, weight=None, bias=None, eps=1e-5, dtype="float32"):
    """(scale, shift) arrays of batch norm in evaluation with the running statistics ``running_mean`` and
    ``running_var`` (Tensors, as batch_norm's), as batch_norm computes them for an input of ``dtype``: its output
    is x * scale + shift (tinyrrn.nn.conv_bn applies them in the convolution's blocks)."""
    mean, var = running_mean.data.astype(dtype), running_var.data.astype(dtype)
    return _affine(mean, var, weight, bias, eps)[1:]


def _unrows(rows, shape):
    """Inverse of _rows: back to shape (N, C, ...), keeping channels-last memory."""
    if len(shape) == 2:
        return rows
    moved = rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return moved.transpose((0, len(shape) - 1) + tuple(range(1, len(shape) - 1)))


def update_running_stats(running_mean, running_var, mean, var, count, momentum):
    """Move the running statistics towards a batch's (in place); the variance unbiased, as in PyTorch."""
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * count / (count - 1)) * var


def _no_reduction(sums):
    return sums


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, reduce=None):
    """Normalise each channel of x (N, C, ...) and scale/shift it: y = (x - mean) / sqrt(var + eps) * w + b.

    Training uses the batch's statistics and updates ``running_mean`` and
    ``running_var`` (Tensors, as PyTorch's, such as BatchNorm2d's buffers; arrays
    are taken too; or None to keep none) in place, in their arrays, with
    ``momentum``, the variance unbiased as in PyTorch; evaluation uses the running
    statistics. As in PyTorch, ``momentum`` is a number here; BatchNorm2d's
    momentum=None (a cumulative average) passes 1 / num_batches_tracked.

    ``reduce`` is the hook at batch-norm's reductions (training only): it receives the
    per-channel sums of this batch as one float64 vector and returns them summed over
    every batch that shares the statistics -- [count, sum x], then sum (x - mean)^2 in the
    forward pass, and [sum g, sum g (x - mean)] in the backward pass. The default keeps
    them (one batch); SyncBatchNorm passes a sum over all ranks.
    """
    running_mean, running_var, momentum, eps, unchanged = _check("batch_norm", input, running_mean, running_var, weight,
                                                                 bias, momentum, training, eps)
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, reduce, unchanged,
                       relu=False)


def batch_norm_relu(x, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5, reduce=None):
    """relu(batch_norm(x, ...)) computed in batch norm's passes, with the same arguments: one output
    array instead of two, and the ReLU's gradient folded into batch norm's backward."""
    running_mean, running_var, momentum, eps, unchanged = _check("batch_norm_relu", x, running_mean, running_var,
                                                                 weight, bias, momentum, training, eps)
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, unchanged,
                       relu=True)


def batch_norm_add_relu(x, other, running_mean, running_var, weight=None, bias=None, training=False,
                        momentum=0.1, eps=1e-5, reduce=None):
    """relu(batch_norm(x, ...) + other), a residual unit's last batch norm, its sum with the shortcut and
    its ReLU (Eq. 1) in batch norm's passes: one pass over memory less forward and backward than
    batch_norm and add_relu, the same numbers. ``other`` has x's shape; the other arguments are
    batch_norm's."""
    running_mean, running_var, momentum, eps, unchanged = _check("batch_norm_add_relu", x, running_mean, running_var,
                                                                 weight, bias, momentum, training, eps)
    check_tensors("batch_norm_add_relu", x, other)
    check_float("batch_norm_add_relu", other)
    if other.shape != x.shape or other.dtype != x.dtype:
        raise ArgumentError(f"batch_norm_add_relu: other {tuple(other.shape)} {other.dtype} must have the input's "
                            f"shape and dtype, {tuple(x.shape)} {x.dtype} (add_relu broadcasts)")
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, unchanged,
                       relu=True, other=other)


def _check(op, x, running_mean, running_var, weight, bias, momentum, training, eps):
    """Refuse arguments that do not fit (naming ``op``), as PyTorch; the running statistics as arrays,
    momentum and eps as numbers (a one-element tensor is its value, as PyTorch), and the check the backward
    calls first: PyTorch's node saves the running statistics, in training too, so that a change in place of a
    Tensor given as one (not the op's own update) refuses it, and an inference tensor is refused here."""
    check_float(op, x)
    flag(op, "training", training)
    momentum, eps = number(momentum), number(eps)
    given = [(t, name) for t, name in ((weight, "weight"), (bias, "bias")) if t is not None]
    check_tensors(op, *(t for t, _ in given), names=[name for _, name in given])
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and not hasattr(t, "dtype"):  # a Tensor (BatchNorm2d's buffers) or an array
            raise TypeError(f"{op}: {name} must be a Tensor, an array or None, got {type(t).__name__}")
        if isinstance(t, Tensor) and t.requires_grad and records_graph():
            raise RuntimeError(f"{op}: The function is not differentiable with respect to argument '{name}'. This "
                               "input cannot have requires_grad True (as PyTorch's batch norm)")
    statistics = running_mean, running_var
    running_mean, running_var = (t.data if isinstance(t, Tensor) else t for t in statistics)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must either both be None or neither be None")
    if training and not eps > 0:
        raise ValueError(f"{op}: eps must be positive during training, but got {eps}")
    if eps < 0:  # as PyTorch: the square root of a negative variance + eps would be NaN
        raise ValueError(f"{op}: eps must be non-negative, but got {eps}")
    dtypes = {t.dtype for t in (running_mean, running_var, weight, bias) if t is not None}
    if dtypes and not (dtypes == {x.dtype} or (x.dtype == "float16" and dtypes == {numpy.dtype("float32")})):
        raise ArgumentError(f"{op}: mixed dtype: input {x.dtype} with statistics or parameters of "
                            f"{', '.join(sorted(map(str, dtypes)))} (PyTorch allows float32 ones for a float16 "
                            "input only); convert with .astype(...)")
    if x.ndim < 2:
        raise ArgumentError(f"{op}: expected input (N, C, ...), got shape {tuple(x.shape)}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ArgumentError(f"{op}: {name} of shape {tuple(t.shape)} does not fit input "
                                f"{tuple(x.shape)} with {c} channels")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"{op}: momentum must be a number, got {momentum!r} (PyTorch's functional "
                        "batch_norm neither takes None; BatchNorm2d(momentum=None) passes 1 / num_batches_tracked)")
    momentum = float(momentum) if isinstance(momentum, bool) else momentum  # True is 1.0, as PyTorch reads it
    if not training and (running_mean is None or running_var is None):
        raise ArgumentError(f"{op}: running_mean and running_var must be given in evaluation mode "
                            "(training=False), as in PyTorch; got None")
    unchanged = saved_beside_inputs(op, [t for t in (x, weight, bias) if t is not None], statistics)
    return running_mean, running_var, momentum, eps, unchanged


def _check_unchanged(op, running_mean, running_var, mean, var):
    """Refuse a backward whose running statistics (the fixed ones of evaluation, saved as ``mean`` and
    ``var``) were changed in place since the forward pass, as PyTorch's version check of the buffers.
    On host arrays only: on a GPU the comparison would make the host wait for the device at every batch
    norm of a frozen-statistics backward (as pool._may_hold, it is not looked at there); the gradient is
    then that of the statistics the forward pass used."""
    xp = backend.xp_of(mean)
    if xp is numpy and not (xp.array_equal(running_mean, mean, equal_nan=True) and xp.array_equal(running_var, var, equal_nan=True)):
        raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an inplace "
                           f"operation: the running_mean or running_var of {op!r} was changed after the forward "
                           "pass (load_state_dict, a write). Run the forward pass again after the change.")


WIDE_ROW = 128  # values per row that the passes' inner loops should get (see side_by_side)


def side_by_side(rows):
    """How many rows of a (R, C) matrix the passes lay side by side, as (R/k, k*C): NumPy's inner
    loops run along one row, 8 values long for 8 channels (the built-in job's first layers) and
    slow for it; k rows side by side make loops of about WIDE_ROW values. Per-channel vectors are
    then repeated k times and sums folded back. 1 for wide rows, memory that is not contiguous, and
    on a GPU (whose kernels do not loop along rows; the folding would only add kernels)."""
    r, c = rows.shape
    k = max(1, WIDE_ROW // c)
    if not rows.flags.c_contiguous or backend.xp_of(rows) is not numpy:
        return 1
    while r % k:
        k -= 1
    return k


def _one_value_per_channel(name, x):
    return ValueError(f"{name}: training needs more than one value per channel, got input {tuple(x.shape)}")


@quiet
def _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, unchanged, relu,
                other=None):
    if x.dtype == "float16":  # computed in float32 and rounded once, as PyTorch: in float16 a channel's variance
        # overflows at 65504 and x * scale + shift loses the output to rounding when |mean| >> std
        wide = [None if t is None else astype(t, "float32") for t in (x, weight, bias, other)]
        out = astype(_batch_norm(wide[0], running_mean, running_var, wide[1], wide[2], training, momentum, eps,
                                 reduce, unchanged, relu, wide[3]), "float16")
        return saving_originals(out, "batch_norm", (x, weight, bias, other), (True, True, False, False))
    name = "batch_norm_add_relu" if other is not None else "batch_norm_relu" if relu else "batch_norm"
    xp = backend.xp_of(x.data)
    given = [(t, saved) for t, saved in ((x, True), (weight, True), (bias, False), (other, False)) if t is not None]
    parents, saves = tuple(t for t, _ in given), tuple(saved for _, saved in given)  # (PyTorch's node saves the
    # input and weight, not the bias, nor the other addend)
    rows = _rows(x.data)
    count, c = rows.shape
    if not c:  # no channel: an empty output, as PyTorch (no rows of channels to lay out)
        if training and count == 1:
            raise _one_value_per_channel(name, x)
        return make_result(x.data.copy(), parents, lambda g: tuple(xp.zeros(t.shape, g.dtype) for t in parents), name,
                           saves=saves)
    k = side_by_side(rows)
    wide = rows.reshape(-1, k * c)

    def per_channel(sums):  # sums over the columns of ``wide`` (k copies of each channel) -> (C,)
        return sums.reshape(k, c).sum(axis=0) if k > 1 else sums

    def repeated(vector):  # a per-channel vector (C,) for the columns of ``wide``
        return xp.tile(vector, k) if k > 1 else vector

    if training:
        sums = per_channel(_column_sums(wide)).astype("float64")
        if reduce is None:  # this batch's statistics: the count is known here, on the host
            totals = sums
        else:  # statistics shared across batches: the count is the reduced one (read once)
            totals = reduce(xp.concatenate([xp.full(1, count, dtype="float64"), sums]))
            count, totals = float(totals[0]), totals[1:]
        reduce = reduce or _no_reduction
        if count == 1:
            raise _one_value_per_channel(name, x)
        divisor = max(count, 1)  # an empty batch: an empty output, mean and variance 0 (as PyTorch)
        mean = (totals / divisor).astype(rows.dtype)
        wide_mean = repeated(mean)
        squares = per_channel(threads.sum_rows(lambda block: _centred_squares(block, wide_mean), wide))
        var = (reduce(squares.astype("float64")) / divisor).astype(rows.dtype)
        if count:  # an empty batch leaves the running statistics as they are, as PyTorch
            update_running_stats(running_mean, running_var, mean, var, count, momentum)
    else:  # fixed statistics
        reduce = _no_reduction
        mean, var = running_mean.astype(rows.dtype), running_var.astype(rows.dtype)  # copies (float16 ones widened)
        wide_mean = repeated(mean)
    inv_std, scale, shift = _affine(mean, var, weight, bias, eps)
    wide_scale, shift = repeated(scale), repeated(shift)
    if other is None:
        out = threads.elementwise(normalise_relu if relu else normalise, wide, wide_scale, shift)
    else:  # other's rows laid out as x's (a copy only if its memory is not)
        out = threads.elementwise(normalise_add_relu, wide, wide_scale, shift, _rows(other.data).reshape(-1, k * c))

    def backward(g):
        # With x_hat = (x - mean) * inv_std and sums over the rows (per channel), g gated by the ReLU:
        #   d beta = sum(g),  d gamma = sum(g * x_hat),
        #   dx = scale * g                                    (evaluation: fixed statistics)
        #   dx = scale * (g - d beta / count - x_hat * d gamma / count)     (training)
        # d beta and d gamma are this batch's; dx takes the sums over every batch of the statistics.
        unchanged()
        if not training:
            _check_unchanged(name, running_mean, running_var, mean, var)
        g_wide = xp.ascontiguousarray(_rows(g)).reshape(-1, k * c)
        gx = xp.empty_like(g_wide)  # with a ReLU, the gated g first
        sums = threads.sum_rows(lambda g, x, y, gated: _gradient_sums(g, x, y, wide_mean, relu, gated),
                                g_wide, wide, out, gx)
        if relu:
            g_wide = gx
        g_other = None
        if other is not None and other.requires_grad:  # other's gradient is the gated g: gx gets its own array
            g_other, gx = _unrows(g_wide.reshape(-1, c), x.shape), xp.empty_like(g_wide)
        if k > 1:
            sums = sums.reshape(2, k, c).sum(axis=1).reshape(-1)
        g_beta, g_dot = sums[:c].astype(rows.dtype), sums[c:].astype(rows.dtype)  # g_dot = sum g (x - mean)
        if training:  # mean and var depend on x too
            all_sums = reduce(sums.astype("float64"))  # the per-channel arithmetic in float64 (float16
            all_beta, all_dot = all_sums[:c], all_sums[c:]  # would overflow dividing by the count)
            coefficient = repeated((-scale * inv_std * inv_std * all_dot / divisor).astype(rows.dtype))
            constant = repeated((-scale * all_beta / divisor).astype(rows.dtype))
            threads.elementwise(_input_gradient, g_wide, wide, wide_mean, wide_scale, coefficient, constant, out=gx)
        else:
            threads.elementwise(_scaled, g_wide, wide_scale, out=gx)
        gx = _unrows(gx.reshape(-1, c), x.shape)
        return ((gx,) + ((g_dot * inv_std,) if weight is not None else ()) + ((g_beta,) if bias is not None else ())
                + ((g_other,) if other is not None else ()))

    return make_result(_unrows(out.reshape(-1, c), x.shape), parents, backward, name, saves=saves)
