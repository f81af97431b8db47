"""From a float EGRUClassifier to integers: format choice (post-training quantization),
structured magnitude pruning, and quantization-aware fine-tuning.

Formats are per-tensor powers of two: the most fractional bits with which the tensor's largest
magnitude still fits its width (sw.fixedpoint.frac_for). Power-of-two scales keep every
rescaling in the datapath a shift.
"""

import dataclasses

import numpy as np
import torch

from hw.spec import EGRUConfig
from sw.charlm import bpc
from sw.classifier import EGRUClassifier
from sw.fixedpoint import frac_for
from sw.golden import GoldenResult, ModelParams, quantize_inputs, run
from sw.qat import QATModel
from sw.train import TrainConfig, check_finite_positive, check_seed, fit


@dataclasses.dataclass(frozen=True)
class QuantSettings:
    weight_bits: int = 8
    state_bits: int = 16
    input_bits: int = 8
    prune: float = 0.0          # target fraction of pruned (source, target) entries in W and R
    qat_epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    balance_lanes: int = 0      # prune to equal lane lists for this many lanes (and its divisors); 0: global
    permute_lanes: int = 0      # renumber the units at export to even out the lane lists for this many lanes

    def __post_init__(self):
        if not 0.0 <= self.prune < 1.0:
            raise ValueError(f"prune must be a fraction in [0, 1), got {self.prune!r}")
        if isinstance(self.balance_lanes, bool) or not isinstance(self.balance_lanes, int) \
                or not 0 <= self.balance_lanes <= 64:
            raise ValueError(f"--balance-lanes must be 0 (global pruning) or a lane count 1..64, "
                             f"got {self.balance_lanes!r}")
        if isinstance(self.permute_lanes, bool) or not isinstance(self.permute_lanes, int) \
                or not 0 <= self.permute_lanes <= 64:
            raise ValueError(f"--permute-lanes must be 0 (the units keep their order) or a lane count 1..64, "
                             f"got {self.permute_lanes!r}")
        if self.balance_lanes and not self.prune:
            raise ValueError("--balance-lanes balances what pruning keeps: give --prune > 0 with it")
        if isinstance(self.qat_epochs, bool) or not isinstance(self.qat_epochs, int) or self.qat_epochs < 0:
            raise ValueError(f"qat_epochs must be a non-negative integer, got {self.qat_epochs!r}")
        if self.prune and not self.qat_epochs:
            raise ValueError("pruning needs fine-tuning: give --qat-epochs > 0 with --prune")
        check_finite_positive(self.lr, "lr")
        check_seed(self.seed, "seed")


# A per-step readout accumulates one step's events only, so max_steps sizes nothing but the step
# counters there: a language model gets room to generate this many characters from one reset
# (a sequence longer than its training windows), and at most EGRUConfig's limit.
STEP_MAX_STEPS = 4096
MAX_STEPS_LIMIT = 1 << 20


def max_steps_for(readout: str, steps: int) -> int:
    """The max_steps of a model trained on sequences of ``steps`` steps: those steps for the
    summed readout (its accumulator is sized by them), at least STEP_MAX_STEPS per step."""
    return steps if readout == "sequence" else min(MAX_STEPS_LIMIT, max(steps, STEP_MAX_STEPS))


def choose_config(model: EGRUClassifier, x_train: np.ndarray, s: QuantSettings, max_steps: int) -> EGRUConfig:
    """Post-training quantization: pick every tensor's fractional bits from its range. The
    readout mode is the model's; ``max_steps`` (the training sequences' length) goes through
    :func:`max_steps_for`."""
    rnns = model.rnns
    wb = s.weight_bits
    readout = getattr(model, "readout_mode", "sequence")
    with torch.no_grad():
        return EGRUConfig(
            input_size=rnns[0].input_size, hidden_size=rnns[0].hidden_size,
            num_classes=model.readout.out_features, layers=len(rnns),
            max_steps=max_steps_for(readout, max_steps), readout=readout,
            input_bits=s.input_bits, input_frac=frac_for(float(np.abs(x_train).max()), s.input_bits),
            weight_bits=wb,
            kernel_frac=tuple(frac_for(float(r.kernel.abs().max()), wb) for r in rnns),
            recurrent_frac=tuple(frac_for(float(r.recurrent_kernel.abs().max()), wb) for r in rnns),
            readout_frac=frac_for(float(model.readout.weight.abs().max()), wb),
            state_bits=s.state_bits, state_frac=s.state_bits - 2,
            zoneout=rnns[0].zoneout,
        )


