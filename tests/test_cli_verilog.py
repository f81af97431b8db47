"""`egru verilog`: Verilog that Verilator lints clean (with the documented waivers), a report of
ports and memories, and on the trained digits model: the cycle floor of the datapath issue and
a simulation of real test samples equal to the golden and cycle models."""

import json

import pytest

from sw import modelfile
from sw.datasets import load
from sw.golden import quantize_inputs
from sw.hwimage import image_from_params
from sw.perf import schedule_report
from tests.conftest import egru_json
from tests.random_models import random_config, random_params
from tests.test_hw_core import check_model


@pytest.mark.parametrize("layers,lanes,dense,pipeline",
                         [(2, 2, False, "short"), (1, 4, True, "short"), (1, 1, False, "short"), (2, 2, False, "deep")],
                         ids=["L2-P2-sparse", "L1-P4-dense", "L1-P1-sparse", "L2-P2-sparse-deep"])
def test_generated_verilog_lints_clean_and_is_described(tmp_path, layers, lanes, dense, pipeline):
    cfg = random_config(3, layers=layers)
    modelfile.save(str(tmp_path / "m.egru"), cfg, random_params(cfg, 3))
    args = ["verilog", str(tmp_path / "m.egru"), "-o", str(tmp_path / "v"), "--lanes", str(lanes), "--lint", "--trace",
            "--pipeline", pipeline]
    r = egru_json(*args, *(["--dense"] if dense else []))
    assert r["lint_clean"] is True and r["pipeline"] == pipeline
    assert r["lanes"] == lanes and r["verilog"].endswith("egru_core.v")
    text = (tmp_path / "v" / "egru_core.v").read_text()
    assert "module egru_core" in text
    names = {p["name"] for p in r["ports"]}
    for port in ("inputs__payload", "events__payload", "result__payload", "counters__payload",
                 "trace__payload", "load__payload"):
        assert port in names
    assert r["memory_bits"] == sum(m["bits"] for m in r["memories"]) > 0
    assert json.loads((tmp_path / "v" / "egru_core.json").read_text())["memory_bits"] == r["memory_bits"]


def test_bad_lane_count_is_named(tmp_path, capsys):
    from gen.cli import main
    cfg = random_config(3)
    modelfile.save(str(tmp_path / "m.egru"), cfg, random_params(cfg, 3))
    assert main(["verilog", str(tmp_path / "m.egru"), "-o", str(tmp_path / "v"), "--lanes", "0", "--quiet"]) == 2
    assert "lanes must be an integer in [1, 64], got 0" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("which", ["digits_quantized", "digits_pruned"])
@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_digits_cycles_per_step_within_the_floor(request, which, lanes):
    """Every step of the test set: cycles <= 1.10 x bound + 8; and the dense GRU schedule of the
    same machine costs several times more."""
    _, path = request.getfixturevalue(which)
    m = modelfile.load(str(path))
    x = quantize_inputs(load(task="digits").x_test, m.config)
    r = schedule_report(image_from_params(m.config, m.params, lanes=lanes), m.params, x)
    assert r["worst_step_excess"] <= 1.10, r
    assert r["dense_over_event_driven"] > 2.0, r


@pytest.mark.slow
def test_trained_digits_model_in_simulation_equals_golden_and_cycle_model(digits_pruned):
    _, path = digits_pruned
    m = modelfile.load(str(path))
    x = quantize_inputs(load(task="digits").x_test[:2], m.config)
    assert check_model(m.config, m.params, x, lanes=2) > 0
