"""StreamRegister, SkidBuffer and StreamHandoff (amaranth.sim): every beat passes in order with
one cycle of latency, none lost or doubled under random backpressure, at one beat per cycle
(the handoff: per 3) while the consumer is ready; the skid buffer's and the handoff's ready do
not follow the consumer's within a cycle."""

import random

import pytest
from amaranth.sim import Simulator

from hw.stream_reg import SkidBuffer, StreamHandoff, StreamRegister


@pytest.mark.parametrize("kind", [StreamRegister, SkidBuffer], ids=["register", "skid"])
@pytest.mark.parametrize("seed", range(3))
def test_beats_pass_in_order_under_random_valid_and_ready(kind, seed):
    dut = kind(8)
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(200)]
    got, first_out = [], []

    async def bench(ctx):
        i, cycle = 0, 0
        while len(got) < len(sent) and cycle < 2000:
            offer = i < len(sent) and (seed == 0 or rng.random() < 0.7)
            ready = seed == 0 or rng.random() < 0.6
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, sent[i] if offer else 0)
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            if ctx.get(dut.o.valid) and ready:
                got.append(ctx.get(dut.o.payload))
                first_out.append(cycle)
            if offer and ctx.get(dut.i.ready):
                i += 1
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == sent
    if seed == 0:  # always valid and ready: the first beat out in cycle 1, then one per cycle
        assert first_out == list(range(1, len(sent) + 1))


def test_the_skid_buffers_ready_is_registered_and_it_shows_every_held_beat():
    """Within a cycle, i.ready does not change with o.ready; o.valid is high in every cycle from
    the one after a beat was accepted until the beat has left (the command unit relies on it to
    keep a step's events ahead of its counter word)."""
    dut = SkidBuffer(8)
    rng = random.Random(7)
    held = []  # beats inside: accepted, not yet left

    async def bench(ctx):
        n = 0
        for _ in range(400):
            offer, ready = rng.random() < 0.8, rng.random() < 0.4
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, n % 256)
            ctx.set(dut.o.ready, 0)
            await ctx.delay(1e-9)
            ready_when_stalled = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)
            await ctx.delay(1e-9)
            assert ctx.get(dut.i.ready) == ready_when_stalled
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            assert ctx.get(dut.o.valid) == (len(held) > 0)
            assert ctx.get(dut.busy) == (len(held) > 0)
            if held and ready:
                assert ctx.get(dut.o.payload) == held.pop(0)
            if offer and ctx.get(dut.i.ready):
                held.append(n % 256)
                n += 1
            await ctx.tick()
        assert n > 100

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("seed", range(3))
def test_the_handoff_passes_a_holding_sources_beats_in_order_with_registered_handshakes(seed):
    """A source that holds each beat until it is taken, idles at random between beats; a consumer
    ready at random. Every beat arrives once, in order; i.ready is the same whatever o.ready is
    in that cycle; o.payload is i.payload of the cycle before; with both sides always willing a
    beat passes every 3 cycles."""
    dut = StreamHandoff(8)
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(100)]
    got, out_cycles = [], []

    async def bench(ctx):
        i, offering, cycle, before = 0, False, 0, 0
        while len(got) < len(sent) and cycle < 3000:
            if not offering and i < len(sent):
                offering = seed == 0 or rng.random() < 0.5
            ready = seed == 0 or rng.random() < 0.5
            payload = sent[i] if offering else rng.randrange(256)
            ctx.set(dut.i.valid, offering)
            ctx.set(dut.i.payload, payload)
            ctx.set(dut.o.ready, not ready)
            await ctx.delay(1e-9)
            i_ready = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            assert ctx.get(dut.i.ready) == i_ready
            if cycle:
                assert ctx.get(dut.o.payload) == before
            if ctx.get(dut.o.valid) and ready:
                got.append(ctx.get(dut.o.payload))
                out_cycles.append(cycle)
            if offering and i_ready:
                i, offering = i + 1, False
            before = payload
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == sent
    if seed == 0:
        assert out_cycles == list(range(1, 3 * len(sent), 3))


@pytest.mark.parametrize("kind", [StreamRegister, SkidBuffer, StreamHandoff], ids=["register", "skid", "handoff"])
def test_a_shape_is_required(kind):
    with pytest.raises(TypeError, match=f"{kind.__name__}: shape must be a shape"):
        kind("eight")


@pytest.mark.parametrize("kind", [SkidBuffer, StreamHandoff], ids=["skid", "handoff"])
def test_a_layout_stays_a_layout_so_the_payloads_have_fields(kind):
    from amaranth.lib import data

    dut = kind(data.StructLayout({"index": 4, "value": 8}))
    assert len(dut.i.payload.index) == 4 and len(dut.o.payload.value) == 8
    dut._MustUse__silence = True  # (built only to look at its ports)
