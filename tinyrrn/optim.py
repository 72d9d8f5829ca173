"""Optimisers (Adam, AdamW, SGD with momentum) and learning-rate schedules.

Each update is one element-wise function (``adam_update``, AdamW's ``adam_decoupled_update``, ``sgd_update``,
``sgd_momentum_update``, each with weight decay by with_weight_decay) that changes the parameter and its buffers in
place, run by tinyrrn.threads.update_in_place: on the CPU on blocks of rows of every parameter, a few hundred
kilobytes each, spread over tinyrrn's threads (a block's temporaries stay in the cache, and no
temporary is ever as large as a parameter); on a GPU as one kernel per parameter, compiled by
``cupy.fuse``.
``optimizer.state`` is PyTorch's: a dict keyed by the parameter, of its buffers (Tensors, PyTorch's names).
``state_dict()`` holds everything needed to resume exactly (step counts and moment buffers).
"""
import math
import numbers
from collections import OrderedDict, defaultdict
from collections.abc import Mapping

import numpy

from . import backend, threads
from .functional._util import only_torch_defaults
from .grad_mode import enable_grad
from .tensor import RemovableHandle, Tensor, zero_grads


# The kernels' numbers come computed on the host (1 - beta1, not beta1): in a kernel compiled by cupy.fuse, arithmetic
# of two numbers gives a float64 variable, which would turn the step's float32 math into float64 on a GPU alone, and
# a number has no Python value there (no ``if`` on it): weight decay is a kernel of its own (with_weight_decay).
def adam_update(param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, step_size,
                correction2_sqrt, eps):
    """One Adam step in place, as torch.optim.Adam without weight decay.

    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;  p -= step_size m / (sqrt(v) / c2 + eps),
    where ``step_size`` is lr / (1 - beta1^t) and ``correction2_sqrt`` c2 = sqrt(1 - beta2^t).
    """
    exp_avg += one_minus_beta1 * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += one_minus_beta2 * (grad * grad)
    param -= step_size * exp_avg / (backend.xp_of(param).sqrt(exp_avg_sq) / correction2_sqrt + eps)


def adam_amsgrad_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2,
                        step_size, correction2_sqrt, eps):
    """One step of torch.optim.Adam(amsgrad=True) in place: adam_update dividing by the square root of the largest
    exp_avg_sq seen, kept in ``max_exp_avg_sq``."""
    xp = backend.xp_of(param)
    exp_avg += one_minus_beta1 * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += one_minus_beta2 * (grad * grad)
    max_exp_avg_sq += xp.maximum(exp_avg_sq - max_exp_avg_sq, 0)  # the maximum, in place (one fused kernel)
    param -= step_size * exp_avg / (xp.sqrt(max_exp_avg_sq) / correction2_sqrt + eps)


def adam_decoupled_update(param, grad, exp_avg, exp_avg_sq, *numbers_and_decay):
    """adam_update after shrinking the parameter by ``decay`` = 1 - lr weight_decay (the last number), as
    torch.optim.AdamW (Adam's decoupled_weight_decay) does instead of adding the decay to the gradient."""
    *numbers, decay = numbers_and_decay
    param *= decay
    adam_update(param, grad, exp_avg, exp_avg_sq, *numbers)


def adam_amsgrad_decoupled_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *numbers_and_decay):
    """adam_amsgrad_update after shrinking the parameter by ``decay``, as adam_decoupled_update."""
    *numbers, decay = numbers_and_decay
    param *= decay
    adam_amsgrad_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *numbers)


def sgd_update(param, grad, lr):
    """One SGD step in place without momentum, as torch.optim.SGD: p -= lr g."""
    param -= lr * grad


def sgd_momentum_update(param, grad, momentum_buffer, lr, momentum):
    """One SGD step in place with momentum, as torch.optim.SGD: b = momentum b + g (b starts at 0), p -= lr b."""
    momentum_buffer *= momentum
    momentum_buffer += grad
    param -= lr * momentum_buffer


