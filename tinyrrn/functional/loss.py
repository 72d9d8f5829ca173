"""Softmax, log-softmax and the cross-entropy and negative log-likelihood losses."""
import math
import warnings

from .. import backend
from ..grad_mode import records_graph
from ..tensor import Tensor, make_result
from ._util import (ArgumentError, DtypeError, axis_index, check_float, check_tensors, integer, number, quiet,
                    refuse_out, saved_beside_inputs, torch_name)
from .dtypes import dtype_argument, opmath, promote
from .elementwise import astype

REDUCTIONS = ("mean", "sum", "none")


def _softmax_input(op, input, stacklevel, dtype):
    """softmax's or log_softmax's input, converted to ``dtype`` first, as PyTorch's (a float16 one to float32:
    computed and returned in float32), and the stack level of the warning of an implicit dim. The op's third
    argument is F.softmax's ``stacklevel`` (an int: where PyTorch points that warning) or, a dtype, the ``dtype`` of
    torch.softmax and Tensor.softmax."""
    if not isinstance(stacklevel, int):
        dtype, stacklevel = stacklevel if dtype is None else dtype, 3
    check_tensors(op, input)
    dtype = dtype_argument(op, dtype)
    return (input if dtype is None or dtype == input.dtype else astype(input, dtype)), stacklevel


def _softmax_axis(op, x, axis, stacklevel):
    """The axis to normalise over; without one, PyTorch's deprecated implicit choice, with its warning (at
    ``stacklevel`` as PyTorch's F.softmax counts it): 0 for a 0-, 1- or 3-D input (a 3-D one read as unbatched
    (C, H, W)), else 1."""
    if axis is None:
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                      "as an argument.", UserWarning, stacklevel=stacklevel + 1)  # the caller (past @quiet)
        axis = 0 if x.ndim in (0, 1, 3) else 1
    checked = axis_index(op, axis, x.ndim)  # a 0-d input takes dim 0 or -1 only, as in PyTorch
    return checked if x.ndim else None


def _softmax_arguments(op, input, axis, dim, stacklevel, dtype, out):
    """softmax's or log_softmax's input, converted to ``dtype`` first (_softmax_input), and the axis to normalise
    over (``axis`` or PyTorch's ``dim``: _softmax_axis, its warning one frame further out, past this one); out=
    refused."""
    if out is not None:
        refuse_out(op)
    input, stacklevel = _softmax_input(op, input, stacklevel, dtype)
    check_float(op, input)
    return input, _softmax_axis(op, input, torch_name(op, "axis", axis, "dim", dim), stacklevel + 1)


def _log_softmax(data, axis):
    """log softmax of an array along ``axis``; float16 in float32, rounded once, at the end (as PyTorch: its sum
    of 2048 or more values would stop growing), but for PyTorch's kernel along the last axis, which keeps the sum
    of exponentials and its log in float16; nothing to do along an axis of length 0."""
    xp = backend.xp_of(data)
    if data.size == 0:
        return data.copy()
    wide = opmath(data)
    shifted = wide - wide.max(axis=axis, keepdims=True)
    total = xp.exp(shifted).sum(axis=axis, keepdims=True)
    if data.dtype == "float16" and axis == data.ndim - 1:
        log_total = xp.log(total.astype("float16").astype("float32")).astype("float16")
    else:
        log_total = xp.log(total)
    return (shifted - log_total).astype(data.dtype, copy=False)


HALF_LANES = 32  # float16 values in a vector of PyTorch's CPU kernels (AVX-512)


def _softmax(data, axis):
    """softmax of an array along ``axis``: exp(x - max) divided by its sum, as PyTorch (exp of the log-softmax
    was an ulp off in half the elements), float16 in float32 rounded once; nothing to do along an axis of length
    0. Off the last axis PyTorch's float16 kernel takes the positions after the axis 32 at a time and the rest
    (the last inner % 32 of each block, all of them for fewer than 32) one by one, each exp rounded to float16
    before the division there: so here too (exact where PyTorch's kernel runs the tensor as one task)."""
    if data.size == 0:
        return data.copy()
    wide = opmath(data)
    xp = backend.xp_of(data)
    exps = xp.exp(wide - wide.max(axis=axis, keepdims=True))
    total = exps.sum(axis=axis, keepdims=True)
    if data.dtype == "float16" and axis != data.ndim - 1:  # (positions in the C order PyTorch's kernel takes, for
        inner = math.prod(data.shape[axis + 1:])           # any layout of the input)
        one_by_one = (xp.arange(inner) >= inner - inner % HALF_LANES).reshape(data.shape[axis + 1:])
        exps = xp.where(one_by_one, exps.astype("float16"), exps)
    return (exps / total).astype(data.dtype, copy=False)


