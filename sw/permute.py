"""Unit permutation at export: where each unit sits on the chip, chosen so that every weight
column's entries spread evenly over the P lanes.

The core gives unit j of a layer to lane j mod P (hw.spec.layout), and a routed column costs
its longest lane list (the layout bound, sw/cycles.py). Pruning that is not lane-balanced
leaves some columns crowding a few lanes. Renumbering the units changes which lane holds
which rows without changing what the model computes: a layer's units are permuted together
with its rows and columns in its own weights, biases and thresholds, the next layer's input
columns and the readout's rows, and every sum the hardware forms holds the same integers.

``order[l][j]`` is the user's unit at physical position j of layer l. The model file stores it
(sw/modelfile.py); the golden model, the reports and the host keep the user's unit order, and
only the core's memories and its event and trace streams use the physical one
(sw/hwimage.py builds the former, :func:`to_physical` and the driver translate the latter).
"""

import dataclasses

import numpy as np
import torch

from sw.golden import GoldenResult, LayerParams, LayerRecord, ModelParams


def check_order(order, H: int, what: str = "unit order") -> tuple:
    """A permutation of range(H) as a tuple, or ValueError naming the problem."""
    t = tuple(int(v) for v in order)
    if len(t) != H or sorted(t) != list(range(H)):
        raise ValueError(f"{what} is not a permutation of the {H} units")
    return t


def is_identity(orders) -> bool:
    return orders is None or all(o == tuple(range(len(o))) for o in orders)


def column_masks(p: ModelParams, H: int) -> list[np.ndarray]:
    """Per layer the stored entries of every column that targets its units, [S_in + H, H] bool:
    the input columns, then the recurrent ones (an entry is stored if any gate weight is nonzero)."""
    out = []
    for L in p.layers:
        w = torch.cat([L.kernel, L.recurrent]).reshape(-1, 3, H)
        out.append((w != 0).any(dim=1).numpy())
    return out


def layout_cost(mask: np.ndarray, order, lanes: int) -> int:
    """The sum over columns of the longest lane list when physical unit j (the user's order[j])
    sits in lane j mod ``lanes``."""
    return int(_counts(mask[:, list(order)], lanes).max(axis=1).sum())


def _counts(mask_phys: np.ndarray, P: int) -> np.ndarray:
    S, H = mask_phys.shape
    lane = np.arange(H) % P
    return np.stack([mask_phys[:, lane == q].sum(axis=1) for q in range(P)], axis=1)


def balance_order(mask: np.ndarray, lanes: int, *, passes: int = 30, seed: int = 0) -> tuple:
    """A unit order for one layer that lowers the sum over columns of the longest lane list
    (``mask`` [S, H] from :func:`column_masks`), by local search over swaps of two units in
    different lanes: each pass visits every unit in a seeded random order and makes the swap
    that lowers the cost most. Stops when a pass finds nothing or after ``passes``. Never
    worse than the identity, deterministic for a seed."""
    S, H = mask.shape
    P = lanes
    if P < 1:
        raise ValueError(f"lanes must be >= 1, got {P}")
    order = np.arange(H)
    if P == 1 or H <= 1:
        return tuple(order.tolist())
    E = mask.astype(np.int32)  # columns x user units
    lane = np.arange(H) % P
    cnt = _counts(mask, P).astype(np.int32)  # identity placement
    rng = np.random.default_rng(seed)
    for _ in range(passes):
        improved = False
        for a in rng.permutation(H):  # physical position a
            la = lane[a]
            ea = E[:, order[a]]
            cur = cnt.max(axis=1)
            best, best_b = 0, -1
            for lb in range(P):
                if lb == la:
                    continue
                bs = np.nonzero(lane == lb)[0]
                eb = E[:, order[bs]]  # [S, nb]
                others = cnt.copy()
                others[:, [la, lb]] = 0
                omax = others.max(axis=1)
                new_a = cnt[:, la, None] - ea[:, None] + eb
                new_b = cnt[:, lb, None] - eb + ea[:, None]
                delta = (np.maximum(omax[:, None], np.maximum(new_a, new_b)) - cur[:, None]).sum(axis=0)
                k = int(delta.argmin())
                if delta[k] < best:
                    best, best_b = int(delta[k]), int(bs[k])
            if best_b >= 0:
                lb, eb = lane[best_b], E[:, order[best_b]]
                cnt[:, la] += eb - ea
                cnt[:, lb] += ea - eb
                order[a], order[best_b] = order[best_b], order[a]
                improved = True
        if not improved:
            break
    return tuple(order.tolist())


def balance(p: ModelParams, H: int, lanes: int, *, seed: int = 0) -> list[tuple]:
    """A balanced unit order for every layer of ``p`` (each layer's own rows decide its order;
    a layer's order does not change the next layer's costs, only which input column is which)."""
    return [balance_order(m, lanes, seed=seed) for m in column_masks(p, H)]


def with_order(p: ModelParams, orders) -> ModelParams:
    """The same model carrying ``orders`` (checked), for the model file and the hardware image."""
    H = p.readout_weight.shape[0]
    orders = [check_order(o, H, f"layer {i}'s unit order") for i, o in enumerate(orders)]
    if len(orders) != len(p.layers):
        raise ValueError(f"{len(orders)} unit orders for {len(p.layers)} layers")
    return dataclasses.replace(p, unit_order=None if is_identity(orders) else orders)


def physical_params(p: ModelParams) -> ModelParams:
    """The parameters in physical unit order (what the core's memories hold); the same
    parameters when the model has no unit order."""
    if p.unit_order is None:
        return p
    H = p.readout_weight.shape[0]
    layers = []
    for i, L in enumerate(p.layers):
        o = torch.tensor(p.unit_order[i])
        gates = torch.cat([o + g * H for g in range(3)])  # the three gate blocks of the columns
        kernel = L.kernel[:, gates]
        if i > 0:
            kernel = kernel[torch.tensor(p.unit_order[i - 1])]
        layers.append(LayerParams(kernel=kernel, recurrent=L.recurrent[o][:, gates],
                                  **{f: getattr(L, f)[o] for f in ("bias_u", "bias_r", "bias_gx", "bias_gh", "thr")}))
    ro = p.readout_weight[torch.tensor(p.unit_order[-1])]
    return dataclasses.replace(p, layers=layers, readout_weight=ro, unit_order=None)


def to_physical(res: GoldenResult, orders) -> GoldenResult:
    """A golden run in the user's unit order, renumbered to the physical order: what the core's
    event and trace streams carry."""
    if orders is None:
        return res
    layers = [LayerRecord(c=r.c[..., list(o)], o=r.o[..., list(o)], y=r.y[..., list(o)])
              for r, o in zip(res.layers, orders, strict=True)]
    return dataclasses.replace(res, layers=layers)
