"""Lesson 04: a convolution is one matrix product (im2col), and so is its backward.

Run:  python lessons/04_im2col.py [--out DIR]

A 3x3 convolution slides a small weight tensor over the image and, at every
output pixel, multiplies a 3x3xC window of the input with it and sums. Written
as loops that is six nested loops per image, and hopelessly slow in Python.

im2col ("image to columns") copies every window into one row of a matrix.
Then all output pixels of all images come out of ONE matrix product with the
weights, a job for BLAS, the most carefully optimised code on the machine. The backward pass is
two more matrix products plus col2im, which adds each row back onto its window;
the transposed convolution (conv_transpose2d) is that input gradient used as a layer.

We build each piece by hand on a tiny input, check it against the loops,
against tinyrrn's F.conv2d (and PyTorch, if installed), see why tinyrrn keeps
activations channels-last (NHWC) in memory, and finally what F.conv2d does
beyond the plain version built here.
"""
import inspect
import os
import time

import matplotlib

matplotlib.use("Agg")  # draw into files, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

from tinyrrn import Tensor  # noqa: E402
from tinyrrn import functional as F  # noqa: E402
from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args  # noqa: E402
from tinyrrn.functional import conv  # noqa: E402
from tinyrrn.functional.conv import col2im, im2col  # noqa: E402

