"""Read PyTorch ``.pth`` weight files with the standard library and NumPy only.

A ``.pth`` file is a pickle, and unpickling can run arbitrary code.  This reader
never imports torch and uses an unpickler that resolves only the few globals a
weights file needs (``collections.OrderedDict``, torch's tensor-rebuild functions,
storage classes and its Tensor and Parameter types, and the values beside them that
``torch.load(weights_only=True)`` reads too: a Size, a dtype, a device, a set, bytes, ...;
all replaced by harmless local stand-ins); any other global
is refused with :class:`UnsafePickleError`.

Two layouts are understood:

* zip format (torch >= 1.6): an uncompressed zip holding ``<prefix>/data.pkl``
  and one raw file ``<prefix>/data/<key>`` per storage, little-endian unless its ``byteorder`` record
  says 'big' (any other record is refused, as torch.load refuses it);
* legacy format: consecutive pickles (magic number, protocol version, system
  info, the object, the list of storage keys) followed by each storage as an
  int64 element count and its raw bytes.

Tensors are rebuilt as copies of strided views into their storages, so views
that share a storage (slices, transposes) come out right.  bfloat16 becomes
float32, since NumPy has no bfloat16.  A tensor whose size and strides ask for
far more memory than its storage holds (stride 0 over a huge shape: a 525-byte
file could become gigabytes) is refused unless ``allow_expand`` is given.
"""

import pickle
import pickletools
import struct
import zipfile
from collections import Counter, OrderedDict
from typing import NamedTuple

import numpy as np

__all__ = ["WeightsError", "UnsafePickleError", "read_pth", "strip_prefix"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch's rebuild functions of tensors tinyrrn does not read (torch.load(weights_only=True) reads them) -> what
# they hold and how torch turns them into tensors tinyrrn reads
_TENSOR_KINDS_NOT_READ = {
    "torch._utils._rebuild_qtensor": ("quantized", "dequantize them (tensor.dequantize())"),
    "torch._utils._rebuild_sparse_tensor": ("sparse", "make them dense (tensor.to_dense())"),
    "torch._utils._rebuild_meta_tensor_no_storage": ("meta", "save the model's tensors once they hold values"),
    "torch._utils._rebuild_nested_tensor": ("nested", "save their components as separate tensors"),
}

# Storage class name -> NumPy type code, without byte order.
_STORAGE_TYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "u2",  # raw bits; widened to float32 after reading
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
    "UntypedStorage": "u1",
}

# A tensor may take at most this many times its storage's bytes, plus EXPAND_SLACK, unless allow_expand.
EXPAND_LIMIT, EXPAND_SLACK = 16, 2**20

# The first bytes of a zip archive: a NumPy .npz, or a zip-format .pth.
ZIP_MAGIC = b"PK\x03\x04"

# Keys under which training checkpoints commonly keep the model's state_dict.
_STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")


class WeightsError(ValueError):
    """A weights file that cannot be read; the message names the file."""


class UnsafePickleError(WeightsError, pickle.UnpicklingError):
    """A pickle asked for a global that a weights file has no need for."""


# The stand-ins below are named tuples: immutable and without a __dict__, so a
# pickle's BUILD opcode cannot alter them (the storage types are shared by all reads).
class _StorageType(NamedTuple):
    """Stand-in for a torch storage class such as ``torch.FloatStorage``."""

    name: str


class _StorageRef(NamedTuple):
    """A storage named by a persistent id: ``numel`` elements from ``offset`` of ``key``."""

    type: _StorageType
    key: str
    numel: int
    offset: int = 0


