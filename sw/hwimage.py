"""From a loaded model file to the memory image of the core for P lanes (hw.spec.layout), and its
load-port words (the model memories' words are hw.spec.contents.memory_words, which the core's
initial contents come from too)."""

import dataclasses

from hw.spec import EGRUConfig
from hw.spec.contents import memory_words
from hw.spec.layout import CoreGeometry, CoreImage, build, columns_from_dense
from hw.spec.memmap import MEMORY_MAP
from sw.golden import ModelParams
from sw.permute import physical_params


def image_from_params(cfg: EGRUConfig, p: ModelParams, lanes: int | None = None,
                      dense: bool | None = None, pipeline: str | None = None) -> CoreImage:
    """``lanes``, ``dense`` and ``pipeline`` override the configuration's lanes, memory layout
    and pipeline (hw.spec.schedule). A model with a unit order (sw/permute.py) is laid out in
    physical order, and the image records the order."""
    cfg = dataclasses.replace(cfg, lanes=cfg.lanes if lanes is None else lanes,
                              memory=cfg.memory if dense is None else ("dense" if dense else "sparse"),
                              pipeline=cfg.pipeline if pipeline is None else pipeline)
    order = None if p.unit_order is None else tuple(tuple(o) for o in p.unit_order)
    p = physical_params(p)
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
                     luts={k: tuple(v.tolist()) for k, v in p.luts.items()}, unit_order=order)


def load_words(image: CoreImage, geometry: CoreGeometry | None = None) -> list[dict]:
    """Every model memory of the core (hw.spec.memmap, in target order) as load-port words
    {target, lane, addr, data}, so a core built for one model can be given another of the same
    configuration at run time. Words are packed for ``geometry`` (the build's: its weight
    memories may be deeper than this model needs, which widens the pointers); by default the
    image's own."""
    g = geometry or CoreGeometry(image)
    mask = (1 << g.data_bits) - 1
    contents = memory_words(image, g)
    if set(contents) != {mm.name for mm in MEMORY_MAP}:
        raise ValueError(f"load_words: no words for {sorted({mm.name for mm in MEMORY_MAP} - set(contents))}")
    words = []
    for mm in MEMORY_MAP:
        lanes = contents[mm.name]
        if len(lanes) != (g.P if mm.per_lane else 1):
            raise ValueError(f"load_words: {mm.name} has words for {len(lanes)} lane(s)")
        for lane, values in enumerate(lanes):
            words += [{"target": mm.target, "lane": lane, "addr": a, "data": v & mask} for a, v in enumerate(values)]
    return words
