"""PyTorch's calling conventions: each call form below (positional, PyTorch's keyword names, mixed, and forms PyTorch
refuses) made on PyTorch 2.13 and on tinyrrn with the same inputs; both succeed with equal results, or both raise the
same error type (tinyrrn may refuse an option it lacks with NotImplementedError). Skipped without torch."""
import types

import numpy
import pytest

from devices import host, on_device
from tinyrrn import Tensor
from tinyrrn import functional as F

torch = pytest.importorskip("torch", reason='needs PyTorch as a reference oracle: pip install ".[oracle]"')
pytestmark = pytest.mark.oracle

# the namespaces a form calls: PyTorch's (torch, torch.nn.functional) or tinyrrn's, where both are F
OURS = types.SimpleNamespace(F=F, T=F, float64="float64", int64="int64")
THEIRS = types.SimpleNamespace(F=torch.nn.functional, T=torch, float64=torch.float64, int64=torch.int64)

# (name, form): form(m, x, y, c) with m a namespace above, x and y float64 tensors of shape (2, 3), c x > 0
FORMS = [
    # binary element-wise ops: torch.X(input, other) and x.X(other)
    *[(f"{op}-{how}", form) for op in ("add", "sub", "mul", "div", "remainder", "maximum", "minimum", "eq", "ne", "lt",
                                       "le", "gt", "ge", "floor_divide", "pow")
      for how, form in {
          "positional": lambda m, x, y, c, op=op: getattr(m.T, op)(x, y),
          "keywords": lambda m, x, y, c, op=op: getattr(m.T, op)(input=x, other=y) if op != "pow" else
          m.T.pow(input=x, exponent=y),
          "mixed": lambda m, x, y, c, op=op: getattr(m.T, op)(x, other=y) if op != "pow" else m.T.pow(x, exponent=y),
          "method-other": lambda m, x, y, c, op=op: getattr(x, op)(other=y) if op != "pow" else x.pow(exponent=y),
          "method-input": lambda m, x, y, c, op=op: getattr(x, op)(input=y),
          "wrong-keyword": lambda m, x, y, c, op=op: getattr(m.T, op)(x, b=y),
          "three-positional": lambda m, x, y, c, op=op: getattr(m.T, op)(x, y, y),
      }.items() if hasattr(F, op)],
    ("add-alpha", lambda m, x, y, c: m.T.add(input=x, other=y, alpha=2)),
    ("sub-alpha", lambda m, x, y, c: m.T.sub(x, other=y, alpha=2)),
    ("add-alpha-positional", lambda m, x, y, c: m.T.add(x, y, 2)),
    ("add_-other", lambda m, x, y, c: x.detach().clone().add_(other=y.detach(), alpha=2)),
    ("mul_-other", lambda m, x, y, c: x.detach().clone().mul_(other=y.detach())),
    ("div-rounding", lambda m, x, y, c: m.T.div(input=x, other=y, rounding_mode="floor")),
    ("div-rounding-positional", lambda m, x, y, c: m.T.div(x, y, "floor")),
    ("matmul-keywords", lambda m, x, y, c: m.T.matmul(input=x, other=y.transpose(0, 1))),
    ("matmul-method", lambda m, x, y, c: x.matmul(other=y.transpose(0, 1))),
    ("where-keywords", lambda m, x, y, c: m.T.where(condition=x > 0, input=x, other=y)),
    ("where-method", lambda m, x, y, c: x.where(condition=x > 0, other=y)),
    ("clamp-keywords", lambda m, x, y, c: m.T.clamp(input=x, min=-0.5, max=0.5)),
    ("clip-keywords", lambda m, x, y, c: m.T.clip(input=x, min=-0.5, max=0.5)),
    ("clamp_min-keywords", lambda m, x, y, c: m.T.clamp_min(input=x, min=0.0)),
    ("clamp_max-keywords", lambda m, x, y, c: m.T.clamp_max(input=x, max=0.0)),
    ("clamp_min-method", lambda m, x, y, c: x.clamp_min(min=0.0)),
    # unary ops: torch.X(input)
    *[(f"{op}-input", lambda m, x, y, c, op=op: getattr(m.T, op)(input=c))
      for op in ("abs", "neg", "exp", "log", "sqrt", "square", "reciprocal", "sigmoid", "tanh", "relu")],
    *[(f"{op}-wrong-keyword", lambda m, x, y, c, op=op: getattr(m.T, op)(tensor=c)) for op in ("abs", "exp", "relu")],
    ("F.relu-keywords", lambda m, x, y, c: m.F.relu(input=x, inplace=False)),
    ("F.dropout-keywords", lambda m, x, y, c: m.F.dropout(input=x, p=0.5, training=False, inplace=False)),
    ("F.softmax-keywords", lambda m, x, y, c: m.F.softmax(input=x, dim=1)),
    ("softmax-axis", lambda m, x, y, c: m.T.softmax(x, axis=1)),
    ("F.log_softmax-keywords", lambda m, x, y, c: m.F.log_softmax(input=x, dim=1, dtype=m.float64)),
    ("softmax-method", lambda m, x, y, c: x.softmax(dim=1)),
    ("F.linear-keywords", lambda m, x, y, c: m.F.linear(input=x, weight=y, bias=None)),
    ("F.pad-keywords", lambda m, x, y, c: m.F.pad(input=x, pad=(1, 1), mode="constant", value=2.0)),
    ("F.cross_entropy-keywords", lambda m, x, y, c: m.F.cross_entropy(input=x, target=(x[:, 0] > 0).long(),
                                                                      reduction="sum")),
    ("F.nll_loss-keywords", lambda m, x, y, c: m.F.nll_loss(input=x, target=(x[:, 0] > 0).long())),
    # reductions
    *[(f"{op}-{how}", form) for op in ("sum", "mean", "amax", "amin", "argmax", "argmin", "var", "std")
      for how, form in {
          "keywords": lambda m, x, y, c, op=op: getattr(m.T, op)(input=x, dim=1, keepdim=True),
          "positional": lambda m, x, y, c, op=op: getattr(m.T, op)(x, 1),
          "axis": lambda m, x, y, c, op=op: getattr(m.T, op)(x, axis=1),
          "method-axis": lambda m, x, y, c, op=op: getattr(x, op)(axis=1),
          "method-keywords": lambda m, x, y, c, op=op: getattr(x, op)(dim=1, keepdim=True),
      }.items()],
    ("sum-dtype", lambda m, x, y, c: m.T.sum(x, 1, True, dtype=m.float64)),
    ("sum-dtype-positional", lambda m, x, y, c: x.sum(1, True, m.float64)),
    ("mean-keepdims", lambda m, x, y, c: m.T.mean(x, 1, keepdims=True)),
    ("max-keywords", lambda m, x, y, c: m.T.max(input=x, dim=1, keepdim=True)),
    ("max-other", lambda m, x, y, c: m.T.max(x, other=y)),
    ("max-method-other", lambda m, x, y, c: x.max(other=y)),
    ("min-input", lambda m, x, y, c: m.T.min(input=x)),
    ("min-axis", lambda m, x, y, c: m.T.min(x, axis=1)),
    ("var-unbiased", lambda m, x, y, c: m.T.var(input=x, dim=1, unbiased=False, keepdim=True)),
    ("var-correction", lambda m, x, y, c: m.T.var(x, dim=1, correction=0)),
    ("std-positional4", lambda m, x, y, c: m.T.std(x, 1, True, True)),
    # shapes
    ("transpose-keywords", lambda m, x, y, c: m.T.transpose(input=x, dim0=0, dim1=1)),
    ("transpose-method-axis", lambda m, x, y, c: x.transpose(axis0=0, axis1=1)),
    ("swapaxes-keywords", lambda m, x, y, c: x.swapaxes(axis0=0, axis1=1)),
    ("swapaxes-function", lambda m, x, y, c: m.T.swapaxes(input=x, axis0=0, axis1=1)),
    ("swapaxes-dim-names", lambda m, x, y, c: x.swapaxes(dim0=0, dim1=1)),
    ("swapdims-keywords", lambda m, x, y, c: x.swapdims(dim0=0, dim1=1)),
    ("permute-keywords", lambda m, x, y, c: m.T.permute(input=x, dims=(1, 0))),
    ("permute-method", lambda m, x, y, c: x.permute(dims=(1, 0))),
    ("reshape-keywords", lambda m, x, y, c: m.T.reshape(input=x, shape=(3, 2))),
    ("reshape-method", lambda m, x, y, c: x.reshape(shape=(3, 2))),
    ("view-method", lambda m, x, y, c: x.view(size=(3, 2))),
    ("expand-method", lambda m, x, y, c: x[:1].expand(size=(4, 3))),
    ("repeat-method", lambda m, x, y, c: x.repeat(repeats=(2, 1))),
    ("flip-keywords", lambda m, x, y, c: m.T.flip(input=x, dims=(0,))),
    ("flip-method", lambda m, x, y, c: x.flip(0)),
    ("squeeze-keywords", lambda m, x, y, c: m.T.squeeze(input=x[:1], dim=0)),
    ("squeeze-axis", lambda m, x, y, c: x[:1].squeeze(axis=0)),
    ("unsqueeze-keywords", lambda m, x, y, c: m.T.unsqueeze(input=x, dim=0)),
    ("unsqueeze-axis", lambda m, x, y, c: x.unsqueeze(axis=0)),
    ("flatten-keywords", lambda m, x, y, c: m.T.flatten(input=x, start_dim=0, end_dim=-1)),
    ("flatten-axis", lambda m, x, y, c: x.flatten(axis=0)),
    ("stack-keywords", lambda m, x, y, c: m.T.stack(tensors=[x, y], dim=1)),
    ("stack-axis", lambda m, x, y, c: m.T.stack([x, y], axis=1)),
    ("concatenate-keywords", lambda m, x, y, c: m.T.concatenate(tensors=[x, y], dim=1)),
    ("clone-keywords", lambda m, x, y, c: m.T.clone(input=x)),
    ("expand_as-other", lambda m, x, y, c: x[:1].expand_as(other=y)),
    ("view_as-other", lambda m, x, y, c: x.view_as(other=y)),
    ("reshape_as-other", lambda m, x, y, c: x.reshape_as(other=y)),
    ("type_as-other", lambda m, x, y, c: x.type_as(other=y)),
    ("size-dim", lambda m, x, y, c: x.size(dim=1)),
    ("size-axis", lambda m, x, y, c: x.size(axis=1)),
    ("max-axis-and-dim", lambda m, x, y, c: m.T.max(x, axis=1, dim=1)),
    ("sum-axis-twice", lambda m, x, y, c: m.T.sum(x, 1, axis=1)),
    ("argmax-keepdims", lambda m, x, y, c: m.T.argmax(x, axis=1, keepdims=True)),
    ("std-axis-keepdims", lambda m, x, y, c: m.T.std(x, axis=1, unbiased=False, keepdims=True)),
    ("fill_-value", lambda m, x, y, c: x.detach().clone().fill_(value=1.0)),
    ("to-dtype", lambda m, x, y, c: x.to(dtype=m.int64)),
    ("to-tensor", lambda m, x, y, c: x.to((y > 0).long())),
    ("to-keywords", lambda m, x, y, c: x.to(device="cpu", dtype=m.int64, non_blocking=False, copy=False)),
    ("to-copy", lambda m, x, y, c: (lambda t: (t.detach().fill_(5.0), x)[1])(x.to(m.float64, copy=True))),
    ("to-non-blocking", lambda m, x, y, c: x.to(m.float64, non_blocking=True) is x),
    ("numpy-force", lambda m, x, y, c: x.numpy(force=True)),
    ("numpy-force-positional", lambda m, x, y, c: x.numpy(True)),
    ("requires_grad_-keyword", lambda m, x, y, c: x.detach().requires_grad_(requires_grad=True).requires_grad),
    ("backward-keywords", lambda m, x, y, c: (x.sum().backward(gradient=None, retain_graph=None, create_graph=False,
                                                               inputs=None), x.grad)[1]),
    ("clamp-method", lambda m, x, y, c: x.clamp(min=-0.1, max=0.1)),
    ("clamp-method-tensor", lambda m, x, y, c: x.clamp(min=y)),
    ("max-positional", lambda m, x, y, c: x.max(1, True)),
    ("var-method-unbiased", lambda m, x, y, c: x.var(unbiased=False)),
    ("std-method-positional", lambda m, x, y, c: x.std(0, True)),
    ("mean-dtype", lambda m, x, y, c: x.mean(dtype=m.float64)),
    ("log_softmax-method", lambda m, x, y, c: x.log_softmax(dim=1, dtype=m.float64)),
    ("squeeze-tuple", lambda m, x, y, c: x[:1, None].squeeze(dim=(0, 1))),
    ("where-condition-only", lambda m, x, y, c: m.T.where(x > 0)),
    ("expand-positional", lambda m, x, y, c: x[:1].expand(4, -1)),
    ("repeat-positional", lambda m, x, y, c: x.repeat(2, 1)),
    ("permute-positional", lambda m, x, y, c: x.permute(1, 0)),
    ("view-positional", lambda m, x, y, c: x.view(3, 2)),
    ("reshape-method-tuple", lambda m, x, y, c: x.reshape((3, -1))),
    ("flatten-method", lambda m, x, y, c: x.flatten(1)),
    ("F.relu-inplace-positional", lambda m, x, y, c: m.F.relu(x.detach().clone(), True)),
    ("F.dropout-positional", lambda m, x, y, c: m.F.dropout(x, 0.5, False)),
    ("F.conv2d-keywords", lambda m, x, y, c: m.F.conv2d(input=x.reshape(1, 1, 2, 3), weight=y.reshape(1, 1, 2, 3),
                                                        bias=None, stride=1, padding="same", dilation=1, groups=1)),
    ("F.conv_transpose2d-keywords", lambda m, x, y, c: m.F.conv_transpose2d(
        input=x.reshape(1, 1, 2, 3), weight=y.reshape(1, 1, 2, 3), bias=None, stride=2, padding=0, output_padding=1,
        groups=1, dilation=1)),
    ("F.max_pool2d-keywords", lambda m, x, y, c: m.F.max_pool2d(input=x.reshape(1, 1, 2, 3), kernel_size=2, stride=1,
                                                                padding=1, dilation=1, ceil_mode=True,
                                                                return_indices=True)),
    ("F.avg_pool2d-keywords", lambda m, x, y, c: m.F.avg_pool2d(input=x.reshape(1, 1, 2, 3), kernel_size=2, stride=1,
                                                                padding=1, ceil_mode=False, count_include_pad=False,
                                                                divisor_override=None)),
    ("F.adaptive_avg_pool2d-keywords", lambda m, x, y, c: m.F.adaptive_avg_pool2d(input=x.reshape(1, 1, 2, 3),
                                                                                  output_size=(1, 2))),
    ("F.batch_norm-keywords", lambda m, x, y, c: m.F.batch_norm(
        input=x.reshape(2, 3, 1, 1), running_mean=None, running_var=None, weight=c[0], bias=y[0], training=True,
        momentum=0.1, eps=1e-5)),
    ("F.cross_entropy-all", lambda m, x, y, c: m.F.cross_entropy(input=x, target=(x[:, 0] > 0).long(), weight=c[0],
                                                                 size_average=None, ignore_index=1, reduce=None,
                                                                 reduction="mean", label_smoothing=0.1)),
    ("F.linear-positional", lambda m, x, y, c: m.F.linear(x, y, y[:, 0])),
    ("F.pad-positional", lambda m, x, y, c: m.F.pad(x, (1, 0, 0, 1), "constant", 1.0)),
    ("F.softmax-dtype", lambda m, x, y, c: m.F.softmax(x, 1, dtype=m.float64)),
]


