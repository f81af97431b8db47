"""`egru quantize` on the trained digits model: the accuracy floors of the golden-model issue,
QAT and golden model agreeing sample for sample, and errors for bad settings."""

import pytest

from gen.cli import main
from sw import modelfile
from sw.datasets import load
from sw.golden import quantize_inputs, run


@pytest.mark.slow
def test_8bit_weights_16bit_state_lose_at_most_one_point(digits_quantized):
    r, _ = digits_quantized
    assert r["quant_accuracy"] >= r["float_accuracy"] - 0.01, r
    assert r["qat_golden_class_mismatch"] == 0.0, r
    for key in ("float_accuracy", "quant_accuracy", "weight_sparsity", "activity", "model_bytes"):
        assert key in r


@pytest.mark.slow
def test_the_written_model_file_reproduces_the_reported_accuracy(digits_quantized):
    r, path = digits_quantized
    m = modelfile.load(str(path))
    data = load(task="digits")
    res = run(m.config, m.params, quantize_inputs(data.x_test, m.config))
    assert float((res.predictions.numpy() == data.y_test).mean()) == r["quant_accuracy"]
    assert path.stat().st_size == r["model_bytes"]


@pytest.mark.slow
def test_half_pruned_loses_at_most_two_points(digits_pruned):
    r, path = digits_pruned
    assert r["weight_sparsity"] >= 0.5, r
    assert r["quant_accuracy"] >= r["float_accuracy"] - 0.02, r
    assert r["qat_golden_class_mismatch"] == 0.0, r
    m = modelfile.load(str(path))
    stored = sum(int(c[0][-1]) for c in m.columns.values())
    total = sum((c[0].shape[0] - 1) * m.config.hidden_size for c in m.columns.values())
    assert stored / total <= 0.5  # pruned entries take no memory


def test_bad_settings_are_named(capsys, tmp_path):
    assert main(["quantize", str(tmp_path / "none.pt"), "--quiet"]) == 2
    assert "none.pt: no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_bit_widths_and_prune_without_fine_tuning_are_refused(digits_run, capsys):
    _, ckpt = digits_run
    assert main(["quantize", ckpt, "--weight-bits", "3", "--qat-epochs", "0", "--quiet"]) == 2
    assert "weight_bits must be an integer in [4, 16], got 3" in capsys.readouterr().err
    assert main(["quantize", ckpt, "--prune", "0.5", "--qat-epochs", "0", "--quiet"]) == 2
    assert "pruning needs fine-tuning" in capsys.readouterr().err


def test_quantize_is_deterministic_to_the_byte(tmp_path):
    from tests.conftest import egru_json
    from tests.test_cli_train import small_data
    data = small_data(tmp_path)
    egru_json("train", "--data", data, "--hidden", "8", "--epochs", "2", "--out", str(tmp_path / "t.pt"))
    files = []
    for i in range(2):
        out = tmp_path / f"q{i}.egru"
        egru_json("quantize", str(tmp_path / "t.pt"), "--out", str(out), "--qat-epochs", "2", "--prune", "0.3")
        files.append(out.read_bytes())
    assert files[0] == files[1]
