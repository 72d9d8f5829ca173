"""The Tensor and reverse-mode automatic differentiation.

A Tensor wraps an array (NumPy or CuPy). When an op runs on tensors that
require gradients, it records its inputs (``parents``) and a function that
maps the gradient of its output to gradients of its inputs (``backward_fn``).
:meth:`Tensor.backward` walks that graph once, children before parents, in the
order of PyTorch's engine (which hooks see), summing gradients of tensors used
several times, and frees each node's saved buffers as soon as it has passed through.

The rules, PyTorch's:

- A graph is used once. After ``backward()`` its nodes that saved a tensor are
  freed (PyTorch's nodes of sums, views, cat, ... save none and stay), and a
  second ``backward()`` that reaches one raises RuntimeError before touching any
  gradient; ``backward(retain_graph=True)`` keeps the graph for another pass.
- A leaf's ``.grad`` is a Tensor (requiring no grad) made at its first gradient and
  added to in place by later ones, so a reference held to it sees the sum. Its
  array is its own: when two leaves would receive the same array (``a + b`` passes
  one gradient to both), or the caller's ``grad``, the later one gets a copy, so
  scaling one gradient in place never changes another.
- A gradient reaching a tensor has that tensor's shape and dtype (an op on
  float32 and float64 tensors computes in float64 and sends float32 back).

Python's operators (``a + b``, ``x[i]``, ``x.sum()``, ...) are attached to
Tensor from one place, :mod:`tinyrrn.operators`, so this module never imports
the op library.
"""
import copy
import heapq
import itertools
import numbers
import warnings
import weakref
from collections import OrderedDict

import numpy

from . import backend
from .grad_mode import _state, is_inference_mode_enabled, no_grad, records_graph


class ArgumentError(RuntimeError, ValueError):
    """An argument an op cannot take (a shape that does not fit, a stride of 0, ...).

    PyTorch raises RuntimeError for these, so this is one; it is also a ValueError,
    Python's type for a bad argument value, which callers of tinyrrn may catch.
    """


class DtypeError(NotImplementedError, TypeError):
    """A tensor of a dtype an op does not take (an integer tensor where it computes with floats).

    PyTorch raises RuntimeError for these, or its subclass NotImplementedError ("not implemented
    for 'Long'"), so this is one; it is also a TypeError, Python's type for an argument of the wrong type.
    """


def check_int64(data):
    """Refuse a Python int outside int64 in ``data`` (a number or nested lists) unless a float there makes the
    values floats, as PyTorch (NumPy would make it uint64, float64 or an object); whether a float is there."""
    stack, beyond, floats = [data], None, False
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, float):
            floats = True
        elif isinstance(item, int) and not isinstance(item, bool) and not -2 ** 63 <= item < 2 ** 63:
            beyond = item
    if beyond is not None and not floats:
        raise ValueError(f"Overflow when unpacking long long: {beyond} is outside int64 (as PyTorch)")
    return floats


def check_inference_write(tensor, op):
    """Refuse to change an inference tensor in place outside inference mode, as PyTorch."""
    if tensor._inference and not is_inference_mode_enabled():
        raise RuntimeError(f"{op}: Inplace update to inference tensor outside InferenceMode is not allowed (as "
                           "PyTorch). Make a clone() to get a normal tensor before doing inplace update")


def is_view_of_leaf(tensor):
    """Whether ``tensor`` is a view (or a view of a view ...), recorded in a graph, of a leaf that requires grad:
    PyTorch refuses to change it in place while a graph is recorded ("a view of a leaf Variable that requires grad")."""
    base = tensor
    while base._is_view and base.parents:  # a recorded view op has one input, what it views
        base = base.parents[0]
    return base is not tensor and base.is_leaf and base.requires_grad


def records_in_place(op, tensor, value=None):
    """Whether the graph records an in-place change of ``tensor`` (by ``value``, when given), as PyTorch: while a
    graph is recorded, either requires grad and ``tensor`` holds floats (an integer one takes no gradient); then see
    in_place_input and written_in_place. Refused: an inference tensor outside inference mode, a leaf that requires
    grad or a view of one, a view requiring grad through its base alone, as PyTorch; and a view of another tensor
    (x.view(...), x.permute(...)) whose change the graph would record, but a basic-index one (x[0], x[:, 1:]):
    PyTorch's rebases its base's graph, tinyrrn does it for these alone (written_in_place)."""
    check_inference_write(tensor, op)
    if not (records_graph() and (tensor.requires_grad or getattr(value, "requires_grad", False))
            and tensor.data.dtype.kind == "f"):
        return False
    if tensor._graphless_view:
        raise RuntimeError(f"{op}: a view that requires grad through its base alone (made in no_grad mode, or before "
                           "its base required grad) is being modified inplace with grad mode enabled; this is "
                           "forbidden, as in PyTorch: change it under no_grad(), or make the view again")
    if tensor.requires_grad and tensor.is_leaf:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation (as "
                           "PyTorch); change it under tinyrrn.no_grad()")
    if is_view_of_leaf(tensor):
        raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used in an in-place "
                           "operation (as PyTorch); change the leaf under tinyrrn.no_grad()")
    if tensor._is_view and tensor._written_into is None:
        raise NotImplementedError(f"{op}: an in-place change of a view (x.view(...), x.permute(...), ...) recorded "
                                  "in a graph is not supported by tinyrrn (PyTorch rebases the graph of the viewed "
                                  "tensor; tinyrrn does it for basic-index views, x[i]); change the tensor it views, "
                                  "or compute a new tensor")
    return True


def in_place_input(tensor):
    """The input of an in-place change of ``tensor`` that the graph records: a tensor standing for its data (the
    same memory and version counter) and graph node as they are now, with its register_hook() hooks, as PyTorch's
    old node (see written_in_place)."""
    old = object.__new__(Tensor)
    old.__dict__.update(tensor.__dict__)
    old._grad, old._retains_grad, old._node = None, False, None
    return old


def written_in_place(tensor, old, result):
    """``tensor`` changed in place as PyTorch records it: the values of ``result``, computed out of place from
    ``old`` (in_place_input(tensor)) and of its dtype and shape, written into its data (its version counts the
    change), and ``tensor`` made the output of result's node, keeping retain_grad() (hooks stay with ``old``). The
    ops that used ``tensor`` before keep its old node, ``old``, as their input (see _node_at). A basic-index view
    x[i] is changed as x[i] = result (recorded: x takes a new node, as PyTorch rebases it), and takes the node of
    x[i] made again. ``tensor``."""
    if tensor._is_view:
        base, items = tensor._written_into
        base[items] = result
        result = base[items]
    else:
        tensor.data[...] = result.data
        tensor.version += 1
    held = tensor._node() if tensor._node is not None else None
    if held is not None:  # a grad_fn asked for before stays the old node, as PyTorch's
        held.tensor = old
    old._node, old._superseded_at = tensor._node, tensor.version
    for name in ("parents", "parents_took_grad", "parent_versions", "backward_fn", "op", "_sequence_nr", "_saves",
                 "_requires_grad"):
        setattr(tensor, name, getattr(result, name))
    tensor.forward_version, tensor._previous, tensor._node, tensor._hooks = tensor.version, old, None, None
    Tensor._changed_in_graph = True
    return tensor


