"""Lesson 05: batch normalisation, forward and backward, training and evaluation.

Run:  python lessons/05_batch_norm.py

Batch normalisation (Ioffe & Szegedy, 2015) sits after every convolution of a
ResNet. For each channel it takes the mean and variance of that channel over
the whole batch (every image, every pixel: m = N*H*W values), normalises,
then scales and shifts with two learned vectors, gamma and beta:

    x_hat = (x - mean) / sqrt(var + eps),    y = gamma * x_hat + beta

Because mean and var are computed from x, every output value depends on every
input value of its channel, and the backward pass must account for that. We
derive it one small step at a time, check tinyrrn's fused F.batch_norm against
the derivation, against BN assembled from primitive ops (autograd does the
calculus), and against numerical differences; then look at the running
statistics used in evaluation, and at what a batch of one does to it all.
"""
import numpy

import tinyrrn
from tinyrrn import Tensor
from tinyrrn import functional as F
from tinyrrn import nn
from tinyrrn.cli import ArgumentParser, parse_script_args

parse_script_args(ArgumentParser(description=__doc__.split("\n")[0]))  # --help; no flags

print(__doc__)
rng = numpy.random.default_rng(0)
N, C, H, W = 4, 3, 5, 5
m = N * H * W                       # values per channel
eps = 1e-5
channel_means, channel_stds = numpy.array([2.0, -1.0, 0.5]), numpy.array([3.0, 0.5, 1.0])
x = rng.standard_normal((N, C, H, W)) * channel_stds[:, None, None] + channel_means[:, None, None]
gamma, beta = rng.uniform(0.5, 2.0, C), rng.uniform(-1.0, 1.0, C)
per_channel = (0, 2, 3)             # the axes a channel's statistics run over


def channel(v):
    """A per-channel vector (C,) shaped to broadcast against (N, C, H, W)."""
    return v.reshape(1, -1, 1, 1)


# --- 1. Forward --------------------------------------------------------------------
mean = x.mean(axis=per_channel)
var = x.var(axis=per_channel)                     # biased: divides by m, as the normalisation does
x_hat = (x - channel(mean)) / numpy.sqrt(channel(var) + eps)
y = channel(gamma) * x_hat + channel(beta)
fused = F.batch_norm(Tensor(x), numpy.zeros(C), numpy.ones(C), Tensor(gamma), Tensor(beta), training=True, eps=eps)
assert numpy.allclose(fused.numpy(), y, rtol=1e-12, atol=1e-12)
print("1. Forward, per channel (m = N*H*W =", m, "values each):")
print(f"   input  mean {numpy.round(mean, 3)}   std {numpy.round(numpy.sqrt(var), 3)}")
print(f"   output mean {numpy.round(y.mean(axis=per_channel), 3)}   std {numpy.round(y.std(axis=per_channel), 3)}")
print(f"   = beta      {numpy.round(beta, 3)}   = gamma {numpy.round(gamma, 3)}  (times sqrt(var/(var+eps)) ~ 1)")
assert numpy.allclose(y.mean(axis=per_channel), beta, atol=1e-12)
assert numpy.allclose(y.std(axis=per_channel), gamma * numpy.sqrt(var / (var + eps)), rtol=1e-12)
print("   F.batch_norm(training=True) gives the same output (float64, to 1e-12): yes")
shifted = F.batch_norm(Tensor(3 * x + 7), numpy.zeros(C), numpy.ones(C), Tensor(gamma), Tensor(beta),
                       training=True, eps=eps).numpy()
assert numpy.abs(shifted - y).max() < 1e-3
print("   BN forgets each channel's offset and scale: the output for 3x + 7 equals the output for x\n"
      f"   (largest difference {numpy.abs(shifted - y).max():.0e}: only eps, added to var but not scaled by 9, tells them apart)")


