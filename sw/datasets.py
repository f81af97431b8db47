"""Sequence data sets: the built-in tasks and a user's own ``.npz`` file.

Every data set is a :class:`SequenceDataset` of float32 inputs [N, T, I] and int64 labels
[N] in ``[0, num_classes)``, already split into train and test. The character language model
(sw/charlm.py: ``--task charlm``, ``--text FILE``) has per-step targets instead, y [N, T].
"""

import dataclasses
import hashlib
import os

import numpy as np

from hw.spec import MAX_CLASSES
from sw.files import file_problem

TASKS = ("digits", "mnist1d", "charlm")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetError(ValueError):
    """A data set that cannot be used, with a message that names the problem."""


@dataclasses.dataclass(frozen=True)
class SequenceDataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str  # "task:digits", "npz:<path>" or "text:<path>", enough to load the same data again
    sha256: str  # of the arrays, so a later step can tell that the data changed
    charlm: dict | None = None  # a language model's vocabulary and window settings (sw/charlm.py)

    @property
    def steps(self) -> int:
        return self.x_train.shape[1]

    @property
    def features(self) -> int:
        return self.x_train.shape[2]

    @property
    def per_step(self) -> bool:
        """Targets at every step (y [N, T]: a language model) rather than one per sequence."""
        return self.y_train.ndim == 2

    def record(self) -> dict:
        """What a checkpoint or model file keeps of the data set: enough for load_recorded."""
        out = {"name": self.name, "source": self.source, "sha256": self.sha256, "steps": self.steps,
               "features": self.features, "num_classes": self.num_classes}
        if self.charlm is not None:
            out["charlm"] = self.charlm
        return out


def load(task: str | None = None, data: str | None = None) -> SequenceDataset:
    """Load a built-in task by name or a user's ``.npz`` file (exactly one of the two)."""
    if (task is None) == (data is None):
        raise DatasetError("give exactly one of a task name or a data file")
    if data is not None:
        return load_npz(data)
    return load_task(task)


def load_task(name: str) -> SequenceDataset:
    if name == "digits":
        return _digits()
    if name == "mnist1d":
        return _mnist1d()
    if name == "charlm":
        from sw import charlm
        return charlm.load_builtin()
    raise DatasetError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")


def _digits() -> SequenceDataset:
    """scikit-learn's 8x8 digits read row by row: 8 steps of 8 features in [0, 1].

    The 80/20 stratified split is fixed (seed 0), independent of any training seed, so every
    run is evaluated on the same 360 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)  # [1797, 8, 8], pixel values 0..16
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return assemble("digits", "task:digits", x_tr, y_tr, x_te, y_te)


def _mnist1d() -> SequenceDataset:
    """MNIST-1D (Greydanus 2020), generated locally by the `mnist1d` package with its default
    arguments (seed 42; never its downloader): 10 classes of 1-D digit templates, randomly
    padded, translated, sheared, scaled and noised into 40 samples, standardised. As 40 steps of
    1 feature; its own split, 4000 train and 1000 test. Harder than digits: a sequence model
    must integrate a shape over 40 steps from one noisy value per step."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds Python's and numpy's global generators; the caller's state comes back
    saved = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    as_steps = lambda a: np.asarray(a, dtype=np.float32)[:, :, None]  # noqa: E731  [N, 40] -> [N, 40, 1]
    return assemble("mnist1d", "task:mnist1d", as_steps(d["x"]), np.asarray(d["y"], dtype=np.int64),
                 as_steps(d["x_test"]), np.asarray(d["y_test"], dtype=np.int64))


