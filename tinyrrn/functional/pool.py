"""Pooling: max and average over kernel windows, and adaptive average pooling to any size.

Windows are visited as k*k strided slices of the whole batch (channels-last
memory), so each step of the short loop is one large vectorised operation.
"""

import numpy

from .. import backend, threads
from ..tensor import Tensor, make_result
from ._util import ArgumentError, axis_index, check_float, flag, integer, pair, refuse_out
from ._window import crop_nhwc, output_size, pad_nhwc, taps
from .dtypes import opmath
from .reduction import _divided
from .shape import unbatched_too


def _check_nonempty(op, x, dims=(1, 2, 3)):
    """x is (N, C, H, W) with no empty dimension among ``dims`` (only N may be 0), as PyTorch requires."""
    if x.ndim != 4:
        raise ArgumentError(f"{op}: expected a 3-D (unbatched C, H, W) or 4-D (N, C, H, W) input, got shape "
                            f"{tuple(x.shape)}")
    if any(x.shape[d] == 0 for d in dims):
        raise ArgumentError(f"{op}: expected an input of non-zero size except for the batch dimension, got "
                            f"shape {tuple(x.shape)}")


def _pool_geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """PyTorch's checks, then (kernel, stride, dilation, padding, pads, out_hw). No stride (None, or an
    empty list as in PyTorch) is the kernel's."""
    check_float(op, x)
    _check_nonempty(op, x)
    flag(op, "ceil_mode", ceil_mode)
    kernel = pair(kernel_size, "kernel_size", op, minimum=1)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    stride = kernel if no_stride else pair(stride, "stride", op, minimum=1)
    padding = pair(padding, "padding", op, minimum=0)
    dilation = pair(dilation, "dilation", op, minimum=1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ArgumentError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    sizes = x.shape[2:]
    out_hw = tuple(output_size(n, k, s, (p, p), d, ceil_mode)
                   for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation))
    if min(out_hw) < 1:
        raise ArgumentError(f"{op}: input {tuple(x.shape)} with padding {padding} is smaller than the "
                            f"kernel {kernel} at dilation {dilation}")
    # after the input: the padding, or more where a ceil_mode window hangs over it
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, o in zip(sizes, kernel, stride, padding, dilation, out_hw))
    return kernel, stride, dilation, padding, pads, out_hw


def _fold(ufunc, padded, window_taps):
    """``ufunc`` (maximum, add) folded over the windows: one strided slice of the batch per tap, on
    blocks of images over the threads (tinyrrn.threads)."""
    _, _, rows, cols = window_taps[0]
    out = backend.xp_of(padded).empty_like(padded[:, rows, cols, :])

    def block(padded, out):
        for k, (_, _, rows, cols) in enumerate(window_taps):
            window = padded[:, rows, cols, :]
            if k == 0:
                out[...] = window
            else:
                ufunc(out, window, out=out)
    threads.split_rows(block, padded, out)
    return out


def _may_hold(xp, find):
    """Whether a rare case may hold: ``find()`` (a boolean array) is looked at on host arrays; on a GPU
    the case is taken as present without looking, since looking would wait for the device (the rare
    case's work changes nothing where it does not hold)."""
    return xp is not numpy or bool(find().any())


def _first_maxima(padded, out, window_taps, inside):
    """For each tap, where it holds its window's maximum: PyTorch's choice, the first maximum,
    or in a window holding NaN (whose maximum is NaN) the last NaN. ``inside[k]`` marks the
    outputs whose tap k reads the input, not its -inf padding: a window whose maximum is -inf
    takes its first input pixel, never the padding."""
    xp = backend.xp_of(out)
    last_nan = None
    if _may_hold(xp, lambda: xp.isnan(out)):  # rare: note each window's last NaN
        last_nan = xp.full(out.shape, -1)
        for k, (_, _, rows, cols) in enumerate(window_taps):
            last_nan = xp.where(xp.isnan(padded[:, rows, cols, :]), k, last_nan)
    all_inf = _may_hold(xp, lambda: out == -xp.inf)  # rare: padding ties with the maximum
    unclaimed = xp.ones(out.shape, dtype=bool)
    for k, (_, _, rows, cols) in enumerate(window_taps):
        hit = padded[:, rows, cols, :] == out
        hit &= unclaimed
        if all_inf:
            hit &= inside[k]
        if last_nan is not None:
            hit |= last_nan == k
        unclaimed ^= hit
        yield hit


