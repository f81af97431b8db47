"""Readout (amaranth.sim), on memories wired as the core wires them: the logits are
b_n + sum_k s_k W_out[k][n] for every class, the class is the first of the largest, and a readout
takes exactly H + readout_scan + C x (nonzero sums + readout_per_class) + readout_final cycles,
whatever the backpressure on ``result``."""

import random

import pytest
from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.core.readout import R_CLASS, R_LOGIT, Readout
from hw.spec import EGRUConfig
from hw.spec.layout import CoreGeometry
from hw.spec.schedule import schedule


def _geometry(lanes: int, pipeline: str, hidden: int = 11, classes: int = 3) -> CoreGeometry:
    cfg = EGRUConfig(input_size=4, hidden_size=hidden, num_classes=classes, lanes=lanes, pipeline=pipeline)
    return CoreGeometry.of_sizes(cfg, columns=4 + hidden, depth=8)


def _bench(g: CoreGeometry, sums: list[int], w_out: list[list[int]], biases: list[int], seed: int):
    """Runs one readout on memories holding ``sums`` (unit k at lane k mod P, word k div P),
    W_out and the biases; returns (result words, cycles counted, cycles from start to done)."""
    P, M, H, C = g.P, g.M, g.H, g.C
    dut = Readout(g)
    mask = (1 << dut.sum_width) - 1
    m = Module()
    m.submodules.dut = dut
    for p in range(P):
        init = [sums[k * P + p] & mask if k * P + p < H else 0 for k in range(M)]
        if p == 0:
            init += [b & mask for b in biases]
        mem = Memory(shape=unsigned(dut.sum_width), depth=len(init), init=init)
        m.submodules[f"sums_{p}"] = mem
        rd, wr = mem.read_port(), mem.write_port()
        # lane 0's bias words take precedence, as in the core
        addr = Mux(dut.bias_sel, M + dut.bias_index, dut.sum_addr) if p == 0 else dut.sum_addr
        m.d.comb += [rd.addr.eq(addr), dut.sum_data[p].eq(rd.data),
                     wr.addr.eq(dut.sum_waddr), wr.data.eq(dut.sum_wdata), wr.en.eq(dut.sum_we[p])]
    wmask = (1 << g.WB) - 1
    w_mem = Memory(shape=unsigned(g.WB), depth=H * C, init=[w_out[k][n] & wmask for k in range(H) for n in range(C)])
    m.submodules.w_out = w_mem
    w_rd = w_mem.read_port()
    m.d.comb += [w_rd.addr.eq(dut.w_addr), dut.w_data.eq(w_rd.data.as_signed())]

    rng = random.Random(seed)
    words, state = [], {}

    async def bench(ctx):
        await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        elapsed = 1
        while True:
            ready = rng.random() < 0.6
            ctx.set(dut.result.ready, ready)
            if ready and ctx.get(dut.result.valid):
                words.append((ctx.get(dut.result.payload.kind), ctx.get(dut.result.payload.index),
                              ctx.get(dut.result.payload.value)))
            done = ctx.get(dut.done)
            await ctx.tick()
            if done:
                break
            elapsed += 1
        state["cycles"], state["elapsed"] = ctx.get(dut.cycles), elapsed

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return words, state["cycles"], state["elapsed"]


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_logits_class_and_cycles(lanes, pipeline):
    g = _geometry(lanes, pipeline)
    rng = random.Random(lanes * 7 + len(pipeline))
    lim = 1 << (g.SB - 1)
    # about half the sums are zero (units that never fired): those rows are skipped
    sums = [rng.choice([0, rng.randrange(-lim, lim)]) for _ in range(g.H)]
    sums[0] = lim - 1  # the largest positive sum, for the widest product
    w_out = [[rng.randrange(-(1 << (g.WB - 1)), 1 << (g.WB - 1)) for _ in range(g.C)] for _ in range(g.H)]
    biases = [rng.randrange(-100, 100) for _ in range(g.C)]
    words, cycles, elapsed = _bench(g, sums, w_out, biases, seed=lanes)

    logits = [biases[n] + sum(sums[k] * w_out[k][n] for k in range(g.H)) for n in range(g.C)]
    best = max(range(g.C), key=lambda n: (logits[n], -n))
    assert words == [(R_LOGIT, n, logits[n]) for n in range(g.C)] + [(R_CLASS, best, logits[best])]
    sched = schedule(pipeline)
    nnz = sum(1 for s in sums if s != 0)
    expected = g.H + sched.readout_scan + g.C * (nnz + sched.readout_per_class) + sched.readout_final
    assert cycles == expected
    assert elapsed >= expected  # the stalls of ``result`` are not counted


@pytest.mark.parametrize("pipeline", ["short", "deep"])
def test_ties_keep_the_lowest_class_and_no_event_gives_the_biases(pipeline):
    g = _geometry(2, pipeline)
    biases = [5, 9, 9]
    words, cycles, _ = _bench(g, [0] * g.H, [[1] * g.C for _ in range(g.H)], biases, seed=0)
    assert words == [(R_LOGIT, n, biases[n]) for n in range(g.C)] + [(R_CLASS, 1, 9)]
    sched = schedule(pipeline)
    assert cycles == g.H + sched.readout_scan + g.C * sched.readout_per_class + sched.readout_final


def test_bad_geometry_is_named():
    with pytest.raises(TypeError, match="Readout: geometry must be a CoreGeometry, got int"):
        Readout(3)
