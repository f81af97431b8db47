"""The character language model: corpus, vocabulary, windows, text-file errors, BPC, the
per-step readout, and `egru train` / `egru quantize` on it (tiny models, a few windows)."""

import json
import math
import os

import numpy as np
import pytest
import torch

from gen.cli import main
from sw import charlm, checkpoint, modelfile
from sw.classifier import EGRUClassifier, GRUClassifier
from sw.datasets import DatasetError, load_recorded
from sw.golden import quantize_inputs, run
from sw.qat import QATModel

HAVE_FORTUNES = os.path.isfile(os.path.join(charlm.FORTUNES_DIR, charlm.FORTUNES_MARK))
needs_fortunes = pytest.mark.skipif(not HAVE_FORTUNES, reason="Debian's fortunes package is not installed (make venv)")


def run_json(capsys, *argv):
    code = main([*argv, "--json", "--quiet"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"--json must print exactly one line, got {out!r}"
    return code, json.loads(out)


ENGLISH = ("The quick brown fox jumps over the lazy dog. A stitch in time saves nine. "
           "Too many cooks spoil the broth. Every cloud has a silver lining.\n") * 8


# ---- corpus and vocabulary -------------------------------------------------------------------

@needs_fortunes
def test_the_builtin_corpus_is_the_fortunes_without_separators():
    text = charlm.fortunes_text()
    assert len(text) > 2_000_000
    assert "\n%\n" not in text and not text.startswith("%\n")
    vocab = charlm.build_vocab(text)
    assert len(vocab) <= charlm.MAX_VOCAB and vocab.symbols[0] == charlm.UNKNOWN
    assert {"e", " ", "\n", "T", "."} <= set(vocab.symbols)
    assert "\x08" not in vocab.symbols  # the backspaces of overstruck ASCII art are unknown


def test_a_missing_fortunes_folder_names_the_package(tmp_path):
    with pytest.raises(DatasetError, match="Debian's `fortunes` package.*make venv"):
        charlm.fortunes_text(str(tmp_path / "nowhere"))


def test_fortune_entries_are_split_at_percent_lines(tmp_path):
    (tmp_path / "a").write_text("one\n%\ntwo\nlines\n%\n")
    (tmp_path / "a.dat").write_bytes(b"\x00\x01index")
    (tmp_path / "zippy").write_text("three\n")
    assert charlm.fortunes_text(str(tmp_path)) == "one\n\ntwo\nlines\n\nthree\n"


def test_vocabulary_keeps_the_most_frequent_characters_and_maps_the_rest_to_unknown():
    vocab = charlm.build_vocab("aaaabbbcc\x07d", max_size=4)
    assert vocab.symbols == (charlm.UNKNOWN, "a", "b", "c")
    ids = vocab.encode("abcdz")
    assert ids.tolist() == [1, 2, 3, 0, 0]
    assert vocab.decode(ids) == "abc" + 2 * charlm.UNKNOWN
    with pytest.raises(ValueError, match="index 4 is outside the vocabulary of 4"):
        vocab.decode([4])
    assert charlm.vocab_from_meta({"charlm": {"vocab": vocab.to_meta()}}) == vocab
    with pytest.raises(DatasetError, match="no character vocabulary"):
        charlm.vocab_from_meta({"data": {}})


# ---- windows and the split -------------------------------------------------------------------

def test_windows_are_one_hot_inputs_and_next_character_targets(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text(ENGLISH)
    d = charlm.load_text(str(path), window=20, train_windows=1000)
    starts = charlm.window_starts(len(ENGLISH), 20)
    assert len(d.x_train) + len(d.x_test) == len(starts)
    assert len(d.x_test) == len(starts) // charlm.HOLDOUT  # every 10th window held out
    assert d.x_train.shape == (len(d.x_train), 20, d.num_classes) and d.y_train.shape == (len(d.x_train), 20)
    assert d.per_step and d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert np.all(d.x_train.sum(axis=2) == 1.0)  # one event per step
    vocab = charlm.vocab_from_meta(d.record())
    first = vocab.decode(d.x_train[0].argmax(axis=1))
    assert first == ENGLISH[:20] and vocab.decode(d.y_train[0]) == ENGLISH[1:21]
    third_test = charlm.HOLDOUT * 3 - 1  # the third held-out window of the text
    assert vocab.decode(d.y_test[2]) == ENGLISH[third_test * 20 + 1:third_test * 20 + 21]
    again = load_recorded(d.record())  # what quantize does with a checkpoint's record
    assert again.sha256 == d.sha256


def test_windows_are_thinned_evenly():
    d = charlm.dataset(ENGLISH, name="e", source="text:/e", window=10, train_windows=7, test_windows=3)
    assert len(d.x_train) == 7 and len(d.x_test) == 3


TEXT_ERRORS = {
    "missing": (None, "no such file"),
    "binary": (b"ELF\x00\x01\x02", "a binary file \\(it holds NUL bytes, first at offset 3\\)"),
    "latin-1": ("caf\xe9 au lait".encode("latin-1"), "not UTF-8 text \\(byte 0xe9 at offset 3\\)"),
    "short": (b"far too short", "too short for the language model: 13 characters make 0 windows"),
}


@pytest.mark.parametrize("case", TEXT_ERRORS)
def test_bad_text_files_are_named(tmp_path, case):
    content, message = TEXT_ERRORS[case]
    path = tmp_path / "t.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        charlm.load_text(str(path))


def test_a_bad_text_is_one_json_error_from_the_cli(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\x00binary")
    code, r = run_json(capsys, "train", "--text", str(path), "--out", str(tmp_path / "x.pt"))
    assert code == 2 and "a binary file" in r["error"]
    code, r = run_json(capsys, "train", "--task", "digits", "--window", "20")
    assert code == 2 and "--window applies to the character language model" in r["error"]


# ---- bits per character ----------------------------------------------------------------------

def test_bpc_of_uniform_logits_is_log2_of_the_vocabulary():
    targets = np.random.default_rng(0).integers(0, 50, (3, 7))
    assert charlm.bpc(np.zeros((3, 7, 50)), targets) == pytest.approx(math.log2(50))


def test_bpc_reads_integer_logits_at_their_fraction():
    logits = torch.tensor([[[0.0, math.log(3.0)]]], dtype=torch.float64)  # p(1) = 3/4
    assert charlm.bpc(logits, [[1]]) == pytest.approx(-math.log2(0.75))
    ints = torch.round(logits * 2**20).to(torch.int64)
    assert charlm.bpc(ints, [[1]], frac=20) == pytest.approx(-math.log2(0.75), abs=1e-5)
    with pytest.raises(ValueError, match="do not match targets"):
        charlm.bpc(np.zeros((2, 3, 4)), np.zeros((2, 4), int))


# ---- the per-step readout --------------------------------------------------------------------

def test_per_step_readout_gives_logits_at_every_step():
    torch.manual_seed(0)
    x = torch.rand(2, 5, 3)
    egru = EGRUClassifier(3, 8, 4, readout="step")
    logits, traces = egru(x)
    assert logits.shape == (2, 5, 4)
    assert torch.allclose(logits, egru.readout(traces[0].y))  # logits_t from y_t alone
    gru = GRUClassifier(3, 8, 4, readout="step")
    assert gru(x)[0].shape == (2, 5, 4)
    assert EGRUClassifier(3, 8, 4)(x)[0].shape == (2, 4)  # the default is unchanged
    with pytest.raises(ValueError, match="readout must be one of sequence, step"):
        EGRUClassifier(3, 8, 4, readout="token")


# ---- through the CLI -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """`egru train --task charlm` (tiny: 24 windows of 30, H = 16, one epoch, the baseline)."""
    if not HAVE_FORTUNES:
        pytest.skip("Debian's fortunes package is not installed")
    out = tmp_path_factory.mktemp("charlm") / "lm.pt"
    code = main(["train", "--task", "charlm", "--epochs", "1", "--hidden", "16", "--window", "30",
                 "--windows", "24", "--baseline", "--threads", "1", "--out", str(out), "--json", "--quiet"])
    assert code == 0
    return out


def test_train_charlm_reports_bpc_activity_and_the_gru(tiny_lm, capsys):
    blob = checkpoint.load(str(tiny_lm))[1]
    r = blob["metrics"]
    for key in ("test_bpc", "gru_test_bpc", "activity", "layer_activity", "train_bpc"):
        assert key in r, key
    assert 0 < r["test_bpc"] < 8 and 0 <= r["activity"] <= 1
    assert r["windows"] == 24 and r["window"] == 30
    assert blob["model"]["readout"] == "step"
    vocab = charlm.vocab_from_meta(blob["data"])  # the checkpoint carries the vocabulary
    assert len(vocab) == blob["model"]["num_classes"] == blob["model"]["input_size"]


def test_quantize_charlm_reports_bpc_and_writes_a_per_step_model(tiny_lm, tmp_path, capsys):
    out = tmp_path / "lm.egru"
    code, r = run_json(capsys, "quantize", str(tiny_lm), "--out", str(out), "--qat-epochs", "1", "--threads", "1")
    assert code == 0, r
    for key in ("test_bpc", "float_test_bpc", "ptq_test_bpc"):
        assert 0 < r[key] < 8, (key, r)
    assert r["qat_golden_class_mismatch"] == 0.0
    m = modelfile.load(str(out))
    assert m.config.readout == "step" and m.config.max_steps == 4096
    vocab = charlm.vocab_from_meta(m.meta)
    assert len(vocab) == m.config.input_size == m.config.num_classes
    data = load_recorded(m.meta["data"])
    res = run(m.config, m.params, quantize_inputs(data.x_test, m.config))
    assert charlm.bpc(res.step_logits, data.y_test, m.config.readout_acc_frac) == r["test_bpc"]


def test_golden_step_logits_equal_the_qat_forward(tiny_lm, tmp_path, capsys):
    """Without fine-tuning the model file holds QATModel(float model).export(): the golden
    model's per-step integer logits on it must be the QAT forward's, bit for bit."""
    out = tmp_path / "ptq.egru"
    code, r = run_json(capsys, "quantize", str(tiny_lm), "--out", str(out), "--qat-epochs", "0")
    assert code == 0, r
    m = modelfile.load(str(out))
    model, blob = checkpoint.load(str(tiny_lm))
    x = load_recorded(blob["data"]).x_test[:16]
    golden = run(m.config, m.params, quantize_inputs(x, m.config))
    with torch.no_grad():
        qat_logits, _ = QATModel(model, m.config)(torch.from_numpy(x))
    ints = qat_logits * 2.0 ** m.config.readout_acc_frac
    assert torch.equal(ints, ints.round()) and qat_logits.shape == golden.step_logits.shape
    assert torch.equal(ints.to(torch.int64), golden.step_logits)
