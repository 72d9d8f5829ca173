"""Sums of products over named indices: einsum (of one or two operands) and tensordot, which is an einsum; the
gradient of an operand is the einsum of g with the other operand."""
import string

from .. import backend
from ..tensor import make_result
from ._util import ArgumentError, check_tensors, integer, refuse_out


def _subscripts(equation, operands):
    """The subscripts of each operand and of the output of ``equation`` ('ij,jk->ik'; without '->', the output is
    the letters used once, sorted, as PyTorch's), '...' spelled out in unused letters. tinyrrn refuses an index
    repeated in one operand (a diagonal) and '...' standing for dims of different sizes (broadcast), which PyTorch
    takes."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): argument 'equation' must be str, not {type(equation).__name__} (as PyTorch)")
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(operands):
        raise ArgumentError(f"einsum(): more operands were provided than specified in the equation, or fewer "
                            f"({len(operands)} operands for {equation!r}; as PyTorch)")
    if any(c not in string.ascii_letters for c in "".join(inputs + [output]).replace("...", "")):
        raise ArgumentError(f"einsum(): invalid subscript in {equation!r}: subscripts are letters [a-zA-Z] or one '...' "
                            "per operand (as PyTorch)")
    unused = [c for c in string.ascii_letters if c not in equation]
    widths = [t.ndim - len(s) + 3 for s, t in zip(inputs, operands) if "..." in s]
    pool = "".join(unused[:max(widths, default=0)])
    inputs = [s.replace("...", pool[len(pool) - (t.ndim - len(s) + 3):]) for s, t in zip(inputs, operands)]
    for i, (t, s) in enumerate(zip(operands, inputs)):
        if t.ndim != len(s):
            raise ArgumentError(f"einsum(): the number of subscripts in the equation ({len(s)}) does not match the "
                                f"number of dimensions ({t.ndim}) for operand {i} (as PyTorch)")
    sizes = {}
    for t, s in zip(operands, inputs):
        for c, n in zip(s, t.shape):
            sizes.setdefault(c, set()).add(n)
    if any(len(set(s)) != len(s) for s in inputs) or any(len(sizes[c]) > 1 for c in pool):
        raise NotImplementedError(f"einsum: {equation!r}: an index repeated within an operand, and '...' over dims of "
                                  "different sizes (broadcast), are not implemented by tinyrrn")
    if arrow:
        return inputs, output.replace("...", pool)
    letters = "".join(inputs)
    return inputs, pool + "".join(sorted(c for c in set(letters) - set(pool) if letters.count(c) == 1))


def einsum(equation, *operands):
    """torch.einsum of one or two tensors of one dtype (also given as one list; _subscripts); more operands are refused
    (NotImplementedError). The gradient of each operand: the einsum of g with the other, summed over the indices the
    output does not keep, broadcast over an operand's indices found nowhere else."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not 1 <= len(operands) <= 2:
        raise NotImplementedError(f"einsum of {len(operands)} operands is not implemented by tinyrrn (one or two)")
    check_tensors("einsum", *operands, names=("operand 0", "operand 1"))
    if len(operands) == 2 and operands[0].dtype != operands[1].dtype:
        raise ArgumentError(f"einsum(): expected scalar type {operands[0].dtype} but found {operands[1].dtype} (as "
                            "PyTorch)")
    inputs, output = _subscripts(equation, operands)
    arrays = [t.data for t in operands]
    xp = backend.xp_of(arrays[0])
    result = xp.einsum(f"{','.join(inputs)}->{output}", *arrays)

    def gradient(i, g):
        others = [s for j, s in enumerate(inputs) if j != i]
        kept = "".join(c for c in inputs[i] if c in output or any(c in s for s in others))
        grad = xp.einsum(f"{','.join([output] + others)}->{kept}", g, *(a for j, a in enumerate(arrays) if j != i))
        shape = operands[i].shape
        grad = grad.reshape(tuple(n if c in kept else 1 for c, n in zip(inputs[i], shape)))
        return grad if grad.shape == shape else xp.broadcast_to(grad, shape).copy()

    def backward(g):
        return tuple(gradient(i, g) if t.requires_grad else None for i, t in enumerate(operands))

    return make_result(result, operands, backward, "einsum")


def tensordot(a, b, dims=2, out=None):
    """torch.tensordot: the sum of products over the last ``dims`` dims of a and the first ``dims`` of b (an int),
    or over the dims of a and b that ``dims`` pairs (two lists), as an einsum."""
    if out is not None:
        refuse_out("tensordot")
    check_tensors("tensordot", a, b, names=("a", "b"))
    if isinstance(dims, (list, tuple)):
        if len(dims) != 2:
            raise ArgumentError(f"tensordot expects dims to be a pair of lists, got {dims!r} (as PyTorch)")
        dims_a, dims_b = ([integer("tensordot", "dims", d) for d in (ds if isinstance(ds, (list, tuple)) else [ds])]
                          for ds in dims)
    else:
        n = integer("tensordot", "dims", dims)
        if n < 0:
            raise ArgumentError(f"tensordot expects dims >= 0, but got dims={n} (as PyTorch)")
        dims_a, dims_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    if len(dims_a) != len(dims_b):
        raise ArgumentError("both dimension lists should have same length (as PyTorch's tensordot)")
    dims_a, dims_b = [d % max(a.ndim, 1) for d in dims_a], [d % max(b.ndim, 1) for d in dims_b]
    letters = iter(string.ascii_letters)
    sub_a = [next(letters) for _ in range(a.ndim)]
    sub_b = [next(letters) for _ in range(b.ndim)]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise ArgumentError(f"contracted dimensions need to match, but first has size {a.shape[da]} in dim {da} "
                                f"and second has size {b.shape[db]} in dim {db} (as PyTorch's tensordot)")
        sub_b[db] = sub_a[da]
    output = [c for i, c in enumerate(sub_a) if i not in dims_a] + [c for i, c in enumerate(sub_b) if i not in dims_b]
    return einsum(f"{''.join(sub_a)},{''.join(sub_b)}->{''.join(output)}", a, b)