def _taps_inside(window_taps, size, stride, dilation, padding, out_hw, xp):
    """For each tap, a (Ho, Wo, 1) mask of the outputs where it reads the input (not the padding)."""
    masks = []
    for i, j, _, _ in window_taps:
        row = xp.arange(out_hw[0]) * stride[0] + i * dilation[0] - padding[0]
        col = xp.arange(out_hw[1]) * stride[1] + j * dilation[1] - padding[1]
        masks.append(((row >= 0) & (row < size[0]))[:, None, None] & ((col >= 0) & (col < size[1]))[None, :, None])
    return masks


@unbatched_too
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over each window (torch.nn.functional.max_pool2d); padding counts as -inf.

    ``dilation`` spaces the window's taps; ``ceil_mode`` keeps a last, partial window that
    starts inside the input or the left padding; ``return_indices`` also returns where each
    maximum is, as a flat index into its channel's H*W plane (int64, as PyTorch).
    """
    kernel, stride, dilation, padding, pads, out_hw = _pool_geometry(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    xp = backend.xp_of(input.data)
    padded = pad_nhwc(input.data.transpose(0, 2, 3, 1), pads, -xp.inf)
    window_taps = list(taps(kernel, stride, dilation, out_hw))
    out = _fold(xp.maximum, padded, window_taps)
    inside = _taps_inside(window_taps, input.shape[2:], stride, dilation, padding, out_hw, xp)

    def backward(g):
        grad = xp.zeros(padded.shape, dtype=g.dtype)
        # PyTorch's node saves the input and the indices, not the output, whose change in place it allows: then
        # the maxima are found again
        maxima = out if counter[0] == made else _fold(xp.maximum, padded, window_taps)

        def block(padded, out, g, grad):  # a block of images; a pixel, the maximum of several windows, adds their
            hits = list(zip(window_taps, _first_maxima(padded, out, window_taps, inside)))  # gradients in the order
            for (_, _, rows, cols), hit in reversed(hits):  # of the windows (the taps reversed), as PyTorch
                grad[:, rows, cols, :] += g * hit
        threads.split_rows(block, padded, maxima, g.transpose(0, 2, 3, 1), grad)
        return (crop_nhwc(grad, pads, input.shape[2:]).transpose(0, 3, 1, 2),)

    result = make_result(out.transpose(0, 3, 1, 2), (input,), backward, "max_pool2d")
    counter, made = result._version, result.version  # (the output's version counter, not the output itself)
    if not return_indices:
        return result
    indices, found = xp.zeros(out.shape, dtype="int64"), xp.zeros(out.shape, dtype=bool)
    for (i, j, _, _), hit in zip(window_taps, _first_maxima(padded, out, window_taps, inside)):
        row = xp.arange(out_hw[0]) * stride[0] + i * dilation[0] - padding[0]
        col = xp.arange(out_hw[1]) * stride[1] + j * dilation[1] - padding[1]
        indices += hit * (row[:, None] * input.shape[3] + col)[:, :, None]
        found |= hit
    first = [_first_tap(xp, n, s, p, d) for n, s, p, d in zip(out_hw, stride, padding, dilation)]
    indices = xp.where(found, indices, (first[0][:, None] * input.shape[3] + first[1])[:, :, None])
    return result, Tensor(indices.transpose(0, 3, 1, 2))


def _first_tap(xp, count, stride, padding, dilation):
    """Per output along one axis, the window's first tap at or after 0: PyTorch's index of a window wholly in
    the padding (of a dilated kernel; its value is -inf), which may lie past the input, as there."""
    start = xp.arange(count) * stride - padding
    return start + xp.maximum(dilation - 1 - start, 0) // dilation * dilation


def _divisors(sizes, kernel, stride, padding, out_hw, count_include_pad, dtype, xp):
    """PyTorch's divisor of each output (shape (1, Ho, Wo, 1)), in ``dtype``: the window's size within the padded
    input, or within the input alone; never the overhang of a ceil_mode window."""
    counts = []
    for n, k, s, p, o in zip(sizes, kernel, stride, padding, out_hw):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, n)
        counts.append(end - start)
    return (counts[0][:, None] * counts[1]).astype(dtype)[None, :, :, None]


@unbatched_too
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, out=None):
    """Mean over each window (torch.nn.functional.avg_pool2d).

    The divisor is PyTorch's: the window's size within the padded input, or with
    ``count_include_pad=False`` only its input pixels, or ``divisor_override``.
    """
    if out is not None:
        refuse_out("avg_pool2d")
    if isinstance(input, Tensor) and input.ndim < 3:  # PyTorch reads the size of dim -3 first: its IndexError
        axis_index("avg_pool2d", -3, input.ndim)
    kernel, stride, _, padding, pads, out_hw = _pool_geometry(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    flag("avg_pool2d", "count_include_pad", count_include_pad)
    xp = backend.xp_of(input.data)
    if divisor_override is not None:
        divisor_override = integer("avg_pool2d", "divisor_override", divisor_override)
        if divisor_override == 0:
            raise ArgumentError("avg_pool2d: divisor_override must not be zero")
        divisor = divisor_override
    else:
        divisor = _divisors(input.shape[2:], kernel, stride, padding, out_hw, count_include_pad,
                            opmath(input.data).dtype, xp)
    padded = pad_nhwc(input.data.transpose(0, 2, 3, 1), pads, 0)
    window_taps = list(taps(kernel, stride, (1, 1), out_hw))
    result = _fold(xp.add, opmath(padded), window_taps)  # float16: windows add in float32, divided there, as PyTorch
    result /= divisor
    result = result.astype(input.dtype, copy=False)

    def backward(g):  # as PyTorch's: each output's share (float16: divided in float32, rounded), added in g's
        share = (opmath(g.transpose(0, 2, 3, 1)) / divisor).astype(g.dtype, copy=False)  # dtype to each input
        grad = xp.zeros(padded.shape, dtype=g.dtype)  # pixel in the order of the outputs (taps reversed)
        for _, _, rows, cols in reversed(window_taps):
            grad[:, rows, cols, :] += share
        return (crop_nhwc(grad, pads, input.shape[2:]).transpose(0, 3, 1, 2),)

    return make_result(result.transpose(0, 3, 1, 2), (input,), backward, "avg_pool2d")


def _bins(size, out, dtype, xp):
    """PyTorch's bins along one axis: the (out, size) matrix whose row i is 1 over input positions
    floor(i*size/out) .. ceil((i+1)*size/out) - 1, and each bin's length, in ``dtype``."""
    i = xp.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    position = xp.arange(size)
    inside = (position >= start[:, None]) & (position < end[:, None])
    return inside.astype(dtype), (end - start).astype(dtype)


