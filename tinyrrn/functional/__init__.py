"""The differentiable ops, with PyTorch's names, shapes (NCHW) and argument semantics."""
from .conv import channels_last, conv2d
from .elementwise import (add, astype, div, dropout, exp, log, mul, neg, pow, relu, sigmoid, sub,
                          tanh, to_device)
from .linear import linear, matmul
from .loss import cross_entropy, log_softmax
from .norm import batch_norm
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduction import mean, sum
from .shape import concatenate, flatten, getitem, permute, reshape, stack, transpose
