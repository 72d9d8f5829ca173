"""Lesson 07: pretrained weights without PyTorch -- the .pth file, its names, and why loading it must be safe.

Run:  python lessons/07_pretrained_weights.py [--out DIR]

The paper starts from a ResNet-50 trained on ImageNet. Such weights come as a
PyTorch .pth file: torch.save(model.state_dict()). tinyrrn reads these files
with the standard library and NumPy alone (tinyrrn/pth.py). Here we write one
by hand in torch's format, read it back, map its names onto a
model's modules, watch strict loading catch a missing or mis-shaped entry, and
see why the reader must refuse anything but tensors: a pickle is a program.

The format (torch >= 1.6) is an uncompressed zip whose members sit in one folder
(torch.save names it after the file: x/ for x.pth; we write archive/;
readers take any name, and skip the extra members newer torch writes, such as .format_version):
    archive/data.pkl      a pickle (protocol 2) of the state_dict: an OrderedDict of
                          name -> tensor, each tensor a call
                          torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                          whose storage is a "persistent id" ('storage', torch.FloatStorage,
                          key, 'cpu', numel) instead of the bytes themselves
    archive/data/<key>    the raw little-endian bytes of each storage
    archive/byteorder     the storages' byte order, 'little' (a file without it is read as little-endian)
    archive/version       the format version
"""
import contextlib
import io
import os
import pickle
import pickletools
import shlex
import struct
import tempfile
import textwrap
import zipfile
from collections import OrderedDict

import numpy

import tinyrrn
from tinyrrn import Tensor
from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args
from tinyrrn.models import resnet50, resnet_small
from tinyrrn.pth import UnsafePickleError, read_pth
from tinyrrn.weights import convert, load_npz

