"""Optimisers (Adam, SGD with momentum) and learning-rate schedules.

Updates are in place on each parameter's array, with the array module of
that array, so they run on the GPU unchanged. ``state_dict()`` holds
everything needed to resume exactly (step count and moment buffers).
"""
import math

from . import backend


class Optimizer:
    """Base: a list of parameters, a learning rate, per-parameter state."""

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = lr
        self.steps = 0
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def state_dict(self):
        """{'steps', 'lr', 'buffers': {index: {name: array}}} (arrays on the parameters' device)."""
        return {"steps": self.steps, "lr": self.lr, "buffers": {str(i): dict(s) for i, s in enumerate(self.state)}}

    def load_state_dict(self, state):
        if len(state["buffers"]) != len(self.params):
            raise ValueError(f"optimiser state holds {len(state['buffers'])} parameters, the model "
                             f"has {len(self.params)}")
        self.steps, self.lr = int(state["steps"]), float(state["lr"])
        for i, p in enumerate(self.params):
            buffers = state["buffers"][str(i)]
            for name, value in buffers.items():
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"optimiser buffer {name} of parameter {i}: shape {tuple(value.shape)} "
                                     f"does not match the parameter's {tuple(p.shape)}")
            self.state[i] = {name: backend.xp_of(p.data).asarray(backend.to_numpy(v) if backend.xp_of(v)
                             is not backend.xp_of(p.data) else v) for name, v in buffers.items()}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), the paper's optimiser: bias-corrected, eps added after the square root."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def step(self):
        self.steps += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1 ** self.steps, 1 - beta2 ** self.steps
        step_size = self.lr / correction1
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            xp = backend.xp_of(p.data)
            grad = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if not state:
                state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(p.data), xp.zeros_like(p.data)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            denom = xp.sqrt(v / correction2)
            denom += self.eps
            p.data -= step_size * m / denom


class SGD(Optimizer):
    """Stochastic gradient descent with (PyTorch-style) momentum and weight decay."""

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum, self.weight_decay = momentum, weight_decay

    def step(self):
        self.steps += 1
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            grad = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                if not state:
                    state["momentum"] = grad.copy()
                else:
                    state["momentum"] *= self.momentum
                    state["momentum"] += grad
                grad = state["momentum"]
            p.data -= self.lr * grad


def learning_rate(schedule, base_lr, step, total_steps, warmup=0, step_every=None, gamma=0.1):
    """The learning rate at optimiser ``step`` (0-based) of ``total_steps``.

    constant: base_lr; step: times gamma every ``step_every`` steps; cosine: cosine decay to 0.
    ``warmup`` steps ramp up linearly first.
    """
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        return base_lr * gamma ** (step // max(1, step_every or max(1, total_steps // 3)))
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; use constant, step or cosine")


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
