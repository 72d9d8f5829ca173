"""The recurrent residual network: Eq. 1-4, positions, temporal context, one unrolled graph."""
import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor, gradcheck, nn, no_grad
from tinyrrn import functional as F
from tinyrrn.models import RecurrentResNet, resnet50, resnet_small
from tinyrrn.models.resnet import BasicBlock, Bottleneck, ResNet


def tiny_backbone():
    """Four stages (1, 1, 1, 2 units) of width 2-4: layer4.0 is a projection, layer4.1 = block4."""
    return ResNet(BasicBlock, (1, 1, 1, 2), num_classes=3, widths=(2, 2, 3, 4), small_stem=True)


def tiny_bottleneck():
    """Bottleneck units (1, 1, 1, 2): every stage opens with a projection, layer1.0 included (as in ResNet-50)."""
    return ResNet(Bottleneck, (1, 1, 1, 2), num_classes=3, widths=(2, 2, 3, 4), small_stem=True)


def double(model, dtype="float64"):
    """The model with float64 parameters and buffers, for gradient checks."""
    return model.to(dtype)


def clips(rng, batch=2, steps=2, size=8, dtype="float64"):
    return Tensor(on_device(rng.standard_normal((batch, steps, 3, size, size)).astype(dtype)), requires_grad=True)


def reference_forward(model, clip):
    """The unrolled graph written the slow, obvious way: every unit at every step, in a loop over t.

    At a temporal unit, Eq. 2 runs the unit's shortcut S once over [x_{t-1}; x_t] (one batch-norm
    call at a projection unit) and adds the x_{t-1} half; Eq. 3 and 4 add W_s x_{t-1} (Eq. 4:
    through BN and ReLU).
    """
    backbone, temporal, batch = model.backbone, model.temporal, clip.shape[0]
    outputs = []
    inputs_prev = {}
    for t in range(clip.shape[1]):
        x = backbone.stem(clip[:, t])
        inputs_now = {}
        for name, unit in backbone.units():
            inputs_now[name] = x
            if name not in model.positions or t == 0:
                x = unit(x)
            elif model.skip == "identity":
                both = unit.shortcut(F.concatenate([inputs_prev[name], x]))
                x = unit(x, extra=both[:batch], shortcut=both[batch:])
            else:
                skip = getattr(temporal, name.replace(".", "_"))
                extra = skip.conv(inputs_prev[name])
                x = unit(x, extra=F.relu(skip.bn(extra)) if model.skip == "nonlinear" else extra)
        inputs_prev = inputs_now
        outputs.append(backbone.head(x))
    return F.mean(F.stack(outputs), axis=0) if model.average_logits else outputs[-1]


@pytest.mark.parametrize("skip", ["identity", "linear", "nonlinear"])
@pytest.mark.parametrize("steps,positions", [(2, ("block4",)), (3, ("mid_block4", "block4")),
                                             (2, ("mid_block4",)), (3, ("block1", "block2"))])
def test_matches_the_step_by_step_unrolling_and_passes_gradcheck(rng, skip, steps, positions):
    model = double(RecurrentResNet(tiny_backbone(), skip, positions, context=steps)).eval()
    clip = clips(rng, steps=steps)
    numpy.testing.assert_allclose(host(model(clip)), host(reference_forward(model, clip)), rtol=1e-10)
    checked = [clip, model.backbone.layer4[1].conv2.weight, model.backbone.layer2[0].conv1.weight]
    if skip != "identity":
        checked.append(getattr(model.temporal, model.positions[0].replace(".", "_")).conv.weight)
    gradcheck(lambda *inputs: model(inputs[0]), checked)


@pytest.mark.parametrize("skip", ["identity", "nonlinear"])
def test_train_mode_gradcheck_and_averaged_logits(rng, skip):
    model = double(RecurrentResNet(tiny_backbone(), skip, ("mid_block4", "block4"), context=3,
                                   average_logits=True))
    clip = clips(rng, batch=3, steps=3)
    gradcheck(lambda c: model(c), [clip])
    model.eval()
    numpy.testing.assert_allclose(host(model(clip)), host(reference_forward(model, clip)), rtol=1e-10)


