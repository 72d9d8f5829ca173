"""Activation layers beyond ReLU, Sigmoid, Tanh and Softmax (layers.py): torch.nn's, each calling its function in
tinyrrn.functional (activation.py) with the settings given when it was made, with PyTorch's arguments,
attributes and repr. ``inplace=True`` is taken when made and refused when called, as the functions refuse it."""
import inspect

from .. import functional as F
from .module import Module


class _Activation(Module):
    """F.<function>(input, *settings): ``settings`` are the constructor's (name, default) pairs in PyTorch's order
    (a default of inspect.Parameter.empty: none), kept as attributes; ``shown`` those the repr always shows
    (PyTorch's: inplace only when True)."""

    function = None
    settings = ()
    shown = ()

    def __init__(self, *args, **kwargs):
        super().__init__()
        signature = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
                                       for name, default in self.settings])
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}.__init__(): {error}") from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            setattr(self, name, value)

    def forward(self, input):
        return type(self).function(input, *(getattr(self, name) for name, _ in self.settings))

    def extra_repr(self):
        parts = [f"{name}={getattr(self, name)}" for name in self.shown]
        return ", ".join(parts + (["inplace=True"] if getattr(self, "inplace", False) else []))


_INPLACE = ("inplace", False)
_REQUIRED = inspect.Parameter.empty


class LeakyReLU(_Activation):
    function, settings, shown = F.leaky_relu, (("negative_slope", 0.01), _INPLACE), ("negative_slope",)


class ELU(_Activation):
    function, settings, shown = F.elu, (("alpha", 1.0), _INPLACE), ("alpha",)


class CELU(_Activation):
    function, settings, shown = F.celu, (("alpha", 1.0), _INPLACE), ("alpha",)


class SELU(_Activation):
    function, settings = F.selu, (_INPLACE,)


class SiLU(_Activation):
    function, settings = F.silu, (_INPLACE,)


class Mish(_Activation):
    function, settings = F.mish, (_INPLACE,)


class Hardsigmoid(_Activation):
    function, settings = F.hardsigmoid, (_INPLACE,)


class Hardswish(_Activation):
    function, settings = F.hardswish, (_INPLACE,)


class ReLU6(_Activation):
    function, settings = F.relu6, (_INPLACE,)
    min_val, max_val = 0.0, 6.0  # PyTorch's ReLU6 is a Hardtanh with these bounds


class Hardtanh(_Activation):
    function, settings, shown = F.hardtanh, (("min_val", -1.0), ("max_val", 1.0), _INPLACE), ("min_val", "max_val")


class Threshold(_Activation):
    function, settings, shown = F.threshold, (("threshold", _REQUIRED), ("value", _REQUIRED), _INPLACE), \
        ("threshold", "value")


class Softplus(_Activation):
    function, settings, shown = F.softplus, (("beta", 1.0), ("threshold", 20.0)), ("beta", "threshold")


class GELU(_Activation):
    function, settings = F.gelu, (("approximate", "none"),)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"  # PyTorch's: the approximation, quoted


class LogSigmoid(_Activation):
    function = F.logsigmoid


class Softsign(_Activation):
    function = F.softsign


class Tanhshrink(_Activation):
    function = F.tanhshrink


class Hardshrink(_Activation):
    function, settings = F.hardshrink, (("lambd", 0.5),)

    def extra_repr(self):
        return f"{self.lambd}"  # PyTorch's: the value alone


class Softshrink(Hardshrink):
    function = F.softshrink


class GLU(_Activation):
    function, settings, shown = F.glu, (("dim", -1),), ("dim",)


class Softmin(_Activation):
    function, settings, shown = F.softmin, (("dim", None),), ("dim",)
