"""A per-step readout (configuration readout "step"): after every step the core reads out that
step's events alone, logits_t = b_out + y_t W_out, only the rows of units that fired. On random
small models (1 and 2 layers, 1, 2 and 4 lanes, sparse and dense memories, both pipelines) every
step's logits and class equal the golden model's step_logits, every readout's cycle count
equals the cycle model's, and the events and step cycles stay what they are with the
sequence readout."""

import dataclasses

import pytest
import torch

from hw.core import EGRUCore
from hw.spec import EGRUConfig
from sim.amaranth_run import run_core
from sw import cycles
from sw.golden import Stepper, events, run
from sw.hwimage import image_from_params
from tests.random_models import random_config, random_inputs, random_params

CASES = [(layers, lanes, memory, pipeline) for layers in (1, 2) for lanes in (1, 2, 4)
         for memory, pipeline in (("sparse", "short"), ("sparse", "deep"), ("dense", "short"))]


def per_step_model(seed, layers, memory, pipeline="short"):
    """The first lively random model from ``seed`` (events in every layer, not every unit)."""
    for s in range(seed, seed + 50):
        cfg = random_config(s, layers=layers, memory=memory, pipeline=pipeline, readout="step")
        p = random_params(cfg, s, prune=0.5 if memory == "sparse" else 0.0)
        x = random_inputs(cfg, s, 2, 6)
        res = run(cfg, p, x)
        if all(0 < int(r.o.sum()) < r.o.numel() for r in res.layers):
            return cfg, p, x, res
    raise AssertionError("no lively random model found")


def test_golden_step_logits_are_each_steps_events_through_the_readout():
    cfg, p, x, res = per_step_model(3, 2, "sparse")
    y = res.layers[-1].y
    for t in range(x.shape[1]):
        want = p.readout_bias + y[:, t] @ p.readout_weight
        assert torch.equal(res.step_logits[:, t], want)
    assert torch.equal(res.logits, res.step_logits[:, -1])
    # the same model with the sequence readout reads the summed events once
    seq = run(dataclasses.replace(cfg, readout="sequence"), p, x)
    assert seq.step_logits is None
    assert torch.equal(seq.logits, p.readout_bias + y.sum(dim=1) @ p.readout_weight)
    assert [r.y.tolist() for r in seq.layers] == [r.y.tolist() for r in res.layers]


def test_a_per_step_readout_sizes_its_registers_for_one_step():
    cfg = EGRUConfig(input_size=4, hidden_size=8, num_classes=3, max_steps=4096)
    assert dataclasses.replace(cfg, readout="step").readout_acc_bits < cfg.readout_acc_bits
    with pytest.raises(ValueError, match="readout must be one of"):
        dataclasses.replace(cfg, readout="every")


@pytest.mark.parametrize("layers,lanes,memory,pipeline", CASES, ids=[f"L{a}-P{b}-{c}-{d}" for a, b, c, d in CASES])
def test_every_steps_readout_equals_the_golden_model_and_the_cycle_model(layers, lanes, memory, pipeline):
    cfg, p, x, want = per_step_model(40 + 7 * layers + lanes, layers, memory, pipeline)
    image = image_from_params(cfg, p, lanes=lanes)
    got = run_core(EGRUCore(image), [s.tolist() for s in x], seed=lanes, backpressure=0.3 if lanes == 2 else 0.0)
    for i in range(x.shape[0]):
        g = got[i]
        assert g["events"] == events(want, i), f"sequence {i}: events"
        assert len(g["readouts"]) == x.shape[1], f"sequence {i}: one readout per step"
        model = cycles.sequence_cycles(image, x, want, i)
        for t, (ro, step, predicted) in enumerate(zip(g["readouts"], g["steps"], model, strict=True)):
            assert ro["logits"] == want.step_logits[i, t].tolist(), f"sequence {i} step {t}: logits"
            assert ro["class"] == int(want.step_logits[i, t].argmax()), f"sequence {i} step {t}: class"
            assert ro["readout"]["cycles"] == cycles.readout_cycles(image, want, i, t), f"step {t}: readout cycles"
            assert step["cycles"] == predicted.total, f"sequence {i} step {t}: cycles"
        assert cycles.readouts(image, want, i) == [ro["readout"]["cycles"] for ro in g["readouts"]]


def test_the_golden_stepper_equals_the_whole_sequence_run():
    for readout in ("step", "sequence"):
        cfg, p, x, _ = per_step_model(5, 2, "sparse")
        cfg = dataclasses.replace(cfg, readout=readout)
        res = run(cfg, p, x)
        stepper = Stepper(cfg, p)
        got = torch.stack([stepper.step(x[1, t]) for t in range(x.shape[1])])
        if readout == "step":
            assert torch.equal(got, res.step_logits[1])
        assert torch.equal(got[-1], res.logits[1])
