"""ResNet family: torchvision names and sizes, features(), and parity with torch on converted weights.

The parity tests build the same network in torch from torch.nn modules with
torchvision's module names (torchvision itself is not needed), give it random
weights and non-trivial batch-norm statistics, save it with ``torch.save``,
convert the ``.pth`` with tinyrrn (no torch involved on that side), load the
``.npz`` and compare outputs, losses, gradients and running statistics.
They are skipped when torch is not installed.

Tolerances. float32: eval logits rtol 1e-4 / atol 1e-4 (measured max abs
difference 2.4e-7); train-mode loss rtol 1e-5 (measured 3.4e-7); fc gradients
rtol 1e-3 / atol 1e-5 * max|grad| (measured 1e-5 of max); conv and BN gradients
relative Frobenius error < 2e-2 for ResNet-50 and < 1e-3 for ResNet-18 (see
GRADIENT_RTOL; measured <= 9e-4 and 5e-6); running statistics rtol 1e-4 /
atol 1e-5 (measured 1.2e-6). float64 (ResNet-50, both stride placements):
every gradient rtol 1e-8 / atol 1e-10 * max|grad| (measured 9e-14 of max).
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyrrn
from devices import host, on_device
from tinyrrn import Tensor
from tinyrrn import functional as F
from tinyrrn.models import ARCHITECTURES, BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet_small
from tinyrrn.models.resnet import WEIGHTS_LAYOUTS
from tinyrrn.weights import convert, load_npz

ROOT = Path(__file__).resolve().parents[1]
RESNET50_PARAMETERS = 25_557_032


# ---------------------------------------------------------------- a torch reference with torchvision's names

def torch_resnet(depth=50, num_classes=1000, stride_in_1x1=False, caffe_pool=False, layers=None,
                 widths=(64, 128, 256, 512), groups=1, width_per_group=64, dilate=(False, False, False)):
    """torchvision's ResNet-18/34/50 rebuilt from torch.nn (same module names and parameter order);
    ``stride_in_1x1`` and ``caffe_pool`` (pool1 without padding, ceil rounding) give MSRA's layout; ``layers``
    (unit counts), ``widths``, ``groups``, ``width_per_group`` and ``dilate`` (replace_stride_with_dilation) as
    torchvision's ResNet takes them."""
    import torch
    nn = torch.nn

    class BasicBlockT(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class BottleneckT(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1):
            super().__init__()
            s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
            width = int(planes * (width_per_group / 64.0)) * groups
            self.conv1 = nn.Conv2d(inplanes, width, 1, s1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, s3, dilation, groups=groups, dilation=dilation, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNetT(nn.Module):
        def __init__(self, block, layers):
            super().__init__()
            self.inplanes, self.dilation = widths[0], 1
            self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 0, ceil_mode=True) if caffe_pool else nn.MaxPool2d(3, 2, 1)
            for i, (count, planes) in enumerate(zip(layers, widths)):
                setattr(self, f"layer{i + 1}", self._make_layer(block, planes, count, 1 if i == 0 else 2,
                                                                i > 0 and dilate[i - 1]))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(widths[3] * block.expansion, num_classes)

        def _make_layer(self, block, planes, count, stride, dilated=False):
            previous_dilation = self.dilation
            if dilated:
                self.dilation, stride = self.dilation * stride, 1
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                           nn.BatchNorm2d(planes * block.expansion))
            extra = {"dilation": previous_dilation} if block is BottleneckT else {}
            units = [block(self.inplanes, planes, stride, downsample, **extra)]
            self.inplanes = planes * block.expansion
            units += [block(self.inplanes, planes, **({"dilation": self.dilation} if extra else {}))
                      for _ in range(count - 1)]
            return nn.Sequential(*units)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    block, layers = {18: (BasicBlockT, (2, 2, 2, 2)), 34: (BasicBlockT, (3, 4, 6, 3)),
                     50: (BottleneckT, (3, 4, 6, 3))}[depth] if layers is None else \
        ((BasicBlockT if depth < 50 else BottleneckT), layers)
    return ResNetT(block, layers)


def randomise(torch, model, seed=0):
    """Random conv/fc weights (torch's defaults) and random BN affine parameters and running statistics."""
    torch.manual_seed(seed)
    model.apply(lambda m: m.reset_parameters() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) else None)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                # The last BN of each residual branch a little smaller keeps 16-deep activations O(1).
                scale = 0.3 if name.endswith(("bn3", "bn2")) and ".0." not in name else 1.0
                m.weight.uniform_(0.5 * scale, 1.5 * scale)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(int(torch.randint(0, 1000, ())))
    return model


