"""Lesson 02: the residual unit (Eq. 1) and why its identity shortcut keeps gradients alive.

Run:  python lessons/02_residual_block.py

A plain deep network computes  x_{l+1} = sigma(x_l * W_l).  A residual
network adds the input back (He et al., 2016; the paper's Eq. 1):

    y = sigma(x * W) + x

The backward pass through a plain layer multiplies the gradient by the
layer's Jacobian; through many layers those factors shrink (or blow up)
exponentially. Through a residual unit the gradient is  dL/dx = dL/dy *
(I + d sigma(x*W)/dx):  the identity term I gives every layer a path with
factor 1, so the product over the stack is far less likely to collapse to
zero (not impossible: a factor I + J can still be singular). It is not
a guarantee of "unchanged", though: the branch term is added on top, and
without normalisation the sum grows with depth (our table shows the input
gradient growing about 10^5-fold over 40 layers). ResNet's batch-norm inside
each branch keeps that growth small. We measure all three: the gradient that
reaches the input image through stacks of 3x3 convolutions, plain, residual,
and residual with batch-norm in the branch.
"""
import numpy

from tinyrrn import Tensor
from tinyrrn import functional as F
from tinyrrn.cli import ArgumentParser, parse_script_args

parse_script_args(ArgumentParser(description=__doc__.split("\n")[0]))  # --help; no flags

print(__doc__)
rng = numpy.random.default_rng(0)
channels, size = 8, 8
image = rng.standard_normal((2, channels, size, size)).astype("float32")
direction = rng.standard_normal((2, channels, size, size)).astype("float32")
depth_max = 40
# weights with variance 1/fan_in: each ReLU layer then halves the signal's energy
weights = [(rng.standard_normal((channels, channels, 3, 3)) / numpy.sqrt(9 * channels)).astype("float32")
           for _ in range(depth_max)]
ones, zeros = numpy.ones(channels, "float32"), numpy.zeros(channels, "float32")


def input_gradient_norm(depth, kind):
    """|dL/dx| at the input image after `depth` layers; L is linear in the output."""
    x = Tensor(image, requires_grad=True)
    h = x
    for W in weights[:depth]:
        z = F.conv2d(h, Tensor(W), padding=1)
        if kind == "plain":
            h = F.relu(z)                                   # x_{l+1} = sigma(x_l * W)
        elif kind == "residual":
            h = F.relu(z) + h                               # Eq. 1: y = sigma(x * W) + x
        else:  # as in ResNet: batch-norm inside the branch keeps the sum in range
            h = F.relu(F.batch_norm(z, zeros.copy(), ones.copy(), training=True)) + h
    (h * Tensor(direction)).mean().backward()
    return float(numpy.linalg.norm(x.grad))


kinds = ("plain", "residual", "residual+BN")
print(f"{'depth':>5}" + "".join(f"{k + ' |dL/dx|':>22}" for k in kinds))
results = {}
for depth in (1, 5, 10, 20, 40):
    results[depth] = {k: input_gradient_norm(depth, k) for k in kinds}
    print(f"{depth:>5}" + "".join(f"{results[depth][k]:>22.3e}" for k in kinds))

change = {k: results[40][k] / results[1][k] for k in kinds}
print("\nfrom depth 1 to 40 the gradient at the input changes by " +
      ", ".join(f"x{change[k]:.1e} ({k})" for k in kinds))
assert change["plain"] < 1e-4, "the plain stack's gradient should vanish"
assert change["residual"] > 1 and change["residual+BN"] > 1, "a residual stack's gradient must not vanish"
assert 1e4 < change["residual"] < 1e6, "without normalisation it grows about 10^5-fold"
assert change["residual+BN"] < 10, "batch-norm in the branch keeps the growth small"
print("\nWhat to remember: the shortcut adds an identity path to every layer's Jacobian,\n"
      "dL/dx = dL/dy (I + d sigma(x*W)/dx), so the gradient reaching early layers is far less likely\n"
      "to vanish (a factor I + J can still be singular, but no longer merely by being small).\n"
      "It does not stay unchanged: without normalisation the sum grows with depth; ResNet's\n"
      "batch-norm in each branch keeps it in range. The paper's temporal skip (lesson 03) adds\n"
      "the same kind of path across time.")
