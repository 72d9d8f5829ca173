"""2-D convolution by im2col: every kernel window a row of a column matrix, one matrix product.

Shapes follow PyTorch (input N,C,H,W; weight O,C,kh,kw), but memory is best
kept *channels-last*: an activation whose NCHW shape is a transposed view of
an NHWC buffer. Then ``x.transpose(0, 2, 3, 1)`` is free, every window of the
im2col gather reads C contiguous values, and the product's (N*Ho*Wo, O)
result already is the NHWC buffer of the output (lesson 04 shows both and
times one layer in each layout). Any other layout gives the same numbers,
only slower.

``conv2d`` is that idea, not its plainest code (on a GPU, and with ``groups``,
its forward pass is im2col and one product):

* on the CPU the column matrix is a strided view of the input (``windows``), gathered and
  multiplied a cache-sized block at a time (``window_product``, and
  ``window_weight_product`` for the weight gradient), never stored whole;
* inputs of at most PLANES_MAX_CHANNELS channels (images) at stride 1 gather their columns from
  zero-padded planes instead (``_Planes``), in runs of a whole block of output rows, where a
  window of channels-last memory gives runs of kw*C values only;
* 3x3 stride-1 float32/float64 layers with WINOGRAD_MIN_CHANNELS or more
  input channels and an output of at least WINOGRAD_MIN_SIZE x
  WINOGRAD_MIN_SIZE take Winograd F(2x2, 3x3) (tinyrrn.functional.winograd)
  for the forward pass and the input gradient;
* at stride 1 (and a padding no wider than the kernel) the input gradient is
  a convolution too, of the output gradient with the kernel turned by 180
  degrees and its in and out channels swapped (``_input_gradient``); with a
  stride it is a product with the weights and col2im, which adds each row
  back onto its window (``_add_taps``: col2im's sums, tap by tap onto the
  stride's phases of the input, each tap's pixels contiguous there).

benchmarks/conv3x3.py times these paths against the one-copy im2col and PyTorch.

With ``groups`` the channels split into independent convolutions: columns and
weights are viewed as (groups, ...) stacks and multiplied in one batched
product. The transposed convolution is the convolution's input gradient run
as a forward pass (col2im of a product with the weights).
"""
import functools

import numpy

from .. import backend, threads
from ..grad_mode import records_graph
from ..tensor import Tensor, make_result
from . import norm, winograd
from ._util import ArgumentError, accurate_sum, check_float, check_same_dtype, integer, pair, quiet
from ._window import as_pads, crop_nhwc, output_size, pad_nhwc, taps
from .dtypes import opmath
from .shape import unbatched_too

WINOGRAD_MIN_CHANNELS = 128  # below these (input channels, output height/width) column blocks are faster
WINOGRAD_MIN_SIZE = 14
PLANES_MAX_CHANNELS = 4  # inputs of at most this many channels (images) take _Planes at stride 1 on the CPU
COLUMN_BLOCK_BYTES = 512 * 1024  # a block of the column matrix that stays in a core's cache (L2)
WEIGHT_GRADIENT_BLOCK_ROWS = 2048  # at least, for the weight gradient: its products sum over a block's rows


def channels_last(array):
    """The same values in NCHW shape backed by NHWC memory (copies only if needed)."""
    xp = backend.xp_of(array)
    return xp.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _grouped(rows, groups, taps=1):
    """(R, taps*C) rows, C = groups*c, as a (groups, R, taps*c) stack of per-group matrices.

    A free view for one group; with more, the one copy that puts each group's columns together.
    """
    r, width = rows.shape
    c = width // (taps * groups)
    return rows.reshape(r, taps, groups, c).transpose(2, 0, 1, 3).reshape(groups, r, taps * c)


def _ungrouped(stack):
    """The inverse of _grouped for one tap: (groups, R, c) back to (R, groups*c) rows."""
    groups, r, c = stack.shape
    return stack.transpose(1, 0, 2).reshape(r, groups * c)


