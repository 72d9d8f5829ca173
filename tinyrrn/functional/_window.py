"""Window geometry shared by convolution and pooling: output sizes, padding, the kernel's taps."""
from .. import backend


def output_size(size, kernel, stride, pads, dilation=1, ceil_mode=False):
    """How many windows fit along one axis of ``size`` padded by ``pads`` = (before, after).

    A window spans dilation * (kernel - 1) + 1 pixels. ``ceil_mode`` (pooling) keeps a last,
    partial window if it starts inside the input or the left padding, as PyTorch does.
    """
    room = size + pads[0] + pads[1] - (dilation * (kernel - 1) + 1)
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pads[0]:
        out -= 1
    return out


def as_pads(padding):
    """(ph, pw) as ((ph, ph), (pw, pw)); ((top, bottom), (left, right)) as it is."""
    return tuple(tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in padding)


def pad_nhwc(x_nhwc, pads, value):
    """x (N, H, W, C) surrounded by ``value``: pads = ((top, bottom), (left, right)); a view without padding."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x_nhwc
    xp = backend.xp_of(x_nhwc)
    n, h, w, c = x_nhwc.shape
    shape = (n, top + h + bottom, left + w + right, c)
    out = xp.zeros(shape, dtype=x_nhwc.dtype) if value == 0 else xp.full(shape, value, dtype=x_nhwc.dtype)
    out[:, top:top + h, left:left + w, :] = x_nhwc
    return out


def crop_nhwc(padded, pads, hw):
    """The inverse of pad_nhwc: the (H, W) interior of a padded (N, H', W', C) array (a view)."""
    (top, _), (left, _) = pads
    return padded[:, top:top + hw[0], left:left + hw[1], :]


def taps(kernel, stride, dilation, out_hw):
    """(i, j, rows, cols) of every kernel tap: the slices of the padded input it reads for all outputs."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            yield (i, j, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                   slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
