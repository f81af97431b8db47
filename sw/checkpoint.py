"""The float checkpoint that `egru train` writes and later steps (quantize, demo) read.

A torch-saved dict of plain values and tensors (loaded with ``weights_only=True``, so a
checkpoint cannot run code): the architecture, the state dict, the data set it was trained
on (enough to load the same data again, and its hash), the training settings and metrics.

Integrity: ``sha256`` is the digest of the contents (every other entry, the tensors' names,
dtypes, shapes and bytes), so a changed byte that still unpickles -- a flipped bit in a weight
-- is found on load. Checkpoints written before the digest existed (the shipped
gen/models/*.pt among them) have no ``sha256`` and load unchecked; every save writes it.
"""

import hashlib
import io
import json

import torch

from sw.classifier import EGRUClassifier
from sw.files import file_problem, write_atomic

FORMAT = "egru-float-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with a message that names the problem."""


def save(path: str, model: EGRUClassifier, *, data: dict, train: dict, metrics: dict) -> None:
    """Write atomically: a crash or a full disk leaves either the old file or the new one."""
    rnn0 = model.rnns[0]
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "model": {
            "input_size": rnn0.input_size,
            "hidden_size": rnn0.hidden_size,
            "num_classes": model.readout.out_features,
            "layers": len(model.rnns),
            "readout": model.readout_mode,
            "egru": {"dropout": rnn0.dropout, "zoneout": rnn0.zoneout},
        },
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "data": data,
        "train": train,
        "metrics": metrics,
    }
    blob["sha256"] = digest(blob)
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    write_atomic(path, buffer.getvalue())


def digest(blob: dict) -> str:
    """SHA-256 of a checkpoint's contents: the plain entries as sorted JSON, then every tensor
    of the state dict by name (dtype, shape, bytes). ``sha256`` itself is left out."""
    h = hashlib.sha256()
    plain = {k: v for k, v in blob.items() if k not in ("state_dict", "sha256")}
    h.update(json.dumps(plain, sort_keys=True, default=repr).encode())
    for name in sorted(blob["state_dict"]):
        t = blob["state_dict"][name].detach().cpu()
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# what a checkpoint must hold, checked before any of it is used
_ENTRIES = {"model": dict, "state_dict": dict, "data": dict, "train": dict, "metrics": dict}
_MODEL = {"input_size": int, "hidden_size": int, "num_classes": int, "layers": int, "egru": dict}


def load(path: str) -> tuple[EGRUClassifier, dict]:
    """Rebuild the classifier from a checkpoint; returns (model in eval mode, the whole dict).
    Any problem raises CheckpointError naming it."""
    problem = file_problem(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    blob = _read(path)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} (written by `egru train`)")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {blob.get('version')!r} is not "
                              f"supported (this egru reads version {VERSION})")
    _check_entries(path, blob)
    if "sha256" in blob and blob["sha256"] != _digest_or_none(blob):
        raise CheckpointError(f"{path}: checksum mismatch: the checkpoint is corrupted (its contents "
                              f"changed after `egru train` wrote it)")
    m = blob["model"]
    try:
        # checkpoints from before the readout mode have none: theirs is the summed readout
        model = EGRUClassifier(m["input_size"], m["hidden_size"], m["num_classes"],
                               layers=m["layers"], readout=m.get("readout", "sequence"), **m["egru"])
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: parameters do not match the architecture ({e})") from None
    model.eval()
    return model, blob


def _digest_or_none(blob: dict) -> str | None:
    """The digest, or None when the contents are too damaged to take one (not tensors)."""
    try:
        return digest(blob)
    except (AttributeError, TypeError, RuntimeError, ValueError):
        return None


def _read(path: str):
    """torch.load with weights_only; its errors become one line that says what the file is."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"EGRUMODL":
        raise CheckpointError(f"{path}: is an .egru model file (written by `egru quantize`), not a float "
                              f"checkpoint; give the checkpoint of `egru train` (.pt)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        if "Weights only load failed" in str(e):
            reason = ("it holds Python objects other than tensors and plain values, which egru does not load "
                      "(loading them could run code)")
        else:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None


def _check_entries(path: str, blob: dict) -> None:
    for key, kind in _ENTRIES.items():
        if not isinstance(blob.get(key), kind):
            raise CheckpointError(f"{path}: damaged checkpoint: its {key!r} entry is missing or not a "
                                  f"{kind.__name__}")
    for key, kind in _MODEL.items():
        value = blob["model"].get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CheckpointError(f"{path}: damaged checkpoint: model.{key} is missing or not a {kind.__name__}")