class _TensorRef(NamedTuple):
    """A tensor as torch's pickle describes it, before its bytes are read."""

    storage: object
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor(storage, storage_offset, size, stride):
    """Stand-in for ``torch._utils._rebuild_tensor``."""
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``; gradient fields are dropped."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    """Stand-in for ``torch._utils._rebuild_parameter_with_state`` (a Parameter with Python attributes): its tensor."""
    return data


class _TensorType(NamedTuple):
    """Stand-in for ``torch.Tensor`` or ``torch.nn.Parameter`` as the type a tensor is rebuilt as."""

    name: str


class _TorchValue(NamedTuple):
    """Stand-in for a torch dtype (``torch.float32``) or device, values a checkpoint may hold beside its tensors."""

    name: str


def _device(*args):
    """Stand-in for ``torch.device``."""
    return _TorchValue(f"torch.device{args!r}")


def _size(sizes=()):
    """Stand-in for ``torch.Size``: a tuple."""
    return tuple(sizes)


def _encode(text, encoding):
    """Stand-in for ``_codecs.encode``, by which protocol-2 pickles store bytes: latin-1 only."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}, not latin1")
    return text.encode("latin1")


def _bytearray(data=b"", encoding="latin1"):
    """Stand-in for ``bytearray``, from the bytes or text a pickle stores (never a size to allocate)."""
    if not isinstance(data, (bytes, str)):
        raise pickle.UnpicklingError(f"bytearray of {type(data).__name__}, not of bytes")
    return bytearray(_encode(data, encoding) if isinstance(data, str) else data)


# torch's dtypes, values a checkpoint may hold (torch.load(weights_only=True) reads them)
_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64", "float16", "bfloat16",
           "float32", "float64", "complex32", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2",
           "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "qint8", "quint8", "qint32")


def _rebuild_from_type_v2(func, new_type, args, state):
    """Stand-in for ``torch._tensor._rebuild_from_type_v2`` (a tensor with Python attributes): ``func(*args)``, the
    attributes dropped; only a plain Tensor or Parameter, as torch.load(weights_only=True) takes."""
    if not isinstance(new_type, _TensorType):
        raise pickle.UnpicklingError(f"a tensor rebuilt as {new_type!r}, not as a Tensor or Parameter")
    return func(*args)


