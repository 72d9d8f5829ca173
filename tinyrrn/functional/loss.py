"""Log-softmax and the cross-entropy loss over class indices."""
from .. import backend
from ..tensor import Tensor, make_result
from ._util import check_float


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, computed stably by subtracting the maximum."""
    check_float("log_softmax", x)
    xp = backend.xp_of(x.data)
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)

    return make_result(out, (x,), backward, "log_softmax")


def cross_entropy(logits, target):
    """Mean over the batch of -log softmax(logits)[target] (torch.nn.functional.cross_entropy).

    logits (N, classes) float; target (N,) integer class indices in [0, classes).
    """
    check_float("cross_entropy", logits)
    xp = backend.xp_of(logits.data)
    target = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim != 2 or target.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: logits {tuple(logits.shape)} and target {tuple(target.shape)} "
                         "do not fit (need logits N,classes and target N)")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class indices, got {target.dtype}")
    n, classes = logits.shape
    one_hot = target[:, None] == xp.arange(classes)
    shifted = logits.data - logits.data.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    loss = -(log_probs * one_hot).sum() / n

    def backward(g):
        return (g * (xp.exp(log_probs) - one_hot) / n,)

    return make_result(loss.astype(logits.dtype), (logits,), backward, "cross_entropy")
