"""2-D convolution by im2col: one strided view, one copy, one matrix product.

Shapes follow PyTorch (input N,C,H,W; weight O,C,kh,kw), but memory is best
kept *channels-last*: an activation whose NCHW shape is a transposed view of
an NHWC buffer. Then ``x.transpose(0, 2, 3, 1)`` is free, every window of the
im2col gather reads C contiguous values, and the product's (N*Ho*Wo, O)
result already is the NHWC buffer of the output. Measured on a 2-core CPU
this layout is 2.2x faster than NCHW memory (see benchmarks/conv.py). Any
other layout gives the same numbers, only slower.
"""
from .. import backend
from ..tensor import make_result
from ._util import check_float, pair


def channels_last(array):
    """The same values in NCHW shape backed by NHWC memory (copies only if needed)."""
    xp = backend.xp_of(array)
    return xp.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _padded_nhwc(x_nhwc, ph, pw):
    """x (N,H,W,C) surrounded by zeros; a view when there is no padding."""
    if not (ph or pw):
        return x_nhwc
    xp = backend.xp_of(x_nhwc)
    n, h, w, c = x_nhwc.shape
    out = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x_nhwc.dtype)
    out[:, ph:ph + h, pw:pw + w, :] = x_nhwc
    return out


def im2col(x_nhwc, kernel, stride, padding):
    """Columns (N*Ho*Wo, kh*kw*C) of every kernel window, and the output size (Ho, Wo)."""
    xp = backend.xp_of(x_nhwc)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = _padded_nhwc(x_nhwc, ph, pw)
    n, hp, wp, c = padded.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if kh == kw == 1:
        cols = padded[:, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw, :]
    else:
        s0, s1, s2, s3 = padded.strides
        cols = xp.lib.stride_tricks.as_strided(
            padded, shape=(n, ho, wo, kh, kw, c), strides=(s0, s1 * sh, s2 * sw, s1, s2, s3))
    return cols.reshape(n * ho * wo, kh * kw * c), (ho, wo)


def col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """The adjoint of im2col: add every window's column back to its pixels (N,H,W,C)."""
    xp = backend.xp_of(cols)
    n, h, w, c = x_shape
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_hw
    if kh == kw == 1 and (sh, sw, ph, pw) == (1, 1, 0, 0):
        return cols.reshape(n, h, w, c)
    padded = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=cols.dtype)
    windows = cols.reshape(n, ho, wo, kh, kw, c)
    for i in range(kh):  # k*k strided adds, each over the whole batch
        for j in range(kw):
            padded[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :] += windows[:, :, :, i, j, :]
    return padded[:, ph:ph + h, pw:pw + w, :]


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation, as torch.nn.functional.conv2d (no groups or dilation).

    x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or None -> (N, O, Ho, Wo)
    with Ho = (H + 2*padding - kh) // stride + 1. The output is channels-last in memory.
    """
    check_float("conv2d", x, weight)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input {tuple(x.shape)} does not fit weight {tuple(weight.shape)} "
                         "(need input N,C,H,W and weight O,C,kh,kw with the same C)")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"conv2d: bias {tuple(bias.shape)} does not fit weight {tuple(weight.shape)}")
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    if h + 2 * padding[0] < kh or w + 2 * padding[1] < kw:
        raise ValueError(f"conv2d: input {tuple(x.shape)} with padding {padding} is smaller than "
                         f"the kernel {kh}x{kw}")
    x_nhwc = x.data.transpose(0, 2, 3, 1)
    cols, (ho, wo) = im2col(x_nhwc, (kh, kw), stride, padding)
    w_rows = weight.data.transpose(0, 2, 3, 1).reshape(o, kh * kw * c)  # (O, kh*kw*C)
    out = cols @ w_rows.T
    if bias is not None:
        out += bias.data

    def backward(g):
        g_nhwc = g.transpose(0, 2, 3, 1)
        g_rows = g_nhwc.reshape(-1, o)
        gw = (g_rows.T @ cols).reshape(o, kh, kw, c).transpose(0, 3, 1, 2)
        gx = None
        if x.requires_grad:  # not for input images
            g_cols = g_rows @ w_rows
            gx = col2im(g_cols, (n, h, w, c), (kh, kw), stride, padding, (ho, wo)).transpose(0, 3, 1, 2)
        return (gx, gw) + ((g_rows.sum(axis=0),) if bias is not None else ())

    parents = (x, weight) + ((bias,) if bias is not None else ())
    return make_result(out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), parents, backward, "conv2d")
