"""The float EGRU layer, compatible with EvNN's ``evnn_pytorch.EGRU``.

Parameters use EvNN's names and layout, so a state dict moves between the two:
``kernel`` W [I, 3H], ``recurrent_kernel`` R [H, 3H], ``bias`` b_x [3H],
``recurrent_bias`` b_r [3H], ``thr`` theta [H]; gate order along 3H is [u, r, g].

Per step (c_0 = 0, y_0 = ``state`` or 0)::

    a = x_t W + b_x                      b = y_{t-1} R + b_r
    u = sigmoid(a_u + b_u)   r = sigmoid(a_r + b_r)   g = tanh(a_g + r * b_g)
    c_hat = u * c_{t-1} + (1 - u) * g
    o_t = H(c_hat - theta)   (H(0) = 0)
    y_t = o_t * c_hat
    c_t = c_hat - o_t * theta
    tr_t = 0.9 tr_{t-1} + 0.1 y_t

Regularisers, as in EvNN: DropConnect on R (``dropout``, training only) and zoneout on
c_hat (``zoneout``): in training c_hat keeps its old value with probability ``zoneout``;
in evaluation c_hat becomes ``zoneout * c_{t-1} + (1 - zoneout) * c_hat``.
"""

import math
import numbers

import torch
import torch.nn as nn
import torch.nn.functional as F

from sw.spike import heaviside

TRACE_DECAY = 0.9

# EvNN's "gradient clipping off" value of its `_max_norm` entry; see EGRU.__init__.
_EVNN_NO_CLIP = -1.0


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"EGRU: {name} must be a positive integer, got {value!r}")
    return int(value)


def _check_probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"EGRU: {name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"EGRU: {name} must be a positive number, got {value!r}")
    return float(value)


class EGRU(nn.Module):
    """Event-based GRU layer with EvNN's constructor, parameter names and forward contract.

    ``forward(x, state=None)`` takes x as [T, N, I] (or [N, T, I] with ``batch_first``) and
    ``state``, the initial event output y_0, as [N, H] or [1, N, H]. It returns
    ``(y, (c, o, trace))``, each a full sequence shaped like the input with H features.
    """

    def __init__(self, input_size, hidden_size, batch_first=False, dropout=0.0, zoneout=0.0,
                 dampening_factor=0.7, pseudo_derivative_support=1.0, thr_mean=0.3,
                 weight_initialization_gain=1.0):
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.batch_first = bool(batch_first)
        self.dropout = _check_probability("dropout", dropout)
        self.zoneout = _check_probability("zoneout", zoneout)
        _check_positive("dampening_factor", dampening_factor)
        _check_positive("pseudo_derivative_support", pseudo_derivative_support)
        gain = _check_positive("weight_initialization_gain", weight_initialization_gain)
        if isinstance(thr_mean, bool) or not isinstance(thr_mean, numbers.Real) \
                or not 0.0 < thr_mean < 1.0:
            raise ValueError(f"EGRU: thr_mean must lie in (0, 1), got {thr_mean!r}")

        H, I = self.hidden_size, self.input_size
        self.kernel = nn.Parameter(torch.empty(I, 3 * H))
        self.recurrent_kernel = nn.Parameter(torch.empty(H, 3 * H))
        self.bias = nn.Parameter(torch.zeros(3 * H))
        self.recurrent_bias = nn.Parameter(torch.zeros(3 * H))
        nn.init.xavier_normal_(self.kernel, gain=gain)
        nn.init.xavier_normal_(self.recurrent_kernel, gain=gain)
        # EvNN draws thresholds from Beta(alpha, 3) whose mean is thr_mean.
        beta = 3.0
        alpha = beta * thr_mean / (1.0 - thr_mean)
        self.thr = nn.Parameter(torch.distributions.Beta(alpha, beta).sample((H,)))
        # Buffers (not trained) under EvNN's names so state dicts carry them both ways.
        self.register_buffer("dampening_factor", torch.tensor([float(dampening_factor)]))
        self.register_buffer("pseudo_derivative_support",
                             torch.tensor([float(pseudo_derivative_support)]))
        # EvNN's gradient-clipping setting. Unused here (clip with torch.nn.utils instead), but
        # kept so that evnn_pytorch loads our state dicts with strict=True, and we load its.
        self.register_buffer("_max_norm", torch.tensor([_EVNN_NO_CLIP]))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}, "
                f"dropout={self.dropout}, zoneout={self.zoneout}")

    def forward(self, input, state=None):
        if input.dim() != 3:
            raise ValueError(f"EGRU: input must be 3-D ([T, N, I] or batch-first [N, T, I]), "
                             f"got shape {tuple(input.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input
        T, N, I = x.shape
        if I != self.input_size:
            raise ValueError(f"EGRU: input has {I} features, the layer expects {self.input_size}")
        H = self.hidden_size
        y = self._initial_state(state, N, x)

        # EvNN keeps thresholds inside [0, 1] by clamping them before every forward pass. Clamp
        # .data, as EvNN does: an in-place op on the parameter itself would bump its version
        # and break back-propagation through an earlier call that saved it (chunked sequences
        # with carried state, per-step calls).
        self.thr.data.clamp_(0.0, 1.0)
        gamma = float(self.dampening_factor)
        eps = float(self.pseudo_derivative_support)
        R = F.dropout(self.recurrent_kernel, self.dropout, self.training)  # DropConnect
        Wx = x @ self.kernel + self.bias
        keep = None
        if self.zoneout and self.training:
            keep = torch.bernoulli(torch.full((T, N, H), 1.0 - self.zoneout,
                                              dtype=x.dtype, device=x.device))

        c = x.new_zeros(N, H)
        tr = x.new_zeros(N, H)
        ys, cs, os, trs = [], [], [], []
        for t in range(T):
            a_u, a_r, a_g = Wx[t].chunk(3, dim=-1)
            b_u, b_r, b_g = (y @ R + self.recurrent_bias).chunk(3, dim=-1)
            u = torch.sigmoid(a_u + b_u)
            r = torch.sigmoid(a_r + b_r)
            g = torch.tanh(a_g + r * b_g)
            c_hat = u * c + (1.0 - u) * g
            if self.zoneout:
                if keep is not None:
                    c_hat = (c_hat - c) * keep[t] + c
                else:
                    c_hat = self.zoneout * c + (1.0 - self.zoneout) * c_hat
            o = heaviside(c_hat - self.thr, gamma, eps)
            y = o * c_hat
            c = c_hat - o * self.thr
            tr = TRACE_DECAY * tr + (1.0 - TRACE_DECAY) * y
            ys.append(y)
            cs.append(c)
            os.append(o)
            trs.append(tr)

        out = [torch.stack(s) for s in (ys, cs, os, trs)]
        if self.batch_first:
            out = [s.transpose(0, 1) for s in out]
        y_seq, c_seq, o_seq, tr_seq = out
        return y_seq, (c_seq, o_seq, tr_seq)

    def _initial_state(self, state, N, x):
        H = self.hidden_size
        if state is None:
            return x.new_zeros(N, H)
        if state.dim() == 3 and state.shape[0] == 1:
            state = state[0]
        if tuple(state.shape) != (N, H):
            raise ValueError(f"EGRU: state must have shape [{N}, {H}] or [1, {N}, {H}], "
                             f"got {tuple(state.shape)}")
        return state.to(x.dtype)

    def pre_threshold(self, c: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        """v = c_hat - theta, recovered from the returned c and o (c = c_hat - o * theta).

        The pseudo-derivative is zero where |v| >= 1 / pseudo_derivative_support.
        """
        return c + (o - 1.0) * self.thr
