"""Lesson 01: reverse-mode automatic differentiation, by hand and by the engine.

Run:  python lessons/01_autograd.py

A network is a chain of small functions. To train it we need the gradient
of the loss with respect to every weight. Reverse-mode autodiff gets all of
them in one backward sweep: each op, when it runs forward, remembers its
inputs and a rule that turns the gradient of its output into gradients of
its inputs (the chain rule, one op at a time). `Tensor.backward()` visits the
ops in reverse order and applies those rules, then frees the graph.

We take one neuron,  y = tanh(w * x + b),  and the loss  L = (y - target)^2.
"""
import inspect
import textwrap

import numpy

import tinyrrn
from tinyrrn import Tensor
from tinyrrn.cli import ArgumentParser, parse_script_args

parse_script_args(ArgumentParser(description=__doc__.split("\n")[0]))  # --help; no flags

print(__doc__)

x, target = 0.5, 0.8
w = Tensor(numpy.array(1.5), requires_grad=True)
b = Tensor(numpy.array(-0.3), requires_grad=True)

# --- forward: every op records itself in a graph --------------------------
z = w * x + b
y = z.tanh()
loss = (y - target) ** 2
print(f"forward:  z = {z.item():.6f}   y = tanh(z) = {y.item():.6f}   L = {loss.item():.6f}")


def show_graph(node, depth=0):
    """Print the recorded graph from the loss down to the leaves."""
    label = node.op or ("leaf (requires grad)" if node.requires_grad else "constant")
    print("  " * depth + f"- {label}  shape={node.shape}")
    for parent in node.parents:
        show_graph(parent, depth + 1)


print("\nthe graph the engine recorded (loss at the top):")
show_graph(loss)

# --- backward by hand: the chain rule, written out ------------------------
dL_dy = 2 * (y.item() - target)        # d/dy (y - t)^2
dy_dz = 1 - y.item() ** 2              # d/dz tanh(z)
dL_dw = dL_dy * dy_dz * x              # dz/dw = x
dL_db = dL_dy * dy_dz * 1.0            # dz/db = 1
print(f"\nby hand:    dL/dw = {dL_dw:.8f}   dL/db = {dL_db:.8f}")

# --- backward by the engine -------------------------------------------------
loss.backward()
print(f"by engine:  dL/dw = {w.grad.item():.8f}   dL/db = {b.grad.item():.8f}")
assert abs(w.grad.item() - dL_dw) < 1e-12 and abs(b.grad.item() - dL_db) < 1e-12
# w.grad is a Tensor, as in PyTorch: a leaf of its own that requires no gradient (no graph records the
# optimiser's arithmetic on it), of w's shape and dtype
assert type(w.grad) is Tensor and not w.grad.requires_grad and w.grad.shape == w.shape

# --- a numerical check: nudge each weight and watch the loss ----------------
eps = 1e-6


def loss_at(w_value, b_value):
    return (numpy.tanh(w_value * x + b_value) - target) ** 2


numeric_w = (loss_at(1.5 + eps, -0.3) - loss_at(1.5 - eps, -0.3)) / (2 * eps)
numeric_b = (loss_at(1.5, -0.3 + eps) - loss_at(1.5, -0.3 - eps)) / (2 * eps)
print(f"numerical:  dL/dw = {numeric_w:.8f}   dL/db = {numeric_b:.8f}   (central differences)")
assert abs(numeric_w - dL_dw) < 1e-8 and abs(numeric_b - dL_db) < 1e-8

# tinyrrn.gradcheck does the same for any function, entry by entry of the Jacobian (each output
# element's gradient against each input element's central difference): every element of an input of
# up to 256 elements (as W and v here), larger inputs along 8 random directions (max_elements,
# directions); outputs of more than 4096 elements through 8 random weightings (max_outputs, projections).
rng = numpy.random.default_rng(0)
W = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
v = Tensor(rng.standard_normal((5, 4)), requires_grad=True)
def f(W, v):
    return (v @ W.transpose(0, 1)).tanh().sum()


tinyrrn.gradcheck(f, [W, v])
assert max(W.numel(), v.numel()) <= 256  # so every element is perturbed (numel(): the element count, as torch's)
assert f(W, v).numel() == 1               # one output element: one row of the Jacobian
caps = inspect.signature(tinyrrn.gradcheck).parameters  # the caps named below are gradcheck's defaults
assert [caps[name].default for name in ("max_elements", "directions", "max_outputs", "projections")] == [256, 8, 4096, 8]
print("\ngradcheck of tanh(v @ W^T).sum() over every element of W and v: passed\n"
      f"(its output, a sum, is one element: one Jacobian row, compared entry by entry with the central\n"
      f"differences of each of the {W.numel()} + {v.numel()} input elements; inputs of more than 256 elements "
      "would be moved\nalong 8 random directions instead, outputs of more than 4096 elements seen through "
      "8 random weightings)")

# --- a graph is used once -------------------------------------------------------
# backward() frees what each op kept for its rule (its inputs, intermediate arrays), so that
# memory returns as soon as the gradients are known. A second backward() through the same graph
# has nothing left to replay: the engine refuses it, before touching any gradient.
try:
    loss.backward()                                        # the loss above, whose backward() already ran
except RuntimeError as error:
    refusal = str(error)
else:
    refusal = None
assert refusal is not None and "retain_graph=True" in refusal
assert abs(w.grad.item() - dL_dw) < 1e-12 and abs(b.grad.item() - dL_db) < 1e-12  # left as they were
print("\na second loss.backward() is refused (RuntimeError), the gradients left as they were:\n"
      + textwrap.fill(refusal, 100, initial_indent="  ", subsequent_indent="  "))
w.grad = b.grad = None
loss = ((w * x + b).tanh() - target) ** 2                  # the forward pass again: a new graph
loss.backward(retain_graph=True)                           # keep the graph for another pass
first = w.grad
loss.backward()
print(f"with backward(retain_graph=True) first, a second backward() runs; gradients ADD UP in .grad\n"
      f"(in place: the same Tensor as after the first):\n"
      f"  dL/dw = {w.grad.item():.8f} = 2 x {dL_dw:.8f}")
assert w.grad is first and abs(w.grad.item() - 2 * dL_dw) < 1e-12 and abs(b.grad.item() - 2 * dL_db) < 1e-12

print("\nWhat to remember: forward records, backward replays the chain rule in reverse, once per\n"
      "graph (retain_graph=True to replay it), adding into .grad; a numerical check keeps every rule honest.")
