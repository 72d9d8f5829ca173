"""Layers with PyTorch's constructor arguments and parameter names."""
from .. import backend
from .. import functional as F
from ..functional import channels_last
from ..functional._util import ArgumentError, check_tensors, integer, pair
from ..functional.loss import legacy_reduction
from ..tensor import Tensor
from . import init
from .module import Module, Parameter, check_factory_arguments


def _on_default_device(array):
    return backend.to_device(array, backend.get_device())


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")  # PyTorch's


class Conv2d(Module):
    """2-D convolution; the weight (out, in/groups, kh, kw) is stored channels-last like the activations.
    A ``padding_mode`` other than 'zeros' pads the input with F.pad in that mode, then convolves, as PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        check_factory_arguments("Conv2d", device, dtype)
        kh, kw = pair(kernel_size, "kernel_size", "Conv2d", minimum=0, single=False)  # a negative size: no weight
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {PADDING_MODES}, but got padding_mode={padding_mode!r}")
        if isinstance(padding, str):  # as PyTorch, checked when the layer is made; the sizes (a stride of 0, a
            if padding not in ("same", "valid"):  # negative padding, an empty kernel) by F.conv2d, at its forward
                raise ValueError(f"Conv2d: invalid padding string {padding!r}, should be one of ('valid', 'same')")
            if padding == "same" and pair(stride, "stride", "Conv2d", minimum=1) != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
        _conv_settings(self, "Conv2d", in_channels, out_channels, (kh, kw), stride, padding, dilation, groups, 0)
        self.padding_mode = padding_mode
        self.weight = Parameter(_conv_weight((out_channels, in_channels // groups, kh, kw)))
        self.register_parameter("bias", Parameter(_conv_bias(self.weight.shape)) if bias else None)

    def reset_parameters(self):
        _reset_weight_and_bias(self)

    def forward(self, input):
        if self.padding_mode == "zeros":
            return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        padded = F.pad(input, self._pads(), mode=self.padding_mode)
        return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def _pads(self):
        """The padding as F.pad's (left, right, top, bottom): 'same' with an odd total one more after, as PyTorch."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(pair(self.dilation, "dilation", "Conv2d"), self.kernel_size)]
            return tuple(p for total in reversed(totals) for p in (total // 2, total - total // 2))
        h, w = pair(self.padding, "padding", "Conv2d")
        return (w, w, h, h)

    def extra_repr(self):
        return _conv_repr(self)


class ConvTranspose2d(Module):
    """Transposed 2-D convolution (conv2d's input gradient as a layer); weight (in, out/groups, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        check_factory_arguments("ConvTranspose2d", device, dtype)
        kh, kw = pair(kernel_size, "kernel_size", "ConvTranspose2d", minimum=0, single=False)
        if padding_mode != "zeros":
            raise ValueError(f'ConvTranspose2d: only "zeros" padding mode is supported (as PyTorch), got {padding_mode!r}')
        _conv_settings(self, "ConvTranspose2d", in_channels, out_channels, (kh, kw), stride, padding, dilation,
                       groups, output_padding)
        self.weight = Parameter(_conv_weight((in_channels, out_channels // groups, kh, kw)))
        self.register_parameter("bias", Parameter(_conv_bias(self.weight.shape, out_channels)) if bias else None)

    def reset_parameters(self):
        _reset_weight_and_bias(self)

    def forward(self, input, output_size=None):
        """``output_size`` ((H, W), or with the batch and channel sizes too) picks output_padding as PyTorch's:
        a size from the smallest output to stride - 1 more, else its ValueError."""
        output_padding = self.output_padding if output_size is None else self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)

    def _output_padding(self, input, output_size):
        check_tensors("ConvTranspose2d", input)
        output_size = [integer("ConvTranspose2d", "output_size", n) for n in output_size]
        if len(output_size) == input.ndim:
            output_size = output_size[-2:]
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2D: for {input.ndim}D input, output_size must have 2 or {input.ndim} "
                             f"elements (got {len(output_size)})")
        stride, padding, dilation = (pair(v, name, "ConvTranspose2d") for v, name in
                                     ((self.stride, "stride"), (self.padding, "padding"), (self.dilation, "dilation")))
        smallest = [(input.shape[d - 2] - 1) * stride[d] - 2 * padding[d] + dilation[d] * (self.kernel_size[d] - 1) + 1
                    for d in range(2)]
        largest = [n + s - 1 for n, s in zip(smallest, stride)]
        if not all(a <= n <= b for a, n, b in zip(smallest, output_size, largest)):
            raise ValueError(f"requested an output size of {tuple(output_size)}, but valid sizes range from {smallest} to "
                             f"{largest} (for an input of {tuple(input.shape[-2:])})")
        return tuple(n - a for n, a in zip(output_size, smallest))

    def extra_repr(self):
        return _conv_repr(self)


def _conv_settings(conv, layer, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                   output_padding):
    """Check a convolution's channel counts and groups (ints, named when not) and keep its settings as PyTorch's
    attributes: sizes as tuples (an int twice, a sequence as given; a padding string as it is)."""
    in_channels, out_channels = (integer(layer, name, value) for name, value in
                                 (("in_channels", in_channels), ("out_channels", out_channels)))
    groups = integer(layer, "groups", groups)
    if groups < 1:
        raise ArgumentError(f"{layer}: groups must be a positive integer, got {groups}")
    if in_channels % groups or out_channels % groups:
        raise ArgumentError(f"{layer}: in_channels {in_channels} and out_channels {out_channels} must "
                            f"be divisible by groups {groups}")
    conv.in_channels, conv.out_channels, conv.kernel_size, conv.groups = in_channels, out_channels, kernel_size, groups
    conv.stride, conv.dilation, conv.output_padding = (_as_pair(v) for v in (stride, dilation, output_padding))
    conv.padding = padding if isinstance(padding, str) else _as_pair(padding)
    conv.transposed, conv.padding_mode = layer == "ConvTranspose2d", "zeros"


def _as_pair(value):
    """PyTorch's _pair: a sequence as a tuple, anything else twice."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _conv_repr(conv):
    """A convolution's settings as PyTorch prints them (its attributes, whatever its weight is now): sizes as pairs,
    those at their defaults left out."""
    settings = {"padding": (conv.padding, 0), "dilation": (conv.dilation, 1), "output_padding": (conv.output_padding, 0)}
    return (f"{conv.in_channels}, {conv.out_channels}, kernel_size={conv.kernel_size}, stride={conv.stride}"
            + "".join(f", {name}={value}" for name, (value, default) in settings.items()
                      if value != (default,) * len(value))
            + (f", groups={conv.groups}" if conv.groups != 1 else "")
            + (", bias=False" if conv.bias is None else "")
            + (f", padding_mode={conv.padding_mode}" if conv.padding_mode != "zeros" else ""))


def _reset_weight_and_bias(layer):
    """PyTorch's reset_parameters of Linear and the convolutions: their default weight and bias drawn anew, written
    into the parameters in place (each keeps its array, device and memory layout)."""
    init._fill(layer.weight, init.layer_default_weight(layer.weight.shape))
    if layer.bias is not None:
        fan_in = init.fan_in_and_fan_out(layer.weight.shape)[0]
        init._fill(layer.bias, init.symmetric_uniform(layer.bias.shape, 1 / fan_in ** 0.5 if fan_in else 0.0))


def _conv_weight(shape):
    """PyTorch's default conv weight, channels-last on the default device."""
    return channels_last(_on_default_device(init.layer_default_weight(shape)))


def _conv_bias(weight_shape, size=None):
    """PyTorch's default conv bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from dim 1 of the weight."""
    fan_in = init.fan_in_and_fan_out(weight_shape)[0]
    bound = 1 / fan_in ** 0.5 if fan_in else 0.0
    return _on_default_device(init.symmetric_uniform((size or weight_shape[0],), bound))


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel, with running statistics as buffers.

    ``momentum=None`` makes the running statistics a cumulative average: the module passes
    1 / num_batches_tracked as F.batch_norm's momentum, as PyTorch does. ``affine=False``
    learns no scale and shift, ``bias=False`` (keyword-only, as PyTorch's) no shift; ``track_running_stats=False``
    keeps no statistics and uses the batch's in evaluation too. As PyTorch's, forward reads the attributes as they are now:
    statistics are updated only while training with ``track_running_stats``, and evaluation
    uses the buffers unless both are None (set False after they were made, they are kept and used).

    ``reduce`` is F.batch_norm's reduction hook (None: this batch's statistics alone);
    tinyrrn.parallel.SyncBatchNorm sums the statistics over the ranks there.
    """

    reduce = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        check_factory_arguments("BatchNorm2d", device, dtype)
        xp = backend.module_for(None)
        if affine or track_running_stats:  # tensors of num_features values: an int, not negative, as PyTorch
            init.check_shape((integer("BatchNorm2d", "num_features", num_features),))
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.register_parameter("weight", Parameter(xp.ones(num_features, dtype="float32")) if affine else None)
        self.register_parameter("bias", Parameter(xp.zeros(num_features, dtype="float32")) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(xp.zeros(num_features, dtype="float32")))
            self.register_buffer("running_var", Tensor(xp.ones(num_features, dtype="float32")))
            self.register_buffer("num_batches_tracked", Tensor(xp.zeros((), dtype="int64")))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        """PyTorch's: the running statistics back to mean 0, variance 1 and no batch counted, in place."""
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                init._fill(buffer, value)

    def reset_parameters(self):
        """reset_running_stats, and the scale and shift back to 1 and 0, as PyTorch's."""
        self.reset_running_stats()
        if self.affine:
            init._fill(self.weight, 1)
            if self.bias is not None:
                init._fill(self.bias, 0)

    def forward(self, input, *, relu=False, add=None):
        """Batch norm of the input x; with ``relu=True`` relu(batch norm of x), fused (F.batch_norm_relu); with
        ``add`` too, relu(batch norm of x + add), a residual unit's end (F.batch_norm_add_relu)."""
        x = input  # PyTorch's name
        if add is not None and not relu:
            raise ValueError("BatchNorm2d: add= is fused with the ReLU only (relu(bn(x) + add)); pass relu=True")
        check_tensors("BatchNorm2d", x)
        if x.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (N, C, H, W), got {x.ndim}D input of shape "
                             f"{tuple(x.shape)} (as PyTorch)")
        momentum = 0.0 if self.momentum is None else self.momentum
        tracked = self.num_batches_tracked
        if self.training and self.track_running_stats and tracked is not None:
            count = tracked.data  # += 1 in its array (a Tensor op would cost more than batch norm's small layers)
            count += 1
            tracked.version += 1
            if self.momentum is None:  # the cumulative average
                momentum = 1.0 / float(count)
        running = (self.running_mean, self.running_var) if not self.training or self.track_running_stats else \
            (None, None)  # statistics not tracked: none updated in training
        batch_statistics = self.training or (self.running_mean is None and self.running_var is None)
        arguments = (*running, self.weight, self.bias, batch_statistics, momentum, self.eps, self.reduce)
        if add is not None:
            return F.batch_norm_add_relu(x, add, *arguments)
        return (F.batch_norm_relu if relu else F.batch_norm)(x, *arguments)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")  # PyTorch 2.13's


class Linear(Module):
    """y = x W^T + b with W (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        check_factory_arguments("Linear", device, dtype)
        self.in_features, self.out_features = (integer("Linear", name, value) for name, value in
                                               (("in_features", in_features), ("out_features", out_features)))
        self.weight = Parameter(_on_default_device(init.layer_default_weight((out_features, in_features))))
        bound = 1 / in_features ** 0.5 if in_features else 0.0  # PyTorch: no bound without inputs
        self.register_parameter("bias", Parameter(_on_default_device(init.symmetric_uniform((out_features,), bound)))
                                if bias else None)

    def reset_parameters(self):
        _reset_weight_and_bias(self)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        """PyTorch's: its attributes, whatever its weight is now (None, say)."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """max(x, 0). With ``inplace=True`` x is overwritten and returned, as PyTorch, when no graph is being
    recorded (under no_grad, or x needs no gradient); while one is, it is refused (see F.relu)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Identity(Module):
    """x itself; its arguments are ignored, as PyTorch's."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = kernel_size if stride is None else stride  # PyTorch's attribute
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.padding, self.ceil_mode = kernel_size, padding, ceil_mode
        self.stride = kernel_size if stride is None else stride  # PyTorch's attribute
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Dropout(Module):
    """Zero activations with probability p while training."""

    def __init__(self, p=0.5, inplace=False):
        """``inplace``: x is overwritten as ReLU's (when no graph is being recorded; refused while one is)."""
        super().__init__()
        self.inplace = inplace
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Flatten(Module):
    """Dimensions start_dim..end_dim merged into one (the batch dimension kept, by default), as torch.nn.Flatten."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Dimension ``dim`` split into dimensions of ``unflattened_size`` (a tuple or list of ints, one may be -1), as
    torch.nn.Unflatten (a named dimension, a str ``dim``, is refused by F.unflatten: tinyrrn has no named tensors)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError("unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        for position, size in enumerate(unflattened_size):
            if not isinstance(size, int):
                raise TypeError(f"unflattened_size must be tuple of ints, but found element of type "
                                f"{type(size).__name__} at pos {position}")
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input):
        return F.unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Softmax(Module):
    """F.softmax along ``dim`` (None: PyTorch's deprecated implicit choice, with its warning; see F.softmax)."""

    function = staticmethod(F.softmax)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return self.function(input, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    function = staticmethod(F.log_softmax)


class _Loss(Module):
    """A loss of tinyrrn.functional with its reduction (and PyTorch's deprecated size_average / reduce) and its other
    settings (``_options``) fixed when made, a weight kept as a buffer, as torch.nn's loss layers."""

    function = None

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = legacy_reduction(size_average, reduce, reduction)

    def forward(self, input, target):
        return type(self).function(input, target, reduction=self.reduction, **self._options())

    def _options(self):
        return {}

    def _keep_weight(self, name, weight):
        """A weight (a Tensor or None) as the buffer ``name``, as PyTorch's losses keep it."""
        if weight is not None:
            check_tensors(type(self).__name__, weight, names=(name,))
        self.register_buffer(name, weight)


class CrossEntropyLoss(_Loss):
    """F.cross_entropy with settings fixed when made (``weight`` kept as a buffer), as torch.nn.CrossEntropyLoss."""

    function = F.cross_entropy

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(size_average, reduce, reduction)
        self._keep_weight("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def _options(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index, "label_smoothing": self.label_smoothing}


class NLLLoss(CrossEntropyLoss):
    """F.nll_loss with settings fixed when made, as torch.nn.NLLLoss."""

    function = F.nll_loss

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    def _options(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index}


class AdaptiveMaxPool2d(Module):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` rows of ``embedding_dim`` values (F.embedding), N(0, 1) as PyTorch's,
    the ``padding_idx`` row zeros and given no gradient; ``_weight`` (a Tensor of that shape) starts it instead,
    ``_freeze`` keeps it from training. max_norm, scale_grad_by_freq and sparse are refused when called (F.embedding)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        check_factory_arguments("Embedding", device, dtype)
        shape = tuple(integer("Embedding", name, value) for name, value in
                      (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)))
        init.check_shape(shape)
        if padding_idx is not None:
            padding_idx = integer("Embedding", "padding_idx", padding_idx)
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")  # (PyTorch's assert)
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(_on_default_device(init.normal_values(shape)))
            if padding_idx is not None:
                self.weight.data[padding_idx] = 0
        else:
            check_tensors("Embedding", _weight, names=("_weight",))
            if tuple(_weight.shape) != shape:
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight.data)
        self.weight.requires_grad_(not _freeze)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        """PyTorch's: the sizes, then the settings that are not their defaults."""
        settings = [("padding_idx", self.padding_idx, None), ("max_norm", self.max_norm, None),
                    ("norm_type", self.norm_type, 2), ("scale_grad_by_freq", self.scale_grad_by_freq, False),
                    ("sparse", self.sparse, False)]
        return ", ".join([f"{self.num_embeddings}, {self.embedding_dim}"] +
                         [f"{name}={value}" for name, value, default in settings if value != default])


class MSELoss(_Loss):
    function = F.mse_loss


class L1Loss(_Loss):
    function = F.l1_loss


class SmoothL1Loss(_Loss):
    function = F.smooth_l1_loss

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def _options(self):
        return {"beta": self.beta}


class HuberLoss(_Loss):
    function = F.huber_loss

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def _options(self):
        return {"delta": self.delta}


class KLDivLoss(_Loss):
    function = F.kl_div

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def _options(self):
        return {"log_target": self.log_target}


class BCELoss(_Loss):
    """F.binary_cross_entropy, ``weight`` kept as a buffer (as PyTorch's)."""

    function = F.binary_cross_entropy

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self._keep_weight("weight", weight)

    def _options(self):
        return {"weight": self.weight}


class BCEWithLogitsLoss(BCELoss):
    """F.binary_cross_entropy_with_logits, ``weight`` and ``pos_weight`` kept as buffers (as PyTorch's)."""

    function = F.binary_cross_entropy_with_logits

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self._keep_weight("pos_weight", pos_weight)

    def _options(self):
        return {"weight": self.weight, "pos_weight": self.pos_weight}


class LayerNorm(Module):
    """F.layer_norm over the last dimensions, of ``normalized_shape``; with ``elementwise_affine`` a weight (ones)
    and, unless ``bias=False``, a bias (zeros) of that shape, as PyTorch's."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        check_factory_arguments("LayerNorm", device, dtype)
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(integer("LayerNorm", "normalized_shape", size) for size in shape)
        init.check_shape(self.normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        xp = backend.module_for(None)
        self.register_parameter("weight", Parameter(xp.ones(self.normalized_shape, dtype="float32"))
                                if elementwise_affine else None)
        self.register_parameter("bias", Parameter(xp.zeros(self.normalized_shape, dtype="float32"))
                                if elementwise_affine and bias else None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """F.group_norm of ``num_channels`` channels in ``num_groups`` groups; with ``affine`` a weight (ones) and, unless
    ``bias=False``, a bias (zeros) per channel, as PyTorch's."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        check_factory_arguments("GroupNorm", device, dtype)
        self.num_groups, self.num_channels = (integer("GroupNorm", name, value) for name, value in
                                              (("num_groups", num_groups), ("num_channels", num_channels)))
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.eps, self.affine = eps, affine
        xp = backend.module_for(None)
        self.register_parameter("weight", Parameter(xp.ones(num_channels, dtype="float32")) if affine else None)
        self.register_parameter("bias", Parameter(xp.zeros(num_channels, dtype="float32")) if affine and bias else None)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"
