"""The memory map (hw/spec/memmap.py) as a specification: every model memory has one load-port
target, the targets count up from 0 without a gap, every memory's words fit its homes in the
core as built (short and deep pipeline), the host's load words fill every target's range
exactly once, a load of every word followed by a peek of every word gives them all back (so no
two homes overlap), and the load port and the protocol's bounds are the map's."""

import dataclasses
import os

import pytest

from gen.synth import core_memories, memory_plan
from gen.targets import TARGETS
from hw.core import EGRUCore
from hw.spec import PIPELINES
from hw.spec.layout import CoreGeometry, local_depth, with_depth
from hw.spec.memmap import (
    DATAPATH_WORDS,
    MEMORY,
    MEMORY_MAP,
    SPRAM_ALWAYS,
    Field,
    Home,
    ModelMemory,
    datapath_table,
    evaluate,
    protocol_table,
)
from sw.hwimage import image_from_params, load_words, memory_words
from tests.random_models import random_config, random_params

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = [(seed, lanes, pipeline) for seed, lanes in ((3, 1), (4, 3)) for pipeline in PIPELINES]
IDS = [f"seed{s}-P{p}-{pipe}" for s, p, pipe in CASES]


def image(seed, lanes, pipeline, **overrides):
    cfg = random_config(seed, pipeline=pipeline, **overrides)
    return image_from_params(cfg, random_params(cfg, seed), lanes=lanes)


def test_every_memory_has_its_own_target_and_the_targets_count_up_from_zero():
    targets = [mm.target for mm in MEMORY_MAP]
    assert targets == list(range(len(MEMORY_MAP)))  # in target order, unique, no gap
    assert len(MEMORY) == len(MEMORY_MAP)  # and unique names


def test_every_field_of_every_memory_has_exactly_one_home_in_each_pipeline():
    for mm in MEMORY_MAP:
        for pipeline in PIPELINES:
            housed = [f for h in mm.homes_for(pipeline) for f in (h.fields or [f.name for f in mm.fields])]
            assert sorted(housed) == sorted(f.name for f in mm.fields), (mm.name, pipeline)
            for h in mm.homes_for(pipeline):  # a lane's own home only for a per-lane memory
                assert ("{lane}" in h.memory) == mm.per_lane, (mm.name, h.memory)


@pytest.mark.parametrize("seed,lanes,pipeline", CASES, ids=IDS)
def test_every_home_in_the_built_core_is_deep_and_wide_enough(seed, lanes, pipeline):
    core = EGRUCore(image(seed, lanes, pipeline))
    g = core.geometry
    built = {name: (depth, width) for name, depth, width in core_memories(core)}
    for mm in MEMORY_MAP:
        widths = dict(mm.field_widths(g))
        for h in mm.homes_for(pipeline):
            need_width = sum(widths[f] for f in (h.fields or widths))
            for lane in range(g.P if "{lane}" in h.memory else 1):
                name = h.memory_name(lane)
                assert name in built, f"{mm.name}: the core has no memory {name}"
                depth, width = built[name]
                assert depth >= evaluate(h.offset, g) + mm.depth_of(g), f"{mm.name} in {name}: too shallow"
                assert width >= need_width, f"{mm.name} in {name}: too narrow"


@pytest.mark.parametrize("seed,lanes,pipeline", CASES, ids=IDS)
def test_no_two_tables_share_a_word_of_a_core_memory(seed, lanes, pipeline):
    """Within each core memory, the model memories placed there and the datapath's own words
    (the states, the event sums) occupy disjoint address ranges."""
    g = CoreGeometry(image(seed, lanes, pipeline))
    ranges = {}  # core memory -> [(first, end, what)]
    for pattern, words in DATAPATH_WORDS.items():
        for lane in range(g.P):
            ranges.setdefault(pattern.format(lane=lane), []).append((0, evaluate(words, g), "datapath"))
    for mm in MEMORY_MAP:
        for h in mm.homes_for(pipeline):
            for lane in range(g.P if "{lane}" in h.memory else 1):
                first = evaluate(h.offset, g)
                ranges.setdefault(h.memory_name(lane), []).append((first, first + mm.depth_of(g), mm.name))
    for name, spans in ranges.items():
        spans.sort()
        for (_, end, a), (first, _, b) in zip(spans, spans[1:], strict=False):
            assert end <= first, f"{name}: {a} and {b} overlap"


