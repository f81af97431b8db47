"""The golden model computes docs/arithmetic.md exactly: equal, integer for integer, to a slow
scalar reference on random models; and the QAT forward computes the same integers."""

import pytest
import torch

from sw.fixedpoint import SteOps
from sw.golden import events, forward, op_counts, run
from tests.golden_reference import reference_run
from tests.random_models import random_config, random_inputs, random_params

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"random-model-{s}" for s in SEEDS])
def test_golden_equals_scalar_reference_on_random_models(seed):
    cfg = random_config(seed)
    p = random_params(cfg, seed)
    x = random_inputs(cfg, seed, n=3, steps=7)
    res = run(cfg, p, x)
    fired = 0
    for n in range(x.shape[0]):
        logits, trace = reference_run(cfg, p, x[n].tolist())
        assert res.logits[n].tolist() == logits, f"logits of sequence {n}"
        for layer, steps in enumerate(trace):
            for t, (c, o, y) in enumerate(steps):
                rec = res.layers[layer]
                assert rec.o[n, t].tolist() == o, f"events: seq {n} layer {layer} step {t}"
                assert rec.y[n, t].tolist() == y, f"event values: seq {n} layer {layer} step {t}"
                assert rec.c[n, t].tolist() == c, f"states: seq {n} layer {layer} step {t}"
                fired += sum(o)
    total = sum(r.o.numel() for r in res.layers)
    assert 0 < fired < total, "a useful case has both events and silent units"


@pytest.mark.parametrize("seed", range(6))
def test_qat_forward_computes_the_golden_integers(seed):
    cfg = random_config(seed)
    p = random_params(cfg, seed)
    x = random_inputs(cfg, seed, n=4, steps=6)
    exact = run(cfg, p, x)
    ste = forward(SteOps(), cfg, p.to(torch.float64), x.to(torch.float64))
    assert torch.equal(ste.logits.to(torch.int64), exact.logits)
    assert torch.equal(ste.logits, exact.logits.to(torch.float64))
    for a, b in zip(ste.layers, exact.layers, strict=True):
        assert torch.equal(a.c, b.c.to(torch.float64)) and torch.equal(a.o, b.o.to(torch.float64))


def test_events_come_in_hardware_order_with_their_values():
    cfg = random_config(3, layers=2)
    p = random_params(cfg, 3)
    x = random_inputs(cfg, 3, n=1, steps=5)
    res = run(cfg, p, x)
    ev = events(res, 0)
    assert ev == sorted(ev, key=lambda e: (e[0], e[1], e[2]))
    assert len(ev) == sum(int(r.o.sum()) for r in res.layers)
    for t, layer, k, value in ev:
        assert value == int(res.layers[layer].y[0, t, k]) and value > 0


def test_op_counts_count_stored_entries_of_active_columns():
    cfg = random_config(5, layers=1)
    p = random_params(cfg, 5, prune=0.5)
    x = random_inputs(cfg, 5, n=2, steps=4)
    res = run(cfg, p, x)
    counts = op_counts(cfg, p, x, res)
    H = cfg.hidden_size
    L = p.layers[0]
    for n in range(2):
        for t in range(4):
            expected = 0
            for i in range(cfg.input_size):
                if x[n, t, i] != 0:
                    expected += 3 * sum(any(L.kernel[i, g * H + k] != 0 for g in range(3)) for k in range(H))
            if t > 0:
                for j in range(H):
                    if res.layers[0].o[n, t - 1, j]:
                        expected += 3 * sum(any(L.recurrent[j, g * H + k] != 0 for g in range(3)) for k in range(H))
            expected += cfg.num_classes * int(res.layers[0].o[n, t].sum())
            assert int(counts["event_macs"][n, t]) == expected
    assert counts["dense_macs_per_step"] == 3 * H * (cfg.input_size + H) + H * cfg.num_classes


def test_golden_model_is_deterministic_and_rejects_float_inputs():
    cfg = random_config(7)
    p = random_params(cfg, 7)
    x = random_inputs(cfg, 7, n=5, steps=6)
    assert torch.equal(run(cfg, p, x).logits, run(cfg, p, x).logits)
    with pytest.raises(TypeError, match="inputs must be int64"):
        run(cfg, p, x.double())


def test_sequences_longer_than_max_steps_are_refused():
    cfg = random_config(8, max_steps=4)
    p = random_params(cfg, 8)
    with pytest.raises(ValueError, match="5 steps is longer than the configured max_steps 4"):
        run(cfg, p, random_inputs(cfg, 8, n=1, steps=5))
