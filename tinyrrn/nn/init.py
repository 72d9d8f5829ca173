"""Parameter initialisation (host-side, from tinyrrn.random's seeded generator).

PyTorch's torch.nn.init functions (``kaiming_uniform_``, ``xavier_normal_``, ``constant_``, ...) fill a given
Tensor in place with PyTorch's distributions, gains, fans and errors, and return it. The layers' own
defaults come from the shape-taking functions below them (``layer_default_weight``, ...), which return a new
array; those names are not PyTorch's.
"""
import math
import warnings

import numpy

from .. import backend
from ..functional._util import check_float, check_tensors, only_torch_defaults
from ..grad_mode import no_grad
from ..random import generator as _generator
from ..tensor import ArgumentError, check_inference_write


def fan_in_and_fan_out(shape):
    """PyTorch's fans: (in, out) channels times the receptive field size; for at least 2 dimensions,
    as PyTorch (a ValueError otherwise)."""
    if len(shape) < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
                         f"(shape {tuple(shape)}), as PyTorch")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def check_shape(shape):
    """A parameter's shape, refused with PyTorch's error when a dimension is negative (Linear(-1, 3))."""
    if min(shape, default=0) < 0:
        raise ArgumentError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")


def symmetric_uniform(shape, bound, dtype="float32"):
    """An array of ``shape``, uniform in [-bound, bound] (torch.nn.init.uniform_(t, -bound, bound))."""
    check_shape(shape)
    return _generator().uniform(-bound, bound, size=shape).astype(dtype)


def normal_values(shape, dtype="float32"):
    """An array of ``shape``, N(0, 1) (torch.nn.init.normal_(t)): Embedding's default."""
    check_shape(shape)
    return _generator().standard_normal(size=shape).astype(dtype)


def layer_default_weight(shape, dtype="float32"):
    """PyTorch's default for Conv2d/Linear weights, torch.nn.init.kaiming_uniform_(t, a=sqrt(5)):
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)); no bound (zeros) for a layer without inputs."""
    check_shape(shape)
    fan_in = fan_in_and_fan_out(shape)[0]
    return symmetric_uniform(shape, 1 / math.sqrt(fan_in) if fan_in else 0.0, dtype)


def kaiming_normal_fan_out(shape, dtype="float32"):
    """He et al. (2015) normal init with fan_out, as torchvision's ResNet uses for convs
    (torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")): std sqrt(2 / fan_out)."""
    check_shape(shape)
    std = math.sqrt(2.0 / fan_in_and_fan_out(shape)[1])
    return (_generator().standard_normal(size=shape) * std).astype(dtype)


# -- torch.nn.init: fill a Tensor in place ----------------------------------------------------------------
LINEAR_FUNCTIONS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity (its functional name); ``param``: leaky_relu's slope."""
    if nonlinearity in LINEAR_FUNCTIONS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, bool) or not isinstance(param, (int, float))):
            raise ValueError(f"negative_slope {param} not a valid number")
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """PyTorch's private helper of the same name, which tests of initialisers call."""
    check_tensors("_calculate_fan_in_and_fan_out", tensor, names=("tensor",))
    return fan_in_and_fan_out(tensor.shape)


def _fill(tensor, values):
    """Write the host array ``values`` into ``tensor``'s data (keeping its memory layout, as PyTorch's init
    under no_grad), counted as an in-place change; returns the tensor."""
    check_inference_write(tensor, "nn.init")
    tensor.data[...] = backend.to_device(numpy.asarray(values, dtype=tensor.dtype), tensor.device)
    tensor.version += 1
    return tensor


def _random(op, tensor, rng):
    """Check a random fill's arguments (a floating-point Tensor; PyTorch's ``generator`` at None only)."""
    only_torch_defaults(op, generator=(rng, None))
    check_float(op, tensor, names=("tensor",))


def _uniform(tensor, a, b):
    """Fill with U(a, b), with the checks of PyTorch's Tensor.uniform_ (see _check_uniform)."""
    _check_uniform(tensor, a, b)
    return _fill(tensor, _generator().uniform(a, b, size=tensor.shape))


def _check_uniform(tensor, a, b):
    """PyTorch's checks of Tensor.uniform_(a, b): each bound finite and within the dtype's range, a <= b, and
    b - a within the range too (a float16 tensor takes no bound of 1e6)."""
    limit = float(numpy.finfo(tensor.dtype).max)
    for name, bound in (("from", a), ("to", b)):
        if not -limit <= bound <= limit:
            raise ArgumentError(f"uniform_: {name} is out of bounds for {tensor.dtype} (as PyTorch)")
    if not a <= b:
        raise ArgumentError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    if b - a > limit:
        raise ArgumentError(f"uniform_ expects to-from <= the largest {tensor.dtype}, but found to={b} and "
                            f"from={a} (as PyTorch)")


def _normal(tensor, mean, std):
    """Fill with N(mean, std^2), refusing a negative std as PyTorch's Tensor.normal_ (xavier_normal_'s
    negative gain too)."""
    _check_std(std)
    return _fill(tensor, _generator().normal(mean, std, size=tensor.shape))