@pytest.mark.parametrize("seed,lanes,pipeline", CASES, ids=IDS)
def test_the_load_words_write_every_address_of_every_target_exactly_once(seed, lanes, pipeline):
    img = image(seed, lanes, pipeline)
    g = CoreGeometry(img)
    written = {}
    for w in load_words(img):
        key = (w["target"], w["lane"], w["addr"])
        assert key not in written, f"written twice: {key}"
        written[key] = w["data"]
    want = {(mm.target, lane, a) for mm in MEMORY_MAP for lane in range(g.P if mm.per_lane else 1)
            for a in range(mm.depth_of(g))}
    assert set(written) == want
    assert all(0 <= v < 1 << g.data_bits for v in written.values())


def test_the_depths_are_the_models_sizes():
    """The map's formulas against the sizes a model has, counted independently."""
    img = image(5, 2, "short", layers=2)
    g, cfg = CoreGeometry(img), img.cfg
    M = local_depth(cfg, 2)
    sizes = {"pointer": sum(cfg.layer_input_size(layer) + cfg.hidden_size for layer in range(cfg.layers)),
             "weight": len(img.weights.lane_words[0]), "readout_weight": cfg.hidden_size * cfg.num_classes,
             "readout_bias": cfg.num_classes, **{f"lut_{k}": len(v) for k, v in img.luts.items()},
             **{f"bias_{gate}": cfg.layers * M for gate in ("u", "r", "gx", "gh")}, "thr": cfg.layers * M}
    assert {mm.name: mm.depth_of(g) for mm in MEMORY_MAP} == sizes


def test_the_geometry_the_load_port_and_the_protocol_bounds_are_the_maps():
    """CoreGeometry.targets() is what the command unit (BAD_ADDRESS, checked against the
    Verilator build by tests/test_host_fuzz.py), the AXI IP's TARGET_t_DEPTH registers and the
    INFO document read; the load port's address and data reach every word of every memory."""
    img = image(6, 2, "deep")
    g = CoreGeometry(img)
    assert g.targets() == {mm.target: (mm.depth_of(g), mm.per_lane) for mm in MEMORY_MAP}
    assert g.lane_fields == MEMORY["weight"].field_widths(g) and g.ptr_fields == MEMORY["pointer"].field_widths(g)
    for mm in MEMORY_MAP:
        assert mm.depth_of(g) < 1 << g.load_addr_bits and mm.width_of(g) <= g.data_bits, mm.name
    core = EGRUCore(img)
    assert 1 << len(core.load.payload.target) > max(g.targets())


