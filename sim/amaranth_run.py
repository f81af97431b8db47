"""Drive an EGRUCore in amaranth.sim (in-process, no Verilog): stream sequences in, collect every output stream, and
unpack the words into plain tuples the tests compare with the golden and cycle models."""

import random

from amaranth.sim import Simulator

from hw.core import C_READOUT, C_STEP, R_CLASS, EGRUCore
from hw.fixed import reject
from sim.words import input_words, layout_fields, unpack


def run_core(core: EGRUCore, sequences, *, seed=0, idle=0.0, backpressure=0.0, load=()):
    """``load``: words sent through the load port before the sequences.
    Returns per sequence {"events": [(step, layer, k, y)], "trace": [(step, layer, k, c, o, y)],
    "logits": [...], "class": int, "steps": [counter dicts], "readout": counter dict,
    "readouts": [{"logits", "class", "readout"}: one, or one per step with a per-step readout]}
    ("logits", "class" and "readout" are the last readout's). Unit numbers k are the core's
    physical ones (sw.permute.to_physical renumbers a golden run to match)."""
    rng = random.Random(seed)
    P = core.geometry.P
    too_long = [len(s) for s in sequences if len(s) > core.geometry.cfg.max_steps]
    if too_long:  # the core does not check; its readout sums would overflow
        reject(core, ValueError(f"a sequence of {too_long[0]} steps is longer than max_steps "
                                f"{core.geometry.cfg.max_steps}"))  # (reject: the core is never elaborated)
    results = [dict(events=[], trace=[], logits=[], steps=[], readouts=[]) for _ in sequences]
    per_step = core.geometry.cfg.per_step
    done = {"seq": 0}

    async def driver(ctx):
        for w in load:  # load-port words first (sw.hwimage.load_words)
            ctx.set(core.load.valid, 1)
            ctx.set(core.load.payload.as_value(), core.load_layout.const(w).as_value().value)
            await ctx.tick().until(core.load.ready)
        ctx.set(core.load.valid, 0)
        dense = core.geometry.cfg.memory == "dense"
        for words in (input_words(s, zeros=dense) for s in sequences):
            for w in words:
                while idle and rng.random() < idle:
                    ctx.set(core.inputs.valid, 0)
                    await ctx.tick()
                ctx.set(core.inputs.valid, 1)
                ctx.set(core.inputs.payload.as_value(), core.input_layout.const(w).as_value().value)
                await ctx.tick().until(core.inputs.ready)
            ctx.set(core.inputs.valid, 0)
        while done["seq"] < len(sequences):
            await ctx.tick()

    def monitor(stream, layout, sink):
        fields = layout_fields(layout)

        async def process(ctx):
            ctx.set(stream.ready, 1)
            async for _, _, valid, ready, payload in ctx.tick().sample(stream.valid, stream.ready,
                                                                       stream.payload.as_value()):
                if valid and ready:
                    sink(unpack(fields, payload))
                ctx.set(stream.ready, 0 if backpressure and rng.random() < backpressure else 1)
        return process

    def on_event(w):
        r = results[done["seq"]]
        for p in range(P):
            if (w["fire"] >> p) & 1:
                r["events"].append((w["step"], w["layer"], w["m"] * P + p, w["y"][p]))

    def on_trace(w):
        r = results[done["seq"]]
        for p in range(P):
            k = w["m"] * P + p
            if k < core.geometry.H:
                r["trace"].append((w["step"], w["layer"], k, w["c"][p], (w["o"] >> p) & 1, w["y"][p]))

    def on_result(w):
        r = results[done["seq"]]
        if not r["readouts"] or "readout" in r["readouts"][-1]:
            r["readouts"].append({"logits": []})
        ro = r["readouts"][-1]
        if w["kind"] == R_CLASS:
            ro["class"] = r["class"] = w["index"]
        else:
            ro["logits"].append(w["value"])
            r["logits"] = ro["logits"]

    def on_counter(w):
        seq = done["seq"]
        r = results[seq]
        if w["kind"] == C_STEP:
            r["steps"].append(w)
        elif w["kind"] == C_READOUT:
            r["readout"] = r["readouts"][-1]["readout"] = w
            if not per_step or len(r["readouts"]) == len(sequences[seq]):
                done["seq"] += 1

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_process(monitor(core.events, core.event_layout, on_event))
    sim.add_process(monitor(core.result, core.result_layout, on_result))
    sim.add_process(monitor(core.counters, core.counter_layout, on_counter))
    if core.has_trace:
        sim.add_process(monitor(core.trace, core.trace_layout, on_trace))
    sim.run()
    return results