def reference_training_forward(model, clip):
    """One training forward written out with per-step rows, to pin which rows each batch-norm sees.

    Each level computes the steps that reach the prediction (the last one, or every one with
    averaged logits; one step more below each temporal unit). Every module runs ONCE per forward,
    on the rows of all those steps stacked time-major; at a temporal unit the identity skip's
    shortcut S runs once on every step the unit's input holds, i.e. on [x_{t-1}; x_t].
    Returns the logits and, per temporal unit with a projection, the rows its BN normalised.
    """
    backbone, batch, steps = model.backbone, clip.shape[0], clip.shape[1]
    units = backbone.units()
    first = [0 if model.average_logits else steps - 1]  # per level, from the top: first step computed
    for name, _ in reversed(units):
        first.insert(0, max(first[0] - 1, 0) if name in model.positions else first[0])

    def run(module, rows):
        """module once over the stacked steps of ``rows`` (step -> tensor), split back by step."""
        order = sorted(rows)
        out = module(F.concatenate([rows[t] for t in order]))
        return {t: out[i * batch:(i + 1) * batch] for i, t in enumerate(order)}

    projected = {}
    x = run(backbone.stem, {t: clip[:, t] for t in range(first[0], steps)})
    for level, (name, unit) in enumerate(units):
        if name not in model.positions:
            x = run(unit, x)
            continue
        now = range(first[level + 1], steps)
        residual = run(unit.residual, {t: x[t] for t in now})
        if model.skip == "identity":
            shortcut = run(unit.shortcut, x)  # x holds exactly the x_t and x_{t-1} of the steps now
            temporal = {t: shortcut[t - 1] for t in now if t > 0}
            if unit.downsample is not None:
                projected[name] = host(unit.downsample[0](F.concatenate([x[t] for t in sorted(x)])))
        else:
            skip = getattr(model.temporal, name.replace(".", "_"))
            shortcut = run(unit.shortcut, {t: x[t] for t in now})
            w_s = run(skip.conv, {t - 1: x[t - 1] for t in now if t > 0})
            if model.skip == "nonlinear":
                w_s = run(lambda v: F.relu(skip.bn(v)), w_s)
            temporal = {t: w_s[t - 1] for t in now if t > 0}
        x = {t: F.relu(residual[t] + shortcut[t] + temporal[t]) if t in temporal else F.relu(residual[t] + shortcut[t])
             for t in now}
    logits = run(backbone.head, x)
    return F.mean(F.stack([logits[t] for t in sorted(logits)]), axis=0), projected


def batch_norms(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}


@pytest.mark.parametrize("average_logits", [False, True])
@pytest.mark.parametrize("steps", [2, 3])
@pytest.mark.parametrize("skip", ["identity", "nonlinear"])
@pytest.mark.parametrize("build", [resnet_small, tiny_bottleneck])
def test_one_batch_norm_update_per_training_forward_at_every_position(rng, build, skip, steps, average_logits):
    """At every unit, projection units included: after one training forward every batch-norm has been
    updated exactly once, with the statistics of the rows the unrolled graph feeds it; at a
    projection unit with the identity skip that is ONE update over [x_{t-1}; x_t], checked against
    the batch-norm formula itself (momentum 0.1, unbiased variance)."""
    units = build().units()
    names, checked = [name for name, _ in units], set()
    for i, name in enumerate(names):
        # T = 2: one skip at the unit; T = 3: two skips, the unit and its neighbour (Fig. 3)
        positions = (name,) if steps == 2 else tuple(names[i:i + 2]) if i + 1 < len(names) else tuple(names[i - 1:])
        model, reference = (double(RecurrentResNet(build(), skip, positions, context=steps,
                                                   average_logits=average_logits)) for _ in range(2))
        reference.load_state_dict(model.state_dict())
        clip = clips(rng, batch=3, steps=steps)
        logits = model(clip)
        expected, projected = reference_training_forward(reference, clip)
        numpy.testing.assert_allclose(host(logits), host(expected), rtol=1e-10, atol=1e-12)
        ours, theirs = batch_norms(model), batch_norms(reference)
        assert ours.keys() == theirs.keys()
        for key, bn in ours.items():
            assert int(bn.num_batches_tracked) == 1, (name, key)
            for buffer in ("running_mean", "running_var"):
                numpy.testing.assert_allclose(host(getattr(bn, buffer)), host(getattr(theirs[key], buffer)), rtol=1e-12,
                                              err_msg=f"{key} at {positions}")
        for unit_name, rows in projected.items():
            checked.add(unit_name)
            seen = steps if average_logits else 1 + len(positions[positions.index(unit_name):])
            assert rows.shape[0] == seen * 3  # [x_{t-1}; x_t]: every step the unit's input holds
            bn = dict(model.backbone.units())[unit_name].downsample[1]
            numpy.testing.assert_allclose(host(bn.running_mean), 0.1 * rows.mean(axis=(0, 2, 3)), rtol=1e-12)
            numpy.testing.assert_allclose(host(bn.running_var), 0.9 + 0.1 * rows.var(axis=(0, 2, 3), ddof=1),
                                          rtol=1e-12)
    projection_units = {name for name, unit in units if unit.downsample is not None}
    assert checked == (projection_units if skip == "identity" else set()) and len(projection_units) >= 3