# --- 2. Backward, derived one step at a time ------------------------------------------
# Write the forward as small steps; walk them backwards, each step applying only its own
# local derivative (the chain rule, as in lesson 01). g = dL/dy comes from the layer above.
# Sums run over the m values of a channel (axes N, H, W).
def batch_norm_backward_by_steps(x, gamma, g):
    def total(v):
        return v.sum(axis=per_channel, keepdims=True)
    # forward, remembering what the backward needs
    mu = total(x) / m                                # (1) mu    = mean(x)
    d = x - mu                                       # (2) d     = x - mu
    var = total(d * d) / m                           # (3) var   = mean(d^2)
    r = (var + eps) ** -0.5                          # (4) r     = 1 / sqrt(var + eps)
    x_hat = d * r                                    # (5) x_hat = d * r
    #                                                  (6) y     = gamma * x_hat + beta
    # backward, from (6) down to (1)
    d_beta = total(g)                                # (6) dy/dbeta = 1
    d_gamma = total(g * x_hat)                       # (6) dy/dgamma = x_hat
    d_x_hat = g * channel(gamma)                     # (6) dy/dx_hat = gamma
    d_r = total(d_x_hat * d)                         # (5) r is shared by all m values: sum
    d_d = d_x_hat * r                                # (5) d reaches x_hat directly ...
    d_var = d_r * -0.5 * (var + eps) ** -1.5         # (4) dr/dvar
    d_d = d_d + d_var * 2 * d / m                    # (3) ... and through var = mean(d^2)
    d_mu = -total(d_d)                               # (2) dd/dmu = -1, for every value
    d_x = d_d + d_mu / m                             # (2) dd/dx = 1, (1) dmu/dx = 1/m
    return d_x, d_gamma.ravel(), d_beta.ravel()


g = rng.standard_normal((N, C, H, W))
by_steps, d_gamma, d_beta = batch_norm_backward_by_steps(x, gamma, g)
# The same in one line: since sum(d) = 0 the d_mu path only removes the mean of d_d, and
# collecting the terms gives the form every framework uses:
#     dx = gamma * r / m * (m * g - sum(g) - x_hat * sum(g * x_hat))
r = 1 / numpy.sqrt(channel(var) + eps)
one_line = channel(gamma) * r / m * (m * g - g.sum(axis=per_channel, keepdims=True)
                                     - x_hat * (g * x_hat).sum(axis=per_channel, keepdims=True))
assert numpy.allclose(by_steps, one_line, rtol=1e-10, atol=1e-12)
print("\n2. Backward: the step-by-step chain rule equals the one-line formula\n"
      "   dx = gamma / sqrt(var + eps) / m * (m g - sum(g) - x_hat sum(g x_hat))  (to 1e-10): yes")
# What the formula says: the gradient loses its mean and its part along x_hat, exactly the
# directions (shift, scale of the channel) that part 1 showed the output cannot see.
along_shift = by_steps.sum(axis=per_channel)
along_scale = (by_steps * x_hat).sum(axis=per_channel)
unprojected = gamma * r.ravel() * (g * x_hat).sum(axis=per_channel)   # what it would be without the projection
print(f"   Per channel, sum(dx) = {numpy.abs(along_shift).max():.0e}: no component along a shift of the channel;\n"
      f"   sum(dx * x_hat) is eps/(var + eps) = {(eps / (var + eps)).max():.0e} (at most) of its size without the\n"
      "   projection: none along a scaling, but for eps. Exactly the directions BN cannot see (part 1).")
assert numpy.abs(along_shift).max() < 1e-10
assert numpy.allclose(along_scale, unprojected * eps / (var + eps), rtol=1e-6)

# --- 3. Three checks of the fused backward -----------------------------------------------
x_leaf, gamma_leaf, beta_leaf = (Tensor(v, requires_grad=True) for v in (x, gamma, beta))
F.batch_norm(x_leaf, numpy.zeros(C), numpy.ones(C), gamma_leaf, beta_leaf, training=True, eps=eps).backward(g)
assert numpy.allclose(x_leaf.grad, by_steps, rtol=1e-10, atol=1e-12)
assert numpy.allclose(gamma_leaf.grad, d_gamma, rtol=1e-12) and numpy.allclose(beta_leaf.grad, d_beta, rtol=1e-12)
print("\n3. tinyrrn's F.batch_norm computes the forward and this backward in one op (a 'fused' backward):")
print("   (a) its gradients for x, gamma and beta equal our derivation (to 1e-10): yes")


def batch_norm_from_primitives(x, gamma, beta):
    """The same layer built from mean, sub, mul, pow and add: autograd derives the backward."""
    mu = F.mean(x, axis=per_channel, keepdims=True)
    d = x - mu
    var = F.mean(d * d, axis=per_channel, keepdims=True)
    x_hat = d * (var + eps) ** -0.5
    return x_hat * F.reshape(gamma, 1, -1, 1, 1) + F.reshape(beta, 1, -1, 1, 1)


