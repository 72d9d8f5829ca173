"""Batch normalisation (Ioffe & Szegedy, 2015), as torch.nn.functional.batch_norm."""
from .. import backend
from ..tensor import Tensor, make_result
from ._util import check_float


def _rows(array):
    """(N, C, ...) as a (rows, C) matrix; a free view when memory is channels-last."""
    if array.ndim == 2:
        return array
    moved = array.transpose((0,) + tuple(range(2, array.ndim)) + (1,))
    return moved.reshape(-1, array.shape[1])


def _unrows(rows, shape):
    """Inverse of _rows: back to shape (N, C, ...), keeping channels-last memory."""
    if len(shape) == 2:
        return rows
    moved = rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return moved.transpose((0, len(shape) - 1) + tuple(range(1, len(shape) - 1)))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel of x (N, C, ...) and scale/shift it: y = (x - mean) / sqrt(var + eps) * w + b.

    Training uses the batch's statistics and updates ``running_mean`` and
    ``running_var`` (arrays or tensors) in place with ``momentum``, the variance
    unbiased as in PyTorch; evaluation uses the running statistics.
    """
    check_float("batch_norm", x)
    running_mean, running_var = (t.data if isinstance(t, Tensor) else t
                                 for t in (running_mean, running_var))
    c = x.shape[1] if x.ndim >= 2 else None
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} of shape {tuple(t.shape)} does not fit input "
                             f"{tuple(x.shape)} with {c} channels")
    xp = backend.xp_of(x.data)
    rows = _rows(x.data)
    if training:
        count = rows.shape[0]
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, "
                             f"got input {tuple(x.shape)}")
        mean = rows.mean(axis=0)
        centred = rows - mean
        var = (centred * centred).mean(axis=0)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * count / (count - 1)) * var
    else:
        mean, var = running_mean.copy(), running_var.copy()
        centred = rows - mean
    inv_std = 1 / xp.sqrt(var + eps)
    gamma = weight.data if weight is not None else xp.ones_like(inv_std)
    scale = gamma * inv_std
    out = centred
    out *= scale
    if bias is not None:
        out += bias.data

    def backward(g):
        g_rows = _rows(g)
        x_hat = (rows - mean) * inv_std
        g_beta = g_rows.sum(axis=0)
        g_gamma = (g_rows * x_hat).sum(axis=0)
        if training:  # mean and var depend on x too
            g_rows = g_rows - g_beta / rows.shape[0] - x_hat * (g_gamma / rows.shape[0])
        gx = _unrows(g_rows * scale, x.shape)
        return (gx,) + ((g_gamma,) if weight is not None else ()) + ((g_beta,) if bias is not None else ())

    parents = (x,) + ((weight,) if weight is not None else ()) + ((bias,) if bias is not None else ())
    return make_result(_unrows(out, x.shape), parents, backward, "batch_norm")
