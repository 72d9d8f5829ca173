"""ResNet (He et al., 2016) with torchvision's module names, so state_dict keys carry over.

``resnet50()`` has 320 state_dict entries and 25,557,032 parameters for 1000
classes, as torchvision's. ``resnet_small()`` is a narrow variant for CPU demos
and tests.

Two layouts of ResNet-50 weights share torchvision's tensor names and shapes,
so nothing in a weights file tells them apart (``WEIGHTS_LAYOUTS``; the
authors' framework used MSRA's):

* torchvision ("v1.5"): the stride of each stage's first bottleneck in its 3x3
  conv; pool1 = max-pool 3x3, stride 2, padding 1; RGB in [0, 1] normalised by
  ImageNet's mean and std.
* MSRA/Caffe ("v1", as the "caffe-style" ResNet-50 files of detection toolkits):
  the stride in the first 1x1 conv (``stride_in_1x1=True``); Caffe's pool1 =
  max-pool 3x3, stride 2, no padding, rounding the output size up
  (``caffe_pool=True``; 56x56 at 224x224, as torchvision's, but its windows
  start at the first pixel instead of one before it); BGR in [0, 255] minus
  the per-channel mean.

Each residual unit computes y = relu(residual(x) + shortcut(x) + extra); the
``extra`` term is where the recurrent network adds its temporal skip (Eq. 2-4).
"""
from .. import functional as F
from .. import nn
from ..backend import get_device, to_device
from ..functional import channels_last
from ..nn import init
from ..nn.fused import is_plain


