"""RequestReader (amaranth.sim): over two memories with synchronous read ports, ``ok`` rises 2
cycles (registered: 3) after every seek or advance with each memory's byte at ``addr``; gathering
puts a word's bytes, least significant first, at the top of ``word``."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.request_reader import RequestReader

SPAN = 48


def harness(registered, contents):
    m = Module()
    m.submodules.reader = reader = RequestReader(span=SPAN, word_bytes=2, sources=2, registered=registered)
    for s, init in enumerate(contents):
        mem = Memory(shape=8, depth=SPAN, init=init)
        m.submodules[f"mem{s}"] = mem
        rd = mem.read_port()
        m.d.comb += [rd.addr.eq(reader.addr), reader.data[s].eq(rd.data)]
    return m, reader


@pytest.mark.parametrize("registered", [False, True], ids=["plain", "registered"])
def test_bytes_come_with_the_stated_latency_and_words_gather_lsb_first(registered):
    rng = random.Random(int(registered))
    contents = [[rng.randrange(256) for _ in range(SPAN)] for _ in range(2)]
    m, reader = harness(registered, contents)
    wait = 3 if registered else 2

    async def bench(ctx):
        async def move(control, to=None):
            """Pulse ``control`` for one cycle; the cycles until ok (checks the stated latency)."""
            ctx.set(control, 1)
            if to is not None:
                ctx.set(reader.seek_to, to)
            await ctx.tick()
            ctx.set(control, 0)
            for n in range(1, 10):
                if ctx.get(reader.ok):
                    return n
                await ctx.tick()
            raise AssertionError("ok never rose")

        for _ in range(30):
            to = rng.choice([a for a in range(SPAN - 4) if a != ctx.get(reader.addr)])  # a real move
            assert await move(reader.seek, to) == wait
            assert ctx.get(reader.addr) == to
            assert [ctx.get(reader.byte[s]) for s in range(2)] == [contents[s][to] for s in range(2)]
            assert await move(reader.advance) == wait  # skip a byte
            for b in range(2):  # gather the next two bytes of source 0 into a word
                assert ctx.get(reader.addr) == to + 1 + b
                assert await move(reader.gather) == wait
            assert ctx.get(reader.word) == contents[0][to + 1] | contents[0][to + 2] << 8

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"span": 1, "word_bytes": 2}, ValueError, "span must be an integer >= 2, got 1"),
    ({"span": 8, "word_bytes": 0}, ValueError, "word_bytes must be an integer >= 1, got 0"),
    ({"span": 8, "word_bytes": 2, "sources": 0}, ValueError, "sources must be an integer >= 1, got 0"),
    ({"span": 8, "word_bytes": 2, "registered": 1}, TypeError, "registered must be a bool, got 1"),
])
def test_bad_parameters_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=f"RequestReader: {match}"):
        RequestReader(**kwargs)
