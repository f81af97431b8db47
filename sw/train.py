"""Training and evaluation of the EGRU classifier (and the dense GRU baseline).

Training is plain BPTT through the EGRU with the triangular pseudo-derivative: the
gradient reaches R only through the rows of units that emitted an event (y is sparse), and
reaches a unit's state only where psi(v) != 0. That is the sparse BPTT of the EGRU paper;
:func:`evaluate` measures both sparsities.
"""

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from sw.classifier import EGRUClassifier, GRUClassifier
from sw.datasets import SequenceDataset


class TrainingDiverged(ValueError):
    """The loss or the parameters became NaN or infinite: nothing trained is worth writing."""


SEED_LIMIT = 2**63  # torch.manual_seed takes a 64-bit integer


def check_seed(seed, name: str = "--seed") -> None:
    """A seed torch and numpy both take, refused by ``name`` otherwise (torch's own error for
    2**70 is "Overflow when unpacking long long", which names nothing)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**63 - 1], got {seed!r}")


def check_finite_positive(value, name: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    hidden: int = 64
    layers: int = 1
    epochs: int = 60
    batch_size: int = 32
    lr: float = 5e-3
    weight_decay: float = 0.0
    seed: int = 0
    activity_reg: float = 0.0  # weight of the mean event rate in the loss
    thr_mean: float = 0.3
    dampening_factor: float = 0.7
    pseudo_derivative_support: float = 1.0
    dropout: float = 0.0
    zoneout: float = 0.0

    def __post_init__(self):
        for name in ("hidden", "layers", "epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        check_finite_positive(self.lr, "lr")
        for name in ("activity_reg", "weight_decay"):  # NaN fails every comparison: test finiteness
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        check_seed(self.seed, "seed")

    def egru_kwargs(self) -> dict:
        return dict(thr_mean=self.thr_mean, dampening_factor=self.dampening_factor,
                    pseudo_derivative_support=self.pseudo_derivative_support,
                    dropout=self.dropout, zoneout=self.zoneout)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True)


def build_egru(cfg: TrainConfig, data: SequenceDataset) -> EGRUClassifier:
    return EGRUClassifier(data.features, cfg.hidden, data.num_classes, layers=cfg.layers,
                          **cfg.egru_kwargs())


def build_gru(cfg: TrainConfig, data: SequenceDataset) -> GRUClassifier:
    return GRUClassifier(data.features, cfg.hidden, data.num_classes, layers=cfg.layers)


def fit(model: nn.Module, data: SequenceDataset, cfg: TrainConfig,
        on_epoch: Callable[[int, float], None] | None = None,
        before_epoch: Callable[[int], None] | None = None) -> list[float]:
    """Train ``model`` on the training split with Adam and a cosine learning-rate schedule.
    Returns the mean training loss of every epoch. Deterministic for a given cfg.seed.
    ``before_epoch(e)`` runs before epoch e (pruning uses it), ``on_epoch(e, loss)`` after."""
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(x) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(cfg.epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            logits, traces = model(x[idx])
            loss = loss_fn(logits, y[idx])
            if cfg.activity_reg and traces:
                loss = loss + cfg.activity_reg * torch.stack([t.o.mean() for t in traces]).mean()
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training diverged: the loss is {loss.item()} in epoch {epoch + 1}, "
                                       f"batch {i // cfg.batch_size + 1} (a smaller learning rate or activity "
                                       f"regularisation weight may help); nothing was written")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            try:
                opt.step()
            except RuntimeError as e:  # Adam's step size overflows float at lr ~1e38
                if "overflow" not in str(e):
                    raise
                raise TrainingDiverged(f"training diverged: the optimiser step overflows ({e}; a smaller "
                                       f"learning rate may help); nothing was written") from None
            sched.step()
            total += loss.item() * len(idx)
        history.append(total / len(x))
        _check_parameters_finite(model, epoch)
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    return history


def _check_parameters_finite(model: nn.Module, epoch: int) -> None:
    """The last optimiser step of an epoch can make a weight NaN after a finite loss."""
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise TrainingDiverged(f"training diverged: parameter {name} holds NaN or infinite values after "
                                   f"epoch {epoch + 1} (a smaller learning rate may help); nothing was written")


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> dict:
    """Accuracy and, for an EGRU, forward activity (mean fraction of units with o = 1 per
    step) and backward sparsity (fraction of unit-steps whose pseudo-derivative is zero)."""
    model.eval()
    correct = 0
    events = units = silent_grad = 0
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i:i + batch_size])
        logits, traces = model(xb)
        correct += int((logits.argmax(dim=1) == torch.from_numpy(y[i:i + batch_size])).sum())
        for layer, t in zip(_egru_layers(model), traces, strict=True):
            eps = float(layer.pseudo_derivative_support)
            events += int(t.o.sum())
            units += t.o.numel()
            silent_grad += int((t.v.abs() >= 1.0 / eps).sum())
    out = {"accuracy": correct / len(x)}
    if units:
        out["activity"] = events / units
        out["backward_sparsity"] = silent_grad / units
    return out


def _egru_layers(model):
    return list(getattr(model, "rnns", []))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
