"""Numerical gradient checking by float64 central differences."""
import numpy

from . import backend
from .functional._util import only_torch_defaults
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree (a RuntimeError, as PyTorch's)."""


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None, max_elements=256, directions=8, seed=0):
    """Check the gradients of ``fn(*inputs)`` (``inputs`` a tuple or list, or one Tensor) against central
    differences, with PyTorch's default tolerances; return True or raise.

    The output is reduced to a scalar with fixed random weights, so every
    output element takes part. For an input of at most ``max_elements``
    elements every element is perturbed; larger inputs are checked along
    ``directions`` random directions (as Chainer's check_backward does).
    Inputs must be float64 tensors; those with ``requires_grad`` are checked, through leaf copies of
    their values (a computed tensor is checked as PyTorch checks it; the inputs' own .grad is left as
    it was). On failure the error names the input, the worst element (or direction), and the analytic
    and numeric values; with ``raise_exception=False`` False is returned instead, as PyTorch.

    Of PyTorch's other options, ``nondet_tol``, ``check_undefined_grad``, ``check_grad_dtypes`` and
    ``fast_mode`` are taken at any value (tinyrrn's backward is deterministic, has no undefined gradient
    and gives each input its dtype; this check already projects the output); the forward-mode, batched
    and masked checks tinyrrn does not have are refused unless off.
    """
    only_torch_defaults("gradcheck", check_batched_grad=(check_batched_grad, False), masked=(masked or None, None),
                        check_batched_forward_grad=(check_batched_forward_grad, False),
                        check_forward_ad=(check_forward_ad, False), check_backward_ad=(check_backward_ad, True))
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)  # one tensor: fn(x), as PyTorch
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != numpy.float64:
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; use float64 for a meaningful check")
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        inputs[i] = Tensor(inputs[i].data.copy(), requires_grad=True)
    rng = numpy.random.default_rng(seed)
    first = fn(*inputs)
    if not isinstance(first, Tensor):
        raise TypeError(f"gradcheck: fn must return one Tensor, got {type(first).__name__}; join several "
                        "outputs with tinyrrn.functional.concatenate of their reshape(-1)")
    xp = backend.xp_of(first.data)
    weights = xp.asarray(rng.standard_normal(first.shape))

    def objective():
        return float((fn(*inputs).data * weights).sum())

    if first.requires_grad:  # else fn's output does not depend on the inputs: every analytic gradient is 0
        first.backward(weights)
    for i in checked:
        t = inputs[i]
        analytic = backend.to_numpy(t.grad) if t.grad is not None else numpy.zeros(t.shape)
        if t.numel() <= max_elements:
            probes = [(f"element {numpy.unravel_index(k, t.shape)}", _one_hot(t.shape, k))
                      for k in range(t.numel())]
        else:
            probes = [(f"random direction {k}", rng.standard_normal(t.shape)) for k in range(directions)]
        original = t.data.copy()
        try:
            worst = None
            for where, direction in probes:
                step = xp.asarray(direction * eps)
                t.data = original + step
                plus = objective()
                t.data = original - step
                minus = objective()
                numeric = (plus - minus) / (2 * eps)
                expected = float((analytic * direction).sum())
                error = abs(expected - numeric) - (atol + rtol * abs(numeric))
                error = numpy.inf if numpy.isnan(error) else error  # a NaN never passes
                if worst is None or error > worst[0]:
                    worst = (error, where, expected, numeric)
        finally:
            t.data = original
        if worst[0] > 0:
            if not raise_exception:
                return False
            _, where, expected, numeric = worst
            raise GradcheckError(f"gradcheck: input {i} (shape {tuple(t.shape)}), {where}: "
                                 f"analytic {expected:.8g} vs numeric {numeric:.8g} "
                                 f"(atol {atol}, rtol {rtol})")
    return True


def _one_hot(shape, flat_index):
    direction = numpy.zeros(shape)
    direction.flat[flat_index] = 1.0
    return direction
