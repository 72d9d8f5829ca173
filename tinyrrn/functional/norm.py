"""Batch normalisation (Ioffe & Szegedy, 2015), as torch.nn.functional.batch_norm.

Every pass over the activations (the per-channel sums, the output, and the two of the backward
pass) is an element-wise kernel below run by tinyrrn.threads on blocks of rows: the blocks go
to all threads, and each block's temporaries stay in the cache. ``batch_norm_relu`` is
relu(batch_norm(x)) in the same passes (a ResNet's BN is mostly followed by a ReLU).
"""
import numbers

from .. import backend, threads
from ..tensor import Tensor, make_result
from ._util import ArgumentError, check_float


def _rows(array):
    """(N, C, ...) as a (rows, C) matrix; a free view when memory is channels-last."""
    if array.ndim == 2:
        return array
    moved = array.transpose((0,) + tuple(range(2, array.ndim)) + (1,))
    return moved.reshape(-1, array.shape[1])


def _ones_times(block):
    """Sum over the rows of a (rows, C) block, as a product with a ones vector: BLAS sums with
    several accumulators, 5x faster and more accurate than NumPy's sum along the rows."""
    return backend.xp_of(block).ones(block.shape[0], dtype=block.dtype) @ block


def _column_sums(rows):
    """Sum over the rows of a (rows, C) matrix: block sums on the threads, added."""
    return threads.sum_rows(_ones_times, rows)


def _centred_squares(x, mean):
    """sum((x - mean)^2) over the rows of a block: the variance's numerator."""
    centred = x - mean
    return backend.xp_of(x).einsum("ij,ij->j", centred, centred)


def _normalise(x, mean, scale, shift, relu, out=None):
    """(x - mean) * scale + shift, and max(., 0) with ``relu``: the output (into ``out``)."""
    xp = backend.xp_of(x)
    y = xp.subtract(x, mean, out=out)
    y *= scale
    y += shift
    return xp.maximum(y, 0, out=y) if relu else y


def _gate(g, y, relu):
    """The gradient that reaches the normalisation: g, or g where the ReLU's output y is positive."""
    return g * (y > 0) if relu else g


def _gradient_sums(g, x, y, mean, relu):
    """[sum g, sum g (x - mean)] over the rows of a block (g gated by the ReLU)."""
    xp = backend.xp_of(x)
    g = _gate(g, y, relu)
    return xp.concatenate([_ones_times(g), xp.einsum("ij,ij->j", g, x - mean)])


def _input_gradient(g, x, y, mean, scale, centred_coefficient, constant, relu, out=None):
    """scale g + a (x - mean) + b: batch norm's input gradient in training (a, b per channel), into ``out``."""
    gx = backend.xp_of(g).multiply(_gate(g, y, relu), scale, out=out)
    centred = x - mean
    centred *= centred_coefficient
    gx += centred
    gx += constant
    return gx


def _gamma(weight, like):
    """The scale parameter's values, or ones when there is none."""
    return weight.data if weight is not None else backend.xp_of(like).ones_like(like)


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


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, reduce=None):
    """Normalise each channel of x (N, C, ...) and scale/shift it: y = (x - mean) / sqrt(var + eps) * w + b.

    Training uses the batch's statistics and updates ``running_mean`` and
    ``running_var`` (arrays or tensors, or None to keep none) in place with
    ``momentum``, the variance unbiased as in PyTorch; evaluation uses the running
    statistics. As in PyTorch, ``momentum`` is a number here; BatchNorm2d's
    momentum=None (a cumulative average) passes 1 / num_batches_tracked.

    ``reduce`` is the hook at batch-norm's reductions (training only): it receives the
    per-channel sums of this batch as one float64 vector and returns them summed over
    every batch that shares the statistics -- [count, sum x], then sum (x - mean)^2 in the
    forward pass, and [sum g, sum g (x - mean)] in the backward pass. The default keeps
    them (one batch); SyncBatchNorm passes a sum over all ranks.
    """
    running_mean, running_var = _check("batch_norm", x, running_mean, running_var, weight, bias, momentum, training)
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, relu=False)


