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

Gradient clipping (``grad_clip``, ``grad_clip_norm``), as EvNN's C++ kernels do it: in the
backward pass of each call the gradients of the initial state y_0 and of W, R, b_x, b_r and
theta are scaled together by min(1, max_norm / (||n|| + 1e-6)), where n holds the L2 norms of
those six gradients; the input's gradient is not scaled. EvNN collects the six norms in a
7-slot ``torch::empty`` buffer whose last slot it never writes (it holds whatever memory was
there); we take that slot as 0, which is what EvNN computes whenever that memory is zero and
what its code evidently means. The rule is per call, so chunked calls are clipped chunk by
chunk, as in EvNN.
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


def _check_grad_clip(value):
    """EvNN's ``grad_clip``: a false value (None, 0) switches clipping off."""
    if value is None or (not isinstance(value, bool) and isinstance(value, numbers.Real) and value == 0):
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"EGRU: grad_clip must be None or a positive number (the max norm), got {value!r}")
    return float(value)


class _ClipGradNorm(torch.autograd.Function):
    """Identity in the forward pass; in the backward pass scales the gradients of its inputs
    (one call's y_0, W, R, b_x, b_r, theta) together by EvNN's max-norm rule (module doc)."""

    @staticmethod
    def forward(ctx, max_norm, *tensors):
        # a copy: the buffer may be changed (grad_clip_norm) before this call's backward runs
        ctx.max_norm = max_norm.detach().clone()
        return tuple(t.view_as(t) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        total = torch.stack([g.norm() for g in grads]).norm()
        # the [1]-shaped buffer divides, as in EvNN, so its dtype sets the scale's precision
        scale = torch.clamp(ctx.max_norm / (total + 1e-6), 0.0, 1.0)
        return (None, *(g * scale for g in grads))


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

    EvNN's remaining keywords: ``return_state_sequence`` is kept as an attribute and, as in
    EvNN 0.2 (whose forward never reads it), the states are always every step's;
    ``grad_clip`` sets the max norm of gradient clipping (module doc; None or 0 is off);
    ``use_custom_cuda`` is kept as an attribute and has no effect: this layer has one
    implementation, in PyTorch, which computes what EvNN's C++ kernels compute (they are what
    ``use_custom_cuda=True`` runs, also on the CPU). It clips in both cases, whereas EvNN's
    PyTorch fallback (``use_custom_cuda=False``) ignores ``grad_clip``.
    """

    def __init__(self, input_size, hidden_size, batch_first=False, dropout=0.0, zoneout=0.0,
                 dampening_factor=0.7, pseudo_derivative_support=1.0, thr_mean=0.3,
                 weight_initialization_gain=1.0, return_state_sequence=False, grad_clip=None,
                 use_custom_cuda=True):
        super().__init__()
        self.return_state_sequence = bool(return_state_sequence)
        self.use_custom_cuda = bool(use_custom_cuda)
        grad_clip = _check_grad_clip(grad_clip)
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.batch_first = bool(batch_first)
        self.dropout = _check_probability("dropout", dropout)
        self.zoneout = _check_probability("zoneout", zoneout)
        _check_positive("dampening_factor", dampening_factor)
        _check_positive("pseudo_derivative_support", pseudo_derivative_support)
        self.weight_initialization_gain = _check_positive("weight_initialization_gain",
                                                          weight_initialization_gain)
        if isinstance(thr_mean, bool) or not isinstance(thr_mean, numbers.Real) \
                or not 0.0 < thr_mean < 1.0:
            raise ValueError(f"EGRU: thr_mean must lie in (0, 1), got {thr_mean!r}")

        H, I = self.hidden_size, self.input_size
        self.kernel = nn.Parameter(torch.empty(I, 3 * H))
        self.recurrent_kernel = nn.Parameter(torch.empty(H, 3 * H))
        self.bias = nn.Parameter(torch.zeros(3 * H))
        self.recurrent_bias = nn.Parameter(torch.zeros(3 * H))
        self.reset_parameters()  # before thr exists, as in EvNN (the same random draws)
        # EvNN draws thresholds from Beta(alpha, 3) whose mean is thr_mean.
        beta = 3.0
        alpha = beta * thr_mean / (1.0 - thr_mean)
        self.thr = nn.Parameter(torch.distributions.Beta(alpha, beta).sample((H,)))
        # Buffers (not trained) under EvNN's names so state dicts carry them both ways.
        self.register_buffer("dampening_factor", torch.tensor([float(dampening_factor)]))
        self.register_buffer("pseudo_derivative_support",
                             torch.tensor([float(pseudo_derivative_support)]))
        # EvNN's gradient-clipping setting under its name, so that state dicts load strictly
        # both ways; clipping is on whenever it is > 0 (EvNN's kernels test the same).
        self.register_buffer("_max_norm", torch.tensor([_EVNN_NO_CLIP]))
        self.grad_clip_norm(enable=grad_clip is not None, norm=grad_clip or 2.0)

    def reset_parameters(self) -> None:
        """EvNN's initialisation: Xavier-normal W and R (gain ``weight_initialization_gain``),
        zero biases. The thresholds are left as they are."""
        for p in (self.kernel, self.recurrent_kernel):
            nn.init.xavier_normal_(p, gain=self.weight_initialization_gain)
        for p in (self.bias, self.recurrent_bias):
            nn.init.zeros_(p)

    def grad_clip_norm(self, enable: bool = True, norm: float = 2.0) -> None:
        """Switch EvNN's gradient clipping on with max norm ``norm``, or off."""
        if enable:
            if isinstance(norm, bool) or not isinstance(norm, numbers.Real) or not norm > 0 \
                    or not math.isfinite(norm):
                raise ValueError(f"EGRU.grad_clip_norm: norm must be a positive number, got {norm!r}")
        self._max_norm.fill_(float(norm) if enable else _EVNN_NO_CLIP)

    @property
    def _enable_grad_clip(self) -> bool:
        """EvNN's flag, read from ``_max_norm`` so that a loaded state dict sets it too."""
        return float(self._max_norm) > 0

    def to_native_weights(self):
        """EvNN's export: (W^T [3H, I], R^T [3H, H], b_x, b_r, theta) as new Parameters, in
        torch.nn.GRU's weight_ih_l0 / weight_hh_l0 / bias_ih_l0 / bias_hh_l0 shapes. The gate
        order stays EvNN's [u, r, g] (EvNN does not reorder; torch.nn.GRU's is [r, z, n]).
        Copies, unlike EvNN, whose theta aliases the layer's."""
        with torch.no_grad():
            tensors = (self.kernel.t(), self.recurrent_kernel.t(), self.bias, self.recurrent_bias,
                       self.thr)
            return tuple(nn.Parameter(t.detach().clone().contiguous()) for t in tensors)

    def from_native_weights(self, weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, thr) -> None:
        """EvNN's import, the inverse of ``to_native_weights``. The values are copied into the
        existing parameters (EvNN replaces them, which orphans an optimizer's references);
        shapes are checked first, so a mismatch changes nothing."""
        H, I = self.hidden_size, self.input_size
        given = {"weight_ih_l0": (weight_ih_l0, (3 * H, I)), "weight_hh_l0": (weight_hh_l0, (3 * H, H)),
                 "bias_ih_l0": (bias_ih_l0, (3 * H,)), "bias_hh_l0": (bias_hh_l0, (3 * H,)),
                 "thr": (thr, (H,))}
        for name, (t, shape) in given.items():
            if tuple(torch.as_tensor(t).shape) != shape:
                raise ValueError(f"EGRU.from_native_weights: {name} must have shape {list(shape)}, "
                                 f"got {list(torch.as_tensor(t).shape)}")
        with torch.no_grad():
            self.kernel.copy_(torch.as_tensor(weight_ih_l0).t())
            self.recurrent_kernel.copy_(torch.as_tensor(weight_hh_l0).t())
            self.bias.copy_(torch.as_tensor(bias_ih_l0))
            self.recurrent_bias.copy_(torch.as_tensor(bias_hh_l0))
            self.thr.copy_(torch.as_tensor(thr))

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
        W, bx, br, thr = self.kernel, self.bias, self.recurrent_bias, self.thr
        if torch.is_grad_enabled() and self._enable_grad_clip:
            # clips the gradient of the R this call used (after DropConnect), as EvNN does
            y, W, R, bx, br, thr = _ClipGradNorm.apply(self._max_norm, y, W, R, bx, br, thr)
        Wx = x @ W + bx
        keep = None
        if self.zoneout and self.training:
            keep = torch.bernoulli(torch.full((T, N, H), 1.0 - self.zoneout,
                                              dtype=x.dtype, device=x.device))

        c = x.new_zeros(N, H)
        tr = x.new_zeros(N, H)
        ys, cs, os, trs = [], [], [], []
        for t in range(T):
            a_u, a_r, a_g = Wx[t].chunk(3, dim=-1)
            b_u, b_r, b_g = (y @ R + br).chunk(3, dim=-1)
            u = torch.sigmoid(a_u + b_u)
            r = torch.sigmoid(a_r + b_r)
            g = torch.tanh(a_g + r * b_g)
            c_hat = u * c + (1.0 - u) * g
            if self.zoneout:
                if keep is not None:
                    c_hat = (c_hat - c) * keep[t] + c
                else:
                    c_hat = self.zoneout * c + (1.0 - self.zoneout) * c_hat
            o = heaviside(c_hat - thr, gamma, eps)
            y = o * c_hat
            c = c_hat - o * thr
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
