"""Module: a tree of layers holding parameters and buffers, with PyTorch's state_dict names."""
import operator
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Iterable, Mapping

import numpy

from .. import backend
from ..functional import channels_last
from ..functional._util import only_torch_defaults
from ..grad_mode import is_grad_enabled
from ..tensor import ArgumentError, RemovableHandle, Tensor, make_result, zero_grads


class Parameter(Tensor):
    """A tensor that a Module trains (requires_grad is True); without data an empty float32 one, as PyTorch."""

    _copies_grad = False  # copy.deepcopy leaves the gradient behind, as PyTorch's Parameter

    def __init__(self, data=None, requires_grad=True):
        super().__init__([] if data is None else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


def _is_float32(dtype):
    """Whether ``dtype`` names float32: a NumPy dtype, type or name, or torch.float32 (by its name)."""
    try:
        return numpy.dtype(dtype) == numpy.float32
    except TypeError:
        return str(dtype) == "torch.float32"


def check_factory_arguments(layer, device, dtype):
    """PyTorch's ``device=`` and ``dtype=`` of a layer: tinyrrn makes parameters float32 on the default device
    (tinyrrn.backend.set_device), so None or those are taken and anything else is refused, saying so."""
    if device is not None and device != backend.get_device():
        raise NotImplementedError(f"{layer}: device={device!r} is not supported by tinyrrn: parameters are made "
                                  f"on the default device {backend.get_device()!r}; move the layer with .to(device)")
    if dtype is not None and not _is_float32(dtype):
        raise NotImplementedError(f"{layer}: dtype={dtype!r} is not supported by tinyrrn: parameters are made "
                                  "float32")


def _hook_refused(name, why):
    """A Module method that PyTorch has and tinyrrn refuses (a module's backward hooks, state_dict hooks,
    share_memory, compile, other devices), saying ``why``."""
    def method(self, *args, **kwargs):
        raise NotImplementedError(f"Module.{name} is not supported by tinyrrn ({why})")
    method.__name__ = name
    return method


_NO_BACKWARD_HOOKS = ("no module backward hooks but the full ones: register_full_backward_hook gives the gradients of "
                      "the module's inputs and outputs")
_NO_STATE_HOOKS = "no state_dict or load_state_dict hooks: edit the dict state_dict() returns, or the one given"
_ONE_GPU = "tinyrrn's devices are the CPU and one CUDA GPU: use cpu() or cuda()"


class Module:
    """Base class of layers and models.

    Assigning a Parameter or a Module to an attribute registers it, so
    ``state_dict()`` keys are the attribute paths (``layer1.0.conv1.weight``),
    exactly as in PyTorch. Buffers are Tensors that are not trained (e.g.
    batch-norm's running statistics) registered with :meth:`register_buffer`.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())  # buffers left out of state_dict
        object.__setattr__(self, "training", True)
        for hooks in ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
                      "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_backward_hooks",
                      "_backward_pre_hooks"):  # PyTorch's: id -> hook (or True); pre-hooks' ids in _backward_hooks too
            object.__setattr__(self, hooks, OrderedDict())

    def __setattr__(self, name, value):
        """PyTorch's rules: a Parameter or a Module registers ``name`` (taking it from the other registries);
        a registered name keeps its registration and its place in state_dict order when set to None or to a
        value of its kind (a parameter only to a Parameter: a plain tensor is refused, as PyTorch); a buffer
        takes a Tensor (kept itself) or None, an array refused as PyTorch; any other name is a plain attribute, before
        Module.__init__() too (a Parameter or Module then refused with PyTorch's AttributeError)."""
        if "_buffers" not in self.__dict__:
            if isinstance(value, (Parameter, Module)):
                kind = "parameters" if isinstance(value, Parameter) else "module"
                raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
            object.__setattr__(self, name, value)
            return
        if name in self._buffers and not isinstance(value, (Parameter, Module)):  # (a Parameter moves to _parameters)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_type_name(value)}' as buffer '{name}' (Tensor or None expected, "
                                "as PyTorch; wrap an array in a Tensor)")
            self._buffers[name] = value
            return
        target = (self._parameters if isinstance(value, Parameter) else  # a module does not replace a parameter
                  self._modules if isinstance(value, Module) and name not in self._parameters else None)
        if target is None:
            for registry, kind, expected in ((self._parameters, "parameter", Parameter),
                                             (self._modules, "child module", Module)):
                if name in registry:
                    if value is not None:
                        raise TypeError(f"cannot assign '{_type_name(value)}' as {kind} '{name}' (tinyrrn.nn."
                                        f"{expected.__name__} or None expected, as PyTorch)")
                    target = registry
        if target is None:
            object.__setattr__(self, name, value)
            return
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not target:
                registry.pop(name, None)
        self._non_persistent.discard(name)  # a buffer that becomes a parameter or child
        self.__dict__.pop(name, None)  # a plain attribute of that name would shadow it
        if target is self._parameters and name not in target:  # a new one: register_parameter's name checks, as
            self._check_new_name("parameter", name, "_parameters")  # PyTorch ('a.b', '', a method's name)
        target[name] = value  # a replaced entry keeps its place in state_dict order, as in PyTorch

    def _check_new_name(self, kind, name, registry):
        """PyTorch's rules for the name of a new parameter, buffer or child module: a string (else TypeError),
        without '.', not empty, and not another attribute's (KeyError); ``registry`` names the dict of those of
        its kind, which Module.__init__() makes (an AttributeError before it, as PyTorch)."""
        if registry not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__} (as PyTorch)")
        if "." in name:
            raise KeyError(f"{kind} name can't contain \".\", got: {name}")
        if not name:
            raise KeyError(f"{kind} name can't be empty string \"\"")
        if name not in self.__dict__[registry] and hasattr(self, name):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        """Register a Parameter, or None (a parameter slot without a value, e.g. a layer's absent bias:
        assigning a plain tensor to it is then refused), as PyTorch."""
        self._check_new_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} object to parameter {name!r} "
                            "(Parameter or None required, as in PyTorch)")
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register ``module`` (or None, an empty slot) as the child ``name``, as PyTorch."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass (as PyTorch)")
        self._check_new_name("module", name, "_modules")
        self._modules[name] = module

    register_module = add_module

    def __delattr__(self, name):
        """``del module.name`` removes a parameter, buffer or child (from state_dict too), as PyTorch."""
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __getattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry, {})
            if name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")  # PyTorch's words

    def register_buffer(self, name, tensor, persistent=True):
        """Keep the Tensor ``tensor`` itself, state that is not trained (saved in state_dict unless ``persistent`` is
        False), or None, no value; anything else (an array: wrap it in a Tensor) is refused, as PyTorch. The name
        must be a new attribute name without dots, as in PyTorch."""
        self._check_new_name("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_type_name(tensor)}' object to buffer '{name}' (Tensor or None "
                            "required, as PyTorch; wrap an array in a Tensor)")
        self._buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    def __call__(self, *args, **kwargs):
        """forward(), after the forward pre-hooks and before the forward hooks, as PyTorch's; with backward hooks
        its inputs and output pass through their nodes (_BackwardHooks)."""
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks):
            return self.forward(*args, **kwargs)
        output, called, backward_hooks = None, set(), None
        try:
            for key, hook in tuple(self._forward_pre_hooks.items()):
                if key in self._forward_pre_hooks_with_kwargs:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        if not (isinstance(result, tuple) and len(result) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                               f"new_kwargs), but got {result}.")
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
            if self._backward_hooks and is_grad_enabled():
                backward_hooks = _BackwardHooks(self)
                args = backward_hooks.inputs(args)
            output = self.forward(*args, **kwargs)
            for key, hook in tuple(self._forward_hooks.items()):
                called.add(key)
                result = self._forward_hook(key, hook, args, kwargs, output)
                output = output if result is None else result
            if backward_hooks is not None:
                output = backward_hooks.output(output)
        except Exception:
            for key, hook in tuple(self._forward_hooks.items()):
                if key in self._forward_hooks_always_called and key not in called:
                    try:
                        result = self._forward_hook(key, hook, args, kwargs, output)
                    except Exception as error:
                        warnings.warn("forward hook with ``always_call=True`` raised an exception that was "
                                      f"silenced as another error was raised in forward: {error}")
                        continue
                    output = output if result is None else result
            raise
        return output

    def _forward_hook(self, key, hook, args, kwargs, output):
        if key in self._forward_hooks_with_kwargs:
            return hook(self, args, kwargs, output)
        return hook(self, args, output)

    def _add_hook(self, registry, hook, prepend, flags):
        """Register ``hook`` (first with ``prepend``), its id set in each of the dicts ``flags``; its handle."""
        handle = RemovableHandle(registry, *flags)
        registry[handle.id] = hook
        if prepend:
            registry.move_to_end(handle.id, last=False)
        for flag in flags:
            flag[handle.id] = True
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Call ``hook(module, args)`` before each forward(), as PyTorch: a result other than None replaces the
        positional arguments (a value that is not a tuple as the one argument); ``with_kwargs``:
        ``hook(module, args, kwargs)``, which may return (args, kwargs). A RemovableHandle."""
        flags = [self._forward_pre_hooks_with_kwargs] if with_kwargs else []
        return self._add_hook(self._forward_pre_hooks, hook, prepend, flags)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """Call ``hook(module, args, output)`` after each forward(), as PyTorch: a result other than None replaces
        the output; ``with_kwargs``: ``hook(module, args, kwargs, output)``; ``always_call``: called (output
        None) when forward() raises too. A RemovableHandle."""
        flags = ([self._forward_hooks_with_kwargs] if with_kwargs else []) + \
            ([self._forward_hooks_always_called] if always_call else [])
        return self._add_hook(self._forward_hooks, hook, prepend, flags)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_output)`` when the gradient of the module's output is computed, as PyTorch: a
        result other than None (a tuple as grad_output) replaces it. See register_full_backward_hook. A
        RemovableHandle."""
        return self._add_hook(self._backward_hooks, hook, prepend, [self._backward_pre_hooks])

    def register_full_backward_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_input, grad_output)`` when the gradient of the module's input is computed, as
        PyTorch: grad_input holds one gradient per positional argument (None for one that is not a Tensor that
        requires grad), grad_output one per output (a Tensor, or each of a tuple); a result other than None (a tuple
        as grad_input) replaces grad_input. When no input requires grad it is called when grad_output is computed,
        with PyTorch's warning. tinyrrn supports one input that requires grad and one output that does (others
        are refused when the module is called). A RemovableHandle."""
        return self._add_hook(self._backward_hooks, hook, prepend, [])

    register_backward_hook = _hook_refused("register_backward_hook", _NO_BACKWARD_HOOKS)
    register_state_dict_pre_hook = _hook_refused("register_state_dict_pre_hook", _NO_STATE_HOOKS)
    register_state_dict_post_hook = _hook_refused("register_state_dict_post_hook", _NO_STATE_HOOKS)
    register_load_state_dict_pre_hook = _hook_refused("register_load_state_dict_pre_hook", _NO_STATE_HOOKS)
    register_load_state_dict_post_hook = _hook_refused("register_load_state_dict_post_hook", _NO_STATE_HOOKS)
    share_memory = _hook_refused("share_memory", "parameters are NumPy or CuPy arrays, not in memory shared "
                                                 "between processes; tinyrrn.parallel runs one process per rank")
    to_empty = _hook_refused("to_empty", "no meta device: parameters are made with their values")
    compile = _hook_refused("compile", "no torch.compile: tinyrrn runs each op as it is called")
    xpu, ipu, mtia = (_hook_refused(name, _ONE_GPU) for name in ("xpu", "ipu", "mtia"))

    def forward(self, *args, **kwargs):
        """What the module computes: each subclass defines it (PyTorch's NotImplementedError otherwise)."""
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # -- walking the tree -------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and all below it, parents first; a module reached twice
        (shared between parents), or already in the set ``memo`` (which collects the modules seen), under
        its first name only, unless ``remove_duplicate`` is False; a child slot set to None is skipped, as
        PyTorch (whose argument order this is)."""
        stack, seen = [(prefix, self)], set() if memo is None else memo
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if module in seen:
                    continue
                seen.add(module)
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self, remove_duplicate=True):
        """The modules of named_modules (a shared one once, unless ``remove_duplicate`` is False), as PyTorch."""
        return (m for _, m in self.named_modules(remove_duplicate=remove_duplicate))

    def children(self):
        return (m for _, m in self.named_children())

    def named_children(self):
        """(attribute name, module) of the direct sub-modules, each once (None left out), as PyTorch."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        """(dotted name, value) of one registry ("_parameters" or "_buffers") of this module, and with
        ``recurse`` of every module below it; None left out, and with ``remove_duplicate`` a value held
        twice (shared, tied) named once, as PyTorch."""
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, value in getattr(module, registry).items():
                if value is not None and not (remove_duplicate and id(value) in seen):
                    seen.add(id(value))
                    yield (f"{path}.{name}" if path else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs, in state_dict order; a parameter shared (tied) between modules
        once, as PyTorch, so that an optimiser updates it once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        """The parameters, in state_dict order, as a generator (PyTorch's: ``next(model.parameters())``)."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Tensor) pairs, each buffer once (None left out), as PyTorch."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        """The buffers (None left out), as a generator, as PyTorch."""
        return (b for _, b in self.named_buffers(recurse=recurse))

    def get_submodule(self, target):
        """The module at the dotted path ``target`` ("" is this one), or PyTorch's AttributeError."""
        module = self
        for item in target.split(".") if target else ():
            if item not in module._modules:
                raise AttributeError(f"`{item}` is not an nn.Module" if hasattr(module, item) else
                                     f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def set_submodule(self, target, module, strict=False):
        """Put ``module`` at the dotted path ``target`` (its parent must exist; with ``strict`` the name too),
        replacing a module there, as PyTorch (whose ValueError and AttributeErrors these are)."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        path, _, name = target.rpartition(".")
        parent = self.get_submodule(path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target):
        """The parameter at the dotted path ``target``, or PyTorch's AttributeError."""
        module, name = self._owner_of(target)
        if not isinstance(getattr(module, name), Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return getattr(module, name)

    def get_buffer(self, target):
        """The buffer at the dotted path ``target`` (None for a buffer slot without a value), or PyTorch's
        AttributeError."""
        module, name = self._owner_of(target)
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return module._buffers[name]

    def _owner_of(self, target):
        """The module at the path of the dotted ``target`` and the last name, which it has: get_parameter's and
        get_buffer's start, with PyTorch's AttributeError for a name it has not."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
        return module, name

    def apply(self, fn):
        """``fn(m)`` for every module below this one and then this one (children first), as PyTorch; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad=True):
        """Whether every parameter requires grad (e.g. False to freeze them), as PyTorch; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def __dir__(self):
        """Attributes, and the names of parameters, buffers and children that are identifiers, as PyTorch."""
        registered = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | {name for name in registered if not name[0].isdigit()})

    def num_parameters(self):
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters())

    # -- modes and housekeeping -------------------------------------------
    def train(self, mode=True):
        """This module and, through their own train(), its children (one that overrides it, to keep a
        batch norm frozen, say, is obeyed), as PyTorch."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (PyTorch's default), or with ``set_to_none=False`` zero it in place."""
        zero_grads(self.parameters(), set_to_none)

    def to(self, *args, device=None, dtype=None, non_blocking=False, memory_format=None):
        """Move every parameter (with its gradient) and buffer to 'cpu' or 'gpu', and/or convert the floating
        ones to a float ``dtype`` (parameters in place, a changed buffer as a new Tensor: see _convert); returns
        self. As PyTorch: to(device), to(dtype), to(device, dtype) or the keywords; ``non_blocking`` (how a copy is
        made, not what it holds) any value, ``memory_format`` None only.

        Arrays already on ``device`` are left as they are; moved 4-D arrays
        stay channels-last in memory when they were (conv weights).
        """
        only_torch_defaults("Module.to", memory_format=(memory_format, None))
        device, dtype = backend.device_and_dtype("Module.to", args, device, dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, but got desired dtype={dtype} (as PyTorch)")

        def converted(array):  # cast (floats only), then moved
            if dtype is not None and array.dtype.kind == "f":
                array = array.astype(dtype, copy=False)
            return move_keeping_layout(array, device) if device is not None else array

        return self._convert(converted)

    def _convert(self, converted):
        """Every parameter's array (and its gradient's) replaced by ``converted(array)`` in the same Tensor, as
        PyTorch's parameters (param.data = ...); a buffer whose array it changes replaced by a new Tensor (a
        reference held to the old one keeps the old values), as PyTorch's buffer = buffer.to(...); self."""
        for m in self.modules():
            for p in (p for p in m._parameters.values() if p is not None):
                p.data = converted(p.data)
                if p.grad is not None:
                    p.grad.data = converted(p.grad.data)
            for name, b in m._buffers.items():
                array = None if b is None else converted(b.data)
                if array is not None and array is not b.data:
                    m._buffers[name] = Tensor(array, requires_grad=b.requires_grad)
        return self

    def type(self, dst_type):
        """Every parameter (with its gradient) and buffer cast to the dtype ``dst_type``, integer ones too, as
        PyTorch's; returns self. A parameter that requires grad cast to another kind than floating point is
        refused (PyTorch's RuntimeError), before anything changes."""
        try:
            dtype = numpy.dtype(dst_type)
        except TypeError:
            if isinstance(dst_type, str):
                raise ValueError(f"Module.type: invalid type: {dst_type!r}; expected a dtype such as 'float64'") \
                    from None
            raise TypeError(f"Module.type: expected a dtype, got {type(dst_type).__name__}") from None
        if dtype.kind != "f" and any(p.requires_grad for p in self.parameters()):
            raise RuntimeError(f"Module.type({dtype}): parameters that require gradients must be floating point "
                               "(as PyTorch); freeze them with requires_grad_(False) first")
        return self._convert(lambda array: array.astype(dtype, copy=False))

    def float(self):
        """Floating-point parameters and buffers as float32 (Module.to), as PyTorch; returns self."""
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def bfloat16(self):
        """PyTorch's cast to bfloat16, refused: NumPy and CuPy have no bfloat16 (half() gives float16)."""
        raise NotImplementedError("Module.bfloat16 is not supported by tinyrrn: NumPy and CuPy arrays have no "
                                  "bfloat16; use half() (float16) or float()")

    def cpu(self):
        """Every parameter, gradient and buffer on the host (Module.to('cpu')), as PyTorch; returns self."""
        return self.to("cpu")

    def cuda(self, device=None):
        """Every parameter, gradient and buffer on the GPU (Module.to('gpu'), tinyrrn's current GPU), as PyTorch;
        returns self. tinyrrn uses one GPU: ``device`` is None, 0, 'cuda' or 'cuda:0' (backend.check_one_gpu)."""
        backend.check_one_gpu("Module.cuda", device)
        return self.to("gpu")

    # -- state ------------------------------------------------------------
    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """OrderedDict of name -> Tensor (parameters, persistent buffers, then the extra state of a module whose
        class defines get_extra_state, of each module, parents first), each name written after ``prefix`` (as
        given: "m." makes "m.weight"). As PyTorch's, each Tensor is detached, sharing its memory (and version) with
        the module's (an in-place change of one is the other's); with ``keep_vars`` the parameters and buffer
        Tensors themselves. Written into
        ``destination`` (and that returned) when given, as PyTorch. PyTorch's deprecated positional form,
        ``args`` (destination, prefix, keep_vars), with its FutureWarning and rules: a keyword given wins."""
        if args:
            warnings.warn("Positional args are being deprecated, use kwargs instead (as PyTorch's "
                          "Module.state_dict)", FutureWarning, stacklevel=2)
            destination = args[0] if destination is None else destination
            prefix = args[1] if len(args) > 1 and prefix == "" else prefix
            keep_vars = args[2] if len(args) > 2 and keep_vars is False else keep_vars
        state = OrderedDict() if destination is None else destination
        for path, module in self.named_modules(remove_duplicate=False):  # every name, as PyTorch
            buffers = [(k, v) for k, v in module._buffers.items() if k not in module._non_persistent]
            for name, value in list(module._parameters.items()) + buffers:
                if value is not None:  # a None parameter or buffer is left out, as in PyTorch
                    key = prefix + (f"{path}.{name}" if path else name)
                    state[key] = value if keep_vars else value.detach()
            if _overrides(module, "get_extra_state"):
                state[prefix + _extra_state_key(path)] = module.get_extra_state()
        return state

    def get_extra_state(self):
        """A subclass's state that is no parameter or buffer (any picklable object), saved in state_dict under
        '_extra_state' when the subclass defines it, as PyTorch (whose error this is otherwise)."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state):
        """Restore what get_extra_state returned (load_state_dict calls it when the subclass defines it)."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy the values of ``state_dict`` (Tensors, arrays, or PyTorch's tensors) into this module's parameters and
        buffers, in place, and give each module whose class defines set_extra_state its '_extra_state' entry, as
        PyTorch.

        All problems (missing keys, unexpected keys, shape mismatches) are
        reported together in one error, in PyTorch's words (its RuntimeError, also a ValueError),
        and nothing is changed unless the whole load can succeed. With ``strict=False``
        missing and unexpected keys are allowed (shapes must still match); they are
        returned as (missing_keys, unexpected_keys), as PyTorch. With ``assign`` the given Tensors or arrays are
        taken instead of copied (see _assign).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)} (as PyTorch)")
        extras = OrderedDict((_extra_state_key(path), module) for path, module in self.named_modules(
            remove_duplicate=False) if _overrides(module, "set_extra_state"))
        own = OrderedDict((k, v.data) for k, v in self.state_dict(keep_vars=True).items()
                          if k.rpartition(".")[2] != "_extra_state")
        state = {k: _as_array(k, v) if k in own else v for k, v in state_dict.items()}  # others unexpected
        for k in own:  # a (1,) value for a 0-d entry (old checkpoints' num_batches_tracked): its element, as PyTorch
            if k in state and own[k].ndim == 0 and state[k].shape == (1,):
                state[k] = state[k][0]
        # a batch norm's num_batches_tracked may be absent (older PyTorch checkpoints): kept, as PyTorch does
        # PyTorch's order: module by module (parents first), each one's missing, then the entries it does not have
        order = {path: i for i, (path, _) in enumerate(self.named_modules(remove_duplicate=False))}
        missing = sorted((k for k in [*own, *extras] if k not in state and k.rpartition(".")[2] != "num_batches_tracked"),
                         key=lambda k: order[k.rpartition(".")[0]])
        flagged = {k: self._flagging_path(k) for k in state if k not in own and k not in extras}
        unexpected = sorted((k for k, path in flagged.items() if path is not None), key=lambda k: order[flagged[k]])
        problems = []  # PyTorch's lines, in its order
        if strict and missing:
            problems.append(f"Missing key(s) in state_dict: {_quoted(missing)}. ")
        if strict and unexpected:
            problems.append(f"Unexpected key(s) in state_dict: {_quoted(unexpected)}. ")
        problems += [f"size mismatch for {k}: copying a param with shape {tuple(state[k].shape)} from checkpoint, the "
                     f"shape in current model is {tuple(own[k].shape)}."
                     for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if problems:
            raise ArgumentError(f"Error(s) in loading state_dict for {type(self).__name__} (model left unchanged):\n\t"
                                + "\n\t".join(problems))
        if assign:
            self._assign({k: (state_dict[k] if isinstance(state_dict[k], Tensor) and state_dict[k].data is state[k]
                              else state[k]) for k in own if k in state})
        else:
            self._copy_in(own, state)
        for key, module in extras.items():
            if key in state:
                module.set_extra_state(state[key])
        return _IncompatibleKeys(missing, unexpected)

    def _copy_in(self, own, state):
        """load_state_dict's copy of the arrays of ``state`` into the model's own arrays ``own`` (its state_dict),
        each cast to the dtype of the one it replaces and moved to its device."""
        staged = {}  # everything converted before the first write
        for key, target in own.items():
            if key in state:
                value, xp = state[key], backend.xp_of(target)
                staged[key] = xp.asarray(backend.to_numpy(value) if xp is not backend.xp_of(value)
                                         else value, dtype=target.dtype)
        for key, value in staged.items():
            own[key][...] = value  # in place: keeps each array's memory layout
        written = {}  # id -> parameter or buffer written under any of its names (a tied one has several)
        for path, module in self.named_modules(remove_duplicate=False):
            for name, t in [*module._parameters.items(), *module._buffers.items()]:
                if t is not None and (f"{path}.{name}" if path else name) in staged:
                    written[id(t)] = t
        for t in written.values():
            t.version += 1  # changed in place, once (see Tensor.version)

    def _assign(self, values):
        """load_state_dict(assign=True)'s, as PyTorch's: each parameter named in ``values`` replaced by the given
        Parameter, or a new one on the given Tensor's or array's data (no copy: its dtype and device kept), with the
        old one's requires_grad; each persistent buffer by the given Tensor, or a new one on the given array."""
        for path, module in self.named_modules(remove_duplicate=False):
            for registry in (module._parameters, module._buffers):
                for name, old in list(registry.items()):
                    key = f"{path}.{name}" if path else name
                    if key not in values or name in module._non_persistent and registry is module._buffers:
                        continue
                    value = values[key]
                    if registry is module._parameters:
                        value = value if isinstance(value, Parameter) else Parameter(value, old.requires_grad)
                        value.requires_grad_(old.requires_grad)
                    elif not isinstance(value, Tensor):
                        value = Tensor(value)
                    registry[name] = value

    def _flagging_path(self, key):
        """The path of the module that finds the dotted ``key``, which is not its state, unexpected: the deepest
        one the key's path reaches; None inside a child slot set to None (a dropped head's 'fc.weight'), which
        load_state_dict passes over, as PyTorch."""
        module, path = self, []
        for name in key.split(".")[:-1]:
            if name not in module._modules:
                break
            module = module._modules[name]
            if module is None:
                return None
            path.append(name)
        return ".".join(path)

    def __repr__(self):
        """PyTorch's: extra_repr() inside the parentheses when it is one line and there are no children, else
        each of its lines and then each child (None too) on a line of its own, indented."""
        inner = self.extra_repr()
        extra = inner.split("\n") if inner else []
        children = [f"({name}): {repr(m)}".replace("\n", "\n  ") for name, m in self._modules.items()]
        if len(extra) == 1 and not children:
            return f"{self._get_name()}({extra[0]})"
        lines = extra + children
        return f"{self._get_name()}(" + ("\n  " + "\n  ".join(lines) + "\n" if lines else "") + ")"

    def _get_name(self):
        """The name repr() starts with: the class's, as PyTorch's (a subclass may name itself otherwise)."""
        return type(self).__name__

    def extra_repr(self):
        return ""


class _BackwardHooks:
    """One call's full backward hooks and pre-hooks of a module (those registered then), as PyTorch's BackwardHook,
    through the engine's tensor hooks: its input and output that require grad each pass through an identity node
    whose tensor hook sees the gradient, grad_output (through the pre-hooks, then kept) first, then grad_input
    (through the hooks). One of each that requires grad at most (tinyrrn's nodes hook one gradient each)."""

    def __init__(self, module):
        self.module, self.hooks = module, list(module._backward_hooks.items())
        self.n_inputs, self.input_index, self.grad_output = 0, None, None

    def inputs(self, args):
        """The positional arguments, the one that requires grad through its node."""
        self.n_inputs = len(args)
        self.input_index, = _requiring_grad(self.module, args, "input") or (None,)
        if self.input_index is None:
            return args
        i = self.input_index
        return args[:i] + (_through_hook(args[i], self._input_hook),) + args[i + 1:]

    def output(self, output):
        """The output (a Tensor or a tuple), the one that requires grad through its node."""
        outputs = output if isinstance(output, tuple) else (output,)
        index, = _requiring_grad(self.module, outputs, "output") or (None,)
        if index is None:
            return output
        self.output_place = (index, len(outputs))
        outputs = outputs[:index] + (_through_hook(outputs[index], self._output_hook),) + outputs[index + 1:]
        return outputs if isinstance(output, tuple) else outputs[0]

    def _output_hook(self, grad):
        index, size = self.output_place
        grad_output = tuple(grad if i == index else None for i in range(size))
        for key, hook in self.hooks:
            result = hook(self.module, grad_output) if key in self.module._backward_pre_hooks else None
            if result is not None:
                if len(result) != size:
                    raise RuntimeError("Backward pre hook returned an invalid number of grad_output, got "
                                       f"{len(result)}, but expected {size}")
                grad_output = result
        self.grad_output = grad_output
        if self.input_index is None:  # no input requires grad: called now, as PyTorch's
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients (as PyTorch).", stacklevel=2)
            for key, hook in self._full_hooks():
                result = hook(self.module, (None,) * self.n_inputs, grad_output)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
        return _hooked_gradient(grad_output[index], "grad_output")

    def _input_hook(self, grad):
        if self.grad_output is None:  # a gradient that did not come through the output: no hook, as PyTorch
            return None
        grad_input = tuple(grad if i == self.input_index else None for i in range(self.n_inputs))
        for key, hook in self._full_hooks():
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                if len(result) != len(grad_input):
                    raise RuntimeError("Backward hook returned an invalid number of grad_input, got "
                                       f"{len(result)}, but expected {len(grad_input)}")
                grad_input = result
        self.grad_output = None
        return _hooked_gradient(grad_input[self.input_index], "grad_input")

    def _full_hooks(self):
        return [(key, hook) for key, hook in self.hooks if key not in self.module._backward_pre_hooks]


def _requiring_grad(module, values, kind):
    """The places of the Tensors of ``values`` that require grad: at most one, else refused, saying so."""
    places = [i for i, value in enumerate(values) if isinstance(value, Tensor) and value.requires_grad]
    if len(places) > 1:
        raise NotImplementedError(f"{type(module).__name__}: full backward hooks are not supported by tinyrrn for a "
                                  f"module with more than one {kind} that requires grad (here {len(places)})")
    return places


def _through_hook(tensor, hook):
    """``tensor`` through an identity node (a view, PyTorch's BackwardHookFunction) whose gradient goes to
    ``hook``."""
    out = make_result(tensor.data, (tensor,), lambda g: (g,), "view", view_of=tensor)
    out.register_hook(hook)
    return out


def _hooked_gradient(grad, kind):
    """A gradient that a backward hook gave: a Tensor (None, which PyTorch takes as no gradient, refused)."""
    if grad is None:
        raise NotImplementedError(f"a full backward hook's None in {kind} (PyTorch's 'no gradient') is not "
                                  "supported by tinyrrn; give zeros")
    return grad


def _overrides(module, method):
    """Whether ``module``'s class defines its own ``method`` (get_extra_state, set_extra_state)."""
    return getattr(type(module), method) is not getattr(Module, method)


def _quoted(keys):
    return ", ".join('"' + key + '"' for key in keys)


def _extra_state_key(path):
    return f"{path}._extra_state" if path else "_extra_state"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """load_state_dict's result, printed as PyTorch's: '<All keys matched successfully>' when both are empty."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _as_array(key, value):
    """A value of a model's own state_dict entry (array, NumPy scalar, Tensor, or a PyTorch tensor) as an array;
    anything else (a list, a Python number) is refused, as PyTorch refuses what is not a tensor."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach"):  # a PyTorch tensor (a state_dict of torch's), on the host
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # no NumPy dtype: as float32, exactly (then cast as torch's copy_)
            value = value.float()
        return numpy.asarray(value)
    if isinstance(value, numpy.generic):
        value = numpy.asarray(value)
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise ArgumentError(f"load_state_dict: {key!r}: expected an array or Tensor from the checkpoint but received "
                            f"{type(value)} (as PyTorch, which expects a tensor); convert it with numpy.asarray")
    if value.dtype.kind not in "biufc":  # text, dates, Python objects: no tensor of PyTorch's holds them
        raise ArgumentError(f"load_state_dict: {key!r}: expected an array of numbers from the checkpoint but received "
                            f"an array of {value.dtype} (a PyTorch tensor holds numbers)")
    return value


def _is_channels_last(array):
    return array.ndim == 4 and array.transpose(0, 2, 3, 1).flags.c_contiguous and not array.flags.c_contiguous


def _type_name(value):
    """A value's type as PyTorch's messages name it (torch.typename): 'numpy.ndarray', 'int'."""
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def move_keeping_layout(array, device):
    """backend.to_device, keeping a channels-last 4-D array channels-last (host<->device copies may not)."""
    moved = backend.to_device(array, device)
    if moved is not array and _is_channels_last(array) and not _is_channels_last(moved):
        moved = channels_last(moved)
    return moved


def _index_key(module, index):
    """The name of the index-th child of a Sequential or ModuleList, or PyTorch's IndexError."""
    return list(module._modules)[_checked_index(index, len(module._modules))]


def _checked_index(index, size):
    """``index`` (an int, or what operator.index takes) into ``size`` items as 0..size-1, or PyTorch's IndexError."""
    index = operator.index(index)
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of range")
    return index % size


class _ModuleSequence(Module):
    """Children named '0', '1', ... used as a list (Sequential's and ModuleList's shared methods, PyTorch's)."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __setitem__(self, index, module):
        setattr(self, _index_key(self, index), module)

    def __delitem__(self, index):
        """Remove the index-th module (or a slice of them); the rest are renumbered '0', '1', ..., as PyTorch."""
        keys = list(self._modules)[index] if isinstance(index, slice) else [_index_key(self, index)]
        for key in keys:
            del self._modules[key]
        modules = list(self._modules.values())
        self._modules.clear()
        self._modules.update((str(i), m) for i, m in enumerate(modules))

    def pop(self, index):
        module = self[index]
        del self[index]
        return module

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if not isinstance(modules, Iterable):
            raise TypeError(f"{type(self).__name__}.extend should be called with an iterable, but got "
                            f"{type(modules).__name__}")
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index, module):
        """Put ``module`` before the index-th (-len to len), moving those after up by one, as PyTorch."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        size = len(self._modules)
        if not -size <= index <= size:
            raise IndexError(f"Index out of range: {index}")
        self._shift_in(index + size if index < 0 else index, module)
        return self

    def _shift_in(self, index, module):
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module


class Sequential(_ModuleSequence):
    """Modules applied in order; children are named '0', '1', ... as in PyTorch."""

    def __init__(self, *modules):
        """Sequential(m0, m1, ...), or Sequential(OrderedDict(name=module, ...)) with those names; a None entry
        is an empty slot (skipped by every walk of the tree), as PyTorch."""
        super().__init__()
        named = modules[0].items() if len(modules) == 1 and isinstance(modules[0], OrderedDict) else \
            ((str(i), m) for i, m in enumerate(modules))
        for name, m in named:
            self.add_module(name, m)

    def __getitem__(self, index):
        """The index-th module, or for a slice one of this class (a subclass's forward, as PyTorch) of those
        modules (keeping their names)."""
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))  # a None slot kept, as PyTorch
        return self._modules[_index_key(self, index)]

    def __add__(self, other):
        """A new Sequential of this one's modules, then ``other``'s (a Sequential), as PyTorch."""
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(other)

    def __mul__(self, times):
        """A new Sequential of this one's modules ``times`` over (the same modules, shared), as PyTorch."""
        return Sequential(*self).__imul__(times)

    __rmul__ = __mul__

    def __imul__(self, times):
        """These modules ``times`` over, in place (shared), as PyTorch: a positive int, else its errors. As
        PyTorch's, the copies are read by the names '0', '1', ... (a KeyError for a slice that kept other names)."""
        if not isinstance(times, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(times)}")
        if times <= 0:
            raise ValueError(f"Non-positive multiplication factor {times} for {type(self)}")
        size = len(self)
        modules = [self._modules[str(i)] for i in range(size)] * (times - 1) if times > 1 else []
        for i, module in enumerate(modules):
            self.add_module(str(size + i), module)
        return self

    def forward(self, input):
        for m in self:
            input = m(input)
        return input


