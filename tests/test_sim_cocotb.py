"""The generated Verilog on Verilator and Icarus (cocotb) equals the golden and cycle models:
randomized configurations with idle inputs and output backpressure, the trained digits model on
its whole test set, and a model trained on a data set of other sizes. And the testbench does
catch a difference."""

import dataclasses
import os

import numpy as np
import pytest

from gen.verilog import write_verilog
from hw.core import EGRUCore
from sim import runner
from sim.spec import build_spec
from sw.golden import run
from sw.hwimage import image_from_params, load_words
from tests.conftest import egru_json
from tests.random_models import random_config, random_inputs, random_params

CONFIGS = 20
BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-sim")


def random_case(seed):
    """A random configuration: sizes, widths, lanes, pruning, 1-2 layers, dense or sparse, the
    short or the deep pipeline."""
    rng = np.random.default_rng(seed)
    memory = "dense" if seed % 5 == 0 else "sparse"
    cfg = random_config(seed, memory=memory, pipeline="deep" if seed % 3 == 1 else "short")
    p = random_params(cfg, seed, prune=0.0 if memory == "dense" else float(rng.choice([0.2, 0.5, 0.7])))
    lanes = int(rng.choice([1, 2, 3, 4]))
    return cfg, p, lanes


def simulate(cfg, p, lanes, seed, simulator, tmp_path, x=None, **spec_args):
    core = EGRUCore(image_from_params(cfg, p, lanes=lanes), trace=True)
    path = write_verilog(core, str(tmp_path))
    x = random_inputs(cfg, seed, 3, 6) if x is None else x
    spec = build_spec(core, x, run(cfg, p, x), trace=True, seed=seed, **spec_args)
    return runner.run(path, spec, simulator, BUILD, quick_build=True), spec


@pytest.mark.slow
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
@pytest.mark.parametrize("seed", range(CONFIGS), ids=[f"random-{s}" for s in range(CONFIGS)])
def test_random_configuration_equals_golden(simulator, seed, tmp_path):
    cfg, p, lanes = random_case(seed)
    r, spec = simulate(cfg, p, lanes, seed, simulator, tmp_path, idle=0.25, backpressure=0.3)
    messages = [m for s in r.sequences for m in s["mismatches"]]
    assert r.passed, messages or r.log[-3000:]
    assert len(r.sequences) == len(spec["sequences"]) and not messages
    assert [s["class"] for s in r.sequences] == [s["expected"]["class"] for s in spec["sequences"]]


@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_a_wrong_expectation_stops_the_test_naming_step_unit_expected_and_got(simulator, tmp_path):
    cfg, p, lanes = random_case(1)
    core = EGRUCore(image_from_params(cfg, p, lanes=lanes), trace=True)
    path = write_verilog(core, str(tmp_path))
    x = random_inputs(cfg, 1, 2, 6)
    spec = build_spec(core, x, run(cfg, p, x), trace=True)
    event = next(s["expected"]["events"] for s in spec["sequences"] if s["expected"]["events"])
    event_step, event_layer, event_unit, event_value = event[0]
    event[0][3] = event_value + 1  # the model "expects" a different value
    r = runner.run(path, spec, simulator, BUILD, quick_build=True)
    assert not r.passed
    messages = [m for s in r.sequences for m in s["mismatches"]]
    assert messages == [f"step {event_step} layer {event_layer}: expected event [{event_unit}, {event_value + 1}] "
                        f"(unit, value), got unit {event_unit} value {event_value}"]


@pytest.mark.slow
def test_trained_digits_whole_test_set_on_verilator(digits_pruned, tmp_path):
    _, path = digits_pruned
    r = egru_json("sim", str(path), "--simulator", "verilator", "--lanes", "2", "--build-dir", str(tmp_path))
    assert r["samples"] == 360
    assert r["mismatches"] == 0, r["mismatch_messages"]
    assert r["hw_accuracy"] == r["golden_accuracy"]
    for key in ("activity", "cycles_per_step", "bound_cycles_per_step", "dense_cycles_per_step",
                "sim_cycles_per_second"):
        assert r[key] > 0
    assert 0 < r["ideal_bound_cycles_per_step"] <= r["bound_cycles_per_step"]
    assert r["lane_imbalance"] == r["bound_cycles_per_step"] / r["ideal_bound_cycles_per_step"]


