"""The AXI top (hw/axi.py) in amaranth.sim: the AXI4-Lite slave (AW and W in any order, B and R
back-pressure, every response code, registers, INFO, every model memory written and read back
through the load-port map) and the stream adapters (random tvalid and tready pauses; every
event, logit, class and counter equal to the golden and cycle models; cancel; soft reset)."""

import json
import random

import pytest
from amaranth.sim import Simulator

from hw.axi import EGRUAxi
from hw.spec import axi as spec
from hw.spec.layout import CoreImage
from hw.spec.protocol import info_document
from sim.axi_words import BeatChecker, input_beats
from sim.spec import build_spec
from sw.golden import run as golden_run
from sw.hwimage import image_from_params, load_words
from tests.random_models import random_config, random_inputs, random_params


def small_top(seed=3, lanes=2, pipeline="short"):
    cfg = random_config(seed, layers=1, pipeline=pipeline)
    p = random_params(cfg, seed)
    img = image_from_params(cfg, p, lanes=lanes)
    return EGRUAxi(img, clock_ports=False), cfg, p


class Bus:
    """An AXI4-Lite master for amaranth.sim: ``order`` "aw" (address first), "w" (data first)
    or "both"; ``hold`` cycles of bready/rready low before taking a response."""

    def __init__(self, top, ctx):
        self.top, self.ctx = top, ctx

    def s(self, name):
        return getattr(self.top, f"s_axi_{name}")

    async def _channel(self, prefix, values):
        ctx = self.ctx
        for k, v in values.items():
            ctx.set(self.s(k), v)
        ctx.set(self.s(f"{prefix}valid"), 1)
        await ctx.tick().until(self.s(f"{prefix}ready"))
        ctx.set(self.s(f"{prefix}valid"), 0)

    async def write(self, addr, data, order="both", strb=0xF, hold=0):
        ctx = self.ctx
        aw, w = {"awaddr": addr}, {"wdata": data, "wstrb": strb}
        if order == "aw":
            await self._channel("aw", aw)
            await ctx.tick().repeat(3)
            await self._channel("w", w)
        elif order == "w":
            await self._channel("w", w)
            await ctx.tick().repeat(3)
            await self._channel("aw", aw)
        else:
            ctx.set(self.s("awaddr"), addr)
            ctx.set(self.s("wdata"), data)
            ctx.set(self.s("wstrb"), strb)
            ctx.set(self.s("awvalid"), 1)
            ctx.set(self.s("wvalid"), 1)
            pending = {"aw", "w"}
            while pending:
                _, _, awr, wr = await ctx.tick().sample(self.s("awready"), self.s("wready"))
                for ch, ready in (("aw", awr), ("w", wr)):
                    if ready and ch in pending:
                        pending.discard(ch)
                        ctx.set(self.s(f"{ch}valid"), 0)
        return await self._response("b", hold)

    async def read(self, addr, hold=0):
        await self._channel("ar", {"araddr": addr})
        return await self._response("r", hold)

    async def _response(self, ch, hold):
        ctx = self.ctx
        while not ctx.get(self.s(f"{ch}valid")):
            await ctx.tick()
        for _ in range(hold):  # the response must stay while the master is not ready
            await ctx.tick()
            assert ctx.get(self.s(f"{ch}valid")), f"{ch}valid dropped before {ch}ready"
        resp = ctx.get(self.s(f"{ch}resp"))
        data = ctx.get(self.s("rdata")) if ch == "r" else None
        ctx.set(self.s(f"{ch}ready"), 1)
        await ctx.tick()
        ctx.set(self.s(f"{ch}ready"), 0)
        return (resp, data) if ch == "r" else resp


def run_tb(top, bench, *processes):
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    for p in processes:
        sim.add_process(p)
    sim.run()


