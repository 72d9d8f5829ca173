"""Batch normalisation (Ioffe & Szegedy, 2015), as torch.nn.functional.batch_norm."""
import numbers

from .. import backend
from ..tensor import Tensor, make_result
from ._util import ArgumentError, check_float


def _rows(array):
    """(N, C, ...) as a (rows, C) matrix; a free view when memory is channels-last."""
    if array.ndim == 2:
        return array
    moved = array.transpose((0,) + tuple(range(2, array.ndim)) + (1,))
    return moved.reshape(-1, array.shape[1])


def _column_sums(rows):
    """Sum over the rows of a (rows, C) matrix, as a product with a ones vector: BLAS uses
    every core, NumPy's own reductions only one."""
    xp = backend.xp_of(rows)
    return xp.ones(rows.shape[0], dtype=rows.dtype) @ rows


def _column_dots(a, b):
    """sum(a * b, axis=0) for (rows, C) matrices, without the temporary a * b."""
    return backend.xp_of(a).einsum("ij,ij->j", a, b)


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
    check_float("batch_norm", x)
    running_mean, running_var = (t.data if isinstance(t, Tensor) else t
                                 for t in (running_mean, running_var))
    if x.ndim < 2:
        raise ArgumentError(f"batch_norm: expected input (N, C, ...), got shape {tuple(x.shape)}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ArgumentError(f"batch_norm: {name} of shape {tuple(t.shape)} does not fit input "
                                f"{tuple(x.shape)} with {c} channels")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch_norm: momentum must be a number, got {momentum!r} (PyTorch's functional "
                        "batch_norm neither takes None; BatchNorm2d(momentum=None) passes 1 / num_batches_tracked)")
    if not training and (running_mean is None or running_var is None):
        raise ArgumentError("batch_norm: running_mean and running_var must be given in evaluation mode "
                            "(training=False), as in PyTorch; got None")
    reduce = reduce or _no_reduction
    xp = backend.xp_of(x.data)
    rows = _rows(x.data)
    if training:
        local = xp.concatenate([xp.full(1, rows.shape[0], dtype="float64"),
                                _column_sums(rows).astype("float64")])
        totals = reduce(local)
        count = float(totals[0])
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, "
                             f"got input {tuple(x.shape)}")
        mean = (totals[1:] / count).astype(rows.dtype)
        out = rows - mean  # centred; turned into the output in place below
        var = (reduce(_column_dots(out, out).astype("float64")) / count).astype(rows.dtype)
        update_running_stats(running_mean, running_var, mean, var, count, momentum)
        inv_std = 1 / xp.sqrt(var + eps)
        scale = _gamma(weight, inv_std) * inv_std
        out *= scale
        if bias is not None:
            out += bias.data
    else:  # fixed statistics: y = x * scale + shift, two passes over x
        mean, var = running_mean.copy(), running_var.copy()
        count = rows.shape[0]
        inv_std = 1 / xp.sqrt(var + eps)
        scale = _gamma(weight, inv_std) * inv_std
        shift = -mean * scale if bias is None else bias.data - mean * scale
        out = rows * scale
        out += shift

    def backward(g):
        # With x_hat = (x - mean) * inv_std and sums over the rows (per channel):
        #   d beta = sum(g),  d gamma = sum(g * x_hat),
        #   dx = scale * g                                    (evaluation: fixed statistics)
        #   dx = scale * (g - d beta / count - x_hat * d gamma / count)     (training)
        # computed in one buffer, in place, to touch the big arrays as few times as possible.
        # d beta and d gamma are this batch's; dx takes the sums over every batch of the statistics.
        g_rows = _rows(g)
        centred = rows - mean
        g_beta = _column_sums(g_rows)
        g_dot = _column_dots(g_rows, centred)
        if training:  # mean and var depend on x too
            sums = reduce(xp.concatenate([g_beta, g_dot]).astype("float64")).astype(rows.dtype)
            all_beta, all_gamma = sums[:len(g_beta)], sums[len(g_beta):] * inv_std
            gx = centred
            gx *= scale * inv_std * all_gamma / -count  # -scale * x_hat * d gamma / count
            gx -= scale * all_beta / count
            gx += g_rows * scale
        else:
            gx = g_rows * scale
        gx = _unrows(gx, x.shape)
        return (gx,) + ((g_dot * inv_std,) if weight is not None else ()) + ((g_beta,) if bias is not None else ())

    parents = (x,) + ((weight,) if weight is not None else ()) + ((bias,) if bias is not None else ())
    return make_result(_unrows(out, x.shape), parents, backward, "batch_norm")
