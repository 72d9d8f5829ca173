"""Tests for tinyrrn.weights and the torch-free .pth reader (tinyrrn.pth).

Fixtures in torchvision's formats are written by torch itself where torch is
installed; tests that need no torch-written file run without torch.
"""

import os
import pickle
import re
import stat
import struct
import subprocess
import sys
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import pytest

from devices import host
from tinyrrn.weights import (UnsafePickleError, WeightsError, convert, load_npz, main, parameter_count,
                             read_pth, read_weights, save_npz)

ROOT = Path(__file__).resolve().parents[1]
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
FORMATS = {"zip": {}, "legacy": {"_use_new_zipfile_serialization": False}}


class StandInModel:
    """Minimal model with the state_dict/load_state_dict contract of tinyrrn.nn."""

    def __init__(self, seed=0, classes=10):
        rng = np.random.default_rng(seed)
        self.arrays = OrderedDict([
            ("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
            ("bn.weight", rng.standard_normal(4).astype(np.float32)),
            ("bn.running_mean", rng.standard_normal(4).astype(np.float32)),
            ("bn.num_batches_tracked", np.array(seed, dtype=np.int64)),
            ("fc.weight", rng.standard_normal((classes, 4)).astype(np.float32)),
            ("fc.bias", rng.standard_normal(classes).astype(np.float32)),
        ])

    def state_dict(self):
        return OrderedDict(self.arrays)

    def load_state_dict(self, state, strict=True):
        """Check everything, then replace arrays; raise ValueError listing all problems."""
        missing = [name for name in self.arrays if name not in state]
        unexpected = [name for name in state if name not in self.arrays]
        shapes = [f"{name} {state[name].shape} != {value.shape}"
                  for name, value in self.arrays.items()
                  if name in state and state[name].shape != value.shape]
        problems = shapes + ([f"missing: {missing}"] * bool(missing)
                             + [f"unexpected: {unexpected}"] * bool(unexpected) if strict else [])
        if problems:
            raise ValueError("; ".join(problems))
        for name in self.arrays:
            if name in state:
                self.arrays[name] = state[name]

    def snapshot(self):
        return OrderedDict((name, value.copy()) for name, value in self.arrays.items())


def assert_same(state, expected):
    assert list(state) == list(expected)
    for name, value in expected.items():
        assert state[name].dtype == value.dtype and state[name].shape == value.shape, name
        np.testing.assert_array_equal(state[name], value, err_msg=name)


# ---------------------------------------------------------------- .pth written by torch

def torch_tensors():
    """Tensors covering every dtype and layout the reader must handle."""
    import torch
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return OrderedDict([
        ("conv.weight", base),
        ("transposed", base.t()),  # shares base's storage, non-contiguous
        ("slice", base[1:3, 2:5]),  # shares base's storage at an offset
        ("half", torch.randn(5).half()),
        ("bfloat16", torch.randn(5).bfloat16()),
        ("double", torch.randn(2, 3, dtype=torch.float64)),
        ("bn.num_batches_tracked", torch.tensor(7)),  # int64, shape ()
        ("int32", torch.arange(3, dtype=torch.int32)),
        ("uint8", torch.arange(3, dtype=torch.uint8)),
        ("bool", torch.tensor([True, False])),
        ("empty", torch.zeros(0, 3)),
        ("param", torch.nn.Parameter(torch.ones(2))),
    ])


def as_numpy(tensors):
    import torch
    return OrderedDict((name, (t.float() if t.dtype == torch.bfloat16 else t).detach().numpy())
                       for name, t in tensors.items())


def torch_save(obj, path, fmt):
    import torch
    torch.save(obj, path, **FORMATS[fmt])
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_pth_matches_torch(tmp_path, fmt, torch):
    tensors = torch_tensors()
    state = read_pth(torch_save(tensors, tmp_path / "w.pth", fmt))
    assert_same(state, as_numpy(tensors))
    assert all(value.flags.c_contiguous and value.flags.writeable for value in state.values())
    assert state["bfloat16"].dtype == np.float32


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_checkpoint_dict_and_module_prefix(tmp_path, fmt, key, torch):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
    wrapped = OrderedDict((f"module.{name}", t) for name, t in net.state_dict().items())
    checkpoint = {"epoch": 3, key: wrapped, "optimizer": {"param_groups": [{"lr": 0.1}]}}
    state = read_pth(torch_save(checkpoint, tmp_path / "ck.pth", fmt))
    assert_same(state, as_numpy(net.state_dict()))


def test_real_module_state_dict(tmp_path, torch):
    """A module's state_dict carries a _metadata attribute that the pickle restores."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    state = read_weights(torch_save(net.state_dict(), tmp_path / "net.pth", "zip"))
    assert_same(state, as_numpy(net.state_dict()))


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_pth_names_file(tmp_path, fmt, torch):
    path = torch_save(torch_tensors(), tmp_path / "w.pth", fmt)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsError, match=str(path)):
            read_weights(path)


def test_reader_never_imports_torch(tmp_path, torch):
    paths = [str(torch_save(torch_tensors(), tmp_path / f"{fmt}.pth", fmt)) for fmt in FORMATS]
    script = ("import sys; sys.modules['torch'] = None\n"
              "from tinyrrn.weights import read_pth\n"
              "for path in sys.argv[1:]: print(sorted(read_pth(path)))\n")
    result = subprocess.run([sys.executable, "-c", script, *paths], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = str(sorted(torch_tensors()))
    assert result.stdout.splitlines() == [expected, expected]


# ---------------------------------------------------------------- malicious and broken files

def command_pickle(marker):
    """Protocol-0 pickle that calls os.system('touch MARKER') when loaded."""
    return f"cos\nsystem\n(Vtouch {marker}\ntR.".encode()


def legacy_file(path, payload, storages=None):
    """A legacy-format file whose object pickle is ``payload``, then ``storages``."""
    storages = storages or {}
    header = b"".join(pickle.dumps(obj, protocol=2)
                      for obj in (LEGACY_MAGIC, 1001, {"little_endian": True}))
    data = b"".join(struct.pack("<q", a.size) + a.tobytes() for a in storages.values())
    path.write_bytes(header + payload + pickle.dumps(list(storages), protocol=2) + data)
    return path


def zip_file(path, payload):
    """A zip-format file whose data.pkl is ``payload``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
    return path


def test_legacy_storage_view(tmp_path):
    """Old torch wrote storage views: (view key, offset, size) in the persistent id."""
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n("  # storage, offset, size, stride, ...
              b"(Vstorage\nctorch\nFloatStorage\nV1\nVcpu\nI6\n(V2\nI2\nI3\nttQ"
              b"I1\n(I2\nt(I1\ntI00\nccollections\nOrderedDict\n)RtR")
    payload = b"ccollections\nOrderedDict\n)R(Vw\n" + tensor + b"u."
    path = legacy_file(tmp_path / "view.pth", payload, storages={"1": np.arange(6, dtype="<f4")})
    assert_same(read_pth(path), {"w": np.array([3, 4], np.float32)})  # storage[2:5][1:3]


def test_malicious_payload_is_live(tmp_path):
    """Control: plain pickle would run the crafted payload."""
    marker = tmp_path / "control"
    pickle.loads(command_pickle(marker))
    assert marker.exists()


@pytest.mark.parametrize("write", [zip_file, legacy_file])
def test_malicious_pickle_refused(tmp_path, write):
    marker = tmp_path / "pwned"
    path = write(tmp_path / "evil.pth", command_pickle(marker))
    for reader in (read_pth, read_weights):
        with pytest.raises(pickle.UnpicklingError, match="'os.system'") as info:
            reader(path)
        assert str(path) in str(info.value)
    assert isinstance(info.value, UnsafePickleError)
    assert not marker.exists()


def test_reduce_payload_refused(tmp_path):
    """A pickle made the usual attacker's way (__reduce__) names posix.system."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = zip_file(tmp_path / "evil.pth", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(UnsafePickleError, match=rf"'{os.system.__module__}\.system'"):
        read_pth(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["builtins\neval", "torch\nload", "torch.storage\n_load_from_bytes",
                                  "torch._utils\n_rebuild_device_tensor_from_numpy"])
def test_other_globals_refused(tmp_path, name):
    path = legacy_file(tmp_path / "w.pth", f"c{name}\n.".encode())
    with pytest.raises(UnsafePickleError, match=name.replace("\n", r"\.")):
        read_pth(path)


@pytest.mark.parametrize("storage", ["ComplexFloatStorage", "Float8_e4m3fnStorage", "UInt16Storage"])
def test_storage_of_a_dtype_not_read_is_named_as_such(tmp_path, storage):
    """A storage type tinyrrn does not read (complex, float8, unsigned 16-64 bits) is named with its dtype, not
    refused as an unsafe global (the file is safe; its tensors are of a dtype tinyrrn cannot take)."""
    path = legacy_file(tmp_path / "w.pth", f"ctorch\n{storage}\n.".encode())
    with pytest.raises(WeightsError, match=rf"w\.pth: holds tensors of torch\.{storage}, a dtype") as info:
        read_pth(path)
    assert not isinstance(info.value, UnsafePickleError)


def test_complex_weights_saved_by_torch_are_named_by_dtype(tmp_path, torch):
    path = tmp_path / "complex.pth"
    torch.save({"fc.weight": torch.zeros(2, 2, dtype=torch.complex64)}, path)
    with pytest.raises(WeightsError, match="holds tensors of torch.ComplexFloatStorage, a dtype tinyrrn does not read"):
        read_weights(path)


def test_pickle_cannot_tamper_with_allowed_globals(tmp_path):
    """BUILD on a shared stand-in (here torch.FloatStorage) fails and changes nothing."""
    from tinyrrn import pth
    path = legacy_file(tmp_path / "w.pth", b"ctorch\nFloatStorage\n}Vname\nVByteStorage\nsb.")
    with pytest.raises(WeightsError, match=str(path)):
        read_pth(path)
    assert pth._ALLOWED_GLOBALS["torch.FloatStorage"].name == "FloatStorage"


@pytest.mark.parametrize("data", [b"", os.urandom(1000), b"\x80\x02" + os.urandom(500),
                                  b"PK\x03\x04" + os.urandom(500)],
                         ids=["empty", "random", "pickle-like", "zip-like"])
def test_garbage_names_file(tmp_path, data):
    path = tmp_path / "garbage.pth"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=str(path)):
        read_weights(path)


def test_zip_that_is_neither_pth_nor_npz(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(WeightsError, match=f"{path}.*data.pkl"):
        read_weights(path)


# ---------------------------------------------------------------- .npz save and load

def test_npz_round_trip(tmp_path):
    source, target = StandInModel(seed=1), StandInModel(seed=2)
    path = tmp_path / "w.npz"
    save_npz(source, path)
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]  # no temporary file left behind
    load_npz(target, path)
    assert_same(target.arrays, source.arrays)


def test_load_npz_casts_to_model_dtypes(tmp_path):
    source, target = StandInModel(seed=1), StandInModel(seed=2)
    state = OrderedDict((name, value.astype(np.float64)) for name, value in source.arrays.items())
    save_npz(state, tmp_path / "w.npz")
    assert read_weights(tmp_path / "w.npz")["bn.num_batches_tracked"].dtype == np.float64
    load_npz(target, tmp_path / "w.npz")
    assert_same(target.arrays, source.arrays)


def test_load_npz_lists_every_problem_and_changes_nothing(tmp_path):
    model = StandInModel(seed=1)
    before = model.snapshot()
    state = StandInModel(seed=2).state_dict()
    del state["bn.weight"]
    state["extra.weight"] = np.zeros(3, np.float32)
    state["fc.weight"] = np.zeros((5, 4), np.float32)
    path = tmp_path / "bad.npz"
    save_npz(state, path)
    with pytest.raises(ValueError) as info:
        load_npz(model, path)
    for name in (str(path), "bn.weight", "extra.weight", "fc.weight"):
        assert name in str(info.value)
    assert_same(model.arrays, before)


def test_load_npz_non_strict_skips_unexpected(tmp_path):
    model, source = StandInModel(seed=1), StandInModel(seed=2)
    state = source.state_dict()
    state["extra.weight"] = np.zeros(3, np.float32)
    save_npz(state, tmp_path / "w.npz")
    load_npz(model, tmp_path / "w.npz", strict=False)
    assert_same(model.arrays, source.arrays)


def test_a_non_strict_load_of_a_file_with_none_of_the_models_names_is_refused(tmp_path):
    """strict=False (README: a model keeping its own fc) allowed a file none of whose names is the model's:
    it loaded nothing, in silence. DataParallel's module. prefix is stripped from an .npz as from a .pth."""
    model, source = StandInModel(seed=1), StandInModel(seed=2)
    before = model.snapshot()
    save_npz(OrderedDict((f"backbone.{k}", v) for k, v in source.arrays.items()), tmp_path / "other.npz")
    with pytest.raises(WeightsError, match=r"other.npz: none of its 6 tensors is one of StandInModel's, so nothing "
                                           r"would be loaded \(its names: backbone.conv.weight, "):
        load_npz(model, tmp_path / "other.npz", strict=False)
    assert_same(model.arrays, before)
    save_npz(OrderedDict((f"module.{k}", v) for k, v in source.arrays.items()), tmp_path / "module.npz")
    load_npz(model, tmp_path / "module.npz", strict=False)
    assert_same(model.arrays, source.arrays)


def test_float64_weights_beyond_the_models_float32_are_refused_naming_the_key(tmp_path):
    """1e300 is finite in float64 and an infinity in float32: it loaded, in silence, as an infinity."""
    from tinyrrn.builders import load_backbone_weights
    from tinyrrn.models import resnet_small
    state = OrderedDict((k, v.astype(np.float64)) for k, v in StandInModel().arrays.items())
    state["bn.weight"][1] = -1e300
    save_npz(state, tmp_path / "big.npz")
    model = StandInModel(seed=1)
    before = model.snapshot()
    says = r"big.npz: bn.weight holds values beyond the range of float32 \(largest magnitude 1e\+300\)"
    with pytest.raises(WeightsError, match=says):
        load_npz(model, tmp_path / "big.npz")
    assert_same(model.arrays, before)
    backbone = resnet_small(num_classes=10)
    big = OrderedDict((k, host(v).astype(np.float64)) for k, v in backbone.state_dict().items())
    big["bn1.weight"][0] = 1e300
    save_npz(big, tmp_path / "big.npz")
    with pytest.raises(WeightsError, match=says.replace("bn.weight", "bn1.weight")):
        load_backbone_weights(backbone, str(tmp_path / "big.npz"))


@pytest.mark.parametrize("damage", ["truncate", "random"])
def test_load_npz_broken_file_changes_nothing(tmp_path, damage):
    model = StandInModel(seed=1)
    before = model.snapshot()
    path = tmp_path / "w.npz"
    save_npz(StandInModel(seed=2), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else os.urandom(len(data)))
    with pytest.raises(WeightsError, match=str(path)):
        load_npz(model, path)
    assert_same(model.arrays, before)


def test_failed_save_keeps_old_file(tmp_path):
    path = tmp_path / "w.npz"
    save_npz(StandInModel(seed=1), path)
    old = path.read_bytes()
    with pytest.raises(ValueError):  # object arrays are refused (allow_pickle=False)
        save_npz({"a": np.zeros(2), "b": np.array([{}], dtype=object)}, path)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


def test_npz_refuses_pickled_objects(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, a=np.array([{}], dtype=object))
    with pytest.raises(WeightsError, match=str(path)):
        read_weights(path)


def test_parameter_count_of_resnet50_shapes():
    """torchvision ResNet-50: 320 entries, 161 parameter tensors, 25,557,032 parameters."""
    shapes = OrderedDict()

    def conv_bn(conv, bn, c_in, c_out, k):
        shapes[f"{conv}.weight"] = (c_out, c_in, k, k)
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{bn}.{suffix}"] = (c_out,)
        shapes[f"{bn}.num_batches_tracked"] = ()

    conv_bn("conv1", "bn1", 3, 64, 7)
    c_in = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for i in range(blocks):
            p = f"layer{layer}.{i}"
            conv_bn(f"{p}.conv1", f"{p}.bn1", c_in, width, 1)
            conv_bn(f"{p}.conv2", f"{p}.bn2", width, width, 3)
            conv_bn(f"{p}.conv3", f"{p}.bn3", width, 4 * width, 1)
            if i == 0:
                conv_bn(f"{p}.downsample.0", f"{p}.downsample.1", c_in, 4 * width, 1)
            c_in = 4 * width
    shapes["fc.weight"], shapes["fc.bias"] = (1000, 2048), (1000,)
    state = OrderedDict((name, np.broadcast_to(np.zeros((), np.int64 if name.endswith(
        "num_batches_tracked") else np.float32), shape)) for name, shape in shapes.items())
    assert len(state) == 320
    assert parameter_count(state) == (25_557_032, 161)


# ---------------------------------------------------------------- command line

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinyrrn.weights", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_convert_cli_drops_fc(tmp_path, torch):
    net = torch.nn.Sequential(OrderedDict(conv=torch.nn.Conv2d(3, 4, 3), fc=torch.nn.Linear(4, 10)))
    source = torch_save({"state_dict": net.state_dict()}, tmp_path / "net.pth", "legacy")
    result = run_cli("convert", source, tmp_path / "full.npz")
    assert result.returncode == 0, result.stderr
    assert_same(read_weights(tmp_path / "full.npz"), as_numpy(net.state_dict()))
    result = run_cli("convert", source, tmp_path / "ft.npz", "--num-classes", 101)
    assert result.returncode == 0, result.stderr
    assert "fc.weight [10, 4]" in result.stdout and "101 classes" in result.stdout
    assert list(read_weights(tmp_path / "ft.npz")) == ["conv.weight", "conv.bias"]


def test_convert_function_returns_state(tmp_path, capsys):
    save_npz(StandInModel(), tmp_path / "in.npz")
    state = convert(tmp_path / "in.npz", tmp_path / "out.npz", num_classes=5)
    assert "fc.weight" not in state and "fc.bias" not in state
    assert_same(read_weights(tmp_path / "out.npz"), state)
    assert "dropped fc.weight [10, 4], fc.bias [10]" in capsys.readouterr().out


@pytest.mark.parametrize("damage, says", [("nan", "conv.weight holds 1 NaN or infinite value(s); refusing to convert it"),
                                          ("complex", "conv.weight is a tensor of complex64, not of real "
                                                      "floating-point numbers")])
def test_convert_refuses_weights_no_model_could_load_and_writes_nothing(tmp_path, capsys, damage, says):
    """It wrote them: the damage showed only when the converted file was loaded, under another name."""
    arrays = dict(StandInModel().arrays)
    if damage == "nan":
        arrays["conv.weight"] = arrays["conv.weight"].copy()
        arrays["conv.weight"].flat[0] = np.nan
    else:
        arrays["conv.weight"] = arrays["conv.weight"].astype(np.complex64)
    np.savez(tmp_path / "in.npz", **arrays)
    assert main(["convert", str(tmp_path / "in.npz"), str(tmp_path / "out.npz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'in.npz'}: ") and says in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


def test_convert_drops_a_damaged_classifier_it_was_asked_to_drop(tmp_path, capsys):
    arrays = dict(StandInModel().arrays)
    arrays["fc.weight"] = np.full_like(arrays["fc.weight"], np.nan)
    np.savez(tmp_path / "in.npz", **arrays)
    assert main(["convert", str(tmp_path / "in.npz"), str(tmp_path / "out.npz"), "--num-classes", "5"]) == 0
    assert "fc.weight" not in read_weights(tmp_path / "out.npz")


def test_info_cli(tmp_path):
    save_npz(StandInModel(), tmp_path / "w.npz")
    result = run_cli("info", tmp_path / "w.npz")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(StandInModel().arrays)
    assert "bn.num_batches_tracked  []" in result.stdout
    # conv 108 + bn.weight 4 + fc 40 + 10; running_mean and the counter are not parameters
    assert lines[-1] == "6 entries, 162 parameters in 4 parameter tensors"


def test_info_of_a_tinyrrn_checkpoint_counts_its_model_only(tmp_path, capsys):
    from tinyrrn import checkpoint
    model = {f"model/{name}": value for name, value in StandInModel().arrays.items()}
    optim = {"optim/0/exp_avg": np.zeros((4, 3, 3, 3), np.float32), "optim/0/exp_avg_sq": np.zeros(4, np.float32)}
    checkpoint.save(tmp_path / "best.npz", {**model, **optim}, {"epoch": 1})
    for given in ("best.npz", ""):  # the run directory: 'Is a directory' (convert took it)
        assert main(["info", str(tmp_path / given)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines[:-1]] == list(StandInModel().arrays)
        assert lines[-1] == ("6 entries, 162 parameters in 4 parameter tensors (a tinyrrn checkpoint: its model's "
                             "entries; the optimiser's state beside them, 2 arrays, is not counted)")


def test_convert_of_a_tinyrrn_checkpoint_or_run_writes_its_backbone(tmp_path, capsys):
    """It copied the whole checkpoint (training state counted as parameters, the output a checkpoint again) and
    said 'dropped nothing (no fc in file)' beside the model's fc; a run directory was 'Is a directory'."""
    from tinyrrn import checkpoint
    model = {f"model/backbone.{name}": value for name, value in StandInModel().arrays.items()}
    model["model/skips.0.weight"] = np.ones((4, 4, 1, 1), np.float32)
    optim = {"optim/0/exp_avg": np.zeros((4, 3, 3, 3), np.float32)}
    (tmp_path / "run").mkdir()
    checkpoint.save(tmp_path / "run" / "checkpoint.npz", {**model, **optim}, {"epoch": 1})
    assert main(["convert", str(tmp_path / "run"), str(tmp_path / "w.npz"), "--num-classes", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{tmp_path / 'run' / 'checkpoint.npz'} -> {tmp_path / 'w.npz'}: 4 entries, 112 parameters in 2 "
                   "tensors (a tinyrrn checkpoint: its model's backbone; 1 tensor(s) of its temporal skips and its "
                   "training state are left out)",
                   "dropped fc.weight [10, 4], fc.bias [10]; fc will be initialised afresh for 5 classes"]
    expected = OrderedDict((k, v) for k, v in StandInModel().arrays.items() if not k.startswith("fc."))
    assert_same(read_weights(tmp_path / "w.npz"), expected)


def test_convert_into_a_folder_names_the_folder(tmp_path, capsys):
    save_npz(StandInModel(), tmp_path / "in.npz")
    (tmp_path / "out").mkdir()
    assert main(["convert", str(tmp_path / "in.npz"), str(tmp_path / "out")]) == 2  # a folder given: a usage error
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'out'}: Is a directory"
    assert sorted(os.listdir(tmp_path)) == ["in.npz", "out"] and os.listdir(tmp_path / "out") == []


def test_convert_under_a_file_names_the_file_in_the_way(tmp_path, capsys):
    """An output path under a file (in.npz/out.npz) said only 'File exists'."""
    save_npz(StandInModel(), tmp_path / "in.npz")
    for out in (tmp_path / "in.npz" / "out.npz", tmp_path / "in.npz" / "deeper" / "out.npz"):
        assert main(["convert", str(tmp_path / "in.npz"), str(out)]) == 2
        assert capsys.readouterr().err == f"error: {out}: not in a folder: {tmp_path / 'in.npz'} is a file\n"
    assert os.listdir(tmp_path) == ["in.npz"]


def test_convert_never_replaces_a_device_or_pipe(tmp_path, capsys):
    """The output was written beside and renamed over the path: as root, convert to /dev/full replaced the device
    by a regular file (and to a named pipe, the pipe), where a user meant to write into it."""
    save_npz(StandInModel(), tmp_path / "in.npz")
    os.mkfifo(tmp_path / "pipe")
    assert main(["convert", str(tmp_path / "in.npz"), str(tmp_path / "pipe")]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'pipe'}: not a regular file (a device, pipe or "
                                              "socket), so it is not replaced")
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode) and sorted(os.listdir(tmp_path)) == ["in.npz", "pipe"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_pth_that_is_no_state_dict_says_which_entry_is_not_a_tensor(tmp_path, fmt, torch):
    state = OrderedDict((f"layer{i}.weight", torch.zeros(2)) for i in range(98))
    state["step"] = 5
    with pytest.raises(WeightsError, match=r"mixed.pth: no state_dict \(mapping of names to tensors\) found: 98 of its 99 "
                                           r"entries are tensors, but 'step' is an int$"):
        read_pth(torch_save(state, tmp_path / "mixed.pth", fmt))
    with pytest.raises(WeightsError, match=r"found under 'state_dict': 98 of its 99 entries are tensors, but 'step'"):
        read_pth(torch_save({"state_dict": state, "epoch": 3}, tmp_path / "nested.pth", fmt))
    with pytest.raises(WeightsError, match=r"found: its keys are 'epoch', 'args'$"):
        read_pth(torch_save({"epoch": 3, "args": "x"}, tmp_path / "meta.pth", fmt))
    with pytest.raises(WeightsError, match=r"bare.pth: holds a single tensor, not a state_dict \(a mapping of names "
                                           r"to tensors\)$"):
        read_pth(torch_save(torch.zeros(3), tmp_path / "bare.pth", fmt))


def test_cli_errors_and_help(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(os.urandom(100))
    result = run_cli("info", path)
    assert result.returncode == 1 and f"error: {path}" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("convert", "--help")
    assert result.returncode == 0 and "--num-classes" in result.stdout


# ---------------------------------------------------------------- backbone weights of a job

def test_backbone_weights_without_num_batches_tracked_load(tmp_path):
    """State dicts saved before PyTorch 0.4.1 have no num_batches_tracked: kept as it is, as
    nn.Module.load_state_dict keeps it; every other tensor is still required."""
    from tinyrrn.builders import load_backbone_weights
    from tinyrrn.models import resnet_small
    source = resnet_small(num_classes=4).state_dict()
    old = OrderedDict((k, v) for k, v in source.items() if not k.endswith(".num_batches_tracked"))
    assert len(old) < len(source)
    save_npz(old, tmp_path / "old.npz")
    backbone = resnet_small(num_classes=4)
    before = {k: host(v) for k, v in backbone.state_dict().items()}
    load_backbone_weights(backbone, str(tmp_path / "old.npz"))
    loaded = backbone.state_dict()
    for key, value in source.items():
        expected = before[key] if key.endswith(".num_batches_tracked") else value
        np.testing.assert_array_equal(host(loaded[key]), host(expected), err_msg=key)
    del old["layer1.0.bn1.running_mean"]
    save_npz(old, tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"missing.npz: backbone tensors missing \(1\): layer1.0.bn1.running_mean$"):
        load_backbone_weights(backbone, str(tmp_path / "missing.npz"))


def member_not_npy(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conv.weight.npy", b"garbage")


@pytest.mark.parametrize("make, says", [
    (member_not_npy, "member conv.weight.npy is not a NumPy array (.npy format); not a weights file"),
    (lambda path: np.savez(path), "holds no tensors (an empty .npz)"),
], ids=["member not npy", "empty npz"])
@pytest.mark.parametrize("command", ["info", "convert"])
def test_an_odd_npz_is_one_error_line_naming_the_file_and_member(tmp_path, capsys, make, says, command):
    path = tmp_path / "odd.npz"
    make(path)
    assert main([command, str(path), *([str(tmp_path / "out.npz")] if command == "convert" else [])]) == 1
    assert capsys.readouterr().err.strip() == f"error: {path}: {says}"
    assert not (tmp_path / "out.npz").exists()


def test_convert_never_replaces_its_input_nor_a_tinyrrn_checkpoint(tmp_path, capsys):
    from tinyrrn import checkpoint
    save_npz(StandInModel(), tmp_path / "in.npz")
    os.symlink(tmp_path / "in.npz", tmp_path / "link.npz")
    checkpoint.save(tmp_path / "best.npz", StandInModel().arrays, {"epoch": 1})
    before = {name: (tmp_path / name).read_bytes() for name in ("in.npz", "best.npz")}
    for output, says in (("in.npz", "is the input file"), ("link.npz", "is the input file"),
                         ("best.npz", "a tinyrrn checkpoint")):
        assert main(["convert", str(tmp_path / "in.npz"), str(tmp_path / output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {tmp_path / output}: {says}") and len(err.splitlines()) == 1, err
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_tensors_and_parameters_with_python_attributes_are_read(tmp_path, fmt, torch):
    """A tensor or Parameter that carries Python attributes is pickled by torch through _rebuild_from_type_v2 or
    _rebuild_parameter_with_state, which torch.load(weights_only=True) reads: tinyrrn refused such a file as an
    unsafe global. The attributes are dropped, as a state_dict's values carry none."""
    tagged, parameter = torch.randn(2, 3), torch.nn.Parameter(torch.randn(4))
    tagged.note, parameter.shard = "calibrated", {"axis": 0}
    path = torch_save(OrderedDict([("fc.weight", tagged), ("fc.bias", parameter)]), tmp_path / "w.pth", fmt)
    expected = torch.load(path, weights_only=True)
    assert_same(read_weights(path), as_numpy(expected))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", ["uint16", "uint64", "float8_e5m2"])
def test_tensors_of_dtypes_without_a_storage_class_are_named_by_dtype(tmp_path, fmt, dtype, torch):
    """torch saves uint16-64 and float8 tensors through _rebuild_tensor_v3 and an untyped storage: such a file was
    refused as asking for an unsafe global (that rebuild function), where it is a weights file of a dtype tinyrrn
    does not read, as a complex one is said to be."""
    path = torch_save({"fc.weight": torch.zeros(2, 2).to(getattr(torch, dtype))}, tmp_path / "w.pth", fmt)
    with pytest.raises(WeightsError, match=rf"w\.pth: holds tensors of torch\.{dtype}, a dtype tinyrrn does not read") \
            as info:
        read_weights(path)
    assert not isinstance(info.value, UnsafePickleError)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", ["torch.float32", "torch.Size([3, 224, 224])", "torch.device('cuda', 0)", "{'a', 'b'}",
                                   "b'\\x00\\xff'", "1 + 2j", "bytearray(b'xy')", "Counter('aab')"])
def test_a_checkpoint_holding_values_torch_reads_safely_gives_its_state_dict(tmp_path, fmt, value, torch):
    """Beside its state_dict a checkpoint may hold values torch.load(weights_only=True) reads: a dtype, a Size, a
    device, a set, bytes (pickled through _codecs.encode), a complex number, a bytearray, a Counter. tinyrrn
    refused each such file as asking for an unsafe global."""
    value = eval(value, {"torch": torch, "Counter": Counter})
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    path = torch_save({"model": net.state_dict(), "extra": value}, tmp_path / "ck.pth", fmt)
    assert torch.load(path, weights_only=True)["extra"] == value
    assert_same(read_weights(path), as_numpy(net.state_dict()))


@pytest.mark.parametrize("payload", [b"c__builtin__\nbytearray\n(I1000000000000\ntR.", b"c_codecs\nencode\n(Vx\nVzlib\ntR."])
def test_the_values_read_beside_tensors_allocate_or_run_nothing_else(tmp_path, payload):
    """bytearray and _codecs.encode take only what a pickle of bytes gives them: not a size of a terabyte to
    allocate, not another codec."""
    with pytest.raises(WeightsError, match="w.pth"):
        read_pth(legacy_file(tmp_path / "w.pth", payload))


def test_a_legacy_file_saved_from_a_gpu_is_read(tmp_path):
    """Files torch saved from a GPU before version 1.6 name their storages torch.cuda.FloatStorage (location
    'cuda:0'), which torch.load(map_location='cpu', weights_only=True) reads: tinyrrn refused them as asking for an
    unsafe global."""
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n("
              b"(Vstorage\nctorch.cuda\nFloatStorage\nV1\nVcuda:0\nI6\nNtQI1\n(I2\nI2\nt(I2\nI1\ntI00\n"
              b"ccollections\nOrderedDict\n)RtR")
    path = legacy_file(tmp_path / "gpu.pth", b"ccollections\nOrderedDict\n)R(Vw\n" + tensor + b"u.",
                       storages={"1": np.arange(6, dtype="<f4")})
    assert_same(read_pth(path), {"w": np.array([[1, 2], [3, 4]], np.float32)})


def torch_module_class(torch):
    """A module class of the learner's own (pickled by its module's name, not torch's), with torch layers inside."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)

    Net.__module__, Net.__qualname__ = __name__, "Net"
    globals()["Net"] = Net  # where pickle looks the class up
    return Net


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("whole", ["sequential", "own class", "inside a checkpoint"])
def test_a_whole_pickled_model_is_refused_as_such(tmp_path, capsys, fmt, whole, torch):
    """torch.save(model) pickles the Module itself (its class, its children): tinyrrn refused it as asking for an
    unsafe global, the file's first class, which names neither what the file is nor what to save instead."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1)) if whole == "sequential" else torch_module_class(torch)()
    path = torch_save({"model": model, "epoch": 3} if whole == "inside a checkpoint" else model, tmp_path / "m.pth", fmt)
    with pytest.raises(UnsafePickleError, match=r"m\.pth: holds a whole pickled model .*torch\.save\(model\)"
                                                r".*save model\.state_dict\(\)"):
        read_weights(path)
    assert main(["convert", str(path), str(tmp_path / "m.npz")]) == 1
    assert "holds a whole pickled model" in capsys.readouterr().err and not (tmp_path / "m.npz").exists()


def test_a_torchscript_archive_is_refused_as_such(tmp_path, torch):
    """torch.jit.save writes a zip with a data.pkl of TorchScript classes (__torch__....): it was refused as asking
    for an unsafe global; torch.load(weights_only=True) refuses it too, as a TorchScript archive."""
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1))), path)
    with pytest.raises(WeightsError, match=r"scripted\.pt: a TorchScript archive \(torch\.jit\.save\).*state_dict"):
        read_weights(path)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind, make", [("quantized", "torch.quantize_per_tensor(torch.randn(3), 0.1, 0, torch.qint8)"),
                                        ("sparse", "torch.randn(3, 3).to_sparse()"),
                                        ("sparse", "torch.randn(3, 3).to_sparse_csr()"),
                                        ("meta", "torch.empty(3, device='meta')")])
def test_tensors_of_a_kind_not_read_are_named_as_such(tmp_path, fmt, kind, make, torch):
    """Quantized, sparse and meta tensors (torch rebuilds them by _rebuild_qtensor, _rebuild_sparse_tensor,
    _rebuild_meta_tensor_no_storage, which torch.load(weights_only=True) reads) were refused as unsafe globals: the
    file is safe, its tensors of a kind tinyrrn does not read."""
    path = torch_save({"fc.weight": eval(make, {"torch": torch})}, tmp_path / "w.pth", fmt)
    torch.load(path, weights_only=True)
    with pytest.raises(WeightsError, match=rf"w\.pth: holds {kind} tensors, which tinyrrn does not read") as info:
        read_weights(path)
    assert not isinstance(info.value, UnsafePickleError)


def test_a_load_into_a_model_that_holds_the_files_model_names_the_submodule_to_load_into(tmp_path):
    """A torchvision ResNet's state_dict loaded into the RRN (strict=False) was refused listing both sets of names,
    with no word that they are those of its backbone, which it is loaded into."""
    from tinyrrn.models import RecurrentResNet, resnet_small
    save_npz(resnet_small(num_classes=4), tmp_path / "resnet.npz")
    model = RecurrentResNet(resnet_small(num_classes=4), "identity", context=2)
    with pytest.raises(WeightsError, match=r"resnet.npz: none of its \d+ tensors is one of RecurrentResNet's.*they are "
                                           r"those of its backbone: load it into model.backbone"):
        load_npz(model, tmp_path / "resnet.npz", strict=False)
    load_npz(model.backbone, tmp_path / "resnet.npz")


@pytest.mark.parametrize("strict", [True, False])
def test_a_load_of_a_larger_models_file_into_its_submodule_names_the_prefix(tmp_path, strict):
    """An RRN's weights file (backbone.*, temporal.*) loaded into a plain ResNet was refused listing every name of
    both, with no word that the file's backbone.* tensors are this ResNet's under a prefix."""
    from tinyrrn.models import RecurrentResNet, resnet_small
    save_npz(RecurrentResNet(resnet_small(num_classes=4), "linear", context=2), tmp_path / "rrn.npz")
    model = resnet_small(num_classes=4)
    before = {k: host(v).copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"(?s)rrn.npz: .*they are under 'backbone.' in the file: this ResNet is "
                                         r"the backbone of the file's model"):
        load_npz(model, tmp_path / "rrn.npz", strict=strict)
    assert all(np.array_equal(before[k], host(v)) for k, v in model.state_dict().items())


def rewritten(source, path, folder=None, byteorder=None):
    """A copy of the zip-format .pth ``source`` at ``path``, its members moved into ``folder`` and/or its byteorder
    record replaced by the bytes ``byteorder``."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as archive:
        for name in original.namelist():
            data = original.read(name)
            if byteorder is not None and name.endswith("/byteorder"):
                data = byteorder
            archive.writestr(name if folder is None else f"{folder}/{name.split('/', 1)[1]}", data)
    return path


@pytest.mark.parametrize("folder", [None, "archive", "another name"])
@pytest.mark.parametrize("byteorder", [b"little", b"big", b"middle", b"big\n", b""])
def test_a_pth_byteorder_record_is_read_as_torch_reads_it(tmp_path, folder, byteorder, torch):
    """The storages' byte order is 'little' or 'big' (the bytes then read big-endian, as torch.load reads them), in
    whatever folder the archive holds; any other record is refused, as torch's ValueError refuses it: tinyrrn read
    every record but 'little' as big-endian, giving numbers of nothing in silence."""
    tensors = OrderedDict(weight=torch.arange(6, dtype=torch.float32).reshape(2, 3), count=torch.tensor(7))
    path = rewritten(torch_save(tensors, tmp_path / "mymodel.pth", "zip"), tmp_path / "w.pth", folder, byteorder)
    try:
        expected = torch.load(path)
    except ValueError as error:
        assert "Unknown endianness" in str(error)
        with pytest.raises(WeightsError, match=rf"w.pth: its byteorder record is {re.escape(repr(byteorder.decode()))}, "
                                               r"neither 'little' nor 'big'"):
            read_pth(path)
        return
    assert_same(read_pth(path), as_numpy(expected))


@pytest.mark.parametrize("change", [lambda data: data[:-4], lambda data: data + bytes(8)])
def test_a_pth_storage_of_another_size_than_its_pickle_gives_is_refused_as_torch_refuses_it(tmp_path, change, torch):
    """A zip .pth storage member longer than the element count its pickle records was read in silence (its first
    bytes taken), and one shorter was named only where a tensor reached past its end; torch.load refuses both."""
    path = torch_save(OrderedDict(weight=torch.arange(6, dtype=torch.float32)), tmp_path / "w.pth", "zip")
    with zipfile.ZipFile(path) as original:
        members = {name: original.read(name) for name in original.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, change(data) if name.endswith("/data/0") else data)
    with pytest.raises(RuntimeError, match="record size"):
        torch.load(path)
    with pytest.raises(WeightsError, match=r"w.pth: storage '0' holds \d+ bytes where the pickle gives it 6 elements "
                                           r"of FloatStorage, 24 bytes"):
        read_pth(path)