parser = ArgumentParser(description="Convolution by im2col, forward and backward.")
parser.add_argument("--out", type=folder_to_write, default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the picture (default: lessons/out)")
args = parse_script_args(parser)
os.makedirs(args.out, exist_ok=True)
print(__doc__)
rng = numpy.random.default_rng(0)

# --- 1. The definition: six loops per image ----------------------------------
# out[b, o, i, j] = sum over c, ki, kj of  weight[o, c, ki, kj] * x[b, c, i*s + ki, j*s + kj]
# (x zero-padded by p on every side). This is cross-correlation, as in every DL framework.
multiply_adds = 0


def naive_conv2d(x, weight, stride, padding):
    """x (N, C, H, W), weight (O, C, kh, kw) -> (N, O, Ho, Wo), one multiply-add at a time."""
    global multiply_adds
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    padded = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    out = numpy.zeros((n, o, ho, wo))
    for b in range(n):                                  # (the batch: not one of the six)
        for oc in range(o):                             # 1. every output channel
            for i in range(ho):                         # 2. every output row
                for j in range(wo):                     # 3. every output column
                    for ic in range(c):                 # 4. every input channel
                        for ki in range(kh):            # 5. every kernel row
                            for kj in range(kw):        # 6. every kernel column
                                out[b, oc, i, j] += weight[oc, ic, ki, kj] * padded[b, ic, i * stride + ki,
                                                                                    j * stride + kj]
                                multiply_adds += 1
    return out


N, C, H, W, O, K = 2, 3, 5, 6, 4, 3
# Readable input values: x[b, c, y, x] = 1000 b + 100 c + 10 y + x, so a number tells where it came from.
b_, c_, y_, x_ = numpy.meshgrid(range(N), range(C), range(H), range(W), indexing="ij")
x = (1000 * b_ + 100 * c_ + 10 * y_ + x_).astype("float64")
weight = rng.standard_normal((O, C, K, K))
stride, padding = 1, 1
start = time.perf_counter()
reference = naive_conv2d(x, weight, stride, padding)
loop_seconds = time.perf_counter() - start
print(f"1. The loops: input {x.shape}, weight {weight.shape}, stride {stride}, padding {padding} "
      f"-> output {reference.shape}")
print(f"   {multiply_adds} multiply-adds = N*O*Ho*Wo*C*kh*kw = "
      f"{N}*{O}*{reference.shape[2]}*{reference.shape[3]}*{C}*{K}*{K}")
assert multiply_adds == N * O * reference.shape[2] * reference.shape[3] * C * K * K


# --- 2. im2col: every window becomes one row -----------------------------------
# We lay the input out channels-last, x_nhwc[b, y, x, c], as tinyrrn does, so a
# window flattened in (ki, kj, c) order reads the C channels of one pixel, then the
# next pixel's, and so on.
def my_im2col(x_nhwc, k, stride, padding):
    """Rows (N*Ho*Wo, k*k*C): row (b, i, j) holds the window under output pixel (i, j) of image b."""
    padded = numpy.pad(x_nhwc, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    n, hp, wp, c = padded.shape
    ho, wo = (hp - k) // stride + 1, (wp - k) // stride + 1
    cols = numpy.empty((n * ho * wo, k * k * c))
    row = 0
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                cols[row] = padded[b, i * stride:i * stride + k, j * stride:j * stride + k, :].ravel()
                row += 1
    return cols, (ho, wo)


def as_weight_rows(weight):
    """(O, C, kh, kw) -> (O, kh*kw*C): each output channel's kernel in the same (ki, kj, c) order."""
    o = weight.shape[0]
    return weight.transpose(0, 2, 3, 1).reshape(o, -1)


x_nhwc = x.transpose(0, 2, 3, 1)
start = time.perf_counter()
cols, (Ho, Wo) = my_im2col(x_nhwc, K, stride, padding)
w_rows = as_weight_rows(weight)
by_im2col = (cols @ w_rows.T).reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)  # rows (b, i, j) -> NCHW
im2col_seconds = time.perf_counter() - start
print(f"\n2. im2col: the column matrix has shape {cols.shape} = (N*Ho*Wo, kh*kw*C) = "
      f"({N}*{Ho}*{Wo}, {K}*{K}*{C});")
print(f"   the weights become {w_rows.shape} = (O, kh*kw*C); one product (N*Ho*Wo, kh*kw*C) @ "
      f"(kh*kw*C, O) gives every output pixel.")
assert cols.shape == (N * Ho * Wo, K * K * C) and w_rows.shape == (O, K * K * C)
row = (0 * Ho + 2) * Wo + 3  # image 0, output pixel (i=2, j=3): input rows 1..3, columns 2..4
print(f"   row {row} is the window of image 0 under output pixel (2, 3); values read 100c + 10y + x:")
for ki in range(K):
    print("     " + "   ".join(" ".join(f"{v:5.0f}" for v in cols[row].reshape(K, K, C)[ki, kj])
                               for kj in range(K)))
print("   (each group of three is one pixel's channels c = 0, 1, 2: in a row of the column matrix the\n"
      "   channel index runs fastest, which is why channels-last memory suits it; see part 5)")
assert numpy.array_equal(cols[row].reshape(K, K, C), x_nhwc[0, 1:4, 2:5, :])
corner = cols[0].reshape(K, K, C)  # output pixel (0, 0): its window hangs over the padding
print("   the window of output pixel (0, 0) hangs over the edge: 5 of its 9 pixels are padding zeros")
assert (corner[0] == 0).all() and (corner[:, 0] == 0).all() and numpy.array_equal(corner[1:, 1:], x_nhwc[0, :2, :2])
assert numpy.allclose(by_im2col, reference, rtol=1e-12, atol=1e-9)
print("   im2col @ weights == the six loops: yes (float64, to 1e-12)")
print(f"   time on this machine: the six loops {loop_seconds * 1e3:.1f} ms, our im2col (a Python loop over\n"
      f"   the {len(cols)} windows) and one product {im2col_seconds * 1e3:.2f} ms")

# The same, for a stride and padding where windows skip and hang over the edge:
for s, p in ((2, 0), (2, 1), (1, 0)):
    looped = naive_conv2d(x, weight, s, p)
    c2, (h2, w2) = my_im2col(x_nhwc, K, s, p)
    assert numpy.allclose((c2 @ w_rows.T).reshape(N, h2, w2, O).transpose(0, 3, 1, 2), looped, rtol=1e-12, atol=1e-9)
print("   ... and for stride 2 / padding 0, stride 2 / padding 1, stride 1 / padding 0 too")

# tinyrrn does the gather without any Python loop: a strided VIEW whose six axes
# (b, i, j, ki, kj, c) walk the padded buffer, then one copy (the reshape).
padded = numpy.pad(x_nhwc, ((0, 0), (1, 1), (1, 1), (0, 0)))
s0, s1, s2, s3 = padded.strides
windows = numpy.lib.stride_tricks.as_strided(padded, shape=(N, Ho, Wo, K, K, C),
                                              strides=(s0, s1 * stride, s2 * stride, s1, s2, s3))
assert numpy.shares_memory(windows, padded)  # a view: no byte copied yet
assert numpy.array_equal(windows.reshape(N * Ho * Wo, K * K * C), cols)
print(f"\n   Without loops: a strided view of shape {windows.shape} with byte strides {windows.strides}\n"
      f"   over the padded buffer (no copy), then one reshape (the only copy). tinyrrn's own im2col:\n")
print("   " + inspect.getsource(im2col).replace("\n", "\n   "))
library_cols, library_hw = im2col(x_nhwc, (K, K), (stride, stride), (padding, padding))
assert library_hw == (Ho, Wo) and numpy.array_equal(library_cols, cols)
print("   tinyrrn.functional.conv.im2col gives exactly our column matrix: yes")

# A picture: the input, one window, and where it lands in the column matrix.
fig, (left_ax, right_ax) = plt.subplots(1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})
left_ax.imshow(padded[0, :, :, 0], cmap="viridis")
for yy in range(padded.shape[1]):
    for xx in range(padded.shape[2]):
        left_ax.text(xx, yy, f"{padded[0, yy, xx, 0]:.0f}", ha="center", va="center", fontsize=7, color="w")
