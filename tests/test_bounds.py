"""The two bounds of the cycle model, named for what they are: the layout bound (each routed
column costs its longest lane list) and the ideal bound (its entries spread evenly over the P
lanes); their ratio is the lane imbalance."""

import re

import pytest

from hw.spec.layout import build
from sw import cycles
from sw.golden import run
from sw.hwimage import image_from_params
from sw.perf import schedule_report
from tests.random_models import random_config, random_inputs, random_params


def test_entries_per_column_are_what_was_stored():
    from hw.spec import EGRUConfig
    cfg = EGRUConfig(input_size=2, hidden_size=8, num_classes=2, lanes=4)
    # column 0: units 0, 4, 1 -> lanes 0, 0, 1: longest list 2, 3 entries; column 1: empty
    kernel = [[(0, 1, 1, 1), (1, 1, 0, 0), (4, 0, 1, 0)], []]
    recurrent = [[(k, 1, 1, 1)] for k in range(8)]
    layout = build(cfg, [kernel], [recurrent])
    assert layout.entries[:2] == (3, 0) and layout.length(0) == 2 and layout.length(1) == 0
    assert layout.entries[2:] == (1,) * 8


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
def test_ideal_bound_is_at_most_the_layout_bound_and_equal_on_one_lane(lanes):
    cfg = random_config(lanes, hidden_size=24, layers=2)
    params = random_params(cfg, lanes, prune=0.6)
    x_q = random_inputs(cfg, lanes, n=6, steps=6)
    image = image_from_params(cfg, params, lanes=lanes)
    res = run(image.cfg, params, x_q)
    for n in range(x_q.shape[0]):
        for s in cycles.sequence_cycles(image, x_q, res, n):
            assert s.ideal_bound <= s.bound
            if lanes == 1:
                assert s.ideal_bound == s.bound
    r = schedule_report(image, params, x_q)
    assert r["lane_imbalance"] == pytest.approx(r["bound_cycles_per_step"] / r["ideal_bound_cycles_per_step"])
    assert r["ratio_to_ideal_bound"] >= r["ratio_to_bound"]


def test_a_balanced_layout_has_no_imbalance():
    """Every column's entries spread 2 per lane over 4 lanes: both bounds agree."""
    from hw.spec import EGRUConfig
    cfg = EGRUConfig(input_size=3, hidden_size=16, num_classes=2, lanes=4)
    cols = [[(k, 1, 1, 1) for k in (c, c + 4, c + 1, c + 5, c + 2, c + 6, c + 3, c + 7)] for c in range(3)]
    layout = build(cfg, [[sorted(col) for col in cols]], [[[] for _ in range(16)]])
    for c in range(3):
        assert layout.length(c) == -(-layout.entries[c] // 4) == 2


def _qat(hidden=12, layers=1):
    import torch

    from sw.datasets import load
    from sw.qat import QATModel
    from sw.quantize import QuantSettings, choose_config
    from sw.train import TrainConfig, build_egru
    data = load(task="digits")
    torch.manual_seed(0)
    model = build_egru(TrainConfig(hidden=hidden, layers=layers), data)
    return QATModel(model, choose_config(model, data.x_train, QuantSettings(), data.steps))


@pytest.mark.parametrize("lanes,hidden,sparsity", [(4, 12, 0.5), (4, 10, 0.5), (3, 12, 0.8), (16, 64, 0.8)],
                         ids=["P4-H12", "P4-H10-uneven", "P3-H12-80", "P16-H64-80"])
def test_balanced_pruning_keeps_the_same_count_in_every_lane_of_every_column(lanes, hidden, sparsity):
    from sw.quantize import prune_to
    qat = _qat(hidden=hidden)
    prune_to(qat, sparsity, balance_lanes=lanes)
    units = [len(range(p, hidden, lanes)) for p in range(lanes)]
    for kind in ("kernel", "recurrent"):
        mask = qat.mask(kind, 0)
        for row in mask:
            kept = [int(row[p::lanes].sum()) for p in range(lanes)]
            # the lanes within one of each other, so the longest list is ceil(entries / P)
            assert max(kept) - min(kept) <= 1, (kind, kept)
            assert max(kept) == -(-sum(kept) // lanes) or all(k == u for k, u in zip(kept, units, strict=True))
        assert int(mask.sum()) == round((1 - sparsity) * mask.numel())  # the fraction, exactly


def test_global_pruning_leaves_lanes_uneven_and_balanced_pruning_does_not():
    from sw.quantize import prune_to
    qat = _qat(hidden=16)
    prune_to(qat, 0.75, balance_lanes=0)
    rows = qat.mask("recurrent", 0)
    assert any(len({int(r[p::4].sum()) for p in range(4)}) > 1 for r in rows)
    prune_to(qat, 0.75, balance_lanes=4)
    assert all(max(c) - min(c) <= 1 for c in ([int(r[p::4].sum()) for p in range(4)] for r in qat.mask("recurrent", 0)))
    assert float(qat.mask("recurrent", 0).mean()) == pytest.approx(0.25)


@pytest.mark.parametrize("kw,message", [({"balance_lanes": 65, "prune": 0.5}, "--balance-lanes must be 0"),
                                        ({"balance_lanes": 4}, "give --prune > 0 with it")])
def test_bad_balance_settings_are_refused(kw, message):
    from sw.quantize import QuantSettings
    with pytest.raises(ValueError, match=re.escape(message)):
        QuantSettings(**kw)