def load_npz(path: str) -> SequenceDataset:
    """Load and validate a user's data set: keys x_train [N, T, I] float, y_train [N] int,
    x_test [M, T, I] float, y_test [M] int. Raises DatasetError naming the first problem."""
    problem = file_problem(path)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # np.load would treat anything else as a pickle
            raise DatasetError(f"{path}: not a readable .npz file (an .npz is a zip archive of "
                               f"arrays, as numpy.savez writes it)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DatasetError(f"{path}: missing key(s) {', '.join(missing)}; "
                                   f"a data file needs {', '.join(NPZ_KEYS)} (found: "
                                   f"{', '.join(f.files) or 'none'})")
            arrays = {k: f[k] for k in NPZ_KEYS}
    except DatasetError:
        raise
    except ValueError as e:  # object arrays need pickle, which we refuse to run
        raise DatasetError(f"{path}: cannot read arrays without pickle ({e})") from None
    except Exception as e:  # not a zip / npz at all, or a damaged one
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None

    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3:
            raise DatasetError(f"{path}: x_{split} must be 3-D [N, T, I], got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise DatasetError(f"{path}: x_{split} must be a float array, got dtype {x.dtype}")
        if y.ndim != 1:
            raise DatasetError(f"{path}: y_{split} must be 1-D [N], got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"{path}: y_{split} must be an integer array, got dtype {y.dtype}")
        if x.shape[0] == 0:
            raise DatasetError(f"{path}: x_{split} holds no sequences")
        if x.shape[1] == 0 or x.shape[2] == 0:
            raise DatasetError(f"{path}: x_{split} has an empty axis, shape {x.shape}")
        if x.shape[0] != y.shape[0]:
            raise DatasetError(f"{path}: x_{split} has {x.shape[0]} sequences but y_{split} "
                               f"has {y.shape[0]} labels")
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise DatasetError(f"{path}: x_{split} holds NaN or infinite values "
                               f"(first at index {tuple(int(i) for i in bad)})")
        if x.dtype.itemsize > 4 and np.abs(x).max() > np.finfo(np.float32).max:  # would become inf
            raise DatasetError(f"{path}: x_{split} holds values beyond float32's range "
                               f"(largest magnitude {float(np.abs(x).max()):g}); training computes in float32")
        if y.min() < 0:
            raise DatasetError(f"{path}: y_{split} holds negative label {int(y.min())}")
        if int(y.max()) >= MAX_CLASSES:  # also what would overflow int64 or ask for a huge readout
            raise DatasetError(f"{path}: y_{split} holds label {int(y.max())}; labels must be class "
                               f"numbers 0..C-1 with C at most {MAX_CLASSES} (the accelerator's readout)")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DatasetError(f"{path}: x_train sequences are [T, I] = "
                           f"{list(arrays['x_train'].shape[1:])} but x_test are "
                           f"{list(arrays['x_test'].shape[1:])}")
    num_classes = int(arrays["y_train"].max()) + 1
    if num_classes < 2:
        raise DatasetError(f"{path}: y_train holds a single class; classification needs two")
    if int(arrays["y_test"].max()) >= num_classes:
        raise DatasetError(f"{path}: y_test holds label {int(arrays['y_test'].max())}, out of "
                           f"range: y_train has labels 0..{num_classes - 1}")
    name = os.path.splitext(os.path.basename(path))[0]
    return assemble(name, f"npz:{os.path.abspath(path)}", arrays["x_train"], arrays["y_train"],
                 arrays["x_test"], arrays["y_test"], num_classes)


def assemble(name, source, x_tr, y_tr, x_te, y_te, num_classes=None, charlm=None) -> SequenceDataset:
    """A SequenceDataset of contiguous float32 inputs and int64 targets, hashed."""
    x_tr, x_te = (np.ascontiguousarray(a, dtype=np.float32) for a in (x_tr, x_te))
    y_tr, y_te = (np.ascontiguousarray(a, dtype=np.int64) for a in (y_tr, y_te))
    if num_classes is None:
        num_classes = int(max(y_tr.max(), y_te.max())) + 1
    h = hashlib.sha256()
    for a in (x_tr, y_tr, x_te, y_te):
        h.update(a.tobytes())
    return SequenceDataset(name, x_tr, y_tr, x_te, y_te, num_classes, source, h.hexdigest(), charlm)


def missing_labels(data: SequenceDataset) -> list[int]:
    """Class numbers below num_classes that no training sequence has (labels {0, 5, 10} leave
    1-4 and 6-9 empty: a readout of 11 classes, 8 of them never trained)."""
    return sorted(set(range(data.num_classes)) - set(np.unique(data.y_train).tolist()))


def load_recorded(record: dict) -> SequenceDataset:
    """Load the data set a checkpoint or model file records ({"source", "sha256"}) and check
    that it is still the same data."""
    src = (record or {}).get("source", "")
    kind, _, where = src.partition(":")
    if kind not in ("task", "npz", "text"):
        raise DatasetError(f"the model records no data set to load (source {src!r}); a checkpoint of "
                           f"`egru train`, and a model file quantized from one, record it")
    if isinstance(record.get("charlm"), dict):  # the same windows and vocabulary settings again
        from sw import charlm
        data = charlm.load_recorded(src, record["charlm"])
    elif kind == "text":
        raise DatasetError(f"the model records the text {where} without its language-model settings")
    else:
        data = load(task=where) if kind == "task" else load(data=where)
    if data.sha256 != record.get("sha256"):
        raise DatasetError(f"the data set {src} changed since the model was trained (hash differs)")
    return data
