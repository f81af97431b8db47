"""Amaranth expressions for the operations of docs/arithmetic.md (the hardware side of hw/spec.py)."""

from amaranth.hdl import Cat, Const, Mux, Value


def rshift_round(v, s: int):
    """Round-half-up arithmetic right shift by a constant s (s <= 0: exact left shift).

    floor((v + 2^(s-1)) / 2^s) = (v >> s) + bit s-1 of v: the adder is s bits narrower than
    adding the half first, and the bit is its carry in."""
    if s <= 0:
        return v << -s
    v = Value.cast(v)
    return (v >> s) + v[s - 1]


def saturate(v, bits: int):
    """Clamp a signed value into ``bits`` signed bits; the result has shape signed(bits).

    A signed value fits when its bits from ``bits - 1`` up are all equal (all sign), which is
    an AND and an OR of those bits: cheaper than two comparisons with carry chains."""
    v = Value.cast(v)
    if not v.shape().signed:
        v = Cat(v, Const(0, 1)).as_signed()
    if len(v) <= bits:
        return Cat(v, v[-1].replicate(bits - len(v))).as_signed()
    top = v[bits - 1:]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    limit = Mux(v[-1], 1 << (bits - 1), (1 << (bits - 1)) - 1)  # -2**(bits-1) or 2**(bits-1) - 1
    return Mux(fits, v[:bits], limit)[:bits].as_signed()


def reject(component, error: Exception):
    """Raise a parameter error from a component's constructor without Amaranth also warning
    that the half-built component was never elaborated."""
    component._MustUse__silence = True
    raise error
