"""Elaboration of the core to Verilog, and the Verilator lint check of the result."""

import os
import shutil
import subprocess

from amaranth.back import verilog
from amaranth.hdl import Shape

from hw.core import EGRUCore
from sw import modelfile
from sw.hwimage import image_from_params

TOP = "egru_core"

# Verilator lint waivers for Verilog that Amaranth's backend (Yosys write_verilog) emits; each
# is an idiom of that backend, not a width or coverage mistake of the design:
#  WIDTHEXPAND / WIDTHTRUNC: constants are printed at their minimal width and `== 0` as a
#    logical `!` on a multi-bit value; Verilog's extension rules give exactly the widths that
#    Amaranth computed (Amaranth checks widths itself before emitting).
#  CASEINCOMPLETE: case statements over FSM states and Switch()es assign defaults before the
#    case, so uncovered values keep those defaults; no latch is inferred.
LINT_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE")


def build_core(model_path: str, lanes: int | None = None, dense: bool = False, trace: bool = False):
    """Load a model file and build the core for it; returns (core, model)."""
    m = modelfile.load(model_path)
    image = image_from_params(m.config, m.params, lanes=lanes, dense=True if dense else None)
    return EGRUCore(image, trace=trace), m


def write_verilog(core: EGRUCore, out_dir: str) -> str:
    """Write <out_dir>/egru_core.v (memories initialised with the model) atomically."""
    text = verilog.convert(core, name=TOP, emit_src=False)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{TOP}.v")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def ports(core: EGRUCore) -> list[dict]:
    """The core's ports as (name, direction, width), from its signature."""
    out = [{"name": "clk", "direction": "in", "width": 1}, {"name": "rst", "direction": "in", "width": 1}]
    for path, member in core.signature.members.flatten():
        if member.is_port:
            out.append({"name": "__".join(str(p) for p in path),
                        "direction": "in" if member.flow.value == "in" else "out",
                        "width": Shape.cast(member.shape).width})
    return out


def lint(verilog_path: str) -> tuple[bool, str]:
    """Verilator --lint-only with the documented waivers. Returns (clean, output)."""
    exe = shutil.which("verilator")
    if exe is None:
        raise OSError("verilator not found on PATH (make installs it into .venv/bin)")
    proc = subprocess.run([exe, "--lint-only", *LINT_WAIVERS, "--top-module", TOP, verilog_path],
                          capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    return proc.returncode == 0 and "%Warning" not in output, output