def _tensors(m):
    rng = numpy.random.default_rng(0)
    arrays = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)) + 0.1, rng.uniform(0.5, 2, (2, 3))
    if m is OURS:
        return [Tensor(on_device(a), requires_grad=True) for a in arrays]
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def _call(m, form):
    try:
        return form(m, *_tensors(m)), None
    except Exception as error:  # noqa: BLE001 (the error's type is compared)
        return None, error


def _values(out):
    if isinstance(out, tuple):
        return [v for item in out for v in _values(item)]
    if isinstance(out, Tensor):
        return [host(out)]
    if isinstance(out, torch.Tensor):
        return [out.detach().numpy()]
    return [numpy.asarray(out if isinstance(out, (bool, int, float, numpy.ndarray)) else host(out))]  # (a device
    # array)


def _both_answer(their_error, our_error):
    """Whether both libraries answered the call (their answers are then compared): where PyTorch refuses it, tinyrrn
    must refuse it with an error of PyTorch's type; where PyTorch takes it, tinyrrn must too, or refuse an option it
    lacks saying so (NotImplementedError)."""
    if their_error is not None:
        assert our_error is not None, f"PyTorch refuses this call ({their_error!r}), tinyrrn takes it"
        assert isinstance(our_error, type(their_error)), f"PyTorch: {their_error!r}, tinyrrn: {our_error!r}"
        return False
    if isinstance(our_error, NotImplementedError):  # a refused option, said so
        return False
    assert our_error is None, f"PyTorch takes this call, tinyrrn raised {our_error!r}"
    return True