@quiet
def log_softmax(input, axis=None, _stacklevel=3, dtype=None, *, dim=None, out=None):
    """log(softmax(x)) along ``axis`` (or PyTorch's ``dim``), computed stably by subtracting the maximum; x
    converted to ``dtype`` first (the third argument: see _softmax_input)."""
    input, axis = _softmax_arguments("log_softmax", input, axis, dim, _stacklevel, dtype, out)
    result = _log_softmax(input.data, axis)
    return make_result(result, (input,), lambda g: (_log_softmax_backward(g, result, axis),), "log_softmax")


def _log_softmax_backward(g, out, axis):
    """The gradient through a log-softmax whose output is ``out``: g - exp(out) sum(g), float16 in float32 rounded
    once, as PyTorch."""
    wide = opmath(g)
    return (wide - backend.xp_of(g).exp(opmath(out)) * wide.sum(axis=axis, keepdims=True)).astype(g.dtype, copy=False)


@quiet
def softmax(input, axis=None, _stacklevel=3, dtype=None, *, dim=None, out=None):
    """exp(x) / sum(exp(x)) along ``axis`` (or PyTorch's ``dim``; torch.softmax), computed stably; x converted to
    ``dtype`` first (the third argument: see _softmax_input)."""
    input, axis = _softmax_arguments("softmax", input, axis, dim, _stacklevel, dtype, out)
    result = _softmax(input.data, axis)

    def backward(g):  # float16 in float32, rounded once, as PyTorch
        y, wide = opmath(result), opmath(g)
        return ((y * (wide - (wide * y).sum(axis=axis, keepdims=True))).astype(g.dtype, copy=False),)

    return make_result(result, (input,), backward, "softmax")