class RemovableHandle:
    """What Tensor.register_hook and Module.register_forward_hook (or _pre_hook) return, as PyTorch's: ``id``, and
    ``remove()`` (a second one does nothing), also on leaving a ``with`` block."""

    next_id = 0  # one count for every hook, as PyTorch

    def __init__(self, *registries):
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self._registries = [weakref.ref(registry) for registry in registries]  # the hook's and its flags'

    def remove(self):
        for ref in self._registries:
            registry = ref()
            if registry is not None:
                registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# PyTorch's name of the node of each op whose node is PyTorch's (the same inputs, whatever the arguments)
TORCH_NODES = {"add": "AddBackward0", "sub": "SubBackward0", "mul": "MulBackward0", "div": "DivBackward0",
               "neg": "NegBackward0", "exp": "ExpBackward0", "log": "LogBackward0", "relu": "ReluBackward0",
               "sigmoid": "SigmoidBackward0", "tanh": "TanhBackward0", "permute": "PermuteBackward0",
               "transpose": "TransposeBackward0", "t": "TBackward0", "view": "ViewBackward0", "clone": "CloneBackward0",
               "softmax": "SoftmaxBackward0", "log_softmax": "LogSoftmaxBackward0", "astype": "ToCopyBackward0",
               "to": "ToCopyBackward0", "concatenate": "CatBackward0", "max_pool2d": "MaxPool2DWithIndicesBackward0",
               "avg_pool2d": "AvgPool2DBackward0", "reciprocal": "ReciprocalBackward0",
               "norm": "LinalgVectorNormBackward0", "logsumexp": "LogsumexpBackward0", "rsqrt": "RsqrtBackward0",
               "log1p": "Log1PBackward0", "expm1": "Expm1Backward0", "sign": "SignBackward0", "floor": "FloorBackward0",
               "ceil": "CeilBackward0", "round": "RoundBackward0", "trunc": "TruncBackward0"}


class GradFn:
    """A computed tensor's ``grad_fn``: the node of the op that made it, as PyTorch's (the same object each time
    it is asked for, while one is held): ``next_functions``, per input, the input's node (an AccumulateGrad for a
    leaf that requires grad) or None, and ``name()``, PyTorch's name for the ops whose node is PyTorch's (a
    NotImplementedError for the others: tinyrrn's ``op``, e.g. "linear", records in one node what PyTorch
    records in others). PyTorch's hooks and saved tensors are not there."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor

    op = property(lambda self: self.tensor.op, doc="tinyrrn's name of the op")

    def name(self):
        if self.op not in TORCH_NODES:
            raise NotImplementedError(f"grad_fn.name(): tinyrrn's {self.op!r} node is not one of PyTorch's "
                                      "(PyTorch records the op in other nodes); its op is in grad_fn.op")
        return TORCH_NODES[self.op]

    @property
    def next_functions(self):
        tensor = self.tensor
        if tensor.backward_fn is _freed:
            raise RuntimeError(f"grad_fn.next_functions of the output of {self.op!r}: an earlier backward() freed "
                               "its graph (tinyrrn keeps no edges after that); use backward(retain_graph=True)")
        for parent, version in zip(tensor.parents, tensor.parent_versions):
            if version < parent._detached_at:
                raise _detached_input(tensor, parent)
        _edges(tensor)  # (the inputs as they were when it used them)
        return tuple((parent.grad_fn if parent.backward_fn is not None else
                      AccumulateGrad.of(parent) if not parent._graphless_view else None, 0) if took_grad else (None, 0)
                     for parent, took_grad in zip(tensor.parents, tensor.parents_took_grad))

    def __repr__(self):
        return f"<GradFn of {self.op!r}>"


def _held_node(tensor, make):
    """``tensor``'s graph node: the one still held somewhere (a weak reference), else ``make(tensor)``, remembered."""
    node = tensor._node() if tensor._node is not None else None
    if node is None:
        node = make(tensor)
        tensor._node = weakref.ref(node)
    return node


class AccumulateGrad:
    """The node of a leaf that requires grad in ``next_functions``, as PyTorch's: ``variable`` is the leaf."""

    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    @staticmethod
    def of(leaf):
        """The leaf's node: the same object while one is held, as PyTorch's."""
        return _held_node(leaf, AccumulateGrad)

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad of a leaf of shape {tuple(self.variable.shape)}>"


# what no copy of a tensor keeps, as PyTorch's: its hooks and what made it a view or an inference tensor (__deepcopy__);
# pickle and copy.copy also leave its grad and graph, at these values (__getstate__)
_UNCOPIED = frozenset(("_node", "_saves", "_hooks", "_post_accumulate_hooks", "_is_view", "_view_base", "_inference",
                       "_retains_grad", "_detached_at", "parent_versions", "forward_version", "_previous",
                       "_superseded_at", "_written_into"))
_GRAPH = {"_grad": None, "parents": (), "parents_took_grad": (), "backward_fn": None, "op": None}


class _Data:
    """``Tensor.data``, the array. Read, it is the tensor's own attribute (this descriptor has no ``__get__``: no call
    on the hot path). Assigned, ``x.data = y`` is checked and followed as PyTorch's: a Tensor's array (and its kind,
    inference or not) or an array, shared; a list or None is refused, and integers for a tensor that requires grad.
    Views and detached copies made before keep the old data (x takes a version counter of its own), and the change
    is counted at the version _assigned_at: a node that saved x's output keeps its old values, as PyTorch's; one that
    saved x as an input refuses backward (PyTorch's computes with the new data, tinyrrn's holds the old)."""

    def __set__(self, tensor, value):
        inference = isinstance(value, Tensor) and value._inference
        value = value.data if isinstance(value, Tensor) else _as_array(value)
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise TypeError(f"Variable data has to be a tensor (or an array), but got {type(value).__name__} "
                            "(as PyTorch)")
        if value.dtype.kind not in "biuf" or value.dtype.itemsize > 8:
            raise TypeError(f"a tensor holds bools, integers or floats, not {value.dtype} (as PyTorch)")
        if value.dtype.kind != "f" and tensor.requires_grad:
            raise RuntimeError(f"data set to a tensor that requires gradients must be floating point, got "
                               f"{value.dtype} (as PyTorch)")
        tensor.__dict__["data"] = value
        tensor._version = [tensor.version + 1]
        tensor._assigned_at, tensor._inference = tensor.version, inference


