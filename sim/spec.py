"""What a simulation run must show: the inputs to stream and, per sequence, the expected events,
states, logits, class and cycle counts from the golden and cycle models. Written as JSON for the
cocotb testbench (which runs inside the simulator and imports neither torch nor Amaranth), with
the bit positions of every stream field so the testbench can pack and unpack words.
"""

import json

import torch

from hw.core import EGRUCore
from sim.words import layout_fields
from sw import cycles
from sw.golden import GoldenResult, events
from sw.permute import to_physical


def build_spec(core: EGRUCore, x_q: torch.Tensor, res: GoldenResult, *, trace: bool = False,
               idle: float = 0.0, backpressure: float = 0.0, seed: int = 0, stop_on_mismatch: bool = True,
               load: list | None = None) -> dict:
    """x_q [N, T, I] quantized inputs, res the golden run on them (in the user's unit order; the
    expected events and states are renumbered to the core's physical order)."""
    image = core.image
    if x_q.shape[1] > image.cfg.max_steps:  # the core does not check; its readout sums would overflow
        raise ValueError(f"sequences of {x_q.shape[1]} steps are longer than the core's max_steps "
                         f"{image.cfg.max_steps}")
    dense = image.cfg.memory == "dense"
    phys = to_physical(res, image.unit_order)
    seqs = []
    for n in range(x_q.shape[0]):
        # one readout after the last step, or one after every step (per-step readout)
        logits = res.step_logits[n] if image.cfg.per_step else res.logits[n:n + 1]
        ro = [{"logits": lg.tolist(), "class": int(lg.argmax()), "cycles": c}
              for lg, c in zip(logits, cycles.readouts(image, res, n), strict=True)]
        expected = {
            "events": [list(e) for e in events(phys, n)],
            "logits": res.logits[n].tolist(),
            "class": ro[-1]["class"],
            "cycles": [s.total for s in cycles.sequence_cycles(image, x_q, res, n)],
            "readout_cycles": ro[-1]["cycles"],
            "readouts": ro,
        }
        if trace:
            expected["trace"] = [[[int(r.c[n, t, k]), int(r.o[n, t, k]), int(r.y[n, t, k])]
                                  for r in phys.layers for k in range(image.cfg.hidden_size)]
                                 for t in range(x_q.shape[1])]
        seqs.append({"inputs": x_q[n].tolist(), "expected": expected})
    return {
        "lanes": core.geometry.P,
        "hidden": core.geometry.H,
        "layers": core.geometry.L,
        "classes": core.geometry.C,
        "send_zeros": dense,
        "trace": trace and core.has_trace,
        "idle": idle,
        "backpressure": backpressure,
        "seed": seed,
        "stop_on_mismatch": stop_on_mismatch,
        "load": load or [],
        "layouts": {name: layout_fields(getattr(core, f"{name}_layout"))
                    for name in ("input", "event", "trace", "result", "counter", "load")},
        "sequences": seqs,
    }


def write_spec(spec: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(spec, f)
