"""Pooling: max and average over kernel windows, and global (adaptive) average pooling.

Windows are visited as k*k strided slices of the whole batch (channels-last
memory), so each step of the short loop is one large vectorised operation.
"""
from .. import backend
from ..tensor import make_result
from ._util import check_float, pair


def _window_geometry(op, x, kernel_size, stride, padding):
    check_float(op, x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected input N,C,H,W, got shape {tuple(x.shape)}")
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    h, w = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if h < kernel[0] or w < kernel[1]:
        raise ValueError(f"{op}: input {tuple(x.shape)} is smaller than the kernel {kernel}")
    out_hw = ((h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
    return kernel, stride, padding, out_hw


def _offsets(kernel, stride, out_hw):
    """(index, slice_h, slice_w) of every kernel offset into the padded input."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i * kw + j, slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)


def _pad(x_nhwc, padding, value):
    ph, pw = padding
    if not (ph or pw):
        return x_nhwc
    xp = backend.xp_of(x_nhwc)
    n, h, w, c = x_nhwc.shape
    out = xp.full((n, h + 2 * ph, w + 2 * pw, c), value, dtype=x_nhwc.dtype)
    out[:, ph:ph + h, pw:pw + w, :] = x_nhwc
    return out


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each window (torch.nn.functional.max_pool2d); padding counts as -inf."""
    kernel, stride, padding, out_hw = _window_geometry("max_pool2d", x, kernel_size, stride, padding)
    xp = backend.xp_of(x.data)
    padded = _pad(x.data.transpose(0, 2, 3, 1), padding, -xp.inf)
    out = None
    for _, rows, cols in _offsets(kernel, stride, out_hw):
        window = padded[:, rows, cols, :]
        if out is None:
            out = window.copy()
        else:
            xp.maximum(out, window, out=out)

    def backward(g):
        # Each output's gradient goes to the first window position holding the maximum
        # (ties, e.g. zeros after a ReLU, go to the first one, as in PyTorch).
        g_nhwc = g.transpose(0, 2, 3, 1)
        grad = xp.zeros(padded.shape, dtype=g.dtype)
        unclaimed = xp.ones(out.shape, dtype=bool)
        for _, rows, cols in _offsets(kernel, stride, out_hw):
            hit = padded[:, rows, cols, :] == out
            hit &= unclaimed
            unclaimed ^= hit
            grad[:, rows, cols, :] += g_nhwc * hit
        (ph, pw), (h, w) = padding, x.shape[2:]
        return (grad[:, ph:ph + h, pw:pw + w, :].transpose(0, 3, 1, 2),)

    return make_result(out.transpose(0, 3, 1, 2), (x,), backward, "max_pool2d")


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window (torch.nn.functional.avg_pool2d, zero padding counted)."""
    kernel, stride, padding, out_hw = _window_geometry("avg_pool2d", x, kernel_size, stride, padding)
    xp = backend.xp_of(x.data)
    padded = _pad(x.data.transpose(0, 2, 3, 1), padding, 0)
    scale = 1.0 / (kernel[0] * kernel[1])
    out = None
    for _, rows, cols in _offsets(kernel, stride, out_hw):
        out = padded[:, rows, cols, :] * scale if out is None else out + padded[:, rows, cols, :] * scale

    def backward(g):
        g_nhwc = g.transpose(0, 2, 3, 1) * scale
        grad = xp.zeros(padded.shape, dtype=g.dtype)
        for _, rows, cols in _offsets(kernel, stride, out_hw):
            grad[:, rows, cols, :] += g_nhwc
        (ph, pw), (h, w) = padding, x.shape[2:]
        return (grad[:, ph:ph + h, pw:pw + w, :].transpose(0, 3, 1, 2),)

    return make_result(out.transpose(0, 3, 1, 2), (x,), backward, "avg_pool2d")


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size; sizes must divide the input (1 = global pooling)."""
    check_float("adaptive_avg_pool2d", x)
    oh, ow = pair(output_size, "output_size")
    h, w = x.shape[2:]
    if (oh, ow) == (1, 1):
        xp = backend.xp_of(x.data)
        out = x.data.mean(axis=(2, 3), keepdims=True)
        return make_result(out, (x,), lambda g: (xp.broadcast_to(g / (h * w), x.shape),),
                           "adaptive_avg_pool2d")
    if h % oh or w % ow:
        raise ValueError(f"adaptive_avg_pool2d: output size {(oh, ow)} must divide the input "
                         f"size {(h, w)} of {tuple(x.shape)}")
    return avg_pool2d(x, (h // oh, w // ow))
