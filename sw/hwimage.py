"""From a loaded model file to the memory image of the core for P lanes (hw.spec.layout)."""

import dataclasses

from hw.spec import LUT_KINDS, EGRUConfig
from hw.spec.layout import (
    GATES,
    T_BIAS_U,
    T_LUT_UPDATE,
    T_POINTER,
    T_READOUT_B,
    T_READOUT_W,
    T_THR,
    T_WEIGHT,
    CoreGeometry,
    CoreImage,
    build,
    columns_from_dense,
    pack,
    per_lane,
)
from sw.golden import ModelParams


def image_from_params(cfg: EGRUConfig, p: ModelParams, lanes: int | None = None,
                      dense: bool | None = None, pipeline: str | None = None) -> CoreImage:
    """``lanes``, ``dense`` and ``pipeline`` override the configuration's lanes, memory layout
    and pipeline (hw.spec.schedule)."""
    cfg = dataclasses.replace(cfg, lanes=cfg.lanes if lanes is None else lanes,
                              memory=cfg.memory if dense is None else ("dense" if dense else "sparse"),
                              pipeline=cfg.pipeline if pipeline is None else pipeline)
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


def load_words(image: CoreImage, geometry: CoreGeometry | None = None) -> list[dict]:
    """Every model memory of the core as load-port words {target, lane, addr, data}, so a core
    built for one model can be given another of the same configuration at run time. Words are
    packed for ``geometry`` (the build's: its weight memories may be deeper than this model
    needs, which widens the pointers); by default the image's own."""
    g = geometry or CoreGeometry(image)
    cfg = image.cfg
    mask = (1 << g.data_bits) - 1
    words = []

    def put(target, addr, value, lane=0):
        words.append({"target": target, "lane": lane, "addr": addr, "data": value & mask})

    for c, ptr in enumerate(image.weights.pointers):
        put(T_POINTER, c, pack(g.ptr_fields, ptr))
    for p, lane_words in enumerate(image.weights.lane_words):
        for a, w in enumerate(lane_words):
            put(T_WEIGHT, a, pack(g.lane_fields, w), p)
    for i, gate in enumerate(GATES):
        for p, values in enumerate(per_lane(getattr(image, f"bias_{gate}"), cfg, 0)):
            for a, v in enumerate(values):
                put(T_BIAS_U + i, a, v, p)
    for p, values in enumerate(per_lane(image.thr, cfg, cfg.one)):
        for a, v in enumerate(values):
            put(T_THR, a, v, p)
    for i, kind in enumerate(LUT_KINDS):
        for p in range(g.P):
            for a, v in enumerate(image.luts[kind]):
                put(T_LUT_UPDATE + i, a, v, p)
    for k, row in enumerate(image.readout_weight):
        for n, v in enumerate(row):
            put(T_READOUT_W, k * g.C + n, v)
    for n, v in enumerate(image.readout_bias):
        put(T_READOUT_B, n, v)
    return words