def _check_std(std):
    if not std >= 0:
        raise ArgumentError(f"normal expects std >= 0.0, but found std {std}")


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    _random("uniform_", tensor, generator)
    return _uniform(tensor, a, b)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2)."""
    _random("normal_", tensor, generator)
    return _normal(tensor, mean, std)


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b] (the bounds in the tensor's dtype), as PyTorch: with its
    warning when mean is more than 2 std from [a, b], and its errors (std 0 divides by zero; a > b is uniform_'s).
    As there, values are drawn from the normal and redrawn outside [a, b] when that keeps more than 0.3 of them,
    else drawn uniform in [a, b] and kept with the normal's relative density."""
    _random("trunc_normal_", tensor, generator)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values "
                      "may be incorrect.", stacklevel=2)
    rng, dtype = _generator(), tensor.dtype
    low, high = numpy.asarray(a).astype(dtype), numpy.asarray(b).astype(dtype)
    if _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std) > 0.3:
        _check_std(std)
        values = rng.normal(mean, std, tensor.shape).astype(dtype)
        redraw = (values < low) | (values > high)
        while redraw.any():
            values[redraw] = rng.normal(mean, std, int(redraw.sum())).astype(dtype)
            redraw = (values < low) | (values > high)
        return _fill(tensor, values)
    _check_uniform(tensor, a, b)
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    values, pending = numpy.empty(tensor.data.size), numpy.arange(tensor.data.size)  # pending: flat positions
    while pending.size:
        candidates = rng.uniform(a, b, pending.size)
        accepted = numpy.log(rng.uniform(size=pending.size)) <= -0.5 * ((candidates - mean) / std) ** 2 - log_peak
        values[pending[accepted]] = candidates[accepted]
        pending = pending[~accepted]
    return _fill(tensor, values.reshape(tensor.shape))


def dirac_(tensor, groups=1):
    """Fill a conv weight of 3, 4 or 5 dimensions with the Dirac delta, as PyTorch: in each of ``groups`` groups
    of output channels, the d-th passes input channel d through at the kernel's centre (as many as both have)."""
    check_tensors("dirac_", tensor, names=("tensor",))
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = tensor.shape[0] // groups
    values, centre = numpy.zeros(tensor.shape), tuple(n // 2 for n in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(g * per_group + d, d) + centre] = 1
    return _fill(tensor, values)


def constant_(tensor, val):
    """Fill with ``val``: a number (refused where it overflows the dtype: NaN into an int tensor) or a 0-d
    tensor, as PyTorch's: x.fill_(val) under no_grad (on the tensor's device: a GPU tensor's value is not read back,
    nor a host array of the tensor's size copied over)."""
    check_tensors("constant_", tensor, names=("tensor",))
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1)


def zeros_(tensor):
    return constant_(tensor, 0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal of a rectangular one)."""
    check_tensors("eye_", tensor, names=("tensor",))
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, numpy.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot & Bengio (2010): U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out))."""
    _random("xavier_uniform_", tensor, generator)
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _uniform(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot & Bengio (2010): N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out))."""
    _random("xavier_normal_", tensor, generator)
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _normal(tensor, 0.0, std)


def _kaiming_std(op, tensor, a, mode, nonlinearity, rng):
    """He et al. (2015): gain / sqrt(fan), fan the fan_in or fan_out of ``mode``; None for a tensor without
    elements (left as it is, with PyTorch's warning)."""
    _random(op, tensor, rng)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan = fan_in_and_fan_out(tensor.shape)[mode == "fan_out"]
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. (2015): U(-bound, bound) with bound = sqrt(3) gain / sqrt(fan)."""
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity, generator)
    if std is None:
        return tensor
    return _uniform(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. (2015): N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity, generator)
    if std is None:
        return tensor
    return _normal(tensor, 0.0, std)


def orthogonal_(tensor, gain=1.0, generator=None):
    """Saxe et al. (2013): a (semi-)orthogonal matrix, the trailing dimensions flattened, times ``gain``."""
    _random("orthogonal_", tensor, generator)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.data.size == 0:
        return tensor
    if tensor.dtype == "float16":  # PyTorch's QR has no half precision, on the CPU or a GPU
        raise NotImplementedError("orthogonal_: a float16 tensor is not supported (as PyTorch: its QR "
                                  "decomposition has no half precision); fill a float32 one and convert it")
    rows = tensor.shape[0]
    flattened = _generator().standard_normal((rows, tensor.data.size // rows))
    q, r = numpy.linalg.qr(flattened.T if rows < flattened.shape[1] else flattened)
    q *= numpy.sign(numpy.diag(r))  # unique: Mezzadri (2007)
    q = q.T if rows < flattened.shape[1] else q
    return _fill(tensor, (q * gain).reshape(tensor.shape))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """Martens (2010): a 2-D tensor of N(0, std^2) values, ceil(sparsity * rows) of each column's (at rows drawn at
    random) set to 0, as PyTorch's."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    _random("sparse_", tensor, generator)
    _check_std(std)
    rows, cols = tensor.shape
    rng, zeros = _generator(), math.ceil(sparsity * rows)
    values = rng.normal(0.0, std, size=tensor.shape)
    for col in range(cols):
        values[rng.permutation(rows)[:zeros], col] = 0
    return _fill(tensor, values)


def _deprecated(init):
    """PyTorch's deprecated name of ``init`` (without its trailing underscore): init, after its FutureWarning."""
    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{init.__name__[:-1]}` is now deprecated in favor of `nn.init.{init.__name__}`.",
                      FutureWarning, stacklevel=2)
        return init(*args, **kwargs)
    deprecated_init.__name__ = init.__name__[:-1]
    return deprecated_init


uniform, normal, constant, eye, dirac, orthogonal, sparse = (
    _deprecated(init) for init in (uniform_, normal_, constant_, eye_, dirac_, orthogonal_, sparse_))
xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal = (
    _deprecated(init) for init in (xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_))
