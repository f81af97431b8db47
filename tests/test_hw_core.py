"""The whole core in amaranth.sim on random small models: every event (step, layer, unit, value)
in order, every unit's state on the trace stream, the logits and the class equal the golden
model, and every step's cycle count equals the cycle model, for 1 and 2 layers, 1, 2 and 4
lanes, dense and 50% pruned memories, the short and the deep pipeline, inputs with zeros, with
and without idle input and output backpressure."""

import dataclasses

import pytest
import torch

from hw.core import EGRUCore
from hw.spec.schedule import schedule
from sim.amaranth_run import run_core
from sw import cycles
from sw.golden import events, op_counts, run
from sw.hwimage import image_from_params, load_words
from sw.permute import to_physical
from tests.random_models import random_config, random_inputs, random_params

CASES = [(layers, lanes, memory, pipeline) for layers in (1, 2) for lanes in (1, 2, 4) for memory in ("sparse", "dense")
         for pipeline in ("short", "deep")]


def check_core(seed, layers, lanes, memory, n=2, steps=5, idle=0.0, backpressure=0.0, pipeline="short"):
    cfg = random_config(seed, layers=layers, memory=memory, pipeline=pipeline)
    p = random_params(cfg, seed, prune=0.5 if memory == "sparse" else 0.0)
    x = random_inputs(cfg, seed, n, steps)
    return check_model(cfg, p, x, lanes, seed=seed, idle=idle, backpressure=backpressure)


def check_model(cfg, p, x, lanes, seed=0, idle=0.0, backpressure=0.0):
    """Run x [N, T, I] through the core built for (cfg, p) with ``lanes`` lanes and assert
    that everything equals the golden model and the cycle model (the core numbers units
    physically: a model with a unit order is compared in that order). Returns the event count."""
    n, steps = x.shape[0], x.shape[1]
    layers = cfg.layers
    image = image_from_params(cfg, p, lanes=lanes)
    core = EGRUCore(image, trace=True)
    got = run_core(core, [s.tolist() for s in x], seed=seed, idle=idle, backpressure=backpressure)
    want = run(cfg, p, x)
    phys = to_physical(want, image.unit_order)
    total_events = 0
    for i in range(n):
        g = got[i]
        assert g["events"] == events(phys, i), f"sequence {i}: events differ"
        total_events += len(g["events"])
        trace = {(t, layer, k): (c, o, y) for t, layer, k, c, o, y in g["trace"]}
        assert len(trace) == steps * layers * cfg.hidden_size == len(g["trace"])
        for (t, layer, k), (c, o, y) in trace.items():
            rec = phys.layers[layer]
            expected = (int(rec.c[i, t, k]), int(rec.o[i, t, k]), int(rec.y[i, t, k]))
            assert (c, o, y) == expected, f"sequence {i} step {t} layer {layer} unit {k}: {expected} != {(c, o, y)}"
        assert g["logits"] == want.logits[i].tolist(), f"sequence {i}: logits"
        assert g["class"] == int(want.predictions[i])
        model = cycles.sequence_cycles(image, x, want, i)
        ops = op_counts(cfg, p, x, want)
        readout_macs = cfg.num_classes * want.layers[-1].o[i].sum(dim=1)
        for t, (counter, predicted) in enumerate(zip(g["steps"], model, strict=True)):
            assert counter["cycles"] == predicted.total, f"sequence {i} step {t}: cycles"
            assert counter["input_events"] + counter["recurrent_events"] == sum(predicted.events)
            if cfg.memory == "sparse":  # the dense schedule also routes silent units (y = 0)
                assert counter["macs"] == int(ops["event_macs"][i, t] - readout_macs[t]), f"step {t}: MACs"
        assert g["readout"]["cycles"] == cycles.readout_cycles(image, want, i)
    return total_events


