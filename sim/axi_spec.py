"""The spec of a simulation run of the AXI IP: sim/spec.py's (inputs and the golden and cycle
models' expectations), plus the register map, the model words to load over AXI4-Lite and an
optional cancel or soft reset in the middle of a sequence."""

from hw.axi import EGRUAxi
from hw.core import EGRUCore
from hw.spec.layout import CoreGeometry
from sim.spec import build_spec

ACTIONS = ("cancel", "soft_reset")


def build_axi_spec(top: EGRUAxi, x_q, res, *, idle: float = 0.0, backpressure: float = 0.0, seed: int = 0,
                   load: list | None = None, interrupt: dict | None = None, image=None) -> dict:
    """``load``: load-port words (sw.hwimage.load_words) written and read back over AXI4-Lite
    before the sequences. ``interrupt``: {"action": "cancel" or "soft_reset", "sequence": n,
    "steps": k}: sequence n is abandoned after k of its steps. ``image``: the model that ``load``
    puts in (its weight layout sets the cycle model's expectations); by default the built one."""
    if interrupt is not None:
        if interrupt.get("action") not in ACTIONS:
            raise ValueError(f"interrupt action must be one of {', '.join(ACTIONS)}, got {interrupt.get('action')!r}")
        if not 0 <= interrupt.get("sequence", -1) < x_q.shape[0] - 1:
            raise ValueError("the interrupted sequence must exist and not be the last one")
        if not 1 <= interrupt.get("steps", 0) < x_q.shape[1]:
            raise ValueError(f"an interrupt comes after 1 to {x_q.shape[1] - 1} steps, got {interrupt.get('steps')}")
    core = top.core
    if image is not None:
        if CoreGeometry(image).__dict__ != core.geometry.__dict__:
            raise ValueError("the loaded model's geometry differs from the build's")
        core = EGRUCore(image)  # only its image and stream layouts are read (never elaborated)
    spec = build_spec(core, x_q, res, idle=idle, backpressure=backpressure, seed=seed, stop_on_mismatch=False,
                      load=load)
    spec["axi"] = top.map.to_dict()
    spec["word_bits"] = top.core.geometry.data_bits
    spec["interrupt"] = interrupt
    return spec
