"""synchronous_read (amaranth.sim): in both pipelines and for small and large memories, the data
is the word at the address given in the cycle before, and a low enable keeps the word; the deep
pipeline builds a small memory's port as an asynchronous read behind an address register (LUT
RAM, hw/core/ports.py), a large one keeps the memory's own synchronous port. SlicedMemory reads and
writes as one memory, and slice_width cuts only where the ECP5 blocks make it cheap."""

import random

import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.core.ports import SMALL_MEMORY, AddressedRead, SlicedMemory, slice_width, synchronous_read


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


@pytest.mark.parametrize("width,cut", [(29, 9), (28, 18), (30, 4), (5, 4)])
def test_a_sliced_memory_reads_and_writes_as_one_memory(width, cut):
    """SlicedMemory against a plain Memory of the same words, driven alike: random reads with a
    low enable now and then, writes in between; every read word equal, the slices as wide as
    asked (the last one the rest)."""
    depth = 600
    rng = random.Random(width)
    words = [rng.getrandbits(width) for _ in range(depth)]
    m = Module()
    sliced = SlicedMemory(m, "w", depth, width, words, cut)
    plain = Memory(shape=width, depth=depth, init=words)
    m.submodules.plain = plain
    ports = [(sliced.read_port(), sliced.write_port()), (plain.read_port(), plain.write_port())]
    addr, en, waddr, wen, wdata = (Signal(range(depth)), Signal(), Signal(range(depth)), Signal(), Signal(width))
    for rd, wr in ports:
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(en), wr.addr.eq(waddr), wr.en.eq(wen), wr.data.eq(wdata)]
    widths = [m.submodules[f"w_s{i}"].shape.width for i in range(-(-width // cut))]
    assert widths == [cut] * (width // cut) + ([width % cut] if width % cut else [])
    seen = []

    async def bench(ctx):
        for _ in range(300):
            ctx.set(addr, rng.randrange(depth))
            ctx.set(en, rng.random() < 0.8)
            ctx.set(wen, rng.random() < 0.3)
            ctx.set(waddr, rng.randrange(depth))
            ctx.set(wdata, rng.getrandbits(width))
            await ctx.tick()
            seen.append((ctx.get(ports[0][0].data), ctx.get(ports[1][0].data)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len({want for _, want in seen}) > min(100, 1 << (width - 1))  # (many words, not one)
    assert all(got == want for got, want in seen)


@pytest.mark.parametrize("depth,width,cut", [
    (2944, 30, 4),     # 8 slices of 4096 x 4 where a stack of 512 x 36 takes 6 blocks
    (1261, 29, 9),     # 4 slices of 2048 x 9 (a stack: 3 blocks)
    (901, 28, 18),     # 2 slices of 1024 x 18, as many blocks as the stack
    (423, 27, None),   # one block already
    (4361, 29, None),  # 15 slices of 8192 x 2 against 9 stacked blocks: too dear
    (20000, 1, None),  # deeper than any shape
])
def test_a_memory_is_sliced_only_where_the_blocks_allow_it_cheaply(depth, width, cut):
    assert slice_width("ecp5", depth, width) == cut
    assert slice_width(None, depth, width) is None  # (generic Verilog and simulation: never)