@pytest.mark.slow
def test_model_trained_on_other_sizes_runs_through_quantize_and_sim(tmp_path):
    """A user's data set: 5 features, 12 steps, 4 classes (the class sets which feature
    carries a pulse and when)."""
    rng = np.random.default_rng(7)
    n, T, I, C = 240, 12, 5, 4
    y = rng.integers(0, C, n)
    x = rng.normal(0, 0.2, (n, T, I)).astype(np.float32)
    for i in range(n):
        x[i, 2 + 2 * y[i]:5 + 2 * y[i], y[i] % I] += 1.0
    x[np.abs(x) < 0.15] = 0.0  # sparse input: zeros are skipped on chip
    np.savez(tmp_path / "pulses.npz", x_train=x[:180], y_train=y[:180], x_test=x[180:], y_test=y[180:])
    trained = egru_json("train", "--data", str(tmp_path / "pulses.npz"), "--hidden", "12", "--epochs", "30",
                        "--out", str(tmp_path / "pulses.pt"))
    assert trained["test_accuracy"] > 0.5
    q = egru_json("quantize", str(tmp_path / "pulses.pt"), "--out", str(tmp_path / "pulses.egru"), "--qat-epochs", "3")
    r = egru_json("sim", str(tmp_path / "pulses.egru"), "--simulator", "verilator", "--lanes", "3",
                  "--build-dir", str(tmp_path / "b"))
    assert r["samples"] == 60 and r["mismatches"] == 0, r["mismatch_messages"]
    assert r["hw_accuracy"] == r["golden_accuracy"] == q["quant_accuracy"]


@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_load_port_gives_the_verilog_another_model(simulator, tmp_path):
    """The testbench streams model B through the load port of a core generated for model A."""
    cfg = random_config(30, layers=2, memory="dense", lut_bits=6)
    a, b = random_params(cfg, 30, prune=0.0), random_params(cfg, 31, prune=0.0)
    core = EGRUCore(image_from_params(cfg, a, lanes=2), trace=True)
    path = write_verilog(core, str(tmp_path))
    x = random_inputs(cfg, 32, 2, 4)
    spec = build_spec(core, x, run(cfg, b, x), trace=True, load=load_words(image_from_params(cfg, b, lanes=2)))
    r = runner.run(path, spec, simulator, BUILD, quick_build=True)
    assert r.passed and not [m for s in r.sequences for m in s["mismatches"]]
    assert [s["logits"] for s in r.sequences] == run(cfg, b, x).logits.tolist() != run(cfg, a, x).logits.tolist()


PER_STEP_CASES = [("verilator", s) for s in range(4)] + [("icarus", s) for s in range(4, 6)]


@pytest.mark.slow
@pytest.mark.parametrize("simulator,seed", PER_STEP_CASES, ids=[f"{a}-random-{s}" for a, s in PER_STEP_CASES])
def test_per_step_classification_on_random_configurations(simulator, seed, tmp_path):
    """A per-step readout on random configurations (layers, lanes, pruning, pipeline): every
    step's logits, class and readout cycles are checked against the golden and cycle models."""
    cfg, p, lanes = random_case(100 + seed)
    cfg = dataclasses.replace(cfg, readout="step")
    r, spec = simulate(cfg, p, lanes, seed, simulator, tmp_path, idle=0.2, backpressure=0.3)
    messages = [m for s in r.sequences for m in s["mismatches"]]
    assert r.passed, messages or r.log[-3000:]
    want = run(cfg, p, random_inputs(cfg, seed, 3, 6)).step_logits
    assert [s["readouts"] for s in r.sequences] == want.tolist()