left_ax.add_patch(plt.Rectangle((3 - 0.5, 2 - 0.5), 3, 3, fill=False, edgecolor="red", linewidth=2.5))
left_ax.set_title("image 0, channel 0, zero-padded\n(red: the window under output pixel (2, 3))", fontsize=9)
left_ax.set_xticks([])
left_ax.set_yticks([])
right_ax.imshow(cols[:Ho * Wo], aspect="auto", cmap="viridis", interpolation="nearest")  # image 0's rows
right_ax.add_patch(plt.Rectangle((-0.5, row - 0.5), K * K * C, 1, fill=False, edgecolor="red", linewidth=2.5))
right_ax.set_xticks([C * t + 1 for t in range(K * K)], [f"({t // K},{t % K})" for t in range(K * K)], fontsize=7)
right_ax.set_xlabel("column = (kernel row, kernel column), channels inside each group")
right_ax.set_ylabel("row = (image, output row, output column)")
right_ax.set_title(f"image 0's {Ho * Wo} rows of the column matrix {cols.shape}: one row per output pixel\n"
                   f"(red: row {row}, the same window, all {C} channels; dark = padding zeros)", fontsize=9)
fig.tight_layout()
picture = os.path.join(args.out, "im2col.png")
fig.savefig(picture, dpi=110)
plt.close(fig)
print(f"   Picture of the window and its row in the column matrix: {picture}")


# --- 3. F.conv2d, and PyTorch ----------------------------------------------------
x_random = rng.standard_normal((N, C, H, W))
ours = (my_im2col(x_random.transpose(0, 2, 3, 1), K, stride, padding)[0] @ w_rows.T)
ours = ours.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)
engine = F.conv2d(Tensor(x_random), Tensor(weight), stride=stride, padding=padding).numpy()
assert numpy.allclose(engine, ours, rtol=1e-12, atol=1e-12)
print("\n3. F.conv2d on a random float64 input equals our im2col product (to 1e-12): yes")
try:
    import torch
