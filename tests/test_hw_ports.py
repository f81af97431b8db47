"""synchronous_read (amaranth.sim): in both pipelines and for small and large memories, the data
is the word at the address given in the cycle before, and a low enable keeps the word; the deep
pipeline builds a small memory's port as an asynchronous read behind an address register (LUT
RAM, hw/core/ports.py), a large one keeps the memory's own synchronous port."""

import random

import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.core.ports import SMALL_MEMORY, AddressedRead, synchronous_read


def _build(depth, deep):
    m = Module()
    words = [(7 * a + 3) % 251 for a in range(depth)]
    mem = Memory(shape=8, depth=depth, init=words)
    m.submodules.mem = mem
    port = synchronous_read(m, mem, "t", deep)
    addr, en = Signal(range(depth)), Signal(init=1)
    m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
    return m, port, addr, en, words


@pytest.mark.parametrize("deep", [False, True])
@pytest.mark.parametrize("depth", [16, SMALL_MEMORY, 2 * SMALL_MEMORY])
def test_data_is_the_word_of_the_address_of_the_cycle_before_and_a_low_enable_keeps_it(deep, depth):
    m, port, addr, en, words = _build(depth, deep)
    rng = random.Random(depth)
    seen = []

    async def bench(ctx):
        expected = None
        for _ in range(60):
            a, e = rng.randrange(depth), rng.random() < 0.7
            ctx.set(addr, a)
            ctx.set(en, e)
            await ctx.tick()
            if e:
                expected = words[a]
            if expected is not None:
                seen.append((ctx.get(port.data), expected))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) > 40
    assert all(got == want for got, want in seen)


@pytest.mark.parametrize("deep, depth, by_hand", [(False, 16, False), (True, SMALL_MEMORY, True),
                                                  (True, SMALL_MEMORY + 1, False)])
def test_only_a_small_memory_in_the_deep_pipeline_reads_through_an_address_register(deep, depth, by_hand):
    m, port, _, _, _ = _build(depth, deep)
    Fragment.get(m, None)  # (elaborated, as a design would be)
    assert isinstance(port, AddressedRead) == by_hand