def lively_seed(base, layers, memory):
    """The first seed from ``base`` whose random model has events in every layer (a silent
    model would check nothing of the routing)."""
    for seed in range(base, base + 50):
        cfg = random_config(seed, layers=layers, memory=memory)
        res = run(cfg, random_params(cfg, seed, prune=0.5 if memory == "sparse" else 0.0),
                  random_inputs(cfg, seed, 2, 5))
        if all(0 < int(r.o.sum()) < r.o.numel() for r in res.layers):
            return seed
    raise AssertionError("no lively random model found")


@pytest.mark.parametrize("layers,lanes,memory,pipeline", CASES, ids=[f"L{a}-P{b}-{c}-{d}" for a, b, c, d in CASES])
def test_core_equals_golden_and_cycle_model(layers, lanes, memory, pipeline):
    seed = lively_seed(10 * layers + lanes + (5 if memory == "dense" else 0), layers, memory)
    assert check_core(seed, layers, lanes, memory, pipeline=pipeline) > 0


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("seed", [1, 2])
def test_idle_inputs_and_output_backpressure_change_nothing(seed, pipeline):
    check_core(seed, layers=2, lanes=2, memory="sparse", idle=0.3, backpressure=0.4, pipeline=pipeline)


def test_dense_schedule_costs_the_gru_count_every_step():
    cfg = random_config(4, layers=1, memory="dense")
    p = random_params(cfg, 4, prune=0.0)
    image = image_from_params(cfg, p, lanes=2)
    x = random_inputs(cfg, 4, 1, 4)
    model = cycles.sequence_cycles(image, x, run(cfg, p, x), 0)
    assert model[0].total == cycles.dense_step_cycles(image, first_step=True)
    assert all(s.total == cycles.dense_step_cycles(image) for s in model[1:])


def test_lane_count_must_match_the_layout():
    cfg = random_config(0)
    image = image_from_params(cfg, random_params(cfg, 0), lanes=2)
    bad = dataclasses.replace(image, cfg=dataclasses.replace(image.cfg, lanes=4))
    with pytest.raises(ValueError, match="layout has 2 lanes but the configuration 4"):
        EGRUCore(bad)
    with pytest.raises(TypeError, match="image must be a CoreImage"):
        EGRUCore(cfg)


@pytest.mark.parametrize("pipeline", ["short", "deep"])
def test_load_port_replaces_the_model(pipeline):
    """A core built with model A computes model B after B's memories are streamed through the
    load port (same geometry: dense layout, same configuration; the deep pipeline keeps the
    column pointers in a memory of their own)."""
    cfg = random_config(30, layers=2, memory="dense", lut_bits=6, pipeline=pipeline)
    a, b = random_params(cfg, 30, prune=0.0), random_params(cfg, 31, prune=0.0)
    image_a, image_b = image_from_params(cfg, a, lanes=2), image_from_params(cfg, b, lanes=2)
    x = random_inputs(cfg, 32, 2, 4)
    got = run_core(EGRUCore(image_a), [s.tolist() for s in x], load=load_words(image_b))
    want_a, want_b = run(cfg, a, x), run(cfg, b, x)
    assert [g["logits"] for g in got] == want_b.logits.tolist() != want_a.logits.tolist()
    assert [g["events"] for g in got] == [events(want_b, i) for i in range(2)]


def test_heavy_backpressure_neither_counts_stalls_nor_moves_events_across_sequences():
    """Found in review: a stalled first update issue was counted, and under heavy backpressure
    a sequence's last events could leave after its readout word."""
    # every unit fires (thresholds 0): many events for the output FIFO
    cfg = random_config(0, layers=1, hidden_size=3, num_classes=2)
    p = random_params(cfg, 0)
    for layer in p.layers:
        layer.thr[:] = 0
    x = random_inputs(cfg, 0, 3, 2, zeros=0.0)
    want = run(cfg, p, x)
    image = image_from_params(cfg, p, lanes=1)
    for seed in range(4):
        got = run_core(EGRUCore(image), [s.tolist() for s in x], backpressure=0.95, seed=seed)
        assert [g["events"] for g in got] == [events(want, i) for i in range(3)], f"seed {seed}"
    # a silent model (thresholds 1.0, zero inputs): every route empty, trace FIFO under backpressure
    cfg = random_config(3, layers=2, hidden_size=9)
    p = random_params(cfg, 3)
    for layer in p.layers:
        layer.thr[:] = cfg.one
    x = torch.zeros(1, 4, cfg.input_size, dtype=torch.int64)
    image = image_from_params(cfg, p, lanes=1)
    model = [s.total for s in cycles.sequence_cycles(image, x, run(cfg, p, x), 0)]
    got = run_core(EGRUCore(image, trace=True), [x[0].tolist()], backpressure=0.7, seed=1)
    assert [s["cycles"] for s in got[0]["steps"]] == model


