"""The schedule sweep of `make bench`: activity x lanes x weight sparsity -> cycles per step,
ratio to the bound and ratio to the dense schedule, with the accuracy that goes with them.

Weight sparsity comes from quantizing one float checkpoint at several pruning levels
(structured pruning with quantization-aware fine-tuning); activity from scaling the thresholds
of each quantized model (sw/activity.py). Cycles come from the cycle model, which the
simulations match cycle for cycle (tests/test_sim_cocotb.py, and the Verilator row of the speed
table checks every step's count again).

    python -m gen.bench_sweep CHECKPOINT [--work DIR]   # prints the Markdown table
"""

import argparse
import os
import sys

from gen.cmd_quantize import quantize
from gen.progress import bar, say
from sw import checkpoint, modelfile
from sw.activity import scale_thresholds, threshold_sweep
from sw.datasets import load
from sw.golden import quantize_inputs
from sw.hwimage import image_from_params
from sw.perf import schedule_report
from sw.quantize import QuantSettings, weight_sparsity

PRUNE = (0.0, 0.5, 0.8)
THRESHOLD_SCALES = (0.75, 1.0, 1.25, 1.5)
LANES = (1, 2, 4, 8)
BUDGET = 1.10  # every step within 1.10 x bound + 8 cycles (the datapath issue's floor)


def quantized_models(ckpt: str, work: str, quiet: bool = True) -> list[str]:
    """One model file per pruning level, all from the same float checkpoint."""
    model, blob = checkpoint.load(ckpt)
    data = load(task="digits")
    paths = []
    for prune in PRUNE:
        path = os.path.join(work, f"digits-prune{int(prune * 100)}.egru")
        say(f"bench: quantizing with {prune:.0%} of W and R pruned ...", quiet)
        quantize(model, blob, data, QuantSettings(prune=prune), path, quiet=True, checkpoint_path=ckpt)
        paths.append(path)
    return paths


def sweep(paths: list[str], quiet: bool = False) -> list[dict]:
    data = load(task="digits")
    rows = []
    with bar(len(paths) * len(THRESHOLD_SCALES) * len(LANES), "schedule sweep", quiet) as b:
        for path in paths:
            m = modelfile.load(path)
            x_q = quantize_inputs(data.x_test, m.config)
            sparsity = weight_sparsity(m.params, m.config.hidden_size)
            curve = threshold_sweep(m.config, m.params, x_q, data.y_test, THRESHOLD_SCALES)
            for point in curve:
                params = scale_thresholds(m.config, m.params, point["threshold_scale"])
                for lanes in LANES:
                    s = schedule_report(image_from_params(m.config, params, lanes=lanes), params, x_q)
                    rows.append({**point, "weight_sparsity": sparsity, "lanes": lanes,
                                 "cycles_per_step": s["cycles_per_step"],
                                 "ratio_to_bound": s["ratio_to_bound"],
                                 "dense_over_event_driven": s["dense_over_event_driven"],
                                 "worst_step_excess": s["worst_step_excess"]})
                    b.step()
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = [
        "## Activity x lanes x weight sparsity (digits model)",
        "",
        "Command: `python -m gen.bench_sweep CHECKPOINT` (part of `make bench`). One float checkpoint",
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
    print("\n".join(table(sweep(quantized_models(args.checkpoint, args.work, quiet=False)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
