"""torch's intra-op threads: chosen by problem size (1 for small models) or by --threads, applied
while `egru train` and `egru quantize` train, restored after; bad values refused by name."""

import contextlib
import json
import types

import pytest
import torch

from gen import cmd_quantize, cmd_train
from gen.cli import main
from sw import threads
from tests.test_cli_train import small_data


@pytest.fixture
def epoch_threads(monkeypatch):
    """torch.get_num_threads() seen at the end of every training or fine-tuning epoch of a
    command (its progress bar is called there, inside the training loop)."""
    seen = []

    @contextlib.contextmanager
    def recording_bar(total, label, quiet):
        yield types.SimpleNamespace(step=lambda **_: seen.append(torch.get_num_threads()))

    monkeypatch.setattr(cmd_train, "bar", recording_bar)
    monkeypatch.setattr(cmd_quantize, "bar", recording_bar)
    return seen


def run_json(capsys, *argv):
    code = main([*argv, "--json", "--quiet"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def two_threads():
    """torch's default on a 2-core machine (the test run may have set OMP_NUM_THREADS=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_small_models_train_with_one_thread_and_threads_n_is_applied(tmp_path, capsys, epoch_threads,
                                                                     two_threads):
    data, before = small_data(tmp_path), torch.get_num_threads()
    ckpt = str(tmp_path / "toy.pt")
    code, _ = run_json(capsys, "train", "--data", data, "--hidden", "8", "--epochs", "2", "--out", ckpt)
    assert code == 0 and epoch_threads == [1, 1]  # automatic: a small model gets one thread
    assert torch.get_num_threads() == before

    epoch_threads.clear()
    code, _ = run_json(capsys, "train", "--data", data, "--hidden", "8", "--epochs", "2", "--out", ckpt,
                       "--threads", "3")
    assert code == 0 and epoch_threads == [3, 3] and torch.get_num_threads() == before

    epoch_threads.clear()
    code, _ = run_json(capsys, "quantize", ckpt, "--out", str(tmp_path / "toy.egru"), "--qat-epochs", "2",
                       "--threads", "2")
    assert code == 0 and epoch_threads == [2, 2] and torch.get_num_threads() == before
    epoch_threads.clear()
    code, _ = run_json(capsys, "quantize", ckpt, "--out", str(tmp_path / "toy.egru"), "--qat-epochs", "1",
                       "--threads", "0")
    assert code == 0 and epoch_threads == [1]


@pytest.mark.parametrize("command", ["train", "quantize", "demo"])
@pytest.mark.parametrize("bad", ["-1", "257", "100000"])
def test_bad_thread_counts_are_refused_by_name(tmp_path, capsys, command, bad):
    argv = {"train": ["train", "--data", small_data(tmp_path), "--out", str(tmp_path / "t.pt")],
            "quantize": ["quantize", str(tmp_path / "t.pt"), "--out", str(tmp_path / "t.egru")],
            "demo": ["demo", "--workdir", str(tmp_path / "demo")]}[command]
    if command == "quantize":
        assert main(["train", "--data", small_data(tmp_path), "--hidden", "4", "--epochs", "1",
                     "--out", str(tmp_path / "t.pt"), "--quiet"]) == 0
        capsys.readouterr()
    code, r = run_json(capsys, *argv, "--threads", bad)
    assert code == 2
    assert r["error"] == f"--threads must be 0 (automatic) or a number of threads from 1 to 256, got {bad}"
    # refused before any work: nothing trained, quantized or created
    assert not (tmp_path / "t.egru").exists() and not (tmp_path / "demo").exists()
    assert command == "quantize" or not (tmp_path / "t.pt").exists()


def test_the_automatic_choice_grows_with_the_problem_and_stops_at_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "MACHINE_THREADS", 8)
    digits = threads.step_work(batch=32, inputs=8, hidden=64)
    assert digits == 32 * 72 * 192 and threads.choose(digits) == 1
    assert threads.choose(threads.WORK_PER_THREAD * 3) == 3
    assert threads.choose(threads.step_work(512, 1024, 4096, layers=3)) == 8
    assert threads.choose(10**12, requested=5) == 5  # an explicit count wins
    with threads.requested(2):
        assert threads.choose(10**12) == 2 and torch.get_num_threads() == 2
    with threads.requested(0):
        assert threads.choose(digits) == 1


@pytest.mark.parametrize("bad", [-1, 257, 2.5, True, "4"])
def test_check_refuses_what_is_not_a_thread_count(bad):
    with pytest.raises(ValueError, match=r"--threads must be 0 \(automatic\) or a number of threads"):
        threads.check(bad)


def test_the_threads_section_replaces_only_itself_in_benchmarks_md():
    from gen import bench_threads
    rows = [{"busy_loops": 1, "threads_option": 0, "threads": 1, "wall": 37.0, "cpu": 36.5, "load": 3.0,
             "nice": 10, "test_accuracy": 0.9}]
    section = bench_threads.table(rows, "2 cores")
    doc = "# Benchmarks\n\n## Simulation\n\nrows\n"
    once = bench_threads.replace_section(doc, section)
    assert once.startswith(doc.rstrip("\n")) and bench_threads.HEADING in once and "| 1 | 0 | 1 | 37.0 |" in once
    rows[0]["wall"] = 12.0
    again = bench_threads.replace_section(once + "\n## Synthesis\n\nkept\n", bench_threads.table(rows, "2 cores"))
    assert again.count(bench_threads.HEADING) == 1 and "| 12.0 |" in again and "37.0" not in again
    assert again.endswith("## Synthesis\n\nkept\n") and again.startswith(doc.rstrip("\n"))
