"""Losses computed element by element, then reduced (torch.nn.functional's mse_loss, l1_loss, smooth_l1_loss,
huber_loss, binary_cross_entropy, binary_cross_entropy_with_logits and kl_div)."""
import warnings

from .. import backend
from ..grad_mode import records_graph
from ..tensor import make_result
from ._util import ArgumentError, DtypeError, broadcast_shape, check_tensors, number, quiet, user_stacklevel
from .activation import softplus
from .dtypes import opmath
from .elementwise import abs, astype, exp, square, sub, where
from .loss import legacy_reduction
from .reduction import mean, sum

REDUCTIONS = ("mean", "sum", "none")


def _weight_argument(op, name, weight, input):
    """A binary loss's ``weight`` or ``pos_weight``: None, or a tensor broadcast to the input's shape (not beyond it:
    PyTorch's RuntimeError) and converted to its dtype, as PyTorch computes in it. One that requires grad (where the
    graph is recorded) is PyTorch's RuntimeError: not differentiable."""
    if weight is None:
        return None
    check_tensors(op, weight, names=(name,))
    if weight.requires_grad and records_graph():
        raise ArgumentError(f"The function '{op}' is not differentiable with respect to argument '{name}'. This input "
                            "cannot have requires_grad True.")
    shape = broadcast_shape(op, tuple(input.shape), tuple(weight.shape))
    if shape != tuple(input.shape):
        raise ArgumentError(f"{op}: output with shape {list(input.shape)} doesn't match the broadcast shape "
                            f"{list(shape)} of {name} {tuple(weight.shape)}")
    return weight if weight.dtype == input.dtype else astype(weight, input.dtype)


def _reduced(losses, reduction):
    """The per-element ``losses`` averaged, summed or returned as they are."""
    return mean(losses) if reduction == "mean" else sum(losses) if reduction == "sum" else losses


def _checked_reduction(size_average, reduce, reduction, valid=REDUCTIONS):
    """The reduction (PyTorch's deprecated size_average / reduce read as it reads them), PyTorch's ValueError for
    one it has not."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in valid:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _binary_arguments(op, input, target, size_average, reduce, reduction, size_message):
    """The checked reduction of a binary loss: target of the input's shape (PyTorch's ValueError, ``size_message``)
    and a floating-point input, as PyTorch requires."""
    check_tensors(op, input, target, names=("input", "target"))
    reduction = _checked_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(size_message)
    if input.dtype.kind != "f":
        raise DtypeError(f"{op}: not implemented for input of dtype {input.dtype} (as PyTorch)")
    return reduction


def _regression_arguments(op, input, target, size_average, reduce, reduction):
    """The checked reduction, and ``input`` - ``target`` (PyTorch's promotion); for a target of another shape,
    PyTorch's warning, then broadcast as PyTorch; integer operands alone are PyTorch's NotImplementedError."""
    check_tensors(op, input, target, names=("input", "target"))
    reduction = _checked_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=user_stacklevel())
    if input.dtype.kind != "f" and target.dtype.kind != "f":
        raise DtypeError(f"{op}: not implemented for input of dtype {input.dtype} and target of dtype "
                         f"{target.dtype} (as PyTorch: a floating-point operand is needed)")
    return sub(input, target), reduction


@quiet
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)^2, reduced (torch.nn.functional.mse_loss)."""
    _no_weight("mse_loss", weight)
    difference, reduction = _regression_arguments("mse_loss", input, target, size_average, reduce, reduction)
    return _reduced(square(difference), reduction)


@quiet
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|, reduced (torch.nn.functional.l1_loss); the gradient at 0 is 0, as PyTorch's."""
    _no_weight("l1_loss", weight)
    difference, reduction = _regression_arguments("l1_loss", input, target, size_average, reduce, reduction)
    return _reduced(abs(difference), reduction)


def _no_weight(op, weight):
    """PyTorch 2.6's new ``weight`` of the regression losses: not supported here."""
    if weight is not None:
        raise NotImplementedError(f"{op}: weight is not supported by tinyrrn; multiply the unreduced loss "
                                  "(reduction='none') by it instead")


def _quadratic_then_linear(difference, width, linear_slope):
    """0.5 d^2 / width where |d| < width, else linear_slope * (|d| - 0.5 width): smooth L1 (slope 1) and Huber
    (slope width)."""
    size = abs(difference)
    return where(size < width, square(difference) * (0.5 / width * linear_slope), (size - 0.5 * width) * linear_slope)


@quiet
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0, weight=None):
    """0.5 (input - target)^2 / beta where |input - target| < beta, else |input - target| - 0.5 beta, reduced
    (torch.nn.functional.smooth_l1_loss); beta 0 is l1_loss, a negative one PyTorch's RuntimeError."""
    _no_weight("smooth_l1_loss", weight)
    beta = number(beta)
    if beta < 0:
        raise ArgumentError("smooth_l1_loss does not support negative values for beta.")
    difference, reduction = _regression_arguments("smooth_l1_loss", input, target, size_average, reduce, reduction)
    losses = abs(difference) if beta == 0 else _quadratic_then_linear(difference, beta, 1.0)
    return _reduced(losses, reduction)


