"""The Tensor and reverse-mode automatic differentiation.

A Tensor wraps an array (NumPy or CuPy). When an op runs on tensors that
require gradients, it records its inputs (``parents``) and a function that
maps the gradient of its output to gradients of its inputs (``backward_fn``).
:meth:`Tensor.backward` walks that graph once in reverse topological order,
summing gradients of tensors used several times, and frees each node's saved
buffers as soon as it has passed through.

Python's operators (``a + b``, ``x[i]``, ``x.sum()``, ...) are attached to
Tensor from one place, :mod:`tinyrrn.operators`, so this module never imports
the op library.
"""
import contextlib
import threading

from . import backend

_state = threading.local()


def is_grad_enabled():
    """False inside a ``no_grad()`` block: ops then record no graph."""
    return getattr(_state, "grad_enabled", True)


class no_grad(contextlib.ContextDecorator):
    """Context manager (or decorator) that disables graph recording, e.g. for evaluation."""

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.grad_enabled = False

    def __exit__(self, *exc):
        _state.grad_enabled = self._previous


class Tensor:
    """An n-dimensional array with an optional gradient.

    ``data`` is the array, ``grad`` the accumulated gradient of a leaf after
    ``backward()``. Python lists and scalars become float32 arrays on the
    default device; arrays keep their dtype and device.
    """

    __array_priority__ = 100  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data, requires_grad=False, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if hasattr(data, "shape") and hasattr(data, "dtype"):
            if device is not None:
                data = backend.to_device(data, device)
        else:
            data = backend.module_for(device).asarray(data)
            if data.dtype.kind == "f":
                data = data.astype("float32")
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.parents = ()
        self.backward_fn = None
        self.op = None

    # -- array-like facts -------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self.backward_fn is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={tuple(self.shape)}, dtype={self.dtype}, device={self.device}{grad})"

    def numpy(self):
        """The data as a NumPy array on the host."""
        return backend.to_numpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self.numpy().item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    # -- backward ---------------------------------------------------------
    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is the gradient flowing into this tensor; it may be left out
        only for a one-element tensor (a loss). The graph is freed afterwards.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input required grad, or it was made under no_grad())")
        xp = backend.xp_of(self.data)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, "
                                   f"got shape {tuple(self.shape)}; pass grad= explicitly")
            grad = xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad shape {tuple(grad.shape)} does not match "
                                 f"tensor shape {tuple(self.shape)}")
        grads = {id(self): grad}
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.backward_fn is None:  # a leaf: keep its gradient
                if 0 in g.strides:  # a broadcast view: give the leaf its own memory
                    g = g.copy()
                node.grad = g if node.grad is None else node.grad + g
                continue
            for parent, pg in zip(node.parents, node.backward_fn(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg
            node.parents, node.backward_fn = (), None  # free saved buffers


def _topological_order(root):
    """Nodes reachable from ``root``, parents before children, without recursion."""
    order, visited = [], {id(root)}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if id(parent) not in visited and parent.requires_grad:
                visited.add(id(parent))
                stack.append((parent, iter(parent.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def make_result(data, parents, backward_fn, op):
    """Wrap an op's output array; record the graph edge when a parent requires grad."""
    out = Tensor(data)
    if is_grad_enabled() and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out.parents = tuple(parents)
        out.backward_fn = backward_fn
        out.op = op
    return out