def tiny_for(depth, caffe=False, num_classes=1000):
    if depth == 50:
        return resnet50(num_classes, **WEIGHTS_LAYOUTS["caffe" if caffe else "torchvision"]["model"])
    return {18: resnet18, 34: resnet34}[depth](num_classes)


# resnet50-caffe: MSRA's layout (stride in the first 1x1 conv, Caffe's pool1: at 64x64 its ceil rounding
# gives pool1 16x16 where floor rounding would give 15x15)
VARIANTS = {"resnet50": (50, False), "resnet50-caffe": (50, True), "resnet18": (18, False)}


@pytest.fixture(scope="module", params=list(VARIANTS))
def pair(request, tmp_path_factory, torch):
    """(torch model, its original state, tinyrrn model, converted .npz path) for one variant."""
    torch.set_num_threads(1)  # robust on a shared 2-core machine; numpy keeps its own threads
    depth, caffe = VARIANTS[request.param]
    reference = randomise(torch, torch_resnet(depth, stride_in_1x1=caffe, caffe_pool=caffe))
    folder = tmp_path_factory.mktemp(request.param)
    torch.save(reference.state_dict(), folder / "model.pth")
    convert(folder / "model.pth", folder / "model.npz")
    original = {k: v.clone() for k, v in reference.state_dict().items()}
    return request.param, reference, original, tiny_for(depth, caffe), folder / "model.npz"


def fresh(pair):
    """Both models with the saved weights again (a previous test may have trained them)."""
    _, reference, original, ours, path = pair
    reference.load_state_dict(original)
    load_npz(ours, path)
    return reference, ours


def batch(seed=0, n=2, size=64, classes=1000):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, size, size)).astype(np.float32), rng.integers(0, classes, n)


def max_differences(ours, theirs):
    """(max abs difference, max abs difference / max |theirs|)."""
    diff = float(np.abs(ours - theirs).max())
    return diff, diff / float(np.abs(theirs).max())


def test_eval_logits_match_torch(pair, torch):
    reference, ours = fresh(pair)
    x, _ = batch()
    reference.eval()
    ours.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with tinyrrn.no_grad():
        logits = host(ours(Tensor(on_device(x))))
    assert logits.dtype == np.float32 and logits.shape == (2, 1000)
    assert np.abs(expected).max() > 0.1  # a real signal, not everything near zero
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


# Gradients compared in float32: the stem, a middle conv, a projection, a late BN and the classifier.
GRADIENTS = {"resnet50": ("conv1.weight", "layer3.2.conv2.weight", "layer2.0.downsample.0.weight",
                          "layer4.2.bn3.weight", "fc.weight", "fc.bias"),
             "resnet18": ("conv1.weight", "layer3.1.conv2.weight", "layer2.0.downsample.0.weight",
                          "layer4.1.bn2.weight", "fc.weight", "fc.bias")}
# Relative Frobenius error allowed for float32 train-mode gradients below the classifier. Train-mode
# float32 gradients of a 50-layer BN network are chaotic at the 1e-2 level: a ReLU or max-pool decision
# that flips under rounding is amplified by batch statistics over 8 values per channel; torch's own
# float32 gradients differ from its float64 ones by up to 2e-2 here. Exactness is checked in float64.
GRADIENT_RTOL = {"resnet50": 2e-2, "resnet50-caffe": 2e-2, "resnet18": 1e-3}


def relative_error(ours, theirs):
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


def train_step(reference, ours, x, target):
    """One forward/backward in train mode on both; returns (our loss, torch loss)."""
    import torch
    reference.train()
    ours.train()
    reference.zero_grad()
    ours.zero_grad()
    loss_t = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(target))
    loss_t.backward()
    loss = F.cross_entropy(ours(Tensor(on_device(x))), on_device(target))
    loss.backward()
    return loss, loss_t


