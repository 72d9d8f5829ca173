"""Grad mode: whether ops record a graph now (``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``inference_mode``), each thread's own setting, as PyTorch's."""
import functools
import inspect
import threading


class _GradState(threading.local):
    """Each thread's grad mode; the class's values are every thread's defaults (read at every op: a default
    given to getattr would cost an AttributeError each time)."""
    grad_enabled = True
    inference = False


_state = _GradState()


def is_grad_enabled():
    """False inside a ``no_grad()`` block: ops then record no graph."""
    return _state.grad_enabled


def is_inference_mode_enabled():
    """True inside an ``inference_mode()`` block, as PyTorch's torch.is_inference_mode_enabled()."""
    return _state.inference


def records_graph():
    """Whether ops record a graph now: grad enabled, outside inference mode (which records none under enable_grad
    either, as PyTorch's)."""
    return _state.grad_enabled and not _state.inference


class _GradMode:
    """A context manager that sets whether ops record a graph (``mode``) and restores the previous setting
    on exit; or a decorator, as ``@no_grad()`` or ``@no_grad``: each call (each step of a generator) then
    runs in a block of its own, so that recursion and threads each restore their own state, as in PyTorch."""

    mode = False

    def __new__(cls, func=None):
        if func is not None:  # @no_grad without parentheses
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, func=None):
        self._previous = None

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.grad_enabled = self.mode

    def __exit__(self, *exc):
        _state.grad_enabled = self._previous

    def _block(self):
        """A new block setting this one's mode, for one call of a decorated function."""
        block = object.__new__(_GradMode)
        block.mode = self.mode
        return block

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args, **kwargs):
                steps = func(*args, **kwargs)
                with self._block():
                    request = None
                    try:
                        response = steps.send(request)
                    except StopIteration as stop:
                        return stop.value
                while True:  # each step of the generator in its own block; its consumer's code outside
                    try:
                        request = yield response
                    except GeneratorExit:
                        steps.close()
                        raise
                    except BaseException as err:  # thrown into this generator: into func's
                        step = functools.partial(steps.throw, err)
                    else:
                        step = functools.partial(steps.send, request)
                    with self._block():
                        try:
                            response = step()
                        except StopIteration as stop:
                            return stop.value
            return generator

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._block():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Disables graph recording, e.g. for evaluation (see _GradMode)."""


class enable_grad(_GradMode):
    """Enables graph recording, inside a no_grad() block say (see _GradMode)."""

    mode = True


class set_grad_enabled(_GradMode):
    """Sets graph recording to ``mode`` at once, as PyTorch: as a call it stays set; as a context manager
    the previous setting is restored on exit; as a decorator it is set during each call only."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'enabled' (position 1) must be bool, not "
                            f"{type(mode).__name__} (as PyTorch)")
        self.mode, self._previous = mode, is_grad_enabled()
        _state.grad_enabled = mode

    def __enter__(self):
        pass  # set when made

    def __call__(self, func):
        _state.grad_enabled = self._previous  # decorating sets nothing now
        return super().__call__(func)


class inference_mode(_GradMode):
    """PyTorch's inference_mode, a block or a decorator (``@inference_mode``, ``@inference_mode()``): no_grad, and
    the tensors made in it are inference tensors (``is_inference()``), which outside it are not changed in place,
    not set to require grad, and not saved for the backward of an op that records a graph (``w * t``, not
    ``w + t``; which inputs each op saves: _saved_inputs); an op on inference tensors alone records none.
    Inside, no op records a graph, under enable_grad() too.
    ``inference_mode(False)`` leaves it, with grad enabled, as PyTorch."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode without parentheses
            return cls()(mode)
        return object.__new__(cls)

    def __init__(self, mode=True):
        if not isinstance(mode, bool):
            raise TypeError(f"inference_mode(): mode must be a bool (or the function to decorate), not "
                            f"{type(mode).__name__}")
        self.mode, self._previous = mode, None

    def __enter__(self):
        self._previous = is_grad_enabled(), is_inference_mode_enabled()
        _state.grad_enabled, _state.inference = not self.mode, self.mode

    def __exit__(self, *exc):
        _state.grad_enabled, _state.inference = self._previous

    def _block(self):
        return inference_mode(self.mode)