@quiet
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 (input - target)^2 where |input - target| < delta, else delta (|input - target| - 0.5 delta), reduced
    (torch.nn.functional.huber_loss), in the input's dtype (as PyTorch); delta must be positive."""
    _no_weight("huber_loss", weight)
    delta = number(delta)
    if not delta > 0:
        raise ArgumentError("huber_loss does not support non-positive values for delta.")
    difference, reduction = _regression_arguments("huber_loss", input, target, None, None, reduction)
    if input.dtype.kind != "f":
        raise DtypeError(f"huber_loss: result type {difference.dtype} can't be cast to the input's dtype "
                         f"{input.dtype} (as PyTorch)")
    return _reduced(astype(_quadratic_then_linear(difference, delta, delta), input.dtype), reduction)


LOG_FLOOR = -100.0  # PyTorch's binary_cross_entropy clamps each log at -100 (a loss of at most 100 per element)
PRODUCT_FLOOR = 9.999999960041972e-13  # and divides its gradient by max(x (1 - x), 1e-12), a float32 1e-12


def _bce(input, target):
    """-(t log x + (1 - t) log(1 - x)) per element, each log at least -100, with PyTorch's gradients (the input's:
    (x - t) / max(x (1 - x), 1e-12); the target's: log(1 - x) - log x, unclamped: infinite at 0 and 1)."""
    x, t = input.data, target.data
    xp = backend.xp_of(x)
    wide_x, wide_t = opmath(x), opmath(t)
    log_x, log_rest = xp.log(wide_x), xp.log1p(-wide_x)
    losses = -(wide_t * xp.maximum(log_x, LOG_FLOOR) + (1 - wide_t) * xp.maximum(log_rest, LOG_FLOOR))
    losses = losses.astype(x.dtype, copy=False)

    def backward(g):
        wide_g = opmath(g)
        g_input = wide_g * (wide_x - wide_t) / xp.maximum(wide_x * (1 - wide_x), PRODUCT_FLOOR)
        g_target = wide_g * (log_rest - log_x) if target.requires_grad else None
        return g_input.astype(g.dtype, copy=False), None if g_target is None else g_target.astype(g.dtype, copy=False)

    return make_result(losses, (input, target), backward, "binary_cross_entropy")


