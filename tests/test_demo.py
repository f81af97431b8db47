"""`egru demo`: the shipped model, threshold scaling, the plots, and the whole pipeline on the
embedded default (without synthesis, which tests/test_synth.py covers)."""

import dataclasses

import pytest
import torch

from gen import cmd_demo, cmd_train, plots
from sw import checkpoint
from sw.activity import scale_thresholds, threshold_sweep
from sw.datasets import load
from sw.quantize import golden_eval
from sw.train import TrainConfig, evaluate
from tests.conftest import egru_json
from tests.random_models import random_config, random_params

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("reg", [None, *cmd_demo.ACTIVITY_REG])
def test_shipped_models_are_the_default_training_run_and_report_their_own_accuracy(reg):
    """digits.pt is `egru train --task digits --hidden 64 --baseline`; digits-arA.pt the same
    with --activity-reg A. Their recorded metrics are what they measure."""
    path = cmd_demo.SHIPPED_MODEL if reg is None else cmd_demo.regularised_model(reg)
    model, blob = checkpoint.load(path)
    expected = dataclasses.replace(cmd_train.DEFAULTS, hidden=64)
    if reg is not None:
        expected = dataclasses.replace(expected, activity_reg=reg)
    # a setting added after the model was trained reads as its default: init_activity, whose
    # calibration leaves a 1 x 64 digits model as EvNN drew it (tests/test_train_scale.py)
    assert dataclasses.asdict(TrainConfig(**blob["train"])) == dataclasses.asdict(expected)
    assert blob["data"]["name"] == "digits"
    data = load(task="digits")
    measured = evaluate(model, data.x_test, data.y_test)
    assert measured["accuracy"] == blob["metrics"]["test_accuracy"]
    assert measured["activity"] == blob["metrics"]["activity"]
    if reg is None:
        assert "gru_test_accuracy" in blob["metrics"]  # the demo reports the dense baseline


def test_threshold_scaling_multiplies_rounds_and_clamps_to_one():
    cfg = random_config(3)
    p = random_params(cfg, 3)
    assert all(torch.equal(a.thr, b.thr) for a, b in zip(scale_thresholds(cfg, p, 1.0).layers, p.layers, strict=True))
    doubled = scale_thresholds(cfg, p, 2.0)
    for a, b in zip(doubled.layers, p.layers, strict=True):
        assert torch.equal(a.thr, (2 * b.thr).clamp(max=cfg.one))
        assert torch.equal(a.kernel, b.kernel)  # nothing else changes
    assert int(scale_thresholds(cfg, p, 1000.0).layers[0].thr.max()) == cfg.one
    half = scale_thresholds(cfg, p, 0.5).layers[0].thr
    assert torch.equal(half, torch.div(p.layers[0].thr + 1, 2, rounding_mode="floor"))  # half up
    with pytest.raises(ValueError, match="non-negative"):
        scale_thresholds(cfg, p, -1.0)


def test_threshold_sweep_at_scale_one_is_the_golden_evaluation(digits_quantized):
    from sw import modelfile
    from sw.golden import quantize_inputs

    m = modelfile.load(digits_quantized[1])
    data = load(task="digits")
    x_q = quantize_inputs(data.x_test, m.config)
    ref, _ = golden_eval(m.config, m.params, data.x_test, data.y_test)
    low, one, high = threshold_sweep(m.config, m.params, x_q, data.y_test, (0.5, 1.0, 2.0))
    assert one["accuracy"] == ref["accuracy"] and one["activity"] == ref["activity"]
    assert one["events_per_step"] == pytest.approx(one["activity"] * m.config.hidden_size)
    assert low["activity"] > one["activity"] > high["activity"]  # higher thresholds, fewer events


def test_plots_are_png_files(tmp_path):
    import numpy as np

    o = [np.random.default_rng(n).random((6, 16)) < 0.2 for n in range(3)]
    paths = [
        plots.event_raster(o, [1, 2, 3], [1, 2, 0], str(tmp_path / "a" / "raster.png")),
        plots.cycles_vs_events(np.array([1, 2, 2, 5]), np.array([30, 40, 41, 70]), np.array([28, 38, 38, 66]),
                               200.0, 2, str(tmp_path / "cycles.png")),
        plots.accuracy_vs_activity([{"threshold_scale": 1.0, "activity": 0.1, "accuracy": 0.9},
                                    {"threshold_scale": 2.0, "activity": 0.05, "accuracy": 0.5}],
                                   {"activity": 0.1, "accuracy": 0.9}, 0.95, str(tmp_path / "acc.png")),
    ]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG


def test_demo_runs_the_pipeline_and_the_hardware_equals_the_golden_model(tmp_path):
    r = egru_json("demo", "--workdir", str(tmp_path), "--no-synth")
    q, s = r["quantize"], r["sim"]
    assert s["samples"] == 360 and s["mismatches"] == 0
    assert s["hw_accuracy"] == q["quant_accuracy"] == s["golden_accuracy"]
    assert s["ideal_bound_cycles_per_step"] <= s["bound_cycles_per_step"] <= s["cycles_per_step"] \
        < s["dense_cycles_per_step"]
    assert r["synth"] is None and "throughput" not in r and "failed" not in r
    one = next(c for c in r["threshold_sweep"] if c["threshold_scale"] == 1.0)
    assert one["accuracy"] == q["quant_accuracy"] and one["activity"] == s["activity"]
    assert r["dense_ops_per_step"] == 2 * (3 * 64 * (8 + 64) + 64 * 10)
    regs = r["activity_regularisation"]
    assert [c["activity_reg"] for c in regs] == sorted([*cmd_demo.ACTIVITY_REG, cmd_train.DEFAULTS.activity_reg])
    for c in regs:
        assert (c["accuracy"], c["activity"]) == (lambda m: (m["test_accuracy"], m["activity"]))(
            checkpoint.load(c["checkpoint"])[1]["metrics"])
    for path in r["plots"].values():
        with open(path, "rb") as f:
            assert f.read(8) == PNG
    text = cmd_demo.render(r)
    for expected in ("hardware (Verilator)", "360 of 360 sequences bit-exact", "Synthesis: skipped",
                     "event_raster", "speed-up"):
        assert expected in text


def test_a_refused_or_crashed_synthesis_is_part_of_the_report(tmp_path):
    import subprocess
    import sys
    import time

    def finished(code: str, status: int) -> dict:
        with open(tmp_path / "result.json", "w") as out:
            proc = subprocess.Popen([sys.executable, "-c", f"print({code!r}); raise SystemExit({status})"], stdout=out)
        proc.wait()
        (tmp_path / "progress.log").write_text("")
        return {"proc": proc, "folder": str(tmp_path), "target": "ice40-up5k", "start": time.monotonic()}

    refused = cmd_demo._finish_synth(finished('{"error": "the model does not fit ice40-up5k"}', 2), quiet=True)
    assert refused == {"target": "ice40-up5k", "error": "the model does not fit ice40-up5k"}
    crashed = cmd_demo._finish_synth(finished("Traceback ...", 1), quiet=True)
    assert crashed["target"] == "ice40-up5k" and "gave no report (status 1)" in crashed["error"]
    assert "progress.log" in crashed["error"]


def test_throughput_is_the_step_time_at_fmax_and_the_dense_ops_in_that_time():
    t = cmd_demo.throughput(cycles_per_step=400.0, fmax_mhz=40.0, dense_ops_per_step=20_000)
    assert t["us_per_step"] == 10.0  # 400 cycles / 40 cycles per us
    assert t["steps_per_second"] == 100_000.0
    assert t["effective_gops"] == 2.0  # 20,000 ops in 10 us
