"""`make bench`: measure and write docs/benchmarks.md.

The speed of the golden model and of the three simulators of the core (amaranth.sim, Icarus
and Verilator through cocotb) on the trained digits model, measured in one run on one machine so
that their ratios mean something; the schedule sweep (gen/bench_sweep.py: activity x lanes x
weight sparsity -> cycles per step against the bound and the dense schedule); `egru train` with
automatic and 2 torch threads beside busy loops (gen/bench_threads.py); and the synthesis table
(gen/bench_synth.py: every target and P in {1, 2, 4}, the deep pipeline on ECP5 at P up to 8), and
the scale table (gen/bench_scale.py: effective GOp/s and us per step against H and P).
Both sweeps are `egru explore` sweeps (gen/explore.py) on a local dask cluster, cached by
content hash in WORK: a re-run computes only what changed.

The model is the digits EGRU that ships with the demo (gen/models/digits.pt), so that the same
checkpoint bytes give the same cache keys run after run.
"""

import argparse
import os
import platform
import sys
import time

import torch

from gen import bench_scale, bench_sweep, bench_synth, bench_threads
from gen.cmd_quantize import quantize
from gen.progress import say
from gen.verilog import write_verilog
from hw.core import EGRUCore
from sim import runner
from sim.amaranth_run import run_core
from sim.spec import build_spec
from sw import checkpoint, modelfile
from sw.datasets import load
from sw.golden import quantize_inputs, run
from sw.hwimage import image_from_params
from sw.quantize import QuantSettings

CHECKPOINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "digits.pt")


RELIABILITY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "reliability.md")


def reliability_figures(path: str = RELIABILITY) -> list[str]:
    """The figure tables of docs/reliability.md (written by the long `make fuzz` and `make soak`
    runs, which `make bench` does not repeat), each under its section's heading one level down."""
    out, heading, table = [], None, []
    with open(path) as f:
        lines = f.read().splitlines() + [""]
    for line in lines:
        if line.startswith("## "):
            heading = "#" + line
        elif line.startswith("|"):
            table.append(line)
        elif table:
            if table[0].startswith("| figure |"):
                out += [heading, "", *table, ""]
            table = []
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, torch {torch.__version__}"


def amaranth_speed(core, x_q, golden, n) -> tuple[int, float]:
    t0 = time.perf_counter()
    got = run_core(core, [s.tolist() for s in x_q[:n]])
    seconds = time.perf_counter() - t0
    if [g["logits"] for g in got] != golden.logits[:n].tolist():
        raise SystemExit("bench: amaranth.sim disagrees with the golden model")
    cycles = sum(sum(s["cycles"] for s in g["steps"]) + g["readout"]["cycles"] for g in got)
    return cycles, seconds  # counted cycles only: a lower bound of the cycles simulated


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=os.path.join("build", "bench"))
    ap.add_argument("--out", default=os.path.join("docs", "benchmarks.md"))
    ap.add_argument("--checkpoint", default=CHECKPOINT, help="float digits checkpoint (default: the demo's)")
    args = ap.parse_args(argv)
    data = load(task="digits")
    say("bench: quantizing the digits model (50% pruned) ...")
    ckpt = args.checkpoint
    model, blob = checkpoint.load(ckpt)
    path = os.path.join(args.work, "digits.egru")
    quantize(model, blob, data, QuantSettings(prune=0.5), path, quiet=True, checkpoint_path=ckpt)
    m = modelfile.load(path)
    x_q = quantize_inputs(data.x_test, m.config)

    rows = []
    t0 = time.perf_counter()
    golden = run(m.config, m.params, x_q)
    g_seconds = time.perf_counter() - t0
    rows.append(("golden model (int64 torch, batched)", len(x_q), None, g_seconds))

    core = EGRUCore(image_from_params(m.config, m.params, lanes=2))
    verilog = write_verilog(core, os.path.join(args.work, "verilog"))
    say("bench: amaranth.sim ...")
    cycles, seconds = amaranth_speed(core, x_q, golden, 10)
    rows.append(("amaranth.sim (in-process)", 10, cycles, seconds))
    for simulator, n in (("icarus", 60), ("verilator", len(x_q))):
        say(f"bench: {simulator} ...")
        spec = build_spec(core, x_q[:n], golden.take(slice(0, n)), stop_on_mismatch=False)
        runner.run(verilog, spec, simulator, os.path.join(args.work, "sim"))  # build (not timed)
        r = runner.run(verilog, spec, simulator, os.path.join(args.work, "sim"))
        bad = sum(1 for s in r.sequences if s["mismatches"])
        if bad or not r.passed:
            raise SystemExit(f"bench: {simulator} disagrees with the golden model on {bad} sequences")
        rows.append((f"{simulator} + cocotb", n, r.cycles, r.seconds))

    lines = [
        "# Benchmarks",
        "",
        "Regenerate with `make bench` (runs `python -m gen.bench`; about an hour the first time, most",
        "of it place-and-route; its sweeps run through `egru explore`, whose cache in build/bench",
        "keeps every finished point, so a re-run computes only what changed). All numbers below",
        "come from one run on one machine, so compare them as ratios:",
        "",
        f"- machine: {machine()}",
        f"- date: {time.strftime('%Y-%m-%d')}",
        "- model: digits, EGRU 1x64, 8-bit weights, 16-bit state, 50% pruned; core with 2 lanes",
        "",
        "The fuzz and soak of the host protocol (`make fuzz`, `make soak`) are described in",
        "[reliability.md](reliability.md); their figures, as that page records them:",
        "",
        *reliability_figures(),
        "## Simulation and golden-model speed",
        "",
        "| engine | sequences | cycles | seconds | cycles/s | sequences/s | sequences/s vs Verilator |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    verilator_rate = rows[-1][1] / rows[-1][3]
    for name, n, cyc, sec in rows:
        cps = f"{cyc / sec:,.0f}" if cyc else "-"
        lines.append(f"| {name} | {n} | {cyc if cyc else '-'} | {sec:.3f} | {cps} | {n / sec:,.1f} | "
                     f"{n / sec / verilator_rate:.3g}x |")
    lines += [
        "",
        "Cycles are clock cycles of the core (Verilator/Icarus: simulated time; amaranth.sim: the",
        "cycles the core's counters report, which leaves out idle cycles between sequences). The",
        "cocotb testbench runs Python only while a stream transfers; see sim/tb.py. Every",
        "simulated sequence here equals the golden model (events, logits, class, cycles).",
        "",
    ]
    say("bench: schedule sweep (activity x lanes x weight sparsity) ...")
    lines += bench_sweep.table(bench_sweep.sweep(ckpt, os.path.join(args.work, "sweep")))
    lines += bench_threads.table(bench_threads.measure(os.path.join(args.work, "threads")), machine())
    say("bench: synthesis sweep (every target, P = 1, 2, 4; the deep pipeline on ECP5; tens of minutes) ...")
    lines += bench_synth.table(bench_synth.sweep(ckpt, os.path.join(args.work, "synth")), ckpt)
    say("bench: scale (H = 64 ... 512 x P = 1 ... 16; the places-and-routes of P = 16 up to an hour each) ...")
    lines += bench_scale.table(bench_scale.sweep(os.path.join(args.work, "scale")))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    say(f"bench: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