class Tensor:
    """An n-dimensional array with an optional gradient.

    ``data`` is the array, ``grad`` the accumulated gradient of a leaf after
    ``backward()``. Python data takes the dtype ``torch.tensor`` infers (Python floats
    float32, ints int64, bools bool, NumPy numbers their own, a list the promotion of its
    items': see functional.dtypes.array_of), on the default device; arrays (NumPy scalars
    too) keep their dtype and device.
    """

    __array_priority__ = 100  # make `ndarray + Tensor` call Tensor.__radd__
    data = _Data()
    __hash__ = object.__hash__  # `==` is element-wise (tinyrrn.operators); tensors stay usable as dict keys

    def __init__(self, data, requires_grad=False, device=None):
        if not isinstance(requires_grad, bool):  # as PyTorch: 1, None or 'yes' is not read as a truth value
            raise TypeError(f"Tensor: argument 'requires_grad' must be bool, not {type(requires_grad).__name__}")
        source = data if isinstance(data, Tensor) else None  # Tensor(t): t's data, without its graph
        if source is not None:
            data = data.data
        if isinstance(data, numpy.generic):  # a NumPy scalar (a full reduction's result): a 0-d array,
            data = numpy.asarray(data)       # which in-place updates can write into
        if hasattr(data, "shape") and hasattr(data, "dtype"):
            if device is not None:
                data = backend.to_device(data, device)
        else:
            from .functional.dtypes import array_of  # here: this module imports no op module at its top
            data = array_of(data, device)
        if data.dtype.kind not in "biuf" or data.dtype.itemsize > 8:
            raise TypeError(f"a tensor holds bools, integers or floats, not {data.dtype} (as PyTorch)"
                            + (" (a list of tensors: stack them with tinyrrn.functional.stack)"
                               if data.dtype.kind == "O" else ""))
        if requires_grad and data.dtype.kind != "f":
            raise DtypeError(f"only floating-point tensors can require gradients, got {data.dtype}")
        self.__dict__["data"] = data  # (checked above; an assignment is checked by _Data)
        self._grad = None
        self._requires_grad = requires_grad
        self.parents = ()
        self.parents_took_grad = ()  # per parent, whether it required grad at the forward pass
        self.backward_fn = None
        self.op = None
        self._version = [0]  # in-place changes of data (x += y, an optimiser's step, load_state_dict), shared
        # with the views of this data (detach(), Tensor(t), basic indexing, reshape, permute): see ``version``
        if source is not None and data is source.data:  # the same memory: a change through either is seen by both
            self._version = source._version
            if source._inference:
                self._inference = True
        elif _state.inference:  # is_inference_mode_enabled(), on the path of every op
            self._inference = Tensor._inference_made = True

    @property
    def requires_grad(self):
        """Whether gradients flow to this tensor; settable on a leaf, as PyTorch (a computed tensor's
        follows its inputs: detach() it instead), and only on floating-point data. A view that recorded no graph
        also reports its base's (see _graphless_view), as PyTorch's."""
        return self._requires_grad or self._view_base is not None and self._view_base.requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if not isinstance(value, bool):
            raise RuntimeError(f"requires_grad must be a bool (as PyTorch), got {type(value).__name__} {value!r}")
        if self.backward_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; to use a computed "
                               "tensor without its graph, use its detach()")
        if value and self.data.dtype.kind != "f":
            raise DtypeError(f"only floating-point tensors can require gradients, got {self.data.dtype}")
        if value and self._inference and not is_inference_mode_enabled():
            raise RuntimeError("Setting requires_grad=True on inference tensor outside InferenceMode is not allowed "
                               "(as PyTorch)")
        if not self._graphless_view:  # a view requiring grad through its base keeps its base's flag, as PyTorch's
            self._requires_grad = value

    # -- array-like facts -------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self.backward_fn is None)
    _node = None  # a weak reference to this tensor's GradFn (or AccumulateGrad), the same while held

    @property
    def grad_fn(self):
        """None for a leaf, as PyTorch; for a computed tensor, the node of the op that made it (a GradFn)."""
        if self.backward_fn is None:
            return None
        return _held_node(self, GradFn)

    def __len__(self):
        """The length of the first dimension; a 0-d tensor has none (PyTorch's TypeError)."""
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        """The sub-tensors along the first dimension, as PyTorch; a 0-d tensor has none to give."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __contains__(self, element):
        """Whether any value equals ``element`` (a number or a tensor), as PyTorch's ``in``: ``(x == element).any()``,
        compared in PyTorch's promoted dtype (300 is in a uint8 tensor holding 44, as there)."""
        if not isinstance(element, (Tensor, numbers.Number, numpy.generic)):
            raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)} "
                               "(as PyTorch)")
        return bool((self == element).data.any())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.data.size} values is ambiguous")
        return bool(self.item())

    def __repr__(self):
        """Shape, dtype and device; as PyTorch's, a computed tensor's grad_fn (PyTorch's name of its node, else
        tinyrrn's op), or requires_grad=True for a leaf that requires grad."""
        grad = (f", grad_fn=<{TORCH_NODES.get(self.op, self.op)}>" if self.backward_fn is not None else
                ", requires_grad=True" if self.requires_grad else "")
        return f"Tensor(shape={tuple(self.shape)}, dtype={self.dtype}, device={self.device}{grad})"

    def __format__(self, spec):
        """format(x, spec), as PyTorch's: a 0-d tensor's value formatted (f'{loss:.3f}'); any other tensor as an object
        (str(x) for an empty spec, else Python's TypeError)."""
        if self.data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def numpy(self, *, force=False):
        """The data as a NumPy array on the host. Refused for a tensor that requires grad, as PyTorch
        refuses it (the array would leave the graph unseen): call ``.detach().numpy()``, or, as PyTorch,
        ``.numpy(force=True)``."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        """numpy.asarray(x) and numpy.array(x) (a copy): x.numpy(), in ``dtype`` if given, as PyTorch's; a GPU
        tensor's is refused, as PyTorch's and CuPy's (an implicit copy to the host, which waits for the device)."""
        if backend.xp_of(self.data) is not numpy:
            raise TypeError("can't convert gpu device type tensor to numpy implicitly (as PyTorch and CuPy); use "
                            "x.cpu() or x.numpy() to copy the tensor to host memory first")
        array = self.numpy()
        return array.astype(dtype or array.dtype, copy=bool(copy))

    def __array_wrap__(self, array, context=None, return_scalar=False):
        """A NumPy ufunc of tensors (numpy.sin(x), numpy.add(x, 1)) gives a tensor, a new leaf, as PyTorch's: a bool
        result as uint8, as there."""
        return Tensor(array.astype("uint8") if array.dtype == bool else array)

    def __dlpack__(self, *args, **kwargs):
        """The data through DLPack (numpy.from_dlpack(x), torch.from_dlpack(x): shared memory), as PyTorch's; refused
        for a tensor that requires grad, as there (the data would leave the graph unseen)."""
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach() (as PyTorch)")
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def item(self):
        """The value of a one-element tensor as a Python number (else PyTorch's RuntimeError, and the
        ValueError of its float() and int())."""
        if self.data.size != 1:
            raise ArgumentError(f"a Tensor with {self.data.size} elements cannot be converted to a Python number "
                               f"(shape {tuple(self.shape)})")
        return backend.to_numpy(self.data).item()

    def __float__(self):
        return float(self.item())

    def __index__(self):
        """A one-element integer or bool tensor as an index (a slice bound), as PyTorch."""
        if self.data.dtype.kind not in "biu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index, got "
                            f"{self.data.dtype} of shape {tuple(self.shape)}")
        return int(self.item())

    def __int__(self):
        return int(self.item())

    @property
    def grad(self):
        """The accumulated gradient, a Tensor as PyTorch's (the same object while backward() adds into it), or
        None. A computed tensor's, None unless retain_grad() or an assignment set it, comes with PyTorch's
        warning."""
        if self._grad is None and self.backward_fn is not None and not self._retains_grad:
            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                          "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
                          "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
                          "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
                          "instead.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        """A Tensor (kept itself: backward() adds into it) or None, as PyTorch; anything else is refused (an array:
        wrap it in a Tensor), and so is a gradient of another shape, dtype or device (an optimiser would broadcast
        it), or the tensor itself (backward() would add into its values)."""
        if value is self:
            raise RuntimeError("can't assign Variable as its own grad (as PyTorch)")
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                            f"{type(value).__name__} (as PyTorch; wrap an array in a Tensor)")
        if value is not None and (value.shape != self.shape or value.dtype != self.dtype):
            raise RuntimeError(f"assigned grad {value.dtype}{list(value.shape)} does not match the tensor "
                               f"{self.dtype}{list(self.shape)}: a gradient has its tensor's shape and dtype")
        if value is not None and value.device != self.device:
            raise RuntimeError(f"assigned grad has data located on a different device ({value.device}) "
                               f"than the tensor ({self.device}), as PyTorch refuses it")
        self._grad = value

    @property
    def version(self):
        """How many times this data was changed in place, through this tensor or a view of it: a graph
        that saved it refuses backward after a change (PyTorch's version counter)."""
        return self._version[0]

    @version.setter
    def version(self, value):
        self._version[0] = value

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad in place and return self, as PyTorch: on a leaf (see requires_grad); a computed
        tensor, which requires grad already, takes only True."""
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad_(): argument 'requires_grad' (position 1) must be bool, not "
                            f"{type(requires_grad).__name__} (as PyTorch)")
        if not (requires_grad and self.backward_fn is not None):
            self.requires_grad = requires_grad
        return self

    def detach(self):
        """The same data, cut from the graph (a change through either is counted in both)."""
        return Tensor(self)

    def detach_(self):
        """Cut this tensor from the graph in place (a leaf that requires no grad, as detach() makes), as
        PyTorch; a view of another tensor (x[0], x.reshape(...), with or without a graph) is refused, as there. A graph
        that used a computed tensor refuses a backward (counted as an in-place change), as PyTorch's refuses its saved
        tensor; so does one that used it unsaved (y + 1), whose gradient PyTorch sends on through y's node: tinyrrn's
        tensor is its node, and detach_() cuts it (detach_() after the backward() is PyTorch's). A leaf's graph runs
        on without its gradient (its version stays), as PyTorch's."""
        if self._is_view:
            raise RuntimeError("Can't detach views in-place. Use detach() instead (as PyTorch)")
        if self.backward_fn is not None:
            self.version += 1
            self._detached_at = self.version  # the ops that used it before saw a lower version
        self.parents, self.parents_took_grad, self.backward_fn, self.op, self._node = (), (), None, None, None
        self._requires_grad = False
        return self

    _retains_grad = False  # set by retain_grad()
    _sequence_nr = 0  # the order in which ops made their nodes (make_result), as PyTorch's: see _engine_order
    _saves = None  # per parent, whether its node saved it (make_result's ``saves``), for the ops that say it
    _detached_at = 0  # the version detach_() left a computed tensor at: the ops that used it before lost their input
    _assigned_at = 0  # the version an assignment to ``data`` left it at (see _Data)
    _is_view = False  # made by a view op (x[0], reshape, permute) in another tensor's memory
    _written_into = None  # (a basic-index view x[i]) (x, i): where an in-place change of it writes (written_in_place)
    parent_versions = ()  # (make_result's) per parent, its version when this op used it
    _previous = None  # the node this data had before an in-place change that the graph recorded (written_in_place)
    _superseded_at = float("inf")  # (on such an old node) the version its data took at that change
    _changed_in_graph = False  # (on the class) whether the graph recorded any in-place change: backward resolves _edges
    _hooks = None  # register_hook()'s: id -> hook

    _post_accumulate_hooks = None  # register_post_accumulate_grad_hook()'s: id -> hook

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after backward() accumulated this leaf's gradient in ``grad``, as PyTorch (the hook
        returns None). A RemovableHandle."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.backward_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = OrderedDict()
        handle = RemovableHandle(self._post_accumulate_hooks)
        self._post_accumulate_hooks[handle.id] = hook
        return handle

    def register_hook(self, hook):
        """Call ``hook(grad)`` with the gradient that backward() computes for this tensor, as PyTorch: a Tensor it
        returns (of the same shape and dtype) replaces it, before a leaf's accumulates it in ``grad`` (and before
        retain_grad() keeps it), or before it flows on. A RemovableHandle."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._hooks is None:
            self._hooks = OrderedDict()
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    _inference = False  # made in inference_mode() (or a view of such a tensor)
    _inference_made = False  # (on the class) whether any inference tensor was made: make_result looks at them then

    def is_inference(self):
        """Whether this is an inference tensor: made in an inference_mode() block, as PyTorch's."""
        return self._inference
    _view_base = None  # the tensor that a view which recorded no graph was made of (the first of a chain of views)

    @property
    def _graphless_view(self):
        """Whether this is a view that requires grad through its base alone: made of a tensor that requires grad under
        no_grad, or before its base was set to require grad. As PyTorch's, it reports requires_grad while its base
        does, but no gradient reaches it or through it, an in-place change of it while grad is enabled is refused,
        and so is its own backward()."""
        return not self._requires_grad and self._view_base is not None and self._view_base.requires_grad

    @property
    def retains_grad(self):
        """Whether backward() keeps this computed tensor's gradient in ``grad`` (retain_grad())."""
        return self._retains_grad

    def retain_grad(self):
        """Keep the gradient that backward() sends to this computed tensor in ``grad`` (summed over backward
        calls, as a leaf's), as PyTorch; nothing to do for a leaf, which keeps its own."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.backward_fn is not None:
            self._retains_grad = True

    _copies_grad = True  # whether deepcopy copies the gradient (a Parameter's does not, as PyTorch's)

    def __deepcopy__(self, memo):
        """A copy of a leaf (data, grad (not a Parameter's, as PyTorch) and flags; shared memory stays shared within
        one deepcopy, as a model's tied weights, or a view and its base: _deepcopied); a computed tensor is refused,
        as PyTorch: copying its graph would send a backward's gradients to copies of the leaves."""
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               f"protocol (as PyTorch); this one is the output of {self.op!r}: deepcopy its "
                               "detach() to copy its values")
        copied = memo[id(self)] = object.__new__(type(self))
        copied.__dict__.update({k: None if k == "_grad" and not self._copies_grad else _deepcopied(v, memo)
                                for k, v in self.__dict__.items() if k not in _UNCOPIED})
        copied._requires_grad = self.requires_grad  # (a view's may be its base's)
        return copied

    def __getstate__(self):
        """What pickle and copy.copy (which shares the data) keep, as PyTorch's: data, requires_grad and the other
        attributes; not the grad, the hooks (with PyTorch's warning) or the graph: a computed tensor comes back a
        leaf."""
        for hook in (self._hooks or {}).values():
            warnings.warn(f"backward hook {hook!r} on tensor will not be serialized (as PyTorch)", UserWarning,
                          stacklevel=2)
        state = {k: v for k, v in self.__dict__.items() if k not in _UNCOPIED and k not in _GRAPH}
        state.update(_GRAPH, _requires_grad=self.requires_grad)  # (a view's may be its base's)
        return state

    # -- backward ---------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None, *, grad=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` (PyTorch's name; ``grad`` is tinyrrn's) is the gradient flowing into this tensor; it may
        be left out only for a one-element tensor (a loss). The graph is freed afterwards unless
        ``retain_graph`` is true. ``inputs`` (a tensor or a sequence of them), as PyTorch's: the gradient reaches
        these alone (a computed one keeps it in ``grad``, as retain_grad()), and only the part of the graph that
        leads to them runs. PyTorch's ``create_graph`` is taken at its default only.
        """
        if create_graph:
            raise NotImplementedError("backward(): create_graph=True is not supported by tinyrrn (no graph of the "
                                      "backward pass; only PyTorch's default, create_graph=False)")
        targets = None if inputs is None else _backward_inputs(inputs)
        if grad is not None and gradient is not None:
            raise TypeError("backward(): got both gradient= and grad= (the same argument)")
        grad = gradient if grad is None else grad
        if not self.requires_grad or self._graphless_view:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn (as PyTorch): "
                               "backward() on a tensor that does not require grad (no input required grad, it was "
                               "made under no_grad(), or it is an integer result such as argmax's)")
        xp = backend.xp_of(self.data)
        handed_out = {}  # owner id -> array: memory a leaf (or the caller) already holds
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (as PyTorch): backward() "
                                   f"without a gradient needs a one-element tensor, got shape {tuple(self.shape)}; "
                                   "pass gradient= explicitly")
            grad = xp.ones_like(self.data)
        else:
            if not (isinstance(grad, Tensor) or hasattr(grad, "dtype") and hasattr(grad, "shape")):
                raise TypeError(f"backward(): the gradient must be a Tensor (or an array) or None, as PyTorch's, "
                                f"got {type(grad).__name__}")
            if isinstance(grad, Tensor) and grad.device != self.device:
                raise RuntimeError(f"backward(): invalid gradient - expected device {self.device} but got "
                                   f"{grad.device} (as PyTorch)")
            grad = (grad.data if isinstance(grad, Tensor) else xp.asarray(grad)).astype(self.dtype, copy=False)
            if grad.shape != self.shape:
                raise ArgumentError(f"Mismatch in shape (as PyTorch): backward()'s gradient has shape "
                                    f"{tuple(grad.shape)}, the tensor {tuple(self.shape)}")
            _hand_out(grad, handed_out)
        order = _topological_order(self)
        for node in order:  # (before inputs= picks its part: a freed node has lost the edges that would say it)
            if node.backward_fn is _freed:
                raise RuntimeError(f"backward() reached the output of {node.op!r} (shape {tuple(node.shape)}), "
                                   "whose graph an earlier backward() freed: trying to backward through the "
                                   "graph a second time. Specify retain_graph=True in the first backward() "
                                   "to keep the graph, or run the forward pass again.")
        if targets is not None:
            order = _leading_to(order, targets)
        order = _engine_order(order)
        # leaves with hooks switched off (requires_grad_(False), detach_()) since the forward: PyTorch's graph holds
        # their nodes, which call their hooks and accumulate nothing (see _input_gradients)
        switched_off = {id(n) for n in order if n.backward_fn is None and not n.requires_grad
                        and (n._hooks or n._post_accumulate_hooks)}
        with numpy.errstate(over="ignore", invalid="ignore"):  # sums reach inf or NaN silently, as PyTorch's
            _walk(order, {id(self): grad}, handed_out, retain_graph, switched_off,
                  None if targets is None else {id(node) for node in order})


def _deepcopied(value, memo):
    """copy.deepcopy(value, memo), but an array that views another's memory is the same view of that memory's one
    copy in this deepcopy, as PyTorch's storages (x and x[1:] deepcopied together still share their memory)."""
    owner = _owner(value) if hasattr(value, "strides") else value
    if owner is value or getattr(owner, "dtype", None) != value.dtype or not (
            owner.flags.c_contiguous or owner.flags.f_contiguous):
        return copy.deepcopy(value, memo)
    start = (_address(value) - _address(owner)) // value.itemsize
    memory = copy.deepcopy(owner, memo).reshape(-1, order="A")  # (in its memory's order)
    return backend.xp_of(value).lib.stride_tricks.as_strided(memory[start:], value.shape, value.strides)


def _address(array):
    """Where the first element of an array (CuPy's or NumPy's) lies in memory."""
    return array.data.ptr if hasattr(array.data, "ptr") else array.__array_interface__["data"][0]


def _walk(order, grads, handed_out, retain_graph, switched_off, needed=None):
    """backward()'s pass over the nodes of ``order`` (children before parents: _engine_order), from the gradients
    ``grads`` (tensor id -> array) of the first: each node's checks and hooks, then its gradients sent to its
    parents, or accumulated in a leaf's ``grad`` (not in one ``switched_off`` since the forward, whose hooks run
    alone, as PyTorch's); the saved buffers freed unless ``retain_graph``. With ``needed`` (the ids of ``order``,
    for backward(inputs=...)), a node none of whose parents is needed computes nothing, as PyTorch's."""
    for node in order:
        g = grads.pop(id(node), None)
        if g is None or node._graphless_view:  # (no gradient reaches a view requiring grad through its base)
            continue
        if node._hooks:
            g = _hooked(node, g, handed_out)
        if node.backward_fn is None:  # a leaf: keep its own gradient, added to in place (as PyTorch)
            if node._requires_grad:  # (not if switched off since the forward: an op may have sent it a gradient)
                _accumulate(node, g, handed_out)
            if node._post_accumulate_hooks:
                _after_accumulation(node)
            continue
        if node._retains_grad:  # retain_grad(): the sum in a new Tensor, as PyTorch's (not in place)
            node._grad = Tensor(_leaf_gradient(g, handed_out) if node._grad is None else node._grad.data + g)
        if needed is not None and not any(id(parent) in needed for parent in node.parents):
            _free(node, retain_graph)  # (PyTorch's frees it too)
            continue
        saves_nothing = _saves_nothing(node)  # (then a change of its output or inputs is no matter, as PyTorch)
        if (node.version not in (node.forward_version, node._assigned_at) and not saves_nothing
                and _saves_output(node)):  # (after x.data = y its node holds the old array, as PyTorch's)
            raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                               f"inplace operation: the output of {node.op!r} (shape {tuple(node.shape)}) is at "
                               f"version {node.version}; expected version {node.forward_version} instead (as "
                               "PyTorch). Run the forward pass again after the change.")
        changed = None if saves_nothing or node.op in SAVE_NO_INPUT else _changed_saved_input(node)
        if changed is not None and changed.version == changed._assigned_at:
            raise NotImplementedError(f"the input of shape {tuple(changed.shape)} of {node.op!r} was saved for the "
                                      "backward, and its data was assigned (x.data = ...) since the forward pass: "
                                      "PyTorch's backward computes with the new data, tinyrrn's node holds the old "
                                      "(not supported). Run the forward pass again after the assignment.")
        if changed is not None and changed.version == changed._detached_at:
            raise RuntimeError(f"Trying to use a saved tensor that has been detached in-place, i.e. with "
                               f".detach_() (as PyTorch): the input of shape {tuple(changed.shape)} of "
                               f"{node.op!r}. This is not supported, please use out-of-place `.detach()` instead")
        if changed is not None:
            expected = next(v for p, v in zip(node.parents, node.parent_versions) if p is changed)
            raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                               f"inplace operation: the input of shape {tuple(changed.shape)} of {node.op!r} is at "
                               f"version {changed.version}; expected version {expected} instead (as PyTorch: changed "
                               "after the forward pass, by an optimiser's step?). Run the forward pass again after "
                               "the change.")
        for parent, took_grad, version, pg in zip(node.parents, node.parents_took_grad, node.parent_versions,
                                                   _input_gradients(node, g, switched_off)):
            if version < parent._detached_at:
                raise _detached_input(node, parent)
            if pg is None or not took_grad:  # a leaf switched on later: not in the graph
                continue
            if pg.shape != parent.shape:
                raise RuntimeError(f"{node.op}: backward returned a gradient of shape {tuple(pg.shape)} "
                                   f"for an input of shape {tuple(parent.shape)}")
            if pg.dtype != parent.dtype:
                pg = pg.astype(parent.dtype)
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
        _free(node, retain_graph)


