"""Optimisers (Adam, SGD with momentum) and learning-rate schedules.

Each update is one element-wise function (``adam_update`` or ``adam_update_with_decay``, ``sgd_update``,
``sgd_momentum_update``) that changes the parameter and its buffers in place, run by
tinyrrn.threads.update_in_place: on the CPU on blocks of rows of every parameter, a few hundred
kilobytes each, spread over tinyrrn's threads (a block's temporaries stay in the cache, and no
temporary is ever as large as a parameter); on a GPU as one kernel per parameter, compiled by
``cupy.fuse``.
``state_dict()`` holds everything needed to resume exactly (step counts and moment buffers).
"""
import math
import numbers
from collections.abc import Mapping

from . import backend, threads
from .functional._util import only_torch_defaults
from .tensor import Tensor, enable_grad, zero_grads


def adam_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, correction2_sqrt, eps):
    """One Adam step in place, as torch.optim.Adam without weight decay.

    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;  p -= step_size m / (sqrt(v) / c2 + eps),
    where ``step_size`` is lr / (1 - beta1^t) and ``correction2_sqrt`` c2 = sqrt(1 - beta2^t).
    """
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (grad * grad)
    param -= step_size * exp_avg / (backend.xp_of(param).sqrt(exp_avg_sq) / correction2_sqrt + eps)


def adam_update_with_decay(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, correction2_sqrt, eps,
                           weight_decay):
    """adam_update with L2 weight decay added to the gradient, as torch.optim.Adam's weight_decay (a
    separate function, so that the default, no decay, costs no extra pass)."""
    adam_update(param, grad + weight_decay * param, exp_avg, exp_avg_sq, beta1, beta2, step_size, correction2_sqrt,
                eps)


def adam_amsgrad_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, beta1, beta2, step_size, correction2_sqrt,
                        eps, weight_decay):
    """One step of torch.optim.Adam(amsgrad=True) in place: adam_update (with weight decay when not 0) dividing
    by the square root of the largest exp_avg_sq seen, kept in ``max_exp_avg_sq``."""
    xp = backend.xp_of(param)
    grad = grad + weight_decay * param if weight_decay else grad
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (grad * grad)
    max_exp_avg_sq += xp.maximum(exp_avg_sq - max_exp_avg_sq, 0)  # the maximum, in place (one fused kernel)
    param -= step_size * exp_avg / (xp.sqrt(max_exp_avg_sq) / correction2_sqrt + eps)


def sgd_update(param, grad, lr, weight_decay):
    """One SGD step in place without momentum, as torch.optim.SGD: p -= lr (g + weight_decay p). The decay term
    is added only when weight_decay is not 0, as torch: 0 * p would turn an infinite parameter into NaN."""
    param -= lr * (grad + weight_decay * param if weight_decay else grad)


def sgd_momentum_update(param, grad, momentum_buffer, lr, momentum, weight_decay):
    """One SGD step in place with momentum, as torch.optim.SGD: b = momentum b + g (b starts at 0), p -= lr b."""
    momentum_buffer *= momentum
    momentum_buffer += grad + weight_decay * param if weight_decay else grad  # no 0 * inf, as in sgd_update
    param -= lr * momentum_buffer


def sgd_dampened_momentum_update(param, grad, momentum_buffer, lr, momentum, weight_decay, dampening):
    """sgd_momentum_update with torch.optim.SGD's dampening, b = momentum b + (1 - dampening) (g + weight_decay p),
    for a buffer past its first step (a separate function, so that the default costs no extra pass)."""
    sgd_momentum_update(param, (1 - dampening) * grad, momentum_buffer, lr, momentum, (1 - dampening) * weight_decay)


def sgd_nesterov_update(param, grad, momentum_buffer, lr, momentum, weight_decay):
    """One SGD step in place with Nesterov momentum, as torch.optim.SGD(nesterov=True) (no dampening):
    b = momentum b + g (b starts at 0), p -= lr (g + momentum b)."""
    grad = grad + weight_decay * param if weight_decay else grad
    momentum_buffer *= momentum
    momentum_buffer += grad
    param -= lr * (grad + momentum * momentum_buffer)


def _check_parameters(params):
    """The optimiser's parameters as a list of tensors: refused as PyTorch refuses them (one tensor alone,
    nothing, or a parameter group, which tinyrrn does not have)."""
    if hasattr(params, "data") and hasattr(params, "shape"):
        raise TypeError("params argument given to the optimizer should be an iterable of Tensors, "
                        f"but got a {type(params).__name__} (as PyTorch); pass [param]")
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    for p in params:
        if isinstance(p, dict):
            raise NotImplementedError("parameter groups (dicts with their own settings) are not supported; "
                                      "pass the parameters, or one optimiser per group")
        if not (hasattr(p, "data") and hasattr(p, "grad")):
            raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
        if not getattr(p, "is_leaf", True):
            raise ValueError("can't optimize a non-leaf Tensor (it never receives a .grad); optimize the leaf it "
                             "was computed from")
    if len({id(p) for p in params}) < len(params):  # PyTorch warns that this will be an error; its updates
        raise ValueError("optimizer got a parameter more than once; pass each once "  # are applied twice
                         "(model.parameters() lists a shared one once)")
    return params


