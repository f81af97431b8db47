"""`egru synth`: synthesis and place-and-route report of the accelerator for one FPGA target."""

import hashlib
import json
import os

from gen.axi import AXI_TOP, build_axi
from gen.progress import say
from gen.synth import (
    PLACEMENTS,
    TOOL_TIMEOUT,
    check_fit,
    collect,
    core_memories,
    core_memory_name,
    memory_plan,
    seed_files,
    synthesize,
)
from gen.targets import TARGETS, target
from gen.verilog import PIPELINE_HELP, UART_TOP, build_top, schedule_summary, write_verilog
from hw.core.dsp import dsp_platform, dsp_primitive
from hw.spec import PIPELINES
from hw.spec.memmap import MEMORY
from sw.files import check_output_folder, write_atomic

NAME = "synth"
HELP = "synthesise and place-and-route the accelerator for an FPGA and report resources and Fmax"
DESCRIPTION = f"""\
Build the UART top for a model file (the core behind the host protocol, as on a board: pins
clk, rst, rx, tx, quiet), synthesise it with Yosys and place and route it with nextpnr (the
YoWASP builds from PyPI; the first call of each tool compiles it once, about a minute), and
report what it takes and how fast it clocks:

  luts, ffs, brams, dsps (and sprams on iCE40) used and available, fits, fmax_mhz, where the
  critical path runs, cycles_per_step on the model's test set (cycle model) and us_per_step
  at that Fmax, and how every model memory was mapped (block RAM, SPRAM or logic).

Before any tool runs, the model's memories are checked against the target's RAM: a model that
cannot fit is refused with the numbers (--force runs the tools anyway, to see by how much).

Targets: {", ".join(TARGETS)}.
On iCE40 the weights and, while SPRAM lasts, the update and reset-gate tables go to SPRAM,
which has no initial contents: that build loads them at run time (`egru run` / sw.driver
write every memory). Elsewhere everything is in the bitstream (weights: unless
--runtime-weights); the report's runtime_loaded lists what the driver must write.

Outputs in OUT (default build/synth/TARGET-pP): the Verilog, the Yosys script and log, the
netlist, nextpnr's log and report, report.json, and design.json: the target, the model file's
hash, lanes, pipeline, depth and --runtime-weights that the logs are of. --from-logs refuses
logs that were made for another design (or that carry no such record).

Placement: nextpnr's result depends on its random seed, by about 10% in Fmax on the larger
designs here. --seed N places and routes with seed N; --seeds K tries K seeds (N, N+1, ...,
from 1 without --seed) on the same netlist, one after the other, and keeps the placement with
the fastest clock: the report says which seed that was and lists what every seed reached
(placements.json keeps them; nextpnr-seedS.log and .json are each run's files).

--top axi synthesises the AXI IP (egru verilog --top axi) instead, placed and routed out of
context (no pins: its ports stay inside the fabric, as in a SoC), on the ECP5 targets only.

Example: egru synth runs/digits.egru --target ecp5-25k --lanes 2"""


def add_arguments(p) -> None:
    p.add_argument("model", help="model file written by `egru quantize`")
    p.add_argument("--target", required=True, choices=sorted(TARGETS), help="FPGA target")
    p.add_argument("--lanes", type=int, default=None, help="multiplier lanes P (default: the model's, 1)")
    p.add_argument("--pipeline", choices=PIPELINES, default=None, help=PIPELINE_HELP)
    p.add_argument("--depth", type=int, default=None, help="weight words per lane (default: what this model needs)")
    p.add_argument("--freq", type=float, default=None,
                   help="clock nextpnr aims for in MHz (default: 30 on iCE40, 100 on ECP5, 50 on Gowin)")
    p.add_argument("--runtime-weights", action="store_true",
                   help="leave the weights out of the bitstream (the driver loads them)")
    p.add_argument("--force", action="store_true", help="run the tools even when the fit check refuses")
    p.add_argument("--timeout", type=float, default=TOOL_TIMEOUT,
                   help="stop a tool after this many seconds (%(default)s; the report then says so)")
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (default build/synth/TARGET-pP)")
    p.add_argument("--top", choices=("uart", "axi"), default="uart",
                   help="the UART top, or the AXI IP out of context (ECP5 only) (%(default)s)")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="nextpnr's placement seed (default: nextpnr's own; with --seeds, the first, 1)")
    p.add_argument("--seeds", type=int, default=1, metavar="K",
                   help="place and route K times with seeds N, N+1, ... and keep the fastest (%(default)s)")
    p.add_argument("--from-logs", action="store_true",
                   help="no tool run: rebuild the report from the files of an earlier run in OUT")


