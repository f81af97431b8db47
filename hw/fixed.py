"""Amaranth expressions for the operations of docs/arithmetic.md (the hardware side of hw/spec.py)."""

from amaranth.hdl import Mux


def rshift_round(v, s: int):
    """Round-half-up arithmetic right shift by a constant s (s <= 0: exact left shift)."""
    if s <= 0:
        return v << -s
    return (v + (1 << (s - 1))) >> s


def saturate(v, bits: int):
    """Clamp a signed value into ``bits`` signed bits; the result has shape signed(bits)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(v > hi, hi, Mux(v < lo, lo, v)).as_signed()[:bits].as_signed()


def clamp(v, lo: int, hi: int):
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


def reject(component, error: Exception):
    """Raise a parameter error from a component's constructor without Amaranth also warning
    that the half-built component was never elaborated."""
    component._MustUse__silence = True
    raise error
