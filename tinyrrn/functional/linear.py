"""Matrix products: matmul (batched, broadcasting) and the fully connected layer."""
from .. import backend
from ..tensor import make_result
from ._util import check_float, unbroadcast


def matmul(a, b):
    """a @ b for tensors of 2 or more dims; leading (batch) dims broadcast as in NumPy."""
    check_float("matmul", a, b)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit "
                         "(need >= 2 dims and a.shape[-1] == b.shape[-2])")
    xp = backend.xp_of(a.data)

    def backward(g):
        ga = xp.matmul(g, xp.swapaxes(b.data, -1, -2))
        gb = xp.matmul(xp.swapaxes(a.data, -1, -2), g)
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)

    return make_result(xp.matmul(a.data, b.data), (a, b), backward, "matmul")


def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight shaped (out_features, in_features) as in PyTorch."""
    check_float("linear", x, weight)
    if weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input {tuple(x.shape)} does not fit weight {tuple(weight.shape)} "
                         "(need input.shape[-1] == weight.shape[1])")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias {tuple(bias.shape)} does not fit weight {tuple(weight.shape)}")
    x2 = x.data.reshape(-1, x.shape[-1])
    out = x2 @ weight.data.T
    if bias is not None:
        out += bias.data

    def backward(g):
        g2 = g.reshape(-1, weight.shape[0])
        gx = (g2 @ weight.data).reshape(x.shape)
        gw = g2.T @ x2
        return (gx, gw) + ((g2.sum(axis=0),) if bias is not None else ())

    parents = (x, weight) + ((bias,) if bias is not None else ())
    return make_result(out.reshape(x.shape[:-1] + (weight.shape[0],)), parents, backward, "linear")