@quiet
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-weight (t log x + (1 - t) log(1 - x)) of probabilities x in [0, 1], each log at least -100, reduced
    (torch.nn.functional.binary_cross_entropy). input, target and weight are of one floating-point dtype and
    target of input's shape, as PyTorch requires; an input outside [0, 1] is PyTorch's RuntimeError (looked at on
    the CPU only: on a GPU its loss is NaN, without a wait for the device). ``weight`` is broadcast to the input's
    shape and converted to its dtype, as PyTorch."""
    op = "binary_cross_entropy"
    reduction = _binary_arguments(op, input, target, size_average, reduce, reduction, (
        f"Using a target size ({tuple(target.shape)}) that is different to the input size ({tuple(input.shape)}) is "
        "deprecated. Please ensure they have the same size."))
    if target.dtype != input.dtype:
        raise ArgumentError(f"{op}: found target of dtype {target.dtype} but expected {input.dtype}, the input's (as "
                            "PyTorch); convert with .astype(...)")
    weight = _weight_argument(op, "weight", weight, input)
    x = input.data
    if backend.device_of(x) == "cpu" and bool(((x < 0) | (x > 1)).any()):
        raise ArgumentError("binary_cross_entropy: all elements of input should be between 0 and 1")
    losses = _bce(input, target)
    return _reduced(losses if weight is None else losses * weight, reduction)


@quiet
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """binary_cross_entropy of sigmoid(input), computed stably from the logits as PyTorch: (1 - t) x + (1 + (p - 1)
    t) log(1 + e^-x), times ``weight``, where p is ``pos_weight`` (the positive class's weight, broadcast along the
    last dim); target of input's shape, as PyTorch requires."""
    op = "binary_cross_entropy_with_logits"
    reduction = _binary_arguments(op, input, target, size_average, reduce, reduction,
                                  f"Target size ({tuple(target.shape)}) must be the same as input size "
                                  f"({tuple(input.shape)})")
    if target.dtype != input.dtype:  # (PyTorch computes in the target's dtype then: float64 logits' loss in float32)
        raise ArgumentError(f"{op}: target of dtype {target.dtype} does not match input of dtype {input.dtype}; "
                            "tinyrrn takes one dtype (convert with .astype(...))")
    weight, pos_weight = (_weight_argument(op, name, value, input)
                          for name, value in (("weight", weight), ("pos_weight", pos_weight)))
    softplus_of_negative = softplus(-input, threshold=float("inf"))  # log(1 + e^-x), never linear
    scale = softplus_of_negative if pos_weight is None else (1 + (pos_weight - 1) * target) * softplus_of_negative
    losses = (1 - target) * input + scale
    return _reduced(losses if weight is None else losses * weight, reduction)



@quiet
def _self_xlogy(t):
    """t log t, 0 where t is 0 (PyTorch's xlogy(t, t)), with PyTorch's gradient xlogy(t != 0, t) + t / t: NaN at 0;
    float16 in float32, each of the two terms rounded, as PyTorch's two gradients of xlogy."""
    data = t.data
    xp = backend.xp_of(data)
    wide = opmath(data)
    result = xp.where(wide == 0, 0, wide * xp.log(wide)).astype(data.dtype, copy=False)

    def backward(g):
        wide_g = opmath(g)
        as_x = (wide_g * xp.where(wide == 0, 0, xp.log(wide))).astype(g.dtype, copy=False)
        return (as_x + (wide_g * wide / wide).astype(g.dtype, copy=False),)

    return make_result(result, (t,), backward, "xlogy")


@quiet
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target (log target - input) per element (torch.nn.functional.kl_div), input holding log-probabilities and
    target probabilities (or log-probabilities, ``log_target``), 0 where the target is 0, with PyTorch's gradients
    (the target's NaN there); reduced by 'batchmean' (the sum over the batch size, the KL divergence), 'sum',
    'none' or 'mean' (over every element, with PyTorch's warning that it is not the KL divergence)."""
    check_tensors("kl_div", input, target, names=("input", "target"))
    reduction = _checked_reduction(size_average, reduce, reduction, REDUCTIONS + ("batchmean",))
    if input.dtype.kind != "f" and target.dtype.kind != "f":
        raise DtypeError("kl_div: Integral inputs not supported.")
    if log_target:
        losses = exp(target) * (target - input)
    else:
        losses = _self_xlogy(target) - target * input
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=user_stacklevel())
    if reduction == "batchmean":
        return sum(losses) / (input.shape[0] if input.ndim else 1)
    return _reduced(losses, reduction)
