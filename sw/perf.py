"""Schedule statistics of a model on a data set: cycles per step from the cycle model, the
architectural bound, and the dense (GRU) schedule of the same machine."""

import statistics

import torch

from hw.spec.layout import CoreImage
from sw import cycles
from sw.golden import run


def schedule_report(image: CoreImage, params, x_q: torch.Tensor) -> dict:
    """x_q: quantized inputs [N, T, I]. Runs the golden model for the events, then the cycle
    model for every step of every sequence."""
    res = run(image.cfg, params, x_q)
    per_step, bounds, ideals, worst = [], [], [], 0.0
    readout = []
    for n in range(x_q.shape[0]):
        for s in cycles.sequence_cycles(image, x_q, res, n):
            per_step.append(s.total)
            bounds.append(s.bound)
            ideals.append(s.ideal_bound)
            worst = max(worst, (s.total - 8) / s.bound if s.bound else 0.0)
        readout += cycles.readouts(image, res, n)
    T = x_q.shape[1]
    dense = cycles.dense_cycles_per_step(image, T)
    mean = statistics.fmean(per_step)
    out = {
        "lanes": image.cfg.lanes,
        "cycles_per_step": mean,
        "bound_cycles_per_step": statistics.fmean(bounds),
        "dense_cycles_per_step": dense,
        "dense_over_event_driven": dense / mean,
        "ratio_to_bound": mean / statistics.fmean(bounds),
        # entries spread evenly over the lanes (sw/cycles.py); layout / ideal is the lane imbalance
        "ideal_bound_cycles_per_step": statistics.fmean(ideals),
        "ratio_to_ideal_bound": mean / statistics.fmean(ideals),
        "lane_imbalance": statistics.fmean(bounds) / statistics.fmean(ideals),
        "worst_step_excess": worst,  # max over steps of (cycles - 8) / bound: the floor asks <= 1.10
        "readout_cycles": statistics.fmean(readout),
        "steps": len(per_step),
    }
    if image.cfg.per_step:
        # a readout after every step: a character (a step) costs its step and its readout. The
        # readout's bound is its multiply-accumulates, one per cycle: C per unit that fired.
        fired = res.layers[-1].o.sum(dim=2).double()
        ro_bound = image.cfg.num_classes * float(fired.mean())
        out["cycles_per_step_with_readout"] = mean + out["readout_cycles"]
        out["readout_bound_cycles"] = ro_bound
        out["bound_cycles_per_step_with_readout"] = out["bound_cycles_per_step"] + ro_bound
    return out
