"""tinyrrn: a small, readable autograd framework that reproduces
"Recurrent Residual Learning for Action Recognition" (Iqbal et al., 2017)."""
import sys

if sys.argv[:1] == ["-m"] and any(arg.startswith("tinyrrn") for arg in getattr(sys, "orig_argv", [])):
    from .signals import quiet_until_started  # python -m tinyrrn.<command> is importing (before its own handling)
    quiet_until_started()

from . import functional, nn, operators, random
from .backend import get_device, gpu_available, set_device
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck
from .random import manual_seed
from .tensor import Tensor

operators.attach()

__version__ = "0.1.0"
__all__ = ["Tensor", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "gradcheck", "GradcheckError", "functional", "nn", "random", "manual_seed",
           "set_device", "get_device", "gpu_available"]
