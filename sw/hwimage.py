"""From a loaded model file to the memory image of the core for P lanes (hw.spec.layout)."""

import dataclasses

from hw.spec import EGRUConfig
from hw.spec.layout import CoreImage, build, columns_from_dense
from sw.golden import ModelParams


def image_from_params(cfg: EGRUConfig, p: ModelParams, lanes: int | None = None,
                      dense: bool | None = None) -> CoreImage:
    """``lanes`` and ``dense`` override the configuration's lanes and memory layout."""
    cfg = dataclasses.replace(cfg, lanes=cfg.lanes if lanes is None else lanes,
                              memory=cfg.memory if dense is None else ("dense" if dense else "sparse"))
    H = cfg.hidden_size
    is_dense = cfg.memory == "dense"
    kernel_cols = [columns_from_dense(L.kernel.tolist(), H, is_dense) for L in p.layers]
    recurrent_cols = [columns_from_dense(L.recurrent.tolist(), H, is_dense) for L in p.layers]
    layout = build(cfg, kernel_cols, recurrent_cols)
    per_layer = lambda f: tuple(tuple(getattr(L, f).tolist()) for L in p.layers)  # noqa: E731
    return CoreImage(cfg=cfg, weights=layout, bias_u=per_layer("bias_u"), bias_r=per_layer("bias_r"),
                     bias_gx=per_layer("bias_gx"), bias_gh=per_layer("bias_gh"), thr=per_layer("thr"),
                     readout_weight=tuple(tuple(r) for r in p.readout_weight.tolist()),
                     readout_bias=tuple(p.readout_bias.tolist()),
                     luts={k: tuple(v.tolist()) for k, v in p.luts.items()})
