"""UART (amaranth.sim): bytes sent by UARTTx arrive unchanged at UARTRx, back to back, for
several divisors; each bit lasts exactly `divisor` cycles; a broken stop bit is a framing
error and the receiver recovers; a receiver whose consumer stalls counts overruns."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.uart import UARTRx, UARTTx


def loopback(divisor, data, ready=lambda i: True):
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    m.submodules.rx = rx = UARTRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    got, line, counts = [], [], {}

    async def bench(ctx):
        for b in data:
            ctx.set(tx.bytes.valid, 1)
            ctx.set(tx.bytes.payload, b)
            await ctx.tick().until(tx.bytes.ready)
        ctx.set(tx.bytes.valid, 0)
        for _ in range(12 * divisor):
            await ctx.tick()
        counts.update(errors=ctx.get(rx.errors), overruns=ctx.get(rx.overruns))

    async def sink(ctx):
        i = 0
        async for _, _, valid, payload, t in ctx.tick().sample(rx.bytes.valid, rx.bytes.payload, tx.tx):
            line.append(t)
            r = ready(i)
            if valid and r:
                got.append(payload)
            ctx.set(rx.bytes.ready, int(ready(i + 1 if valid and r else i)))
            i += int(valid and r)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(sink)
    sim.run()
    return got, line, counts


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_bytes_arrive_unchanged_back_to_back(divisor):
    data = random.Random(divisor).randbytes(40)
    got, line, counts = loopback(divisor, data)
    assert bytes(got) == data and counts == {"errors": 0, "overruns": 0}
    # every level on the line lasts a whole number of bit periods
    runs, n = [], 1
    for a, b in zip(line, line[1:], strict=False):
        if a == b:
            n += 1
        else:
            runs.append(n)
            n = 1
    assert all(r % divisor == 0 for r in runs[1:])  # the first run is the idle line


def test_framing_error_is_counted_and_the_receiver_recovers():
    divisor = 8
    rx = UARTRx(divisor)
    got = []

    async def bench(ctx):
        def bits(byte, stop):
            return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]
        ctx.set(rx.bytes.ready, 1)
        for level in [1] * 20 + bits(0x5A, 0) + [0] * 5 + [1] * 3 + bits(0xC3, 1) + [1] * 3:
            ctx.set(rx.rx, level)
            for _ in range(divisor):
                await ctx.tick()
                if ctx.get(rx.bytes.valid):
                    got.append(ctx.get(rx.bytes.payload))

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [0xC3]


def test_a_stalled_consumer_loses_bytes_and_counts_them():
    got, _, counts = loopback(6, bytes(range(10)), ready=lambda i: i < 3)
    assert bytes(got) == bytes(range(3))
    assert counts["overruns"] == 6 and counts["errors"] == 0  # byte 3 waits in the register


def test_bad_divisor_is_named():
    with pytest.raises(ValueError, match="must be an integer >= 4, got 2"):
        UARTRx(2)
    with pytest.raises(ValueError, match="must be an integer >= 4, got 1.5"):
        UARTTx(1.5)