def _free(node, retain_graph):
    """Free the saved buffers of a node that backward() passed, unless ``retain_graph`` (or it saved none)."""
    if not (retain_graph or _saves_nothing(node)):
        node.parents, node.parents_took_grad, node.backward_fn = (), (), _freed


def _backward_inputs(inputs):
    """backward(inputs=...)'s tensors by id, checked as PyTorch's (none, or one that requires no grad, is refused);
    the computed ones retain their gradient from now on (retain_grad()), as there."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty (as PyTorch)")
    for t in inputs:
        if not isinstance(t, Tensor):
            raise RuntimeError(f"backward(): all inputs have to be Tensors, but got {type(t).__name__} (as PyTorch)")
        if not t.requires_grad:
            raise RuntimeError("backward(inputs=...): can't retain_grad on Tensor that has requires_grad=False "
                               "(as PyTorch: each input must require grad)")
    for t in inputs:
        t.retain_grad()
    return {id(t) for t in inputs}


def _leading_to(order, targets):
    """The nodes of ``order`` (parents first) that are among ``targets`` (ids) or lead to one: what backward(inputs=
    ...) runs."""
    needed = set()
    for node in order:
        if id(node) in targets or any(id(p) in needed for p, took in zip(node.parents, node.parents_took_grad) if took):
            needed.add(id(node))
    return [node for node in order if id(node) in needed]


def _input_gradients(node, g, switched_off):
    """``node.backward_fn(g)``, the gradients of its inputs. An op computes none for an input that requires no grad:
    the leaves among them switched off since the forward (ids in ``switched_off``) are switched on meanwhile, so that
    their hooks get their gradients, as PyTorch's (and only meanwhile: the hooks see them off)."""
    revived = [p for p in node.parents if id(p) in switched_off] if switched_off else None
    if not revived:
        return node.backward_fn(g)
    for leaf in revived:
        leaf._requires_grad = True
    try:
        return node.backward_fn(g)
    finally:
        for leaf in revived:
            leaf._requires_grad = False


