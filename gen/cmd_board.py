"""`egru board`: a bitstream of the UART top for a development board."""

import os

from gen import board as boards
from gen.cmd_synth import assemble, check_fit_or_force, write_json
from gen.progress import say
from gen.synth import parse_mapping, parse_pnr, parse_stat, resources
from gen.verilog import PIPELINE_HELP, build_top, schedule_summary
from hw.spec import PIPELINES
from sw.files import check_output_folder

NAME = "board"
HELP = "build a bitstream of the accelerator for a development board"
DESCRIPTION = f"""\
Build the UART top for a model file on a board through amaranth-boards: rx/tx on the board's
USB-UART, an LED lit while the accelerator is idle, the UART divisor from the board clock and
--baud. Yosys, nextpnr and the packer (YoWASP; Apycula for Gowin) run in OUT (default
build/board/BOARD); the bitstream's path and the same report as `egru synth` are printed.

Boards: {", ".join(f"{b.name} ({b.target.device})" for b in boards.BOARDS.values())}.
The weights are in the bitstream, except on the iCEBreaker, whose SPRAM cannot be initialised
(and with --runtime-weights): there `egru run --url /dev/ttyUSB1 MODEL` (sw.driver) loads them
after programming. Programming the board (iceprog, openFPGALoader) is left to you.

Example: egru board ulx3s-85f runs/digits.egru -o build/board"""


def add_arguments(p) -> None:
    p.add_argument("board", choices=sorted(boards.BOARDS), help="development board")
    p.add_argument("model", help="model file written by `egru quantize`")
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (default build/board/BOARD)")
    p.add_argument("--lanes", type=int, default=None, help="multiplier lanes P (default: the model's, 1)")
    p.add_argument("--pipeline", choices=PIPELINES, default=None, help=PIPELINE_HELP)
    p.add_argument("--depth", type=int, default=None, help="weight words per lane (default: what this model needs)")
    p.add_argument("--baud", type=int, default=115200, help="UART rate (%(default)s)")
    p.add_argument("--runtime-weights", action="store_true", help="leave the weights out of the bitstream")
    p.add_argument("--force", action="store_true", help="build even when the fit check refuses")


def run(args) -> dict:
    b = boards.board(args.board)
    if not 1200 <= args.baud <= 3_000_000:
        raise ValueError(f"--baud must be in [1200, 3000000], got {args.baud}")
    clock = boards.clock_hz(b)
    divisor = round(clock / args.baud)
    top, model = build_top(args.model, divisor=divisor, lanes=args.lanes, depth=args.depth, pipeline=args.pipeline)
    plan = check_fit_or_force(top.core, b.target, args.force, args.quiet)
    runtime = args.runtime_weights
    out = args.out or os.path.join("build", "board", b.name)
    check_output_folder(out, ["egru_board.v", "egru_board.rpt", "egru_board.tim", "stat.json", "nextpnr.json",
                              "report.json", b.bitstream.format(name="egru_board")], [("the model file", args.model)])
    say(f"building for {b.name} ({b.target.device}, {clock / 1e6:g} MHz clock, UART divisor {divisor}) in {out}; "
        f"Yosys and nextpnr take minutes ...", args.quiet)
    files = boards.build(b, top, out, runtime, plan["spram"])
    cells = parse_stat(files["stat"])
    raw = {"cells": cells, **resources(b.target, cells), "mapping": parse_mapping(files["yosys_log"]),
           **parse_pnr(files["pnr_report"], files["pnr_log"]), "yosys_seconds": None, "nextpnr_seconds": None}
    report = assemble(b.target, raw, plan, top.core, runtime)
    report.update({"board": b.name, "bitstream": files["bitstream"] if os.path.exists(files["bitstream"]) else None,
                   "clock_mhz": files["clock_mhz"], "baud": args.baud, "divisor": divisor, "folder": out,
                   "model": args.model})
    report["meets_board_clock"] = bool(report["fmax_mhz"] and report["fmax_mhz"] >= files["clock_mhz"])
    report.update(schedule_summary(top.core.image, model, args.quiet))
    report["us_per_step"] = (round(report["cycles_per_step"] / files["clock_mhz"], 3)
                             if report.get("cycles_per_step") else None)
    write_json(os.path.join(out, "report.json"), report)
    return report


def render(r: dict) -> str:
    from gen.cmd_synth import render as synth_render
    head = (f"bitstream: {r['bitstream']}" if r["bitstream"] else "NO BITSTREAM (see the report)") + \
        f"  ({r['board']}, {r['clock_mhz']:g} MHz clock, {r['baud']} baud)"
    clock = "" if r["meets_board_clock"] else "  WARNING: Fmax is below the board clock; the design may not work"
    return head + clock + "\n" + synth_render(r)