def _check_at_least(name, value, least=0.0):
    """Refuse a value below ``least`` (or NaN) with PyTorch's ValueError, and one that is not a number (None,
    a string) with the TypeError PyTorch's comparison raises."""
    try:
        at_least = value >= least
    except TypeError:
        raise TypeError(f"Invalid {name}: {value!r} is not a number (as PyTorch)") from None
    if not at_least:
        raise ValueError(f"Invalid {name}: {value}")


def _check_learning_rate(lr):
    """A number, or a one-element tensor as PyTorch takes it (read at each step, so that a change made to it in
    place takes effect), at least 0."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError(f"Tensor lr must be 1-element, got shape {tuple(lr.shape)} (as PyTorch)")
    _check_at_least("learning rate", float(lr) if isinstance(lr, Tensor) else lr)


class Optimizer:
    """Base: a list of parameters, a learning rate, per-parameter state and step counts."""

    def __init__(self, params, lr, maximize, fused):
        """``maximize``: each step goes up the gradient, as PyTorch's. (Its ``foreach``, taken by the subclasses,
        is how a step is computed, not what it computes: any value is taken; so is ``fused=False``.)"""
        only_torch_defaults(type(self).__name__, fused=(bool(fused), False))
        self.params = _check_parameters(params)
        _check_learning_rate(lr)
        self.lr, self.maximize = lr, maximize
        self.steps = 0
        self.param_steps = [0] * len(self.params)  # updates of each parameter (one without a grad is skipped)
        self.state = [{} for _ in self.params]

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (PyTorch's default), or with ``set_to_none=False`` zero it in place."""
        zero_grads(self.params, set_to_none)

    def _gradient(self, p):
        """The gradient a step follows: the parameter's, negated with ``maximize``."""
        return -p.grad if self.maximize else p.grad

    def step(self, closure=None):
        """One update (the subclass's ``update``); with a ``closure`` (which recomputes the loss and its
        gradients) called first and its loss returned, as PyTorch."""
        loss = None
        if closure is not None:
            with enable_grad():  # as PyTorch: a closure computes gradients even when step() is under no_grad
                loss = closure()
        self.update()
        return loss

    def state_dict(self):
        """{'steps', 'lr', 'param_steps', 'buffers': {index: {name: array}}} (arrays on the parameters' device)."""
        return {"steps": self.steps, "lr": float(self.lr), "param_steps": list(self.param_steps),
                "buffers": {str(i): dict(s) for i, s in enumerate(self.state)}}

    def load_state_dict(self, state):
        """Take a state of ``state_dict()``'s format (not PyTorch's {'state', 'param_groups'}, refused saying so),
        each buffer cast to its parameter's dtype and moved to its device, as PyTorch."""
        expected = ("steps", "lr", "buffers")
        if not isinstance(state, Mapping) or not all(key in state for key in expected):
            keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            torch_format = isinstance(state, Mapping) and {"state", "param_groups"} <= set(state)
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected tinyrrn's optimiser state with keys "
                             f"{', '.join(expected)} (and param_steps), got {keys}"
                             + (": a PyTorch optimizer's state_dict, whose format tinyrrn's optimisers do not read"
                                if torch_format else ""))
        if len(state["buffers"]) != len(self.params):
            raise ValueError(f"optimiser state holds {len(state['buffers'])} parameters, the model "
                             f"has {len(self.params)}")
        for i, p in enumerate(self.params):  # everything checked before anything changes
            buffers = state["buffers"][str(i)]
            if buffers and set(buffers) != set(self.BUFFERS):
                raise ValueError(f"optimiser state of parameter {i} holds {sorted(buffers)}, not {type(self).__name__}'s "
                                 f"{list(self.BUFFERS)}: a state of another optimiser")
            for name, value in buffers.items():
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"optimiser buffer {name} of parameter {i}: shape {tuple(value.shape)} "
                                     f"does not match the parameter's {tuple(p.shape)}")
        self.steps, self.lr = int(state["steps"]), float(state["lr"])
        # a state from before per-parameter counts: every parameter with buffers took every step
        self.param_steps = [int(n) for n in state.get("param_steps") or
                            [self.steps if state["buffers"][str(i)] else 0 for i in range(len(self.params))]]
        for i, p in enumerate(self.params):
            buffers = state["buffers"][str(i)]
            self.state[i] = {name: backend.xp_of(p.data).asarray(backend.to_numpy(v) if backend.xp_of(v)
                             is not backend.xp_of(p.data) else v, dtype=p.dtype) for name, v in buffers.items()}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), the paper's optimiser: bias-corrected, eps added after the square root."""

    BUFFERS = ("exp_avg", "exp_avg_sq")  # per parameter, in state_dict()

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        only_torch_defaults("Adam", capturable=(capturable, False), differentiable=(differentiable, False),
                            decoupled_weight_decay=(decoupled_weight_decay, False))
        super().__init__(params, lr, maximize, fused)
        _check_at_least("epsilon value", eps)
        for i in range(2):  # PyTorch's IndexError for one beta; more than two are taken here, as PyTorch
            if not 0.0 <= betas[i] < 1.0:  # takes them (its step refuses them)
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        _check_at_least("weight_decay value", weight_decay)
        self.betas, self.eps, self.weight_decay, self.amsgrad = betas, eps, weight_decay, amsgrad
        if amsgrad:  # its state holds one more buffer
            self.BUFFERS = Adam.BUFFERS + ("max_exp_avg_sq",)

    def update(self):
        """One update of every parameter with a gradient; each is bias-corrected by its own step count
        (a parameter that had no gradient for a while has taken fewer steps), as PyTorch."""
        if len(self.betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2) to step, got {self.betas!r} (PyTorch's step "
                             "refuses them too)")
        self.steps += 1
        beta1, beta2 = self.betas
        lr = float(self.lr)  # a tensor's value now
        by_count = {}  # step count -> the arrays of the parameters at it (one group, as a rule)
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is None:
                continue
            if not state:
                state.update((name, backend.xp_of(p.data).zeros_like(p.data)) for name in self.BUFFERS)
            self.param_steps[i] += 1
            p.version += 1  # changed in place: a graph built before this step can no longer give gradients
            by_count.setdefault(self.param_steps[i], []).append(
                (p.data, self._gradient(p), *(state[name] for name in self.BUFFERS)))
        for count, arrays in by_count.items():
            numbers = (beta1, beta2, lr / (1 - beta1 ** count), math.sqrt(1 - beta2 ** count), self.eps)
            if self.amsgrad:
                threads.update_in_place(adam_amsgrad_update, arrays, *numbers, self.weight_decay)
            elif self.weight_decay:
                threads.update_in_place(adam_update_with_decay, arrays, *numbers, self.weight_decay)
            else:
                threads.update_in_place(adam_update, arrays, *numbers)


