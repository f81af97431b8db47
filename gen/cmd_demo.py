"""`egru demo`: the main job on the embedded default (digits, H=64).

Today it trains the float EGRU and the GRU baseline and reports them; the stages after
training (quantize, Verilog, simulation, synthesis) join as they are built, and the report
says which ran.
"""

import dataclasses
import os

from gen import cmd_quantize, cmd_train
from sw import checkpoint
from sw.datasets import load
from sw.quantize import QuantSettings

NAME = "demo"
HELP = "run the whole pipeline on the built-in digits model and print a report"
DESCRIPTION = """\
Run the pipeline end to end on the embedded default: scikit-learn digits, one EGRU layer of
64 units. Writes its files under --workdir and prints a report; --json prints it as JSON."""

# Stages of the full pipeline in order, and whether this build of egru runs them yet.
STAGES = (("train", True), ("quantize", True), ("verilog", True), ("sim", True),
          ("synth", False))


def add_arguments(p) -> None:
    p.add_argument("--workdir", default=os.path.join("runs", "demo"),
                   help="folder for the demo's files (%(default)s)")
    p.add_argument("--epochs", type=int, default=cmd_train.DEFAULTS.epochs,
                   help="training epochs (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")


def run(args) -> dict:
    cfg = dataclasses.replace(cmd_train.DEFAULTS, epochs=args.epochs, seed=args.seed)
    data = load(task="digits")
    out = os.path.join(args.workdir, "digits.pt")
    trained = cmd_train.train(cfg, data, out, baseline=True, quiet=args.quiet)
    model, blob = checkpoint.load(out)
    model_file = os.path.join(args.workdir, "digits.egru")
    quantized = cmd_quantize.quantize(model, blob, data, QuantSettings(seed=args.seed), model_file,
                                      quiet=args.quiet, checkpoint_path=out)
    quiet = ["--quiet"] if args.quiet else []
    verilog = _stage("verilog", model_file, "-o", os.path.join(args.workdir, "verilog"), "--lanes", "2", *quiet)
    simulated = _stage("sim", model_file, "--simulator", "verilator", "--lanes", "2",
                       "--build-dir", os.path.join(args.workdir, "sim"), *quiet)
    return {
        "stages_run": [name for name, ready in STAGES if ready],
        "stages_pending": [name for name, ready in STAGES if not ready],
        "train": trained,
        "quantize": quantized,
        "verilog": {k: v for k, v in verilog.items() if k not in ("ports", "memories", "config")},
        "sim": simulated,
    }


def _stage(command: str, *argv: str) -> dict:
    """Run another subcommand as its command line would, so its options keep one definition."""
    from gen.cli import build_parser  # the CLI imports this module

    stage_args = build_parser().parse_args([command, *argv])
    return stage_args.run(stage_args)


def render(r: dict) -> str:
    t, q, v, s = r["train"], r["quantize"], r["verilog"], r["sim"]
    gap = t["gru_test_accuracy"] - t["test_accuracy"]
    return "\n".join([
        "EGRU accelerator demo: digits (8 steps x 8 features), EGRU 1x64",
        "",
        f"  float EGRU test accuracy   {t['test_accuracy']:.4f}",
        f"  dense GRU test accuracy    {t['gru_test_accuracy']:.4f}   (gap {gap * 100:+.1f} points)",
        f"  activity                   {t['activity']:.4f}   -> the recurrent phase touches "
        f"{t['activity'] * 100:.0f}% of R's rows per step",
        f"  backward sparsity          {t['backward_sparsity']:.4f}",
        f"  training time              {t['seconds']:.1f} s EGRU, {t['gru_seconds']:.1f} s GRU",
        f"  checkpoint                 {t['out']}",
        "",
        f"  quantized accuracy         {q['quant_accuracy']:.4f}   ({q['weight_bits']}-bit weights, "
        f"{q['state_bits']}-bit state, golden model, bit-exact integer reference)",
        f"  QAT vs golden mismatches   {q['qat_golden_class_mismatch']:.4f}",
        f"  quantized activity         {q['activity']:.4f}",
        f"  golden model speed         {q['golden_samples']} sequences in {q['golden_seconds']:.3f} s",
        f"  model file                 {q['out']} ({q['model_bytes']} bytes)",
        "",
        f"  Verilog                    {v['verilog']} ({v['lanes']} lanes, {v['memory_bits']} memory bits)",
        f"  cycles per step            {v['cycles_per_step']:.1f} event-driven, "
        f"bound {v['bound_cycles_per_step']:.1f}, dense GRU schedule {v['dense_cycles_per_step']:.0f} "
        f"({v['dense_over_event_driven']:.1f}x fewer cycles)",
        "",
        f"  Verilator simulation       {s['samples']} test sequences: hardware accuracy {s['hw_accuracy']:.4f}, "
        f"golden {s['golden_accuracy']:.4f}, {s['samples'] - s['mismatches']} of {s['samples']} bit-exact",
        f"  measured cycles per step   {s['cycles_per_step']:.1f}  "
        f"({s['sim_cycles_per_second']:.0f} simulated cycles/s)",
        "",
        f"stages run:     {', '.join(r['stages_run'])}",
        f"not in the demo yet: {', '.join(r['stages_pending'])} "
        f"(egru synth {q['out']} --target ecp5-85k; docs/synthesis.md)",
    ])
