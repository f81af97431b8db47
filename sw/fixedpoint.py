"""The operations of docs/arithmetic.md on tensors, in two interchangeable backends.

:class:`IntOps` computes on int64 tensors: this is the golden model's arithmetic.
:class:`SteOps` computes the very same integer values on float64 tensors (every value is an
integer well below 2**53, so float64 holds it exactly) and gives them straight-through
gradients, for quantization-aware training. One forward function (sw/golden.py) runs on either,
so the trained fake-quantized model and the exported integer model cannot disagree.
"""

import math

import torch

from hw.spec import EGRUConfig
from sw.spike import heaviside


class IntOps:
    dtype = torch.int64

    def rshift_round(self, v, s: int):
        """floor(v / 2**s + 1/2): add half an LSB, then an arithmetic shift (floor)."""
        if s <= 0:
            return v * (1 << -s)
        return (v + (1 << (s - 1))) >> s

    def saturate(self, v, bits: int):
        return v.clamp(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)

    def lut(self, table, p, cfg: EGRUConfig, table_frac: int, fn):
        return table[self.lut_address(p, cfg, table_frac)]

    def lut_address(self, p, cfg: EGRUConfig, table_frac: int):
        half = 1 << (cfg.lut_bits - 1)
        i = IntOps.rshift_round(self, p, cfg.preact_frac - table_frac)
        return i.clamp(-half, half - 1) + half

    def fire(self, c_hat, thr, cfg: EGRUConfig, gamma: float, eps: float):
        return (c_hat > thr).to(torch.int64)


class SteOps(IntOps):
    """Integer-valued float64 with straight-through gradients: rounding passes the gradient
    unchanged, a LUT passes the derivative of the function it tabulates, and the threshold
    passes the EGRU's triangular pseudo-derivative."""

    dtype = torch.float64

    def rshift_round(self, v, s: int):
        if s <= 0:
            return v * float(1 << -s)
        exact = v / float(1 << s)  # exact: a division by a power of two
        return exact + (torch.floor(exact + 0.5) - exact).detach()

    def lut(self, table, p, cfg: EGRUConfig, table_frac: int, fn):
        address = IntOps.lut_address(self, p.detach().round().to(torch.int64), cfg, table_frac)
        value = table[address].to(torch.float64)
        smooth = fn(p * 2.0 ** -cfg.preact_frac) * float(cfg.one)
        return value + (smooth - smooth.detach())

    def fire(self, c_hat, thr, cfg: EGRUConfig, gamma: float, eps: float):
        # Both operands are integers in the state format: v > 0 exactly when c_hat > thr.
        return heaviside((c_hat - thr) * 2.0 ** -cfg.state_frac, gamma, eps)


def fake_quant(w, frac: int, lo: int, hi: int):
    """Round w * 2**frac half up and clamp into [lo, hi]; the gradient passes straight through
    inside the range. Returns integer-valued float64."""
    scaled = w.to(torch.float64) * 2.0 ** frac
    inside = scaled.clamp(lo, hi)
    return inside + (torch.floor(scaled + 0.5).clamp(lo, hi) - inside).detach()


def frac_for(max_abs: float, bits: int, lo: int = -16, hi: int = 32) -> int:
    """The most fractional bits with which max_abs still fits ``bits`` signed bits (its top
    value may saturate by one LSB): floor(log2(2**(bits-1) / max_abs))."""
    if not max_abs > 0 or not math.isfinite(max_abs):
        return min(hi, bits - 1)
    return max(lo, min(hi, math.floor(math.log2((1 << (bits - 1)) / max_abs))))


def update_gate_fn(zoneout: float):
    return lambda z: zoneout + (1.0 - zoneout) * torch.sigmoid(z)