def frames_reaching_the_output(model, rng, steps):
    clip = clips(rng, steps=steps)
    model(clip).sum().backward()
    per_frame = numpy.abs(host(clip.grad)).reshape(clip.shape[0], steps, -1).max(axis=(0, 2))
    return [t for t in range(steps) if per_frame[t] > 0]


@pytest.mark.parametrize("skips", [0, 1, 2, 3])
def test_temporal_context_is_the_last_k_plus_one_frames(rng, skips):
    """Fig. 3: with K temporal skips d(last output)/d(frame t) is non-zero for exactly the last K+1 frames."""
    steps = 5
    skip = "identity" if skips else "none"
    model = double(RecurrentResNet(tiny_backbone(), skip, positions=None, context=skips + 1)).eval()
    assert len(model.positions) == skips
    assert frames_reaching_the_output(model, rng, steps) == list(range(steps - skips - 1, steps))


def test_eq1_uses_only_the_last_frame_even_with_positions_given(rng):
    model = double(RecurrentResNet(tiny_backbone(), "none", ("block4",), context=1)).eval()
    assert model.positions == () and frames_reaching_the_output(model, rng, 3) == [2]


def test_first_step_has_no_temporal_term(rng):
    """At t = 1 there is no x_0: a one-frame chunk gives the plain ResNet's output."""
    model = double(RecurrentResNet(tiny_backbone(), "linear", ("block4",), context=2)).eval()
    clip = clips(rng, steps=1)
    numpy.testing.assert_allclose(host(model(clip)), host(model.backbone(clip[:, 0])), rtol=1e-12)


@pytest.mark.parametrize("average_logits", [False, True])
@pytest.mark.parametrize("skip", ["none", "identity"])
def test_clips_of_no_frames_are_refused(rng, skip, average_logits):
    """A batch of clips of 0 frames has no last step to predict from: the model answered logits of 0 rows for a
    batch of 2 clips, in silence."""
    model = RecurrentResNet(tiny_backbone(), skip, context=1 if skip == "none" else 2, average_logits=average_logits)
    with pytest.raises(ValueError, match=r"clips \(2, 0, 3, 8, 8\) of 0 frames"):
        model(clips(rng, steps=0, dtype="float32"))


@pytest.mark.parametrize("average_logits", [False, True])
@pytest.mark.parametrize("steps", [1, 3])
def test_an_empty_batch_of_clips_gives_empty_logits(rng, steps, average_logits):
    """An empty batch of clips gives logits of 0 rows, as a ResNet's (and torch's) empty batch: with
    average_logits the steps' logits were reshaped to (steps, 0, -1), which no reshape can take."""
    model = RecurrentResNet(tiny_backbone(), "identity", ("block4", "block1"), context=2, average_logits=average_logits)
    logits = model(clips(rng, batch=0, steps=steps, dtype="float32"))
    assert logits.shape == (0, 3) and logits.dtype == numpy.float32


def test_positions_and_context_rules():
    backbone = resnet50()
    names = {p: RecurrentResNet(backbone, "identity", (p,), context=2).positions
             for p in ("block1", "block2", "mid_block4", "block4", "layer3.5")}
    assert names == {"block1": ("layer1.0",), "block2": ("layer2.3",), "mid_block4": ("layer4.0",),
                     "block4": ("layer4.2",), "layer3.5": ("layer3.5",)}
    assert RecurrentResNet(backbone, context=3).positions == ("layer4.1", "layer4.2")
    assert RecurrentResNet(backbone, context=5).positions == ("layer3.5", "layer4.0", "layer4.1", "layer4.2")
    with pytest.raises(ValueError, match=r"context 3 needs at least 2 temporal skips.*\['block4'\]"):
        RecurrentResNet(backbone, "identity", ("block4",), context=3)
    with pytest.raises(ValueError, match="unknown position 'block9'"):
        RecurrentResNet(backbone, "identity", ("block9",))
    with pytest.raises(ValueError, match="unknown skip"):
        RecurrentResNet(backbone, "gated")


