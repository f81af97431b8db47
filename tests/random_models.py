"""Random integer models and inputs for tests: any configuration, weights spanning their full
width, pruned entries, and inputs with zeros, so that events fire and units stay silent."""

import dataclasses

import torch

from hw.spec import LUT_KINDS, EGRUConfig, make_lut
from sw.golden import LayerParams, ModelParams


def random_config(seed: int, **overrides) -> EGRUConfig:
    g = torch.Generator().manual_seed(seed)
    pick = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))  # noqa: E731
    layers = overrides.pop("layers", pick(1, 2))
    wb = overrides.pop("weight_bits", pick(4, 12))
    sb = overrides.pop("state_bits", pick(8, 16))
    cfg = EGRUConfig(
        input_size=pick(1, 6), hidden_size=pick(2, 9), num_classes=pick(2, 5), layers=layers,
        max_steps=16, input_bits=pick(4, 10), input_frac=pick(2, 6), weight_bits=wb,
        kernel_frac=tuple(pick(wb - 3, wb) for _ in range(layers)),
        recurrent_frac=tuple(pick(wb - 3, wb) for _ in range(layers)),
        readout_frac=pick(wb - 3, wb), state_bits=sb, state_frac=sb - 2,
        lut_bits=pick(6, 10), zoneout=float(pick(0, 1)) * 0.2)
    return dataclasses.replace(cfg, **overrides)


def random_params(cfg: EGRUConfig, seed: int, prune: float = 0.3) -> ModelParams:
    g = torch.Generator().manual_seed(seed + 1000)
    H, C = cfg.hidden_size, cfg.num_classes
    wmax = 1 << (cfg.weight_bits - 1)

    def weights(rows, cols):
        w = torch.randint(-wmax, wmax, (rows, 3, cols), generator=g)
        keep = torch.rand(rows, 1, cols, generator=g) >= prune  # prune whole entries
        return (w * keep).reshape(rows, 3 * cols)

    def bias(n, layer):
        # within +-2 in real units: enough to move gates, not to pin them
        lim = min(2 << cfg.preact_frac, cfg.bias_limit(layer))
        return torch.randint(-lim, lim, (n,), generator=g)

    layers = []
    for i in range(cfg.layers):
        layers.append(LayerParams(
            kernel=weights(cfg.layer_input_size(i), H), recurrent=weights(H, H),
            bias_u=bias(H, i), bias_r=bias(H, i), bias_gx=bias(H, i), bias_gh=bias(H, i),
            thr=torch.randint(0, cfg.one // 2, (H,), generator=g)))
    rlim = cfg.readout_bias_limit
    return ModelParams(
        layers=layers,
        readout_weight=torch.randint(-wmax, wmax, (H, C), generator=g),
        readout_bias=torch.randint(-rlim, rlim, (C,), generator=g),
        luts={k: torch.tensor(make_lut(k, cfg), dtype=torch.int64) for k in LUT_KINDS})


def random_inputs(cfg: EGRUConfig, seed: int, n: int, steps: int, zeros: float = 0.4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 2000)
    xmax = 1 << (cfg.input_bits - 1)
    x = torch.randint(-xmax, xmax, (n, steps, cfg.input_size), generator=g)
    return x * (torch.rand(x.shape, generator=g) >= zeros)