def test_axi_lite_handshakes_in_any_order_registers_info_and_errors():
    top, cfg, _ = small_top()
    amap, seen = top.map, {}

    async def bench(ctx):
        bus = Bus(top, ctx)
        seen["id"] = await bus.read(amap.offset("ID"), hold=3)
        seen["lanes"] = await bus.read(amap.offset("LANES"))
        seen["input"] = await bus.read(amap.offset("INPUT_SIZE"))
        n = (await bus.read(amap.offset("INFO_LENGTH")))[1]
        words = [(await bus.read(spec.INFO_BASE + 4 * i))[1] for i in range(-(-n // 4))]
        seen["info"] = b"".join(w.to_bytes(4, "little") for w in words)[:n]
        a = amap.mem_address(11, 0, 1)  # a readout bias
        seen["writes"] = [await bus.write(a, v, order=o, hold=h)
                          for v, o, h in ((5, "aw", 0), (-3 & 0xFFFFFFFF, "w", 2), (7, "both", 4))]
        seen["back"] = await bus.read(a, hold=2)
        seen["ro"] = await bus.write(amap.offset("ID"), 1)
        seen["unmapped"] = await bus.read(0x300)  # inside the register space, no register
        seen["bad_target"] = await bus.read(amap.mem_address(15, 0, 0))
        seen["bad_lane"] = await bus.write(amap.mem_address(11, 1, 0), 1)
        seen["bad_word"] = await bus.read(amap.mem_address(11, 0, cfg.num_classes))
        seen["strobe"] = await bus.write(a, 1, strb=0x3)

    run_tb(top, bench)
    assert seen["id"] == (spec.OKAY, spec.MAGIC)
    assert seen["lanes"] == (spec.OKAY, 2) and seen["input"] == (spec.OKAY, cfg.input_size)
    assert seen["info"] == top.info and json.loads(seen["info"])["config"] == cfg.to_dict() | {"lanes": 2}
    assert seen["writes"] == [spec.OKAY] * 3 and seen["back"] == (spec.OKAY, 7)
    assert seen["ro"] == spec.SLVERR and seen["strobe"] == spec.SLVERR
    assert seen["unmapped"][0] == spec.DECERR
    assert seen["bad_target"][0] == seen["bad_lane"] == seen["bad_word"][0] == spec.DECERR


def test_every_memory_written_and_read_back_through_the_load_port_map():
    """A second model is loaded over AXI4-Lite into a core built for the first; every word of
    every memory reads back equal to the model's load words."""
    top, cfg, _ = small_top(seed=5, lanes=1)
    other = image_from_params(cfg, random_params(cfg, 77), lanes=1)
    assert other.weights.depth <= top.core.geometry.depth or pytest.skip("the other model needs more words")
    from hw.spec.layout import with_depth
    words = load_words(with_depth(other, top.core.geometry.depth), top.core.geometry)
    amap, got = top.map, {}

    async def bench(ctx):
        bus = Bus(top, ctx)
        for w in words:
            assert await bus.write(amap.mem_address(w["target"], w["lane"], w["addr"]), w["data"]) == spec.OKAY
        for w in words:
            resp, data = await bus.read(amap.mem_address(w["target"], w["lane"], w["addr"]))
            got[(w["target"], w["lane"], w["addr"])] = (resp, data & ((1 << top.core.geometry.data_bits) - 1))

    run_tb(top, bench)
    assert got == {(w["target"], w["lane"], w["addr"]): (spec.OKAY, w["data"]) for w in words}
    assert isinstance(other, CoreImage)


def stream_case(top, cfg, p, n=3, steps=4, seed=0):
    x = random_inputs(cfg, seed, n, steps)
    return x, build_spec(top.core, x, golden_run(cfg, p, x))


def drive_streams(top, seqs, rng, pause=0.3, on_beat=None, control=None):
    """Processes that send ``seqs`` (lists of beats) on s_axis with random tvalid pauses and take
    m_axis with random tready pauses; ``on_beat(word, last, user)``; ``control(ctx, bus)`` runs
    after the streams, e.g. cancel and soft reset tests."""
    state = {"sent": 0}

    async def source(ctx):
        for beats in seqs:
            for data, last, user in beats:
                while rng.random() < pause:
                    ctx.set(top.s_axis_tvalid, 0)
                    await ctx.tick()
                ctx.set(top.s_axis_tdata, data)
                ctx.set(top.s_axis_tlast, last)
                ctx.set(top.s_axis_tuser, user)
                ctx.set(top.s_axis_tvalid, 1)
                await ctx.tick().until(top.s_axis_tready)
            ctx.set(top.s_axis_tvalid, 0)
            state["sent"] += 1

    async def sink(ctx):
        async for _, _, valid, ready, data, last, user in ctx.tick().sample(
                top.m_axis_tvalid, top.m_axis_tready, top.m_axis_tdata, top.m_axis_tlast, top.m_axis_tuser):
            if valid and ready:
                on_beat(data, last, user)
            ctx.set(top.m_axis_tready, int(rng.random() >= pause))

    return source, sink, state


def test_streams_with_random_pauses_equal_golden_and_cycle_models():
    top, cfg, p = small_top(seed=3, lanes=2)
    x, sp = stream_case(top, cfg, p, n=3, steps=4)
    checker = BeatChecker([s["expected"] for s in sp["sequences"]])
    rng = random.Random(1)
    seqs = [input_beats(s["inputs"], top.map.input_bits) for s in sp["sequences"]]
    source, sink, _ = drive_streams(top, seqs, rng, on_beat=checker.feed)
    regs = {}

    async def bench(ctx):
        await source(ctx)
        while not checker.done:
            await ctx.tick()
        await ctx.tick().repeat(4)
        bus = Bus(top, ctx)
        for name in ("TOTAL_STEPS", "TOTAL_SEQUENCES", "IN_BEATS", "LAST_CLASS", "STEP_CYCLES", "READOUT_CYCLES",
                     "STATUS"):
            regs[name] = (await bus.read(top.map.offset(name)))[1]

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_process(sink)
    sim.run()
    assert checker.done, f"only {checker.n} of {len(checker.expected)} sequences finished"
    assert [m for r in checker.results for m in r["mismatches"]] == []
    last = sp["sequences"][-1]["expected"]
    assert regs == {"TOTAL_STEPS": 12, "TOTAL_SEQUENCES": 3, "IN_BEATS": 12 * cfg.input_size,
                    "LAST_CLASS": last["class"], "STEP_CYCLES": last["cycles"][-1],
                    "READOUT_CYCLES": last["readout_cycles"], "STATUS": 0}


@pytest.mark.parametrize("action", ["cancel", "soft_reset"])
def test_cancel_and_soft_reset_in_the_middle_of_a_sequence(action):
    """Two steps of a sequence, then CANCEL (or SOFT_RESET) while the next step is being
    computed; the following sequence equals the golden model, the model memories are intact."""
    top, cfg, p = small_top(seed=3, lanes=2)
    x, sp = stream_case(top, cfg, p, n=2, steps=4, seed=4)
    expected = [s["expected"] for s in sp["sequences"]]
    checker = BeatChecker(expected)
    beats = [input_beats(s["inputs"], top.map.input_bits) for s in sp["sequences"]]
    first = beats[0][:3 * cfg.input_size]  # three of its four steps
    rng = random.Random(2)
    got = {}

    async def bench(ctx):
        bus = Bus(top, ctx)
        ctx.set(top.m_axis_tready, 1)
        for data, last, user in first:
            ctx.set(top.s_axis_tdata, data)
            ctx.set(top.s_axis_tlast, last)
            ctx.set(top.s_axis_tuser, user)
            ctx.set(top.s_axis_tvalid, 1)
            await ctx.tick().until(top.s_axis_tready)
        ctx.set(top.s_axis_tvalid, 0)
        await ctx.tick().repeat(2)  # the third step is being computed
        got["busy"] = (await bus.read(top.map.offset("STATUS")))[1]
        bit = spec.CTRL_CANCEL if action == "cancel" else spec.CTRL_SOFT_RESET
        assert await bus.write(top.map.offset("CONTROL"), bit) == spec.OKAY
        while (await bus.read(top.map.offset("STATUS")))[1] & (spec.ST_BUSY | spec.ST_CANCEL_PENDING):
            pass
        got["status"] = (await bus.read(top.map.offset("STATUS")))[1]
        checker.abandon()  # whatever the first sequence sent is not checked
        got["first"] = list(checker.results[0]["mismatches"])
        source, _, _ = drive_streams(top, [beats[1]], rng, on_beat=checker.feed)
        await source(ctx)
        while not checker.done:
            await ctx.tick()
        w = load_words(top.core.image, top.core.geometry)[-1]
        got["memory"] = (await bus.read(top.map.mem_address(w["target"], w["lane"], w["addr"])))[1]
        got["word"] = w["data"]

    async def sink(ctx):
        async for _, _, valid, ready, data, last, user in ctx.tick().sample(
                top.m_axis_tvalid, top.m_axis_tready, top.m_axis_tdata, top.m_axis_tlast, top.m_axis_tuser):
            if valid and ready and checker.n >= 1:
                checker.feed(data, last, user)
            ctx.set(top.m_axis_tready, int(rng.random() >= 0.3))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_process(sink)
    sim.run()
    assert got["busy"] & spec.ST_IN_SEQUENCE
    assert got["status"] & spec.ST_IN_SEQUENCE == 0
    assert checker.done and checker.results[1]["mismatches"] == []
    assert checker.results[1]["class"] == expected[1]["class"]
    mask = (1 << top.core.geometry.data_bits) - 1
    assert got["memory"] & mask == got["word"]


def test_parameters_are_validated():
    with pytest.raises(TypeError, match="CoreImage"):
        EGRUAxi("not an image")
    top, _, _ = small_top()
    with pytest.raises(TypeError, match="version must be a string"):
        EGRUAxi(top.core.image, version=3)
    with pytest.raises(TypeError, match="clock_ports"):
        EGRUAxi(top.core.image, clock_ports="yes")
    assert info_document(top.map.wire, 0, "0") == top.info


def test_input_checks_set_sticky_status_bits_and_clear():
    """A beat whose bits above input_bits are not its sign, and a step with one beat too many:
    RANGE_ERROR and LENGTH_ERROR stay set until CONTROL.CLEAR_ERRORS; the extra beat is dropped."""
    top, cfg, p = small_top(seed=3, lanes=2)
    got = {}
    width = top.map.input_bits

    async def bench(ctx):
        bus = Bus(top, ctx)
        ctx.set(top.m_axis_tready, 1)
        beats = [(0, 0, 0)] * cfg.input_size + [(1, 1, 1)]  # one beat too many, the last ends the sequence
        if cfg.input_bits < width:
            beats[0] = ((1 << (width - 1)) | 1, 0, 0)  # the top bit set, the value's sign bit clear
        for data, last, user in beats:
            ctx.set(top.s_axis_tdata, data)
            ctx.set(top.s_axis_tlast, last)
            ctx.set(top.s_axis_tuser, user)
            ctx.set(top.s_axis_tvalid, 1)
            await ctx.tick().until(top.s_axis_tready)
        ctx.set(top.s_axis_tvalid, 0)
        await ctx.tick().repeat(5)
        got["status"] = (await bus.read(top.map.offset("STATUS")))[1]
        got["beats"] = (await bus.read(top.map.offset("IN_BEATS")))[1]
        await bus.write(top.map.offset("CONTROL"), spec.CTRL_CLEAR_ERRORS)
        got["cleared"] = (await bus.read(top.map.offset("STATUS")))[1]

    run_tb(top, bench)
    assert got["status"] & spec.ST_LENGTH_ERROR
    if cfg.input_bits < width:
        assert got["status"] & spec.ST_RANGE_ERROR
    assert got["beats"] == cfg.input_size + 1
    assert got["cleared"] & (spec.ST_RANGE_ERROR | spec.ST_LENGTH_ERROR | spec.ST_STEPS_ERROR) == 0
