"""End to end through the host protocol: `egru serve-sim` runs the Verilator simulation of the
UART top in one process, `egru run` (the driver) in another talks to it over TCP, loads the
trained digits model, runs test samples, and every output equals the golden model."""

import dataclasses
import json
import os
import subprocess

import pytest

from hw.spec.layout import T_POINTER
from sw import modelfile, permute
from sw.driver import Accelerator, DriverError, ModelDoesNotFit
from sw.hwimage import image_from_params
from tests import host_soak
from tests.conftest import EGRU
from tests.random_models import random_config, random_params

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-serve")


@pytest.fixture(scope="module")
def served(digits_pruned):
    """`egru serve-sim` of the 50%-pruned digits model, 2 lanes, the deep pipeline (the driver
    learns it from INFO, for the cycle model): (url, model path)."""
    model = str(digits_pruned[1])
    proc = subprocess.Popen([EGRU, "serve-sim", model, "--lanes", "2", "--pipeline", "deep", "--build-dir", BUILD,
                             "--json", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    ready = json.loads(line)
    yield ready["url"], model
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def egru_run(*argv) -> tuple[int, dict]:
    proc = subprocess.run([EGRU, "run", *argv, "--json", "--quiet"], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout)


def test_driver_in_its_own_process_loads_the_model_and_matches_the_golden_model(served):
    url, model = served
    code, r = egru_run("--url", url, model, "--samples", "40")
    assert code == 0, r
    assert r["samples"] == 40
    assert r["mismatches"] == 0, r["mismatch_messages"]  # events, logits and cycles of every step
    assert r["accuracy"] == r["golden_accuracy"]
    assert r["words_loaded"] > 1000 and r["bytes_sent"] > 4 * r["words_loaded"]
    assert r["retries"] == 0 and r["seconds"] > 0


def test_a_model_with_a_unit_order_runs_exact_and_reports_events_by_the_users_unit_numbers(served, tmp_path):
    """The core numbers units physically; the driver gives them back in the user's numbers, so
    `egru run`'s comparison with the golden model (user order) holds, with or without loading."""
    url, model = served
    m = modelfile.load(model)
    q = permute.with_order(m.params, permute.balance(m.params, m.config.hidden_size, 2))
    assert q.unit_order is not None
    moved = str(tmp_path / "moved.egru")
    modelfile.save(moved, m.config, q, m.meta)
    for extra in ((), ("--no-load",)):
        code, r = egru_run("--url", url, moved, "--samples", "8", *extra)
        assert code == 0 and r["mismatches"] == 0, r
    # the accelerator holds the moved layout: read with the original numbering, it differs
    code, r = egru_run("--url", url, model, "--samples", "8", "--no-load")
    assert code == 1 and r["mismatches"] > 0
    code, r = egru_run("--url", url, model, "--samples", "2")  # the module's model back on the chip
    assert code == 0 and r["mismatches"] == 0


def test_a_model_that_does_not_fit_is_refused_with_the_reason_and_nothing_is_written(served, digits_quantized):
    url, model = served
    big = str(digits_quantized[1])  # the unpruned model: about twice the weight words
    unpruned = modelfile.load(big)
    need = image_from_params(unpruned.config, unpruned.params, lanes=2).weights.depth
    with Accelerator(url) as acc:
        before = acc.read(T_POINTER, 0, 0, acc.info().columns)
        have = acc.info().depth
        refusal = f"need {need} words per lane with 2 lanes, the hardware holds {have}"
        with pytest.raises(ModelDoesNotFit, match=refusal):
            acc.load(big)
        assert acc.read(T_POINTER, 0, 0, acc.info().columns) == before
    code, r = egru_run("--url", url, big, "--samples", "1")
    assert code == 2 and "does not fit" in r["error"] and str(need) in r["error"]


def test_a_model_of_another_configuration_is_refused_naming_the_fields(served, tmp_path):
    url, _ = served
    cfg = random_config(1, hidden_size=16, input_size=8, num_classes=10)
    path = str(tmp_path / "other.egru")
    modelfile.save(path, cfg, random_params(cfg, 1))
    with Accelerator(url) as acc, pytest.raises(ModelDoesNotFit, match="hidden_size: model 16, hardware 64"):
        acc.fit(path)


def test_no_accelerator_at_the_url_is_a_clear_error():
    with pytest.raises(DriverError, match="cannot open"):
        Accelerator("socket://127.0.0.1:1")


def test_mismatches_fail_the_run_and_name_another_model_left_on_the_accelerator(served, tmp_path):
    url, model = served
    m = modelfile.load(model)
    other = str(tmp_path / "other.egru")  # the same configuration and sparsity, another readout
    modelfile.save(other, m.config, dataclasses.replace(m.params, readout_weight=-m.params.readout_weight), m.meta)
    code, r = egru_run("--url", url, other, "--samples", "5")
    assert code == 0 and r["mismatches"] == 0, r
    code, r = egru_run("--url", url, model, "--samples", "5", "--no-load")  # the accelerator holds `other`
    assert code == 1 and r["mismatches"] == 5
    assert "5 of 5 sequences differ" in r["failed"] and "another model" in r["failed"]
    assert "run without --no-load" in r["failed"]
    proc = subprocess.run([EGRU, "run", "--url", url, model, "--samples", "2", "--no-load", "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "FAILED: 2 of 2 sequences differ" in proc.stdout
    code, r = egru_run("--url", url, model, "--samples", "2")  # loading it again puts it right
    assert code == 0 and r["mismatches"] == 0 and "failed" not in r


def test_a_short_soak_with_cancel_reset_half_frames_and_two_clients_stays_bit_exact(served):
    url, model = served
    # serve-sim started with this model, and the tests before put it back: no loading run
    r = host_soak.soak(url, model, sequences=40, per_run=10, load_first=False)  # `make soak` runs 10,000
    assert r["sequences"] >= 40 and r["mismatches"] == 0
    assert all(r["disturbances"][kind] == 1 for kind in host_soak.DISTURBANCES), r["disturbances"]