def _weight_rows(weight, groups):
    """Weight (A, B, kh, kw) as (groups, A/groups, kh*kw*B) rows: a free view of channels-last memory."""
    a, b, kh, kw = weight.shape
    return weight.transpose(0, 2, 3, 1).reshape(groups, a // groups, kh * kw * b)


def _weight_from_rows(rows, shape):
    """The inverse of _weight_rows: back to shape (A, B, kh, kw), channels-last."""
    a, b, kh, kw = shape
    return rows.reshape(a, kh, kw, b).transpose(0, 3, 1, 2)


def windows(x_nhwc, kernel, stride, padding, dilation=(1, 1), out_hw=None):
    """The (N, Ho, Wo, kh, kw, C) strided view of every kernel window of x padded (no copy), and (Ho, Wo).

    ``padding`` is (ph, pw), or ((top, bottom), (left, right)); ``out_hw`` may ask for
    fewer windows than fit.
    """
    xp = backend.xp_of(x_nhwc)
    (kh, kw), (sh, sw), (dh, dw), pads = kernel, stride, dilation, as_pads(padding)
    padded = pad_nhwc(x_nhwc, pads, 0)
    n, hp, wp, c = padded.shape
    ho, wo = out_hw or ((hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1)
    s0, s1, s2, s3 = padded.strides
    view = xp.lib.stride_tricks.as_strided(
        padded, shape=(n, ho, wo, kh, kw, c), strides=(s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3))
    return view, (ho, wo)


def im2col(x_nhwc, kernel, stride, padding, dilation=(1, 1), out_hw=None):
    """Columns (N*Ho*Wo, kh*kw*C) of every kernel window, and the output size (Ho, Wo)."""
    view, (ho, wo) = windows(x_nhwc, kernel, stride, padding, dilation, out_hw)
    n, _, _, kh, kw, c = view.shape
    return view.reshape(n * ho * wo, kh * kw * c), (ho, wo)  # the one copy


def _column_blocks(view, least_rows):
    """(lo, hi, block): the rows lo:hi of the column matrix of ``view`` (N, Ho, Wo, kh, kw, C) as views of
    whole images, or of lines of one image, of about COLUMN_BLOCK_BYTES (at least ``least_rows`` rows)."""
    n, ho, wo, kh, kw, c = view.shape
    rows = max(COLUMN_BLOCK_BYTES // max(kh * kw * c * view.itemsize, 1), least_rows)  # c may be 0
    if rows >= ho * wo:
        images = rows // (ho * wo)
        return [(i * ho * wo, min(n, i + images) * ho * wo, view[i:i + images]) for i in range(0, n, images)]
    lines = -(-rows // wo)
    return [((i * ho + r) * wo, (i * ho + min(ho, r + lines)) * wo, view[i, r:r + lines])
            for i in range(n) for r in range(0, ho, lines)]


def window_product(view, w_cols, finish=None):
    """im2col(view) @ w_cols (K, O) -> (N*Ho*Wo, O): the columns gathered and multiplied block by block,
    each block while it is in the core's cache (never the whole column matrix at once); blocks go to
    the thread pool. The same numbers as im2col and one product (which it is on a GPU, or when small).
    ``finish(rows, lo, hi)``, when given, changes the output rows lo:hi in place right after their
    product, while they are in the cache (conv2d_affine's batch norm and ReLU)."""
    n, ho, wo, kh, kw, c = view.shape
    k = kh * kw * c
    blocks = _column_blocks(view, w_cols.shape[1]) if backend.xp_of(view) is numpy else []
    if len(blocks) < 2:
        out = threads.matmul(view.reshape(n * ho * wo, k), w_cols)
        if finish is not None:
            finish(out, 0, len(out))
        return out
    out = numpy.empty((n * ho * wo, w_cols.shape[1]), dtype=numpy.result_type(view, w_cols))

    def product(lo, hi, block):
        numpy.matmul(block.reshape(hi - lo, k), w_cols, out=out[lo:hi])
        if finish is not None:
            finish(out[lo:hi], lo, hi)
    threads.run_tasks([lambda lo=lo, hi=hi, block=block: product(lo, hi, block) for lo, hi, block in blocks])
    return out


def window_weight_product(g_rows, view):
    """g_rows.T (O, R) @ im2col(view) (R, K) -> (O, K), the weight gradient's product: partial products of
    blocks of columns (gathered as in window_product), added up. A block's rows are its product's inner
    dimension, and each block adds an (O, K) partial: blocks of WEIGHT_GRADIENT_BLOCK_ROWS rows at least
    (ResNet-50's 3x3 layers at 56x56 and 28x28: 1.6-1.9x faster than blocks of O rows)."""
    n, ho, wo, kh, kw, c = view.shape
    k = kh * kw * c
    least = max(g_rows.shape[1], WEIGHT_GRADIENT_BLOCK_ROWS)
    blocks = _column_blocks(view, least) if backend.xp_of(view) is numpy else []
    if len(blocks) < 2:
        return threads.matmul(g_rows.T, view.reshape(n * ho * wo, k))
    parts = threads.run_tasks([lambda lo=lo, hi=hi, block=block: g_rows[lo:hi].T @ block.reshape(hi - lo, k)
                               for lo, hi, block in blocks])
    return functools.reduce(numpy.add, parts)


def col2im(cols, x_shape, kernel, stride, padding, out_hw, dilation=(1, 1)):
    """The adjoint of im2col: add every window's column back onto its pixels -> (N, H, W, C)."""
    xp = backend.xp_of(cols)
    n, h, w, c = x_shape
    (kh, kw), (ho, wo), pads = kernel, out_hw, as_pads(padding)
    windows = cols.reshape(n, ho, wo, kh, kw, c)
    if (kh, kw, ho, wo) == (1, 1, h, w) and tuple(stride) == (1, 1) and pads == ((0, 0), (0, 0)):
        return windows.reshape(n, h, w, c)
    (top, bottom), (left, right) = pads
    padded = xp.zeros((n, top + h + bottom, left + w + right, c), dtype=cols.dtype)
    for i, j, rows, columns in taps(kernel, stride, dilation, out_hw):  # k*k adds, each over the batch
        padded[:, rows, columns, :] += windows[:, :, :, i, j, :]
    return crop_nhwc(padded, pads, (h, w))


def _tap_products(rows, w_rows, taps):
    """rows (G, R, A) @ w_rows (G, A, taps*c) with each kernel tap's columns apart: (taps, R, G*c), tap-major.

    On the CPU with one group, a product per tap, each written contiguous (the weights' columns of a
    tap are a strided view). Otherwise one product (per group), viewed tap-major (a GPU reads the
    strided taps as fast), with groups copied so."""
    groups, r, a = rows.shape
    c = w_rows.shape[2] // taps
    if groups == 1 and backend.xp_of(rows) is numpy:
        return threads.matmul(numpy.broadcast_to(rows[0], (taps, r, a)), w_rows[0].reshape(a, taps, c).transpose(1, 0, 2))
    return threads.matmul(rows, w_rows).reshape(groups, r, taps, c).transpose(2, 1, 0, 3).reshape(taps, r, groups * c)


def _add_taps(tap_cols, x_shape, kernel, stride, padding, out_hw, dilation=(1, 1)):
    """col2im of tap-major columns (kh*kw, N*Ho*Wo, C) (:func:`_tap_products`): the same sums, faster.

    col2im adds each tap's rows onto every stride-th pixel: Ho*Wo runs of C values per tap, slow
    for few channels. Here the padded input is kept as up to stride_h * stride_w phases (its
    pixels split by row and column remainder mod the stride), in which a tap's pixels are
    contiguous: each tap adds Ho runs of Wo*C values onto its phase, and one copy interleaves
    the phases into the output.
    """
    xp = backend.xp_of(tap_cols)
    n, h, w, c = x_shape
    (kh, kw), (ho, wo), ((top, _), (left, _)) = kernel, out_hw, as_pads(padding)
    (sh, sw), (dh, dw) = stride, dilation
    hq = max((dh * (kh - 1)) // sh + ho, (top + h - 1) // sh + 1)  # rows of a phase: every tap's, every output's
    wq = max((dw * (kw - 1)) // sw + wo, (left + w - 1) // sw + 1)
    phases = {}  # (row, column) remainder -> that phase; one a tap adds to (a 1x1 kernel: one phase, the rest 0)
    for tap, columns in enumerate(tap_cols):  # padded pixel (y*sh + i*dh, x*sw + j*dw) of tap (i, j)
        (a, pi), (b, pj) = divmod(tap // kw * dh, sh), divmod(tap % kw * dw, sw)
        if (pi, pj) not in phases:
            phases[pi, pj] = xp.zeros((n, hq, wq, c), dtype=tap_cols.dtype)
        phases[pi, pj][:, a:a + ho, b:b + wo] += columns.reshape(n, ho, wo, c)
    out = (xp.empty if len(phases) == sh * sw else xp.zeros)(x_shape, dtype=tap_cols.dtype)
    for (pi, pj), phase in phases.items():  # output row y is padded row y + top = a*sh + pi
        y, x = (pi - top) % sh, (pj - left) % sw
        a, b = (y + top) // sh, (x + left) // sw
        out[:, y::sh, x::sw] = phase[:, a:a + len(range(y, h, sh)), b:b + len(range(x, w, sw))]
    return out


def _check(op, x, weight, bias, groups, transposed=False):
    """Refuse inputs that do not fit; return the numbers of input and output channels."""
    check_float(op, x, weight, names=("input", "weight"))
    check_same_dtype(op, x, weight, bias, names=("input", "weight", "bias"))
    if x.ndim != 4:  # a 3-D one is a batch of one here (unbatched_too)
        raise ArgumentError(f"{op}: expected a 3-D (unbatched C, H, W) or 4-D (N, C, H, W) input, got shape "
                            f"{tuple(x.shape)}")
    if integer(op, "groups", groups) < 1:  # an int: True or 1.0 is PyTorch's TypeError
        raise ArgumentError(f"{op}: groups must be positive, got {groups}")
    fits, channels = x.ndim == 4 and weight.ndim == 4, ""
    if fits:
        in_channels, out_channels = weight.shape[1] * groups, weight.shape[0]
        if transposed:
            in_channels, out_channels = out_channels, in_channels
        fits = x.shape[1] == in_channels and in_channels % groups == 0 and out_channels % groups == 0
        if x.shape[1] != in_channels:  # PyTorch's words
            channels = f": expected input to have {in_channels} channels, but got {x.shape[1]} channels instead"
    if not fits:
        layout = "C, O/groups" if transposed else "O, C/groups"
        raise ArgumentError(f"{op}: input {tuple(x.shape)} does not fit weight {tuple(weight.shape)} with "
                            f"groups={groups}{channels} (need input N,C,H,W and weight {layout},kh,kw, the channel "
                            "counts divisible by groups)")
    if min(weight.shape[2:]) < 1:
        raise ArgumentError(f"{op}: kernel size must be greater than zero, got weight {tuple(weight.shape)}")
    if x.shape[0] and 0 in x.shape[2:]:  # PyTorch's refusal; an empty batch of them is its empty output
        raise ArgumentError(f"{op}: input {tuple(x.shape)} holds images of 0 pixels: only an empty batch of them is "
                            "taken, as PyTorch (only zero batch or zero channel inputs are supported)")
    if 0 in weight.shape[:2]:  # 0 input channels too: PyTorch's conv2d gives an output of 0 channels, not O
        raise ArgumentError(f"{op}: weight {tuple(weight.shape)} is empty: a layer of 0 channels is refused, as "
                            "PyTorch refuses most of them")
    if bias is not None and bias.shape != (out_channels,):
        raise ArgumentError(f"{op}: bias {tuple(bias.shape)} does not fit {out_channels} output channels")
    return in_channels, out_channels


def _same_or_valid(padding, stride, kernel, dilation):
    """padding 'valid' (none) or 'same' (output size = input size) as ((top, bottom), (left, right))."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ArgumentError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if stride != (1, 1):
        raise ArgumentError(f"conv2d: padding='same' needs stride 1, got stride {stride} (as in PyTorch)")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple((total // 2, total - total // 2) for total in totals)  # odd: one more after


def _geometry(op, x, weight, stride, padding, dilation):
    """conv2d's stride, dilation and padding as pairs ((top, bottom), (left, right) for the padding) and
    its output size (Ho, Wo); refused, naming ``op``, where they do not fit x and the kernel."""
    h, w = x.shape[2:]
    kh, kw = weight.shape[2:]
    stride = pair(stride, "stride", op, minimum=1)
    dilation = pair(dilation, "dilation", op, minimum=1)
    if isinstance(padding, str):
        pads = _same_or_valid(padding, stride, (kh, kw), dilation)
    else:
        pads = tuple((p, p) for p in pair(padding, "padding", op, minimum=0))
    out_hw = tuple(output_size(*args) for args in zip((h, w), (kh, kw), stride, pads, dilation))
    if min(out_hw) < 1:
        raise ArgumentError(f"{op}: input {tuple(x.shape)} with padding {pads} is smaller than the "
                            f"kernel {kh}x{kw} at dilation {dilation}")
    return stride, dilation, pads, out_hw


def _takes_winograd(x_nhwc, weight, stride, pads, dilation, out_hw):
    """Whether a convolution (groups 1) takes the Winograd path; float16 never does: its transforms'
    sums lose digits there (3x PyTorch's error); nor an input or weight holding inf or NaN (_all_finite)."""
    return x_nhwc.dtype != "float16" and _winograd_pays(x_nhwc, weight.shape[1], out_hw) and \
        winograd.covers(weight.shape[2:], stride, pads, dilation) and _all_finite(x_nhwc, weight.data)


def _all_finite(*arrays):
    """Whether host arrays hold no inf or NaN (max and min propagate NaN). Winograd's transforms mix a tile's
    pixels (inf - inf = NaN in outputs PyTorch has at inf), and _Planes' weight gradient multiplies wrapped
    pixels by 0 (0 * inf): they take only finite values, the rest the column blocks, im2col's sums."""
    return all(bool(numpy.isfinite(a.max()) and numpy.isfinite(a.min())) for a in arrays if a.size)


@unbatched_too
@quiet
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None -> (N, O, Ho, Wo) with
    Ho = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1. ``padding`` is an int, a pair,
    'valid' (none) or 'same' (Ho = H, stride 1; an odd total pads one more row/column at the
    bottom/right, as PyTorch). ``dilation`` spaces the kernel's taps; ``groups`` convolves
    each of that many slices of C/groups channels into O/groups outputs. The output is
    channels-last in memory.
    """
    c, o = _check("conv2d", input, weight, bias, groups)
    n, _, h, w = input.shape
    kh, kw = weight.shape[2:]
    stride, dilation, pads, out_hw = _geometry("conv2d", input, weight, stride, padding, dilation)
    x_nhwc = input.data.transpose(0, 2, 3, 1)
    if groups == 1 and _takes_winograd(x_nhwc, weight, stride, pads, dilation, out_hw):
        return _conv2d_winograd(input, x_nhwc, weight, bias, pads[0][0])
    if groups == 1 and _takes_planes(input, stride):
        return _conv2d_planes(input, weight, bias, pads, dilation)
    w_rows = _weight_rows(weight.data, groups)  # (G, O/G, kh*kw*C/G)
    if groups == 1:  # blocks of columns, gathered again for the weight gradient (never stored whole)
        view, _ = windows(x_nhwc, (kh, kw), stride, pads, dilation)
        out = window_product(view, w_rows[0].T)  # (N*Ho*Wo, O)
    else:
        cols = _grouped(im2col(x_nhwc, (kh, kw), stride, pads, dilation)[0], groups, kh * kw)  # (G, N*Ho*Wo, kh*kw*C/G)
        out = _ungrouped(threads.matmul(cols, w_rows.transpose(0, 2, 1)))  # (N*Ho*Wo, O)
    if bias is not None:
        out += bias.data

    def backward(g):
        g_rows = g.transpose(0, 2, 3, 1).reshape(-1, o)
        if groups == 1:
            gw = _weight_from_rows(window_weight_product(g_rows, view), weight.shape)
        else:
            gw = _weight_from_rows(threads.matmul(_grouped(g_rows, groups).transpose(0, 2, 1), cols), weight.shape)
        gx = None
        if input.requires_grad:  # not for input images
            gx = _input_gradient(g, weight.data, (n, h, w, c), stride, pads, dilation, groups, out_hw)
        return (gx, gw) + ((accurate_sum(g_rows, 0),) if bias is not None else ())

    parents = (input, weight) + ((bias,) if bias is not None else ())
    return make_result(out.reshape(n, *out_hw, o).transpose(0, 3, 1, 2), parents, backward, "conv2d")


@quiet
def conv2d_affine(x, weight, scale, shift, stride=1, padding=0, dilation=1, relu=False, add=None):
    """relu(conv2d(x, weight) * scale + shift + add), per output channel, for inference (no gradient).

    A convolution followed by batch norm with fixed statistics (tinyrrn.nn.conv_bn), whose
    scale and shift (O,) are F.batch_norm's; ``add`` (the output's shape, optional) is a residual
    unit's shortcut and ``relu`` its ReLU. On the CPU they are applied to each block of the
    convolution's product right after it, while it is in the cache, instead of in passes of their
    own over memory: the same numbers as F.batch_norm_relu(conv2d(...), ...). Groups are 1. It
    records no graph: refused where a gradient would be needed (use conv2d and batch_norm there).
    """
    _check("conv2d_affine", x, weight, None, 1)
    o = weight.shape[0]
    check_same_dtype("conv2d_affine", x, scale, shift, names=("input", "scale", "shift"))
    if scale.shape != (o,) or shift.shape != (o,):
        raise ArgumentError(f"conv2d_affine: scale {tuple(scale.shape)} and shift {tuple(shift.shape)} must be "
                            f"({o},), one value per output channel of weight {tuple(weight.shape)}")
    if add is not None and not relu:
        raise ArgumentError("conv2d_affine: add= is fused with the ReLU only (relu(... + add)); pass relu=True")
    given = [t for t in (x, weight, scale, shift, add) if t is not None]
    if records_graph() and any(t.requires_grad for t in given):
        raise RuntimeError("conv2d_affine computes no gradient, and an input requires one: call it under "
                           "tinyrrn.no_grad(), or use conv2d and batch_norm")
    n = x.shape[0]
    stride, dilation, pads, out_hw = _geometry("conv2d_affine", x, weight, stride, padding, dilation)
    rows = None
    if add is not None:
        check_same_dtype("conv2d_affine", x, add, names=("input", "add"))
        if add.shape != (n, o) + out_hw:
            raise ArgumentError(f"conv2d_affine: add {tuple(add.shape)} must have the output's shape {(n, o) + out_hw}")
        rows = add.data.transpose(0, 2, 3, 1).reshape(-1, o)  # a free view of channels-last memory
    finish = _Affine(scale.data, shift.data, rows, relu)
    x_nhwc = x.data.transpose(0, 2, 3, 1)
    if _takes_winograd(x_nhwc, weight, stride, pads, dilation, out_hw):  # its blocks are images: one pass after
        out = winograd.conv3x3(x_nhwc, weight.data, pads[0][0]).reshape(-1, o)
        finish(out, 0, len(out))
    elif _takes_planes(x, stride):
        out = _Planes(x.data, weight.shape[2:], pads, dilation).product(_weight_rows(weight.data, 1)[0], finish)
    else:
        view, _ = windows(x_nhwc, weight.shape[2:], stride, pads, dilation)
        out = window_product(view, _weight_rows(weight.data, 1)[0].T, finish)
    return Tensor(out.reshape(n, *out_hw, o).transpose(0, 3, 1, 2))


class _Affine:
    """rows = relu(rows * scale + shift + add[lo:hi]) in place, for blocks of a (R, O) output (conv2d_affine):
    norm's per-channel kernels, on blocks laid side by side where O is narrow (as batch norm's passes)."""

    def __init__(self, scale, shift, add_rows, relu):
        self.scale, self.shift, self.add_rows, self.relu = scale, shift, add_rows, relu
        self.repeated = {}  # side-by-side count k -> (scale, shift) repeated k times

    def __call__(self, rows, lo, hi):
        xp, c = backend.xp_of(rows), rows.shape[1]
        k = norm.side_by_side(rows)
        if k not in self.repeated:
            self.repeated[k] = tuple(xp.tile(v, k) if k > 1 else v for v in (self.scale, self.shift))
        wide = rows.reshape(-1, k * c)
        if self.add_rows is not None:
            other = xp.ascontiguousarray(self.add_rows[lo:hi]).reshape(-1, k * c)
            threads.elementwise(norm.normalise_add_relu, wide, *self.repeated[k], other, out=wide)
        else:
            threads.elementwise(norm.normalise_relu if self.relu else norm.normalise, wide, *self.repeated[k], out=wide)


def _input_gradient(g, weight, x_shape, stride, pads, dilation, groups, out_hw):
    """conv2d's gradient with respect to its input, (N, C, H, W) channels-last, from g (N, O, Ho, Wo).

    At stride 1 it is a convolution of g with the kernel turned by 180 degrees and its in and
    out channels swapped, padded by the kernel's span minus the forward padding: im2col of g and
    one product, a contiguous result. With a stride (or a padding wider than the kernel) it is
    the adjoint of im2col: the product g @ weights, then col2im adds each row onto its window; so too
    for a weight holding inf or NaN on the CPU, which the convolution would multiply with g's zero
    padding (0 * inf = NaN where PyTorch's pixels are inf or finite; on a GPU it is not looked at:
    looking would wait for the device).
    """
    n, h, w, c = x_shape
    kh, kw = weight.shape[2:]
    spans = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    g_nhwc = g.transpose(0, 2, 3, 1)
    if groups == 1 and tuple(stride) == (1, 1) and all(p <= span for span, side in zip(spans, pads) for p in side) \
            and (backend.xp_of(weight) is not numpy or _all_finite(weight)):
        # the kernel turned by 180 degrees, in and out channels swapped, as (kh*kw*O, C) rows: one copy
        # that reads the channels-last weight C values at a time
        flipped = weight.transpose(0, 2, 3, 1)[:, ::-1, ::-1, :].transpose(1, 2, 0, 3).reshape(kh * kw * weight.shape[0], c)
        back_pads = tuple((span - before, span - after) for span, (before, after) in zip(spans, pads))
        view, _ = windows(g_nhwc, (kh, kw), (1, 1), back_pads, dilation)
        return window_product(view, flipped).reshape(n, h, w, c).transpose(0, 3, 1, 2)
    g_stack = _grouped(g_nhwc.reshape(-1, g.shape[1]), groups)
    tap_cols = _tap_products(g_stack, _weight_rows(weight, groups), kh * kw)
    return _add_taps(tap_cols, x_shape, (kh, kw), stride, pads, out_hw, dilation).transpose(0, 3, 1, 2)


class _Planes:
    """The columns of a stride-1 convolution of an input with few channels (images) from its zero-padded
    planes (N, C, Hp*Wp + slack): tap (i, j) of channel c reads a plane from offset i*dh*Wp + j*dw on, one
    run of values per block of output rows, where the windows of channels-last memory read runs of kw*C
    values (9 for a 3x3 kernel on RGB), slow to gather. The outputs are computed at every column of the
    padded width, and the last Wp - Wo of each row dropped. Blocks of output rows of one image, of about
    COLUMN_BLOCK_BYTES of columns, go to the thread pool."""

    def __init__(self, x, kernel, pads, dilation):
        n, c, h, w = x.shape
        (kh, kw), ((top, bottom), (left, right)), (dh, dw) = kernel, pads, dilation
        self.hp, self.wp = top + h + bottom, left + w + right
        self.out_hw = (self.hp - dh * (kh - 1), self.wp - dw * (kw - 1))
        self.planes = numpy.zeros((n, c, self.hp * self.wp + dw * (kw - 1)), dtype=x.dtype)  # the last row's
        # dropped columns read past the plane: kept inside it by the slack
        self.planes[:, :, :self.hp * self.wp].reshape(n, c, self.hp, self.wp)[:, :, top:top + h, left:left + w] = x
        step = self.planes.itemsize
        self.taps = (kh, kw, c)
        self.strides = (dh * self.wp * step, dw * step, self.planes.strides[1], step)
        lines = max(1, COLUMN_BLOCK_BYTES // (kh * kw * c * self.wp * step))  # output rows per block
        self.blocks = [(i, lo, min(lo + lines, self.out_hw[0])) for i in range(n) for lo in range(0, self.out_hw[0], lines)]

    def columns(self, image, lo, hi):
        """(kh*kw*C, (hi-lo)*Wp): row (i, j, c) is tap (i, j) of channel c at output rows lo:hi of ``image``."""
        start = self.planes[image, :, lo * self.wp:]
        view = numpy.lib.stride_tricks.as_strided(start, self.taps + ((hi - lo) * self.wp,), self.strides)
        return view.reshape(-1, (hi - lo) * self.wp)  # the one copy: runs of (hi-lo)*Wp values

    def product(self, w_rows, finish=None):
        """The convolution with weights (O, kh*kw*C) as NHWC rows (N*Ho*Wo, O); ``finish`` as window_product's."""
        (ho, wo), o = self.out_hw, w_rows.shape[0]
        out = numpy.empty((len(self.planes), ho, wo, o), dtype=numpy.result_type(self.planes, w_rows))

        def block(i, lo, hi):
            out[i, lo:hi] = (self.columns(i, lo, hi).T @ w_rows.T).reshape(hi - lo, self.wp, o)[:, :wo]
            if finish is not None:
                finish(out[i, lo:hi].reshape(-1, o), (i * ho + lo) * wo, (i * ho + hi) * wo)
        threads.run_tasks([lambda b=b: block(*b) for b in self.blocks])
        return out.reshape(-1, o)

    def weight_product(self, g_nhwc):
        """The weight gradient's product g_rows.T @ im2col(x) -> (O, kh*kw*C): the blocks' products, added."""
        wo, o = self.out_hw[1], g_nhwc.shape[3]

        def block(i, lo, hi):
            g_wide = numpy.zeros((hi - lo, self.wp, o), dtype=g_nhwc.dtype)  # g at every padded column, 0 where dropped
            g_wide[:, :wo] = g_nhwc[i, lo:hi]
            return self.columns(i, lo, hi) @ g_wide.reshape(-1, o)
        parts = threads.run_tasks([lambda b=b: block(*b) for b in self.blocks])
        empty = numpy.zeros((numpy.prod(self.taps), o), dtype=numpy.result_type(self.planes, g_nhwc))  # no images
        return functools.reduce(numpy.add, parts, empty).T


def _takes_planes(x, stride):
    """Whether a convolution (groups 1) of x takes _Planes: few channels, stride 1, on the CPU."""
    return x.shape[1] <= PLANES_MAX_CHANNELS and tuple(stride) == (1, 1) and backend.xp_of(x.data) is numpy


def _conv2d_planes(x, weight, bias, pads, dilation):
    """conv2d (stride 1, groups 1) by _Planes: the forward pass and the weight gradient; the input gradient,
    where needed, as any stride-1 convolution's."""
    n, c, h, w = x.shape
    o, kernel = weight.shape[0], weight.shape[2:]
    planes = _Planes(x.data, kernel, pads, dilation)
    out = planes.product(_weight_rows(weight.data, 1)[0])
    if bias is not None:
        out += bias.data

    def backward(g):
        g_nhwc = g.transpose(0, 2, 3, 1)
        if _all_finite(x.data):
            gw = _weight_from_rows(planes.weight_product(g_nhwc), weight.shape)
        else:  # column blocks: no product of a dropped column's 0 with an inf or NaN pixel
            view, _ = windows(x.data.transpose(0, 2, 3, 1), kernel, (1, 1), pads, dilation)
            gw = _weight_from_rows(window_weight_product(g_nhwc.reshape(-1, o), view), weight.shape)
        gx = None
        if x.requires_grad:
            gx = _input_gradient(g, weight.data, (n, h, w, c), (1, 1), pads, dilation, 1, planes.out_hw)
        return (gx, gw) + ((accurate_sum(g_nhwc.reshape(-1, o), 0),) if bias is not None else ())

    parents = (x, weight) + ((bias,) if bias is not None else ())
    return make_result(out.reshape(n, *planes.out_hw, o).transpose(0, 3, 1, 2), parents, backward, "conv2d")


def _winograd_pays(x_nhwc, channels, out_hw):
    """Whether the Winograd path is faster than column blocks for this input: on the CPU, wide (128+
    channels) and large feature maps (14 x 14 or more). Measured on 2 cores (benchmarks/conv3x3.py,
    forward + both gradients): on ResNet-50's 28x28 and 14x14 3x3 layers the two tie (Winograd does
    2.25x fewer multiplications, its transforms cost as much again); at 56x56 with 64 channels column
    blocks are 1.4x faster, at 7x7 (the 16 products become too small) 2x. Never on a GPU: there its
    transforms and 16 products are many small kernels, and im2col with one product is faster
    (benchmarks/conv.py --device gpu on an H200: 1.1 ms against 0.2-0.3 ms a layer, forward)."""
    return backend.xp_of(x_nhwc) is numpy and channels >= WINOGRAD_MIN_CHANNELS and min(out_hw) >= WINOGRAD_MIN_SIZE


def _conv2d_winograd(x, x_nhwc, weight, bias, padding):
    """conv2d by winograd.conv3x3 (3x3, stride 1, equal padding): nothing but x is kept for backward."""
    out = winograd.conv3x3(x_nhwc, weight.data, padding)
    if bias is not None:
        out += bias.data

    def backward(g):
        g_nhwc = g.transpose(0, 2, 3, 1)
        view, _ = windows(x_nhwc, (3, 3), (1, 1), (padding, padding))  # the weight gradient: column blocks
        gw = _weight_from_rows(window_weight_product(g_nhwc.reshape(-1, g.shape[1]), view), weight.shape)
        gx = None
        if x.requires_grad and _all_finite(g, weight.data):
            gx = winograd.conv3x3_input_grad(g_nhwc, weight.data, padding).transpose(0, 3, 1, 2)
        elif x.requires_grad:  # inf or NaN: im2col's sums (see _all_finite)
            gx = _input_gradient(g, weight.data, x_nhwc.shape, (1, 1), ((padding,) * 2,) * 2, (1, 1), 1, g.shape[2:])
        return (gx, gw) + ((accurate_sum(g_nhwc, (0, 1, 2)),) if bias is not None else ())

    parents = (x, weight) + ((bias,) if bias is not None else ())
    return make_result(out.transpose(0, 3, 1, 2), parents, backward, "conv2d")


@unbatched_too
@quiet
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transposed convolution, as torch.nn.functional.conv_transpose2d.

    It is conv2d's input gradient run as a forward pass: for the conv2d whose weight is
    ``weight`` (C, O/groups, kh, kw) and which maps an (N, O, Ho, Wo) input to x's shape
    (N, C, H, W), it maps x back to (N, O, Ho, Wo), Ho = (H-1)*stride - 2*padding +
    dilation*(kh-1) + output_padding + 1 (output_padding picks among the sizes that
    conv2d maps to H). So the forward pass is conv2d's backward (col2im of x times the
    weights), and the backward pass is conv2d's forward (im2col of the gradient).
    """
    c, o = _check("conv_transpose2d", input, weight, bias, groups, transposed=True)
    n, _, h, w = input.shape
    kh, kw = weight.shape[2:]
    stride = pair(stride, "stride", "conv_transpose2d", minimum=1)
    dilation = pair(dilation, "dilation", "conv_transpose2d", minimum=1)
    padding = pair(padding, "padding", "conv_transpose2d", minimum=0)
    extra = pair(output_padding, "output_padding", "conv_transpose2d", minimum=0)
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ArgumentError(f"conv_transpose2d: output_padding {extra} must be smaller than the stride "
                            f"{stride} or the dilation {dilation}")
    out_hw = tuple((size - 1) * s - 2 * p + d * (k - 1) + e + 1
                   for size, s, p, d, k, e in zip((h, w), stride, padding, dilation, (kh, kw), extra))
    if min(out_hw) < 1:
        raise ArgumentError(f"conv_transpose2d: output size {out_hw} of input {tuple(input.shape)} is too small")
    pads = tuple((p, p) for p in padding)
    x_stack = _grouped(input.data.transpose(0, 2, 3, 1).reshape(-1, c), groups)  # (G, N*H*W, C/G)
    w_rows = _weight_rows(weight.data, groups)  # (G, C/G, kh*kw*O/G)
    tap_cols = _tap_products(opmath(x_stack), opmath(w_rows), kh * kw)  # float16: products and taps add in float32
    out = _add_taps(tap_cols, (n, *out_hw, o), (kh, kw), stride, pads, (h, w), dilation)
    if bias is not None:
        out += bias.data
    out = out.astype(input.dtype, copy=False)  # float16: rounded once, as PyTorch

    def backward(g):
        cols, _ = im2col(g.transpose(0, 2, 3, 1), (kh, kw), stride, pads, dilation, out_hw=(h, w))
        cols = _grouped(cols, groups, kh * kw)  # (G, N*H*W, kh*kw*O/G)
        gw = _weight_from_rows(threads.matmul(x_stack.transpose(0, 2, 1), cols), weight.shape)
        gx = None
        if input.requires_grad:
            gx = _ungrouped(threads.matmul(cols, w_rows.transpose(0, 2, 1))).reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return (gx, gw) + ((accurate_sum(g, (0, 2, 3)),) if bias is not None else ())

    parents = (input, weight) + ((bias,) if bias is not None else ())
    return make_result(out.transpose(0, 3, 1, 2), parents, backward, "conv_transpose2d")
