"""Trading events for accuracy after training, by scaling the thresholds of a quantized model.

A unit emits an event when its state crosses its threshold, so larger thresholds give fewer
events (less work for the event-driven core) and, past some point, lower accuracy. Scaling the
integer thresholds of a model file needs no retraining and keeps the model a valid model file
(thresholds stay in [0, 1.0], the range EvNN and docs/arithmetic.md allow), so the golden model,
the cycle model and the hardware all run it unchanged. `egru demo` plots the curve and
`make bench` sweeps it against lanes and weight sparsity.
"""

import dataclasses

import torch

from hw.spec import EGRUConfig
from sw.golden import ModelParams, run


def scale_thresholds(cfg: EGRUConfig, params: ModelParams, factor: float) -> ModelParams:
    """The same model with every threshold multiplied by ``factor`` (rounded half up to the
    state format, clamped to [0, 1.0])."""
    if not factor >= 0:
        raise ValueError(f"threshold scale must be a non-negative number, got {factor!r}")
    layers = []
    for L in params.layers:
        thr = torch.floor(L.thr.to(torch.float64) * factor + 0.5).to(torch.int64).clamp(0, cfg.one)
        layers.append(dataclasses.replace(L, thr=thr))
    return dataclasses.replace(params, layers=layers)


def threshold_sweep(cfg: EGRUConfig, params: ModelParams, x_q: torch.Tensor, y, factors) -> list[dict]:
    """Golden-model accuracy and activity at each threshold scale. x_q: quantized inputs
    [N, T, I]; y: labels [N]. Activity is the fraction of (unit, step) pairs with an event,
    events_per_step the mean number of events per step over all layers."""
    labels = torch.as_tensor(y)
    out = []
    for factor in factors:
        res = run(cfg, scale_thresholds(cfg, params, factor), x_q)
        o = torch.cat([r.o for r in res.layers], dim=2).to(torch.float64)
        out.append({
            "threshold_scale": float(factor),
            "accuracy": float((res.predictions == labels).double().mean()),
            "activity": float(o.mean()),
            "events_per_step": float(o.sum(dim=2).mean()),
        })
    return out
