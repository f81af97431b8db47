"""The cycle model of the core (hw/core/core.py): the exact number of cycles of every phase of
every step, from the configuration, the weight layout and the golden model's events. It is
the performance model for users who cannot simulate, and the hardware must meet it exactly
(tests/test_hw_core.py). Next to it: the architectural bound of the event-driven schedule and
the count of the dense (plain GRU) schedule on the same machine.

Per layer and step (see docs/datapath.md), with the latencies of the configuration's pipeline
(hw.spec.schedule, the one definition the hardware is built to):

    route  = max(route_walk + W, route_latency + W_last)      (route_cycles)
             W: sum over the layer's input and recurrent events of max(L_col, 1), in routing
             order; W_last: that sum up to the last column with an entry
             (route_empty when the layer has no event at all)
    update = ceil(H / P) + update_latency

and per sequence: readout = H + readout_scan + C * (units whose event sum is nonzero +
readout_per_class) + readout_final; with a per-step readout, one after every step, on the
units that fired in the step. L_col is the column's padded lane-list length
(hw.spec.layout): the longest of its P lane lists.

Two bounds, both the schedule without its pipeline constants, per layer and step:

    layout bound = sum over routed columns of L_col            + ceil(H / P)
    ideal bound  = sum over routed columns of ceil(E_col / P)  + ceil(H / P)

E_col is the number of entries the column stores. The layout bound is what this weight layout
allows (lane imbalance included: a column whose entries crowd one lane costs that lane's list);
the ideal bound is what P perfectly balanced lanes would take. Their ratio is the imbalance.
"""

import dataclasses

import torch

from hw.spec.layout import CoreImage, local_depth
from hw.spec.schedule import Schedule, schedule
from sw.golden import GoldenResult


@dataclasses.dataclass
class StepCycles:
    route: list      # per layer
    update: list     # per layer
    events: list     # per layer: number of input + recurrent events routed
    bound: int       # the layout bound (padded lane lists)
    ideal_bound: int  # entries spread evenly over the lanes

    @property
    def total(self) -> int:
        return sum(self.route) + sum(self.update)


def layer_sources(image: CoreImage, x_q: torch.Tensor, res: GoldenResult, n: int, t: int, layer: int,
                  dense: bool) -> list[int]:
    """Global column ids routed for (sequence n, step t, layer), in the core's order (``res`` in
    the user's unit order; the columns are the image's, in physical order)."""
    cfg, W = image.cfg, image.weights
    H, P = cfg.hidden_size, cfg.lanes
    M = local_depth(cfg, P)

    def by_lane(active):  # the core walks event buffers lane by lane, each in unit order
        return [m * P + p for p in range(P) for m in range(M) if m * P + p < H and active[m * P + p]]

    if layer == 0:
        src = [W.kernel_base[0] + i for i in range(cfg.input_size) if dense or x_q[n, t, i] != 0]
    else:
        fired = [True] * H if dense else _fired(image, res, layer - 1, n, t)
        src = [W.kernel_base[layer] + k for k in by_lane(fired)]
    if t > 0:
        fired = [True] * H if dense else _fired(image, res, layer, n, t - 1)
        src += [W.recurrent_base[layer] + k for k in by_lane(fired)]
    return src


def _fired(image: CoreImage, res: GoldenResult, layer: int, n: int, t: int) -> list:
    """The layer's event flags at (n, t) by physical unit (the golden run is in the user's order)."""
    o = res.layers[layer].o[n, t]
    return (o if image.unit_order is None else o[list(image.unit_order[layer])]).tolist()


def sequence_cycles(image: CoreImage, x_q: torch.Tensor, res: GoldenResult, n: int) -> list[StepCycles]:
    """Cycles of every step of sequence n (x_q [N, T, I] quantized inputs, res = golden run)."""
    cfg = image.cfg
    sched = schedule(cfg.pipeline)
    dense = cfg.memory == "dense"
    M = local_depth(cfg, cfg.lanes)
    out = []
    for t in range(x_q.shape[1]):
        route, update, events, bound, ideal = [], [], [], 0, 0
        for layer in range(cfg.layers):
            src = layer_sources(image, x_q, res, n, t, layer, dense)
            lengths = [image.weights.length(c) for c in src]
            route.append(route_cycles(lengths, sched))
            update.append(M + sched.update_latency)
            events.append(len(src))
            bound += sum(lengths) + M
            ideal += sum(-(-image.weights.entries[c] // cfg.lanes) for c in src) + M
        out.append(StepCycles(route=route, update=update, events=events, bound=bound, ideal_bound=ideal))
    return out


def route_cycles(lengths: list[int], sched: Schedule) -> int:
    """The route phase of one layer for columns of these padded lengths, in routing order.
    Each column occupies the back-end (the walker) max(L, 1) cycles; the phase ends when the
    walker has finished (route_walk after its last column) and the MAC lanes have written the
    last lane read's sums (route_latency after the last column with an entry), whichever is
    later: the MAC pipeline drains while the walker steps over trailing empty columns."""
    if not lengths:
        return sched.route_empty
    walked, last_read = 0, None
    for L in lengths:
        walked += max(L, 1)
        if L:
            last_read = walked
    return max(sched.route_walk + walked, sched.route_latency + last_read if last_read is not None else 0)


def readout_cycles(image: CoreImage, res: GoldenResult, n: int, t: int | None = None) -> int:
    """Cycles of sequence n's readout: the one after its last step, or with a per-step readout
    the one after step t (default: the last)."""
    cfg = image.cfg
    sched = schedule(cfg.pipeline)
    y = res.layers[-1].y[n]
    if cfg.per_step:
        sums = y[y.shape[0] - 1 if t is None else t]
    else:
        sums = y.sum(dim=0)
    return (cfg.hidden_size + sched.readout_scan + cfg.num_classes * (int((sums != 0).sum()) + sched.readout_per_class)
            + sched.readout_final)


def readouts(image: CoreImage, res: GoldenResult, n: int) -> list[int]:
    """Cycles of every readout of sequence n, in order: one, or one per step (per-step readout)."""
    if not image.cfg.per_step:
        return [readout_cycles(image, res, n)]
    return [readout_cycles(image, res, n, t) for t in range(res.layers[-1].y.shape[1])]


def dense_step_cycles(image: CoreImage, first_step: bool = False) -> int:
    """A step of the plain GRU schedule on the same machine (every input element and every unit
    routed, every entry stored): what `--dense` costs, independent of the data."""
    cfg = image.cfg
    sched = schedule(cfg.pipeline)
    M = local_depth(cfg, cfg.lanes)
    total = 0
    for layer in range(cfg.layers):
        sources = cfg.layer_input_size(layer) + (0 if first_step else cfg.hidden_size)
        total += sched.route_latency + sources * max(M, 1) + M + sched.update_latency
    return total


def dense_cycles_per_step(image: CoreImage, steps: int) -> float:
    """Mean cycles per step of the dense schedule over a sequence of ``steps`` steps (the first
    step has no recurrent sources)."""
    return (dense_step_cycles(image, first_step=True) + (steps - 1) * dense_step_cycles(image)) / steps