def _detached_input(node, parent):
    """The error of a backward() (or next_functions) reaching an input of ``node`` that was detached in place
    (detach_()) since the forward pass: PyTorch's graph still holds its node, tinyrrn's tensor was that node."""
    return NotImplementedError(f"backward() reached the input of shape {tuple(parent.shape)} of {node.op!r}, which "
                               "was detached in place (detach_()) after the forward pass: tinyrrn loses its graph then "
                               "(PyTorch keeps it). Call detach_() after the backward(), or use detach()")


def _changed_saved_input(node):
    """The input of ``node`` that PyTorch's node saved for the backward (_saved_inputs: x * 2 saves not x) and
    that was changed in place since the forward pass, or None."""
    if all(p.version == v for p, v in zip(node.parents, node.parent_versions)):
        return None
    return next((p for p, v, saved in zip(node.parents, node.parent_versions,
                                          _saved_inputs(node.op, node.parents_took_grad, node._saves))
                 if saved and p.version != v), None)


def _hooked(tensor, g, handed_out):
    """``g`` through the tensor's register_hook() hooks, in order (grad disabled), with PyTorch's checks. The
    arrays the hooks see or return are theirs to keep: handed out, so that no leaf's ``.grad`` is one of them."""
    with no_grad():
        for hook in tuple(tensor._hooks.values()):
            _hand_out(g, handed_out)
            result = hook(Tensor(g))
            if result is None:
                continue
            name = getattr(hook, "__name__", type(hook).__name__)
            if not isinstance(result, Tensor):
                raise TypeError(f"expected Variable, but hook returned {type(result).__name__!r} (as PyTorch: a Tensor "
                                "or None)")
            if result.shape != g.shape:
                raise RuntimeError(f"hook {name!r} has changed the size of value")
            if result.dtype != g.dtype or result.device != backend.device_of(g):
                raise RuntimeError(f"hook {name!r} has changed the type of value (was {g.dtype} on "
                                   f"{backend.device_of(g)} got {result.dtype} on {result.device})")
            g = result.data
    _hand_out(g, handed_out)
    return g