@pytest.mark.parametrize("context", [2.0, 2.5, "2", True, None])
def test_a_context_that_is_no_whole_number_of_frames_is_refused(context):
    """context is a number of frames: 2.0 or 2.5 failed in a slice ('slice indices must be integers'), '2' in a
    comparison, and True was taken as 1 frame (no temporal skip at all) in silence."""
    with pytest.raises(TypeError, match=rf"context must be a whole number of frames, got {context!r}"):
        RecurrentResNet(tiny_backbone(), "identity", context=context)
    assert RecurrentResNet(tiny_backbone(), "identity", context=numpy.int64(3)).positions == ("layer4.0", "layer4.1")


def test_parameters_per_skip_type():
    """Eq. 2 adds no weights; Eq. 3 a 1x1 conv; Eq. 4 a 1x1 conv and a BN (at a projection unit, in->out channels)."""
    base = resnet50().num_parameters()
    extra = {skip: RecurrentResNet(resnet50(), skip, ("mid_block4",)).num_parameters() - base
             for skip in ("identity", "linear", "nonlinear")}
    assert extra == {"identity": 0, "linear": 1024 * 2048, "nonlinear": 1024 * 2048 + 2 * 2048}


def test_imagenet_weights_load_strictly_into_the_backbone(tmp_path, rng):
    from tinyrrn.weights import load_npz, save_npz
    source = resnet_small(num_classes=5)
    save_npz(source, tmp_path / "w.npz")
    model = RecurrentResNet(resnet_small(num_classes=5), "nonlinear", ("block4",))
    before = host(model.temporal.layer4_1.conv.weight)
    load_npz(model.backbone, tmp_path / "w.npz", strict=True)
    for key, value in source.state_dict().items():
        numpy.testing.assert_array_equal(host(model.backbone.state_dict()[key]), host(value))
    numpy.testing.assert_array_equal(host(model.temporal.layer4_1.conv.weight), before)
    assert numpy.abs(before).sum() > 0  # W_s initialised, not zero
    keys = model.state_dict().keys()
    assert "backbone.layer4.1.conv2.weight" in keys and "temporal.layer4_1.bn.running_var" in keys


def test_a_float32_resnet50_step_runs_and_only_needed_frames_are_computed(rng):
    model = RecurrentResNet(resnet50(num_classes=4), "identity", ("block4",), context=2)
    clip = Tensor(on_device(rng.standard_normal((1, 3, 3, 64, 64)).astype("float32")), requires_grad=True)
    loss = F.cross_entropy(model(clip), on_device([1]))
    loss.backward()
    assert numpy.isfinite(loss.item())
    assert numpy.all(host(clip.grad)[:, 0] == 0) and numpy.any(host(clip.grad)[:, 1:] != 0)
    with no_grad():
        assert model.eval()(clip).shape == (1, 4)


@pytest.mark.parametrize("clips", [[[1.0]], None, 3.0, numpy.zeros((1, 2, 3, 8, 8), numpy.float32)])
def test_clips_that_are_no_tensor_are_refused_as_a_resnet_refuses_its_frames(clips):
    """A list, None or a number was an AttributeError ('list' object has no attribute 'ndim'); the backbone (and
    torch's modules) refuse such input with a TypeError naming it."""
    with pytest.raises(TypeError, match=rf"RecurrentResNet: expected a Tensor, got {type(clips).__name__} as argument "
                                        r"'clips'"):
        RecurrentResNet(tiny_backbone(), "identity", ("block4",))(clips)


@pytest.mark.parametrize("backbone", [nn.Linear(3, 4), "resnet50", None])
def test_a_backbone_that_is_no_resnet_is_refused_saying_so(backbone):
    """A backbone that is no ResNet failed on a missing attribute ('Linear' object has no attribute 'units')."""
    with pytest.raises(TypeError, match=r"RecurrentResNet: the backbone must be a tinyrrn ResNet .*got "):
        RecurrentResNet(backbone, "identity")
