"""The recurrent residual network: ResNet with temporal skip connections (Section 3, Eq. 1-4).

At a chosen residual unit with input x_t at time t, the output becomes

    Eq. 1 (skip="none"):      y_t = relu(F(x_t) + S(x_t))
    Eq. 2 (skip="identity"):  y_t = relu(F(x_t) + S(x_t) + S(x_{t-1}))
    Eq. 3 (skip="linear"):    y_t = relu(F(x_t) + S(x_t) + W_s * x_{t-1})
    Eq. 4 (skip="nonlinear"): y_t = relu(F(x_t) + S(x_t) + relu(BN(W_s * x_{t-1})))

where F is the unit's residual branch and S its spatial shortcut: the
identity in most units. The paper writes sigma(x_t * W) for F and omits the
final ReLU of the unit; the temporal term joins the sum before that ReLU, as
the spatial shortcut does. Weights are shared across time.

* At t = 1 there is no x_0: the temporal term is zero.
* Projection units (the first unit of a stage, e.g. layer4.0 = "mid_block4";
  layer1.0 of ResNet-50) change channels and resolution, so x_{t-1} cannot be
  added as it is. The identity skip then sends x_{t-1} through the unit's own
  projection shortcut S (1x1 conv + BN), exactly as the spatial skip treats
  x_t: it adds no new weights but it is not weight-free there, it uses the
  projection's; it reduces to x_{t-1} wherever S is the identity. S runs ONCE
  per forward over every row the unit sees, x_{t-1} and x_t together (their
  union is the unit's input x), so its batch-norm normalises both with the
  same batch statistics and updates its running statistics once per training
  step, like every other batch-norm. W_s (Eq. 3 and 4) is a 1x1 conv with the
  unit's stride, mapping x_{t-1} straight to the output's shape.

Positions (Table 2): block1 = layer1.0 ("the first skip connection in
block1"), block2 = the last unit of layer2, block4 = the last unit of layer4.
Mid Block4 is "the last convolutional skip connection in block4"; this project
reads it as layer4.0, whose projection is block4's only convolutional skip.
"Mid" also allows the middle unit, layer4.1 of ResNet-50: pass
``positions=("layer4.1",)`` (``--positions layer4.1``) for that reading.
The paper says T-1 skips give a context of T frames (Fig. 3) but not where
it put them for T = 3 and 5 (Table 4); ``default_positions`` puts them on the
last T-1 units, which is THIS project's choice.

One forward pass is one unrolled graph over the T steps of a chunk. Frames
are kept time-major (step-major) in one batch of T*B images, so the layers
below the first temporal skip run once per frame batched over B*T, and a
temporal skip is a shift by one step along that batch. The prediction is
P(y | x_1..x_T) from the last step's output (as the authors' framework did);
a step's output depends on at most K+1 frames with K temporal skips (Fig. 3),
so only the steps that reach the last output are computed at each level:
layers above the last skip run for the last step only. ``average_logits=True``
instead averages the logits of every step (then every step is computed).
"""
import numbers

from .. import functional as F
from .. import nn
from ..functional._util import check_tensors
from ..backend import xp_of
from ..tensor import Tensor
from .resnet import ResNet

SKIP_TYPES = ("none", "identity", "linear", "nonlinear")


def position_aliases(backbone):
    """The paper's position names -> the backbone's unit names (block2 is layer2.3 of ResNet-50, but
    layer2.0 of resnet_small, whose layer2 has one unit)."""
    names = [n for n, _ in backbone.units()]
    last = {layer: max(n for n in names if n.startswith(layer + ".")) for layer in ("layer1", "layer2", "layer4")}
    return {"block1": "layer1.0", "block2": last["layer2"], "mid_block4": "layer4.0", "block4": last["layer4"]}


