"""hw/fixed.py's expressions equal hw.spec's integer functions for every input of small widths."""

import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hw.fixed import rshift_round, saturate
from hw.spec import rshift_round as spec_rshift_round
from hw.spec import saturate as spec_saturate


def evaluate(shape, make, values):
    """The value of make(v) for each v, in amaranth.sim."""
    v = Signal(shape)
    out = Signal(signed(16))
    m = Module()
    m.d.comb += out.eq(make(v))
    got = []

    async def bench(ctx):
        for x in values:
            ctx.set(v, x)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("width,bits", [(7, 4), (5, 5), (4, 6), (9, 2)])
def test_saturate_signed_equals_the_spec(width, bits):
    values = list(range(-(1 << (width - 1)), 1 << (width - 1)))
    assert evaluate(signed(width), lambda v: saturate(v, bits), values) == [spec_saturate(x, bits) for x in values]


@pytest.mark.parametrize("width,bits", [(6, 4), (3, 4)])
def test_saturate_unsigned_equals_the_spec(width, bits):
    values = list(range(1 << width))
    assert evaluate(unsigned(width), lambda v: saturate(v, bits), values) == [spec_saturate(x, bits) for x in values]


@pytest.mark.parametrize("shift", [-2, 0, 1, 3])
def test_rshift_round_equals_the_spec(shift):
    values = list(range(-64, 64))
    assert evaluate(signed(7), lambda v: rshift_round(v, shift), values) == \
        [spec_rshift_round(x, shift) for x in values]
