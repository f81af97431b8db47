"""Training and evaluation of the EGRU classifier (and the dense GRU baseline).

Training is plain BPTT through the EGRU with the triangular pseudo-derivative: the
gradient reaches R only through the rows of units that emitted an event (y is sparse), and
reaches a unit's state only where psi(v) != 0. That is the sparse BPTT of the EGRU paper;
:func:`evaluate` measures both sparsities.

A data set with per-step targets (y [N, T]: the character language model, sw/charlm.py) gets
models with a per-step readout; the loss is then the cross-entropy of every step, and every
window is one truncated-BPTT segment that starts from zero state.
"""

import dataclasses
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from sw import threads
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
    # A layer that fires less than this on the first training batch at initialisation gets its
    # thresholds scaled down until it does (0 keeps EvNN's draw as it is); see calibrate_thresholds.
    init_activity: float = 0.05

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
        if not (math.isfinite(self.init_activity) and 0.0 <= self.init_activity < 0.5):
            raise ValueError(f"init_activity must be in [0, 0.5), got {self.init_activity!r}")

    def egru_kwargs(self) -> dict:
        return dict(thr_mean=self.thr_mean, dampening_factor=self.dampening_factor,
                    pseudo_derivative_support=self.pseudo_derivative_support,
                    dropout=self.dropout, zoneout=self.zoneout)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True)


CALIBRATION_SAMPLES = 128  # the first training sequences: the calibration draws no random numbers


def build_egru(cfg: TrainConfig, data: SequenceDataset) -> EGRUClassifier:
    """The EGRU classifier with EvNN's initialisation, then every layer's thresholds calibrated
    to fire at least ``cfg.init_activity`` on the first training sequences."""
    model = EGRUClassifier(data.features, cfg.hidden, data.num_classes, layers=cfg.layers,
                           readout=readout_for(data), **cfg.egru_kwargs())
    if cfg.init_activity:
        calibrate_thresholds(model, data.x_train[:CALIBRATION_SAMPLES], cfg.init_activity)
    return model


@torch.no_grad()
def calibrate_thresholds(model: EGRUClassifier, x: np.ndarray, min_activity: float) -> list[float]:
    """Scale each layer's thresholds down, first layer first, until the layer emits events on
    at least ``min_activity`` of its (unit, step) pairs on ``x``; a layer that already does is
    left as it is. Returns each layer's scale (1.0 = unchanged).

    Why: EvNN draws thresholds around ``thr_mean`` (0.3) whatever the layer's size, while
    Xavier-initialised pre-activations shrink with the fan-in and a deeper layer's inputs are
    sparse events. A 256-unit layer then fires on about 3% of its unit-steps and the layer
    stacked on it on none, so no gradient reaches past it and the model never trains (EvNN's
    own language models start from thresholds near 0.02 for the same reason). The scale
    keeps every unit's random draw, only smaller; found by bisection in log scale, since the
    activity falls as the thresholds grow."""
    mode = model.training
    model.eval()  # no DropConnect while measuring
    h, scales = torch.as_tensor(x), []
    try:
        for rnn in model.rnns:
            base = rnn.thr.data.clone()

            def activity(scale, rnn=rnn, base=base, h=h):
                rnn.thr.data.copy_(base * scale)
                return float(rnn(h)[1][1].double().mean())

            scale = 1.0
            if activity(1.0) < min_activity:
                lo, hi = 1e-4, 1.0  # activity(lo) >= min_activity > activity(hi), or lo is the best there is
                if activity(lo) >= min_activity:
                    for _ in range(14):  # 4 decades / 2**14: scale within 0.06%
                        mid = (lo * hi) ** 0.5
                        lo, hi = (mid, hi) if activity(mid) >= min_activity else (lo, mid)
                scale = lo
            rnn.thr.data.copy_(base * scale)
            h = rnn(h)[0]
            scales.append(scale)
    finally:
        model.train(mode)
    return scales


def build_gru(cfg: TrainConfig, data: SequenceDataset) -> GRUClassifier:
    return GRUClassifier(data.features, cfg.hidden, data.num_classes, layers=cfg.layers,
                         readout=readout_for(data))


def readout_for(data: SequenceDataset) -> str:
    """The readout mode that fits the data set's targets: per step for y [N, T]."""
    return "step" if data.per_step else "sequence"


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of [N, C] logits and [N] labels, or of [N, T, C] per-step
    logits and [N, T] targets over every step."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@threads.training_loop  # intra-op threads chosen by the problem's size (sw/threads.py)
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
    history = []
    warned = set()
    for epoch in range(cfg.epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        events = None
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            logits, traces = model(x[idx])
            if traces:
                counts = [float(t.o.detach().sum()) for t in traces]
                events = counts if events is None else [a + b for a, b in zip(events, counts, strict=True)]
            loss = cross_entropy(logits, y[idx])
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
        for layer in [i for i, n in enumerate(events or []) if n == 0 and i not in warned]:
            warned.add(layer)
            warnings.warn(SilentLayerWarning(
                f"EGRU layer {layer} emitted no event in epoch {epoch + 1}: nothing reaches the layers above it "
                "(raise --init-activity, lower --thr-mean or --activity-reg; docs/training.md, large models)"),
                stacklevel=2)
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
    step) and backward sparsity (fraction of unit-steps whose pseudo-derivative is zero).
    With per-step targets y [N, T], accuracy is that of the next character and ``bpc`` the
    mean cross-entropy in bits over every step."""
    model.eval()
    correct = 0
    nats = 0.0
    events = units = silent_grad = 0
    per_layer: list[list[int]] = []  # [events, unit-steps] of each layer
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i:i + batch_size])
        logits, traces = model(xb)
        yb = torch.from_numpy(y[i:i + batch_size])
        correct += int((logits.argmax(dim=-1) == yb).sum())
        nats += float(cross_entropy(logits.double(), yb)) * yb.numel()
        for i, (layer, t) in enumerate(zip(_egru_layers(model), traces, strict=True)):
            eps = float(layer.pseudo_derivative_support)
            events += int(t.o.sum())
            units += t.o.numel()
            silent_grad += int((t.v.abs() >= 1.0 / eps).sum())
            if i == len(per_layer):
                per_layer.append([0, 0])
            per_layer[i][0] += int(t.o.sum())
            per_layer[i][1] += t.o.numel()
    out = {"accuracy": correct / y.size}
    if y.ndim == 2:
        out["bpc"] = nats / y.size / math.log(2.0)
    if units:
        out["activity"] = events / units
        out["backward_sparsity"] = silent_grad / units
        out["layer_activity"] = [e / n for e, n in per_layer]
    return out


def _egru_layers(model):
    return list(getattr(model, "rnns", []))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class SilentLayerWarning(UserWarning):
    """A layer emitted no event in a whole epoch of training."""


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
