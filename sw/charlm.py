"""Character language modelling: the corpus, the vocabulary, fixed-length windows and BPC.

The task is next-character prediction. A text is encoded with a small character vocabulary
(:class:`Vocabulary`), cut into windows of ``window`` input characters, and every window
becomes a sequence of one-hot inputs x [T, V] with next-character targets y [T]. The model
reads a window from zero state (the accelerator runs every sequence from reset), so BPC is
measured the same way on the float model, the quantized model and the hardware.

Corpora: the built-in one is every text file of Debian's ``fortunes`` package, in sorted order
(plain English, about 2.6 M characters, installed offline by ``make``'s set-up), or any UTF-8
text file with ``--text FILE``.

Split: window k (of the text cut into consecutive windows) is held out when k % HOLDOUT ==
HOLDOUT - 1, so the held-out windows are spread over the whole text (the fortunes files are
sorted by topic; a held-out tail would be one topic). Training and held-out windows are then
thinned to at most ``train_windows`` / ``test_windows`` evenly spaced ones, which bounds the
memory of the one-hot arrays and the cost of one epoch.
"""

import dataclasses
import math
import os
import unicodedata
from collections import Counter

import numpy as np
import torch

from sw.datasets import DatasetError, SequenceDataset, assemble
from sw.files import file_problem

FORTUNES_DIR = "/usr/share/games/fortunes"
FORTUNES_MARK = "zippy"   # a file of the `fortunes` package (fortunes-min shares the folder, not this)
UNKNOWN = "\ufffd"        # the symbol of index 0: every character outside the vocabulary
MAX_VOCAB = 96            # symbols including UNKNOWN: one-hot inputs, so the kernel's input size
WINDOW = 100              # input characters per window (truncated BPTT length)
TRAIN_WINDOWS = 3000      # at most this many training windows (evenly spaced over the text)
TEST_WINDOWS = 1000       # at most this many held-out windows (100 000 characters at WINDOW)
HOLDOUT = 10              # every HOLDOUT-th window is held out
MIN_WINDOWS = HOLDOUT     # a text needs this many windows: at least one held out


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Index 0 is :data:`UNKNOWN`; indices 1.. are the kept characters in code-point order."""
    symbols: tuple

    def __post_init__(self):
        if not self.symbols or self.symbols[0] != UNKNOWN:
            raise ValueError(f"a vocabulary starts with the unknown symbol {UNKNOWN!r}")
        if any(not isinstance(s, str) or len(s) != 1 for s in self.symbols):
            raise ValueError("every vocabulary symbol must be one character")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("the vocabulary holds a character twice")

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str) -> np.ndarray:
        """Character indices (int64); characters outside the vocabulary become 0 (UNKNOWN)."""
        table = {ch: i for i, ch in enumerate(self.symbols)}
        return np.fromiter((table.get(ch, 0) for ch in text), dtype=np.int64, count=len(text))

    def decode(self, indices) -> str:
        """The text of character indices; an index outside the vocabulary is refused."""
        out = []
        for i in np.asarray(indices, dtype=np.int64).reshape(-1).tolist():
            if not 0 <= i < len(self.symbols):
                raise ValueError(f"character index {i} is outside the vocabulary of {len(self.symbols)} symbols")
            out.append(self.symbols[i])
        return "".join(out)

    def to_meta(self) -> dict:
        """The JSON form a checkpoint and a model file's ``meta`` carry (see :func:`vocab_from_meta`)."""
        return {"symbols": list(self.symbols), "unknown": 0}