def _binned(average, array):
    """``average(array)`` for a linear map whose weights are >= 0 (the averaging matrices), with IEEE
    sums as PyTorch's per-bin loops give them: a bin holding inf is inf, one holding NaN or both
    infinities is NaN, and a bin without them stays finite (a matrix product would make 0 * inf = NaN
    of every weight-0 entry). The repair runs only when ``array`` may hold a non-finite value (_may_hold: always on a
    GPU, where looking would wait for the device)."""
    xp = backend.xp_of(array)
    if not _may_hold(xp, lambda: ~xp.isfinite(array)):
        return average(array)
    def holds(mask):
        return average(mask.astype(array.dtype)) > 0
    nan, high, low = holds(xp.isnan(array)), holds(array == numpy.inf), holds(array == -numpy.inf)
    out = average(xp.where(xp.isfinite(array), array, 0))
    return xp.where(nan | (high & low), numpy.nan, xp.where(high, numpy.inf, xp.where(low, -numpy.inf, out)))


def _global_mean(input):
    """adaptive_avg_pool2d to 1 x 1: PyTorch's mean over the last two dims, of an input of any rank (a video's
    (N, C, T, H, W)), NaN for an empty plane; its node saves nothing (a second backward() runs through it)."""
    axes = (axis_index("adaptive_avg_pool2d", -2, input.ndim), input.ndim - 1)
    count = input.shape[axes[0]] * input.shape[axes[1]]
    xp = backend.xp_of(input.data)
    out = input.data.mean(axis=axes, keepdims=True) if count else \
        xp.full(input.shape[:-2] + (1, 1), numpy.nan, dtype=input.dtype)
    return make_result(out, (input,), lambda g: (xp.broadcast_to(_divided(g, count or 1), input.shape),), "mean")


