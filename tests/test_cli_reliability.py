"""Nothing lost, no false success, no traceback: outputs that would overwrite an input, damaged
checkpoints, training that diverges, interrupted commands, usage errors under --json, and the
messages that must name the real problem."""

import json
import os

import numpy as np
import pytest
import torch

from gen.cli import main
from sw import checkpoint
from sw.checkpoint import CheckpointError
from sw.classifier import EGRUClassifier
from tests.test_cli_train import small_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(capsys, *argv):
    """`egru ARGV --json --quiet` in-process: (exit status, its one JSON object)."""
    code = main([*argv, "--json", "--quiet"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"--json must print exactly one line, got {out!r}"
    return code, json.loads(out)


def tiny_checkpoint(path) -> EGRUClassifier:
    torch.manual_seed(0)
    model = EGRUClassifier(2, 4, 3)
    checkpoint.save(str(path), model, data={"source": "", "sha256": ""}, train={}, metrics={"note": 1.5})
    return model


# ---- float checkpoints: integrity, damage, the wrong kind of file --------------------------------

def test_a_flipped_bit_in_a_weight_is_found_on_load(tmp_path):
    path = tmp_path / "c.pt"
    model = tiny_checkpoint(path)
    raw = bytearray(path.read_bytes())
    weight = model.readout.weight.detach().numpy().tobytes()
    at = raw.find(weight)
    assert at > 0
    raw[at + 1] ^= 0x01  # a low mantissa bit of the first readout weight: still a valid float
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.load(str(path))


def test_every_flipped_byte_is_refused_or_harmless(tmp_path):
    """Flips anywhere: an error naming the checkpoint, or (zip padding, unused fields) the very
    same contents; never a silently changed model."""
    path = tmp_path / "c.pt"
    model = tiny_checkpoint(path)
    good = path.read_bytes()
    expect = {k: v.clone() for k, v in model.state_dict().items()}
    for where in range(0, len(good), max(1, len(good) // 300)):
        raw = bytearray(good)
        raw[where] ^= 0x04
        path.write_bytes(bytes(raw))
        try:
            loaded, _ = checkpoint.load(str(path))
        except CheckpointError as e:
            assert str(path) in str(e)
            continue
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in expect.items()), f"byte {where}"


def test_shipped_checkpoints_without_a_digest_still_load():
    for name in sorted(os.listdir(os.path.join(ROOT, "gen", "models"))):
        if name.endswith(".pt"):
            _, blob = checkpoint.load(os.path.join(ROOT, "gen", "models", name))
            assert "sha256" not in blob  # legacy: accepted unchecked (documented in sw/checkpoint.py)


def test_a_new_checkpoint_carries_its_digest_and_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        tiny_checkpoint(tmp_path / "c.pt")
    finally:
        os.umask(old)
    _, blob = checkpoint.load(str(tmp_path / "c.pt"))
    assert blob["sha256"] == checkpoint.digest(blob)
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("drop", ["model", "state_dict", "data"])
def test_a_checkpoint_without_an_entry_is_named(tmp_path, capsys, drop):
    path = tmp_path / "c.pt"
    tiny_checkpoint(path)
    blob = torch.load(path, weights_only=True)
    del blob[drop]
    blob.pop("sha256")
    torch.save(blob, path)
    code, r = run_json(capsys, "quantize", str(path), "--out", str(tmp_path / "m.egru"))
    assert code == 2 and f"its '{drop}' entry is missing" in r["error"]


def test_a_model_file_given_as_checkpoint_is_called_a_model_file(tmp_path, capsys):
    path = tmp_path / "m.egru"
    path.write_bytes(b"EGRUMODL" + bytes(100))
    code, r = run_json(capsys, "quantize", str(path), "--out", str(tmp_path / "n.egru"))
    assert code == 2 and "is an .egru model file" in r["error"]
    assert "weights_only" not in r["error"]


def test_a_directory_is_not_called_missing(tmp_path, capsys):
    code, r = run_json(capsys, "quantize", str(tmp_path), "--out", str(tmp_path / "n.egru"))
    assert code == 2 and "is a directory, not a file" in r["error"]
    code, r = run_json(capsys, "train", "--data", str(tmp_path), "--out", str(tmp_path / "n.pt"))
    assert code == 2 and "is a directory, not a file" in r["error"]


# ---- an output never overwrites an input; a bad output is found before the work ------------------

def test_train_refuses_to_write_over_its_data_set(tmp_path, capsys):
    data = small_data(tmp_path)
    before = open(data, "rb").read()
    link = tmp_path / "link.npz"
    os.symlink(data, link)
    hard = tmp_path / "hard.npz"
    os.link(data, hard)
    for out in (data, str(link), str(hard)):
        code, r = run_json(capsys, "train", "--data", data, "--out", out, "--epochs", "1", "--hidden", "4")
        assert code == 2 and "is the data set" in r["error"] and "refusing to overwrite" in r["error"]
    assert open(data, "rb").read() == before


def test_quantize_refuses_to_write_over_its_checkpoint_or_data(tmp_path, capsys):
    data = small_data(tmp_path)
    ckpt = str(tmp_path / "a.pt")
    assert run_json(capsys, "train", "--data", data, "--out", ckpt, "--epochs", "1", "--hidden", "4")[0] == 0
    before = open(ckpt, "rb").read(), open(data, "rb").read()
    for out, what in ((ckpt, "the checkpoint"), (data, "the data set")):
        code, r = run_json(capsys, "quantize", ckpt, "--out", out, "--qat-epochs", "0")
        assert code == 2 and what in r["error"], r
    assert (open(ckpt, "rb").read(), open(data, "rb").read()) == before


def test_an_unwritable_out_is_found_before_training(tmp_path, capsys, monkeypatch):
    import gen.cmd_train
    trained = []
    monkeypatch.setattr(gen.cmd_train, "fit", lambda *a, **k: trained.append(1))
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, r = run_json(capsys, "train", "--data", small_data(tmp_path), "--out", str(blocker / "x.pt"))
    assert code == 2 and f"{blocker} is a file, not a folder" in r["error"] and ".tmp" not in r["error"]
    code, r = run_json(capsys, "train", "--data", small_data(tmp_path), "--out", str(tmp_path))
    assert code == 2 and "is a directory" in r["error"]
    assert not trained


def test_the_demo_never_retrains_over_the_shipped_checkpoints(capsys):
    code, r = run_json(capsys, "demo", "--retrain", "--workdir", os.path.join(ROOT, "gen", "models"), "--no-synth")
    assert code == 2 and "a shipped checkpoint" in r["error"]


# ---- divergence: no NaN model is written -----------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--lr", "inf"), ("--lr", "nan"), ("--activity-reg", "nan"),
                                          ("--activity-reg", "inf")])
def test_non_finite_settings_are_refused_and_nothing_is_written(tmp_path, capsys, option, value):
    out = tmp_path / "x.pt"
    code, r = run_json(capsys, "train", "--data", small_data(tmp_path), "--out", str(out), "--epochs", "1",
                       "--hidden", "4", option, value)
    assert code == 2 and option.lstrip("-").replace("-", "_") in r["error"] and not out.exists()


def test_a_loss_that_becomes_nan_stops_training(tmp_path):
    from sw.datasets import load
    from sw.train import TrainConfig, TrainingDiverged, build_egru, fit

    data = load(data=small_data(tmp_path))
    cfg = TrainConfig(hidden=4, epochs=2)
    model = build_egru(cfg, data)

    def poison(epoch):
        with torch.no_grad():
            model.readout.bias[0] = float("nan")

    with pytest.raises(TrainingDiverged, match="the loss is nan in epoch 1, batch 1"):
        fit(model, data, cfg, before_epoch=poison)


@pytest.mark.parametrize("lr", ["1e20", "1e38"])
def test_a_huge_learning_rate_diverges_with_a_clear_error(tmp_path, capsys, lr):
    out = tmp_path / "x.pt"
    code, r = run_json(capsys, "train", "--data", small_data(tmp_path), "--out", str(out), "--epochs", "3",
                       "--hidden", "4", "--lr", lr)
    assert code == 2 and "training diverged" in r["error"] and not out.exists()


def test_quantize_refuses_a_non_finite_fine_tuning_rate(tmp_path, capsys):
    data = small_data(tmp_path)
    ckpt = str(tmp_path / "a.pt")
    assert run_json(capsys, "train", "--data", data, "--out", ckpt, "--epochs", "1", "--hidden", "4")[0] == 0
    out = tmp_path / "m.egru"
    for lr in ("inf", "nan"):
        code, r = run_json(capsys, "quantize", ckpt, "--out", str(out), "--qat-epochs", "2", "--lr", lr)
        assert code == 2 and ("lr must be" in r["error"] or "diverged" in r["error"]), r
    assert not out.exists()


@pytest.mark.parametrize("command", [["train", "--epochs", "1", "--hidden", "4"], ["quantize", "CKPT"], ["demo"]])
def test_seed_overflow_names_seed(tmp_path, capsys, command):
    command = [str(tmp_path / "a.pt") if c == "CKPT" else c for c in command]
    if "train" in command:
        command += ["--data", small_data(tmp_path), "--out", str(tmp_path / "b.pt")]
    if "demo" in command:
        command += ["--workdir", str(tmp_path / "demo"), "--no-synth"]
    if "quantize" in command:
        tiny_checkpoint(tmp_path / "a.pt")
    code, r = run_json(capsys, *command, "--seed", str(2**70))
    assert code == 2 and "--seed must be an integer in [0, 2**63 - 1]" in r["error"]


def test_labels_with_gaps_warn(tmp_path, capsys):
    from tests.test_datasets import write_npz
    rng = np.random.default_rng(0)
    data = write_npz(tmp_path / "g.npz", y_train=(np.arange(20) % 3) * 5, y_test=np.zeros(6, np.int64),
                     x_train=rng.random((20, 5, 3), dtype=np.float32))
    assert main(["train", "--data", data, "--out", str(tmp_path / "g.pt"), "--epochs", "1", "--hidden", "4",
                 "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: 8 of the 11 classes 0..10 never occur in y_train (1, 2, 3, 4, 6, 7, 8, 9)" in err


# ---- usage errors and Ctrl-C: one JSON object, no traceback ----------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["train", "--hidden", "x"], "argument --hidden: invalid int value: 'x'"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["verilog", "m.egru"], "the following arguments are required: -o/--out"),
])
def test_argument_errors_honour_json(capsys, argv, message):
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 2 and json.loads(captured.out) == {"error": json.loads(captured.out)["error"]}
    assert message in json.loads(captured.out)["error"]
    assert "usage: egru" in captured.err  # the usage line stays on stderr
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and message in captured.err


def _interrupt(tmp_path, *argv):
    """Start `egru ARGV`, wait for its training progress bar, send SIGINT: (status, stdout, stderr)."""
    import signal
    import subprocess
    import sys
    import time

    err = open(tmp_path / "err.txt", "w+")
    # SIGINT as a terminal delivers it: a shell that started the test suite in the background
    # (or a CI runner) may have left it ignored, and children inherit that
    proc = subprocess.Popen([sys.executable, "-m", "gen.cli", *argv], stdout=subprocess.PIPE, stderr=err, text=True,
                            cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while "train EGRU" not in (tmp_path / "err.txt").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "err.txt").read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed test leaves no 100,000-epoch training behind
            proc.kill()
            proc.wait()
    return proc.returncode, out, (tmp_path / "err.txt").read_text()


def test_ctrl_c_during_training_exits_130_with_one_line(tmp_path):
    out_file = tmp_path / "never.pt"
    code, out, err = _interrupt(tmp_path, "train", "--task", "digits", "--epochs", "100000", "--out", str(out_file))
    assert code == 130 and out == ""
    assert "Traceback" not in err and "egru train: interrupted" in err
    assert not out_file.exists()


def test_ctrl_c_with_json_gives_one_json_object(tmp_path):
    code, out, err = _interrupt(tmp_path, "train", "--task", "digits", "--epochs", "100000",
                                "--out", str(tmp_path / "never.pt"), "--json")
    assert code == 130 and json.loads(out) == {"error": "interrupted"} and out.count("\n") == 1
    assert "Traceback" not in err


# ---- outputs written together: a failed run leaves the previous ones ---------------------------------

def _model_file(path):
    from sw import modelfile
    from tests.random_models import random_config, random_params
    cfg = random_config(3)
    modelfile.save(str(path), cfg, random_params(cfg, 3))
    return str(path)


@pytest.mark.parametrize("failure", [KeyboardInterrupt, ValueError])
def test_a_failed_verilog_run_leaves_the_previous_outputs(tmp_path, capsys, monkeypatch, failure):
    import gen.cmd_verilog
    model = _model_file(tmp_path / "m.egru")
    out = tmp_path / "v"
    assert run_json(capsys, "verilog", model, "-o", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"egru_core.v", "egru_core.json"}

    def fail(*a, **k):
        raise failure("stopped after the Verilog was written")

    monkeypatch.setattr(gen.cmd_verilog, "schedule_summary", fail)
    code, r = run_json(capsys, "verilog", model, "-o", str(out), "--lanes", "2")
    assert code == (130 if failure is KeyboardInterrupt else 2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing new, no temporary left


def test_verilog_outputs_are_replaced_together_with_the_usual_permissions(tmp_path, capsys):
    model = _model_file(tmp_path / "m.egru")
    out = tmp_path / "v"
    old = os.umask(0o022)
    try:
        assert run_json(capsys, "verilog", model, "-o", str(out))[0] == 0
        _, r = run_json(capsys, "verilog", model, "-o", str(out), "--lanes", "2")
    finally:
        os.umask(old)
    assert json.loads((out / "egru_core.json").read_text())["lanes"] == 2 == r["lanes"]
    assert r["verilog"] == str(out / "egru_core.v")
    assert sorted(p.name for p in out.iterdir()) == ["egru_core.json", "egru_core.v"]
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.iterdir())


def test_verilog_never_writes_over_its_model_file_and_names_a_bad_folder(tmp_path, capsys):
    model = _model_file(tmp_path / "egru_core.json")
    before = open(model, "rb").read()
    code, r = run_json(capsys, "verilog", model, "-o", str(tmp_path))
    assert code == 2 and "would overwrite the model file" in r["error"]
    assert open(model, "rb").read() == before
    code, r = run_json(capsys, "verilog", model, "-o", model)
    assert code == 2 and "is a file, not a folder" in r["error"]


# ---- egru synth --from-logs: only the logs of the design asked for -------------------------------------

def _fake_run(folder, stamp=None):
    """The files a finished synthesis leaves (enough for the report's parser), optionally stamped."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": {"SB_LUT4": 7}}}))
    (folder / "yosys.log").write_text("")
    (folder / "nextpnr.log").write_text("")
    if stamp is not None:
        (folder / "design.json").write_text(json.dumps(stamp))


def _stamp(model, target="ice40-up5k"):
    from gen.cmd_synth import design_stamp
    from gen.targets import target as find
    from gen.verilog import build_top
    top, _ = build_top(model, divisor=104)
    return design_stamp(find(target), model, top.core, False)


def test_from_logs_refuses_unstamped_logs(tmp_path, capsys):
    from tests.test_synth import small_model
    model = str(tmp_path / "s.egru")
    small_model(model)
    _fake_run(tmp_path / "out")
    code, r = run_json(capsys, "synth", model, "--target", "ice40-up5k", "-o", str(tmp_path / "out"), "--from-logs")
    assert code == 2 and "has no design.json" in r["error"]


def test_from_logs_refuses_logs_of_another_target_model_or_design(tmp_path, capsys):
    from tests.test_synth import small_model
    model, other = str(tmp_path / "s.egru"), str(tmp_path / "t.egru")
    small_model(model)
    small_model(other, lut_bits=7)
    out = tmp_path / "out"
    cases = [(_stamp(model, "ecp5-25k"), "target 'ecp5-25k', asked 'ice40-up5k'"),
             (_stamp(other), "the model file"),
             ({**_stamp(model), "lanes": 4}, "lanes 4, asked 1"),
             ({**_stamp(model), "pipeline": "deep"}, "pipeline 'deep', asked 'short'")]
    for stamp, message in cases:
        _fake_run(out, stamp)
        code, r = run_json(capsys, "synth", model, "--target", "ice40-up5k", "-o", str(out), "--from-logs")
        assert code == 2 and "are of another design" in r["error"] and message in r["error"], r
    _fake_run(out, _stamp(model))  # its own logs: the report is rebuilt
    code, r = run_json(capsys, "synth", model, "--target", "ice40-up5k", "-o", str(out), "--from-logs")
    assert code == 0 and r["luts"] == 7, r


# ---- the driver's messages name what the user gave ------------------------------------------------

@pytest.mark.parametrize("url", ["socket://127.0.0.1", "socket://127.0.0.1:", "socket://:5555",
                                 "socket://localhost:99999", "socket://host:port"])
def test_a_socket_url_without_a_port_is_named(url):
    from sw.driver import Accelerator, DriverError
    with pytest.raises(DriverError, match="a socket URL needs a host and a port, socket://HOST:PORT"):
        Accelerator(url)


def test_a_bad_timeout_does_not_mention_retries():
    from sw.driver import Accelerator
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got 0") as e:
        Accelerator("socket://127.0.0.1:1", timeout=0)
    assert "retries" not in str(e.value)


def test_sim_board_and_serve_sim_check_their_folders_first(tmp_path, capsys):
    from tests.test_synth import small_model
    blocker = tmp_path / "file"
    blocker.write_text("")
    model = str(tmp_path / "s.egru")
    small_model(model)
    code, r = run_json(capsys, "sim", model, "--build-dir", str(blocker))
    assert code == 2 and "is a file, not a folder" in r["error"]
    inside = tmp_path / "b" / "verilog"
    inside.mkdir(parents=True)
    small_model(str(inside / "egru_core.v"))
    code, r = run_json(capsys, "sim", str(inside / "egru_core.v"), "--build-dir", str(tmp_path / "b"))
    assert code == 2 and "would overwrite the model file" in r["error"]
    code, r = run_json(capsys, "board", "ulx3s-85f", model, "-o", str(blocker))
    assert code == 2 and "is a file, not a folder" in r["error"]
    code, r = run_json(capsys, "serve-sim", model, "--build-dir", str(blocker))
    assert code == 2 and "is a file, not a folder" in r["error"]