def describe_positions(backbone, units):
    """Unit names as the README names them: 'block2 (layer2.0)', or the unit name alone."""
    paper = {}
    for alias, unit in position_aliases(backbone).items():
        paper.setdefault(unit, []).append(alias)
    return ", ".join(f"{'/'.join(paper[u])} ({u})" if u in paper else u for u in units) or "none"


def resolve_position(backbone, name):
    """A paper position name or 'layerL.i' -> the unit's name in ``backbone.units()``."""
    names = [n for n, _ in backbone.units()]
    aliases = position_aliases(backbone)
    unit = aliases.get(name, name)
    if unit not in names:
        raise ValueError(f"unknown position {name!r}; use one of {sorted(aliases)} or a unit name "
                         f"such as {names[0]!r} ... {names[-1]!r}")
    return unit


def default_positions(backbone, context):
    """T-1 temporal skips on the last T-1 units ending at block4 (Fig. 3 asks for T-1 skips).

    The paper uses one skip at block4 for T = 2 but does not say where its T = 3 and
    T = 5 models (Table 4) put theirs; the last T-1 units is this project's choice.
    """
    names = [n for n, _ in backbone.units()]
    if context - 1 > len(names):
        raise ValueError(f"context {context} needs {context - 1} temporal skips, but the backbone "
                         f"has only {len(names)} residual units")
    return tuple(names[len(names) - (context - 1):]) if context > 1 else ()


def temporal_units(backbone, skip, positions, context):
    """The names of the units that get a temporal skip: none for skip 'none', else ``positions`` resolved
    (resolve_position) or, for None, the default (default_positions); refuses fewer than the T-1 skips a
    context T needs (Fig. 3). ``backbone``: a ResNet, or a models.resnet.UnitLayout (checks before building)."""
    if skip == "none":
        return ()
    if positions is None:
        return default_positions(backbone, context)
    positions = (positions,) if isinstance(positions, str) else tuple(positions)
    units = tuple(dict.fromkeys(resolve_position(backbone, p) for p in positions))
    if len(units) < context - 1:
        raise ValueError(f"context {context} needs at least {context - 1} temporal skips "
                         f"(Fig. 3), but positions {list(positions)} give {len(units)}")
    return units


class TemporalSkip(nn.Module):
    """One temporal skip connection: the weights W_s (Eq. 3) and its BN (Eq. 4); none for Eq. 2."""

    def __init__(self, kind, unit):
        super().__init__()
        self.kind = kind
        if kind == "identity":
            return
        projection = unit.downsample[0] if unit.downsample is not None else None
        in_channels = unit.conv1.weight.shape[1]
        out_channels = projection.weight.shape[0] if projection is not None else in_channels
        stride = projection.stride if projection is not None else 1
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
        if kind == "nonlinear":
            self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, unit, x, current, previous):
        """(S(x_t) or None, the temporal term) from the unit's input x, whose rows ``current`` are
        the x_t of the steps to output and rows ``previous`` their x_{t-1}.

        Eq. 2 runs the unit's shortcut S once over all of x, x_{t-1} and x_t together, and hands
        back both slices; Eq. 3 and 4 leave S(x_t) to the unit (None) and apply W_s to x_{t-1}.
        """
        if self.kind == "identity":
            shortcut = unit.shortcut(x)
            return shortcut[current], shortcut[previous]
        out = self.conv(x[previous])
        return None, F.relu(self.bn(out)) if self.kind == "nonlinear" else out


