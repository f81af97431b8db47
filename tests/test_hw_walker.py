"""ColumnWalker (amaranth.sim): queued columns are walked back to back, each taking exactly
max(length, 1) cycles and reading its addresses start .. start + length - 1 in order."""

import random

import pytest
from amaranth.sim import Simulator

from hw.core.walker import ColumnWalker


@pytest.mark.parametrize("seed", range(3))
def test_columns_follow_each_other_without_a_gap(seed):
    rng = random.Random(seed)
    dut = ColumnWalker(addr_bits=10, len_bits=4, value_bits=8, depth=8)
    columns = [(rng.randrange(900), rng.choice([0, 1, 1, 2, 3, 7, 15]), rng.randrange(-128, 128), rng.randrange(2))
               for _ in range(30)]
    walked = []  # (cycle, addr, value, rec) of every issued read
    state = {"busy_cycles": 0}

    async def bench(ctx):
        queued = 0
        cycle = 0
        while queued < len(columns) or ctx.get(dut.busy):
            if queued < len(columns) and ctx.get(dut.level) < 6:
                start, length, value, rec = columns[queued]
                for name, v in (("w_en", 1), ("w_start", start), ("w_len", length), ("w_value", value), ("w_rec", rec)):
                    ctx.set(getattr(dut, name), v)
                queued += 1
            else:
                ctx.set(dut.w_en, 0)
            if ctx.get(dut.issue):
                walked.append((cycle, ctx.get(dut.addr), ctx.get(dut.value), ctx.get(dut.rec)))
            state["busy_cycles"] += ctx.get(dut.busy)
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    expected, cycle = [], 1  # the first column reaches the head one cycle after it is written
    for start, length, value, rec in columns:
        expected += [(cycle + q, start + q, value, rec) for q in range(length)]
        cycle += max(length, 1)
    assert walked == expected
    assert state["busy_cycles"] == sum(max(length, 1) for _, length, _, _ in columns)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="depth must be an integer >= 2, got 1"):
        ColumnWalker(addr_bits=4, len_bits=4, value_bits=8, depth=1)