def _after_accumulation(leaf):
    """The leaf's register_post_accumulate_grad_hook() hooks, in order (grad disabled), as PyTorch's."""
    with no_grad():
        for hook in tuple(leaf._post_accumulate_hooks.values()):
            result = hook(leaf)
            if result is leaf:  # taken, as PyTorch takes it
                continue
            if isinstance(result, Tensor):
                raise RuntimeError("Tensor post accumulate grad hooks should return None.")
            if result is not None:
                raise TypeError(f"expected Variable, but hook returned {type(result).__name__!r} (as PyTorch: "
                                "a post accumulate grad hook returns None)")


# ops whose PyTorch node saves no tensor for its backward, only sizes: a second backward() runs through them
SAVE_NOTHING = frozenset(("add", "sub", "rsub", "neg", "sum", "mean", "reshape", "view", "permute", "transpose", "t",
                          "clone", "astype", "to", "concatenate", "stack", "pad", "floor_divide", "squeeze",
                          "unsqueeze", "expand", "repeat", "flip", "cumsum", "frac", "triu", "tril", "roll", "diagonal",
                          "diag"))


def _saves_nothing(node):
    """Whether PyTorch's node of ``node``'s op saved no tensor, so that backward() keeps it (a later one runs
    through it, as PyTorch's): the ops of SAVE_NOTHING, and a basic index (a view; an advanced one saves its
    indices)."""
    return node.op in SAVE_NOTHING or node.op == "getitem" and node._is_view