def build_vocab(text: str, max_size: int = MAX_VOCAB) -> Vocabulary:
    """The ``max_size - 1`` most frequent characters of ``text`` (ties: lower code point first)
    and UNKNOWN. Rare characters (stray accents) and control codes other than newline and tab
    (the backspaces of overstruck ASCII art) then share one symbol instead of each taking an
    input and an output of their own."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 3:
        raise ValueError(f"the vocabulary needs at least 3 symbols, got max_size {max_size!r}")
    counts = Counter(text)
    for ch in [ch for ch in counts if ch == UNKNOWN or (unicodedata.category(ch) == "Cc" and ch not in "\n\t")]:
        del counts[ch]
    kept = sorted(counts, key=lambda ch: (-counts[ch], ord(ch)))[:max_size - 1]
    return Vocabulary((UNKNOWN, *sorted(kept)))


def vocab_from_meta(meta: dict) -> Vocabulary:
    """The vocabulary of a model file's or a checkpoint's record: ``meta["charlm"]["vocab"]`` of
    a model file (egru quantize), ``blob["data"]["charlm"]["vocab"]`` of a checkpoint; pass the
    ``"charlm"`` dict or the dict that holds it."""
    d = meta.get("charlm", meta) if isinstance(meta, dict) else None
    v = d.get("vocab") if isinstance(d, dict) else None
    if not isinstance(v, dict) or not isinstance(v.get("symbols"), list):
        raise DatasetError("the model records no character vocabulary: it was not trained with "
                           "`egru train --task charlm` or `--text`")
    try:
        return Vocabulary(tuple(v["symbols"]))
    except ValueError as e:
        raise DatasetError(f"the recorded vocabulary is damaged ({e})") from None


# ---- corpora -------------------------------------------------------------------------------

def fortunes_text(folder: str = FORTUNES_DIR) -> str:
    """Every fortune of every text file in ``folder`` (sorted by name; ``.dat`` indexes and
    ``.u8`` links skipped), entries without their ``%`` separator lines, one blank line apart."""
    if not os.path.isfile(os.path.join(folder, FORTUNES_MARK)):
        raise DatasetError(f"the built-in corpus needs Debian's `fortunes` package "
                           f"({os.path.join(folder, FORTUNES_MARK)} is missing): "
                           f"run `make venv` (its set-up installs it) or `sudo apt-get install fortunes`, "
                           f"or bring your own text with --text FILE")
    entries = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            entry: list[str] = []
            for line in f:
                if line.rstrip("\n") == "%":
                    entries.append("".join(entry))
                    entry = []
                else:
                    entry.append(line)
            entries.append("".join(entry))
    text = "\n".join(e for e in entries if e.strip())
    if not text:
        raise DatasetError(f"{folder} holds no fortunes; reinstall the `fortunes` package")
    return text


def read_text(path: str) -> str:
    """A user's UTF-8 text file, refused with a message naming the problem when it is missing,
    binary or not UTF-8."""
    problem = file_problem(path)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw:
        raise DatasetError(f"{path}: a binary file (it holds NUL bytes, first at offset {raw.index(0)}); "
                           f"--text needs a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                           f"--text needs a UTF-8 text file") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


# ---- windows and the data set ----------------------------------------------------------------

def window_starts(length: int, window: int) -> np.ndarray:
    """Start offsets of the consecutive windows of a text of ``length`` characters: window k
    reads characters [k*window, k*window + window] (the last one is only a target)."""
    return np.arange(0, max(0, length - 1) // window, dtype=np.int64) * window


def _thin(indices: np.ndarray, at_most: int) -> np.ndarray:
    """At most ``at_most`` of ``indices``, evenly spaced over them (all when there are fewer)."""
    if len(indices) <= at_most:
        return indices
    return indices[np.linspace(0, len(indices) - 1, at_most).round().astype(np.int64)]


def one_hot(ids: np.ndarray, size: int) -> np.ndarray:
    """[..., ] character indices -> [..., size] float32 one-hot rows."""
    out = np.zeros((*ids.shape, size), dtype=np.float32)
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out


def make_windows(ids: np.ndarray, starts: np.ndarray, window: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot inputs x [N, T, V] float32 and next-character targets y [N, T] int64 of the
    windows starting at ``starts``."""
    rows = ids[starts[:, None] + np.arange(window + 1)]  # [N, T + 1]
    return one_hot(rows[:, :-1], vocab_size), np.ascontiguousarray(rows[:, 1:])