def run(args) -> dict:
    t = target(args.target)
    if args.freq is not None and not 1 <= args.freq <= 1000:
        raise ValueError(f"--freq must be in [1, 1000] MHz, got {args.freq}")
    if args.timeout <= 0:
        raise ValueError(f"--timeout must be positive, got {args.timeout}")
    seeds = placement_seeds(getattr(args, "seed", None), getattr(args, "seeds", 1))
    axi = getattr(args, "top", "uart") == "axi"
    if axi and t.family != "ecp5":
        raise ValueError(f"--top axi is placed and routed out of context, which only nextpnr-ecp5 does here; "
                         f"choose ecp5-25k or ecp5-85k, not {t.name}")
    if axi:
        top, model = build_axi(args.model, lanes=args.lanes, pipeline=args.pipeline, depth=args.depth)
    else:
        top, model = build_top(args.model, divisor=104, lanes=args.lanes, depth=args.depth, pipeline=args.pipeline)
    name = AXI_TOP if axi else UART_TOP
    core = top.core
    P = core.geometry.P
    plan = check_fit_or_force(core, t, args.force, args.quiet)
    out = args.out or os.path.join("build", "synth", f"{t.name}-p{P}{'-axi' if axi else ''}")
    runtime = args.runtime_weights
    stamp = design_stamp(t, args.model, core, runtime, top=name, seeds=seeds)
    if args.from_logs:
        check_stamp(out, stamp)
        raw = collect(t, out)
    else:
        check_output_folder(out, (f"{name}.v",) + OUTPUTS[1:] + tuple(seed_files(seeds)),
                            [("the model file", args.model)])
        stamp_path = os.path.join(out, STAMP)
        if os.path.exists(stamp_path):  # the logs are about to change: they describe no design until done
            os.remove(stamp_path)
        say(f"elaborating {name} for {t.name} ({P} lanes, {core.geometry.depth} weight words per lane) ...",
            args.quiet)
        path = write_verilog(top, out, name=name, platform=dsp_platform(t.family))
        raw = synthesize(t, path, out, name, runtime, plan["spram"], args.freq or t.freq_mhz, args.quiet,
                         args.timeout, pnr_extra=("--out-of-context",) if axi else (), seeds=seeds)
        write_json(stamp_path, stamp)
    report = assemble(t, raw, plan, core, runtime)
    report.update({"model": args.model, "folder": out, "top": "axi" if axi else "uart",
                   "out_of_context": axi})
    report.update(schedule_summary(core.image, model, args.quiet))
    if report.get("cycles_per_step") and report["fmax_mhz"]:
        report["us_per_step"] = round(report["cycles_per_step"] / report["fmax_mhz"], 3)
    else:
        report["us_per_step"] = None
    write_json(os.path.join(out, "report.json"), report)
    return report


def placement_seeds(seed: int | None, count: int) -> tuple:
    """The nextpnr seeds of --seed and --seeds: (None,) is one run with nextpnr's default."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
        raise ValueError(f"--seeds must be a whole number of placements in [1, 100], got {count!r}")
    if seed is not None and not 1 <= seed <= 2 ** 31 - count:
        raise ValueError(f"--seed must be in [1, {2 ** 31 - count}], got {seed}")
    if seed is None and count == 1:
        return (None,)
    first = 1 if seed is None else seed
    return tuple(range(first, first + count))


STAMP = "design.json"  # what the logs in a folder are of
OUTPUTS = (f"{UART_TOP}.v", "synth.ys", "yosys.log", "yosys.out", "stat.json", "netlist.json", "nextpnr.log",
           "nextpnr.json", "pins.cst", "report.json", STAMP, PLACEMENTS)


def design_stamp(t, model_path: str, core, runtime_weights: bool, top: str = UART_TOP,
                 seeds: tuple = (None,)) -> dict:
    """The design a synthesis run is of (``top``: the UART top or the AXI IP) and the
    placement seeds tried (when not nextpnr's default): enough to tell whether logs belong to a
    request."""
    with open(model_path, "rb") as f:
        model_hash = hashlib.sha256(f.read()).hexdigest()
    g = core.geometry
    return {"target": t.name, "model_sha256": model_hash, "lanes": g.P, "pipeline": g.cfg.pipeline,
            "depth": g.depth, "runtime_weights": runtime_weights, "top": top,
            # (the short pipeline's multipliers are inferred on every family)
            "dsp": dsp_primitive(t.family) if g.cfg.pipeline == "deep" else "inferred",
            **({} if seeds == (None,) else {"seeds": list(seeds)})}


def check_stamp(folder: str, stamp: dict) -> None:
    """--from-logs: refuse logs that are not of ``stamp``'s design, naming what differs."""
    path = os.path.join(folder, STAMP)
    try:
        with open(path) as f:
            found = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"--from-logs: {folder} has no {STAMP}, so nothing says which target, model and design "
                         f"its logs are of; run the synthesis again without --from-logs") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"--from-logs: {path} is unreadable ({e}); run the synthesis again") from None
    found = found if isinstance(found, dict) else {}
    differ = []
    for key, asked in stamp.items():
        if found.get(key) != asked:
            differ.append("the model file (another model, or this one changed)" if key == "model_sha256"
                          else f"{key} {found.get(key)!r}, asked {asked!r}")
    if differ:
        raise ValueError(f"--from-logs: the logs in {folder} are of another design: {'; '.join(differ)}; "
                         f"give the same options as the run that made them, or run it again")


