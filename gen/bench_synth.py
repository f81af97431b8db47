"""The synthesis table of `make bench`: `egru synth` for every target and P in {1, 2, 4} on the
digits model with the short pipeline, and for the ECP5 targets at P in {1, 2, 4, 8} with the
deep one; each run in its own process (a failing run is a row, not the end of the sweep).

    python -m gen.bench_synth MODEL [--work DIR] [--reuse | --from-logs]   # prints the Markdown table
"""

import argparse
import json
import os
import re
import subprocess
import sys

from gen.progress import say
from gen.targets import TARGETS

LANES = (1, 2, 4)
DEEP_LANES = (1, 2, 4, 8)


def runs() -> list[tuple[str, str, int]]:
    """(target, pipeline, lanes) of every row, in table order."""
    out = [(name, "short", lanes) for name in TARGETS for lanes in LANES]
    return out + [(name, "deep", lanes) for name in TARGETS if TARGETS[name].family == "ecp5" for lanes in DEEP_LANES]


def sweep(model: str, work: str, reuse: bool = False, from_logs: bool = False) -> list[dict]:
    rows = []
    for name, pipeline, lanes in runs():
        folder = os.path.join(work, f"{name}-p{lanes}" + ("-deep" if pipeline == "deep" else ""))
        report = os.path.join(folder, "report.json")
        if not (reuse and os.path.exists(report)):
            say(f"bench: egru synth {model} --target {name} --lanes {lanes} --pipeline {pipeline} --force ...")
            proc = subprocess.run([sys.executable, "-m", "gen.cli", "synth", model, "--target", name,
                                   "--lanes", str(lanes), "--pipeline", pipeline, "--force", "--json", "--quiet",
                                   "-o", folder, *(["--from-logs"] if from_logs else [])],
                                  capture_output=True, text=True)
            out = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
            if proc.returncode != 0:
                rows.append({"target": name, "pipeline": pipeline, "lanes": lanes,
                             "error": out.get("error", proc.stderr[-300:])})
                continue
        with open(report) as f:
            rows.append({"pipeline": pipeline, **json.load(f)})
    return rows


def table(rows: list[dict], model: str) -> list[str]:
    lines = [
        "## Synthesis and place-and-route (digits model)",
        "",
        f"Command per row: `egru synth {model} --target TARGET --lanes P --pipeline PIPELINE --force --json`",
        "(the sweep alone: `python -m gen.bench_synth MODEL`). The design is the UART top (core,",
        "command unit, frame receiver/transmitter, UART). Used / available as nextpnr placed them, or",
        "as it had packed them when placement failed; iCE40 LUTs are logic cells (LUT4, carry and FF",
        "packed), Gowin LUTs are LUT4 plus ALU cells. Fmax is nextpnr's (iCE40 aims at 30 MHz, ECP5 at",
        "100, Gowin at 50); us/step = cycles per step on the test set (cycle model) / Fmax. The",
        "critical path column lists the design blocks nextpnr's worst path crosses; docs/synthesis.md",
        "explains the rows that do not fit.",
        "",
        "| target | pipeline | P | fits | LUTs | FFs | RAM blocks | SPRAM | DSPs | Fmax MHz | cycles/step | us/step |"
        " critical path / why not |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['target']} | {r['pipeline']} | {r['lanes']} | error | | | | | | | | | "
                         f"{r['error'][:160]} |")
            continue
        a = r["available"]
        why = []
        if r["over"]:
            why.append("over: " + ", ".join(f"{k} {r[k]}/{a[k]}" for k in r["over"]))
        if r["pnr_error"]:
            why.append(re.sub(r"Unable to place cell '[^']*', ", "", r["pnr_error"]).replace("|", "/")[:100])
        if r["critical_path"] and not why:
            why.append(" -> ".join(r["critical_path"]["through"][:6]))
        spram = f"{r['sprams']}/{a['sprams']}" if a["sprams"] else "-"
        fmax = f"{r['fmax_mhz']:.1f}" if r["fmax_mhz"] else "-"
        cps = f"{r['cycles_per_step']:.0f}" if r.get("cycles_per_step") else "-"
        us = f"{r['us_per_step']:.2f}" if r.get("us_per_step") else "-"
        lines.append(f"| {r['target']} | {r['pipeline']} | {r['lanes']} | {'yes' if r['fits'] else 'no'} | "
                     f"{r['luts']}/{a['luts']} | "
                     f"{r['ffs']}/{a['ffs']} | {r['brams']}/{a['brams']} | {spram} | {r['dsps']}/{a['dsps']} | "
                     f"{fmax} | {cps} | {us} | {'; '.join(why)} |")
    lines.append("")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--work", default=os.path.join("build", "bench", "synth"))
    ap.add_argument("--reuse", action="store_true", help="keep the reports of runs already done")
    ap.add_argument("--from-logs", action="store_true", help="rebuild every report from its run's files (no tools)")
    args = ap.parse_args(argv)
    print("\n".join(table(sweep(args.model, args.work, args.reuse, args.from_logs), args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
