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
below runs a small random ResNet on a random two-frame "video"; no data needed.
"""
import argparse
import os
import shutil
import subprocess
import tempfile

import numpy

import tinyrrn
from tinyrrn import Tensor
from tinyrrn.models import RecurrentResNet, resnet_small

parser = argparse.ArgumentParser(description="Temporal skip connections (Eq. 2-4) and temporal context (Fig. 3).")
parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "tinyrrn-lessons"),
                    help="folder for the unrolled-graph picture (DOT, and PNG when Graphviz is installed)")
args = parser.parse_args()
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
print(f"{'skip':<10} {'equation':<8} {'extra weights':>13}  {'logits[:3]':<28} {'|dL/d x_t-1|':>12} {'|dL/d x_t|':>11}")
rows = {}
for skip, eq in (("none", "Eq. 1"), ("identity", "Eq. 2"), ("linear", "Eq. 3"), ("nonlinear", "Eq. 4")):
    model = build(skip)
    logits, grads = frame_gradients(model, clip)
    extra = model.num_parameters() - base_params
    rows[skip] = (extra, grads)
    shown = " ".join(f"{v:+.4f}" for v in logits.numpy()[0, :3])
    print(f"{skip:<10} {eq:<8} {extra:>13}  {shown:<28} {grads[0]:>12.4e} {grads[1]:>11.4e}")

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

# --- Part 3: a picture of the unrolled graph (Fig. 3) -------------------------
model = build("identity", positions=("layer4.0", "layer4.1"), context=3)
units = [name for name, _ in model.backbone.units()]
input_of = dict(zip(units, ["stem"] + units[:-1]))  # x of a unit = output of the one below
steps = ["t-2", "t-1", "t"]
lines = ["digraph unrolled {", "  rankdir=BT; node [shape=box, fontsize=10];"]
for s, step in enumerate(steps):
    lines.append(f'  "x_{step}" [shape=ellipse];')
    previous = f"x_{step}"
    for name in ["stem"] + units + ["fc"]:
        node = f"{name} ({step})"
        lines.append(f'  "{previous}" -> "{node}";')
        previous = node
        if name in model.positions and s > 0:
            lines.append(f'  "{input_of[name]} ({steps[s - 1]})" -> "{node}" '
                         f'[color=red, label="temporal skip"];')
lines.append("}")
os.makedirs(args.out, exist_ok=True)
dot_path = os.path.join(args.out, "fig3_unrolled.dot")
with open(dot_path, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"Part 3. The unrolled graph of a T = 3 model with skips at {list(model.positions)} "
      f"(Fig. 3) is in {dot_path}")
if shutil.which("dot"):
    png_path = dot_path[:-4] + ".png"
    subprocess.run(["dot", "-Tpng", dot_path, "-o", png_path], check=True)
    print(f"and rendered by Graphviz to {png_path}")
else:
    print("(install Graphviz and run `dot -Tpng` on it for a picture; red edges are temporal skips)")