class RecurrentResNet(nn.Module):
    """A ResNet backbone unrolled over chunks of T frames with temporal skips.

    backbone: a ResNet (its state_dict keys stay torchvision's, under ``backbone.``).
    skip: 'none' (Eq. 1), 'identity' (Eq. 2, the paper's best), 'linear' (Eq. 3), 'nonlinear' (Eq. 4).
    positions: paper names ('block1', 'block2', 'mid_block4' = layer4.0, 'block4') or unit names
        ('layer4.1'); None places context-1 skips on the last units (this project's choice).
    context: the temporal context T the model is built for; needs at least T-1 skips (Fig. 3).
    average_logits: average every step's logits instead of using the last step's.
    """

    def __init__(self, backbone, skip="identity", positions=None, context=2, average_logits=False):
        super().__init__()
        if not isinstance(backbone, ResNet):
            raise TypeError(f"RecurrentResNet: the backbone must be a tinyrrn ResNet (tinyrrn.models.resnet50(), ...), "
                            f"whose residual units take the temporal skips; got {type(backbone).__name__}")
        if skip not in SKIP_TYPES:
            raise ValueError(f"unknown skip {skip!r}; expected one of {SKIP_TYPES}")
        if isinstance(context, bool) or not isinstance(context, numbers.Integral):
            raise TypeError(f"context must be a whole number of frames, got {context!r} ({type(context).__name__})")
        if context < 1:
            raise ValueError(f"context must be at least 1 frame, got {context}")
        self.backbone = backbone
        self.skip, self.context, self.average_logits = skip, context, average_logits
        self.positions = units = temporal_units(backbone, skip, positions, context)
        self.temporal = nn.Module()
        unit_by_name = dict(backbone.units())
        for name in units:
            setattr(self.temporal, name.replace(".", "_"), TemporalSkip(skip, unit_by_name[name]))

    def forward(self, clips):
        """clips (B, T, 3, H, W) -> logits (B, classes)."""
        check_tensors("RecurrentResNet", clips, names=("clips",))
        if clips.ndim != 5:
            raise ValueError(f"RecurrentResNet expects clips (B, T, 3, H, W), got {tuple(clips.shape)}")
        batch, steps = clips.shape[:2]
        if steps == 0:
            raise ValueError(f"RecurrentResNet: clips {tuple(clips.shape)} of 0 frames; each clip needs at least one")
        units = self.backbone.units()
        first_step = self._first_steps(units, steps)  # per level: the first step still needed
        start = first_step[0]
        # time-major: row t*B + b holds frame t of clip b, so a time step is a contiguous block
        x = F.permute(clips[:, start:], (1, 0, 2, 3, 4)).reshape(-1, *clips.shape[2:])
        x = self.backbone.stem(x)
        for level, (name, unit) in enumerate(units):
            if name in self.positions:
                x = self._temporal_unit(name, unit, x, first_step[level], first_step[level + 1], batch)
            else:
                x = unit(x)
        logits = self.backbone.head(x)
        kept = steps - first_step[-1]
        if kept == 1:
            return logits
        return F.mean(logits.reshape(kept, batch, logits.shape[-1]), axis=0)

    def _first_steps(self, units, steps):
        """first_step[l]: the earliest step whose input to unit l reaches the prediction."""
        first = [0 if self.average_logits else steps - 1]
        for name, _ in reversed(units):
            first.insert(0, max(first[0] - 1, 0) if name in self.positions else first[0])
        return first

    def _temporal_unit(self, name, unit, x, first_in, first_out, batch):
        """One unit with a temporal skip; x holds steps first_in.. (time-major), output steps first_out..

        first_in = first_out - 1, or 0 when first_out = 0: x holds exactly the x_t and x_{t-1} of
        every output step, so the previous steps are all of x but its last step.
        """
        if x.shape[0] == batch:  # a single frame: no x_{t-1}, no temporal term
            return unit(x)
        current = slice((first_out - first_in) * batch, None)
        previous = slice(0, x.shape[0] - batch)
        spatial, temporal = getattr(self.temporal, name.replace(".", "_"))(unit, x, current, previous)
        if first_out == 0:  # step 1 of the chunk has no predecessor: its temporal term is zero
            xp = xp_of(temporal.data)
            zeros = Tensor(xp.zeros((batch,) + temporal.shape[1:], dtype=temporal.dtype))
            temporal = F.concatenate([zeros, temporal], axis=0)
        return unit(x[current], extra=temporal, shortcut=spatial)
