"""GRU (Cho et al., 2014) with PyTorch's gate equations and parameter names.

For each step, with gates stacked in the order (r, z, n):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h = (1 - z) * n + z * h
The paper's Table 1 baseline runs a 128-unit GRU over per-frame features.
"""
from .. import backend
from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


class GRU(Module):
    """Multi-layer GRU over (batch, time, features) inputs (batch_first=True)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=True):
        super().__init__()
        if not batch_first:
            raise ValueError("GRU: only batch_first=True (batch, time, features) is supported")
        self.input_size, self.hidden_size, self.num_layers, self.bias = input_size, hidden_size, num_layers, bias
        bound = 1 / hidden_size ** 0.5
        for layer in range(num_layers):
            size_in = input_size if layer == 0 else hidden_size
            shapes = {"weight_ih": (3 * hidden_size, size_in), "weight_hh": (3 * hidden_size, hidden_size)}
            if bias:
                shapes.update(bias_ih=(3 * hidden_size,), bias_hh=(3 * hidden_size,))
            for name, shape in shapes.items():
                data = backend.to_device(init.uniform(shape, bound), backend.get_device())
                setattr(self, f"{name}_l{layer}", Parameter(data))

    def forward(self, x, h0=None):
        """x (B, T, input_size), h0 (num_layers, B, hidden) or None -> (output (B, T, hidden), h_n)."""
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"GRU: expected input (batch, time, {self.input_size}), got {tuple(x.shape)}")
        batch, steps, _ = x.shape
        hidden = self.hidden_size
        if h0 is not None and tuple(h0.shape) != (self.num_layers, batch, hidden):
            raise ValueError(f"GRU: expected h0 (num_layers, batch, hidden) = "
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
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, batch_first=True"
