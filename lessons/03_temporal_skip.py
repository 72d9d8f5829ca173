"""Lesson 03: temporal skip connections (Eq. 2-4) and temporal context (Fig. 3).

Run:  python lessons/03_temporal_skip.py [--out DIR]

The paper turns a ResNet into a recurrent network by letting a residual unit
at time t also see its own input from time t-1, x_{t-1}:

    Eq. 1  y_t = sigma(x_t * W) + x_t                          (plain ResNet unit)
    Eq. 2  y_t = sigma(x_t * W) + x_t + x_{t-1}                 (identity temporal skip)
    Eq. 3  y_t = sigma(x_t * W) + x_t + x_{t-1} * W_s           (linear: a 1x1 conv W_s)
    Eq. 4  y_t = sigma(x_t * W) + x_t + sigma(x_{t-1} * W_s)    (non-linear)

The weights W are shared by all time steps. One temporal skip lets the last
output see two frames; K skips let it see K+1 frames (Fig. 3). Everything
below runs a small random ResNet on random "videos" of 2 and 4 frames; no data needed.
"""
import os

import numpy

import tinyrrn
from tinyrrn import Tensor, no_grad
from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args
from tinyrrn.models import RecurrentResNet, resnet_small
from unrolled_figure import draw_unrolled  # lessons/unrolled_figure.py: Fig. 3 with matplotlib

