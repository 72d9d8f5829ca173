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

# PyTorch's names that tinyrrn has not, and what to use instead
_NOT_HERE = {"autograd": "there is no torch.autograd (grad, backward, functional): call Tensor.backward(inputs=[...]) "
                         "and read each input's .grad",
             "gradgradcheck": "its backward records no graph (backward(create_graph=True) is refused), so there are no "
                              "second derivatives to check; gradcheck checks the first"}


def __getattr__(name):
    """An AttributeError, as for any missing name, that says why for those of PyTorch tinyrrn has not."""
    reason = f": {_NOT_HERE[name]}" if name in _NOT_HERE else ""
    raise AttributeError(f"module 'tinyrrn' has no attribute {name!r}{reason}")


__version__ = "0.1.0"
__all__ = ["Tensor", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "gradcheck", "GradcheckError", "functional", "nn", "random", "manual_seed",
           "set_device", "get_device", "gpu_available"]