class SGD(Optimizer):
    """Stochastic gradient descent with (PyTorch-style) momentum, dampening, Nesterov momentum and weight decay;
    PyTorch's arguments and defaults (lr 1e-3, no momentum)."""

    BUFFERS = ("momentum",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        only_torch_defaults("SGD", differentiable=(differentiable, False))
        super().__init__(params, lr, maximize, fused)
        _check_at_least("momentum value", momentum)
        _check_at_least("weight_decay value", weight_decay)
        if not isinstance(dampening, numbers.Real):
            raise ValueError(f"Invalid dampening value: {dampening}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening, self.weight_decay, self.nesterov = momentum, dampening, weight_decay, nesterov

    def update(self):
        """One update of every parameter with a gradient. With dampening, as PyTorch, a momentum buffer's
        first step takes the whole gradient and later ones (1 - dampening) of it."""
        self.steps += 1
        lr = float(self.lr)  # a tensor's value now
        arrays, dampened = [], []
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is None:
                continue
            self.param_steps[i] += 1
            p.version += 1
            if self.momentum and not state:
                state["momentum"] = backend.xp_of(p.data).zeros_like(p.data)
            elif self.momentum and self.dampening:
                dampened.append((p.data, self._gradient(p), state["momentum"]))
                continue
            arrays.append((p.data, self._gradient(p)) + ((state["momentum"],) if self.momentum else ()))
        if self.momentum:
            threads.update_in_place(sgd_nesterov_update if self.nesterov else sgd_momentum_update, arrays, lr,
                                    self.momentum, self.weight_decay)
            threads.update_in_place(sgd_dampened_momentum_update, dampened, lr, self.momentum,
                                    self.weight_decay, self.dampening)
        else:
            threads.update_in_place(sgd_update, arrays, lr, self.weight_decay)


def learning_rate(schedule, base_lr, step, total_steps, warmup=0, step_every=None, gamma=0.1):
    """The learning rate at optimiser ``step`` (0-based) of ``total_steps``.

    constant: base_lr; step: times gamma every ``step_every`` steps (torch.optim.lr_scheduler.StepLR), or
    without it after each third of the steps after the warm-up (step t is in third 3(t - warmup) // (total_steps
    - warmup): three stages, whatever the total); cosine: cosine decay to 0 over the steps after the warm-up.
    ``warmup`` steps ramp up linearly first.
    """
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        thirds = 3 * (step - warmup) // max(1, total_steps - warmup)  # after the warm-up, as cosine
        return base_lr * gamma ** (step // step_every if step_every else thirds)
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; use constant, step or cosine")


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