def test_train_step_matches_torch(pair):
    """Train mode, float32: loss, gradients and the updated batch-norm running statistics agree with torch."""
    name = pair[0]
    reference, ours = fresh(pair)
    x, target = batch(1)
    loss, loss_t = train_step(reference, ours, x, target)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-5)

    theirs, mine = dict(reference.named_parameters()), dict(ours.named_parameters())
    for key in GRADIENTS["resnet18" if name == "resnet18" else "resnet50"]:
        expected, got = theirs[key].grad.numpy(), host(mine[key].grad)
        assert got.shape == expected.shape and got.dtype == np.float32, key
        if key.startswith("fc."):  # right below the loss: no chaos, plain float32 agreement
            np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max(), err_msg=key)
        else:
            assert relative_error(got, expected) < GRADIENT_RTOL[name], key

    state = ours.state_dict()
    for key, value in reference.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            np.testing.assert_allclose(host(state[key]), value.numpy(), rtol=1e-4, atol=1e-5, err_msg=key)
        elif key.endswith("num_batches_tracked"):
            assert int(state[key]) == int(value) == int(pair[2][key]) + 1, key


def to_float64(model):
    """Every floating parameter and buffer of a tinyrrn model as float64 (astype keeps the memory layout)."""
    for m in model.modules():
        for p in m.parameters(recurse=False):
            p.data = p.data.astype(np.float64)
        for key, b in m.named_buffers(recurse=False):
            if b.dtype.kind == "f":
                m._buffers[key] = b.astype(np.float64)
    return model


@pytest.mark.parametrize("pair", ["resnet50", "resnet50-caffe"], indirect=True)  # ResNet-18 agrees in float32
def test_train_step_matches_torch_in_float64(pair):
    """Without float32 rounding the two implementations agree to ~1e-13 on every gradient."""
    reference, ours = fresh(pair)
    reference.double()
    to_float64(ours)
    assert ours.conv1.weight.data.transpose(0, 2, 3, 1).flags.c_contiguous
    try:
        x, target = batch(2, size=48)
        loss, loss_t = train_step(reference, ours, x.astype(np.float64), target)
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-10)
        theirs = dict(reference.named_parameters())
        for key, p in ours.named_parameters():
            expected = theirs[key].grad.numpy()
            np.testing.assert_allclose(host(p.grad), expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max(),
                                       err_msg=key)
        state = ours.state_dict()
        for key, value in reference.state_dict().items():
            np.testing.assert_allclose(host(state[key]), value.numpy(), rtol=1e-10, err_msg=key)
    finally:
        reference.float()


@pytest.fixture(scope="module")
def r50():
    """One torchvision-layout ResNet-50 shared by the tests that do not change its weights."""
    return resnet50()


def test_state_dict_keys_order_and_shapes_match_torch(r50, torch):
    for depth in (18, 34, 50):
        reference = torch_resnet(depth)
        expected = reference.state_dict()
        model = r50 if depth == 50 else tiny_for(depth)
        ours = model.state_dict()
        assert list(ours) == list(expected), depth
        for key, value in expected.items():
            assert tuple(ours[key].shape) == tuple(value.shape), key
            assert ours[key].dtype == {torch.float32: np.float32, torch.int64: np.int64}[value.dtype], key
        assert model.num_parameters() == sum(p.numel() for p in reference.parameters())
    assert len(expected) == 320