def run_load_then_peek(core, words, load=True):
    """amaranth.sim: every word through the load port (unless not ``load``), then every
    (target, lane, addr) through the peek port, one per cycle; returns the words read back, in
    order."""
    from amaranth.sim import Simulator

    got = []

    async def bench(ctx):
        for w in words if load else ():
            ctx.set(core.load.valid, 1)
            ctx.set(core.load.payload, w)
            await ctx.tick().until(core.load.ready)
        ctx.set(core.load.valid, 0)
        pending = 0
        for w in words:
            ctx.set(core.peek.valid, 1)
            ctx.set(core.peek.payload, {k: w[k] for k in ("target", "lane", "addr")})
            await ctx.delay(1e-9)
            assert ctx.get(core.peek.ready)
            await ctx.tick()
            pending += 1
            if ctx.get(core.peek_valid):
                got.append(ctx.get(core.peek_data))
                pending -= 1
        ctx.set(core.peek.valid, 0)
        for _ in range(8):  # (the words still in the deep pipeline's registers)
            await ctx.tick()
            if pending and ctx.get(core.peek_valid):
                got.append(ctx.get(core.peek_data))
                pending -= 1

    sim = Simulator(core)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_model_loaded_word_by_word_reads_back_word_by_word(pipeline):
    """Another model's every word is loaded into a core built for the first, then every word
    is peeked: each home keeps its words and no home overwrites another's (e.g. the readout
    weights behind the lane weights, the readout biases behind the event sums, the pointers
    behind the states and thresholds in the short pipeline)."""
    first = image(8, 2, pipeline, layers=2, lut_bits=6)
    other = image_from_params(first.cfg, random_params(first.cfg, 9, prune=0.0), lanes=2)
    core = EGRUCore(with_depth(first, max(first.weights.depth, other.weights.depth)))
    words = load_words(other, core.geometry)
    assert len(words) < 2000  # (a small model: the simulation takes seconds)
    got = run_load_then_peek(core, words)
    differ = [(w["target"], w["lane"], w["addr"]) for w, v in zip(words, got, strict=True) if w["data"] != v]
    assert not differ, f"{len(differ)} words read back differently, the first (target, lane, addr): {differ[:5]}"


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_core_reads_back_its_own_model_word_by_word_before_any_load(pipeline):
    """The initial contents through the peek port: a fresh core gives back every load word of
    its own image (tables other than make_lut's included), so what it starts with is what a
    load of the model would write."""
    img = image(10, 2, pipeline, layers=2, lut_bits=6)
    img = dataclasses.replace(img, luts={k: tuple(v[1:] + v[:1]) for k, v in img.luts.items()})
    core = EGRUCore(img)
    words = load_words(img, core.geometry)
    got = run_load_then_peek(core, words, load=False)
    differ = [(w["target"], w["lane"], w["addr"]) for w, v in zip(words, got, strict=True) if w["data"] != v]
    assert not differ, f"{len(differ)} words read back differently, the first (target, lane, addr): {differ[:5]}"


def test_a_formula_names_what_it_cannot_evaluate():
    g = CoreGeometry(image(3, 1, "short"))
    assert evaluate("L * M + 2 ** lut_bits - 1", g) == g.L * g.M + (1 << g.cfg.lut_bits) - 1
    with pytest.raises(KeyError, match="no_such"):
        evaluate("no_such + 1", g)
    with pytest.raises(ValueError, match="only integers"):
        evaluate("H // 2", g)


def test_a_memory_reports_which_home_it_is_in_for_a_pipeline():
    mm = ModelMemory("x", 0, False, "C", "class", (Field("a", "S"), Field("b", "S")),
                     (Home("one_0", "M", ("a",), ("short",)), Home("two_{lane}", "1", ("b",)),
                      Home("three", pipelines=("deep",))), "test")
    assert [h.memory for h in mm.homes_for("short")] == ["one_0", "two_{lane}"]
    assert [h.memory for h in mm.homes_for("deep")] == ["two_{lane}", "three"]
    assert Home("lut_tanh_{lane}").holds("lut_tanh_12") and not Home("lut_tanh_{lane}").holds("lut_tanh_x")
    with pytest.raises(ValueError, match="pipeline"):
        mm.homes_for("fast")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_synthesis_plan_puts_in_spram_only_the_memories_the_map_allows(pipeline):
    """iCE40: every lane's weights (the map: always) and, while SPRAM lasts, the tables the map
    marks; never a memory the map does not mark (it has initial contents or two ports)."""
    core = EGRUCore(image(4, 3, pipeline))
    memories = core_memories(core)
    plan = memory_plan(memories, TARGETS["ice40-up5k"])
    allowed = {name for name, _, _ in memories for mm in MEMORY_MAP if mm.spram for h in mm.homes if h.holds(name)}
    always = {name for name, _, _ in memories for mm in MEMORY_MAP if mm.spram == SPRAM_ALWAYS
              for h in mm.homes if h.holds(name)}
    assert always == {f"weights_{p}" for p in range(3)}
    assert always <= set(plan["spram"]) <= allowed
    assert memory_plan(memories, TARGETS["ecp5-25k"])["spram"] == []