def _adaptive_size(op, input, output_size):
    """An adaptive pool's (Ho, Wo): ``output_size`` an int or a pair, None in it keeping that size, as PyTorch."""
    if output_size is None or (numpy.ndim(output_size) and len(output_size) != 2):
        raise (TypeError if output_size is None else ArgumentError)(
            f"{op}: output_size must be an int or a pair (None in it keeps that size), got {output_size!r}")
    if numpy.ndim(output_size) and input.ndim < 3:
        raise ValueError(f"{op}: Input dimension should be at least 3 for output_size {output_size!r}, "
                         f"got shape {tuple(input.shape)} (as PyTorch)")
    sizes = tuple(output_size) if numpy.ndim(output_size) else \
        (integer(op, "output_size", output_size),) * 2  # not a bool, as PyTorch
    return pair(tuple(input.shape[i - 2] if s is None else integer(op, "output_size", s)  # (True, 2): PyTorch's
                      for i, s in enumerate(sizes)), "output_size", op, minimum=0)       # TypeError


def _bin_positions(size, out, xp):
    """PyTorch's bins along one axis as an (out, longest bin) matrix of input positions, each row's past its bin's
    end repeating its first (so never the maximum's first place), and a mask of the positions inside."""
    i = xp.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    longest = int((end - start).max()) if out else 0
    positions = start[:, None] + xp.arange(longest)
    inside = positions < end[:, None]
    return xp.where(inside, positions, start[:, None]), inside


def _adaptive_maxima(x, oh, ow, xp):
    """adaptive_max_pool2d's values and flat indices of an (N, C, H, W) array, for an output of Ho x Wo >= 1: each
    bin's first maximum, or its last NaN, as PyTorch's kernel picks them."""
    n, c, h, w = x.shape
    (rows, rows_inside), (cols, cols_inside) = _bin_positions(h, oh, xp), _bin_positions(w, ow, xp)
    flat = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(oh, ow, -1)  # (Ho, Wo, bin)
    inside = (rows_inside[:, None, :, None] & cols_inside[None, :, None, :]).reshape(oh, ow, -1)
    windows = x.reshape(n, c, h * w)[:, :, flat]  # (N, C, Ho, Wo, bin)
    nan = xp.isnan(windows) & inside
    first_max = xp.argmax(xp.where(inside & ~nan, windows, -numpy.inf), axis=-1)
    last_nan = nan.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
    chosen = xp.where(nan.any(axis=-1), last_nan, first_max)[..., None]
    indices = xp.take_along_axis(xp.broadcast_to(flat, windows.shape), chosen, -1)[..., 0].astype("int64")
    return xp.take_along_axis(windows, chosen, -1)[..., 0], indices