@pytest.mark.parametrize("pair", ["resnet50"], indirect=True)
def test_info_cli_on_converted_file(pair):
    name, _, _, _, path = pair
    result = subprocess.run([sys.executable, "-m", "tinyrrn.weights", "info", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "320 entries, 25,557,032 parameters in 161 parameter tensors"
    assert lines[0].split()[:2] == ["conv1.weight", "[64,"]
    assert any(line.split()[0] == "layer3.2.conv2.weight" and "[256, 256, 3, 3]" in line for line in lines)


# ---------------------------------------------------------------- without torch

def test_resnet50_size_and_names(r50):
    model = r50
    state = model.state_dict()
    assert len(state) == 320
    assert model.num_parameters() == RESNET50_PARAMETERS
    assert sum(1 for k in state if not k.endswith("num_batches_tracked")) == 267
    assert tuple(state["conv1.weight"].shape) == (64, 3, 7, 7)
    assert tuple(state["fc.weight"].shape) == (1000, 2048)
    assert tuple(state["layer4.0.downsample.0.weight"].shape) == (2048, 1024, 1, 1)
    assert state["layer1.0.bn1.num_batches_tracked"].dtype == np.int64
    assert not any(k.endswith(".bias") and "conv" in k for k in state)
    assert resnet18(101).fc.weight.shape == (101, 512)
    assert resnet18().num_parameters() == 11_689_512
    assert resnet34().num_parameters() == 21_797_672
    assert set(ARCHITECTURES) == {"resnet18", "resnet34", "resnet50", "resnet_small"}


def test_stride_placement(r50):
    def strides(model):
        return {k: (m.stride, m.weight.shape[2]) for k, m in model.named_modules()
                if isinstance(m, tinyrrn.nn.Conv2d) and k.startswith("layer2.0.")}

    caffe_model = resnet50(stride_in_1x1=True)
    v15, caffe = strides(r50), strides(caffe_model)
    assert v15["layer2.0.conv1"] == ((1, 1), 1) and v15["layer2.0.conv2"] == ((2, 2), 3)  # PyTorch's pairs
    assert caffe["layer2.0.conv1"] == ((2, 2), 1) and caffe["layer2.0.conv2"] == ((1, 1), 3)
    assert v15["layer2.0.downsample.0"] == caffe["layer2.0.downsample.0"] == ((2, 2), 1)
    assert list(r50.state_dict()) == list(caffe_model.state_dict())
    with pytest.raises(ValueError, match="stride_in_1x1 applies to Bottleneck units .*BasicBlock has no 1x1 conv"):
        resnet18(stride_in_1x1=True)


def test_caffe_layout_loads_msra_weights_end_to_end(tmp_path):
    """--weights-layout caffe: a state_dict in torchvision's names with MSRA's layout, built, loaded, run."""
    from tinyrrn import builders, config as configuration
    from tinyrrn.weights import save_npz
    msra = resnet50(101, **WEIGHTS_LAYOUTS["caffe"]["model"]).eval()
    save_npz(msra, tmp_path / "msra.npz")  # the file a user converts from a caffe-style ResNet-50
    config = configuration.fill_defaults({**configuration.DEFAULTS, "data": str(tmp_path), "arch": "resnet50",
                                          "weights": str(tmp_path / "msra.npz"), "weights_layout": "caffe",
                                          "skip": "none", "context": 1})
    assert config["normalize"] == "caffe"  # BGR 0-255 minus the mean, unless --normalize says otherwise
    model = builders.build_model(config, 101).eval()
    backbone = model.backbone
    assert backbone.layer2[0].conv1.stride == (2, 2) and backbone.layer2[0].conv2.stride == (1, 1)  # in the 1x1
    pool = backbone.maxpool
    assert (pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode) == (3, 2, 0, True)
    rng = np.random.default_rng(0)
    with tinyrrn.no_grad():
        image = on_device(rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
        assert backbone.stem(Tensor(image)).shape == (1, 64, 56, 56)
        x = on_device(rng.standard_normal((2, 3, 64, 64)).astype(np.float32))
        np.testing.assert_array_equal(host(backbone(Tensor(x))), host(msra(Tensor(x))))
    torchvision_layout = builders.build_model({**config, "weights_layout": "torchvision"}, 101).eval()
    assert torchvision_layout.backbone.maxpool.padding == 1  # the same file, another network: nothing detects it
    with pytest.raises(ValueError, match="--weights-layout caffe: MSRA/Caffe-layout weights exist for resnet50 only"):
        builders.build_backbone("resnet_small", 4, "caffe")


def test_caffe_pool1_matches_torch_at_224(torch):
    x = np.random.default_rng(1).standard_normal((1, 64, 112, 112)).astype(np.float32)
    ours = resnet50(**WEIGHTS_LAYOUTS["caffe"]["model"]).maxpool(Tensor(x)).data
    theirs = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 0, ceil_mode=True).numpy()
    assert ours.shape == theirs.shape == (1, 64, 56, 56)
    np.testing.assert_array_equal(ours, theirs)


def test_conv_weights_are_channels_last():
    model = resnet18()
    for name, p in model.named_parameters():
        if p.ndim == 4:
            assert p.data.transpose(0, 2, 3, 1).flags.c_contiguous, name


def test_resnet_small_forward_and_backward():
    model = resnet_small()
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)))
    logits = model(x)
    assert logits.shape == (3, 10) and logits.dtype == np.float32
    F.cross_entropy(logits, on_device([0, 1, 2])).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    assert model.num_features == 64
    wide = resnet_small(num_classes=5, widths=(4, 8, 8, 16), blocks=(1, 1, 1, 1))
    assert wide(x).shape == (3, 5) and wide.fc.weight.shape == (5, 16)
    assert [name for name, _ in model.units()] == ["layer1.0", "layer2.0", "layer3.0", "layer3.1",
                                                    "layer4.0", "layer4.1"]


