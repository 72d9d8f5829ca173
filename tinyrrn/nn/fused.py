"""A convolution and the batch norm after it, fused for inference (ResNet's conv-BN pairs)."""
from .. import functional as F
from ..grad_mode import records_graph
from ..tensor import Tensor
from .layers import BatchNorm2d, Conv2d, ReLU
from .module import Module


def conv_bn(conv, bn, x, relu=False, add=None):
    """bn(conv(x), relu=relu, add=add) for a Conv2d ``conv`` and a BatchNorm2d ``bn``; ``relu`` may be the ReLU
    module to apply, fused as True when it is plain (is_plain), else called on bn(conv(x)) + add as PyTorch's code
    calls it (its hooks run; a replacement computes its own function).

    In inference (bn in evaluation mode with running statistics, no gradient to record) batch
    norm is a fixed affine map per channel, x * scale + shift: F.conv2d_affine applies it, the
    residual sum ``add`` and the ReLU to each block of the convolution's product while the block
    is in the cache, instead of in a pass of their own over memory (ResNet-50's inference on the
    CPU: about a third of its time was batch norm's pass). The numbers are the same. Otherwise
    (training, a gradient to record, a convolution with a bias, groups or a padding_mode but 'zeros',
    float16, a module whose forward is its own, a subclass's or one set on the instance, or with forward
    hooks) the two modules are called as they are; a batch norm that is not plain as PyTorch's code calls it, on
    the convolution's output alone (its hooks see bn(conv(x))), the sum and the ReLU after it.
    """
    if isinstance(relu, Module):
        if not is_plain(relu, ReLU):
            out = conv_bn(conv, bn, x)
            return relu(out if add is None else out + add)
        relu = True
    if not _fuses(conv, bn, x, add):
        if is_plain(bn, BatchNorm2d):
            return bn(conv(x), relu=relu, add=add)
        out = bn(conv(x))
        out = out if add is None else out + add
        return F.relu(out) if relu else out
    scale, shift = F.fixed_affine(bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps, x.dtype)
    return F.conv2d_affine(x, conv.weight, Tensor(scale), Tensor(shift), conv.stride, conv.padding, conv.dilation,
                           relu, add)


def _fuses(conv, bn, x, add):
    """Whether conv_bn may fuse: the cases where conv2d_affine gives bn(conv(x)) exactly, with nothing to record."""
    if not (is_plain(conv, Conv2d) and is_plain(bn, BatchNorm2d) and not bn.training and bn.running_mean is not None
            and bn.running_var is not None and conv.groups == 1 and conv.bias is None
            and conv.padding_mode == "zeros"):
        return False
    if not (isinstance(x, Tensor) and x.ndim == 4 and x.dtype in ("float32", "float64")):
        return False
    vectors = [bn.running_mean, bn.running_var] + [t for t in (bn.weight, bn.bias) if t is not None]
    if any(v.dtype != x.dtype for v in vectors) or conv.weight.dtype != x.dtype:
        return False  # mixed dtypes: the modules' own refusal
    tensors = [x, conv.weight, bn.weight, bn.bias, add]
    return not (records_graph() and any(t is not None and t.requires_grad for t in tensors))


def is_plain(module, layer):
    """Whether calling ``module`` computes what ``layer`` computes, and nothing else: an instance of it whose
    forward is neither a subclass's nor one set on the instance (a learner's instrumented layer runs as set),
    without forward hooks to call."""
    return (isinstance(module, layer) and type(module).forward is layer.forward and "forward" not in vars(module)
            and not (module._forward_pre_hooks or module._forward_hooks))
