"""Fast 3x3 convolution (stride 1) by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016).

im2col (conv.py) computes every output pixel from its 3x3 window: 9 multiplications per input
channel. Winograd's algorithm computes a 2x2 tile of output from the 4x4 tile of input around it
with 16, after transforming both (``*`` is the element-wise product, d a 4x4 input tile, w a 3x3
kernel):

    Y = A^T [ (G w G^T) * (B^T d B) ] A

Summed over the input channels, the 16 element-wise products become 16 matrix products, one per
position of the transformed tile: (tiles x C) @ (C x O). That is 4 multiplications per output
pixel and channel pair instead of 9 (2.25x fewer). The transforms are additions and subtractions
(B and A hold only 0 and +-1), done as a few strided array operations over whole tiles of a block
of images; blocks of images run on tinyrrn's threads (tinyrrn.threads), each block's
intermediates small enough to stay in the cache.

Arrays are channels-last: inputs (N, H, W, C), outputs (N, Ho, Wo, O); weights keep PyTorch's
(O, C, 3, 3). The results equal im2col's up to rounding (float32: about 1e-6 relative). The
input gradient of a stride-1 convolution is a convolution of the output gradient with the kernel
flipped and its channels swapped, so it is :func:`conv3x3` again. The weight gradient is not
computed here: conv.py's column blocks are faster for it at every size of ResNet-50 on 2 threads
(28x28 with 128 channels: 9 against 13 ms) and as fast on one.
"""
from .. import backend, threads

TILE = 2                       # output tile side m of F(m x m, 3 x 3)
SPAN = TILE + 2                # input tile side: m + kernel - 1
B_T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]     # input transform (4 x 4)
G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]         # kernel transform (4 x 3)
A_T = [[1, 1, 1, 0], [0, 1, -1, -1]]                                  # output transform (2 x 4)
BLOCK_ELEMENTS = 1 << 17       # input values per block of images: its transformed tiles (4x) fit in a 2 MB cache


def covers(kernel, stride, pads, dilation=(1, 1), groups=1):
    """True for the convolutions this module computes: 3x3, stride 1, the same padding (0-2) on every
    side (``pads`` = ((top, bottom), (left, right))), no dilation or groups."""
    sides = {p for side in pads for p in side}
    return (tuple(kernel) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1
            and len(sides) == 1 and 0 <= sides.pop() <= 2)


