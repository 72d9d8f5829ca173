"""Numerical gradient checking by float64 central differences."""
import numpy

from . import backend
from .functional._util import only_torch_defaults
from .grad_mode import no_grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree (a RuntimeError, as PyTorch's)."""


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None, max_elements=256, directions=8, max_outputs=4096, projections=8, seed=0):
    """Check the gradients of ``func(*inputs)`` (``inputs`` a tuple or list, or one Tensor) against central
    differences, entry by entry of the Jacobian, with PyTorch's default tolerances; return True or raise.

    As PyTorch's gradcheck, every entry J[j, k] = d output[j] / d input[k] is checked on its own:
    the analytic row j is the backward of the one-hot gradient at output element j, the numeric
    column k is (f(x + eps e_k) - f(x - eps e_k)) / 2 eps, and each pair must satisfy
    |analytic - numeric| <= atol + rtol |numeric|. Checking every entry costs one backward per output
    element and two forward passes per input element, so beyond two caps the check projects: an
    output of more than ``max_outputs`` elements is seen through ``projections`` random output
    weightings (rows u J instead of one-hot rows), and an input of more than ``max_elements`` elements
    is moved along ``directions`` random directions v (columns J v, as Chainer's check_backward). A
    projected entry u J v sums many Jacobian entries, so a wrong entry can hide behind the sum: keep
    the inputs and outputs of an op under test within the caps for a full check.

    Inputs must be float64 tensors; those with ``requires_grad`` are checked, through leaf copies of
    their values (a computed tensor is checked as PyTorch checks it; the inputs' own .grad is left as
    it was). On failure the error names the input, the worst entry (output and input element, or
    projection and direction), and the analytic and numeric values; with ``raise_exception=False``
    False is returned instead, as PyTorch.

    Of PyTorch's other options, ``nondet_tol``, ``check_undefined_grad``, ``check_grad_dtypes`` and
    ``fast_mode`` are taken at any value (tinyrrn's backward is deterministic, has no undefined gradient
    and gives each input its dtype; this check projects only beyond the caps above); the forward-mode,
    batched and masked checks tinyrrn does not have are refused unless off.
    """
    only_torch_defaults("gradcheck", check_batched_grad=(check_batched_grad, False), masked=(masked or None, None),
                        check_batched_forward_grad=(check_batched_forward_grad, False),
                        check_forward_ad=(check_forward_ad, False), check_backward_ad=(check_backward_ad, True))
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)  # one tensor: func(x), as PyTorch
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != numpy.float64:
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; use float64 for a meaningful check")
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        inputs[i] = Tensor(inputs[i].data.copy(), requires_grad=True)
    rng = numpy.random.default_rng(seed)
    output = func(*inputs)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: func must return one Tensor, got {type(output).__name__}; join several "
                        "outputs with tinyrrn.functional.concatenate of their reshape(-1)")
    xp = backend.xp_of(output.data)
    rows, row_names = _probes(output.shape, max_outputs, projections, "output", rng)
    analytic = _analytic_rows(output, [inputs[i] for i in checked], rows, xp)
    for i, jacobian_rows in zip(checked, analytic):
        t = inputs[i]
        columns, column_names = _probes(t.shape, max_elements, directions, "input", rng)
        original = t.data.copy()
        try:
            worst = None
            for k in range(len(columns)):
                direction = columns[k]
                step = xp.asarray(direction.reshape(t.shape) * eps)
                t.data = original + step
                plus = _flat_output(func, inputs)
                t.data = original - step
                minus = _flat_output(func, inputs)
                numeric = rows.project((plus - minus) / (2 * eps))  # the rows seen by this column
                expected = jacobian_rows @ direction
                errors = numpy.abs(expected - numeric) - (atol + rtol * numpy.abs(numeric))
                errors[numpy.isnan(errors)] = numpy.inf  # a NaN never passes
                if not errors.size:  # an empty output: nothing to compare, as PyTorch's
                    break
                j = int(numpy.argmax(errors))
                if worst is None or errors[j] > worst[0]:
                    worst = (errors[j], f"{row_names(j)}, {column_names(k)}", expected[j], numeric[j])
        finally:
            t.data = original
        if worst is not None and worst[0] > 0:  # (None: an empty input or output)
            if not raise_exception:
                return False
            _, where, expected, numeric = worst
            raise GradcheckError(f"gradcheck: input {i} (shape {tuple(t.shape)}), {where}: "
                                 f"analytic {expected:.8g} vs numeric {numeric:.8g} "
                                 f"(atol {atol}, rtol {rtol})")
    return True


class _OneHot:
    """The rows of the identity matrix of ``size``, made one at a time (a 4096-element output's identity
    would take 128 MB)."""

    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, k):
        row = numpy.zeros(self.size)
        row[k] = 1.0
        return row

    def project(self, vector):
        return vector


class _Random:
    """``count`` random rows of ``size`` elements."""

    def __init__(self, count, size, rng):
        self.matrix = rng.standard_normal((count, size))

    def __len__(self):
        return len(self.matrix)

    def __getitem__(self, k):
        return self.matrix[k]

    def project(self, vector):
        return self.matrix @ vector


def _probes(shape, cap, count, side, rng):
    """The directions that probe one side of the Jacobian (rows k, and ``project``: every row's dot product
    with a vector) and a function naming row k: every one-hot direction when ``shape`` has at most ``cap``
    elements, else ``count`` random ones."""
    size = int(numpy.prod(shape, dtype=numpy.int64))
    if size <= cap:
        return _OneHot(size), lambda k: f"{side} element {tuple(int(i) for i in numpy.unravel_index(k, shape))}"
    random_kind = "output projection" if side == "output" else "input direction"
    return _Random(count, size, rng), lambda k: f"random {random_kind} {k}"


def _analytic_rows(output, leaves, rows, xp):
    """For each leaf, the matrix whose row r is the gradient of sum(rows[r] * output) (one backward each)."""
    jacobians = [numpy.zeros((len(rows), leaf.numel())) for leaf in leaves]
    if not output.requires_grad:  # func's output does not depend on the inputs: every gradient is 0
        return jacobians
    for r in range(len(rows)):
        row = rows[r]
        for leaf in leaves:
            leaf.grad = None
        output.backward(xp.asarray(row.reshape(output.shape)), retain_graph=True)
        for leaf, jacobian in zip(leaves, jacobians):
            if leaf.grad is not None:
                jacobian[r] = backend.to_numpy(leaf.grad.data).reshape(-1)
    return jacobians


def _flat_output(fn, inputs):
    with no_grad():
        return backend.to_numpy(fn(*inputs).data).astype(numpy.float64).reshape(-1)
