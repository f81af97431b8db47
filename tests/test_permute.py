"""The unit order at export (sw/permute.py, `egru quantize --permute-lanes`): it evens out the
lane lists, the model file keeps it, the core computes the user's model in it bit for bit and
cycle for cycle, and what users read keeps their unit numbers."""

import dataclasses

import numpy as np
import pytest
import torch

from sw import cycles, modelfile, permute
from sw.golden import events, run
from sw.hwimage import image_from_params
from tests.random_models import random_config, random_inputs, random_params
from tests.test_hw_core import check_model


def crowded_mask(H=16, P=4, S=12, seed=0):
    """Columns whose entries crowd the units of one lane: the worst case for lane j mod P."""
    rng = np.random.default_rng(seed)
    m = rng.random((S, H)) < 0.15
    m[:, 0::P] |= rng.random((S, H // P)) < 0.8
    return m


def test_balancing_lowers_the_longest_lane_lists_and_never_goes_below_the_ideal():
    m, P = crowded_mask(), 4
    before = permute.layout_cost(m, range(16), P)
    order = permute.balance_order(m, P, seed=1)
    after = permute.layout_cost(m, order, P)
    ideal = int((-(-m.sum(axis=1) // P)).sum())
    assert sorted(order) == list(range(16))
    assert ideal <= after < before
    assert after <= 1.1 * ideal, (before, after, ideal)
    assert permute.balance_order(m, P, seed=1) == order  # deterministic for a seed


def test_one_lane_and_balanced_columns_keep_the_identity():
    m = crowded_mask()
    assert permute.balance_order(m, 1) == tuple(range(16))
    even = np.zeros((4, 8), bool)
    even[:, :4] = True  # units 0..3: one per lane of 4, every column already at its ideal
    assert permute.balance_order(even, 4) == tuple(range(8))


@pytest.mark.parametrize("bad", [[0, 1, 1, 3], [0, 1, 2], [0, 1, 2, 4]])
def test_an_order_that_is_not_a_permutation_is_refused(bad):
    with pytest.raises(ValueError, match="not a permutation of the 4 units"):
        permute.check_order(bad, 4)


def permuted_model(seed, layers, memory="sparse"):
    cfg = random_config(seed, layers=layers, memory=memory, hidden_size=8)
    p = random_params(cfg, seed, prune=0.5 if memory == "sparse" else 0.0)
    g = torch.Generator().manual_seed(seed)
    orders = [tuple(torch.randperm(8, generator=g).tolist()) for _ in range(layers)]
    return cfg, p, permute.with_order(p, orders)


def lively_permuted_model(base, layers):
    """The first seed from ``base`` whose permuted model fires a fair share of events in every
    layer (a quiet model would check little of the renumbering)."""
    for seed in range(base, base + 100):
        cfg, p, q = permuted_model(seed, layers)
        x = random_inputs(cfg, seed, 2, 5)
        res = run(cfg, p, x)
        if all(0.2 < float(r.o.double().mean()) < 0.8 for r in res.layers):
            return seed, cfg, q, x
    raise AssertionError("no lively permuted model found")


def test_the_physical_model_computes_the_users_model_renumbered():
    cfg, p, q = permuted_model(3, layers=2)
    x = random_inputs(cfg, 3, 4, 6)
    want, got = run(cfg, p, x), run(cfg, permute.physical_params(q), x)
    assert torch.equal(got.logits, want.logits)
    phys = permute.to_physical(want, q.unit_order)
    for a, b in zip(got.layers, phys.layers, strict=True):
        assert torch.equal(a.c, b.c) and torch.equal(a.o, b.o) and torch.equal(a.y, b.y)
    assert any(r.o.any() for r in want.layers)


def test_the_model_file_keeps_the_order_and_refuses_a_broken_one(tmp_path):
    cfg, _, q = permuted_model(4, layers=2)
    m = modelfile.loads(modelfile.dumps(cfg, q))
    assert m.params.unit_order == q.unit_order
    assert modelfile.loads(modelfile.dumps(cfg, dataclasses.replace(q, unit_order=None))).params.unit_order is None
    bad = dataclasses.replace(q, unit_order=[q.unit_order[0], (0,) * 8])
    with pytest.raises(modelfile.ModelFileError, match="layer1.unit_order is not a permutation"):
        modelfile.loads(modelfile.dumps(cfg, bad))


@pytest.mark.parametrize("pipeline", ["short", "deep"])
@pytest.mark.parametrize("layers,lanes", [(1, 4), (2, 2)])
def test_the_core_runs_a_permuted_model_bit_and_cycle_exact(layers, lanes, pipeline):
    seed, cfg, q, x = lively_permuted_model(40 + layers, layers)
    cfg = dataclasses.replace(cfg, pipeline=pipeline)
    image = image_from_params(cfg, q, lanes=lanes)
    assert image.unit_order == tuple(q.unit_order)
    assert check_model(cfg, q, x, lanes, seed=seed) > 10


def physical_twin(cfg, q, lanes):
    """The same model laid out in physical order with no order of its own: what the core holds."""
    phys = permute.physical_params(q)
    return phys, image_from_params(cfg, phys, lanes=lanes)


@pytest.mark.parametrize("lanes", [2, 4])
def test_the_cycle_model_of_an_ordered_model_is_that_of_its_physical_twin(lanes):
    seed, cfg, q, x = lively_permuted_model(60, layers=2)
    phys, twin = physical_twin(cfg, q, lanes)
    image = image_from_params(cfg, q, lanes=lanes)
    res, res_phys = run(cfg, q, x), run(cfg, phys, x)
    for n in range(x.shape[0]):
        assert [(s.route, s.update) for s in cycles.sequence_cycles(image, x, res, n)] == \
            [(s.route, s.update) for s in cycles.sequence_cycles(twin, x, res_phys, n)]


def test_the_simulation_spec_expects_the_physical_numbers_the_core_sends():
    from hw.core import EGRUCore
    from sim.spec import build_spec
    seed, cfg, q, x = lively_permuted_model(70, layers=2)
    phys, twin = physical_twin(cfg, q, 2)
    got = build_spec(EGRUCore(image_from_params(cfg, q, lanes=2), trace=True), x, run(cfg, q, x), trace=True)
    want = build_spec(EGRUCore(twin, trace=True), x, run(cfg, phys, x), trace=True)
    assert got["sequences"] == want["sequences"]
    user = [list(e) for e in events(run(cfg, q, x), 0)]
    assert user != got["sequences"][0]["expected"]["events"]  # the numbers do change


def test_quantize_permute_lanes_stores_an_order_that_evens_the_lanes_and_keeps_the_accuracy(digits_run, tmp_path):
    from tests.conftest import egru_json
    plain, moved = str(tmp_path / "plain.egru"), str(tmp_path / "moved.egru")
    common = ("quantize", digits_run[1], "--prune", "0.8", "--qat-epochs", "2")
    a = egru_json(*common, "--out", plain)
    b = egru_json(*common, "--out", moved, "--permute-lanes", "8")
    pl = b["placement"]
    assert b["permute_lanes"] == 8 and pl["lanes"] == 8 and pl["moved_units"] > 0
    assert pl["ideal_entries"] <= pl["padded_entries_permuted"] < pl["padded_entries"]
    assert b["quant_accuracy"] == a["quant_accuracy"]  # the same model, renumbered (QAT is seeded)
    m, n = modelfile.load(plain), modelfile.load(moved)
    assert m.params.unit_order is None and n.params.unit_order is not None
    assert n.meta["unit_order"] == {"lanes": 8}
    for La, Lb in zip(m.params.layers, n.params.layers, strict=True):  # kept in the user's order
        assert torch.equal(La.recurrent, Lb.recurrent) and torch.equal(La.thr, Lb.thr)
    from sw.datasets import load_recorded
    from sw.golden import quantize_inputs
    from sw.perf import schedule_report
    x_q = quantize_inputs(load_recorded(m.meta["data"]).x_test[:60], m.config)
    ra = schedule_report(image_from_params(m.config, m.params, lanes=8), m.params, x_q)
    rb = schedule_report(image_from_params(n.config, n.params, lanes=8), n.params, x_q)
    assert rb["lane_imbalance"] < ra["lane_imbalance"]
    assert rb["ideal_bound_cycles_per_step"] == ra["ideal_bound_cycles_per_step"]


@pytest.mark.parametrize("value", [65, -1, True])
def test_bad_permute_lanes_are_refused(value):
    from sw.quantize import QuantSettings
    with pytest.raises(ValueError, match="--permute-lanes must be 0"):
        QuantSettings(permute_lanes=value)