_ALLOWED_GLOBALS = {
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    **{name: _TensorType(name) for name in ("torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter")},
    **{f"{module}.{name}": _StorageType(name) for module in ("torch", "torch.cuda") for name in _STORAGE_TYPES
       if name != "UntypedStorage" or module == "torch"},  # torch.cuda: saved from a GPU before torch 1.6
    "torch.storage.UntypedStorage": _StorageType("UntypedStorage"),
    # values beside the tensors that torch.load(weights_only=True) reads too (builtins as protocol 2 names them)
    "torch.Size": _size,
    "torch.device": _device,
    **{f"torch.{name}": _TorchValue(f"torch.{name}") for name in _DTYPES},
    "_codecs.encode": _encode,
    "collections.Counter": Counter,
    **{f"{module}.{name}": value for module in ("builtins", "__builtin__")
       for name, value in (("set", set), ("complex", complex), ("bytearray", _bytearray))},
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only ``_ALLOWED_GLOBALS`` and records storage ids."""

    def __init__(self, file, path):
        super().__init__(file, encoding="utf-8")
        self.path = path
        self.storage_types = {}  # storage key -> _StorageType, as seen in persistent ids
        self.refused = None  # the global refused, if any

    def find_class(self, module, name):
        """Return the local stand-in for an allowed global; refuse everything else.

        torch saves the tensors of dtypes without a storage class (uint16-64, float8) by _rebuild_tensor_v3 over
        an untyped storage, naming the dtype (torch.uint16) among its arguments: that call is refused by dtype."""
        full_name = f"{module}.{name}"
        if full_name == "torch._utils._rebuild_tensor_v3":
            return self._rebuild_tensor_v3
        if module in ("torch", "torch.cuda") and name.endswith("Storage") and full_name not in _ALLOWED_GLOBALS:
            self._refuse_dtype(full_name)
        if full_name in _TENSOR_KINDS_NOT_READ:
            kind, how = _TENSOR_KINDS_NOT_READ[full_name]
            raise WeightsError(f"{self.path}: holds {kind} tensors, which tinyrrn does not read (it reads dense "
                               f"tensors with their values); in torch, {how} before saving")
        if full_name not in _ALLOWED_GLOBALS:
            self.refused = full_name
            raise UnsafePickleError(
                f"{self.path}: refusing to load global '{full_name}': a weights file may only "
                "refer to collections.OrderedDict, torch's tensor-rebuild functions and "
                "storage classes")
        return _ALLOWED_GLOBALS[full_name]

    def _refuse_dtype(self, name):
        raise WeightsError(f"{self.path}: holds tensors of {name}, a dtype tinyrrn does not read (it reads "
                           "float32, float64, float16 and bfloat16 weights and integer or bool buffers); "
                           "convert those tensors with torch first")

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                           metadata=None):
        """Stand-in for ``torch._utils._rebuild_tensor_v3``: its tensors are of dtypes tinyrrn does not read."""
        self._refuse_dtype(dtype.name if isinstance(dtype, _TorchValue) else repr(dtype))

    def persistent_load(self, pid):
        """Turn ``('storage', type, key, location, numel[, view])`` into a ``_StorageRef``."""
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and _ascii(pid[0]) == "storage"
                and isinstance(pid[1], _StorageType)):
            raise WeightsError(f"{self.path}: unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], _ascii(pid[2]), pid[4]
        self.storage_types[key] = storage_type
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return _StorageRef(storage_type, key, numel)
        _view_key, view_offset, view_numel = view  # legacy storage views
        return _StorageRef(storage_type, key, view_numel, view_offset)


def _ascii(value):
    """Decode the bytes that Python 2 pickles use for internal strings."""
    return value.decode("ascii") if isinstance(value, bytes) else value


def read_pth(path, allow_expand=False):
    """Read a torch ``.pth`` file into an ``OrderedDict`` of name -> ``numpy.ndarray``.

    Accepts a bare state_dict or a checkpoint dict holding one (under ``state_dict``,
    ``model``, ...); a DataParallel ``module.`` prefix is stripped.  Raises
    :class:`UnsafePickleError` for a file that asks for other globals and
    :class:`WeightsError` for a truncated or non-weights file, or for a tensor
    that would expand far beyond its storage (unless ``allow_expand``).
    """
    path = str(path)
    with open(path, "rb") as file:  # a missing or unreadable file raises OSError naming it
        is_zip = file.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    try:
        state = _read_zip(path, allow_expand) if is_zip else _read_legacy(path, allow_expand)
    except WeightsError:
        raise
    except Exception as error:  # any failure parsing untrusted bytes
        raise WeightsError(
            f"{path}: not a readable PyTorch weights file (truncated or corrupt?): "
            f"{type(error).__name__}: {error}") from error
    return strip_prefix(state, "module.")


def _read_zip(path, allow_expand):
    """Read the zip format: ``<prefix>/data.pkl`` plus ``<prefix>/data/<key>`` storages."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl")]
        if not pickles:
            raise WeightsError(f"{path}: zip archive without a data.pkl; not a PyTorch file")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            record = archive.read(f"{prefix}byteorder")
            if record not in (b"little", b"big"):  # as torch.load refuses it
                raise WeightsError(f"{path}: its byteorder record is {record.decode('latin-1')!r}, neither 'little' "
                                   "nor 'big'; the byte order of its storages is unknown")
            byteorder = record.decode("ascii")
        if f"{prefix}constants.pkl" in names:  # as torch.load tells a TorchScript archive
            raise WeightsError(f"{path}: a TorchScript archive (torch.jit.save), not a state_dict saved by torch.save; "
                               "tinyrrn reads state_dicts only: in torch, torch.save(torch.jit.load(file).state_dict(), "
                               "...) writes one")
        with archive.open(pickles[0]) as file:
            state = _find_state_dict(_load_object(file, path)[1], path)
        storages = {}

        def load_storage(ref):
            """The bytes of storage ``ref``, of exactly the size its persistent id gives, as torch.load checks."""
            if ref.key not in storages:
                storages[ref.key] = archive.read(f"{prefix}data/{ref.key}")
            nbytes = ref.numel * _dtype(ref.type, byteorder).itemsize
            if len(storages[ref.key]) != nbytes:
                raise WeightsError(f"{path}: storage {ref.key!r} holds {len(storages[ref.key])} bytes where the "
                                   f"pickle gives it {ref.numel} elements of {ref.type.name}, {nbytes} bytes "
                                   "(truncated or altered file?)")
            return storages[ref.key]

        return _materialise(state, load_storage, byteorder, path, allow_expand)