def test_sequences_longer_than_max_steps_are_refused_before_simulation():
    cfg = random_config(0, max_steps=3)
    image = image_from_params(cfg, random_params(cfg, 0), lanes=1)
    with pytest.raises(ValueError, match="4 steps is longer than max_steps 3"):
        run_core(EGRUCore(image), [random_inputs(cfg, 0, 1, 4)[0].tolist()])


@pytest.mark.parametrize("pipeline", ["short", "deep"])
def test_a_load_and_a_peek_offered_together_take_turns(pipeline):
    """Found in review: load and peek share the weight memories' single address, so a peek
    offered with a load must wait; the load's word lands at its own address, and the peek that
    follows reads it back, peek_valid the schedule's peek_latency cycles after it was accepted
    (1 short, 6 deep)."""
    from amaranth.sim import Simulator

    from hw.spec.layout import T_WEIGHT

    cfg = random_config(7, layers=1, lut_bits=6, pipeline=pipeline)
    core = EGRUCore(image_from_params(cfg, random_params(cfg, 7), lanes=1))
    word, addr = 0x15, 1
    seen = {}

    async def bench(ctx):
        ctx.set(core.load.valid, 1)
        ctx.set(core.load.payload, {"target": T_WEIGHT, "lane": 0, "addr": addr, "data": word})
        ctx.set(core.peek.valid, 1)
        ctx.set(core.peek.payload, {"target": T_WEIGHT, "lane": 0, "addr": 0})
        await ctx.delay(1e-9)
        seen["peek_ready_with_load"] = ctx.get(core.peek.ready)
        await ctx.tick()
        ctx.set(core.load.valid, 0)
        ctx.set(core.peek.payload, {"target": T_WEIGHT, "lane": 0, "addr": addr})
        await ctx.delay(1e-9)
        seen["peek_ready_alone"] = ctx.get(core.peek.ready)
        await ctx.tick()
        ctx.set(core.peek.valid, 0)
        for latency in range(1, 9):
            if ctx.get(core.peek_valid):
                seen["latency"], seen["read_back"] = latency, ctx.get(core.peek_data)
                break
            await ctx.tick()

    sim = Simulator(core)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == {"peek_ready_with_load": 0, "peek_ready_alone": 1, "read_back": word,
                    "latency": schedule(pipeline).peek_latency}


@pytest.mark.parametrize("lanes", [1, 2])
def test_negative_thresholds_give_negative_event_sums_and_exact_logits(lanes):
    # a negative threshold fires on negative states, so y and the readout's event sums are
    # negative; with the sequence readout the sum is wider than a DSP operand and the deep
    # pipeline splits its product (its high half must be taken as signed)
    cfg = random_config(5, layers=1, pipeline="deep")
    p = random_params(cfg, 5)
    layer = p.layers[0]
    p.layers[0] = dataclasses.replace(layer, thr=-torch.randint(1, cfg.one // 2, layer.thr.shape,
                                                                generator=torch.Generator().manual_seed(5)))
    want = run(cfg, p, random_inputs(cfg, 5, 2, 5))
    assert (want.layers[0].y < 0).any()
    check_model(cfg, p, random_inputs(cfg, 5, 2, 5), lanes)