def _saves_output(node):
    """Whether PyTorch's node of ``node``'s op saved its output (exp, sigmoid, relu, ...): not those of SAVE_NO_OUTPUT,
    nor x ** number's (PowBackward0 saves x; pow records x alone then)."""
    return not (node.op in SAVE_NO_OUTPUT or node.op == "pow" and len(node.parents) == 1)


def _freed(g):
    """The backward_fn of a node whose graph was freed (backward() refuses to reach it)."""
    raise RuntimeError("trying to backward through the graph a second time (its buffers were freed)")


def _accumulate(leaf, g, handed_out):
    """Add ``g`` to the leaf's ``grad``: its first gradient becomes a Tensor, later ones are added into that Tensor's
    array in place (a new version of it, as PyTorch's), or into a new array of it where its array is read-only; one
    whose elements share memory (an expand()) is refused, as PyTorch (NumPy would add every gradient into the shared
    value in turn, CuPy's threads race there)."""
    grad = leaf._grad
    if grad is None:
        leaf._grad = Tensor(_leaf_gradient(g, handed_out))
        return
    if 0 in grad.data.strides:
        from .functional._util import refuse_internal_overlap  # (here: this module imports no op module at its top)
        refuse_internal_overlap("backward()", grad.data)
    try:
        if _writeable(grad.data):
            summed = grad.data  # (``grad.data += g`` would assign the sum to data, counted as a new array)
            summed += g
            grad.version += 1
        else:  # (a Tensor of a read-only NumPy array assigned to .grad)
            grad.data = grad.data + g
    except ValueError:  # (NumPy's and CuPy's broadcast error: PyTorch's is a RuntimeError)
        raise ArgumentError(f"backward(): the gradient of shape {tuple(g.shape)} does not broadcast into the leaf's "
                            f".grad of shape {tuple(grad.shape)} (was the leaf's data given another shape?); set its "
                            ".grad to None first") from None


def _writeable(array):
    """Whether an array can be changed in place (NumPy's read-only arrays, which a Tensor assigned to .grad may
    hold, cannot)."""
    return getattr(getattr(array, "flags", None), "writeable", True)