def sgd_dampened_momentum_update(param, grad, momentum_buffer, lr, momentum, one_minus_dampening):
    """sgd_momentum_update with torch.optim.SGD's dampening, b = momentum b + (1 - dampening) g, for a buffer past
    its first step (a separate function, so that the default costs no extra pass)."""
    sgd_momentum_update(param, one_minus_dampening * grad, momentum_buffer, lr, momentum)


def sgd_nesterov_update(param, grad, momentum_buffer, lr, momentum):
    """One SGD step in place with Nesterov momentum, as torch.optim.SGD(nesterov=True) (no dampening):
    b = momentum b + g (b starts at 0), p -= lr (g + momentum b)."""
    momentum_buffer *= momentum
    momentum_buffer += grad
    param -= lr * (grad + momentum * momentum_buffer)


def with_weight_decay(update):
    """``update`` with L2 weight decay added to the gradient first, g + weight_decay p (weight_decay its last
    number), as torch.optim's weight_decay: a kernel of its own, taken when weight_decay is not 0 (no decay costs
    no extra pass, and 0 * an infinite parameter makes no NaN, as torch)."""
    def update_with_decay(param, grad, *arrays_and_numbers):
        *arrays_and_numbers, weight_decay = arrays_and_numbers
        update(param, grad + weight_decay * param, *arrays_and_numbers)
    update_with_decay.__name__ = update_with_decay.__qualname__ = f"{update.__name__}_with_decay"
    return update_with_decay


WITH_DECAY = {update: with_weight_decay(update) for update in (
    adam_update, adam_amsgrad_update, sgd_update, sgd_momentum_update, sgd_dampened_momentum_update,
    sgd_nesterov_update)}  # built once: a GPU compiles each kernel once


def kernel_and_decay(update, weight_decay):
    """(kernel, trailing numbers): ``update``'s weight-decay kernel and (weight_decay,), or ``update`` and () for a
    weight_decay of 0."""
    return (WITH_DECAY[update], (weight_decay,)) if weight_decay else (update, ())


def _parameter_groups(params):
    """The optimiser's ``params`` as parameter groups (dicts with 'params' and their own settings): PyTorch's
    iterable of tensors (one group) or of dicts; one tensor alone, or nothing, refused as PyTorch refuses them."""
    if hasattr(params, "data") and hasattr(params, "shape"):
        raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                        f"but got a {type(params).__name__} (as PyTorch); pass [param]")
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    return params if isinstance(params[0], dict) else [{"params": params}]


def _group_parameters(params):
    """A parameter group's tensors as a list (one tensor, or an ordered iterable of them or of (name, tensor)
    pairs, as named_parameters() gives; a set's order changes between runs), each a leaf, each once, as PyTorch
    requires; and their names (None when not named)."""
    if hasattr(params, "data") and hasattr(params, "shape"):
        return [params], None
    if isinstance(params, set):
        raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                        "tensors in sets will change between runs. Please use a list instead.")
    params = list(params)
    names = [p[0] for p in params if isinstance(p, tuple)]
    if names and len(names) < len(params):
        raise ValueError("all optimizer params should be with/without names. Some param names are missing")
    params = [p[1] for p in params] if names else params
    for p in params:
        if not (hasattr(p, "data") and hasattr(type(p), "grad")):  # the type's: a computed tensor's .grad warns
            raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
        if not getattr(p, "is_leaf", True):
            raise ValueError("can't optimize a non-leaf Tensor (it never receives a .grad); optimize the leaf it "
                             "was computed from")
    if len({id(p) for p in params}) < len(params):  # PyTorch warns that this will be an error; its updates
        raise ValueError("optimizer got a parameter more than once; pass each once "  # are applied twice
                         "(model.parameters() lists a shared one once)")
    return params, names or None


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


def check_fused(group):
    """PyTorch's ``fused=True`` is how its step is computed (one kernel for all parameters), not what it computes,
    as ``foreach``: taken (tinyrrn's step is one kernel per parameter on a GPU, whatever it says); with
    foreach=True or differentiable=True refused with PyTorch's RuntimeError."""
    if group["fused"]:
        if group["foreach"]:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        if group["differentiable"]:
            raise RuntimeError("`fused` does not support `differentiable`")


