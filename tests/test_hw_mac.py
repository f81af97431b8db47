"""MacLane (amaranth.sim): products aligned per layer and event kind, read-modify-write
accumulation exact even when consecutive entries hit the same unit (the forwarding of the last two
sums), the pipeline's latency and busy flag, the real-entry flag, drain and clear."""

import dataclasses
import random

import pytest
from amaranth.sim import Simulator

from hw.core.mac import MacLane
from hw.spec.schedule import schedule
from tests.random_models import random_config


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("seed", range(3))
def test_accumulates_exactly_then_drains_and_clears(seed, pipeline):
    cfg = dataclasses.replace(random_config(seed, layers=2), pipeline=pipeline)
    depth = 5
    dut = MacLane(cfg, depth)
    rng = random.Random(seed)
    # magnitudes small enough that 80 entries cannot overflow banks sized for I + H entries
    wmax, vmax = 1 << (cfg.weight_bits - 3), 1 << (min(cfg.input_bits, cfg.state_bits) - 3)
    layer = rng.randrange(2)
    entries = []
    for _ in range(80):
        k = rng.choice([0, 0, 1, 4]) if rng.random() < 0.5 else rng.randrange(depth)  # many repeats
        entries.append((k, rng.randrange(-vmax, vmax), [rng.randrange(-wmax, wmax) for _ in range(3)],
                        rng.randrange(2)))
    want = {g: [0] * depth for g in ("u", "r", "gx", "gh")}
    limit = 1 << (dut.acc_bits - 1)
    for k, v, (wu, wr, wg), rec in entries:
        shift = cfg.recurrent_shift(layer) if rec else cfg.input_shift(layer)
        want["u"][k] += (v * wu) << shift
        want["r"][k] += (v * wr) << shift
        want["gh" if rec else "gx"][k] += (v * wg) << shift
    assert all(abs(x) < limit for bank in want.values() for x in bank), "test case must fit the banks"
    drained, reals, idle_after = [], [], []

    async def bench(ctx):
        ctx.set(dut.i_layer, layer)
        for k, v, (wu, wr, wg), rec in entries:  # one entry per cycle, back to back
            for name, val in (("i_valid", 1), ("i_k", k), ("i_value", v), ("i_w_u", wu), ("i_w_r", wr),
                              ("i_w_g", wg), ("i_rec", rec)):
                ctx.set(getattr(dut, name), val)
            await ctx.tick()
            reals.append(ctx.get(dut.real))  # reals[c]: in cycle c + 1
        ctx.set(dut.i_valid, 0)
        for cycle in range(1, 8):
            await ctx.tick()
            reals.append(ctx.get(dut.real))
            if not ctx.get(dut.busy):
                idle_after.append(cycle)
                break
        ctx.set(dut.draining, 1)
        for sweep in range(2):  # the second sweep must find every bank cleared
            for m in range(depth + dut.drain_latency):
                ctx.set(dut.d_valid, int(m < depth))
                ctx.set(dut.d_m, min(m, depth - 1))
                await ctx.tick()
                unit = m - (dut.drain_latency - 1)  # the unit asked for drain_latency cycles ago
                if 0 <= unit < depth:
                    drained.append((sweep, unit, [ctx.get(getattr(dut, f"d_a_{g}")) for g in ("u", "r", "gx", "gh")]))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    sched = schedule(pipeline)
    # the last entry (given in cycle 79) is written in cycle 79 + latency; busy falls after it
    # (the short pipeline's read is transparent: it is never busy)
    assert idle_after == [sched.mac_latency if pipeline == "deep" else 1]
    # entry i's flag in cycle i + 1 (short) or i + 2 (deep)
    delay = 2 if pipeline == "deep" else 1
    assert reals[delay - 1:delay - 1 + len(entries)] == [int(any(w)) for _, _, w, _ in entries]
    assert len(drained) == 2 * depth
    for sweep, m, got in drained:
        expected = [want[g][m] for g in ("u", "r", "gx", "gh")] if sweep == 0 else [0, 0, 0, 0]
        assert got == expected, f"sweep {sweep} unit {m}"


def test_bad_depth_is_named():
    with pytest.raises(ValueError, match="depth must be a positive integer, got 0"):
        MacLane(random_config(0), 0)