def _tiling(h, w, padding):
    """Output size (Ho, Wo) and the number of tiles (th, tw) covering it (the last may overhang)."""
    ho, wo = h + 2 * padding - 2, w + 2 * padding - 2
    return (ho, wo), (-(-ho // TILE), -(-wo // TILE))


def _combine(matrix, inputs, outputs):
    """outputs[p] = sum_i matrix[p][i] * inputs[i] for arrays, in place, skipping zero coefficients.

    The transforms' coefficients are 0, +-1 (and 0.5 in G, used elsewhere): a +-1 pair is
    one add or subtract, each further +-1 term one more, any other coefficient a multiply.
    """
    xp = backend.xp_of(outputs[0])
    for out, row in zip(outputs, matrix):
        terms = [(c, x) for c, x in zip(row, inputs) if c != 0]
        (c0, x0), rest = terms[0], terms[1:]
        if rest and rest[0][0] == 1:        # x1 + c0 x0 as one operation
            (_, x1), rest = rest[0], rest[1:]
            (xp.add if c0 == 1 else xp.subtract)(x1, x0, out=out)
        elif rest and c0 == 1 and rest[0][0] == -1:
            (_, x1), rest = rest[0], rest[1:]
            xp.subtract(x0, x1, out=out)
        else:
            xp.multiply(x0, c0, out=out)
        for c, x in rest:
            if c == 1:
                out += x
            elif c == -1:
                out -= x
            else:
                out += c * x


def _transform_inputs(x, padding, tiles, out):
    """The transformed input tiles B^T d B of images x (n, H, W, C) into out (16, n, th, tw, C)."""
    xp = backend.xp_of(x)
    n, h, w, c = x.shape
    th, tw = tiles
    padded = xp.zeros((n, th * TILE + 2, tw * TILE + 2, c), dtype=x.dtype)
    padded[:, padding:padding + h, padding:padding + w] = x
    rows = xp.empty((SPAN, n, th, padded.shape[2], c), dtype=x.dtype)  # B^T applied along H
    _combine(B_T, [padded[:, i:i + TILE * (th - 1) + 1:TILE] for i in range(SPAN)], rows)
    out = out.reshape(SPAN, SPAN, n, th, tw, c)
    for i in range(SPAN):  # ... then along W
        _combine(B_T, [rows[i][:, :, j:j + TILE * (tw - 1) + 1:TILE] for j in range(SPAN)], out[i])


def _transform_outputs(products, y):
    """Output tiles A^T M A of the products (16, n, th, tw, O), cut to y's size (n, Ho, Wo, O)."""
    xp = backend.xp_of(y)
    _, n, th, tw, o = products.shape
    products = products.reshape(SPAN, SPAN, n, th, tw, o)
    half = xp.empty((TILE, SPAN, n, th, tw, o), dtype=y.dtype)  # A^T applied along the first axis
    _combine(A_T, list(products), half)
    ho, wo = y.shape[1:3]
    for p in range(TILE):  # ... then along the second, straight into every TILE-th pixel of y
        rows = len(range(p, ho, TILE))
        for q in range(TILE):
            cols = len(range(q, wo, TILE))
            _combine([A_T[q]], [half[p, j][:, :rows, :cols] for j in range(SPAN)], [y[:, p::TILE, q::TILE]])


def _g_kron_g(xp, dtype):
    """G (x) G, (16, 9): the weight transform G w G^T of a flattened 3x3 kernel as one matrix."""
    g = xp.asarray(G, dtype=dtype)
    return (g[:, None, :, None] * g[None, :, None, :]).reshape(SPAN * SPAN, 9)


def transform_weight(weight):
    """G w G^T of every (O, C, 3, 3) kernel, as (16, C, O): one matrix product with G (x) G."""
    o, c = weight.shape[:2]
    taps = weight.transpose(2, 3, 1, 0).reshape(9, c * o)                          # (9, C*O)
    return threads.matmul(_g_kron_g(backend.xp_of(weight), weight.dtype), taps).reshape(SPAN * SPAN, c, o)


def conv3x3(x, weight, padding=1):
    """3x3 cross-correlation, stride 1, of x (N, H, W, C) with weight (O, C, 3, 3) -> (N, Ho, Wo, O).

    Blocks of images run on tinyrrn's threads: each transforms its input tiles, multiplies
    them with the transformed kernels (16 products) and transforms the result back.
    """
    xp = backend.xp_of(x)
    n, h, w, _ = x.shape
    (ho, wo), tiles = _tiling(h, w, padding)
    kernels = transform_weight(weight)
    y = xp.empty((n, ho, wo, weight.shape[0]), dtype=x.dtype)

    def block(x, y):
        v = xp.empty((SPAN * SPAN, x.shape[0]) + tiles + (x.shape[3],), dtype=x.dtype)
        _transform_inputs(x, padding, tiles, v)
        products = xp.matmul(v.reshape(SPAN * SPAN, -1, x.shape[3]), kernels)
        _transform_outputs(products.reshape(v.shape[:-1] + kernels.shape[2:]), y)  # not -1: there may be 0 images

    threads.split_rows(block, x, y, min_block=BLOCK_ELEMENTS)
    return y


def conv3x3_input_grad(g, weight, padding=1):
    """Gradient of :func:`conv3x3` with respect to its input, from g (N, Ho, Wo, O): (N, H, W, C).

    For stride 1 it is the convolution of g with the kernel turned by 180 degrees and its
    channels swapped, padded by 2 - padding (which maps Ho back onto H).
    """
    return conv3x3(g, weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), 2 - padding)
