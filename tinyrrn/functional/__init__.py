"""The differentiable ops, with PyTorch's names, shapes (NCHW) and argument semantics."""
from ._util import ArgumentError
from .conv import channels_last, conv2d, conv2d_affine, conv_transpose2d
from .dtypes import result_type
from .elementwise import (abs, add, add_relu, astype, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,
                          bitwise_right_shift, bitwise_xor, clamp, clamp_max, clamp_min, clip, div, dropout, eq, exp,
                          floor_divide, ge, gt, isfinite, isinf, isnan, le, log, logical_and, logical_not, logical_or,
                          logical_xor, lt, masked_fill, maximum, minimum, mul, ne, neg, positive, pow, reciprocal, relu,
                          relu_, remainder, sigmoid, sqrt, square, sub, tanh, to_device, where)
from .linear import linear, matmul
from .loss import cross_entropy, log_softmax, nll_loss, softmax
from .norm import batch_norm, batch_norm_add_relu, batch_norm_relu, fixed_affine
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduction import all, amax, amin, any, argmax, argmin, cumsum, max, mean, min, prod, std, sum, var
from .shape import (cat, chunk, clone, concat, concatenate, contiguous, expand, expand_as, flatten, flip, gather, getitem,
                    pad, permute, repeat, reshape, split, squeeze, stack, swapaxes, transpose, unsqueeze, view)