def test_features_shapes_and_equal_running_layers_by_hand(r50):
    model = r50.eval()
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)))
    with tinyrrn.no_grad():
        h = model.stem(x)
        by_hand = {}
        for i in range(1, 5):
            h = getattr(model, f"layer{i}")(h)
            by_hand[f"layer{i}"] = host(h).mean(axis=(2, 3))
        for layer, channels in (("layer2", 512), ("layer3", 1024), ("layer4", 2048)):
            features = model.features(x, layer)
            assert features.shape == (2, channels), layer
            np.testing.assert_allclose(host(features), by_hand[layer], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(host(model.head(h)), host(model(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="layer5"):
        model.features(x, "layer5")


def test_features_default_is_layer4_and_differentiable():
    model = resnet_small()
    x = Tensor(on_device(np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)))
    features = model.features(x)
    assert features.shape == (2, 64)
    features.sum().backward()
    assert model.layer4[1].conv2.weight.grad is not None and model.fc.weight.grad is None


def test_block_extra_term_is_added_before_the_relu_and_a_given_shortcut_replaces_its_own():
    for block in (BasicBlock(8, 8), Bottleneck(32, 8)):
        block.eval()
        channels = 8 * block.expansion
        x = Tensor(on_device(np.random.default_rng(2).standard_normal((2, channels, 5, 5)).astype(np.float32)))
        extra = Tensor(on_device(np.full((2, channels, 5, 5), -1e3, dtype=np.float32)))
        assert np.all(host(block(x, extra)) == 0)
        np.testing.assert_allclose(host(block(x)), np.maximum(host(block.residual(x)) + host(x), 0), rtol=1e-6)
        given = Tensor(on_device(np.full((2, channels, 5, 5), 0.5, dtype=np.float32)))  # a precomputed S(x)
        np.testing.assert_allclose(host(block(x, shortcut=given)), np.maximum(host(block.residual(x)) + 0.5, 0),
                                   rtol=1e-6)


def test_resnet_is_a_module_with_torchvision_children():
    model = resnet18()
    assert isinstance(model, ResNet)
    assert [name for name, _ in model._modules.items()] == ["conv1", "bn1", "relu", "maxpool", "layer1",
                                                            "layer2", "layer3", "layer4", "avgpool", "fc"]


def _torchvision_forward(model, x):
    """torchvision's ResNet.forward and its blocks' forward, module by module (each ReLU module called)."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for _, unit in model.units():
        identity = x if unit.downsample is None else unit.downsample(x)
        out = unit.relu(unit.bn1(unit.conv1(x)))
        if isinstance(unit, Bottleneck):
            out = unit.relu(unit.bn2(unit.conv2(out)))
        last = (unit.conv3, unit.bn3) if isinstance(unit, Bottleneck) else (unit.conv2, unit.bn2)
        x = unit.relu(last[1](last[0](out)) + identity)
    return model.fc(F.flatten(model.avgpool(x), 1))


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
@pytest.mark.parametrize("training", [True, False])
def test_relu_modules_are_torchvisions_and_called_as_there(block, training):
    """The stem's and each unit's ReLU are children in torchvision's places, called as its forward calls them (once
    in the stem, two or three times in a unit) when hooked or replaced: the stem's was never called, so a hook on
    it never ran and a replacement was ignored in silence."""
    model = ResNet(block, (1, 1, 1, 1), 3, widths=(4, 4, 4, 4), small_stem=False).train(training)
    order = ["conv1", "bn1", "relu", "conv2", "bn2"] if block is BasicBlock else \
        ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "relu"]
    assert [name for name, _ in model.layer2[0].named_children()] == order + ["downsample"]
    calls = []
    for name, m in model.named_modules():
        if isinstance(m, tinyrrn.nn.ReLU):
            m.register_forward_hook(lambda module, args, output, name=name: calls.append(name))
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)))
    model(x)
    per_unit = 2 if block is BasicBlock else 3
    assert calls == ["relu"] + [f"layer{i}.0.relu" for i in range(1, 5) for _ in range(per_unit)]
    for name, m in list(model.named_modules()):
        if isinstance(m, tinyrrn.nn.ReLU):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, tinyrrn.nn.Sigmoid())
    with tinyrrn.no_grad():
        np.testing.assert_allclose(host(model(x)), host(_torchvision_forward(model, x)), rtol=1e-5, atol=1e-6)


def test_forward_calls_each_stage_as_torchvision_so_its_hooks_run():
    """torchvision's forward calls layer1..layer4 (Sequential modules): a forward hook on model.layer4 (feature
    extraction, Grad-CAM) sees its output; it never ran, the units being called one by one."""
    model = resnet_small(3).eval()
    seen = {}
    for i in range(1, 5):
        getattr(model, f"layer{i}").register_forward_hook(
            lambda module, args, output, i=i: seen.setdefault(i, []).append(output.shape))
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)))
    with tinyrrn.no_grad():
        model(x)
    assert sorted(seen) == [1, 2, 3, 4] and all(len(calls) == 1 for calls in seen.values())
    assert seen[4] == [(2, model.num_features, 2, 2)]


@pytest.mark.parametrize("blocks, widths", [((2, 2, 2), (8, 16, 32)), ((2, 2, 2, 2, 2), (8, 16, 32, 64)),
                                            ((1, 1, 1, 1), (8, 16, 32, 64, 128)), ((1, 0, 1, 1), (8, 16, 32, 64))])
def test_stage_counts_other_than_four_stages_of_units_are_refused(blocks, widths):
    """A ResNet has four stages (layer1..layer4) of one or more units each, as torchvision's: five counts built four
    stages, the fifth dropped in silence, and three built a network whose forward failed on its missing layer4."""
    with pytest.raises(ValueError, match="ResNet: .*four stages"):
        ResNet(BasicBlock, blocks, 3, widths=widths, small_stem=True)


@pytest.mark.parametrize("options", [{"groups": 2, "width_per_group": 32}, {"dilate": (False, True, True)},
                                     {"groups": 4, "width_per_group": 16, "dilate": (True, False, True)}])
@pytest.mark.parametrize("training", [False, True])
def test_torchvision_groups_width_and_dilation_match_torch(torch, options, training):
    """torchvision's ResNet arguments groups, width_per_group (ResNeXt) and replace_stride_with_dilation build the
    network torchvision's do, names and shapes too: tinyrrn refused them as unexpected keyword arguments."""
    torch.set_num_threads(1)  # torch's dilated convolutions crawl on a shared 2-core machine with more threads
    widths, layers = (4, 8, 8, 16), (1, 2, 1, 2)
    reference = randomise(torch, torch_resnet(50, 5, layers=layers, widths=widths, **options)).train(training)
    dilate = options.pop("dilate", None)
    ours = ResNet(Bottleneck, layers, 5, widths=widths, replace_stride_with_dilation=dilate, **options).train(training)
    state = reference.state_dict()
    shapes = [(k, tuple(v.shape)) for k, v in state.items()]
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == shapes
    ours.load_state_dict({k: on_device(v.numpy()) for k, v in state.items()})
    x = np.random.default_rng(3).standard_normal((2, 3, 27, 21)).astype(np.float32)
    expected = reference(torch.from_numpy(x))
    logits = ours(Tensor(on_device(x)))
    np.testing.assert_allclose(host(logits), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    if training:
        expected.sum().backward()
        logits.sum().backward()
        conv2 = dict(reference.named_parameters())["layer4.1.conv2.weight"].grad.numpy()
        assert relative_error(host(ours.layer4[1].conv2.weight.grad), conv2) < 1e-3  # float32: see GRADIENT_RTOL


def test_torchvision_arguments_zero_init_and_refusals():
    """zero_init_residual zeroes the last batch norm's weight of every residual branch (each unit starts as its
    shortcut), as torchvision's; BasicBlock refuses groups, width_per_group and dilation as torchvision's does, and
    a replace_stride_with_dilation not of three is refused saying so."""
    for model, last in ((ResNet(BasicBlock, (2, 1, 1, 1), 3, widths=(4, 4, 8, 8), zero_init_residual=True), "bn2"),
                        (ResNet(Bottleneck, (1, 1, 1, 1), 3, widths=(4, 4, 8, 8), zero_init_residual=True), "bn3")):
        for name, unit in model.units():
            assert np.all(host(getattr(unit, last).weight.data) == 0), name
            assert np.all(host(unit.bn1.weight.data) == 1), name
    assert np.all(host(resnet_small().layer1[0].bn2.weight.data) == 1)
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1 and base_width=64"):
        resnet18(groups=2)
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1 and base_width=64"):
        resnet34(width_per_group=32)
    with pytest.raises(NotImplementedError, match="Dilation > 1 not supported in BasicBlock"):
        resnet18(replace_stride_with_dilation=[False, False, True])
    with pytest.raises(ValueError, match="replace_stride_with_dilation should be None or a 3-element tuple"):
        resnet50(replace_stride_with_dilation=[False, True])
    defaults = ResNet(BasicBlock, (1, 1, 1, 1), 3, widths=(4, 4, 8, 8), norm_layer=tinyrrn.nn.BatchNorm2d,
                      replace_stride_with_dilation=(False,) * 3, groups=1, width_per_group=64)
    assert list(defaults.state_dict()) == list(ResNet(BasicBlock, (1, 1, 1, 1), 3, widths=(4, 4, 8, 8)).state_dict())


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
def test_norm_layer_builds_every_normalisation_as_torchvision_calls_it(block):
    """torchvision's norm_layer is any callable of the channel count (functools.partial(BatchNorm2d, ...), a
    subclass, FrozenBatchNorm2d): it makes the stem's, each unit's and each projection's norm, which the forward
    calls as torchvision's does. tinyrrn refused every norm_layer but BatchNorm2d itself."""
    class Counted(tinyrrn.nn.BatchNorm2d):
        calls = 0

        def forward(self, x):
            Counted.calls += 1
            return super().forward(x)

    made = []

    def norm_layer(channels):
        made.append(channels)
        return Counted(channels, eps=1e-3, momentum=0.5)

    model = ResNet(block, (1, 2, 1, 1), 3, widths=(4, 4, 8, 8), norm_layer=norm_layer, zero_init_residual=True)
    norms = [(name, m) for name, m in model.named_modules() if isinstance(m, tinyrrn.nn.BatchNorm2d)]
    assert norms and all(type(m) is Counted and m.eps == 1e-3 and m.momentum == 0.5 for _, m in norms)
    assert sorted(made) == sorted(m.num_features for _, m in norms)  # one call per norm
    assert list(model.state_dict()) == list(ResNet(block, (1, 2, 1, 1), 3, widths=(4, 4, 8, 8)).state_dict())
    last = "bn3" if block is Bottleneck else "bn2"
    assert all(np.all(host(getattr(unit, last).weight.data) == 0) for _, unit in model.units())
    x = Tensor(on_device(np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)))
    for training in (True, False):
        model.train(training)
        Counted.calls = 0
        logits = model(x)
        assert Counted.calls == len(norms)
        with tinyrrn.no_grad():
            np.testing.assert_allclose(host(logits), host(_torchvision_forward(model, x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build", [resnet18, resnet34, resnet50])
def test_torchvision_builder_arguments_weights_and_progress(build):
    """torchvision's resnet18/34/50(weights=None, progress=True) build a fresh model: tinyrrn refused both as
    unexpected keyword arguments. Weights to download are refused saying how tinyrrn takes weights instead."""
    small = {"widths": (4, 4, 8, 8)}  # a narrow one: quick to build
    model = build(weights=None, progress=False, num_classes=3, **small)
    assert model.fc.weight.shape == (3, model.num_features)
    assert build(pretrained=False, **small).fc.weight.shape == (1000, model.num_features)
    for asked in ({"weights": "IMAGENET1K_V1"}, {"weights": "DEFAULT"}, {"pretrained": True}):
        with pytest.raises(NotImplementedError, match="downloads no weights.*tinyrrn.weights convert.*load_npz"):
            build(**asked)


def test_the_speed_benchmarks_torch_resnet_small_is_tinyrrns(torch):
    """benchmarks/resnet.py --arch resnet_small times a torch mirror of the main job's backbone: the same
    parameters in the same order, and with tinyrrn's weights the same outputs (training mode: batch
    statistics), so its ratio compares one network."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import resnet as benchmark
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    tinyrrn.manual_seed(0)
    ours, theirs = resnet_small(benchmark.SMALL_CLASSES), benchmark.torch_resnet(torch, "resnet_small")
    pairs = list(zip(ours.parameters(), theirs.parameters(), strict=True))
    with torch.no_grad():
        for mine, other in pairs:
            assert tuple(mine.shape) == tuple(other.shape)
            other.copy_(torch.from_numpy(host(mine.data)))
    x = np.random.default_rng(0).standard_normal((4, 3, 40, 40), dtype=np.float32)
    np.testing.assert_allclose(host(ours(Tensor(on_device(x))).data), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
