"""torch.nn.functional's vector similarities: normalize, cosine_similarity and pairwise_distance, composed of
differentiable ops as PyTorch composes them (so with its gradients, at a zero vector too)."""
from ._util import DtypeError, broadcast_shape, check_tensors, number, refuse_out
from .dtypes import result_type
from .elementwise import add, astype, clamp_min, div, mul, sub
from .reduction import norm, sum
from .shape import expand


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(||x||_p, eps) along ``dim`` (torch.nn.functional.normalize); where the norm is below eps, the
    gradient through it is 0, as PyTorch's clamp_min."""
    if out is not None:
        refuse_out("normalize")
    check_tensors("normalize", input)
    return div(input, clamp_min(norm(input, number(p), dim, keepdim=True), number(eps)))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along ``dim`` of the broadcast inputs
    (torch.nn.functional.cosine_similarity), in their promoted dtype, a floating-point one. As PyTorch, the norms are clamped outside
    the graph: the gradient runs through the unclamped norm."""
    check_tensors("cosine_similarity", x1, x2, names=("x1", "x2"))
    dtype = result_type(x1, x2)
    if dtype.kind != "f":
        raise DtypeError(f"cosine_similarity: expected common dtype to be floating point, yet common dtype is {dtype} "
                         "(as PyTorch)")
    shape = broadcast_shape("cosine_similarity", tuple(x1.shape), tuple(x2.shape))
    x1, x2 = (expand(x if x.dtype == dtype else astype(x, dtype), shape) for x in (x1, x2))
    eps = number(eps)

    def scaled(x):
        size = norm(x, 2, dim, keepdim=True)
        return div(x, add(size, sub(clamp_min(size, eps), size).detach()))

    return sum(mul(scaled(x1), scaled(x2)), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p along the last dim of the broadcast inputs (torch.nn.functional.pairwise_distance)."""
    check_tensors("pairwise_distance", x1, x2, names=("x1", "x2"))
    difference = add(sub(x1, x2), number(eps))
    return norm(difference, number(p), -1 if difference.ndim else None, keepdim=keepdim)
