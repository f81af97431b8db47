"""Data sets: the built-in digits task, and a user's .npz file validated with errors that name
the problem."""

import numpy as np
import pytest

from sw.datasets import DatasetError, load, load_npz, load_recorded, missing_labels


def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.random((20, 5, 3), dtype=np.float32),
        "y_train": rng.integers(0, 4, 20),
        "x_test": rng.random((6, 5, 3), dtype=np.float32),
        "y_test": rng.integers(0, 4, 6),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return str(path)


def test_digits_is_8_steps_of_8_features_with_a_fixed_split():
    d = load(task="digits")
    assert d.x_train.shape == (1437, 8, 8) and d.x_test.shape == (360, 8, 8)
    assert d.num_classes == 10 and d.x_train.dtype == np.float32
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert load(task="digits").sha256 == d.sha256


def test_a_valid_npz_loads_with_its_own_sizes(tmp_path):
    d = load(data=write_npz(tmp_path / "mine.npz", y_train=np.arange(20) % 4))
    assert (d.steps, d.features, d.num_classes, d.name) == (5, 3, 4, "mine")
    assert d.y_train.dtype == np.int64 and d.x_test.dtype == np.float32


CORRUPTIONS = {
    "missing-key": (dict(y_test=None), "missing key\\(s\\) y_test"),
    "x-not-3d": (dict(x_train=np.zeros((20, 15), np.float32)), "x_train must be 3-D"),
    "x-int-dtype": (dict(x_test=np.zeros((6, 5, 3), np.int32)), "x_test must be a float array, got dtype int32"),
    "y-float-dtype": (dict(y_train=np.zeros(20, np.float32)), "y_train must be an integer array"),
    "y-2d": (dict(y_test=np.zeros((6, 1), np.int64)), "y_test must be 1-D"),
    "count-mismatch": (dict(y_train=np.zeros(19, np.int64)), "x_train has 20 sequences but y_train has 19"),
    "nan": (dict(x_train=np.full((20, 5, 3), np.nan, np.float32)), "x_train holds NaN or infinite values"),
    "inf": (dict(x_test=np.full((6, 5, 3), np.inf, np.float32)), "x_test holds NaN or infinite"),
    "negative-label": (dict(y_train=-np.ones(20, np.int64)), "y_train holds negative label -1"),
    "test-label-out-of-range": (dict(y_train=np.arange(20) % 3, y_test=np.full(6, 7)),
                                "y_test holds label 7, out of range: y_train has labels 0..2"),
    "one-class": (dict(y_train=np.zeros(20, np.int64), y_test=np.zeros(6, np.int64)), "single class"),
    "shape-mismatch": (dict(x_test=np.zeros((6, 4, 3), np.float32)), "x_train sequences are \\[T, I\\]"),
    "empty": (dict(x_test=np.zeros((0, 5, 3), np.float32), y_test=np.zeros(0, np.int64)), "holds no sequences"),
    "beyond-float32": (dict(x_train=np.full((20, 5, 3), 1e300)), "x_train holds values beyond float32's range"),
    "label-2**40": (dict(y_train=np.full(20, 2**40)), "y_train holds label 1099511627776; .* at most 4096"),
    "label-int64-max": (dict(y_train=np.full(20, np.iinfo(np.int64).max)), "label 9223372036854775807; .* at most"),
    "label-uint64-max": (dict(y_test=np.full(6, np.iinfo(np.uint64).max)), "y_test holds label 18446744073709551615"),
    "a-million-classes": (dict(y_train=np.arange(20) * 50_000), "label 950000; .* at most 4096"),
}


@pytest.mark.parametrize("overrides,message", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_bad_npz_is_rejected_with_a_message_naming_the_problem(tmp_path, overrides, message):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DatasetError, match=message):
        load_npz(path)


def test_object_arrays_are_refused_without_running_pickle(tmp_path):
    path = write_npz(tmp_path / "obj.npz", x_train=np.array([None] * 20, dtype=object))
    with pytest.raises(DatasetError, match="without pickle"):
        load_npz(path)


def test_a_file_that_is_not_npz_or_does_not_exist(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(DatasetError, match="not a readable .npz file"):
        load_npz(str(junk))
    with pytest.raises(DatasetError, match="no such file"):
        load_npz(str(tmp_path / "absent.npz"))


def test_unknown_task_names_the_known_ones():
    with pytest.raises(DatasetError, match="unknown task 'mnist'; known tasks: digits"):
        load(task="mnist")


def test_labels_with_gaps_are_listed(tmp_path):
    d = load(data=write_npz(tmp_path / "gaps.npz", y_train=(np.arange(20) % 3) * 5, y_test=np.zeros(6, np.int64)))
    assert d.num_classes == 11 and missing_labels(d) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert missing_labels(load(task="digits")) == []


def test_a_directory_is_called_a_directory(tmp_path):
    with pytest.raises(DatasetError, match="is a directory, not a file"):
        load_npz(str(tmp_path))


def test_no_recorded_data_set_does_not_ask_for_an_option_that_does_not_exist():
    with pytest.raises(DatasetError, match="records no data set") as e:
        load_recorded({})
    assert "explicitly" not in str(e.value)