except ImportError:
    torch = None
    print("   PyTorch is not installed, so the comparison with torch.nn.functional.conv2d is skipped\n"
          "   (pip install torch to see it; nothing else in this lesson needs it).")
if torch is not None:
    theirs = torch.nn.functional.conv2d(torch.from_numpy(x_random), torch.from_numpy(weight),
                                        stride=stride, padding=padding).numpy()
    assert numpy.allclose(theirs, ours, rtol=1e-10, atol=1e-12)
    print(f"   torch.nn.functional.conv2d (torch {torch.__version__}) agrees too (to 1e-10)")


# --- 4. The backward pass: two matrix products and col2im -------------------------
# Forward: out_rows = cols @ w_rows.T, with out_rows (N*Ho*Wo, O). Given the loss's gradient
# g with respect to the output, as rows g_rows (N*Ho*Wo, O), the product rule of matrices gives
#     dL/d w_rows = g_rows.T @ cols          (O, kh*kw*C): product 1, the weight gradient
#     dL/d cols   = g_rows @ w_rows          (N*Ho*Wo, kh*kw*C): product 2
# and since every input pixel was copied into several windows (rows), its gradient is the
# sum of the gradients of all its copies: col2im adds each row back onto its window.
def my_col2im(cols, x_shape, k, stride, padding):
    """The adjoint of my_im2col: add row (b, i, j) onto the window under output pixel (i, j)."""
    n, h, w, c = x_shape
    padded = numpy.zeros((n, h + 2 * padding, w + 2 * padding, c))
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    row = 0
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                padded[b, i * stride:i * stride + k, j * stride:j * stride + k, :] += cols[row].reshape(k, k, c)
                row += 1
    return padded[:, padding:padding + h, padding:padding + w, :]  # gradient of the padding is dropped


cols_random, _ = my_im2col(x_random.transpose(0, 2, 3, 1), K, stride, padding)
g = rng.standard_normal((N, O, Ho, Wo))                     # dL/d out, as it comes from the layer above
g_rows = g.transpose(0, 2, 3, 1).reshape(-1, O)              # (N*Ho*Wo, O), rows in (b, i, j) order
grad_w = (g_rows.T @ cols_random).reshape(O, K, K, C).transpose(0, 3, 1, 2)    # product 1
grad_cols = g_rows @ w_rows                                                      # product 2
grad_x = my_col2im(grad_cols, (N, H, W, C), K, stride, padding).transpose(0, 3, 1, 2)

x_leaf, w_leaf = Tensor(x_random, requires_grad=True), Tensor(weight, requires_grad=True)
F.conv2d(x_leaf, w_leaf, stride=stride, padding=padding).backward(g)
assert numpy.allclose(w_leaf.grad, grad_w, rtol=1e-12, atol=1e-12)
assert numpy.allclose(x_leaf.grad, grad_x, rtol=1e-12, atol=1e-12)
print(f"\n4. Backward: dL/dW = g_rows.T @ cols {grad_w.shape} and dL/dx = col2im(g_rows @ W_rows) {grad_x.shape}")
print("   equal the engine's gradients from F.conv2d(...).backward(g) (to 1e-12): yes")
library_x = col2im(grad_cols, (N, H, W, C), (K, K), (stride, stride), (padding, padding), (Ho, Wo))
assert numpy.allclose(library_x, grad_x.transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
print("   tinyrrn.functional.conv.col2im (k*k strided adds over the whole batch, no loop over pixels)\n"
      "   gives the same input gradient as our row-by-row col2im: yes")
# Why col2im is the right backward: it is the transpose (adjoint) of im2col,
# <im2col(x), Z> = <x, col2im(Z)> for every x and Z. The loss sees x only through im2col(x).
Z = rng.standard_normal(cols_random.shape)
left = float((cols_random * Z).sum())
right = float((x_random.transpose(0, 2, 3, 1) * my_col2im(Z, (N, H, W, C), K, stride, padding)).sum())
assert abs(left - right) < 1e-9 * abs(left)
print(f"   col2im is im2col's transpose: <im2col(x), Z> = {left:.10f} = <x, col2im(Z)> = {right:.10f}")
# At stride 1 the same input gradient is itself a convolution: of g with the kernel turned by 180
# degrees, its in and out channels swapped (O, C -> C, O), padded by K-1-padding. Input pixel (y, x)
# met kernel tap (ki, kj) at output pixel (y - ki + padding, x - kj + padding): reading g backwards
# under the kernel is reading the kernel backwards over g. F.conv2d computes it this way (one
# product, no col2im); col2im remains for strided convolutions.
flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)             # (C, O, K, K)
as_convolution = F.conv2d(Tensor(g), Tensor(flipped.copy()), padding=K - 1 - padding).numpy()
assert stride == 1 and numpy.allclose(as_convolution, grad_x, rtol=1e-12, atol=1e-12)
print(f"   at stride 1, dL/dx is also conv2d(g, W turned 180 degrees with in/out channels swapped, padding "
      f"{K - 1 - padding}): equal (to 1e-12), the way F.conv2d computes it")