def _owner(array):
    """The array that owns ``array``'s memory (itself, or the base its view chain leads to)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def _hand_out(array, handed_out):
    owner = _owner(array)
    handed_out[id(owner)] = owner  # kept alive, so that its id is not reused during this pass


def _as_array(g):
    """``g`` as an array: NumPy computes a 0-d array's gradient as a NumPy scalar, which a ``.grad``'s array is never
    (a later backward() and zero_grad(set_to_none=False) change it in place, as PyTorch's)."""
    return numpy.asarray(g) if isinstance(g, numpy.generic) else g


def _leaf_gradient(g, handed_out):
    """``g`` as a leaf's new gradient: a copy when its memory is already held, or is a broadcast view."""
    g = _as_array(g)
    if 0 in g.strides or id(_owner(g)) in handed_out:
        g = g.copy(order="K")  # keeps a channels-last layout
    _hand_out(g, handed_out)
    return g


class _Ready(int):
    """A node in backward()'s queue: an int that orders it as PyTorch's engine (heapq pops the least first)."""


_LEAF = -2 ** 64  # a leaf's place in the queue, before every op's node (PyTorch's AccumulateGrad: UINT64_MAX)
_sequence = itertools.count(1)  # the sequence number of each op's node, as PyTorch's sequence_nr

# per op whose PyTorch node lists its inputs in another order, the places of tinyrrn's in that order (linear's
# addmm takes the bias first)
TORCH_EDGES = {"linear": (2, 0, 1)}


def _engine_order(order):
    """The nodes of ``order`` (parents before children, the root last) in the order PyTorch's engine runs them,
    which hooks see: from a queue of the nodes whose consumers have all run (PyTorch's ReadyQueue, a binary heap,
    as heapq's), the node made last first, a leaf before any. A node's inputs enter the queue in the order of
    PyTorch's node (TORCH_EDGES), so that the leaves it makes ready together come out as there (for a cat of five
    leaves, the first, third, fifth, second and fourth)."""
    if not order:
        return order
    waiting = {id(node): 0 for node in order}  # per node, how many uses of it in the graph have not run yet
    for node in order:
        for parent, took_grad in zip(node.parents, node.parents_took_grad):
            if took_grad and id(parent) in waiting:
                waiting[id(parent)] += 1
    queue, ran = [_queued(order[-1])], []
    while queue:
        node = heapq.heappop(queue).node
        ran.append(node)
        for parent, took_grad in _torch_edges(node):
            if took_grad and id(parent) in waiting:
                waiting[id(parent)] -= 1
                if not waiting[id(parent)]:
                    heapq.heappush(queue, _queued(parent))
    return ran


def _torch_edges(node):
    """``node``'s inputs, with whether each took a gradient, in the order of PyTorch's node (TORCH_EDGES)."""
    edges = tuple(zip(node.parents, node.parents_took_grad))
    places = TORCH_EDGES.get(node.op)
    return edges if places is None or len(places) != len(edges) else [edges[i] for i in places]


def _queued(node):
    """``node`` as an entry of _engine_order's queue: a leaf first, then the node made last (the greatest sequence
    number) first."""
    entry = _Ready(_LEAF if node.backward_fn is None else -node._sequence_nr)
    entry.node = node
    return entry


def _topological_order(root):
    """Nodes reachable from ``root``, parents before children, without recursion."""
    if Tensor._changed_in_graph:
        _refuse_stale_view(root, root.version)
    order, visited = [], {id(root)}
    stack = [(root, _edges(root))]
    while stack:
        node, parents = stack[-1]
        for parent, took_grad in parents:
            if id(parent) not in visited and took_grad:  # (a leaf switched off since is reached, as PyTorch's)
                visited.add(id(parent))
                stack.append((parent, _edges(parent)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _edges(node):
    """``zip(node.parents, node.parents_took_grad)``; once the graph recorded an in-place change, each parent is first
    set to the node its data had when ``node`` used it (_node_at), and a view reached whose data such a change rewrote
    since it was made is refused (_refuse_stale_view)."""
    if Tensor._changed_in_graph and node.parents:
        node.parents = tuple(_node_at(p, v) for p, v in zip(node.parents, node.parent_versions))
        for parent, version in zip(node.parents, node.parent_versions):
            _refuse_stale_view(parent, version)
    return zip(node.parents, node.parents_took_grad)


def _node_at(tensor, version):
    """The node ``tensor``'s data had at ``version``: ``tensor``, or an old node of it that an in-place change recorded
    in the graph superseded after that version (written_in_place), as PyTorch's edges keep the node they were made
    with."""
    while tensor._previous is not None and version < tensor._previous._superseded_at:
        tensor = tensor._previous
    return tensor


def _refuse_stale_view(view, version):
    """Refuse a view used at ``version`` of its data, when an in-place change that the graph recorded rewrote that data
    after the view was made: PyTorch's regenerates the view's node from its base's new one (not supported by
    tinyrrn, whose view keeps its old node)."""
    base, made = view, None
    while base._is_view and base.parents:  # (the version of the last link: when the chain's first view was made)
        base, made = base.parents[0], base.parent_versions[0]
    if made is None and view._graphless_view:
        base, made = view._view_base, -1
    if made is not None and _node_at(base, made)._superseded_at <= version:
        raise NotImplementedError(f"backward() reached a view of shape {tuple(view.shape)} (x[i], x.view(...), ...) "
                                  "of a tensor that an in-place op recorded in the graph changed after the view was "
                                  "made: PyTorch regenerates the view's graph, tinyrrn does not (not supported). Make "
                                  "the view again after the in-place change")


def renamed(out, op):
    """``out`` with its node named ``op`` (when it has one): an op made of another (transpose of permute)."""
    if out.backward_fn is not None:
        out.op = op
    return out


# ops whose PyTorch node saves no input for its backward (at most its output, or sizes; add_relu's are add's and relu's)
SAVE_NO_INPUT = frozenset(("add", "sub", "neg", "sum", "mean", "reshape", "permute", "getitem", "concatenate", "clone",
                           "astype", "to", "relu", "sigmoid", "tanh", "exp", "softmax", "log_softmax", "dropout",
                           "reciprocal", "add_relu", "floor_divide", "sqrt", "where", "rsqrt", "expm1", "sign", "floor",
                           "ceil", "round", "trunc", "masked_fill", "setitem",
                           "cumsum", "tan", "exp2", "frac", "triu", "tril", "roll", "diagonal", "diag", "sort", "topk"))

# ops whose node, PyTorch's and tinyrrn's, saves no output for its backward (inputs, a mask, indices, statistics)
SAVE_NO_OUTPUT = frozenset(("mul", "div", "log", "matmul", "linear", "conv2d", "conv_transpose2d", "cross_entropy",
                            "nll_loss", "getitem", "dropout", "batch_norm", "avg_pool2d", "adaptive_avg_pool2d",
                            "max_pool2d", "abs", "clamp", "maximum", "minimum", "remainder", "where", "var", "log1p",
                            "sign", "floor", "ceil", "round", "trunc", "masked_fill", "setitem",
                            "gather", "sin", "cos", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                            "log2", "log10", "frac", "sinc", "logit", "nan_to_num", "atan2", "fmod", "fmin", "fmax",
                            "logaddexp", "xlogy", "lerp", "triu", "tril", "roll", "diagonal", "diag", "masked_select",
                            "einsum", "cross", "sort", "topk"))


def _inference_verdict(op, parents, saves):
    """How PyTorch records ``op`` on ``parents`` with inference tensors among them: "untracked" (no graph) on
    inference tensors alone, but for a conversion into a new tensor; "saved" (its error) when its node would save
    one for the backward (_saves_inference); else None, as usual."""
    if not any(p._inference for p in parents):
        return None
    if all(p._inference for p in parents) and op not in ("astype", "to"):
        return "untracked"
    return "saved" if _saves_inference(op, parents, saves) else None


def _saved_inputs(op, took_grad, saves=None):
    """Per input, whether PyTorch's node of ``op`` saves it for the backward, given which inputs take a gradient
    (``took_grad``): none for the ops of SAVE_NO_INPUT; mul and matmul each input for the other's gradient (x * 2
    saves not x), linear (addmm) its input and weight so, never its bias; a convolution its input and weight, not
    its bias; cross_entropy (log_softmax, then nll_loss) its target, not its logits, which log_softmax's output
    stands for; div the divisor for either gradient, the dividend for the divisor's; remainder both for the divisor's
    only; any other op counts as saving them all. ``saves``, given by an op whose optional inputs shift the others'
    places (batch norm's), says it."""
    if saves is not None:
        return saves
    if op in SAVE_NO_INPUT:
        return (False,) * len(took_grad)
    if op in ("mul", "matmul"):
        return took_grad[::-1]
    if op == "linear":
        return (took_grad[1], took_grad[0]) + (False,) * (len(took_grad) - 2)
    if op in ("conv2d", "conv_transpose2d"):
        return (True, True) + (False,) * (len(took_grad) - 2)
    if op == "cross_entropy":
        return False, took_grad[0]
    if op == "div":
        return took_grad[1], took_grad[0] or took_grad[1]
    if op == "remainder":
        return took_grad[1], took_grad[1]
    return (True,) * len(took_grad)


def _saves_inference(op, parents, saves):
    """Whether PyTorch's node of ``op`` would save an inference tensor among ``parents`` (its error)."""
    return any(p._inference and saved
               for p, saved in zip(parents, _saved_inputs(op, tuple(p.requires_grad for p in parents), saves)))


def make_result(data, parents, backward_fn, op, view_of=None, saves=None):
    """Wrap an op's output array; record the graph edge when a parent requires grad. ``view_of``: the
    tensor whose data ``data`` may view (when it does, not a copy, it shares that tensor's version counter).
    ``saves``: per parent, whether PyTorch's node saves it for the backward, for an op whose table entry
    (_saved_inputs) cannot say it."""
    out = Tensor(data)
    if view_of is not None and _owner(data) is _owner(view_of.data):  # not a copy (reshape may make one)
        out._version, out._inference, out._is_view = view_of._version, view_of._inference, True
    if records_graph() and any(p.requires_grad for p in parents):
        verdict = Tensor._inference_made and _inference_verdict(op, parents, saves)  # (once inference tensors exist)
        if verdict == "untracked":
            return out
        if verdict == "saved":
            raise RuntimeError(f"{op}: Inference tensors cannot be saved for backward (as PyTorch; tinyrrn refuses "
                               "them in every op but those known to save no input). Please do not use Tensors created "
                               "in inference mode in computation tracked by autograd; make a clone() to get a "
                               "normal tensor")
        out._requires_grad = True
        out.parents = tuple(parents)
        out.parents_took_grad = tuple(p.requires_grad for p in parents)
        out.parent_versions = tuple(p.version for p in parents)
        out.forward_version = out.version
        out.backward_fn = backward_fn
        out.op = op
        out._sequence_nr = next(_sequence)
        if saves is not None:
            out._saves = saves
    elif out._is_view and not view_of._inference:  # requires grad while its base does, as PyTorch's: see Tensor
        out._view_base = view_of if view_of._view_base is None else view_of._view_base
    return out


def zero_grads(params, set_to_none=True):
    """Each parameter's gradient set to None, or with ``set_to_none=False`` its Tensor zeroed in place (PyTorch's
    zero_grad, of optimisers and modules); a read-only array in it is replaced by zeros, as backward() replaces it."""
    for p in params:
        grad = p.grad
        if set_to_none:
            p.grad = None
        elif grad is not None and _writeable(grad.data):
            grad.data[...] = 0
            grad.version += 1
        elif grad is not None:
            grad.data = backend.xp_of(grad.data).zeros(grad.shape, grad.dtype)
