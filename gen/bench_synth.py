"""The synthesis table of `make bench`: `egru synth` for every target and P in {1, 2, 4} on the
digits model (8-bit weights, 16-bit state, 50% pruned) with the short pipeline, and for the ECP5
targets at P in {1, 2, 4, 8} with the deep one.

It is two `egru explore --synth` sweeps (gen/explore.py): one synthesis task per row on a
local dask cluster (two run at once on two cores), each `egru synth` in its own process (a
failing run is a row, not the end of the sweep), every finished row cached by content hash,
so a re-run after a change elsewhere (or an interrupted run) synthesises only what is missing.

    python -m gen.bench_synth CHECKPOINT [--work DIR]   # prints the Markdown table
"""

import argparse
import os
import re
import sys

from gen import explore
from gen.progress import open_bar
from gen.targets import TARGETS

LANES = (1, 2, 4)
DEEP_LANES = (1, 2, 4, 8)
MODEL = {"weight_bits": [8], "state_bits": [16], "prune": [0.5]}


def sweeps() -> list[tuple[tuple[str, ...], str, tuple[int, ...]]]:
    """(targets, pipeline, lanes) of each explore sweep, in table order."""
    ecp5 = tuple(name for name in TARGETS if TARGETS[name].family == "ecp5")
    return [(tuple(TARGETS), "short", LANES), (ecp5, "deep", DEEP_LANES)]


def command(ckpt: str, targets, pipeline: str, lanes, work: str) -> str:
    return (f"egru explore {ckpt} --lanes {','.join(map(str, lanes))} --prune 0.5 --pipeline {pipeline} "
            f"--target {','.join(targets)} --synth -o {work}")


def sweep(ckpt: str, work: str, quiet: bool = False) -> list[dict]:
    """One row per (target, pipeline, lanes): the synth report with the point's cycles per step."""
    rows = []
    for targets, pipeline, lanes in sweeps():
        points = explore.grid(lanes, pipeline=[pipeline], **MODEL)
        folder = os.path.join(work, pipeline)
        with explore.Connection() as connect:
            report = explore.run_sweep(ckpt, points, explore.Sweep(targets=targets, synth=True), folder, connect,
                                       progress=lambda n, p=pipeline: open_bar(n, f"synthesis ({p})", quiet))
        explore.write_outputs(report, folder)
        for name in targets:
            for r in report["points"]:
                s = r.get("synth", {}).get(name, {"error": r.get("error", "not run")})
                row = {"target": name, "pipeline": pipeline, "lanes": r["lanes"], **s}
                if "error" not in s:
                    row["cycles_per_step"] = r.get("cycles_per_step")
                rows.append(row)
    return rows


def lane_costs(rows: list[dict]) -> list[dict]:
    """Per (target, pipeline) with at least two placed lane counts: the least-squares line
    LUTs = fixed + per_lane x P (and the same for FFs) through its rows. The fixed part is what
    does not grow with the lanes (command unit, UART, frame logic, the core's control and
    route front-end); it is a fit, so the residual (the largest distance of a row from the line,
    as a fraction of its value) says how well the two numbers describe the rows."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if "error" not in r and r.get("fits"):
            groups.setdefault((r["target"], r["pipeline"]), []).append(r)
    out = []
    for (target, pipeline), group in groups.items():
        lanes = [r["lanes"] for r in group]
        if len(set(lanes)) < 2:
            continue
        fit = {"target": target, "pipeline": pipeline, "lanes": sorted(lanes)}
        n, mean_p = len(lanes), sum(lanes) / len(lanes)
        var = sum((p - mean_p) ** 2 for p in lanes)
        for key in ("luts", "ffs"):
            ys = [r[key] for r in group]
            mean_y = sum(ys) / n
            slope = sum((p - mean_p) * (y - mean_y) for p, y in zip(lanes, ys, strict=True)) / var
            fixed = mean_y - slope * mean_p
            fit[f"{key}_per_lane"], fit[f"{key}_fixed"] = slope, fixed
            fit[f"{key}_residual"] = max(abs(y - (fixed + slope * p)) / y for p, y in zip(lanes, ys, strict=True))
        out.append(fit)
    return out


def cost_table(rows: list[dict]) -> list[str]:
    """The per-lane and fixed LUTs and FFs (lane_costs) as a markdown table."""
    fits = lane_costs(rows)
    if not fits:
        return []
    lines = ["Per lane and fixed, from the rows above that placed (least-squares line through LUTs and FFs",
             "against P; residual = the largest distance of a row from the line, relative to the row):", "",
             "| target | pipeline | P | LUTs per lane | LUTs fixed | FFs per lane | FFs fixed | residual |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for f in fits:
        res = max(f["luts_residual"], f["ffs_residual"])
        lines.append(f"| {f['target']} | {f['pipeline']} | {', '.join(map(str, f['lanes']))} | "
                     f"{f['luts_per_lane']:,.0f} | {f['luts_fixed']:,.0f} | {f['ffs_per_lane']:,.0f} | "
                     f"{f['ffs_fixed']:,.0f} | {100 * res:.0f}% |")
    return lines + [""]


def table(rows: list[dict], model: str) -> list[str]:
    lines = [
        "## Synthesis and place-and-route (digits model)",
        "",
        "Command per row: `egru synth MODEL --target TARGET --lanes P --pipeline PIPELINE --force --json`, on",
        f"the model `egru quantize {model} --prune 0.5` writes; run as the sweeps",
        *[f"`{command(model, t, p, lanes, 'DIR')}`" + (";" if i == 0 else ".")
          for i, (t, p, lanes) in enumerate(sweeps())],
        "(the synthesis table alone: `python -m gen.bench_synth CHECKPOINT`). The design is the UART top (core,",
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
    return lines + cost_table(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="float checkpoint written by `egru train` (digits)")
    ap.add_argument("--work", default=os.path.join("build", "bench", "synth"))
    args = ap.parse_args(argv)
    print("\n".join(table(sweep(args.checkpoint, args.work), args.checkpoint)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
