"""`egru generate`: text sampled one character at a time, each sample fed back. On a random
per-step model with a vocabulary: the golden model's text is the same for the same seed and
differs for another, the text through `egru serve-sim` (the UART top on Verilator, through the
driver) is exactly the golden model's, and bad requests are refused by name."""

import dataclasses
import json
import os
import subprocess

import pytest

from sw import charlm, modelfile
from tests.conftest import EGRU
from tests.random_models import random_config, random_params

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-generate")
SYMBOLS = [charlm.UNKNOWN, " ", "a", "b", "c", "d", "e"]  # index 0: the unknown symbol


def lively_lm(tmp_path):
    """A random per-step model whose inputs and outputs are the 7 symbols, with 2 layers."""
    for seed in range(20):
        cfg = random_config(seed, layers=2, readout="step", max_steps=256)
        cfg = dataclasses.replace(cfg, input_size=len(SYMBOLS), num_classes=len(SYMBOLS))
        p = random_params(cfg, seed, prune=0.3)
        path = tmp_path / f"lm{seed}.egru"
        modelfile.save(str(path), cfg, p, meta={"charlm": {"vocab": {"symbols": SYMBOLS, "unknown": 0}}})
        if len(set(generate(path, "--seed", "1")["text"])) > 2:  # it does not just repeat one symbol
            return path
    raise AssertionError("no lively random language model")


def generate(model, *argv) -> dict:
    proc = subprocess.run([EGRU, "generate", str(model), "--prime", "abc", "--chars", "40", *argv, "--json", "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return lively_lm(tmp_path_factory.mktemp("lm"))


def test_the_same_seed_gives_the_same_text_and_another_seed_another(lm):
    a, b, c = generate(lm, "--seed", "3"), generate(lm, "--seed", "3"), generate(lm, "--seed", "4")
    assert a["text"] == b["text"] and len(a["text"]) == 40 and a["steps"] == 3 + 40 - 1
    assert set(a["text"]) <= set(SYMBOLS)
    assert c["text"] != a["text"]
    greedy = generate(lm, "--temperature", "0", "--seed", "5")["text"]
    assert greedy == generate(lm, "--temperature", "0", "--seed", "6")["text"]  # no draw is made


@pytest.mark.slow
def test_text_through_serve_sim_is_exactly_the_golden_models(lm):
    proc = subprocess.Popen([EGRU, "serve-sim", str(lm), "--lanes", "2", "--build-dir", BUILD, "--json", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        url = json.loads(line)["url"]
        hw = generate(lm, "--seed", "7", "--url", url, "--check")
        assert hw["text"] == generate(lm, "--seed", "7")["text"]
        assert hw["source"] == url and hw["cycles_per_char"] > 0
        again = generate(lm, "--seed", "8", "--url", url, "--no-load")  # the model stays loaded
        assert again["text"] == generate(lm, "--seed", "8")["text"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_bad_requests_are_refused_by_name(lm, tmp_path):
    def refused(*argv):
        proc = subprocess.run([EGRU, "generate", *argv, "--json"], capture_output=True, text=True)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        return json.loads(proc.stdout)["error"]

    assert "--chars" in refused(str(lm), "--chars", "0")
    assert "--temperature" in refused(str(lm), "--temperature", "-1")
    assert "max_steps" in refused(str(lm), "--chars", "300")
    assert "--url" in refused(str(lm), "--check")
    cfg = random_config(1, readout="sequence")
    classifier = tmp_path / "classifier.egru"
    modelfile.save(str(classifier), cfg, random_params(cfg, 1))
    assert "per-step readout" in refused(str(classifier))
