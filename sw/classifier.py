"""Sequence classifiers: stacked EGRU layers with an event-driven readout, and the dense GRU
baseline with the same readout.

The readout is a linear layer on the sum over time of the last layer's event values,

    logits = (sum_t y_t) W_out + b_out.

Because it is linear, it can run on chip one event at a time: an event (j, y_j) adds
y_j * W_out[j, :] to the class accumulators, so silent units cost the readout nothing either.

With ``readout="step"`` (a language model: hw.spec READOUT_MODES) the readout runs after every
step on that step's events alone, logits_t = y_t W_out + b_out, and forward returns [N, T, C].
"""

import dataclasses

import torch
import torch.nn as nn

from hw.spec import READOUT_MODES
from sw.egru import EGRU


def _check_readout(readout) -> str:
    if readout not in READOUT_MODES:
        raise ValueError(f"readout must be one of {', '.join(READOUT_MODES)}, got {readout!r}")
    return readout


def _read(readout: nn.Linear, mode: str, h: torch.Tensor) -> torch.Tensor:
    """[N, T, H] last-layer outputs -> logits: [N, C] of their sum, or [N, T, C] per step."""
    return readout(h) if mode == "step" else readout(h.sum(dim=1))


@dataclasses.dataclass
class LayerTrace:
    """What one EGRU layer did on a batch: [N, T, H] event values, states and event flags,
    and v = c_hat - theta (the argument of the Heaviside)."""
    y: torch.Tensor
    c: torch.Tensor
    o: torch.Tensor
    v: torch.Tensor


class EGRUClassifier(nn.Module):
    """``layers`` stacked EGRU layers (layer l's events are layer l+1's inputs) and the
    event-sum readout. ``forward`` takes batch-first x [N, T, I] and returns
    ``(logits [N, C], [LayerTrace per layer])``; with ``readout="step"`` logits are [N, T, C]."""

    def __init__(self, input_size, hidden_size, num_classes, layers=1, readout="sequence", **egru_kwargs):
        super().__init__()
        self.readout_mode = _check_readout(readout)
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ValueError(f"EGRUClassifier: layers must be a positive integer, got {layers!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"EGRUClassifier: num_classes must be an integer >= 2, "
                             f"got {num_classes!r}")
        sizes = [input_size] + [hidden_size] * layers
        self.rnns = nn.ModuleList(
            EGRU(sizes[i], hidden_size, batch_first=True, **egru_kwargs) for i in range(layers))
        self.readout = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        traces = []
        h = x
        for rnn in self.rnns:
            y, (c, o, _trace) = rnn(h)
            traces.append(LayerTrace(y=y, c=c, o=o, v=rnn.pre_threshold(c, o)))
            h = y
        return _read(self.readout, self.readout_mode, h), traces


class GRUClassifier(nn.Module):
    """The dense baseline: torch.nn.GRU with the same sizes and the same readout (of the sum over
    time of h, or with ``readout="step"`` of every step's h_t)."""

    def __init__(self, input_size, hidden_size, num_classes, layers=1, readout="sequence"):
        super().__init__()
        self.readout_mode = _check_readout(readout)
        self.gru = nn.GRU(input_size, hidden_size, num_layers=layers, batch_first=True)
        self.readout = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        h, _ = self.gru(x)
        return _read(self.readout, self.readout_mode, h), []