def dataset(text: str, *, name: str, source: str, window: int = WINDOW, train_windows: int = TRAIN_WINDOWS,
            test_windows: int = TEST_WINDOWS, max_vocab: int = MAX_VOCAB) -> SequenceDataset:
    """The language-modelling data set of ``text``: the vocabulary from the training windows'
    characters, one-hot windows, the held-out split (module doc). Its record carries the
    vocabulary and the settings, so a checkpoint can load the same windows again."""
    for what, v, lo in (("--window", window, 1), ("--windows", train_windows, 1), ("test windows", test_windows, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise DatasetError(f"{what} must be a positive integer, got {v!r}")
    starts = window_starts(len(text), window)
    if len(starts) < MIN_WINDOWS:
        raise DatasetError(f"{name}: too short for the language model: {len(text)} characters make "
                           f"{len(starts)} windows of {window}, it needs at least {MIN_WINDOWS} "
                           f"({MIN_WINDOWS * window + 1} characters; a smaller --window needs fewer)")
    held = np.arange(len(starts)) % HOLDOUT == HOLDOUT - 1
    train_starts, test_starts = starts[~held], starts[held]
    # the vocabulary from the training windows only: the held-out text is unseen in every way
    vocab = build_vocab("".join(text[s:s + window + 1] for s in train_starts.tolist()), max_vocab)
    ids = vocab.encode(text)
    train_starts, test_starts = _thin(train_starts, train_windows), _thin(test_starts, test_windows)
    x_tr, y_tr = make_windows(ids, train_starts, window, len(vocab))
    x_te, y_te = make_windows(ids, test_starts, window, len(vocab))
    lm = {"vocab": vocab.to_meta(), "window": window, "train_windows": train_windows,
          "test_windows": test_windows, "max_vocab": max_vocab, "characters": len(text)}
    return assemble(name, source, x_tr, y_tr, x_te, y_te, num_classes=len(vocab), charlm=lm)


LOAD_SETTINGS = ("window", "train_windows", "test_windows", "max_vocab")


def load_builtin(**settings) -> SequenceDataset:
    """The built-in corpus (``--task charlm``)."""
    return dataset(fortunes_text(), name="charlm", source="task:charlm", **settings)


def load_text(path: str, **settings) -> SequenceDataset:
    """A user's text file (``--text FILE``)."""
    name = os.path.splitext(os.path.basename(path))[0] or "text"
    return dataset(read_text(path), name=name, source=f"text:{os.path.abspath(path)}", **settings)


def load_recorded(source: str, lm: dict) -> SequenceDataset:
    """The data set of a checkpoint's record: its source and its settings (``record["charlm"]``)."""
    kind, _, where = source.partition(":")
    settings = {k: lm[k] for k in LOAD_SETTINGS if k in lm}
    return load_builtin(**settings) if kind == "task" else load_text(where, **settings)


# ---- bits per character ----------------------------------------------------------------------

def bpc(logits, targets, frac: int = 0) -> float:
    """Mean cross-entropy in bits per character over every step: logits [N, T, C] (or [M, C])
    and targets [N, T] (or [M]). Float logits take ``frac`` 0; the integer logits of the golden
    model or the hardware take ``frac`` = cfg.readout_acc_frac (their value is int * 2**-frac)."""
    z = torch.as_tensor(logits).to(torch.float64) * 2.0 ** -frac
    t = torch.as_tensor(targets).to(torch.int64)
    if z.shape[:-1] != t.shape:
        raise ValueError(f"bpc: logits {list(z.shape)} do not match targets {list(t.shape)}")
    nll = torch.nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), t.reshape(-1), reduction="mean")
    return float(nll) / math.log(2.0)
