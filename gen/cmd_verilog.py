"""`egru verilog`: generate the Verilog of the core for a model file."""

import json
import os

from gen.axi import render_axi, run_axi
from gen.progress import say
from gen.verilog import PIPELINE_HELP, TOP, build_core, lint, ports, schedule_summary, write_verilog
from hw.spec import PIPELINES
from sw.files import check_output_folder, staged

NAME = "verilog"
HELP = "generate the Verilog of the accelerator core for a model file"
DESCRIPTION = """\
Build the event-routed core for a model file (sizes, widths and weights from the file) and write
OUT/egru_core.v with the model in its memory initialisers (the load port can replace it at run
time), plus OUT/egru_core.json: ports, memories and the configuration. Prints the ports and the
memory sizes.

--lanes P sets the number of multiplier lanes (accumulators banked by unit mod P); --dense
stores every weight entry and routes every input and unit each step (the plain GRU schedule on
the same machine); --trace adds a stream of every unit's state per step.

--top axi writes the AXI IP instead (hw/axi.py): OUT/egru_axi.v (AXI4-Stream data, AXI4-Lite
control, aclk/aresetn), OUT/registers.md (its register map, from the same source as the
hardware), OUT/egru_axi.json, and a FuseSoC core file OUT/egru_axi.core with a small testbench.

Example: egru verilog runs/digits.egru -o build/digits --lanes 2"""


def add_arguments(p) -> None:
    p.add_argument("model", help="model file written by `egru quantize`")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--lanes", type=int, default=None, help="multiplier lanes P, 1..64 (default: the model's, 1)")
    p.add_argument("--pipeline", choices=PIPELINES, default=None, help=PIPELINE_HELP)
    p.add_argument("--dense", action="store_true", help="dense memories and the GRU schedule")
    p.add_argument("--trace", action="store_true", help="add the trace stream (every unit's state per step)")
    p.add_argument("--lint", action="store_true", help="also run verilator --lint-only on the result")
    p.add_argument("--top", choices=("core", "axi"), default="core",
                   help="the bare core, or the AXI IP with register map and FuseSoC core file (%(default)s)")


OUTPUTS = (f"{TOP}.v", f"{TOP}.json")


def run(args) -> dict:
    if getattr(args, "top", "core") == "axi":
        if args.trace:
            raise ValueError("--trace is not available with --top axi (the AXI top has no trace stream)")
        return run_axi(args)
    # Both outputs are made in a temporary folder inside OUT and renamed into place together,
    # so a failed or interrupted run leaves the previous .v and .json as they were.
    check_output_folder(args.out, OUTPUTS, [("the model file", args.model)])
    core, model = build_core(args.model, lanes=args.lanes, dense=args.dense, trace=args.trace, pipeline=args.pipeline)
    with staged(args.out) as stage:
        result = _generate(args, core, model, stage)
    return result


def _generate(args, core, model, stage: str) -> dict:
    say(f"elaborating {TOP} ({core.geometry.P} lanes) ...", args.quiet)
    staged_path = write_verilog(core, stage)
    path = os.path.join(args.out, f"{TOP}.v")
    mems = [{"name": n, "depth": d, "width": w, "bits": d * w} for n, d, w in core.memories]
    result = {
        "verilog": path,
        "lanes": core.geometry.P, "pipeline": core.geometry.cfg.pipeline,
        "dense": args.dense,
        "trace": args.trace,
        "memory_bits": sum(m["bits"] for m in mems),
        "weight_memory_words": core.geometry.depth,
        "columns": core.geometry.columns,
        "ports": ports(core),
        "memories": mems,
        "config": core.image.cfg.to_dict(),
    }
    result.update(schedule_summary(core.image, model, args.quiet))
    if args.lint:
        clean, output = lint(staged_path)
        result["lint_clean"] = clean
        if not clean:
            say(output.replace(staged_path, path), args.quiet)
    with open(os.path.join(stage, f"{TOP}.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def render(r: dict) -> str:
    if r.get("top") == "axi":
        return render_axi(r)
    lines = [f"wrote {r['verilog']}  ({r['lanes']} lanes{', dense' if r['dense'] else ''}"
             f"{', trace' if r['trace'] else ''})", "", "ports:"]
    for p in r["ports"]:
        lines.append(f"  {p['direction']:3s} {p['width']:5d}  {p['name']}")
    lines += ["", "memories:"]
    for m in sorted(r["memories"], key=lambda m: -m["bits"]):
        lines.append(f"  {m['name']:24s} {m['depth']:6d} x {m['width']:3d} = {m['bits']:8d} bits")
    lines.append(f"  {'total':24s} {'':15s} {r['memory_bits']:8d} bits")
    if "cycles_per_step" in r:
        lines += ["", f"cycles per step on the test set (cycle model): {r['cycles_per_step']:.1f} event-driven, "
                      f"layout bound {r['bound_cycles_per_step']:.1f}, ideal bound "
                      f"{r['ideal_bound_cycles_per_step']:.1f}, dense GRU schedule {r['dense_cycles_per_step']:.1f} "
                      f"({r['dense_over_event_driven']:.2f}x); readout {r['readout_cycles']:.0f} per "
                      + ("step" if "cycles_per_step_with_readout" in r else "sequence")]
        if "cycles_per_step_with_readout" in r:
            lines.append(f"with the per-step readout: {r['cycles_per_step_with_readout']:.1f} cycles per step "
                         f"(bound {r['bound_cycles_per_step_with_readout']:.1f})")
    if "lint_clean" in r:
        lines.append(f"verilator --lint-only: {'clean' if r['lint_clean'] else 'WARNINGS (above)'}")
    return "\n".join(lines)
