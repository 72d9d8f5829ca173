"""The differentiable ops, with PyTorch's names, shapes (NCHW) and argument semantics."""
from ._util import ArgumentError, NotImplementedOp
from .activation import (celu, elu, glu, hardshrink, hardsigmoid, hardswish, hardtanh, leaky_relu, logsigmoid, mish,
                         relu6, selu, silu, softmin, softplus, softshrink, softsign, tanhshrink, threshold)
from .conv import channels_last, conv2d, conv2d_affine, conv_transpose2d
from .distance import cosine_similarity, normalize, pairwise_distance
from .dtypes import result_type
from .elementwise import (abs, add, add_relu, astype, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,
                          bitwise_right_shift, bitwise_xor, ceil, clamp, clamp_max, clamp_min, clip, div, dropout, eq, exp,
                          expm1, floor, floor_divide, ge, gt, isfinite, isinf, isnan, le, log, log1p, logical_and,
                          logical_not, logical_or, logical_xor, lt, masked_fill, maximum, minimum, mul, ne, neg, positive,
                          pow, reciprocal, relu, relu_, remainder, round, rsqrt, sigmoid, sign, sqrt, square, sub, tanh,
                          to_device, trunc, where)
from .elementwise import (acos, acosh, asin, asinh, atan, atan2, atanh, cos, cosh, exp2, float_power, fmax, fmin, fmod,
                          frac, hypot, lerp, log2, log10, logaddexp, logit, nan_to_num, sin, sinc, sinh, tan, xlogy)
from .contraction import einsum, tensordot
from .linear import bmm, cross, dot, embedding, linear, matmul, mm, mv, one_hot, outer
from .loss import cross_entropy, log_softmax, nll_loss, softmax
from .norm import batch_norm, batch_norm_add_relu, batch_norm_relu, fixed_affine
from .pointwise_loss import (binary_cross_entropy, binary_cross_entropy_with_logits, huber_loss, kl_div, l1_loss,
                             mse_loss, smooth_l1_loss)
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from .reduction import (all, amax, amin, any, argmax, argmin, cumprod, cumsum, logsumexp, max, mean, min, norm, prod, std,
                        sum, var)  # (norm, the function, takes the name of the module norm.py, whose ops are imported above)
from .sample_norm import group_norm, layer_norm
from .shape import (cat, chunk, clone, concat, concatenate, contiguous, expand, expand_as, flatten, flip, gather, getitem,
                    index_select, movedim, narrow, pad, permute, ravel, repeat, reshape, split, squeeze, stack, swapaxes,
                    tile, transpose, unbind, unflatten, unsqueeze, view)
from .shape import broadcast_to, diag, diagonal, masked_select, roll, tril, triu
from .sorting import argsort, sort, topk
from .special import erf, erfc, gelu

moveaxis, sgn = movedim, sign  # PyTorch's other names (sgn is sign for real tensors)
absolute, negative, multiply, divide, true_divide, subtract = abs, neg, mul, div, div, sub
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
arcsin, arccos, arctan, arcsinh, arccosh, arctanh, arctan2 = asin, acos, atan, asinh, acosh, atanh, atan2

# PyTorch's functions that tinyrrn has not (a NotImplementedError that says so, and an AttributeError: NotImplementedOp)
NOT_HERE = frozenset("""cummax cummin std_mean var_mean inner kron addmm baddbmm addmv
    scatter scatter_add scatter_reduce index_add index_fill index_copy index_put masked_scatter take
    take_along_dim nonzero argwhere rot90 diff kthvalue median nanmedian mode unique
    unique_consecutive count_nonzero bincount histc searchsorted bucketize diag_embed trace
    erfinv logcumsumexp allclose isclose nansum nanmean
    aminmax chain_matmul block_diag cartesian_prod combinations meshgrid broadcast_tensors
    atleast_1d atleast_2d atleast_3d hstack vstack dstack column_stack row_stack hsplit vsplit dsplit tensor_split
    t adjoint select index_reduce clamp_ abs_ neg_ sqrt_ exp_ log_ sigmoid_ tanh_ fill_ zero_ zeros_like ones_like
    full_like empty_like rand_like randn_like randint_like zeros ones full empty arange linspace logspace eye tensor
    as_tensor from_numpy rand randn randint randperm normal""".split())

# torch.nn.functional's functions that tinyrrn has not (refused as NOT_HERE's are)
NN_NOT_HERE = frozenset("""adaptive_avg_pool1d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool3d
    affine_grid alpha_dropout avg_pool1d avg_pool3d bilinear channel_shuffle conv1d conv3d conv_transpose1d
    conv_transpose3d cosine_embedding_loss ctc_loss dropout1d dropout2d dropout3d embedding_bag
    feature_alpha_dropout fold fractional_max_pool2d fractional_max_pool3d gaussian_nll_loss grid_sample
    gumbel_softmax hinge_embedding_loss instance_norm interpolate local_response_norm
    lp_pool1d lp_pool2d lp_pool3d margin_ranking_loss max_pool1d max_pool3d max_unpool1d max_unpool2d max_unpool3d
    multi_head_attention_forward multi_margin_loss multilabel_margin_loss multilabel_soft_margin_loss pdist
    pixel_shuffle pixel_unshuffle poisson_nll_loss prelu rms_norm rrelu scaled_dot_product_attention
    soft_margin_loss triplet_margin_loss triplet_margin_with_distance_loss unfold upsample upsample_bilinear
    upsample_nearest elu_ hardtanh_ leaky_relu_ celu_ selu_ rrelu_ threshold_""".split())


def __getattr__(name):
    """A missing name: NotImplementedOp (an AttributeError too) for PyTorch's functions of NOT_HERE and NN_NOT_HERE,
    else an AttributeError."""
    if name in NOT_HERE or name in NN_NOT_HERE:
        module = "torch" if name in NOT_HERE else "torch.nn.functional"
        raise NotImplementedOp(f"{module}.{name} is not implemented by tinyrrn.functional (PyTorch's function; tinyrrn "
                               "has not got it)")
    raise AttributeError(f"module 'tinyrrn.functional' has no attribute {name!r}")