def recorded_ops(root):
    """The op nodes of the graph below ``root`` (each distinct tensor once)."""
    seen, stack = {}, [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen and node.op is not None:
            seen[id(node)] = node
            stack.extend(node.parents)
    return list(seen.values())


prims = [Tensor(v, requires_grad=True) for v in (x, gamma, beta)]
out = batch_norm_from_primitives(*prims)
prim_ops = recorded_ops(out)
fused_ops = recorded_ops(F.batch_norm(*(Tensor(v, requires_grad=True) for v in (x,)), numpy.zeros(C), numpy.ones(C),
                                      training=True))
out.backward(g)
assert numpy.allclose(out.detach().numpy(), y, rtol=1e-12, atol=1e-12)
assert all(numpy.allclose(p.grad, f.grad, rtol=1e-10, atol=1e-12) for p, f in zip(prims, (x_leaf, gamma_leaf, beta_leaf)))
print("   (b) BN assembled from primitive ops, differentiated by autograd, gives the same gradients: yes")
small = [Tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((3, 2, 2, 3), (2,), (2,))]
tinyrrn.gradcheck(lambda x, w, b: F.batch_norm(x, numpy.zeros(2), numpy.ones(2), w, b, training=True), small)
print("   (c) tinyrrn.gradcheck (central differences, every element of x, gamma, beta): passed")
full_size = [node.op for node in prim_ops if node.numel() == x.size]
print(f"   The primitive version records {len(prim_ops)} ops, {len(full_size)} of them writing an array as large as x\n"
      f"   ({', '.join(sorted(full_size))}); the fused one records {len(fused_ops)} op,\n"
      "   whose backward is the formula above.")
assert len(fused_ops) == 1 and len(prim_ops) >= 10 and len(full_size) >= 5

# --- 4. Training mode, evaluation mode and the running statistics ----------------------
# While training, nn.BatchNorm2d normalises with the batch's statistics and moves its
# running statistics towards them: running = (1 - momentum) * running + momentum * batch,
# with the variance unbiased (divided by m - 1), as in PyTorch. Evaluation normalises with
# the running statistics instead, so an image's output no longer depends on its batch.
# They are the layer's buffers: Tensors that are saved in its state_dict but not trained,
# updated in place (bn.running_mean is the same Tensor after every batch).
bn = nn.BatchNorm2d(C, momentum=0.1)
running_mean = bn.running_mean
first = x.astype("float32")
bn(Tensor(first))
assert bn.running_mean is running_mean
unbiased = first.var(axis=per_channel) * m / (m - 1)
assert numpy.allclose(bn.running_mean.numpy(), 0.9 * 0 + 0.1 * first.mean(axis=per_channel), rtol=1e-5)
assert numpy.allclose(bn.running_var.numpy(), 0.9 * 1 + 0.1 * unbiased, rtol=1e-5)
print("\n4. After one training batch: running_mean = 0.9 * 0 + 0.1 * batch mean, running_var = 0.9 * 1 + "
      "0.1 * unbiased batch var: yes")
for _ in range(99):
    batch = rng.standard_normal((16, C, H, W)) * channel_stds[:, None, None] + channel_means[:, None, None]
    bn(Tensor(batch.astype("float32")))
print(f"   after 100 batches from the same distribution: running_mean {numpy.round(bn.running_mean.numpy(), 3)} "
      f"(true {channel_means}),\n   running_var {numpy.round(bn.running_var.numpy(), 3)} (true {channel_stds ** 2}); "
      f"num_batches_tracked = {int(bn.num_batches_tracked)}")
assert numpy.allclose(bn.running_mean.numpy(), channel_means, atol=0.05 * channel_stds.max())
assert numpy.allclose(bn.running_var.numpy(), channel_stds ** 2, rtol=0.1)
assert int(bn.num_batches_tracked) == 100
images = first
bn.eval()
expected = ((images - channel(bn.running_mean.numpy())) / numpy.sqrt(channel(bn.running_var.numpy()) + bn.eps)
            * channel(bn.weight.detach().numpy()) + channel(bn.bias.detach().numpy()))
assert numpy.allclose(bn(Tensor(images)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
eval_alone = bn(Tensor(images[:1])).detach().numpy()[0]
assert numpy.allclose(eval_alone, bn(Tensor(images)).detach().numpy()[0], rtol=1e-6)
bn.train()
train_alone = bn(Tensor(images[:1])).detach().numpy()[0]
assert not numpy.allclose(train_alone, bn(Tensor(images)).detach().numpy()[0], atol=1e-2)
print("   eval mode normalises with the running statistics (checked against the formula), so image 0's\n"
      "   output is the same alone or in its batch; in training mode it changes with the batch: yes")
# With fixed statistics BN is an affine map per channel, y = x * scale + shift with
#     scale = gamma / sqrt(running_var + eps),    shift = beta - running_mean * scale,
# a multiply and an add per value. After a convolution it need not be a pass over memory of its
# own: nn.conv_bn applies it (and the ReLU, and a residual unit's sum) to each block of the
# convolution's output right after the block's matrix product, while it is in the cache
# (F.conv2d_affine), in inference: evaluation mode and no gradient to record. (It could also be
# folded into the convolution's weights, W * scale and a bias shift; that rounds differently.)
bn.eval()
scale, shift = F.fixed_affine(bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)
assert numpy.allclose(bn(Tensor(images)).detach().numpy(), images * channel(scale) + channel(shift), rtol=1e-5,
                      atol=1e-5)
conv = nn.Conv2d(C, C, 3, padding=1, bias=False)
with tinyrrn.no_grad():
    fused = nn.conv_bn(conv, bn, Tensor(images), relu=True).numpy()
    apart = bn(conv(Tensor(images)), relu=True).numpy()
assert numpy.array_equal(fused, apart)
print("   in evaluation BN is x * scale + shift per channel (checked); nn.conv_bn applies it and the ReLU\n"
      "   inside the convolution's blocks under no_grad, with exactly the numbers of conv then BN: yes")
bn.train()

# --- 5. A batch of one ---------------------------------------------------------------------
print("\n5. What goes wrong with batch 1:")
features = rng.standard_normal((1, C))            # one image's feature vector (after global pooling)
try:
    F.batch_norm(Tensor(features), numpy.zeros(C), numpy.ones(C), training=True)
except ValueError as error:
    refused = error
else:
    refused = None
assert refused is not None
print(f"   (a) one value per channel has no variance; training refuses it:\n       {refused}")
try:
    import torch
except ImportError:
    print("       (PyTorch is not installed; with it, this lesson checks that it refuses the same input)")
else:
    try:
        torch.nn.functional.batch_norm(torch.from_numpy(features), torch.zeros(C, dtype=torch.float64),
                                       torch.ones(C, dtype=torch.float64), training=True)
    except ValueError as error:
        print(f"       PyTorch refuses it too: {error}")
    else:
        raise AssertionError("PyTorch accepted a batch of one in training mode")
pair = rng.standard_normal((2, C, 1, 1)) * 10
pair_out = F.batch_norm(Tensor(pair), numpy.zeros(C), numpy.ones(C), training=True).numpy()
print(f"   (b) two values per channel: whatever they are, x_hat is -1 or +1: {pair_out.ravel().round(4)}")
assert numpy.allclose(numpy.abs(pair_out), 1, atol=1e-4)
image = rng.standard_normal((1, C, 7, 7))
brighter = image + 5
train_pair = [F.batch_norm(Tensor(v), numpy.zeros(C), numpy.ones(C), training=True).numpy() for v in (image, brighter)]
assert numpy.allclose(train_pair[0], train_pair[1], atol=1e-6)
running = (image.mean(axis=per_channel), image.var(axis=per_channel))
eval_pair = [F.batch_norm(Tensor(v), *running, training=False).numpy() for v in (image, brighter)]
assert not numpy.allclose(eval_pair[0], eval_pair[1], atol=1)
print("   (c) one image of 7x7 pixels trains, but with its own statistics: the image plus 5 in every\n"
      "       channel gives the identical output, so the layer cannot see a channel's overall level;\n"
      "       in eval mode (fixed statistics) the two differ, as they should.")
print("""
What to remember:
  * BN normalises each channel with the batch's mean and variance, then scales by gamma and
    shifts by beta; the output ignores each channel's offset and scale in the input.
  * The backward, derived step by step, collapses to
        dx = gamma / sqrt(var + eps) / m * (m g - sum(g) - x_hat sum(g x_hat)):
    the incoming gradient minus its mean and its part along x_hat. Check such a derivation
    three ways: against autograd on primitive ops, against gradcheck, and by the invariances.
  * Training uses batch statistics and updates running averages (momentum 0.1, unbiased
    variance); evaluation uses the running averages, so a prediction never depends on the
    batch; there BN is a fixed x * scale + shift, applied inside the convolution before it.
    Batch 1 breaks training-mode BN: no variance at 1x1, one image's own statistics otherwise.""")
