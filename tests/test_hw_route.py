"""EventIssuer (amaranth.sim): every event of the lists is issued once, list by list and in
order, one per cycle with credit (empty lists cost nothing); the deep pipeline takes one cycle
more, to register the lengths, and then shows the next event's address in every cycle."""

import random

import pytest
from amaranth.sim import Simulator

from hw.core.route import EventIssuer


def _walk(lengths, pipeline, credit_rate, seed, grow0=False):
    """Runs one walk and returns (issued (seg, pos) in order, cycles with credit before the last
    issue, active cycles until done, addresses seen while the deep walk had credit).

    With ``grow0``, list 0 is empty at the start and has its length from the walk's first cycle
    on, as the input buffer fills until the route starts."""
    dut = EventIssuer(len(lengths), 6, pipeline)
    rng = random.Random(seed)
    out = {"issued": [], "credited": 0, "cycles": 0, "done_before": None}

    async def bench(ctx):
        for s, n in enumerate(lengths):
            ctx.set(dut.lengths[s], 0 if grow0 and s == 0 else n)
            ctx.set(dut.nonempty[s], n != 0 and not (grow0 and s == 0))
        await ctx.delay(1e-9)
        out["done_before"] = ctx.get(dut.done)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.lengths[0], lengths[0])
        ctx.set(dut.nonempty[0], lengths[0] != 0)
        ctx.set(dut.active, 1)
        for _ in range(4 * sum(lengths) + 20):
            credit = rng.random() < credit_rate
            ctx.set(dut.credit, credit)
            await ctx.delay(1e-9)
            if ctx.get(dut.done):
                break
            out["cycles"] += 1
            if credit and len(out["issued"]) < sum(lengths):
                out["credited"] += 1
            if ctx.get(dut.issue):
                out["issued"].append((ctx.get(dut.seg), ctx.get(dut.pos)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("seed", range(4))
def test_every_event_once_in_order_one_per_credited_cycle(pipeline, seed):
    rng = random.Random(seed)
    lengths = [rng.choice([0, 0, 1, 2, 5, 9]) for _ in range(rng.choice([2, 4, 8]))]
    lengths[rng.randrange(len(lengths))] = 3  # at least one event
    credit_rate = 1.0 if seed == 0 else 0.6
    out = _walk(lengths, pipeline, credit_rate, seed)
    assert out["done_before"] == 1
    assert out["issued"] == [(s, q) for s, n in enumerate(lengths) for q in range(n)]
    # every credited cycle issues, but the deep walk's first (the lengths are registered then)
    lost = 1 if pipeline == "deep" else 0
    assert out["credited"] - lost <= len(out["issued"]) <= out["credited"]
    if credit_rate == 1.0:
        # both take one cycle more than the events: the short walk's last finds no more
        # events, the deep walk's first registers the lengths
        assert out["cycles"] == sum(lengths) + 1


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("seed", range(3))
def test_list_0_may_grow_until_the_walks_first_cycle(pipeline, seed):
    lengths = [4, 0, 2, 1] if seed == 0 else [1 + seed, 3, 0, 2]
    out = _walk(lengths, pipeline, 1.0 if seed == 0 else 0.5, seed, grow0=True)
    assert out["issued"] == [(s, q) for s, n in enumerate(lengths) for q in range(n)]


@pytest.mark.parametrize("pipeline", ["short", "deep"])
def test_a_walk_without_events_is_done_at_once(pipeline):
    out = _walk([0, 0, 0, 0], pipeline, 1.0, 0)
    assert out["issued"] == [] and out["cycles"] == 1


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="segments must be an integer >= 1, got 0"):
        EventIssuer(0, 4, "short")
    with pytest.raises(ValueError, match="pipeline must be one of"):
        EventIssuer(2, 4, "fast")
