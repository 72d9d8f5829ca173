"""Layers with PyTorch's constructor arguments and parameter names."""
from .. import backend
from .. import functional as F
from ..functional import channels_last
from . import init
from .module import Module, Parameter


def _on_default_device(array):
    return backend.to_device(array, backend.get_device())


class Conv2d(Module):
    """2-D convolution; the weight (out, in, kh, kw) is stored channels-last like the activations."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.stride, self.padding = stride, padding
        shape = (out_channels, in_channels, kh, kw)
        self.weight = Parameter(channels_last(_on_default_device(init.kaiming_uniform(shape))))
        if bias:
            bound = 1 / (in_channels * kh * kw) ** 0.5
            self.bias = Parameter(_on_default_device(init.uniform((out_channels,), bound)))
        else:
            self.bias = None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        o, c, kh, kw = self.weight.shape
        return f"{c}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel, with running statistics as buffers.

    ``reduce`` is F.batch_norm's reduction hook (None: this batch's statistics alone);
    tinyrrn.parallel.SyncBatchNorm sums the statistics over the ranks there.
    """

    reduce = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        xp = backend.module_for(None)
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(xp.ones(num_features, dtype="float32"))
        self.bias = Parameter(xp.zeros(num_features, dtype="float32"))
        self.register_buffer("running_mean", xp.zeros(num_features, dtype="float32"))
        self.register_buffer("running_var", xp.ones(num_features, dtype="float32"))
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype="int64"))

    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps, self.reduce)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}, momentum={self.momentum}"


class Linear(Module):
    """y = x W^T + b with W (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = Parameter(_on_default_device(init.kaiming_uniform((out_features, in_features))))
        bound = 1 / in_features ** 0.5
        self.bias = Parameter(_on_default_device(init.uniform((out_features,), bound))) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Identity(Module):
    def forward(self, x):
        return x


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)


class Dropout(Module):
    """Zero activations with probability p while training."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)
