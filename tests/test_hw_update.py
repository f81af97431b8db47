"""UpdateLane (amaranth.sim): LUTs, c_hat and the threshold unit equal docs/arithmetic.md for
random units, one per cycle, in the short and the deep pipeline, with the latency hw.spec.schedule
states, the state and the threshold given its update_lane_late cycles after the accumulators."""

import dataclasses
import random

import pytest
from amaranth.sim import Simulator

from hw.core.update import UpdateLane
from hw.spec import LUT_KINDS, lut_index, make_lut, rshift_round, saturate
from hw.spec.schedule import schedule
from tests.random_models import random_config


def reference_update(cfg, layer, a_u, a_r, a_gx, a_gh, biases, c, thr):
    luts = {k: make_lut(k, cfg) for k in LUT_KINDS}
    P, F, S = cfg.preact_bits, cfg.state_frac, cfg.state_bits
    d = cfg.acc_frac(layer) - cfg.preact_frac
    pu, pr, pgx, pgh = (saturate(rshift_round(a, d) + b, P)
                        for a, b in zip((a_u, a_r, a_gx, a_gh), biases, strict=True))
    u = luts["update"][lut_index(pu, cfg, cfg.sigmoid_frac)]
    r = luts["sigmoid"][lut_index(pr, cfg, cfg.sigmoid_frac)]
    pg = saturate(pgx + rshift_round(r * pgh, F), P)
    g = luts["tanh"][lut_index(pg, cfg, cfg.tanh_frac)]
    c_hat = saturate(g + rshift_round(u * (c - g), F), S)
    fire = c_hat > thr
    return int(fire), (c_hat if fire else 0), (c_hat - thr if fire else c_hat)


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("seed", range(4))
def test_update_lane_equals_the_spec_one_unit_per_cycle(seed, pipeline):
    cfg = dataclasses.replace(random_config(seed, layers=2), pipeline=pipeline)
    dut = UpdateLane(cfg)
    sched = schedule(pipeline)
    rng = random.Random(seed)
    acc_lim = 1 << (max(cfg.acc_bits(0), cfg.acc_bits(1)) - 2)
    cases = []
    for i in range(60):
        layer = rng.randrange(2)
        scale = 1 << (cfg.acc_frac(layer) + rng.randrange(0, 4))  # around +-1..8 in real units
        a = [max(-acc_lim, min(acc_lim, rng.randint(-scale, scale))) for _ in range(4)]
        lim = cfg.bias_limit(layer)
        b = tuple(rng.randint(-lim, lim - 1) if i % 7 == 0 else rng.randint(-lim // 8, lim // 8) for _ in range(4))
        c = rng.randint(-cfg.one, cfg.one)
        thr = rng.randint(0, cfg.one)
        cases.append((layer, *a, c, thr, i % 256, b))
    got, latencies = [], set()

    async def bench(ctx):
        for cycle, case in enumerate(cases + [None] * (sched.update_lane_latency + 1)):
            if case is not None:
                layer, au, ar, agx, agh, c, thr, tag, b = case
                ctx.set(dut.i_valid, 1)
                for name, v in zip(("i_layer", "i_a_u", "i_a_r", "i_a_gx", "i_a_gh", "i_tag",
                                    "i_b_u", "i_b_r", "i_b_gx", "i_b_gh"),
                                   (layer, au, ar, agx, agh, tag, *b), strict=True):
                    ctx.set(getattr(dut, name), v)
            else:
                ctx.set(dut.i_valid, 0)
            # a unit's state and threshold follow UpdateLane.LATE cycles after its accumulators
            late = cycle - sched.update_lane_late
            if 0 <= late < len(cases):
                ctx.set(dut.i_c, cases[late][5])
                ctx.set(dut.i_thr, cases[late][6])
            else:  # anything else must not leak into a unit
                ctx.set(dut.i_c, rng.randint(-cfg.one, cfg.one))
                ctx.set(dut.i_thr, rng.randint(0, cfg.one))
            await ctx.delay(1e-9)
            if ctx.get(dut.o_valid):
                got.append((ctx.get(dut.o_tag), ctx.get(dut.o_fire), ctx.get(dut.o_y), ctx.get(dut.o_c)))
                latencies.add(cycle - (len(got) - 1))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == len(cases)
    assert latencies == {sched.update_lane_latency} == {dut.latency} == {6 if pipeline == "short" else 14}
    fired = 0
    for (layer, au, ar, agx, agh, c, thr, tag, b), (gtag, fire, y, c_new) in zip(cases, got, strict=True):
        assert gtag == tag
        assert (fire, y, c_new) == reference_update(cfg, layer, au, ar, agx, agh, b, c, thr), f"unit {tag}"
        fired += fire
    assert 0 < fired < len(cases)


def test_bad_parameters_are_named():
    with pytest.raises(TypeError, match="cfg must be an EGRUConfig"):
        UpdateLane({"hidden_size": 3})
    with pytest.raises(ValueError, match="tag_bits must be a positive integer, got 0"):
        UpdateLane(random_config(0), tag_bits=0)
    cfg = random_config(0)
    short = {k: make_lut(k, cfg)[:-1] for k in LUT_KINDS}
    with pytest.raises(ValueError, match=f"the update table must have {1 << cfg.lut_bits} integer entries"):
        UpdateLane(cfg, luts=short)
    wide = {k: [1 << cfg.state_bits] * (1 << cfg.lut_bits) for k in LUT_KINDS}
    with pytest.raises(ValueError, match="entries in"):
        UpdateLane(cfg, luts=wide)


@pytest.mark.parametrize("pipeline", ["short", "deep"])
def test_a_table_entry_is_read_back_with_its_latency_and_the_deep_lane_gives_zero_unasked(pipeline):
    """The host's read-back of the tables: lut_read with lut_sel and lut_addr in cycle n gives
    the entry in cycle n + 1 (short) or n + 2 (deep); the deep lane's word is 0 two cycles after a
    cycle without lut_read, so that the core can OR the lanes' words instead of choosing one."""
    cfg = dataclasses.replace(random_config(3), pipeline=pipeline)
    dut = UpdateLane(cfg)
    luts = {k: make_lut(k, cfg) for k in LUT_KINDS}
    rng = random.Random(3)
    asks = [(rng.random() < 0.6, rng.randrange(len(LUT_KINDS)), rng.randrange(1 << cfg.lut_bits)) for _ in range(80)]
    delay = 2 if pipeline == "deep" else 1
    seen = []

    async def bench(ctx):
        for read, sel, addr in asks + [(False, 0, 0)] * 3:
            ctx.set(dut.lut_read, read)
            ctx.set(dut.lut_sel, sel)
            ctx.set(dut.lut_addr, addr)
            await ctx.tick()
            seen.append(ctx.get(dut.lut_q))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for n, (read, sel, addr) in enumerate(asks):
        got = seen[n + delay - 1]
        if read:
            assert got == luts[LUT_KINDS[sel]][addr], (n, sel, addr)
        elif pipeline == "deep":
            assert got == 0, n