def check_fit_or_force(core, t, force: bool, quiet: bool) -> dict:
    """The fit check of the core's memories against ``t``; with ``force`` a refusal is only said."""
    memories = core_memories(core)
    try:
        return check_fit(memories, t)
    except ValueError as e:
        if not force:
            raise
        say(f"{e}\nrunning the tools anyway (--force)", quiet)
        return memory_plan(memories, t)


def assemble(t, raw: dict, plan: dict, core, runtime_weights: bool) -> dict:
    """The report: used (placed figures where nextpnr ran) against available, fits, and the
    mapping of the model memories and multipliers."""
    used = {k: raw[k] for k in ("luts", "ffs", "brams", "sprams", "dsps")}
    for field, bels in t.bels.items():
        found = [raw["utilization"][bel]["used"] for bel in bels.split("+") if bel in raw["utilization"]]
        if found:
            used[field] = sum(found)
    available = {"luts": t.luts, "ffs": t.ffs, "brams": t.bram.count, "sprams": t.spram.count if t.spram else 0,
                 "dsps": t.dsps}
    over = [k for k in used if used[k] > available[k]]
    found = {}
    for path, block in raw["mapping"].items():  # (a memory of slices is in logic if any slice is)
        name = core_memory_name(path)
        if found.get(name) != "logic":
            found[name] = block
    mapped = {name: found.get(name, "removed") for name, _, _ in core.memories}
    in_logic = sorted(n for n, v in mapped.items() if v == "logic")
    weight_memories = {n for n, _, _ in core.memories if MEMORY["weight"].homes[0].holds(n)}
    return {
        "target": t.name, "device": t.device, "lanes": core.geometry.P, "pipeline": core.geometry.cfg.pipeline, **used,
        "available": available,
        "utilization": {k: round(used[k] / available[k], 3) if available[k] else None for k in used},
        "fits": raw["routed"] and not over, "over": over,
        "fmax_mhz": raw["fmax_mhz"], "critical_path": raw["critical_path"], "pnr_error": raw["pnr_error"],
        "seed": raw.get("seed"), "placements": raw.get("placements"),
        "carries": raw["carries"],
        "runtime_weights": runtime_weights,
        "memory_plan": {k: plan[k] for k in ("bram_blocks", "spram_blocks", "bits", "spram")},
        "runtime_loaded": sorted(set(plan["spram"]) | (weight_memories if runtime_weights else set())),
        "memories": mapped, "memories_in_logic": in_logic,
        "multipliers": core.multipliers,
        "yosys_seconds": raw["yosys_seconds"], "nextpnr_seconds": raw["nextpnr_seconds"],
    }


def write_json(path: str, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def placement_text(r: dict) -> str:
    """How the placement was chosen, when more than one was tried (or the seed was given)."""
    runs = r.get("placements") or []
    if len(runs) > 1:
        each = ", ".join(f"{p['seed']}: " + (f"{p['fmax_mhz']:.1f}" if p["fmax_mhz"] else "failed") for p in runs)
        return f" (seed {r['seed']}, the fastest of {len(runs)} placements; seed: MHz {each})"
    return f" (seed {r['seed']})" if r.get("seed") is not None else ""


def render(r: dict) -> str:
    a = r["available"]
    lines = [f"{r['target']} ({r['device']}), {r['lanes']} lane(s)"
             f"{', AXI IP out of context' if r.get('top') == 'axi' else ''}: "
             f"{'FITS' if r['fits'] else 'DOES NOT FIT'}"
             + (f" (over: {', '.join(r['over'])})" if r["over"] else "")
             + (f" - {r['pnr_error']}" if r["pnr_error"] else "")]
    for k in ("luts", "ffs", "brams", "sprams", "dsps"):
        if a[k]:
            lines.append(f"  {k:7s} {r[k]:>8} / {a[k]:<6} ({100 * r[k] / a[k]:5.1f} %)")
    if r["fmax_mhz"]:
        lines.append(f"  fmax    {r['fmax_mhz']:.1f} MHz{placement_text(r)}")
        cp = r["critical_path"]
        if cp:
            lines.append(f"  critical path {cp['delay_ns']} ns, {cp['logic_levels']} logic levels: "
                         f"{' -> '.join(cp['through'])}")
    if r.get("cycles_per_step"):
        us = f", {r['us_per_step']} us per step at that clock" if r["us_per_step"] else ""
        lines.append(f"  {r['cycles_per_step']:.1f} cycles per step on the test set (cycle model){us}")
    kinds = {}
    for name, block in r["memories"].items():
        kinds.setdefault(block, []).append(name)
    lines.append("  memories: " + "; ".join(f"{len(v)} in {k}" for k, v in sorted(kinds.items())))
    if r["memories_in_logic"]:
        lines.append(f"  NOT in RAM blocks: {', '.join(r['memories_in_logic'])}")
    if r["yosys_seconds"] is not None:
        lines.append(f"  yosys {r['yosys_seconds']} s, nextpnr {r['nextpnr_seconds']} s")
    lines.append(f"  files in {r['folder']}")
    return "\n".join(lines)