parser = ArgumentParser(description="Temporal skip connections (Eq. 2-4) and temporal context (Fig. 3).")
parser.add_argument("--out", type=folder_to_write, default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the unrolled-graph picture (default: lessons/out)")
args = parse_script_args(parser)
print(__doc__)

rng = numpy.random.default_rng(0)
clip = rng.standard_normal((1, 2, 3, 16, 16)).astype("float32")  # B=1 clip of T=2 frames


def build(skip, positions=("block4",), context=2):
    tinyrrn.manual_seed(0)  # the same backbone weights for every variant
    backbone = resnet_small(num_classes=5, widths=(4, 8, 8, 16), blocks=(1, 1, 2, 2))
    return RecurrentResNet(backbone, skip, positions, context).eval()


def frame_gradients(model, frames):
    """|d(sum of logits)/d(frame t)| for every frame t of the clip."""
    x = Tensor(frames, requires_grad=True)
    logits = model(x)
    logits.sum().backward()
    return logits, [float(numpy.linalg.norm(x.grad[:, t])) for t in range(frames.shape[1])]


# --- Part 1: Eq. 1-4 side by side at block4 (the last residual unit) -----------
print("Part 1. One temporal skip at block4, T = 2 frames (x_{t-1} = frame 1, x_t = frame 2)\n")
base_params = build("none").num_parameters()
print(f"{'skip':<10} {'equation':<8} {'extra weights':>13} {'|dL/d frame t-1|':>17} {'|dL/d frame t|':>15}")
rows = {}
for skip, eq in (("none", "Eq. 1"), ("identity", "Eq. 2"), ("linear", "Eq. 3"), ("nonlinear", "Eq. 4")):
    model = build(skip)
    _, grads = frame_gradients(model, clip)
    extra = model.num_parameters() - base_params
    rows[skip] = (extra, grads)
    print(f"{skip:<10} {eq:<8} {extra:>13} {grads[0]:>17.4e} {grads[1]:>15.4e}")
print("(L is the sum of the logits; |dL/d frame| is the size of its gradient on that frame's pixels)")

assert rows["none"][1][0] == 0, "Eq. 1: the earlier frame cannot influence the output"
assert all(rows[s][1][0] > 0 for s in ("identity", "linear", "nonlinear")), "Eq. 2-4 pass gradient to x_{t-1}"
assert rows["identity"][0] == 0, "the identity skip adds no weights"
assert rows["linear"][0] == 16 * 16, "Eq. 3 adds one 1x1 conv W_s (16 -> 16 channels)"
assert rows["nonlinear"][0] == 16 * 16 + 2 * 16, "Eq. 4 adds W_s and a batch-norm (scale, shift)"
print("""
Eq. 1 gives the earlier frame no gradient at all: a plain ResNet sees one frame.
Eq. 2 adds x_{t-1} for free (no weights). Eq. 3 learns a 1x1 mixing W_s of the
earlier frame's channels; Eq. 4 passes it through batch-norm and a ReLU too.
The paper found the weight-free identity skip at block4 best on UCF-101 (Table 3).
""")

# --- Part 2: temporal context through gradients (Fig. 3) ---------------------
print("Part 2. Unrolling over a chunk of T = 4 frames: which frames reach the last output?\n")
chunk = rng.standard_normal((1, 4, 3, 16, 16)).astype("float32")
for skips in (0, 1, 2, 3):
    model = build("identity" if skips else "none", positions=None, context=skips + 1)
    _, grads = frame_gradients(model, chunk)
    reached = [t + 1 for t, g in enumerate(grads) if g > 0]
    print(f"{skips} temporal skip(s) at {list(model.positions) or '-'}: frames {reached} of 1..4 reach "
          f"the output; gradients " + " ".join(f"{g:.2e}" for g in grads))
    assert reached == list(range(4 - skips, 5)), "K skips give a temporal context of exactly K+1 frames"
print("""
With K temporal skips the last output depends on exactly the last K+1 frames:
a path from y_t down to x_{t-k} must cross k temporal skips, one step back
each. So a temporal context of T frames needs at least T-1 skips (Fig. 3).
""")
one_skip_grads = frame_gradients(build("identity", positions=None, context=2), chunk)[1]

# --- Why does frame 3 get more gradient than frame 4 (one skip, at block4)? ----
# Not because of its position. With the identity skip (Eq. 2) block4 computes at the
# last step  y = relu(s),  s = F(x_4) + x_4 + x_3  (x_t: block4's input at step t), so
# with g = dL/ds:
#     dL/dx_3 = g                   (the temporal skip hands on the gradient of the sum)
#     dL/dx_4 = g + J_F(x_4)^T g    (the spatial shortcut, plus the residual branch F)
# Below block4, each step runs the same layers on its own frame, and how much of the
# gradient reaches a frame's pixels depends on that picture (which ReLUs it opens).
# We measure the gradients at block4's input, then move the pictures around.
model = build("identity", positions=None, context=2)
backbone = model.backbone
assert model.positions == ("layer4.1",) and dict(backbone.units())["layer4.1"].downsample is None


def input_of_block4(frames):
    """block4's input x_t: the frames through the stem and every unit below block4."""
    with no_grad():
        x = backbone.stem(Tensor(frames))
        for name, unit in backbone.units():
            if name == "layer4.1":
                return x.numpy()
            x = unit(x)


x_3 = Tensor(input_of_block4(chunk[:, 2]), requires_grad=True)
x_4 = Tensor(input_of_block4(chunk[:, 3]), requires_grad=True)
logits = backbone.head(backbone.layer4[1](x_4, extra=x_3))  # the last step of the model, by hand
assert numpy.allclose(logits.detach().numpy(), model(Tensor(chunk)).detach().numpy(), rtol=1e-5, atol=1e-6)
logits.sum().backward()
at_block4 = float(numpy.linalg.norm(x_3.grad)), float(numpy.linalg.norm(x_4.grad))
swapped = frame_gradients(model, chunk[:, [0, 1, 3, 2]].copy())[1]   # frames 3 and 4 change places
still = frame_gradients(model, chunk[:, [0, 1, 3, 3]].copy())[1]     # frame 4's picture at both steps
print("Why does frame 3 get more gradient than frame 4 with one skip (at block4)?")
print(f"  at block4's input: |dL/dx_3| = |g| = {at_block4[0]:.3f}, |dL/dx_4| = |g + J_F^T g| = {at_block4[1]:.3f}"
      f" (ratio {at_block4[0] / at_block4[1]:.2f})")
print(f"  at the pixels:     |dL/d frame 3| = {one_skip_grads[2]:.3f}, |dL/d frame 4| = {one_skip_grads[3]:.3f}"
      f" (ratio {one_skip_grads[2] / one_skip_grads[3]:.2f})")
print(f"  frames 3 and 4 swapped:         step 3 gets {swapped[2]:.3f}, step 4 gets {swapped[3]:.3f}"
      " -- the larger gradient moves with the picture")
print(f"  frame 4's picture at both steps: step 3 gets {still[2]:.3f}, step 4 gets {still[3]:.3f}"
      " -- nearly equal; the rest is the branch term J_F^T g")
assert 0.8 < at_block4[0] / at_block4[1] < 1.25, "at block4 the two steps' gradients are of similar size"
assert one_skip_grads[2] > 1.5 * one_skip_grads[3] and swapped[3] > 1.5 * swapped[2]
assert abs(still[2] - still[3]) < 0.1 * still[3]
print("""  So the gap is made below block4, by the pictures: the same shared layers pass more or less
  gradient depending on the frame they process. The position (t-1 or t) only decides whether
  the residual branch's share J_F^T g joins, a small term in this untrained network.
""")

# --- Part 3: a picture of the unrolled graph (Fig. 3) -------------------------
model = build("identity", positions=("layer4.0", "layer4.1"), context=3)
levels = ["frame", "stem"] + [name for name, _ in model.backbone.units()] + ["fc"]
picture = os.path.join(args.out, "fig3_unrolled.png")
os.makedirs(args.out, exist_ok=True)
arrows = draw_unrolled(picture, levels, ["t-2", "t-1", "t"], model.positions,
                       title=f"Fig. 3: the network unrolled over T = 3 steps, temporal skips (red) at "
                             f"{', '.join(model.positions)}")
assert arrows == len(model.positions) * 2  # each skip joins steps (t-2 -> t-1) and (t-1 -> t)
print(f"Part 3. The unrolled graph of a T = 3 model with skips at {list(model.positions)} (Fig. 3):\n"
      f"{picture}\nFollow the red arrows from the top of step t: two skips reach back to the frame at t-2.")

print("""
What to remember:
  * A temporal skip adds a unit's input from the previous step to its output sum (Eq. 2);
    Eq. 3 and 4 first map it by a 1x1 convolution W_s (and BN + ReLU). Weights are shared over time.
  * K skips give the last output a temporal context of exactly K+1 frames: every step back
    must cross one skip (Fig. 3).
  * Through the identity skip the earlier frame receives the gradient of the unit's sum as
    it is, the current frame that plus the residual branch's share; how much of it reaches a
    frame's pixels depends mostly on the picture, not on the step.""")