def _read_legacy(path, allow_expand):
    """Read the legacy format: header pickles, the object, storage keys, raw storages."""
    with open(path, "rb") as file:
        magic = _SafeUnpickler(file, path).load()
        if magic != _LEGACY_MAGIC:
            raise WeightsError(f"{path}: not a PyTorch weights file (no zip header, "
                               "no legacy magic number)")
        protocol = _SafeUnpickler(file, path).load()
        if protocol != _LEGACY_PROTOCOL:
            raise WeightsError(f"{path}: unsupported legacy protocol version {protocol!r}")
        sys_info = _SafeUnpickler(file, path).load()
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        unpickler, obj = _load_object(file, path)
        state = _find_state_dict(obj, path)
        keys = _SafeUnpickler(file, path).load()
        storages = {}
        for key in map(_ascii, keys):
            if key not in unpickler.storage_types:
                raise WeightsError(f"{path}: storage key {key!r} listed but never used")
            header = file.read(8)
            numel = struct.unpack("<q" if byteorder == "little" else ">q", header)[0]
            nbytes = numel * _dtype(unpickler.storage_types[key], byteorder).itemsize
            storages[key] = file.read(nbytes)
            if len(storages[key]) != nbytes:
                raise WeightsError(f"{path}: truncated: storage {key!r} should hold {nbytes} "
                                   f"bytes, found {len(storages[key])}")
    return _materialise(state, lambda ref: storages[ref.key], byteorder, path, allow_expand)


def _load_object(file, path):
    """(the unpickler, the object it read from ``file``); a whole pickled torch Module refused as such."""
    start, unpickler = file.tell(), _SafeUnpickler(file, path)
    try:
        return unpickler, unpickler.load()
    except UnsafePickleError:
        file.seek(start)
        if not _names_a_module(file):
            raise
    raise UnsafePickleError(f"{path}: holds a whole pickled model (class {unpickler.refused}, a torch.nn.Module), as "
                            "torch.save(model) writes; tinyrrn reads state_dicts only and builds no class a pickle "
                            "names: in torch, save model.state_dict() instead")


def _names_a_module(file):
    """Whether the pickle at ``file`` names a torch.nn module class or a Module's '_modules' (its opcodes read, nothing
    run)."""
    try:
        return any(isinstance(arg, str) and (arg.startswith("torch.nn.modules.") or arg == "_modules")
                   for _, arg, _ in pickletools.genops(file))
    except Exception:  # a damaged pickle: nothing named, as far as it reads
        return False


def _find_state_dict(obj, path):
    """Return the mapping of names to tensors: ``obj`` itself or one held inside it."""
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in _STATE_DICT_KEYS:
            if _is_state_dict(obj.get(key)):
                return obj[key]
        candidates = [key for key, value in obj.items() if _is_state_dict(value)]
        if len(candidates) == 1:
            return obj[candidates[0]]
        if candidates:
            raise WeightsError(f"{path}: holds several state_dicts, under {_first(candidates)}; "
                               "save the one to use on its own")
        inner = next((key for key in _STATE_DICT_KEYS if isinstance(obj.get(key), dict)), None)
        where, entries = (f" under {inner!r}", obj[inner]) if inner is not None else ("", obj)
        raise WeightsError(f"{path}: no state_dict (mapping of names to tensors) found{where}: "
                           f"{_not_a_state_dict(entries)}")
    raise WeightsError(f"{path}: holds {_kind(obj)}, not a state_dict (a mapping of names to tensors)")