if torch is not None:
    xt = torch.from_numpy(x_random).requires_grad_()
    wt = torch.from_numpy(weight).requires_grad_()
    torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding).backward(torch.from_numpy(g))
    assert numpy.allclose(xt.grad.numpy(), grad_x, rtol=1e-10) and numpy.allclose(wt.grad.numpy(), grad_w, rtol=1e-10)
    print("   PyTorch's gradients agree too (to 1e-10)")

# conv_transpose2d (the "deconvolution" that upsamples in segmentation and GAN decoders) is this
# input gradient run as a forward pass: with the conv's weight (O, C, kh, kw) it maps an
# (N, O, Ho, Wo) array to (N, C, H, W) by g_rows @ W_rows and col2im. Fed the upstream gradient g,
# it must give exactly dL/dx. With stride 2, several input sizes have the same output size
# (W = 5 and W = 6 both give Wo = 3), so output_padding says which one to go back to.
print("   F.conv_transpose2d(g, W) is conv2d's input gradient run forwards:")
for s, p in ((1, 1), (2, 1)):
    x_in = Tensor(x_random, requires_grad=True)
    y_out = F.conv2d(x_in, Tensor(weight), stride=s, padding=p)
    g_s = rng.standard_normal(y_out.shape)
    y_out.backward(g_s)
    extra = tuple(size - ((o - 1) * s - 2 * p + K) for size, o in zip((H, W), y_out.shape[2:]))  # output_padding
    transposed = F.conv_transpose2d(Tensor(g_s), Tensor(weight), stride=s, padding=p, output_padding=extra).numpy()
    assert transposed.shape == x_random.shape and numpy.allclose(transposed, x_in.grad, rtol=1e-12, atol=1e-12)
    print(f"   stride {s}: it maps g {g_s.shape} to {transposed.shape} (output_padding {extra}) and equals "
          "dL/dx of F.conv2d (to 1e-12): yes")
    if torch is not None:
        theirs = torch.nn.functional.conv_transpose2d(torch.from_numpy(g_s), torch.from_numpy(weight), stride=s,
                                                      padding=p, output_padding=extra).numpy()
        assert numpy.allclose(theirs, transposed, rtol=1e-10, atol=1e-12)
        print("             torch.nn.functional.conv_transpose2d agrees too (to 1e-10)")

