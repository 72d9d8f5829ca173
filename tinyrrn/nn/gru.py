"""GRU (Cho et al., 2014) with PyTorch's gate equations and parameter names.

For each step, with gates stacked in the order (r, z, n):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h = (1 - z) * n + z * h
The paper's Table 1 baseline runs a 128-unit GRU over per-frame features.
"""
import numbers
import warnings

from .. import backend
from .. import functional as F
from ..functional._util import check_tensors, only_torch_defaults
from ..tensor import ArgumentError, Tensor
from . import init
from .module import Module, Parameter, check_factory_arguments


class GRU(Module):
    """Multi-layer GRU, as torch.nn.GRU: inputs (time, batch, features), or (batch, time, features)
    with batch_first=True, or one unbatched sequence (time, features)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        """PyTorch's arguments, in its order, checked as there; tinyrrn's GRU has one direction and no dropout
        between layers, so ``bidirectional`` is taken at its default only, and ``dropout`` where there is one
        layer (PyTorch warns that it does nothing there). ``proj_size`` is for PyTorch's LSTM only: 0 or refused."""
        super().__init__()
        check_factory_arguments("GRU", device, dtype)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             f"being zeroed, got {dropout!r} (as PyTorch)")
        if proj_size != 0:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU (as PyTorch)")
        if dropout and num_layers != 1:
            raise NotImplementedError(f"GRU: dropout={dropout!r} between layers is not supported by tinyrrn (only 0.0)")
        only_torch_defaults("GRU", bidirectional=(bidirectional, False))
        if dropout:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        self.dropout, self.bidirectional = float(dropout), False
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"GRU: {name} should be of type int, got: {type(value).__name__} (as PyTorch)")
            if value < 1:
                raise ValueError(f"GRU: {name} must be a positive integer, got {value!r}")
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"GRU: {name} should be of type bool, got: {type(value).__name__} (as PyTorch)")
        self.input_size, self.hidden_size, self.num_layers, self.bias = input_size, hidden_size, num_layers, bias
        self.batch_first = batch_first
        bound = 1 / hidden_size ** 0.5
        for layer in range(num_layers):
            size_in = input_size if layer == 0 else hidden_size
            shapes = {"weight_ih": (3 * hidden_size, size_in), "weight_hh": (3 * hidden_size, hidden_size)}
            if bias:
                shapes.update(bias_ih=(3 * hidden_size,), bias_hh=(3 * hidden_size,))
            for name, shape in shapes.items():
                data = backend.to_device(init.symmetric_uniform(shape, bound), backend.get_device())
                setattr(self, f"{name}_l{layer}", Parameter(data))

    def reset_parameters(self):
        """Every weight and bias drawn anew from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in place, as
        PyTorch's."""
        bound = 1 / self.hidden_size ** 0.5
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self):
        """PyTorch's packing of the weights for cuDNN: nothing to do here (as PyTorch's on the CPU)."""

    @property
    def all_weights(self):
        """Each layer's [weight_ih, weight_hh, bias_ih, bias_hh] (no biases with bias=False), as PyTorch."""
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        return [[getattr(self, f"{name}_l{layer}") for name in names] for layer in range(self.num_layers)]

    def forward(self, input, hx=None):
        """x (T, B, input_size) (batch_first: (B, T, input_size); unbatched: (T, input_size)), hx (PyTorch's
        name of h0) (num_layers, B, hidden) (unbatched: (num_layers, hidden)) or None -> (output, h_n), the
        output laid out as x with hidden features, h_n as h0."""
        x = input  # PyTorch's name
        check_tensors("GRU", x, *(() if hx is None else (hx,)), names=("input", "hx"))  # PyTorch's TypeError for a list or an array
        h0 = hx
        layout = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
        time = 1 if self.batch_first and x.ndim == 3 else 0
        if x.ndim not in (2, 3):
            raise ValueError(f"GRU: expected input {layout} or one sequence (time, features), got {tuple(x.shape)}")
        if x.dtype != self.weight_ih_l0.dtype:
            raise ValueError(f"GRU: input dtype ({x.dtype}) does not match weight dtype ({self.weight_ih_l0.dtype}) "
                             "(as PyTorch): convert the input with x.astype(...)")
        if x.shape[-1] != self.input_size or x.shape[time] == 0:
            raise ArgumentError(f"GRU: expected input {layout} or one sequence (time, features) of at least one "
                                f"step with {self.input_size} features, got {tuple(x.shape)}")
        if h0 is not None and h0.ndim != x.ndim:  # as PyTorch: never re-read as another shape
            kind = "unbatched 2-D" if x.ndim == 2 else "batched 3-D"
            raise ArgumentError(f"GRU: for {kind} input, h0 should also be {x.ndim}-D but got a {h0.ndim}-D "
                                f"tensor of shape {tuple(h0.shape)}")
        if x.ndim == 2:  # one sequence: a batch of one
            out, h_n = self.forward(x.reshape(x.shape[0], 1, -1) if not self.batch_first else x.reshape(1, *x.shape),
                                    None if h0 is None else h0.reshape(h0.shape[0], 1, -1))
            return out.reshape(x.shape[0], -1), h_n.reshape(h_n.shape[0], -1)
        if not self.batch_first:
            out, h_n = self._forward(F.permute(x, (1, 0, 2)), h0)
            return F.permute(out, (1, 0, 2)), h_n
        return self._forward(x, h0)

    def _forward(self, x, h0):
        """The layers over x (B, T, input_size): (output (B, T, hidden), h_n (num_layers, B, hidden))."""
        batch, steps, _ = x.shape
        hidden = self.hidden_size
        if h0 is not None and tuple(h0.shape) != (self.num_layers, batch, hidden):
            raise ArgumentError(f"GRU: expected h0 (num_layers, batch, hidden) = "
                                f"{(self.num_layers, batch, hidden)}, got {tuple(h0.shape)}")
        xp = backend.xp_of(x.data)
        finals = []
        for layer in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
            b_ih = getattr(self, f"bias_ih_l{layer}") if self.bias else None
            b_hh = getattr(self, f"bias_hh_l{layer}") if self.bias else None
            h = h0[layer] if h0 is not None else Tensor(xp.zeros((batch, hidden), dtype=x.dtype))
            inputs = F.linear(x, w_ih, b_ih)  # all steps at once: (B, T, 3H)
            outputs = []
            for t in range(steps):
                gi = inputs[:, t]
                gh = F.linear(h, w_hh, b_hh)
                r = F.sigmoid(gi[:, :hidden] + gh[:, :hidden])
                z = F.sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
                n = F.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
                h = (1 - z) * n + z * h
                outputs.append(h)
            x = F.stack(outputs, axis=1)
            finals.append(h)
        return x, F.stack(finals, axis=0)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}" + (f", num_layers={self.num_layers}" if self.num_layers != 1 else "")
                + ("" if self.bias else ", bias=False") + (", batch_first=True" if self.batch_first else "")
                + (f", dropout={self.dropout}" if self.dropout else ""))