def _kind(obj):
    """What ``obj`` from the pickle is, in words: 'a single tensor', 'an int', 'a list', ..."""
    if isinstance(obj, _TensorRef):
        return "a single tensor"
    if obj is None:
        return "None"
    name = type(obj).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _first(keys, shown=5):
    """The first ``shown`` of ``keys``, and how many there are in all when there are more."""
    keys = list(keys)
    more = f", ... ({len(keys)} in all)" if len(keys) > shown else ""
    return ", ".join(map(repr, keys[:shown])) + more


def _not_a_state_dict(entries):
    """Why the dict ``entries`` is no state_dict: its entries that are not tensors named by text, else its keys."""
    if not entries:
        return "it is empty"
    bad = [key for key, value in entries.items() if not (isinstance(key, str) and isinstance(value, _TensorRef))]
    if len(bad) == len(entries):
        return f"its keys are {_first(entries)}"
    shown = ", ".join(f"{key!r} is {_kind(entries[key])}" if isinstance(key, str) else f"key {key!r} is not text"
                      for key in bad[:3])
    return (f"{len(entries) - len(bad)} of its {len(entries)} entries are tensors, but {shown}"
            + (f", ... ({len(bad)} not tensors)" if len(bad) > 3 else ""))


def _is_state_dict(obj):
    """True for a non-empty dict whose keys are strings and values tensors."""
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, _TensorRef) for k, v in obj.items()))


def _dtype(storage_type, byteorder):
    """NumPy dtype of a storage's raw bytes in the file's byte order."""
    return np.dtype(("<" if byteorder == "little" else ">") + _STORAGE_TYPES[storage_type.name])


def _materialise(state, load_storage, byteorder, path, allow_expand):
    """Replace each ``_TensorRef`` by a C-contiguous NumPy array in native byte order."""
    arrays = OrderedDict()
    for name, ref in state.items():
        storage = ref.storage
        if not isinstance(storage, _StorageRef):
            raise WeightsError(f"{path}: tensor {name!r} is not backed by a storage")
        dtype = _dtype(storage.type, byteorder)
        data = load_storage(storage)
        flat = np.frombuffer(data, dtype=dtype, count=len(data) // dtype.itemsize)
        flat = flat[storage.offset: storage.offset + storage.numel]
        arrays[name] = _strided_copy(flat, ref, name, path, allow_expand)
        if storage.type.name == "BFloat16Storage":
            arrays[name] = (arrays[name].astype(np.uint32) << 16).view(np.float32)
    return arrays


def _strided_copy(flat, ref, name, path, allow_expand):
    """Copy the view ``flat[offset:]`` with ``ref``'s size and stride (in elements)."""
    native = flat.dtype.newbyteorder("=")
    if len(ref.size) != len(ref.stride) or min((*ref.size, *ref.stride, ref.offset)) < 0:
        raise WeightsError(f"{path}: tensor {name!r} has invalid size {ref.size} / "
                           f"stride {ref.stride} / offset {ref.offset}")
    if 0 in ref.size:
        return np.empty(ref.size, dtype=native)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if last >= len(flat):
        raise WeightsError(f"{path}: tensor {name!r} of shape {ref.size} needs element {last} "
                           f"of a storage holding {len(flat)} (truncated file?)")
    needed = int(np.prod(ref.size)) * flat.itemsize
    if not allow_expand and needed > EXPAND_LIMIT * len(flat) * flat.itemsize + EXPAND_SLACK:
        raise WeightsError(f"{path}: tensor {name!r} of shape {ref.size} and stride {ref.stride} would take "
                           f"{needed / 2**20:.0f} MB from a storage of {len(flat) * flat.itemsize} bytes; refused "
                           "(if the file is trusted: python -m tinyrrn.weights convert --allow-expand)")
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset:], shape=ref.size,
        strides=tuple(s * flat.itemsize for s in ref.stride), writeable=False)
    return view.astype(native, order="C", copy=True)


def strip_prefix(state, prefix):
    """Drop ``prefix`` from every key when all keys carry it (as DataParallel's do)."""
    if all(name.startswith(prefix) for name in state):
        return OrderedDict((name[len(prefix):], value) for name, value in state.items())
    return state
