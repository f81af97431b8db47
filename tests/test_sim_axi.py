"""The generated egru_axi on Verilator and Icarus with cocotbext-axi: a second model loaded over
AXI4-Lite into an IP built for a first one and read back word for word, sequences streamed with
random tvalid and tready pauses, every event, logit, class and counter equal to the golden and
cycle models; a cancel and a soft reset in the middle of a sequence."""

import os

import pytest

from gen.axi import AXI_TOP
from gen.verilog import write_verilog
from hw.axi import EGRUAxi
from hw.spec.layout import with_depth
from sim import runner
from sim.axi_spec import build_axi_spec
from sw.golden import run
from sw.hwimage import image_from_params, load_words
from tests.conftest import egru_json
from tests.random_models import random_config, random_inputs, random_params

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-sim-axi")


def simulate(simulator, tmp_path, n=4, interrupt=None, pause=0.3, load=True):
    cfg = random_config(3, layers=1)
    first_params = random_params(cfg, 3)
    first = image_from_params(cfg, first_params, lanes=2)
    other = random_params(cfg, 8)   # loaded at run time: its words replace the first model's
    img = image_from_params(cfg, other, lanes=2)
    depth = max(first.weights.depth, img.weights.depth)
    top = EGRUAxi(with_depth(first, depth))
    path = write_verilog(top, str(tmp_path), AXI_TOP)
    img = with_depth(img, depth)
    words = load_words(img, top.core.geometry)
    x = random_inputs(cfg, 5, n, 5)
    if not load:  # the built model runs
        other, img, words = first_params, None, None
    spec = build_axi_spec(top, x, run(cfg, other, x), idle=pause, backpressure=pause, seed=1, load=words,
                          interrupt=interrupt, image=img)
    return runner.run(path, spec, simulator, BUILD, quick_build=True, top=AXI_TOP, test_module="sim.cocotb_axi"), spec


def check(r, spec, skipped=()):
    messages = [m for s in r.sequences for m in s["mismatches"]]
    assert r.passed, messages or r.log[-3000:]
    assert r.problems == [] and not messages
    assert r.memory_words == len(spec["load"])
    for i, (s, want) in enumerate(zip(r.sequences, spec["sequences"], strict=True)):
        if i not in skipped:
            assert s["class"] == want["expected"]["class"] and len(s["cycles"]) == len(want["inputs"])


@pytest.mark.parametrize("simulator,n", [("verilator", 4), ("icarus", 2)])
def test_axi_ip_equals_golden_with_random_pauses(simulator, n, tmp_path):
    r, spec = simulate(simulator, tmp_path, n=n)
    check(r, spec)
    assert r.memory_words == len(spec["load"]) > 0


@pytest.mark.parametrize("action", ["cancel", "soft_reset"])
def test_cancel_and_soft_reset_in_the_middle_of_a_sequence(action, tmp_path):
    r, spec = simulate("verilator", tmp_path, n=3, interrupt={"action": action, "sequence": 1, "steps": 2}, load=False)
    check(r, spec, skipped=(1,))
    assert r.sequences[1].get("abandoned") is True


DIGITS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gen", "models", "digits.pt")


@pytest.mark.slow
def test_egru_sim_top_axi_runs_digits_test_sequences_with_pauses(tmp_path):
    """`egru sim --top axi` on the shipped digits model: the model loaded and read back over
    AXI4-Lite, the first test sequences with random tvalid and tready pauses, 0 mismatches
    (the full 360: docs/integration.md)."""
    model = tmp_path / "digits.egru"
    egru_json("quantize", DIGITS, "--out", str(model))
    r = egru_json("sim", str(model), "--top", "axi", "--samples", "12", "--idle", "0.3", "--backpressure", "0.3",
                  "--build-dir", BUILD)
    assert r["top"] == "axi" and r["samples"] == 12 and r["verilog"].endswith("egru_axi.v")
    assert r["mismatches"] == 0, (r["mismatch_messages"], r["axi_problems"])
    assert r["memory_words_read_back"] > 1000
    assert r["hw_accuracy"] == r["golden_accuracy"]


def test_egru_sim_top_axi_refuses_trace(tmp_path, capsys):
    from gen.cli import main
    assert main(["sim", str(tmp_path / "none.egru"), "--top", "axi", "--trace"]) == 2
    assert "--trace is not available with --top axi" in capsys.readouterr().err