def prune_to(qat: QATModel, sparsity: float, balance_lanes: int = 0) -> None:
    """Keep the largest entries of every W and R by the L2 norm of their three gate weights;
    prune the rest (a pruned entry costs neither memory nor cycles on chip).

    ``balance_lanes`` = P > 0 prunes lane-balanced instead (the idea of Spartus's
    column-balanced targeted dropout): in every source column, the units of each lane
    (k mod P) keep the same fraction, their largest entries, so every column's P lane lists
    come out equally long and a step costs the ideal bound (sw/cycles.py), not the longest
    lane's list. Balanced for P lanes is balanced for every divisor of P too."""
    H = qat.cfg.hidden_size
    with torch.no_grad():
        for layer in range(qat.cfg.layers):
            for kind, weight in (("kernel", qat.kernels[layer]), ("recurrent", qat.recurrents[layer])):
                norms = weight.reshape(weight.shape[0], 3, H).pow(2).sum(dim=1)  # [source, H]
                if balance_lanes:
                    mask = _balanced_mask(norms, sparsity, balance_lanes)
                else:
                    n_prune = int(round(sparsity * norms.numel()))
                    mask = torch.ones_like(norms)
                    if n_prune:
                        order = torch.argsort(norms.flatten(), stable=True)
                        mask.view(-1)[order[:n_prune]] = 0.0
                qat.mask(kind, layer).copy_(mask)


def _balanced_mask(norms: torch.Tensor, sparsity: float, lanes: int) -> torch.Tensor:
    """[source, H] entry norms -> a keep mask of round((1 - sparsity) x source x H) entries in
    which, in every row, the lanes' counts differ by at most one: a column's longest lane list
    is then ceil(entries / P), the ideal bound's cost (sw/cycles.py).

    A row keeps its entries in "levels": first the best entry of every lane, then the second
    best of every lane, and so on, within a level the larger norms first; keeping any prefix of
    that order leaves the lanes within one of each other. Each slot of that order scores its
    entry's norm, made non-increasing along the row (so a row's kept slots are a prefix), and the
    best slots of the whole matrix are kept: the fraction is met exactly, and rows keep more or
    less as their entries deserve, as global magnitude pruning would."""
    S, H = norms.shape
    P = min(lanes, H)
    depth = -(-H // P)
    vals = torch.full((S, depth, P), float("-inf"), dtype=norms.dtype)
    where = torch.zeros((S, depth, P), dtype=torch.int64)  # unit index of each lane's j-th best
    for p in range(P):
        v, i = torch.sort(norms[:, p::P], dim=1, descending=True, stable=True)
        vals[:, :v.shape[1], p] = v
        where[:, :v.shape[1], p] = p + P * i
    level_vals, lane_order = torch.sort(vals, dim=2, descending=True, stable=True)
    units = torch.gather(where, 2, lane_order).reshape(S, depth * P)
    slots = level_vals.reshape(S, depth * P)
    valid = torch.isfinite(slots)  # lanes with fewer units lack the last level's slot
    score = torch.cummin(torch.where(valid, slots, torch.full_like(slots, float("inf"))), dim=1).values
    score = torch.where(valid, score, torch.full_like(score, float("-inf")))
    budget = int(round((1.0 - sparsity) * S * H))
    order = torch.sort(score.flatten(), descending=True, stable=True).indices[:budget]
    mask = torch.zeros_like(norms)
    rows = order // (depth * P)
    mask[rows, units.flatten()[order]] = 1.0
    return mask


def pruning_schedule(target: float, epoch: int, epochs: int) -> float:
    """Cubic ramp from 0 to the target over the first half of the epochs (Zhu & Gupta 2017),
    then constant, so the second half fine-tunes the final sparsity."""
    ramp = max(1, epochs // 2)
    frac = min(1.0, (epoch + 1) / ramp)
    return target * (1.0 - (1.0 - frac) ** 3)


def fine_tune(qat: QATModel, data, s: QuantSettings, train_cfg: TrainConfig, on_epoch=None) -> list[float]:
    cfg = TrainConfig(hidden=qat.cfg.hidden_size, layers=qat.cfg.layers, epochs=s.qat_epochs,
                      batch_size=s.batch_size, lr=s.lr, seed=s.seed, activity_reg=train_cfg.activity_reg)
    before = (lambda e: prune_to(qat, pruning_schedule(s.prune, e, s.qat_epochs), s.balance_lanes)) \
        if s.prune else None
    return fit(qat, data, cfg, on_epoch=on_epoch, before_epoch=before)


def golden_eval(cfg: EGRUConfig, params: ModelParams, x: np.ndarray, y: np.ndarray) -> tuple[dict, GoldenResult]:
    """Accuracy and activity of the golden model on x; with a per-step readout (y [N, T])
    accuracy is per step and ``bpc`` the bits per character of the integer logits."""
    res = run(cfg, params, quantize_inputs(x, cfg))
    o = torch.cat([r.o for r in res.layers], dim=2)
    out = {"activity": float(o.double().mean()), "accuracy": float((res.predictions.numpy() == y).mean())}
    if cfg.per_step:
        out["bpc"] = bpc(res.step_logits, y, cfg.readout_acc_frac)
    return out, res


def weight_sparsity(params: ModelParams, H: int) -> float:
    """Fraction of (source, target) entries of all W and R whose three gate weights are 0."""
    zero = total = 0
    for L in params.layers:
        for w in (L.kernel, L.recurrent):
            entries = (w.reshape(w.shape[0], 3, H) != 0).any(dim=1)
            zero += int((~entries).sum())
            total += entries.numel()
    return zero / total