@unbatched_too
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a given output size (torch.nn.functional.adaptive_max_pool2d), over PyTorch's bins (see
    adaptive_avg_pool2d): the first maximum of each bin, or its last NaN, as PyTorch's, gets the gradient;
    ``return_indices`` also returns its position in the flattened input plane (int64)."""
    op = "adaptive_max_pool2d"
    if not isinstance(input, Tensor) or input.ndim != 4:
        check_float(op, input)
        raise ArgumentError(f"{op}(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    check_float(op, input)
    flag(op, "return_indices", return_indices)
    oh, ow = _adaptive_size(op, input, output_size)
    _check_nonempty(op, input)
    n, c, h, w = input.shape
    x = input.data
    xp = backend.xp_of(x)
    if oh * ow == 0:  # an empty output, as PyTorch's
        out, indices = xp.zeros((n, c, oh, ow), dtype=x.dtype), xp.zeros((n, c, oh, ow), dtype="int64")
    else:
        out, indices = _adaptive_maxima(x, oh, ow, xp)

    def backward(g):
        grad = xp.zeros((n * c, h * w), dtype=g.dtype)
        xp.add.at(grad, (xp.arange(n * c)[:, None], indices.reshape(n * c, -1)), g.reshape(n * c, -1))
        return (grad.reshape(input.shape),)

    result = make_result(out, (input,), backward, op)
    return (result, Tensor(indices)) if return_indices else result


@unbatched_too
def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a given output size (torch.nn.functional.adaptive_avg_pool2d).

    Output row i averages input rows floor(i*H/Ho) .. ceil((i+1)*H/Ho) - 1 (PyTorch's bins,
    which overlap when Ho does not divide H), and likewise for columns: a linear map, one
    (Ho, H) averaging matrix applied on each side. None in ``output_size`` keeps that size.
    A 1 x 1 output is PyTorch's mean over the last two dims, of an input of any rank (a video's (N, C, T, H, W)).
    """
    check_float("adaptive_avg_pool2d", input)
    oh, ow = _adaptive_size("adaptive_avg_pool2d", input, output_size)
    if (oh, ow) == (1, 1):
        return _global_mean(input)
    _check_nonempty("adaptive_avg_pool2d", input, dims=(2, 3))  # PyTorch pools 0 channels, not an empty plane
    n, c, h, w = input.shape
    xp = backend.xp_of(input.data)
    wide = opmath(input.data[:0]).dtype  # as PyTorch: each bin summed (float16 in float32), divided by its height, then
    (rows, heights), (cols, widths) = _bins(h, oh, wide, xp), _bins(w, ow, wide, xp)  # by its width, rounded once
    x_nhwc = opmath(input.data).transpose(0, 2, 3, 1)
    sums = _binned(lambda a: cols @ (rows @ a.reshape(n, h, w * c)).reshape(n * oh, w, c), x_nhwc)  # (N*Ho, Wo, C)
    out = (sums.reshape(n, oh, ow, c) / heights[:, None, None] / widths[:, None]).astype(input.dtype, copy=False)

    def backward(g):  # each output's share, g / height / width rounded at each step (as PyTorch), to its bin
        g_nhwc = opmath(g.transpose(0, 2, 3, 1))
        share = ((g_nhwc / heights[:, None, None]).astype(g.dtype) / widths[:, None]).astype(g.dtype)
        gx = _binned(lambda a: rows.T @ (cols.T @ a).reshape(n, oh, w * c), opmath(share).reshape(n * oh, ow, c))
        return (gx.reshape(n, h, w, c).transpose(0, 3, 1, 2).astype(g.dtype, copy=False),)

    return make_result(out.reshape(n, oh, ow, c).transpose(0, 3, 1, 2), (input,), backward, "adaptive_avg_pool2d")