parser = ArgumentParser(description="Pretrained weights without PyTorch: the .pth format, safely.")
parser.add_argument("--out", type=folder_to_write, default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the .pth files this lesson writes (default: lessons/out)")
args = parse_script_args(parser)
os.makedirs(args.out, exist_ok=True)
print(__doc__)

# --- 1. A model's state_dict: torchvision's names ------------------------------------------
tinyrrn.manual_seed(0)
source = resnet_small(num_classes=5).eval()
# Its values are Tensors, as PyTorch's (detached, sharing the model's memory); a file holds their
# arrays, so this lesson keeps those: v.numpy().
state = OrderedDict((k, v.numpy()) for k, v in source.state_dict().items())
print(f"1. resnet_small(num_classes=5) has {len(state)} state_dict entries, named as torchvision names them:")
for name in ("conv1.weight", "bn1.running_var", "layer2.0.conv1.weight", "layer2.0.downsample.0.weight",
             "layer2.0.downsample.1.num_batches_tracked", "fc.weight"):
    print(f"   {name:<42} {str(tuple(state[name].shape)):<16} {state[name].dtype}")
full = resnet50().state_dict()
print(f"   resnet50() has {len(full)} entries and {sum(v.numel() for k, v in full.items() if 'running' not in k and 'tracked' not in k):,}"
      " parameters, as torchvision's ImageNet file (resnet50-0676ba61.pth).")
assert len(full) == 320 and full["fc.weight"].shape == (1000, 2048) and full["layer4.0.downsample.0.weight"].shape == (2048, 1024, 1, 1)
assert sum(v.numel() for k, v in full.items() if "running" not in k and "tracked" not in k) == 25_557_032
del full

# --- 2. Writing a .pth by hand ----------------------------------------------------------
# pickle is a small stack machine: the file is a list of opcodes. We only need a handful.
STORAGE_CLASS = {numpy.dtype("float32"): "FloatStorage", numpy.dtype("float64"): "DoubleStorage",
                 numpy.dtype("int64"): "LongStorage"}


def op_global(module, name):            # push the object module.name (found by the unpickler's find_class)
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_text(text):                      # push a str
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def op_int(value):                      # push an int (4 bytes, signed)
    return b"J" + struct.pack("<i", value)


def op_tuple(*parts):                   # MARK, the items, TUPLE: push a tuple of the items
    return b"(" + b"".join(parts) + b"t"


def op_call(function, *args):           # push function(*args): REDUCE pops a callable and an argument tuple
    return function + op_tuple(*args) + b"R"


EMPTY_ORDERED_DICT = op_call(op_global("collections", "OrderedDict"))


def pickle_state_dict(arrays):
    """data.pkl for ``arrays`` (name -> array), and the storages it names: {key: bytes}."""
    program, storages = [b"\x80\x02", EMPTY_ORDERED_DICT, b"("], {}    # protocol 2; OrderedDict(); MARK
    for key, (name, array) in enumerate(arrays.items()):
        array = numpy.asarray(array, order="C")                          # C order (keeps 0-d arrays 0-d)
        storage = op_tuple(op_text("storage"), op_global("torch", STORAGE_CLASS[array.dtype]),
                           op_text(str(key)), op_text("cpu"), op_int(array.size)) + b"Q"  # BINPERSID
        strides = tuple(s // array.itemsize for s in array.strides)                       # in elements
        tensor = op_call(op_global("torch._utils", "_rebuild_tensor_v2"),
                         storage, op_int(0), op_tuple(*map(op_int, array.shape)), op_tuple(*map(op_int, strides)),
                         b"\x89", EMPTY_ORDERED_DICT)                     # requires_grad False, no hooks
        program += [op_text(name), tensor]
        storages[str(key)] = array.astype(array.dtype.newbyteorder("<")).tobytes()
    program += [b"u", b"."]                                               # SETITEMS into the dict; STOP
    return b"".join(program), storages


def write_pth(path, arrays, program=None):
    """A zip-format .pth: archive/data.pkl, archive/byteorder, archive/data/<key>, archive/version (stored, not compressed)."""
    data_pkl, storages = pickle_state_dict(arrays)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", program if program is not None else data_pkl)
        archive.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")


small_pth = os.path.join(args.out, "resnet_small.pth")
write_pth(small_pth, state)
with zipfile.ZipFile(small_pth) as archive:
    members = archive.infolist()
print(f"\n2. Wrote {small_pth} ({os.path.getsize(small_pth):,} bytes), a zip of {len(members)} members:")
for info in members[:4] + members[-2:]:
    print(f"   {info.filename:<22} {info.file_size:>7,} bytes")
print(f"   ... one archive/data/<key> per tensor: {len(state)} storages")
assert len(members) == len(state) + 3 and all(info.compress_type == zipfile.ZIP_STORED for info in members)
one_entry, _ = pickle_state_dict(OrderedDict([("fc.bias", state["fc.bias"])]))
listing = io.StringIO()
pickletools.dis(one_entry, out=listing)
print("   The pickle program of a one-entry state_dict {'fc.bias': tensor of 5 floats}, disassembled:")
print(textwrap.indent(listing.getvalue().rstrip(), "     "))

# --- 3. Reading it back: tinyrrn.pth.read_pth ------------------------------------------------
# read_pth runs that program with an Unpickler whose find_class knows only OrderedDict, the
# tensor-rebuild functions and the storage classes (as harmless local stand-ins), and whose
# persistent_load turns ('storage', ...) into a reference to archive/data/<key>.
loaded = read_pth(small_pth)
assert list(loaded) == list(state)
assert all(numpy.array_equal(loaded[k], state[k]) and loaded[k].dtype == state[k].dtype for k in state)
print(f"\n3. read_pth gives back all {len(loaded)} arrays, same names, shapes, dtypes and values: yes")
try:
    import torch
except ImportError:
    torch = None
    print("   (PyTorch is not installed: with it, this lesson also checks that torch.load reads our file\n"
          "   and that read_pth reads a file written by torch.save)")
if torch is not None:
    theirs = torch.load(small_pth, weights_only=True)
    assert list(theirs) == list(state) and all(numpy.array_equal(theirs[k].numpy(), state[k]) for k in state)
    saved_by_torch = os.path.join(args.out, "saved_by_torch.pth")
    torch.save(OrderedDict((k, torch.from_numpy(numpy.asarray(v, order="C"))) for k, v in state.items()), saved_by_torch)
    assert all(numpy.array_equal(v, state[k]) for k, v in read_pth(saved_by_torch).items())
    assert all(name.startswith("saved_by_torch/") for name in zipfile.ZipFile(saved_by_torch).namelist())  # its folder
    print(f"   torch {torch.__version__}: torch.load(weights_only=True) reads our hand-made file, and read_pth "
          "reads torch.save's: yes")

# --- 4. From names to modules ----------------------------------------------------------------
# A state_dict name is a path of attribute names: "layer2.0.downsample.1.running_var" is
# model.layer2[0].downsample[1].running_var (Sequential children are named "0", "1", ...).
target = resnet_small(num_classes=5).eval()


def module_at(model, name):
    """The module that owns state_dict entry ``name``, and the entry's attribute name."""
    *path, attribute = name.split(".")
    module = model
    for part in path:
        module = getattr(module, part)
    return module, attribute


print("\n4. Each name is a path through the model's attributes:")
for name in ("conv1.weight", "layer1.0.bn2.bias", "layer2.0.downsample.0.weight", "layer4.1.conv2.weight", "fc.bias"):
    module, attribute = module_at(target, name)
    print(f"   {name:<30} -> {type(module).__name__}.{attribute:<13} {tuple(getattr(module, attribute).shape)}")
assert all(tuple(numpy.shape(getattr(*module_at(target, k)))) == v.shape for k, v in loaded.items())
frames = numpy.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32")
before = target(Tensor(frames)).detach().numpy()
load_npz(target, small_pth)  # reads .pth or .npz, casts, then load_state_dict(strict=True)
assert numpy.allclose(target(Tensor(frames)).detach().numpy(), source(Tensor(frames)).detach().numpy(), rtol=1e-6, atol=1e-6)
assert not numpy.allclose(before, source(Tensor(frames)).detach().numpy(), atol=1e-3)
print("   tinyrrn.weights.load_npz(fresh model, the .pth) makes it compute exactly what the source model\n"
      "   computes (it did not before loading): yes")

# --- 5. What strict loading reports ----------------------------------------------------------
print("\n5. Strict loading checks every name and shape before it changes anything:")
missing_pth = os.path.join(args.out, "missing_fc_bias.pth")
write_pth(missing_pth, OrderedDict((k, v) for k, v in state.items() if k != "fc.bias"))
wrong_pth = os.path.join(args.out, "seven_classes.pth")
seven = {k: v.numpy() for k, v in resnet_small(num_classes=7).state_dict().items()}
write_pth(wrong_pth, OrderedDict((k, seven[k] if k.startswith("fc.") else v) for k, v in state.items()))
fresh = resnet_small(num_classes=5)
untouched = {k: v.clone() for k, v in fresh.state_dict().items()}
for path, expected in ((missing_pth, ("missing", "fc.bias")), (wrong_pth, ("(7, 64)", "(5, 64)", "fc.weight", "fc.bias"))):
    try:
        load_npz(fresh, path)
    except ValueError as error:
        message = str(error)
    else:
        raise AssertionError(f"{path} loaded although it does not fit")
    print(f"   {os.path.basename(path)}: ValueError\n     " + message.replace("\n", "\n     "))
    assert all(word in message for word in expected), message
    assert all(numpy.array_equal(fresh.state_dict()[k].numpy(), v.numpy()) for k, v in untouched.items())
print("   ... and the model is left exactly as it was: yes")
missing, unexpected = fresh.load_state_dict(read_pth(missing_pth), strict=False)
assert missing == ["fc.bias"] and unexpected == []
print(f"   strict=False loads what fits and returns what did not: missing {missing}, unexpected {unexpected}.")
# To fine-tune on new classes, drop the classifier from the file (what the command
# `python -m tinyrrn.weights convert resnet50.pth resnet50.npz --num-classes 101` does) and load the
# rest with strict=False (python -m tinyrrn.train --weights does the same): fc keeps its fresh values.
with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
    no_fc = os.path.join(scratch, "resnet_small_no_fc.npz")
    convert(small_pth, no_fc, num_classes=7)
    seven_classes = resnet_small(num_classes=7)
    fresh_fc = seven_classes.fc.weight.data.copy()
    load_npz(seven_classes, no_fc, strict=False)
assert numpy.array_equal(seven_classes.fc.weight.data, fresh_fc)
assert all(numpy.array_equal(value.numpy(), state[name]) for name, value in seven_classes.state_dict().items()
           if not name.startswith("fc."))
print("   To fine-tune on new classes, drop the classifier and load the rest with strict=False:\n"
      "   python -m tinyrrn.weights convert resnet50.pth resnet50.npz --num-classes 101, then\n"
      "   load_npz(model, \"resnet50.npz\", strict=False) (or python -m tinyrrn.train --weights resnet50.npz):\n"
      "   on resnet_small(num_classes=7) every weight but fc comes from the file, fc keeps its fresh values: yes")

# --- 6. Why the unpickler must be restricted -----------------------------------------------
# REDUCE calls whatever callable GLOBAL pushed, with whatever arguments: unpickling runs code.
hello = op_call(op_global("builtins", "print"), op_text("hello from inside a pickle: unpickling called print()"))
captured = io.StringIO()
with contextlib.redirect_stdout(captured):
    pickle.loads(b"\x80\x02" + hello + b".")
assert captured.getvalue().startswith("hello from inside a pickle")
print(f"\n6. pickle.loads on a pickle of {len(hello) + 3} bytes printed: {captured.getvalue().strip()!r}")
marker = os.path.join(args.out, "the_crafted_file_ran_a_command")
if os.path.exists(marker):
    os.remove(marker)
attack = b"\x80\x02" + op_call(op_global("os", "system"), op_text(f"touch {shlex.quote(marker)}")) + b"."
crafted_pth = os.path.join(args.out, "crafted.pth")
write_pth(crafted_pth, OrderedDict([("fc.bias", state["fc.bias"])]), program=attack)
print(f"   {os.path.basename(crafted_pth)} is a valid-looking .pth whose data.pkl calls os.system('touch ...').")
try:
    read_pth(crafted_pth)
except UnsafePickleError as error:
    refusal = str(error)
else:
    refusal = None
assert refusal is not None and "os.system" in refusal
assert not os.path.exists(marker)
print(f"   read_pth refuses it:\n     {refusal}\n   and the command never ran (no {os.path.basename(marker)} file): yes")
if torch is not None:
    try:
        torch.load(crafted_pth, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = next((line for line in str(error).splitlines() if "GLOBAL" in line), str(error))
        print(f"   torch.load(weights_only=True) refuses it too: {reason}")
    else:
        raise AssertionError("torch.load(weights_only=True) accepted a crafted file")
    assert not os.path.exists(marker)

print("""
What to remember:
  * A .pth state_dict is a zip: a pickle that names each tensor's storage, size and stride,
    and one raw little-endian file per storage. Nothing in it needs torch to be read.
  * Its names are attribute paths (layer2.0.downsample.1.running_var), so a model built with
    torchvision's module names takes a torchvision file one to one; strict loading checks every
    name and shape first and reports all problems at once, changing nothing.
  * Unpickling runs code: GLOBAL finds any callable, REDUCE calls it. Read weights only with an
    unpickler that resolves the few names a weights file needs and refuses everything else.""")
