"""The scale table of `make bench`: effective GOp/s and microseconds per step against the hidden
size H and the lanes P, from one run.

For every H in HIDDEN, a one-layer digits EGRU is trained here (`egru train --task digits
--hidden H --epochs 30`, seconds to a minute each; kept in WORK, so a re-run reuses it), then one
`egru explore` sweep quantizes it, 80% pruned with lane-balanced pruning for 16 lanes (the
pruning the scale issue ships for many lanes), and evaluates every P in LANES with the deep
pipeline: accuracy, cycles per step on the test set (the cycle model, which the simulations match
cycle for cycle), the ideal bound and the dense-GRU operations per step. A second sweep places and
routes the UART top on the ECP5-85F for the (H, P) in the synthesis plan, for Fmax; the cells
outside it report the clock-free figure, dense operations per cycle (GOp/s at 1 GHz), and no
time. Both sweeps are cached by content hash in WORK (gen/explore.py): a re-run computes only
what changed, and a failed synthesis is a row that says why, not the end of the run.

    python -m gen.bench_scale [--work DIR] [--synth H:P,...] [--into docs/benchmarks.md]

prints the Markdown section, or with --into puts it in place of that page's section of the same
heading (appended when the page has none; the page is written whole or not at all).
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

from gen import explore
from gen.progress import open_bar, say
from sw.files import write_atomic

HIDDEN = (64, 128, 256, 512)
LANES = (1, 2, 4, 8, 16)
PRUNE = 0.8
BALANCE = 16
EPOCHS = 30
TARGET = "ecp5-85k"
SYNTH = ((64, 4), (64, 16), (256, 8), (256, 16))
"""(H, P) placed and routed by default: the places-and-routes of P = 16 take up to an hour each
on a 2-core machine; --synth widens the plan."""
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_plan(text: str) -> tuple[tuple[int, int], ...]:
    """``"64:4,256:16"`` -> ((64, 4), (256, 16)), each H in HIDDEN and each P in LANES."""
    plan = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            h, p = (int(v) for v in item.split(":"))
        except ValueError:
            raise ValueError(f"--synth: {item!r} is not H:P (two integers)") from None
        if h not in HIDDEN or p not in LANES:
            raise ValueError(f"--synth: {item!r}: H must be one of {HIDDEN} and P one of {LANES}")
        plan.append((h, p))
    return tuple(dict.fromkeys(plan))


def checkpoint(work: str, hidden: int, quiet: bool = False) -> str:
    """The one-layer digits EGRU of ``hidden`` units, trained once into WORK."""
    path = os.path.join(work, f"digits-h{hidden}.pt")
    if not os.path.exists(path):
        say(f"bench: training a 1 x {hidden} digits EGRU ({EPOCHS} epochs) ...", quiet)
        cmd = [sys.executable, "-m", "gen.cli", "train", "--task", "digits", "--hidden", str(hidden),
               "--layers", "1", "--epochs", str(EPOCHS), "--out", path, "--quiet", "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"bench: egru train --hidden {hidden} failed: {proc.stderr.strip()[-300:]}")
    return path


def command(hidden: int, lanes, synth: bool = False) -> str:
    """One sweep of the table as a command line (CHECKPOINT: the 1 x H model trained as above)."""
    return (f"egru explore CHECKPOINT-H{hidden} --lanes {','.join(map(str, lanes))} --prune {PRUNE:g} "
            f"--balance-lanes {BALANCE} --pipeline deep --target {TARGET}" + (" --synth" if synth else ""))


def sweep(work: str, plan=SYNTH, quiet: bool = False, parallel: int = 2) -> list[dict]:
    """One row per (H, P): the explore row, with the synthesis figures where (H, P) is in the plan.
    The cycle-model sweeps run one H after the other (a local dask cluster, minutes in all); the
    synthesis sweeps of the different H run ``parallel`` at a time, each on a one-worker cluster
    of its own (a place-and-route keeps one core busy)."""
    settings = {"targets": (TARGET,), "balance_lanes": BALANCE}
    points = explore.grid(LANES, [8], [16], [PRUNE], pipeline=["deep"])
    reports, ckpts = {}, {}
    work = os.path.abspath(work)  # (egru train runs in the checkout)
    for hidden in HIDDEN:
        ckpts[hidden] = checkpoint(work, hidden, quiet)
        with explore.Connection() as connect:  # (a cluster per sweep, closed after it)
            reports[hidden] = explore.run_sweep(
                ckpts[hidden], points, explore.Sweep(**settings), os.path.join(work, f"h{hidden}"), connect,
                progress=lambda n, h=hidden: open_bar(n, f"H = {h}: cycle model", quiet))

    def place(hidden: int) -> dict[int, dict]:
        chosen = [pt for pt in points if (hidden, pt.lanes) in plan]
        if not chosen:
            return {}
        with explore.Connection(workers=1) as connect:
            report = explore.run_sweep(ckpts[hidden], chosen, explore.Sweep(**settings, synth=True),
                                       os.path.join(work, f"h{hidden}"), connect,  # (one cache per H)
                                       progress=lambda n: open_bar(n, f"H = {hidden}: synthesis", quiet))
        return {r["lanes"]: r.get("synth", {}).get(TARGET) or {"error": r.get("error", "not run")}
                for r in report["points"]}

    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        placed = dict(zip(HIDDEN, pool.map(place, HIDDEN), strict=True))
    rows = []
    for hidden in HIDDEN:
        for r in reports[hidden]["points"]:
            row = {"hidden": hidden, **r}
            if r["lanes"] in placed[hidden]:
                row["placed"] = placed[hidden][r["lanes"]]
            rows.append(row)
    return rows


def _fmt(v, spec: str) -> str:
    return format(v, spec) if isinstance(v, (int, float)) and v else "-"


HEADING = "## Scale: effective GOp/s and us per step against H and P"


def table(rows: list[dict], plan=SYNTH, measured: str | None = None) -> list[str]:
    """The section's Markdown lines (``measured``: a line saying where and when, for a section
    run on its own rather than as part of `make bench`'s page)."""
    lines = [
        HEADING,
        "",
        *([f"- {measured}", ""] if measured else []),
        "Command: `python -m gen.bench_scale` (part of `make bench`). For each H, a one-layer digits EGRU",
        f"trained by `egru train --task digits --hidden H --epochs {EPOCHS}`, then the sweeps",
        f"`{command(0, LANES).replace('H0', 'H')}` and, for the (H, P) placed",
        f"({', '.join(f'{h}:{p}' for h, p in plan) or 'none'}), the same with `--synth` (the UART top on the",
        "ECP5-85F, nextpnr seed 1). Dense ops per step = 2 x (3H(I + H) + HC), the MACs of the dense",
        "GRU of the same shape, twice; ops per cycle = that over the cycles per step (the cycle model",
        "on the 360 test sequences); effective GOp/s = dense ops per step / us per step, at the",
        "placed Fmax. The ideal bound is the sum over routed columns of ceil(entries / P) plus",
        "ceil(H / P) per layer.",
        "",
        "| H | P | accuracy | events/step | cycles/step | ideal bound | / ideal | dense ops/step | ops/cycle |"
        " Fmax MHz | us/step | GOp/s eff. | LUTs | DSPs | RAM blocks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r and "cycles_per_step" not in r:
            lines.append(f"| {r['hidden']} | {r['lanes']} | error: {r['error'][:120]} |" + " |" * 12)
            continue
        cps, dense = r["cycles_per_step"], r["dense_ops_per_step"]
        placed = r.get("placed") or {}
        fmax = placed.get("fmax_mhz") if "error" not in placed else None
        us = cps / fmax if fmax else None
        cells = [f"{r['hidden']}", f"{r['lanes']}", f"{r['accuracy']:.4f}", f"{r['events_per_step']:.1f}",
                 f"{cps:.1f}", f"{r['ideal_bound_cycles_per_step']:.1f}",
                 f"{cps / r['ideal_bound_cycles_per_step']:.3f}", f"{dense:,.0f}", f"{dense / cps:.0f}"]
        if "error" in placed:
            cells += ["not placed: " + placed["error"][:100].replace("|", "/")] + [""] * 5
        elif placed:
            cells += [_fmt(fmax, ".1f"), _fmt(us, ".2f"), _fmt(dense / us / 1e3 if us else None, ".1f"),
                      _fmt(placed.get("luts"), ","), _fmt(placed.get("dsps"), "d"), _fmt(placed.get("brams"), "d")]
        else:
            cells += [""] * 6
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def put_section(page: str, section: list[str]) -> str:
    """``page`` with its HEADING section (up to the next "## " heading) replaced by ``section``,
    or with ``section`` appended."""
    lines = page.splitlines()
    if HEADING not in lines:
        return "\n".join(lines + [""] + section) + "\n"
    start = lines.index(HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + section + lines[end:]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join("build", "bench", "scale"))
    ap.add_argument("--synth", default=",".join(f"{h}:{p}" for h, p in SYNTH), metavar="H:P,...",
                    help="the (H, P) to place and route (default: %(default)s; '' for none)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    ap.add_argument("--into", metavar="PAGE", help="put the section into this Markdown page (e.g. docs/benchmarks.md)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        plan = parse_plan(args.synth)
    except ValueError as e:
        ap.error(str(e))
    if args.into and not os.path.isfile(args.into):
        ap.error(f"--into {args.into}: no such page")
    os.makedirs(args.work, exist_ok=True)
    rows = sweep(args.work, plan, args.quiet)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    from gen.bench import machine  # (gen.bench imports this module)
    section = table(rows, plan, f"measured {time.strftime('%Y-%m-%d')} on {machine()}")
    if args.into:
        with open(args.into) as f:
            write_atomic(args.into, put_section(f.read(), section))
        say(f"bench: wrote the scale section into {args.into}", args.quiet)
    else:
        print("\n".join(section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