class ResidualUnit(nn.Module):
    """y = relu(residual(x) + shortcut(x) + extra): Eq. 1, with room for a temporal term (Eq. 2-4)."""

    def shortcut(self, x):
        """The spatial skip S(x): x itself, or the projection (1x1 conv + BN) where shape changes."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x, extra=None, shortcut=None):
        """``shortcut``: S(x) when the caller has computed it already (the recurrent network runs a
        projection once over x_{t-1} and x_t together and hands in the rows of x_t)."""
        shortcut = self.shortcut(x) if shortcut is None else shortcut
        if extra is None:
            return self.residual(x, add=shortcut)  # relu(F(x) + S(x)) in F's last batch norm's passes
        if not is_plain(self.relu, nn.ReLU):  # hooked or replaced: called, as torchvision calls it
            return self.relu(self.residual(x) + shortcut + extra)
        return F.add_relu(self.residual(x) + shortcut, extra)


class BasicBlock(ResidualUnit):
    """Two 3x3 convs (ResNet-18/34); torchvision's children, its ReLU applied fused (see nn.conv_bn)."""
    expansion = 1

    def __init__(self, in_channels, width, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64 (torchvision's rule)")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock (torchvision's rule)")
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(width)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(width)
        self.downsample = downsample

    def residual(self, x, add=None):
        """F(x); with ``add``, relu(F(x) + add), the sum and ReLU fused into bn2."""
        out = nn.conv_bn(self.conv1, self.bn1, x, relu=self.relu)
        return nn.conv_bn(self.conv2, self.bn2, out, relu=self.relu if add is not None else False, add=add)


class Bottleneck(ResidualUnit):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50 and deeper); torchvision's children, its ReLU applied fused."""
    expansion = 4

    def __init__(self, in_channels, width, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None, stride_in_1x1=False):
        """``groups``, ``base_width``, ``dilation``, ``norm_layer``: torchvision's (ResNeXt's grouped 3x3 conv of
        int(width * base_width / 64) * groups channels, a dilated 3x3 conv, the norm of so many channels)."""
        super().__init__()
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        inner = int(width * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(in_channels, inner, 1, s1, bias=False)
        self.bn1 = norm_layer(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, s3, dilation, dilation=dilation, groups=groups, bias=False)
        self.bn2 = norm_layer(inner)
        self.conv3 = nn.Conv2d(inner, width * 4, 1, bias=False)
        self.bn3 = norm_layer(width * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def residual(self, x, add=None):
        """F(x); with ``add``, relu(F(x) + add), the sum and ReLU fused into bn3."""
        out = nn.conv_bn(self.conv1, self.bn1, x, relu=self.relu)  # relu(bn1(conv1(x))), bn1's passes fused
        out = nn.conv_bn(self.conv2, self.bn2, out, relu=self.relu)
        return nn.conv_bn(self.conv3, self.bn3, out, relu=self.relu if add is not None else False, add=add)


class ResNet(nn.Module):
    """Stem (conv1, bn1, relu, maxpool), layer1-4 of residual units, global average pool, fc.

    ``small_stem=True`` replaces the 7x7/2 conv and max-pool by one 3x3/1 conv
    for tiny inputs (32-64 pixels), keeping the name ``conv1``. ``stride_in_1x1``
    (Bottleneck units only) moves each stage's stride into the first 1x1 conv;
    ``caffe_pool`` makes the stem's max-pool Caffe's (no padding, ceil rounding).
    ``zero_init_residual``, ``groups``, ``width_per_group``, ``replace_stride_with_dilation`` and
    ``norm_layer`` (a callable of the channel count; None: BatchNorm2d) are torchvision's.
    """

    def __init__(self, block, blocks, num_classes=1000, widths=(64, 128, 256, 512),
                 stride_in_1x1=False, small_stem=False, caffe_pool=False, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        dilate = [False] * 3 if replace_stride_with_dilation is None else list(replace_stride_with_dilation)
        if len(dilate) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, got "
                             f"{replace_stride_with_dilation}")
        if len(blocks) != 4 or len(widths) != 4 or min(blocks) < 1:
            raise ValueError(f"ResNet: four stages (layer1..layer4) of at least one unit each, so four unit counts "
                             f"and four widths, got blocks={tuple(blocks)} and widths={tuple(widths)}")
        if stride_in_1x1 and not issubclass(block, Bottleneck):
            raise ValueError(f"stride_in_1x1 applies to Bottleneck units (it moves the stride into their first "
                             f"1x1 conv); {block.__name__} has no 1x1 conv")
        if caffe_pool and small_stem:
            raise ValueError("caffe_pool replaces the stem's max-pool, which small_stem has not")
        stage_options = {"stride_in_1x1": True} if stride_in_1x1 else {}
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        unit_options = {"groups": groups, "base_width": width_per_group, "norm_layer": norm_layer}
        stem_width = widths[0]
        if small_stem:
            self.conv1 = nn.Conv2d(3, stem_width, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, stem_width, 7, 2, 3, bias=False)
        self.bn1 = norm_layer(stem_width)
        self.relu = nn.ReLU()  # torchvision's child list; stem() applies it fused with bn1 (see nn.conv_bn)
        if small_stem:
            self.maxpool = nn.Identity()
        else:
            self.maxpool = nn.MaxPool2d(3, 2, 0, ceil_mode=True) if caffe_pool else nn.MaxPool2d(3, 2, 1)
        channels, dilation = stem_width, 1
        for i, (count, width) in enumerate(zip(blocks, widths)):
            stride, previous_dilation = 1 if i == 0 else 2, dilation
            if i > 0 and dilate[i - 1]:  # torchvision's: the stage keeps its resolution, dilating its 3x3 convs
                dilation, stride = dilation * stride, 1
            downsample = None
            if stride != 1 or channels != width * block.expansion:
                downsample = nn.Sequential(nn.Conv2d(channels, width * block.expansion, 1, stride, bias=False),
                                           norm_layer(width * block.expansion))
            units = [block(channels, width, stride, downsample, dilation=previous_dilation, **unit_options,
                           **stage_options)]
            channels = width * block.expansion
            units += [block(channels, width, dilation=dilation, **unit_options) for _ in range(count - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*units))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self.num_features = channels
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                m.weight.data = channels_last(to_device(init.kaiming_normal_fan_out(m.weight.shape), get_device()))
        if zero_init_residual:  # each residual branch starts at zero, each unit as the identity (torchvision's)
            for _, unit in self.units():
                last_bn = unit.bn3 if isinstance(unit, Bottleneck) else unit.bn2
                if getattr(last_bn, "weight", None) is not None:  # a norm without a scale has none to zero
                    init.zeros_(last_bn.weight)

    def stem(self, x):
        """conv1, bn1, relu, maxpool: frames (N, 3, H, W) -> layer1's input."""
        return self.maxpool(nn.conv_bn(self.conv1, self.bn1, x, relu=self.relu))

    def units(self):
        """[(name, unit)] of every residual unit in order, e.g. ('layer4.2', Bottleneck)."""
        return [(f"layer{i}.{j}", unit) for i in range(1, 5) for j, unit in enumerate(getattr(self, f"layer{i}"))]

    def head(self, x):
        """Global average pooling and the classifier: layer4's output -> logits."""
        return self.fc(F.flatten(self.avgpool(x), 1))

    def features(self, x, layer="layer4"):
        """Spatially averaged features after ``layer`` ('layer2'/'layer3'/'layer4'; the paper's block2/3/4)."""
        if layer not in ("layer1", "layer2", "layer3", "layer4"):
            raise ValueError(f"features: layer must be layer1..layer4, got {layer!r}")
        x = self.stem(x)
        for i in range(1, int(layer[-1]) + 1):
            x = getattr(self, f"layer{i}")(x)
        return F.flatten(self.avgpool(x), 1)

    def forward(self, x):
        """stem, layer1..layer4 and head, each stage called as a module (its hooks run), as torchvision's."""
        x = self.stem(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.head(x)


# residual units in layer1-4 of each architecture (resnet_small: by default)
UNITS_PER_LAYER = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3),
                   "resnet_small": (1, 1, 2, 2)}


class UnitLayout:
    """The residual units of an architecture by name, as ``ResNet.units()`` lists them, without building
    it (a ResNet-50 takes seconds): enough to resolve and check skip positions up front."""

    def __init__(self, arch):
        self.names = [f"layer{i}.{j}" for i, count in enumerate(UNITS_PER_LAYER[arch], 1) for j in range(count)]

    def units(self):
        return [(name, None) for name in self.names]


def no_download(name, weights, pretrained):
    """torchvision's builders' ``weights`` and legacy ``pretrained``: None and False build a fresh model, as
    there; weights to download are refused, saying how tinyrrn takes them."""
    if weights is not None or pretrained:
        raise NotImplementedError(f"{name}(weights={weights!r}, pretrained={pretrained!r}): tinyrrn downloads no "
                                  "weights; convert torchvision's .pth with python -m tinyrrn.weights convert "
                                  f"FILE.pth FILE.npz and load it with tinyrrn.weights.load_npz({name}(), 'FILE.npz')")


def resnet18(num_classes=1000, *, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-18; ``weights``, ``progress`` and ``pretrained`` as torchvision's, with nothing to download
    (no_download)."""
    no_download("resnet18", weights, pretrained)
    return ResNet(BasicBlock, UNITS_PER_LAYER["resnet18"], num_classes, **kwargs)


def resnet34(num_classes=1000, *, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-34; ``weights``, ``progress`` and ``pretrained`` as resnet18's."""
    no_download("resnet34", weights, pretrained)
    return ResNet(BasicBlock, UNITS_PER_LAYER["resnet34"], num_classes, **kwargs)


def resnet50(num_classes=1000, stride_in_1x1=False, *, weights=None, progress=True, pretrained=False, **kwargs):
    """ResNet-50; ``**WEIGHTS_LAYOUTS["caffe"]["model"]`` gives the MSRA/Caffe layout the paper's framework used;
    ``weights``, ``progress`` and ``pretrained`` as resnet18's."""
    no_download("resnet50", weights, pretrained)
    return ResNet(Bottleneck, UNITS_PER_LAYER["resnet50"], num_classes, stride_in_1x1=stride_in_1x1, **kwargs)


def resnet_small(num_classes=10, widths=(8, 16, 32, 64), blocks=UNITS_PER_LAYER["resnet_small"], small_stem=True):
    """A narrow ResNet of basic blocks that trains on a 2-core CPU in minutes (inputs ~32-64 px).

    Two units in layer4 keep the paper's positions distinct: mid_block4 =
    layer4.0 (projection unit), block4 = layer4.1 (last unit).
    """
    return ResNet(BasicBlock, blocks, num_classes, widths=widths, small_stem=small_stem)


# The layouts of weights a backbone can take (see the module docstring): the model's options and the input
# convention (tinyrrn.data.transforms.Normalize) the weights were trained with.
WEIGHTS_LAYOUTS = {
    "torchvision": {"model": {}, "normalize": "torchvision"},
    "caffe": {"model": {"stride_in_1x1": True, "caffe_pool": True}, "normalize": "caffe"},
}
CAFFE_LAYOUT_ARCHITECTURES = ("resnet50",)  # MSRA published Bottleneck ResNets; resnet18/34 have no 1x1 conv

ARCHITECTURES = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet_small": resnet_small}