def _tensor_argument(op, name, value, xp):
    """cross_entropy's target or weight as a tensor: a tensor, or an array (the trainer's labels; moved to the
    logits' array module ``xp``), or None for the weight; a list, a tuple or a number is PyTorch's TypeError."""
    if value is None and name == "weight" or isinstance(value, Tensor):
        return value
    if not (hasattr(value, "dtype") and hasattr(value, "shape")):
        raise TypeError(f"{op}: argument '{name}' must be Tensor, not {type(value).__name__} (as PyTorch)")
    return Tensor(xp.asarray(value))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """-sum over classes of target * log softmax(logits) (torch.nn.functional.cross_entropy).

    A class index out of range is an IndexError on the CPU; on a GPU that position's loss is NaN
    (no wait for the device to check it; PyTorch's CUDA kernels fail asynchronously too).

    logits (N, C), (C,) or (N, C, d1, ...). ``target`` holds either class indices (integers,
    shaped as logits without the class dim; positions equal to ``ignore_index`` count
    nowhere) or class probabilities (floats, shaped as logits; differentiable). ``weight``
    (C,) weighs each class. ``reduction``: 'mean' (over index targets: divided by the summed
    weights of the counted targets, as PyTorch), 'sum' or 'none'. ``label_smoothing`` e mixes
    the target with the uniform distribution: (1 - e) * target + e / C. PyTorch's deprecated
    ``size_average`` and ``reduce``, when given, set the reduction as in PyTorch (False for either: 'sum'
    or 'none').
    """
    return _class_loss("cross_entropy", input, target, weight, size_average, ignore_index, reduce, reduction,
                       label_smoothing, normalise=True)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-weight * input at each target class (torch.nn.functional.nll_loss): cross_entropy of an input that holds
    log-probabilities already (log_softmax's), for class-index targets only (PyTorch refuses probabilities)."""
    target_dtype = getattr(target.data if isinstance(target, Tensor) else target, "dtype", None)
    if target_dtype is not None and target_dtype.kind == "f":
        raise DtypeError(f"nll_loss: expected scalar type Long (int64) but found {target_dtype} for the target (as "
                         "PyTorch: class indices only)")
    return _class_loss("nll_loss", input, target, weight, size_average, ignore_index, reduce, reduction, 0.0,
                       normalise=False)


def legacy_reduction(size_average, reduce, reduction):
    """The reduction, or the one PyTorch's deprecated ``size_average`` and ``reduce`` set when either is given
    (its _Reduction.legacy_get_string: False for either is 'sum' or 'none')."""
    if size_average is None and reduce is None:
        return reduction
    return ("mean" if size_average is not False else "sum") if reduce is not False else "none"


@quiet
def _class_loss(op, logits, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing,
                normalise):
    """cross_entropy (``normalise``: of logits, log-softmaxed here) or nll_loss (of log-probabilities), named ``op``
    in errors."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_float(op, logits)
    ignore_index, label_smoothing = integer(op, "ignore_index", ignore_index), number(label_smoothing)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not label_smoothing <= 1.0:
        raise ArgumentError(f"{op}: label_smoothing must be at most 1.0, got {label_smoothing}")
    label_smoothing = max(label_smoothing, 0.0)  # PyTorch takes a negative value and smooths nothing
    if logits.ndim == 0:
        raise ArgumentError(f"{op}: logits must have a class dimension, got a 0-d tensor")
    xp = backend.xp_of(logits.data)
    target_tensor, weight = (_tensor_argument(op, name, value, xp)
                             for name, value in (("target", target), ("weight", weight)))
    target = target_tensor.data
    axis = 0 if logits.ndim == 1 else 1  # the class dimension
    classes, dtype = logits.shape[axis], logits.dtype
    share = label_smoothing / max(classes, 1)  # each class's share of the smoothing (of 0 classes: an empty mix)
    per_class = [classes if i == axis else 1 for i in range(logits.ndim)]  # a (C,) vector broadcast
    w = 1
    if weight is not None:
        if weight.requires_grad and records_graph() and target.dtype.kind != "f":
            raise ArgumentError(f"{op}: a weight that requires grad is not supported for class-index targets "
                                "(as PyTorch; for probabilities it is differentiable); pass weight.detach()")
        w = weight.data
        if w.shape != (classes,):
            raise ArgumentError(f"{op}: weight {tuple(w.shape)} does not fit {classes} classes")
        if w.dtype != dtype and target.dtype.kind != "f":
            raise ArgumentError(f"{op}: weight of dtype {w.dtype} does not match logits of dtype "
                                f"{dtype} (as PyTorch, for class-index targets); convert with .astype(...)")
    if target.dtype.kind == "f":  # class probabilities; the loss in PyTorch's promotion of logits, target and
        if ignore_index >= 0:  # weight (an int weight: no float64), and any negative ignore_index (no class has it)
            raise ArgumentError(f"{op}: ignore_index is not supported for floating point target "
                                f"(class probabilities), as in PyTorch; got {ignore_index}")
        dtype = promote(promote(dtype, target.dtype), None if weight is None else w.dtype)
        if target.shape != logits.shape:
            raise ArgumentError(f"{op}: probability target {tuple(target.shape)} must have the "
                                f"shape of logits {tuple(logits.shape)}")
        mix = target.astype(dtype) * (1 - label_smoothing) + share
        w = w if weight is None else w.astype(dtype).reshape(per_class)
        coefficients = mix * w
        count = xp.full((), logits.numel() // max(classes, 1),  # the mean is over positions; float16's count
                        dtype="float32" if dtype == "float16" else dtype)  # in float32, as PyTorch (65504 is its max)
    elif target.dtype.kind in "iu":
        if target.dtype != "int64" and not (target.dtype == "uint8" and logits.ndim <= 2):
            raise DtypeError(f"{op}: expected target dtype to be int64 (Long), or uint8 (Byte) for (C,) or (N, C) "
                             f"logits, as PyTorch, got {target.dtype} for logits {tuple(logits.shape)}; convert with "
                             ".astype('int64')")
        w = w if weight is None else w.reshape(per_class)
        expected = logits.shape[:axis] + logits.shape[axis + 1:]
        if logits.ndim == 1 and target.shape == (1,) and not label_smoothing:  # PyTorch's (C,) logits take a (1,)
            target = target.reshape(())  # target as a 0-d one (with smoothing, its broadcast error below)
        if target.shape != expected:
            raise ArgumentError(f"{op}: target {tuple(target.shape)} does not fit logits "
                             f"{tuple(logits.shape)} (expected target shape {expected})")
        counted = target != ignore_index
        out_of_range = counted & ((target < 0) | (target >= classes))
        on_host = backend.device_of(target) == "cpu"
        if on_host and bool(out_of_range.any()):
            raise IndexError(f"{op}: target {int(target[out_of_range][0])} is out of bounds "
                             f"for {classes} classes")
        one_hot = (xp.expand_dims(target, axis) == xp.arange(classes).reshape(per_class)).astype(dtype)
        one_hot *= xp.expand_dims(counted, axis)
        count = (one_hot * w).sum()  # the summed weights of the counted targets
        mix = one_hot * (1 - label_smoothing) + share if label_smoothing else one_hot
        coefficients = mix * w * xp.expand_dims(counted, axis) if label_smoothing else one_hot * w
    else:
        raise DtypeError(f"{op}: target must hold integer class indices or float probabilities, "
                        f"got {target.dtype}")
    log_probs = _log_softmax(logits.data, axis) if normalise else logits.data
    if target.dtype.kind == "f":  # PyTorch's -(target * log softmax) summed: a 0 target at a -inf logit is NaN
        losses = -(coefficients * log_probs).sum(axis=axis)
    elif label_smoothing:  # PyTorch's smoothing term sums every class's log-probability times its weight (NaN for
        # weight 0 at -inf) where a position counts; an ignored one is 0
        losses = xp.where(counted, -(coefficients * log_probs).sum(axis=axis), 0)
    else:  # PyTorch gathers the target's log-probability times its weight (the other classes count nowhere, even
        # where their log-probability is -inf or NaN; a target of weight 0 at -inf is NaN); an ignored position is 0
        picked = xp.expand_dims(xp.where(counted & ~out_of_range, target, 0), axis)  # (out of range: NaN below)
        gathered = (xp.take_along_axis(log_probs, picked, axis) * xp.take_along_axis(coefficients, picked, axis)
                    if classes else xp.zeros(picked.shape, dtype))  # (of 0 classes, every position is ignored)
        losses = xp.where(counted, -gathered.squeeze(axis), 0)
    if target.dtype.kind in "iu" and not on_host:
        # Reading the check back would make the host wait for the device at every step; instead
        # (as PyTorch's device-side assert, which fails a later call) an out-of-range target's loss
        # is NaN, so the loss is, and the trainer's one read of it per step stops the run there.
        losses = xp.where(out_of_range, xp.full((), float("nan"), dtype=dtype), losses)
    loss = losses if reduction == "none" else losses.sum() / (count if reduction == "mean" else 1)  # (0/0: NaN)
    # Counted targets whose weights sum to 0 (all of weight-0 classes) make the mean PyTorch's 0/0: NaN, its
    # gradient NaN where a target counts (0 where one is ignored). Without a weight the sum is 0 only when
    # every target is ignored: the loss is 0/0, its gradient 0.
    weighed_mean = reduction == "mean" and weight is not None
    nan = xp.full((), float("nan"), dtype=dtype) if weighed_mean else None
    if weighed_mean and label_smoothing:  # NaN, not the smoothing term / 0
        loss = xp.where(count == 0, nan, loss)

    unchanged = saved_beside_inputs(op, (logits, target_tensor), (weight,))

    def backward(g):
        unchanged()  # PyTorch's node saved the class weight
        if weighed_mean:
            g = xp.where(count == 0, nan, g / xp.where(count == 0, 1, count))
            if target.dtype.kind in "iu":
                g = xp.expand_dims(xp.where(counted, g, xp.zeros((), dtype=dtype)), axis)
        elif reduction == "mean":
            g = g * (count != 0) / xp.where(count == 0, 1, count)
        elif reduction == "none":
            g = xp.expand_dims(g, axis)
        g_log_probs = -coefficients * g  # then through log_softmax as PyTorch (float16 in float32, rounded once)
        g_logits = _log_softmax_backward(g_log_probs, log_probs, axis) if normalise else g_log_probs
        g_target = -(1 - label_smoothing) * w * log_probs * g if target_tensor.requires_grad else None
        if weight is None:
            return g_logits, g_target
        g_weight = None  # (class-index targets: refused above while it requires grad)
        if weight.requires_grad:  # probabilities: the mean's count does not depend on the weight
            per_class = -(mix * log_probs * g)
            g_weight = per_class.sum(axis=tuple(i for i in range(per_class.ndim) if i != axis))
        return g_logits, g_target, g_weight

    parents = (logits, target_tensor) if weight is None else (logits, target_tensor, weight)
    return make_result(xp.asarray(loss, dtype=dtype), parents, backward, op)