def batch_norm_relu(x, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5, reduce=None):
    """relu(batch_norm(x, ...)) computed in batch norm's passes, with the same arguments: one output
    array instead of two, and the ReLU's gradient folded into batch norm's backward."""
    running_mean, running_var = _check("batch_norm_relu", x, running_mean, running_var, weight, bias, momentum,
                                       training)
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, relu=True)


def _check(op, x, running_mean, running_var, weight, bias, momentum, training):
    """Refuse arguments that do not fit (naming ``op``); the running statistics as arrays."""
    check_float(op, x)
    running_mean, running_var = (t.data if isinstance(t, Tensor) else t
                                 for t in (running_mean, running_var))
    if x.ndim < 2:
        raise ArgumentError(f"{op}: expected input (N, C, ...), got shape {tuple(x.shape)}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ArgumentError(f"{op}: {name} of shape {tuple(t.shape)} does not fit input "
                                f"{tuple(x.shape)} with {c} channels")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(f"{op}: momentum must be a number, got {momentum!r} (PyTorch's functional "
                        "batch_norm neither takes None; BatchNorm2d(momentum=None) passes 1 / num_batches_tracked)")
    if not training and (running_mean is None or running_var is None):
        raise ArgumentError(f"{op}: running_mean and running_var must be given in evaluation mode "
                            "(training=False), as in PyTorch; got None")
    return running_mean, running_var


def _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, relu):
    reduce = reduce or _no_reduction
    xp = backend.xp_of(x.data)
    rows = _rows(x.data)
    count = rows.shape[0]
    if training:
        totals = reduce(xp.concatenate([xp.full(1, count, dtype="float64"), _column_sums(rows).astype("float64")]))
        count = float(totals[0])
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, "
                             f"got input {tuple(x.shape)}")
        mean = (totals[1:] / count).astype(rows.dtype)
        squares = threads.sum_rows(lambda block: _centred_squares(block, mean), rows)
        var = (reduce(squares.astype("float64")) / count).astype(rows.dtype)
        update_running_stats(running_mean, running_var, mean, var, count, momentum)
    else:  # fixed statistics
        mean, var = running_mean.copy(), running_var.copy()
    inv_std = 1 / xp.sqrt(var + eps)
    scale = _gamma(weight, inv_std) * inv_std
    shift = bias.data if bias is not None else xp.zeros_like(scale)
    out = threads.elementwise(lambda block, out: _normalise(block, mean, scale, shift, relu, out), rows)

    def backward(g):
        # With x_hat = (x - mean) * inv_std and sums over the rows (per channel), g gated by the ReLU:
        #   d beta = sum(g),  d gamma = sum(g * x_hat),
        #   dx = scale * g                                    (evaluation: fixed statistics)
        #   dx = scale * (g - d beta / count - x_hat * d gamma / count)     (training)
        # d beta and d gamma are this batch's; dx takes the sums over every batch of the statistics.
        g_rows = _rows(g)
        sums = threads.sum_rows(lambda g, x, y: _gradient_sums(g, x, y, mean, relu), g_rows, rows, out)
        c = len(mean)
        g_beta, g_dot = sums[:c], sums[c:]  # g_dot = sum g (x - mean)
        if training:  # mean and var depend on x too
            all_sums = reduce(sums.astype("float64")).astype(rows.dtype)
            all_beta, all_dot = all_sums[:c], all_sums[c:]
            coefficient = -scale * inv_std * inv_std * all_dot / count
            constant = -scale * all_beta / count
            gx = threads.elementwise(lambda g, x, y, out: _input_gradient(g, x, y, mean, scale, coefficient,
                                                                          constant, relu, out), g_rows, rows, out)
        else:
            gx = threads.elementwise(lambda g, y, out: backend.xp_of(g).multiply(_gate(g, y, relu), scale, out=out),
                                     g_rows, out)
        gx = _unrows(gx, x.shape)
        return (gx,) + ((g_dot * inv_std,) if weight is not None else ()) + ((g_beta,) if bias is not None else ())

    parents = (x,) + ((weight,) if weight is not None else ()) + ((bias,) if bias is not None else ())
    return make_result(_unrows(out, x.shape), parents, backward, "batch_norm_relu" if relu else "batch_norm")
