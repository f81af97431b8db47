"""The threshold nonlinearity of the EGRU and its surrogate gradient.

Forward: the Heaviside step with H(0) = 0, so a unit whose state sits exactly on its
threshold stays silent (EvNN's convention; the hardware comparison is strict ``>``).
Backward: the triangular pseudo-derivative of the EGRU paper,

    psi(v) = gamma * max(0, 1 - eps * |v|)

with gamma the dampening factor and eps the pseudo-derivative support. Units with
|v| >= 1/eps get a zero gradient: that is where the backward pass is sparse.
"""

import torch


class _HeavisideTriangle(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, gamma: float, eps: float):
        ctx.save_for_backward(v)
        ctx.gamma = gamma
        ctx.eps = eps
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (v,) = ctx.saved_tensors
        return grad_out * pseudo_derivative(v, ctx.gamma, ctx.eps), None, None


def heaviside(v: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    """H(v) (1 where v > 0, else 0) whose gradient is the triangular pseudo-derivative."""
    return _HeavisideTriangle.apply(v, float(gamma), float(eps))


def pseudo_derivative(v: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    """psi(v) = gamma * max(0, 1 - eps*|v|)."""
    return gamma * torch.clamp(1.0 - eps * v.abs(), min=0.0)