class ModuleList(_ModuleSequence):
    """Modules held in a list (registered, so in parameters() and state_dict()), as torch.nn.ModuleList;
    it has no forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        """The index-th module, or for a slice one of this class (as PyTorch) of those modules (renumbered)."""
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[_index_key(self, index)]

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, modules):
        """A new ModuleList of this one's modules, then those of the iterable ``modules``, as PyTorch."""
        return ModuleList([*self, *modules])

    def insert(self, index, module):
        """PyTorch's ModuleList.insert for 0 <= index <= len: no type check, and None returned (unlike
        Sequential's). PyTorch's takes no negative index (a KeyError, raised here before anything moves), and
        past the end leaves a gap in the numbering (later indexing then differs): refused here, saying so."""
        index, size = operator.index(index), len(self._modules)
        if index < 0:
            raise KeyError(f"ModuleList.insert: index {index}: a negative index is not supported (PyTorch's "
                           "KeyError '-1')")
        if index > size:
            raise IndexError(f"ModuleList.insert: index {index} is past the end ({size} modules): tinyrrn does not "
                             "support PyTorch's gap in the numbering; append instead")
        self._shift_in(index, module)

    def __repr__(self):
        """PyTorch's: a run of modules that print alike as one line, "(0-2): 3 x Linear(...)"."""
        runs = []  # [first, last, repr]
        for i, text in enumerate(repr(m) for m in self):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return "ModuleList()"
        lines = [(f"({a}): " if a == b else f"({a}-{b}): {b - a + 1} x ") + text.replace("\n", "\n  ")
                 for a, b, text in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """Modules held in a dict by name (registered), as torch.nn.ModuleDict; it has no forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add the (name, module) pairs of a mapping or an iterable of pairs, as PyTorch."""
        for key, module in _pairs("ModuleDict", modules, sort=False):
            self[key] = module


def _pairs(kind, values, sort):
    """The (key, value) pairs of ModuleDict's or ParameterDict's update: a mapping's items (sorted with ``sort``
    unless it is ordered, as PyTorch's ParameterDict) or an iterable of pairs, with PyTorch's errors."""
    if not isinstance(values, Iterable):
        raise TypeError(f"{'ParametersDict' if kind == 'ParameterDict' else kind}.update should be called with an "
                        f"iterable of key/value pairs, but got {type(values).__name__}")  # (PyTorch's spelling)
    if isinstance(values, (Mapping, ModuleDict, ParameterDict)):
        ordered = not sort or isinstance(values, (OrderedDict, ParameterDict))
        return list(values.items()) if ordered else sorted(values.items())
    pairs = []
    for j, pair in enumerate(values):
        if not isinstance(pair, Iterable):
            raise TypeError(f"{kind} update sequence element #{j} should be Iterable; is {type(pair).__name__}")
        if len(pair) != 2:
            raise ValueError(f"{kind} update sequence element #{j} has length {len(pair)}; 2 is required")
        pairs.append(tuple(pair))
    return pairs


class ParameterList(Module):
    """Parameters held in a list, registered as '0', '1', ..., as torch.nn.ParameterList: a Tensor put in it
    becomes a Parameter on its data (one that is a Parameter is kept itself); any other value is kept as an
    attribute of that name (a Module as a child)."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        """The index-th value, or for a slice a new ParameterList of those values (the same Parameters)."""
        if isinstance(index, slice):
            return type(self)([self[i] for i in range(len(self))[index]])
        return getattr(self, str(_checked_index(index, len(self))))

    def __setitem__(self, index, value):
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, str(_checked_index(index, len(self))), value)

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, values):
        return self.extend(values)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")

    def append(self, value):
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values):
        """Append each of ``values`` (an iterable, not a Tensor), as PyTorch."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        """A line for each value, as PyTorch's: 'Parameter containing: [float32 of size 2x3]'."""
        return "\n".join(f"  ({i}): {_described(value)}" for i, value in enumerate(self))


class ParameterDict(Module):
    """Parameters held in a dict by string key, each registered under its key, as torch.nn.ParameterDict: a Tensor
    put in it becomes a Parameter on its data; any other value is kept as an attribute (a Module as a child)."""

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}  # the keys in order
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return getattr(self, _string_key(key))

    def __setitem__(self, key, value):
        self._keys[key] = None
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, _string_key(key), value)

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, _string_key(key))

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        """The last (key, value) added, removed; PyTorch's KeyError when empty."""
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def clear(self):
        for key in list(self._keys):
            del self[key]

    def copy(self):
        """A new ParameterDict of the same values (the same Parameters), as PyTorch."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys, default=None):
        return ParameterDict((key, default) for key in keys)

    def update(self, parameters):
        """Add the (key, value) pairs of a mapping (sorted by key unless ordered: an OrderedDict or ParameterDict)
        or an iterable of pairs, as PyTorch."""
        for key, value in _pairs("ParameterDict", parameters, sort=True):
            self[key] = value

    def __or__(self, other):
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other):
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other):
        self.update(other)
        return self

    def extra_repr(self):
        return "\n".join(f"  ({key}): {_described(value)}" for key, value in self.items())


def _string_key(key):
    """A ParameterDict key, which is a string (an attribute name), or PyTorch's TypeError."""
    if not isinstance(key, str):
        raise TypeError(f"Index given to ParameterDict cannot be used as a key as it is not a string (type is "
                        f"'{type(key).__name__}'). Open an issue on github if you need non-string keys.")
    return key


def _described(value):
    """A value of a ParameterList as its repr names it, as PyTorch's."""
    if not isinstance(value, Tensor):
        return f"Object of type: {type(value).__name__}"
    kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
    device = "" if value.device == "cpu" else f" ({value.device})"
    return f"{kind} containing: [{value.dtype} of size {'x'.join(str(n) for n in value.shape)}{device}]"
