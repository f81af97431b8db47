"""ColumnWalker (amaranth.sim): queued columns are walked back to back, each taking exactly
max(length, 1) cycles and reading its addresses start .. start + length - 1 in order; a
column is walked from the cycle after its write, or with ``bypass`` from the write's own cycle
when the walker is idle with nothing queued."""

import random

import pytest
from amaranth.sim import Simulator

from hw.core.walker import ColumnWalker


def walk(dut, columns, gaps):
    """Write the columns, column i after gaps[i] idle cycles (and only while the queue has
    room); returns (write cycle of each column, (cycle, addr, value, rec) of every read)."""
    written, walked = [], []

    async def bench(ctx):
        queued, cycle, wait = 0, 0, gaps[0]
        while queued < len(columns) or ctx.get(dut.busy) or ctx.get(dut.w_en):
            ctx.set(dut.w_en, 0)
            if queued < len(columns) and wait == 0 and ctx.get(dut.level) < 6:
                start, length, value, rec = columns[queued]
                for name, v in (("w_en", 1), ("w_start", start), ("w_len", length), ("w_value", value), ("w_rec", rec)):
                    ctx.set(getattr(dut, name), v)
                written.append(cycle)
                queued += 1
                wait = gaps[queued] if queued < len(columns) else 0
            elif wait:
                wait -= 1
            if ctx.get(dut.issue):
                walked.append((cycle, ctx.get(dut.addr), ctx.get(dut.value), ctx.get(dut.rec)))
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return written, walked


def expected_walk(columns, written, bypass):
    """Column i starts when it may (its write's cycle with bypass, else the next) and the
    previous column has ended, and reads one address per cycle for max(L, 1) cycles."""
    expected, free = [], 0
    for (start, length, value, rec), w in zip(columns, written, strict=True):
        begin = max(w + (0 if bypass else 1), free)
        expected += [(begin + q, start + q, value, rec) for q in range(length)]
        free = begin + max(length, 1)
    return expected


def random_columns(rng, n=30):
    return [(rng.randrange(900), rng.choice([0, 1, 1, 2, 3, 7, 15]), rng.randrange(-128, 128), rng.randrange(2))
            for _ in range(n)]


@pytest.mark.parametrize("bypass", [False, True], ids=["queued", "bypass"])
@pytest.mark.parametrize("seed", range(3))
def test_columns_follow_each_other_without_a_gap(seed, bypass):
    rng = random.Random(seed)
    dut = ColumnWalker(addr_bits=10, len_bits=4, value_bits=8, depth=8, bypass=bypass)
    columns = random_columns(rng)
    written, walked = walk(dut, columns, [0] * len(columns))
    # the first column starts one cycle after it is written (in that cycle with bypass), and
    # every later one right after the one before: the reads are back to back
    first = 0 if bypass else 1
    assert walked[0][0] == first
    assert walked == expected_walk(columns, written, bypass)
    busy = sum(max(length, 1) for _, length, _, _ in columns)
    assert walked[-1][0] <= first + busy - 1


@pytest.mark.parametrize("bypass", [False, True], ids=["queued", "bypass"])
@pytest.mark.parametrize("seed", range(3))
def test_a_column_written_to_an_idle_walker_starts_at_once_with_bypass(seed, bypass):
    rng = random.Random(100 + seed)
    dut = ColumnWalker(addr_bits=10, len_bits=4, value_bits=8, depth=8, bypass=bypass)
    columns = random_columns(rng)
    gaps = [rng.choice([0, 0, 1, 3, 9]) for _ in columns]  # the walker runs dry now and then
    written, walked = walk(dut, columns, gaps)
    assert walked == expected_walk(columns, written, bypass)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="depth must be an integer >= 2, got 1"):
        ColumnWalker(addr_bits=4, len_bits=4, value_bits=8, depth=1)
    with pytest.raises(TypeError, match="bypass must be a bool, got 1"):
        ColumnWalker(addr_bits=4, len_bits=4, value_bits=8, bypass=1)