@pytest.mark.parametrize("form", [form for _, form in FORMS], ids=[name for name, _ in FORMS])
def test_call_forms_as_pytorch(form):
    theirs, their_error = _call(THEIRS, form)
    ours, our_error = _call(OURS, form)
    if not _both_answer(their_error, our_error):
        return
    for o, t in zip(_values(ours), _values(theirs), strict=True):
        assert o.shape == t.shape
        numpy.testing.assert_allclose(o, t, rtol=1e-6, atol=1e-12)


# (name, form): form(nn, optim, params) builds a module or an optimiser, nn and optim PyTorch's or tinyrrn's
CONSTRUCTORS = [
    ("Linear-keywords", lambda nn, optim, p: nn.Linear(in_features=3, out_features=2, bias=False)),
    ("Conv2d-keywords", lambda nn, optim, p: nn.Conv2d(in_channels=2, out_channels=4, kernel_size=3, stride=1, padding=1,
                                                       dilation=1, groups=2, bias=True, padding_mode="zeros")),
    ("ConvTranspose2d-positional", lambda nn, optim, p: nn.ConvTranspose2d(2, 4, 3, 1, 0, 0, 1, False, 1)),
    ("BatchNorm2d-keywords", lambda nn, optim, p: nn.BatchNorm2d(num_features=3, eps=1e-3, momentum=None, affine=True,
                                                                 track_running_stats=False)),
    ("BatchNorm2d-bias", lambda nn, optim, p: nn.BatchNorm2d(3, bias=False)),
    ("BatchNorm2d-bias-positional", lambda nn, optim, p: nn.BatchNorm2d(3, 1e-5, 0.1, True, True, None, None, False)),
    ("MaxPool2d-keywords", lambda nn, optim, p: nn.MaxPool2d(kernel_size=2, stride=1, padding=0, dilation=1,
                                                             return_indices=False, ceil_mode=False)),
    ("AvgPool2d-keywords", lambda nn, optim, p: nn.AvgPool2d(kernel_size=2, stride=1, padding=1, ceil_mode=True,
                                                             count_include_pad=False, divisor_override=None)),
    ("AdaptiveAvgPool2d-keywords", lambda nn, optim, p: nn.AdaptiveAvgPool2d(output_size=1)),
    ("Softmax-keywords", lambda nn, optim, p: nn.Softmax(dim=1)),
    ("LogSoftmax-keywords", lambda nn, optim, p: nn.LogSoftmax(dim=1)),
    ("Dropout-keywords", lambda nn, optim, p: nn.Dropout(p=0.1, inplace=False)),
    ("ReLU-keywords", lambda nn, optim, p: nn.ReLU(inplace=False)),
    ("Sigmoid-argument", lambda nn, optim, p: nn.Sigmoid(1)),
    ("Tanh-keyword", lambda nn, optim, p: nn.Tanh(inplace=True)),
    ("Identity-arguments", lambda nn, optim, p: nn.Identity(1, unused=2)),
    ("Flatten-keywords", lambda nn, optim, p: nn.Flatten(start_dim=0, end_dim=-1)),
    ("CrossEntropyLoss-keywords", lambda nn, optim, p: nn.CrossEntropyLoss(weight=None, ignore_index=1, reduction="sum",
                                                                           label_smoothing=0.1)),
    ("NLLLoss-keywords", lambda nn, optim, p: nn.NLLLoss(weight=None, ignore_index=1, reduction="sum")),
    ("GRU-keywords", lambda nn, optim, p: nn.GRU(input_size=3, hidden_size=4, num_layers=2, bias=False,
                                                 batch_first=True, dropout=0.0, bidirectional=False)),
    ("SGD-keywords", lambda nn, optim, p: optim.SGD(params=p, lr=0.1, momentum=0.9, dampening=0, weight_decay=0.01,
                                                    nesterov=True, maximize=False)),
    ("SGD-maximize-positional", lambda nn, optim, p: optim.SGD(p, 0.1, 0.9, 0, 0, False, True)),
    ("Adam-keywords", lambda nn, optim, p: optim.Adam(params=p, lr=0.1, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1,
                                                      amsgrad=True, maximize=False)),
    ("Adam-maximize-positional", lambda nn, optim, p: optim.Adam(p, 0.1, (0.8, 0.9), 1e-6, 0, False, True)),
    ("AdamW-keywords", lambda nn, optim, p: optim.AdamW(params=p, lr=0.1, betas=(0.8, 0.9), eps=1e-6,
                                                        weight_decay=0.1, amsgrad=False)),
]


def _build(ours, form):
    import tinyrrn
    nn, optim = (tinyrrn.nn, tinyrrn.optim) if ours else (torch.nn, torch.optim)
    params = [Tensor(on_device(numpy.ones(3)), requires_grad=True) if ours else torch.ones(3, requires_grad=True)]
    try:
        return form(nn, optim, params), None
    except Exception as error:  # noqa: BLE001 (the error's type is compared)
        return None, error


def _described(built):
    """A module's parameters (names and shapes), or an optimiser's hyperparameters."""
    if hasattr(built, "param_groups"):
        return {k: v for k, v in built.param_groups[0].items() if k != "params" and not k.startswith("_")}
    return [(name, tuple(p.shape)) for name, p in built.named_parameters()]


@pytest.mark.parametrize("form", [form for _, form in CONSTRUCTORS], ids=[name for name, _ in CONSTRUCTORS])
def test_constructors_as_pytorch(form):
    theirs, their_error = _build(False, form)
    ours, our_error = _build(True, form)
    if not _both_answer(their_error, our_error):
        return
    described = _described(ours)
    assert {k: v for k, v in _described(theirs).items() if k in described} == described if isinstance(described, dict) \
        else _described(theirs) == described