def _with_step_hooks(step):
    """``step(optimizer, *args, **kwargs)`` between the optimiser's step pre-hooks and post-hooks, as PyTorch's:
    hook(optimizer, args, kwargs), args starting with the optimizer; a pre-hook may return new (args, kwargs)."""
    def step_with_hooks(self, *args, **kwargs):
        args = (self, *args)
        for hook in tuple(self._step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("optimizer step pre-hook must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result}.")
                args, kwargs = result
        loss = step(*args, **kwargs)
        for hook in tuple(self._step_post_hooks.values()):
            hook(self, args, kwargs)
        return loss
    step_with_hooks.__name__, step_with_hooks.__doc__ = step.__name__, step.__doc__
    step_with_hooks.__wrapped__ = step
    return step_with_hooks


class Optimizer:
    """Base: parameter groups (PyTorch's ``param_groups``, each a dict of its parameters and settings), the
    parameters of all groups in order (``params``), per-parameter state (PyTorch's ``state``: parameter -> its
    buffers, for those that took a step) and step counts.

    A setting read or written as an attribute (``optimizer.lr``) is the first group's, and writing it sets
    it in every group (tinyrrn's shorthand for the one group a run has).
    """

    keeps_step = False  # whether state[p] holds 'step', p's update count (PyTorch's, read at each step)
    renamed = {}  # the buffers' names in states of older tinyrrn -> their names now
    own_settings = ()  # settings every saved group of this optimiser holds (a group without them is another's)

    def __init__(self, params, defaults):
        """``defaults``: the settings of a group that does not give its own, checked by the subclass's
        ``check_group``. (PyTorch's ``foreach`` and ``fused`` are how a step is computed, not what it computes:
        taken, see check_fused.)"""
        object.__setattr__(self, "defaults", defaults)
        self.param_groups, self.params = [], []  # the groups, and the parameters of all of them in order
        self.state = defaultdict(dict)  # parameter -> its buffers (Tensors), as PyTorch's
        self._param_steps = {}  # parameter -> its updates (none without a grad), unless its state holds them
        self.steps = 0
        for hooks in ("_step_pre_hooks", "_step_post_hooks", "_state_dict_pre_hooks", "_state_dict_post_hooks",
                      "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks"):  # PyTorch's: id -> hook
            object.__setattr__(self, hooks, OrderedDict())
        for group in _parameter_groups(params):
            self.add_param_group(group)

    def __getattr__(self, name):
        if name in self.__dict__.get("defaults", ()):
            return self.param_groups[0][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        if name in self.__dict__.get("defaults", ()):
            for group in self.param_groups:
                group[name] = value
        else:
            object.__setattr__(self, name, value)

    def __repr__(self):
        """PyTorch's: each group's settings, sorted by name."""
        groups = "".join(f"\nParameter Group {i}\n" + "".join(f"    {k}: {group[k]}\n" for k in sorted(group)
                                                            if k != "params")
                         for i, group in enumerate(self.param_groups))
        return f"{type(self).__name__} ({groups})"

    def add_param_group(self, param_group):
        """Add a group of parameters with its own settings (the others the defaults), as PyTorch: the dict itself,
        completed (its 'params' as a list, their names as 'param_names' when given as named_parameters()); a
        parameter already in a group, or names in some groups only, refused with its ValueError."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = param_group
        group["params"], names = _group_parameters(group["params"])
        if names is not None:
            group["param_names"] = names
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.check_group(group)
        self._follow_groups()
        if self.param_groups and ("param_names" in group) != ("param_names" in self.param_groups[0]):
            raise ValueError("all optimizer param groups should be with/without names. cannot add param group "
                             f"{'with' if 'param_names' in group else 'without'} names to the optimizer")
        if {id(p) for p in self.params} & {id(p) for p in group["params"]}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self.params.extend(group["params"])

    @property
    def param_steps(self):
        """The number of updates of each parameter of ``params``."""
        self._follow_groups()
        return [self._steps_of(p) for p in self.params]

    def _follow_groups(self):
        """Follow edits of a group's 'params' list (a parameter appended, removed or replaced): ``params`` as the
        groups now hold them (changed in place); each parameter keeps its state, keyed by it, as PyTorch's."""
        current = [p for group in self.param_groups for p in group["params"]]
        if len(current) != len(self.params) or any(p is not q for p, q in zip(current, self.params)):
            self.params[:] = current

    def _stepping(self):
        """(group, parameter) for every parameter with a gradient."""
        self._follow_groups()
        return [(group, p) for group in self.param_groups for p in group["params"] if p.grad is not None]

    def _steps_of(self, p):
        """The number of updates ``p`` took: with ``keeps_step`` its state's 'step', as PyTorch's (so that one
        changed, or shared with a state_dict, counts)."""
        if not self.keeps_step:
            return self._param_steps.get(p, 0)
        step = self.state.get(p, {}).get("step")
        return 0 if step is None else int(float(step))

    def _set_steps(self, p, count):
        """``p`` took ``count`` updates; an optimiser whose PyTorch state holds them (``keeps_step``, Adam's)
        writes them in its state's 'step', a float32 tensor as PyTorch's, in place as PyTorch's step (a
        state_dict, and an optimiser that loaded it, share it)."""
        if not self.keeps_step:
            self._param_steps[p] = count
        elif "step" in self.state[p]:
            self.state[p]["step"].data[...] = count
        else:
            self.state[p]["step"] = Tensor(numpy.array(count, "float32"))

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (PyTorch's default), or with ``set_to_none=False`` zero it in place."""
        self._follow_groups()
        zero_grads(self.params, set_to_none)

    @staticmethod
    def _gradient(group, p):
        """The array of the gradient a step follows: the parameter's, negated with the group's ``maximize``."""
        return -p.grad.data if group["maximize"] else p.grad.data

    @staticmethod
    def _add_hook(hooks, hook, prepend=False):
        """Register ``hook`` in ``hooks`` (first with ``prepend``); its RemovableHandle."""
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_step_pre_hook(self, hook):
        """Call ``hook(optimizer, args, kwargs)`` before each step(), as PyTorch: ``args`` starts with the
        optimiser; a result other than None is the (args, kwargs) the step then takes. A RemovableHandle."""
        return self._add_hook(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """Call ``hook(optimizer, args, kwargs)`` after each step(), as PyTorch. A RemovableHandle."""
        return self._add_hook(self._step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        """Call ``hook(optimizer)`` before each state_dict(), as PyTorch. A RemovableHandle."""
        return self._add_hook(self._state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        """Call ``hook(optimizer, state_dict)`` on what state_dict() returns, as PyTorch: a result other than None
        is returned instead. A RemovableHandle."""
        return self._add_hook(self._state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        """Call ``hook(optimizer, state_dict)`` on (a shallow copy of) what load_state_dict() is given, as
        PyTorch: a result other than None is loaded instead. A RemovableHandle."""
        return self._add_hook(self._load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        """Call ``hook(optimizer)`` after each load_state_dict(), as PyTorch. A RemovableHandle."""
        return self._add_hook(self._load_state_dict_post_hooks, hook, prepend)

    @staticmethod
    def check_group(group):
        """A subclass's checks of a group's settings when it is added (none in the base class, as PyTorch's)."""

    @staticmethod
    def check_options(group):
        """A subclass's checks of a group's settings at each step (none in the base class)."""

    @staticmethod
    def buffer_names(group):
        """The names of a subclass's per-parameter buffers (none in the base class)."""
        return ()

    def update(self):
        """A subclass's update of every parameter with a gradient; the base class has none (PyTorch's base step
        raises NotImplementedError too): a subclass defines update(), or step() as in PyTorch."""
        raise NotImplementedError(f"{type(self).__name__} defines no update: a subclass of Optimizer defines "
                                  "update() or step(), as PyTorch's Optimizer subclasses define step()")

    def __init_subclass__(cls, **kwargs):
        """A subclass's own step() (PyTorch's way to write an optimiser) runs between the step hooks too, as
        PyTorch's patched step does."""
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _with_step_hooks(cls.__dict__["step"])

    def _step(self, closure=None):
        """One update (the subclass's ``update``); with a ``closure`` (which recomputes the loss and its
        gradients) called first and its loss returned, as PyTorch."""
        for group in self.param_groups:  # options set in param_groups after the optimiser was made
            self.check_options(group)
        loss = None
        if closure is not None:
            with enable_grad():  # as PyTorch: a closure computes gradients even when step() is under no_grad
                loss = closure()
        with numpy.errstate(all="ignore"):  # an infinite or NaN gradient gives NaN silently, as PyTorch's step
            self.update()
        return loss

    @_with_step_hooks
    def step(self, closure=None):
        """One update, between the step pre-hooks and post-hooks, as PyTorch (see _step)."""
        return self._step(closure)

    def state_dict(self):
        """{'steps', 'lr' (the first group's), 'param_steps', 'buffers': {index: {name: array}} (arrays on the
        parameters' device), 'state_steps': {index: the array of its state's 'step'} (Adam's), 'param_groups': each
        group's settings, its parameters as indices into ``params``}; after the state_dict pre-hooks, through the
        post-hooks. The arrays are the state's own, as PyTorch's state_dict holds its state's tensors."""
        for hook in tuple(self._state_dict_pre_hooks.values()):
            hook(self)
        self._follow_groups()
        groups, start = [], 0
        for group in self.param_groups:
            settings = {k: float(v) if isinstance(v, Tensor) else v for k, v in group.items() if k != "params"}
            groups.append({**settings, "params": list(range(start, start + len(group["params"])))})
            start += len(group["params"])
        buffers = {str(i): {name: v.data for name, v in self.state.get(p, {}).items() if name != "step"}
                   for i, p in enumerate(self.params)}
        steps = {str(i): self.state[p]["step"].data for i, p in enumerate(self.params)
                 if "step" in self.state.get(p, {})}
        state = {"steps": self.steps, "lr": float(self.lr), "param_steps": self.param_steps, "buffers": buffers,
                 "state_steps": steps, "param_groups": groups}
        for hook in tuple(self._state_dict_post_hooks.values()):
            result = hook(self, state)
            state = state if result is None else result
        return state

    def load_state_dict(self, state_dict):
        """Take a state of ``state_dict()``'s format (not PyTorch's {'state', 'param_groups'}, refused saying so),
        each buffer cast to its parameter's dtype and moved to its device, as PyTorch; the groups' settings
        are restored too, as PyTorch (a state without them: the learning rate, in every group). The state of a
        parameter in no group is dropped, as PyTorch. The load_state_dict hooks are called before and after."""
        state = state_dict
        if isinstance(state, Mapping):
            state = dict(state)  # the pre-hooks' copy, as PyTorch's
            for hook in tuple(self._load_state_dict_pre_hooks.values()):
                result = hook(self, state)
                state = state if result is None else result
        self._load(state)
        for hook in tuple(self._load_state_dict_post_hooks.values()):
            hook(self)

    def _check_layout(self, state):
        """Refuse a state whose parts are not laid out as state_dict() writes them (a damaged or hand-made one: a
        KeyError, a TypeError or a silent partial load otherwise), naming the part at fault."""
        def refuse(what):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {what}, not as state_dict() writes it")
        count, groups, buffers = len(self.params), state.get("param_groups"), state["buffers"]
        if groups is not None and not (isinstance(groups, (list, tuple)) and all(
                isinstance(g, Mapping) and isinstance(g.get("params"), (list, tuple)) for g in groups)):
            refuse("'param_groups' is not a list of dicts, each with its 'params' list")
        if not isinstance(state["steps"], numbers.Integral):
            refuse(f"'steps' is {state['steps']!r}, not an integer")
        counts = state.get("param_steps")
        if counts is not None and not (isinstance(counts, (list, tuple)) and len(counts) == count
                                       and all(isinstance(n, numbers.Integral) for n in counts)):
            refuse(f"'param_steps' is not a list of {count} integers (one per parameter)")
        if not isinstance(buffers, Mapping) or not all(isinstance(named, Mapping) for named in buffers.values()):
            refuse("'buffers' is not a dict of each parameter's dict of buffers")
        if len(buffers) == count and set(buffers) != {str(i) for i in range(count)}:
            refuse(f"'buffers' is keyed {sorted(buffers)}, not by the parameters' indices '0' to '{count - 1}'")
        if not set(state.get("state_steps") or ()) <= set(buffers):
            refuse(f"'state_steps' is keyed {sorted(state['state_steps'])}, not by the parameters' indices")
        for i, named in buffers.items():
            for name, value in named.items():
                if getattr(getattr(value, "dtype", None), "kind", None) not in ("f", "i", "u"):
                    refuse(f"buffer {name} of parameter {i} is {type(value).__name__} "
                           f"{getattr(value, 'dtype', '')}, not an array of numbers")

    def _load(self, state):
        """load_state_dict's load."""
        expected = ("steps", "lr", "buffers")
        if not isinstance(state, Mapping) or not all(key in state for key in expected):
            keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            torch_format = isinstance(state, Mapping) and {"state", "param_groups"} <= set(state)
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected tinyrrn's optimiser state with keys "
                             f"{', '.join(expected)} (and param_steps), got {keys}"
                             + (": a PyTorch optimizer's state_dict, whose format tinyrrn's optimisers do not read"
                                if torch_format else ""))
        self._follow_groups()
        self._check_layout(state)
        groups = state.get("param_groups")
        if groups is not None and len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups (as PyTorch)")
        if groups is not None and [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group (as PyTorch)")
        lacking = sorted({k for saved in groups or () for k in self.own_settings if k not in saved})
        if lacking:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved parameter groups lack "
                             f"{type(self).__name__}'s settings {lacking}: a state of another optimiser")
        if len(state["buffers"]) != len(self.params):
            raise ValueError(f"optimiser state holds {len(state['buffers'])} parameters, the model "
                             f"has {len(self.params)}")
        settings = [saved for saved, group in zip(groups or self.param_groups, self.param_groups)
                    for _ in group["params"]]  # each parameter's group's, as they will be
        loaded = [{self.renamed.get(name, name): v for name, v in state["buffers"][str(i)].items()}
                  for i in range(len(self.params))]
        for i, p in enumerate(self.params):  # everything checked before anything changes
            buffers, names = loaded[i], self.buffer_names(settings[i])
            if buffers and set(buffers) != set(names):
                raise ValueError(f"optimiser state of parameter {i} holds {sorted(buffers)}, not {type(self).__name__}'s "
                                 f"{list(names)}: a state of another optimiser")
            for name, value in buffers.items():
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"optimiser buffer {name} of parameter {i}: shape {tuple(value.shape)} "
                                     f"does not match the parameter's {tuple(p.shape)}")
        for group, saved in zip(self.param_groups, groups or ()):
            group.update((k, v) for k, v in saved.items() if k != "params")
        if groups is None:  # a state from before the groups were saved: its learning rate, in every group
            self.lr = float(state["lr"])
        self.steps = int(state["steps"])
        # a state from before per-parameter counts: every parameter with buffers took every step
        counts = [int(n) for n in state.get("param_steps") or [self.steps if b else 0 for b in loaded]]
        shared = state.get("state_steps") or {}  # Adam's 'step' arrays, taken as they are, as PyTorch's
        self.state.clear()
        self._param_steps.clear()
        for i, (p, buffers, count, group) in enumerate(zip(self.params, loaded, counts, settings)):
            if self.keeps_step and str(i) in shared:
                self.state[p]["step"] = Tensor(shared[str(i)])  # first, as PyTorch's state lists it
            elif count:
                self._set_steps(p, count)
            if buffers:
                xp = backend.xp_of(p.data)
                self.state[p].update((name, Tensor(xp.asarray(backend.to_numpy(buffers[name]) if backend.xp_of(
                    buffers[name]) is not xp else buffers[name], dtype=p.dtype))) for name in self.buffer_names(group))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), the paper's optimiser: bias-corrected, eps added after the square root."""

    keeps_step = True
    own_settings = ("betas", "eps", "amsgrad")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        """PyTorch's constructor checks (each group's settings then by ``check_group``); besides, as its: a tensor
        lr or beta is refused with foreach=True, the betas must be two floats or two one-element tensors, and
        the defaults hold them as a tuple."""
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))
        if not any(all(isinstance(beta, kind) for beta in betas[:2]) for kind in (float, Tensor)):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas[:2]):
            if isinstance(beta, Tensor) and foreach and not capturable:
                raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
            if isinstance(beta, Tensor) and beta.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")

    @classmethod
    def check_group(cls, group):
        """PyTorch's checks of Adam's settings (of each group here)."""
        _check_learning_rate(group["lr"])
        _check_at_least("epsilon value", group["eps"])
        for i in range(2):  # PyTorch's IndexError for one beta; more than two are taken here, as PyTorch
            if not 0.0 <= group["betas"][i] < 1.0:  # takes them (its step refuses them)
                raise ValueError(f"Invalid beta parameter at index {i}: {group['betas'][i]}")
        _check_at_least("weight_decay value", group["weight_decay"])
        cls.check_options(group)

    @classmethod
    def check_options(cls, group):
        """PyTorch's options that tinyrrn lacks refused unless at their defaults, in a group too, as PyTorch reads
        them from each group at each step."""
        check_fused(group)
        only_torch_defaults(cls.__name__, capturable=(group["capturable"], False),
                            differentiable=(group["differentiable"], False))

    @staticmethod
    def buffer_names(group):
        """The buffers of a parameter of ``group`` (per parameter, in state_dict())."""
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def update(self):
        """One update of every parameter with a gradient; each is bias-corrected by its own step count
        (a parameter that had no gradient for a while has taken fewer steps), as PyTorch."""
        for group in self.param_groups:
            if len(group["betas"]) != 2:
                raise ValueError(f"{type(self).__name__}: betas must be a pair (beta1, beta2) to step, got "
                                 f"{group['betas']!r} (PyTorch's step refuses them too)")
        stepping = self._stepping()
        for _, p in stepping:  # before anything changes
            state = self.state.get(p, {})
            if "exp_avg" in state and state["exp_avg"].dtype != p.dtype:
                raise RuntimeError(f"{type(self).__name__}: the state of parameter {self.params.index(p)} is "
                                   f"{state['exp_avg'].dtype} but the parameter is {p.dtype} (converted after the "
                                   "optimiser's first step, as by model.double()), as PyTorch's step refuses; make a "
                                   "new optimiser, or load a state_dict(), which casts the state to each parameter's "
                                   "dtype")
        self.steps += 1
        by_count = {}  # (group, step count) -> the arrays of its parameters at that count
        for group, p in stepping:
            names, state, count = self.buffer_names(group), self.state[p], self._steps_of(p) + 1
            self._set_steps(p, count)  # first: PyTorch's state lists 'step' first
            if "exp_avg" not in state:
                state.update((name, Tensor(backend.xp_of(p.data).zeros_like(p.data))) for name in names)
            p.version += 1  # changed in place: a graph built before this step can no longer give gradients
            by_count.setdefault((id(group), count), (group, []))[1].append(
                (p.data, self._gradient(group, p), *(state[name].data for name in names)))
        for (_, count), (group, arrays) in by_count.items():
            # each a number or a one-element tensor, as PyTorch takes them (a tensor's value now)
            (beta1, beta2), lr, weight_decay = map(float, group["betas"]), float(group["lr"]), float(group["weight_decay"])
            numbers = (1 - beta1, beta2, 1 - beta2, lr / (1 - beta1 ** count), math.sqrt(1 - beta2 ** count),
                       float(group["eps"]))
            if weight_decay and group["decoupled_weight_decay"]:  # AdamW's
                threads.update_in_place(adam_amsgrad_decoupled_update if group["amsgrad"] else adam_decoupled_update,
                                        arrays, *numbers, 1 - lr * weight_decay)
            else:
                update, decay = kernel_and_decay(adam_amsgrad_update if group["amsgrad"] else adam_update, weight_decay)
                threads.update_in_place(update, arrays, *numbers, *decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as torch.optim.AdamW: Adam with
    decoupled_weight_decay=True (each step shrinks the parameters by lr * weight_decay), weight decay 1e-2 by
    default."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


class SGD(Optimizer):
    """Stochastic gradient descent with (PyTorch-style) momentum, dampening, Nesterov momentum and weight decay;
    PyTorch's arguments and defaults (lr 1e-3, no momentum)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    @classmethod
    def check_group(cls, group):
        """PyTorch's checks of SGD's settings (of each group here)."""
        _check_learning_rate(group["lr"])
        _check_at_least("momentum value", group["momentum"])
        _check_at_least("weight_decay value", group["weight_decay"])
        if not isinstance(group["dampening"], (numbers.Real, Tensor)):
            raise ValueError(f"Invalid dampening value: {group['dampening']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        cls.check_options(group)

    @classmethod
    def check_options(cls, group):
        """PyTorch's options that tinyrrn lacks refused unless at their defaults (see Adam.check_options); so is
        Nesterov momentum with dampening (set in param_groups after the checks of the constructor), which
        PyTorch's constructor refuses."""
        check_fused(group)
        only_torch_defaults(cls.__name__, differentiable=(group["differentiable"], False))
        if group["nesterov"] and group["momentum"] and group["dampening"]:
            raise NotImplementedError("SGD: Nesterov momentum with dampening is not supported by tinyrrn (PyTorch's "
                                      "constructor refuses it: Nesterov momentum requires zero dampening)")

    renamed = {"momentum": "momentum_buffer"}  # its name before it took PyTorch's
    own_settings = ("momentum", "dampening", "nesterov")

    @staticmethod
    def buffer_names(group):
        return ("momentum_buffer",)

    def update(self):
        """One update of every parameter with a gradient. With dampening, as PyTorch, a momentum buffer's
        first step takes the whole gradient and later ones (1 - dampening) of it."""
        self.steps += 1
        by_group = {}  # group -> (group, arrays, dampened arrays)
        for group, p in self._stepping():
            _, arrays, dampened = by_group.setdefault(id(group), (group, [], []))
            momentum = group["momentum"]
            self._set_steps(p, self._steps_of(p) + 1)
            p.version += 1
            if momentum and "momentum_buffer" not in self.state[p]:
                self.state[p]["momentum_buffer"] = Tensor(backend.xp_of(p.data).zeros_like(p.data))
            elif momentum and group["dampening"]:
                dampened.append((p.data, self._gradient(group, p), self.state[p]["momentum_buffer"].data))
                continue
            arrays.append((p.data, self._gradient(group, p)) + ((self.state[p]["momentum_buffer"].data,) if momentum
                                                               else ()))
        for group, arrays, dampened in by_group.values():
            # each a number or a one-element tensor, as PyTorch takes them (a tensor's value now: a NumPy
            # array's in-place *= with a Tensor would rebind, not update, and the step do nothing)
            lr, momentum, weight_decay = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
            if momentum:
                momentum_update = sgd_nesterov_update if group["nesterov"] else sgd_momentum_update
                update, decay = kernel_and_decay(momentum_update, weight_decay)
                threads.update_in_place(update, arrays, lr, momentum, *decay)
                update, decay = kernel_and_decay(sgd_dampened_momentum_update, weight_decay)
                threads.update_in_place(update, dampened, lr, momentum, 1 - float(group["dampening"]), *decay)
            else:
                update, decay = kernel_and_decay(sgd_update, weight_decay)
                threads.update_in_place(update, arrays, lr, *decay)


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

_SCHEDULES = ("tinyrrn has no scheduler objects: set each group's 'lr' before a step, e.g. to learning_rate(...) "
              "(a warm-up, then constant, step or cosine)")
_NOT_HERE = {"lr_scheduler": _SCHEDULES, "swa_utils": _SCHEDULES,
             **{name: "tinyrrn's optimisers are SGD, Adam and AdamW" for name in (
                 "ASGD", "Adadelta", "Adafactor", "Adagrad", "Adamax", "LBFGS", "Muon", "NAdam", "RAdam", "RMSprop",
                 "Rprop", "SparseAdam")}}


def __getattr__(name):
    """An AttributeError, as for any missing name, that says why for those of torch.optim tinyrrn has not."""
    reason = f": {_NOT_HERE[name]}" if name in _NOT_HERE else ""
    raise AttributeError(f"module 'tinyrrn.optim' has no attribute {name!r}{reason}")
