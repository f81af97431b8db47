"""The float checkpoint that `egru train` writes and later steps (quantize, demo) read.

A torch-saved dict of plain values and tensors (loaded with ``weights_only=True``, so a
checkpoint cannot run code): the architecture, the state dict, the data set it was trained
on (enough to load the same data again, and its hash), the training settings and metrics.
"""

import os
import tempfile

import torch

from sw.classifier import EGRUClassifier

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
            "egru": {"dropout": rnn0.dropout, "zoneout": rnn0.zoneout},
        },
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "data": data,
        "train": train,
        "metrics": metrics,
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path: str) -> tuple[EGRUClassifier, dict]:
    """Rebuild the classifier from a checkpoint; returns (model in eval mode, the whole dict)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} (written by `egru train`)")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {blob.get('version')!r} is not "
                              f"supported (this egru reads version {VERSION})")
    m = blob["model"]
    model = EGRUClassifier(m["input_size"], m["hidden_size"], m["num_classes"],
                           layers=m["layers"], **m["egru"])
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: parameters do not match the architecture ({e})") from None
    model.eval()
    return model, blob
