"""ResponseWriter (amaranth.sim): values of random sizes at random addresses land in the buffer
least significant byte first, byte b of a value started in cycle n written in cycle n + 1 + b,
``free`` again in n + 1 + nbytes; a poke writes its byte in its own cycle."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import connect
from amaranth.sim import Simulator

from hw.response_writer import ResponseWriter

DEPTH, MAX_BYTES = 40, 4


def harness(registered=False):
    m = Module()
    m.submodules.writer = writer = ResponseWriter(depth=DEPTH, max_bytes=MAX_BYTES, registered=registered)
    m.submodules.mem = mem = Memory(shape=8, depth=DEPTH, init=[])
    connect(m, writer.wr, mem.write_port())
    return m, writer, mem


@pytest.mark.parametrize("registered", [False, True], ids=["plain", "registered"])
@pytest.mark.parametrize("seed", range(3))
def test_values_and_pokes_land_lsb_first_with_the_stated_latency(seed, registered):
    m, writer, mem = harness(registered)
    rng = random.Random(seed)
    expect = {}

    async def bench(ctx):
        cycle = 0
        for _ in range(60):
            while rng.random() < 0.3:  # idle cycles between values
                await ctx.tick()
                cycle += 1
            assert ctx.get(writer.free)
            if rng.random() < 0.3:
                addr, byte = rng.randrange(DEPTH), rng.randrange(256)
                ctx.set(writer.poke, 1)
                ctx.set(writer.poke_addr, addr)
                ctx.set(writer.poke_data, byte)
                await ctx.tick()
                ctx.set(writer.poke, 0)
                cycle += 1
                assert ctx.get(mem.data[addr]) == byte  # written in its own cycle
                expect[addr] = byte
                continue
            n = rng.randint(1, MAX_BYTES)
            at = rng.randrange(DEPTH - n + 1)
            value = rng.randrange(1 << (8 * n))
            ctx.set(writer.start, 1)
            ctx.set(writer.value, value)
            ctx.set(writer.nbytes, n)
            ctx.set(writer.at, at)
            await ctx.tick()
            ctx.set(writer.start, 0)
            if registered:  # a cycle for the request's register
                assert not ctx.get(writer.free) and not ctx.get(writer.wr.en)
                await ctx.tick()
                cycle += 1
            for b in range(n):  # the cycle that writes byte b: not free, port enabled at at + b
                assert not ctx.get(writer.free)
                assert ctx.get(writer.wr.en) and ctx.get(writer.wr.addr) == at + b
                assert ctx.get(writer.wr.data) == (value >> (8 * b)) & 0xFF
                await ctx.tick()
                expect[at + b] = (value >> (8 * b)) & 0xFF
            assert ctx.get(writer.free) and not ctx.get(writer.wr.en)
            cycle += n + 1
        for addr, byte in expect.items():
            assert ctx.get(mem.data[addr]) == byte

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 1, "max_bytes": 4}, "depth must be an integer >= 2, got 1"),
    ({"depth": 16, "max_bytes": 0}, "max_bytes must be an integer >= 1, got 0"),
    ({"depth": 16, "max_bytes": True}, "max_bytes must be an integer >= 1, got True"),
    ({"depth": 16, "max_bytes": 4, "registered": "yes"}, "registered must be a bool, got 'yes'"),
])
def test_bad_parameters_are_refused_by_name(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=f"ResponseWriter: {match}"):
        ResponseWriter(**kwargs)