# --- 5. Why tinyrrn keeps activations channels-last --------------------------------
# A 4-D array in NCHW shape can sit in memory in NCHW order (W fastest) or in NHWC order
# (C fastest, "channels-last"), as a transposed view. Same numbers, different strides.
nchw_memory = rng.standard_normal((N, C, H, W)).astype("float32")
nhwc_memory = F.channels_last(nchw_memory)
assert numpy.array_equal(nchw_memory, nhwc_memory) and nhwc_memory.shape == nchw_memory.shape
item = nchw_memory.itemsize
print("\n5. Memory layout. Same (N, C, H, W) array, two memory orders; strides in bytes:")
print(f"   NCHW memory: strides {nchw_memory.strides}   channels-last memory: strides {nhwc_memory.strides}")
# im2col reads each window in (ki, kj, c) order: c is the innermost axis of the gather.
channel_step = {name: a.transpose(0, 2, 3, 1).strides[-1] for name, a in
                (("NCHW", nchw_memory), ("channels-last", nhwc_memory))}
print(f"   stepping to the next channel (the innermost step of the gather) jumps "
      f"{channel_step['NCHW']} bytes in NCHW memory, {channel_step['channels-last']} bytes channels-last:")
print(f"   a window row is read as {K * K} runs of C contiguous floats channels-last, but as "
      f"{K * K * C} single floats H*W*4 = {H * W * item} bytes apart in NCHW memory.")
assert channel_step["channels-last"] == item and channel_step["NCHW"] == H * W * item
assert nhwc_memory.transpose(0, 2, 3, 1).flags.c_contiguous and not nchw_memory.transpose(0, 2, 3, 1).flags.c_contiguous

# Two consequences you can check, on a real layer: the 1x1 convolution that shrinks
# 256 channels to 64 at 56x56 in a ResNet-50 bottleneck (batch 8).
big = rng.standard_normal((8, 256, 56, 56)).astype("float32")
layouts = {"NCHW": big, "channels-last": F.channels_last(big)}
w1x1 = F.channels_last(rng.standard_normal((64, 256, 1, 1)).astype("float32") / 16)
gathered = {name: im2col(a.transpose(0, 2, 3, 1), (1, 1), (1, 1), (0, 0))[0] for name, a in layouts.items()}
copied = {name: 0 if numpy.shares_memory(cols_, layouts[name]) else cols_.nbytes for name, cols_ in gathered.items()}
print(f"   (a) the 1x1 layer's im2col copies {copied['NCHW'] / 2**20:.1f} MiB from NCHW memory and "
      f"{copied['channels-last'] / 2**20:.1f} MiB channels-last: there the column matrix IS the\n"
      "       activation's memory, a free view.")
assert copied["channels-last"] == 0 and copied["NCHW"] == big.nbytes
out = F.conv2d(Tensor(layouts["channels-last"]), Tensor(w1x1)).data
print(f"   (b) F.conv2d's output (N*Ho*Wo, O) product is already the next layer's channels-last input:\n"
      f"       output strides {out.strides}, channels-last: {out.transpose(0, 2, 3, 1).flags.c_contiguous}")
assert out.transpose(0, 2, 3, 1).flags.c_contiguous
timings = {}
for name, a in layouts.items():
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        F.conv2d(Tensor(a), Tensor(w1x1))
        runs.append(time.perf_counter() - start)
    timings[name] = min(runs)
print(f"   Timed on this machine (best of 3; a busy machine changes the numbers, not the cause): "
      f"NCHW memory {timings['NCHW'] * 1e3:.0f} ms, channels-last {timings['channels-last'] * 1e3:.0f} ms "
      f"({timings['NCHW'] / timings['channels-last']:.1f}x).")

# What F.conv2d itself does is this idea, not this exact code. On the CPU it never stores the whole
# column matrix: it gathers a cache-sized block of rows and multiplies it while it is in the cache
# (conv.window_product), and wide 3x3 layers (WINOGRAD_MIN_CHANNELS channels or more, outputs of
# WINOGRAD_MIN_SIZE x WINOGRAD_MIN_SIZE or larger) take Winograd F(2x2, 3x3), which needs 2.25x fewer
# multiplications (tinyrrn/functional/winograd.py; benchmarks/conv3x3.py times every path). Each path
# gives the numbers of the one-copy im2col and one product, as this 3x3 layer of ResNet-50's shape shows.
wide = F.channels_last(rng.standard_normal((2, conv.WINOGRAD_MIN_CHANNELS, conv.WINOGRAD_MIN_SIZE,
                                            conv.WINOGRAD_MIN_SIZE)).astype("float32"))