@pytest.mark.parametrize("doc,table", [("docs/protocol.md", protocol_table), ("docs/datapath.md", datapath_table)])
def test_the_documents_show_the_map_as_it_is(doc, table):
    """The documents hold the map's tables verbatim (`python -m hw.spec.memmap` prints them)."""
    with open(os.path.join(ROOT, doc)) as f:
        text = f.read()
    assert table() in text, f"{doc}: the memory map's table differs from hw/spec/memmap.py's; it should read\n{table()}"


def built_initial_words(core) -> dict[str, list[int]]:
    """Every memory of an elaborated core: (its shape, its initial words as the shape holds
    them, padded to its depth), the core's own memories and the update lanes' tables."""
    from amaranth.hdl import Fragment
    from amaranth.lib.memory import Memory

    top = core.elaborate(None)
    modules, found = [top], {}
    for name, _, _ in core.memories:
        lane_table = name.startswith("lut_")
        if lane_table:  # lut_<kind>_<lane>: the table inside update lane <lane>
            kind, lane = name[len("lut_"):].rsplit("_", 1)
            modules.append(top.submodules[f"update_{lane}"].elaborate(None))
            memory = modules[-1].submodules[f"lut_{kind}"]
        else:
            try:
                memory = top.submodules[name]
            except (AttributeError, NameError):
                continue  # a MAC lane's own bank (no model memory)
        if isinstance(memory, Memory):
            found[name] = (memory.shape, (list(memory.init) + [0] * memory.depth)[:memory.depth])
    for module in modules:  # (built into fragments: Amaranth warns of elaboratables never used)
        Fragment.get(module, None)
    core._MustUse__silence = True  # (elaborated by hand above)
    return found


def expected_initial_words(img, g, built) -> dict[str, list[int]]:
    """The words of every model memory (memory_words) at their homes' offsets in the core
    memories the map names, the home's fields of each word, as the memory's shape holds them
    (``built``: the core's memories, built_initial_words)."""
    words = memory_words(img, g)
    want = {}
    for mm in MEMORY_MAP:
        widths = mm.field_widths(g)
        for h in mm.homes_for(g.cfg.pipeline):
            for lane in range(g.P if "{lane}" in h.memory else 1):
                name = h.memory_name(lane)
                target = want.setdefault(name, [0] * len(built[name][1]))
                for a, v in enumerate(words[mm.name][lane if mm.per_lane else 0]):
                    if h.fields:  # the home keeps some of the word's fields, packed from bit 0
                        kept, pos, at = 0, 0, 0
                        for f, w in widths:
                            if f in h.fields:
                                kept |= ((v >> at) & ((1 << w) - 1)) << pos
                                pos += w
                            at += w
                        v = kept
                    target[evaluate(h.offset, g) + a] = v
    for name, target in want.items():
        shape = built[name][0]
        if not shape.signed:  # two's complement in the memory's width
            want[name] = [v & ((1 << shape.width) - 1) for v in target]
    return want


@pytest.mark.parametrize("seed,lanes,pipeline", CASES, ids=IDS)
def test_the_cores_initial_contents_are_the_model_memories_words_through_the_map(seed, lanes, pipeline):
    """A core built from an image starts with every model memory's words (memory_words, the
    load port's words) at its homes in the map, and its tables with the image's (here not
    make_lut's: a model file may carry its own)."""
    img = image(seed, lanes, pipeline)
    img = dataclasses.replace(img, luts={k: tuple(reversed(v)) for k, v in img.luts.items()})
    core = EGRUCore(img)
    got = built_initial_words(core)
    want = expected_initial_words(img, core.geometry, got)
    for mm in MEMORY_MAP:  # every home is a memory of the core
        for h in mm.homes_for(pipeline):
            assert h.memory_name(0) in got, f"{mm.name}: the core has no memory {h.memory_name(0)}"
    for name, words in want.items():
        differ = [a for a, (x, y) in enumerate(zip(got[name][1], words, strict=True)) if x != y]
        assert not differ, f"{name}: {len(differ)} initial words differ from the map's, the first at {differ[:5]}"
