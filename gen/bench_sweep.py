"""The schedule sweep of `make bench`: activity x lanes x weight sparsity -> cycles per step,
ratio to the bound and ratio to the dense schedule, with the accuracy that goes with them.

It is one `egru explore` sweep (gen/explore.py, on a local dask cluster, cached by content
hash): one float checkpoint quantized at several pruning levels (structured pruning with
quantization-aware fine-tuning), activity set by scaling each quantized model's thresholds
(sw/activity.py), cycles from the cycle model, which the simulations match cycle for cycle
(tests/test_sim_cocotb.py, and the Verilator row of the speed table checks every step's count
again).

    python -m gen.bench_sweep CHECKPOINT [--work DIR]   # prints the Markdown table
"""

import argparse
import os
import sys

from gen import explore
from gen.progress import open_bar

PRUNE = (0.0, 0.5, 0.8)
THRESHOLD_SCALES = (0.75, 1.0, 1.25, 1.5)
LANES = (1, 2, 4, 8)
BUDGET = 1.10  # every step within 1.10 x bound + 8 cycles (the datapath issue's floor)


def command(ckpt: str, work: str) -> str:
    """The same sweep as a command line."""
    return (f"egru explore {ckpt} --lanes {','.join(map(str, LANES))} --prune {','.join(f'{p:g}' for p in PRUNE)} "
            f"--threshold-scale {','.join(f'{t:g}' for t in THRESHOLD_SCALES)} --target ecp5-85k -o {work}")


def sweep(ckpt: str, work: str, quiet: bool = False) -> list[dict]:
    """The explore rows of the sweep (work: explore's output folder, its cache inside)."""
    points = explore.grid(LANES, [8], [16], PRUNE, THRESHOLD_SCALES)
    with explore.Connection() as connect:
        report = explore.run_sweep(ckpt, points, explore.Sweep(targets=("ecp5-85k",)), work, connect,
                                   progress=lambda n: open_bar(n, "schedule sweep", quiet))
    explore.write_outputs(report, work)
    bad = [r for r in report["points"] if "error" in r]
    if bad:
        raise SystemExit(f"bench: {len(bad)} points of the schedule sweep failed: {bad[0]['error']}")
    return report["points"]


def table(rows: list[dict]) -> list[str]:
    lines = [
        "## Activity x lanes x weight sparsity (digits model)",
        "",
        "Command: `python -m gen.bench_sweep CHECKPOINT` (part of `make bench`), which is the sweep",
        f"`{command('CHECKPOINT', 'DIR')}`. One float checkpoint",
        f"quantized at {len(PRUNE)} pruning levels (weight sparsity: fraction of (source, target) entries of",
        "W and R with all three gate weights zero); activity set by scaling every threshold of the",
        "quantized model (x1 = as trained). Accuracy and activity from the golden model on the 360",
        "test sequences; cycles per step from the cycle model (the Verilator row above checks it",
        "cycle for cycle). Bound = entries read / P + H / P per step; dense = the GRU schedule of the",
        "same machine (every column, every entry). Worst step = max over steps of",
        f"(cycles - 8) / bound; the datapath's budget is {BUDGET:.2f}, checked on the digits model",
        "at P <= 4 unpruned and 50% pruned (tests/test_cli_verilog.py); rows past it are marked.",
        "",
        "| weight sparsity | threshold x | accuracy | activity | events/step | P | cycles/step |"
        " / bound | dense / event-driven | worst step |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['weight_sparsity']:.2f} | {r['threshold_scale']:g} | {r['accuracy']:.4f} | "
                     f"{r['activity']:.4f} | {r['events_per_step']:.1f} | {r['lanes']} | "
                     f"{r['cycles_per_step']:.1f} | {r['ratio_to_bound']:.3f} | "
                     f"{r['dense_over_event_driven']:.1f}x | {r['worst_step_excess']:.3f}"
                     f"{' (over)' if r['worst_step_excess'] > BUDGET else ''} |")
    lines.append("")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="float checkpoint written by `egru train` (digits)")
    ap.add_argument("--work", default=os.path.join("build", "bench", "sweep"))
    args = ap.parse_args(argv)
    print("\n".join(table(sweep(args.checkpoint, args.work))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