w3x3 = (rng.standard_normal((32, conv.WINOGRAD_MIN_CHANNELS, 3, 3)) / 34).astype("float32")
one_copy = im2col(wide.transpose(0, 2, 3, 1), (3, 3), (1, 1), (1, 1))[0] @ w3x3.transpose(0, 2, 3, 1).reshape(32, -1).T
library = F.conv2d(Tensor(wide), Tensor(w3x3), padding=1).numpy().transpose(0, 2, 3, 1).reshape(-1, 32)
assert numpy.allclose(library, one_copy, rtol=1e-4, atol=1e-5)
print(f"   F.conv2d on the CPU gathers columns a cache-sized block at a time and takes Winograd F(2x2, 3x3)\n"
      f"   for 3x3 layers of {conv.WINOGRAD_MIN_CHANNELS}+ channels at {conv.WINOGRAD_MIN_SIZE}x"
      f"{conv.WINOGRAD_MIN_SIZE} or more; on such a layer {tuple(wide.shape)} it gives the one-copy im2col's "
      "numbers (float32, to 1e-4): yes")
# Two more paths for the layers channels-last serves worst. An RGB image has C = 3: a window row is
# runs of kw*C = 9 values, slow to gather, so inputs of few channels gather their columns from the
# zero-padded planes of NCHW memory instead (conv._Planes): one run of a whole block of output rows
# per tap and channel. And col2im adds each row onto every stride-th pixel in runs of C values; with a
# stride, the input gradient adds each tap's values onto the stride's phases of the input (the pixels
# of each row and column remainder), where a tap's pixels are contiguous (conv._add_taps), and
# interleaves the phases once at the end: the same sums in the same order as col2im.
rgb = rng.standard_normal((2, 3, 9, 9)).astype("float32")
w_rgb = rng.standard_normal((4, 3, 3, 3)).astype("float32")
one_copy_rgb = im2col(rgb.transpose(0, 2, 3, 1), (3, 3), (1, 1), (1, 1))[0] @ w_rgb.transpose(0, 2, 3, 1).reshape(4, -1).T
library_rgb = F.conv2d(Tensor(rgb), Tensor(w_rgb), padding=1).numpy().transpose(0, 2, 3, 1).reshape(-1, 4)
assert numpy.allclose(library_rgb, one_copy_rgb, rtol=1e-4, atol=1e-5)
print("   on an RGB input F.conv2d gathers from the image's planes, with the one-copy im2col's numbers: yes")

print("""
What to remember:
  * A convolution is a matrix product: im2col turns every kh x kw x C window into a row,
    the kernels into rows of a weight matrix, and (N*Ho*Wo, kh*kw*C) @ (kh*kw*C, O) gives
    all outputs at once. The price is memory: each input pixel is copied kh*kw times.
  * The backward is two more products, dW = g_rows.T @ cols and d cols = g_rows @ W_rows,
    and col2im, the transpose of im2col, which adds every row back onto its window.
    conv_transpose2d is that input gradient run as a forward pass.
  * Memory order decides the cost of the gather: channels-last makes each window row a few
    contiguous runs (a 1x1 conv needs no copy at all) and the product's output is already
    the next layer's channels-last input.
  * F.conv2d is this idea made fast, with the same numbers: columns gathered block by block in
    the cache (from the planes for images), Winograd for wide 3x3 layers, and at stride 1 the input
    gradient as a convolution with the flipped kernel instead of col2im (with a stride, col2im's
    sums onto the stride's phases).""")
