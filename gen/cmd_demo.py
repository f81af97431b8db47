"""`egru demo`: the main job on the embedded default (digits, H=64), end to end.

Load the float model shipped in gen/models/ (or retrain it with --retrain), quantize it
(quantization-aware fine-tuning, the golden model), generate the Verilog, simulate the whole
test set on Verilator against the golden and cycle models, synthesise and place the UART top
for one FPGA target (in a second process while the simulation runs), draw the plots, and print
a report a person can read.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from gen import cmd_quantize, cmd_train
from gen.progress import say
from gen.targets import TARGETS
from gen.verilog import PIPELINES_TEXT
from hw.spec import PIPELINES
from sw import checkpoint, cycles, modelfile, threads
from sw.activity import threshold_sweep
from sw.datasets import load
from sw.files import check_output_folder
from sw.golden import op_counts, quantize_inputs
from sw.golden import run as golden_run
from sw.hwimage import image_from_params
from sw.quantize import QuantSettings
from sw.train import check_seed

NAME = "demo"
HELP = "run the whole pipeline on the built-in digits model and print a report"
DESCRIPTION = f"""\
Run the pipeline end to end on the embedded default: scikit-learn's 8x8 digits read row by row
(8 steps of 8 features), one EGRU layer of 64 units and a readout of the summed events.

  1. float model: the checkpoint shipped in gen/models/digits.pt (--retrain trains it again,
     with the GRU baseline and the activity-regularisation series, in about three minutes)
  2. quantize: 8-bit weights, 16-bit state, quantization-aware fine-tuning (golden model)
  3. Verilog of the event-routed core with --lanes multiplier lanes and the --pipeline (deep:
     about twice the clock of short on the ECP5 for 13 cycles more per layer and step)
  4. simulate the whole test set on Verilator; every event, logit, class and cycle count is
     compared with the golden and cycle models
  5. synthesise and place the UART top for --target (Yosys and nextpnr, in parallel with 4;
     a few minutes; --no-synth skips it)
  6. plots (PNG): event raster, cycles against events, accuracy against activity

Writes everything under --workdir and prints a report (--json: the same as one JSON object).
Targets: {", ".join(TARGETS)} (the digits model fits the ECP5 parts; see docs/synthesis.md)."""

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
SHIPPED_MODEL = os.path.join(MODELS, "digits.pt")
# The same training with other activity-regularisation weights (egru train --activity-reg A):
# the accuracy-activity trade-off made while training, plotted beside threshold scaling.
ACTIVITY_REG = (0.0, 0.05, 0.5, 1.0)
# Thresholds scaled by these factors give the accuracy-activity curve (1 is the model as trained).
THRESHOLD_SCALES = (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
RASTER_SEQUENCES = 3


def regularised_model(reg: float) -> str:
    """The shipped checkpoint trained with activity-regularisation weight ``reg``."""
    return os.path.join(MODELS, f"digits-ar{reg:g}.pt")


def add_arguments(p) -> None:
    p.add_argument("--workdir", default=os.path.join("runs", "demo"),
                   help="folder for the demo's files (%(default)s)")
    p.add_argument("--retrain", action="store_true",
                   help="train the float model, the GRU baseline and the activity-regularisation series again "
                        "instead of loading the shipped checkpoints")
    p.add_argument("--epochs", type=int, default=cmd_train.DEFAULTS.epochs,
                   help="training epochs with --retrain (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of training and fine-tuning (%(default)s)")
    p.add_argument("--lanes", type=int, default=2, help="multiplier lanes P of the core (%(default)s)")
    # the deep pipeline by default: on the ECP5 it about doubles the clock for 18 cycles per
    # layer and step, so the step takes about half the time (docs/synthesis.md)
    p.add_argument("--pipeline", choices=PIPELINES, default="deep",
                   help=PIPELINES_TEXT + " (default: %(default)s)")
    p.add_argument("--target", default="ecp5-25k", choices=sorted(TARGETS),
                   help="FPGA target of the synthesis report (%(default)s)")
    p.add_argument("--no-synth", action="store_true", help="skip synthesis (no resources, Fmax or us/step)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help=threads.HELP)


def run(args) -> dict:
    with threads.requested(args.threads):  # training and fine-tuning in this process
        return _run(args)


def _run(args) -> dict:
    if not 1 <= args.lanes <= 64:
        raise ValueError(f"--lanes must be an integer in [1, 64], got {args.lanes}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be a positive integer, got {args.epochs}")
    check_seed(args.seed)
    _check_workdir(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    data = load(task="digits")
    quiet = ["--quiet"] if args.quiet else []

    if args.retrain:
        ckpt = os.path.join(args.workdir, "digits.pt")
        cfg = dataclasses.replace(cmd_train.DEFAULTS, epochs=args.epochs, seed=args.seed)
        cmd_train.train(cfg, data, ckpt, baseline=True, quiet=args.quiet)
    else:
        ckpt = SHIPPED_MODEL
        say(f"float model: {ckpt} (shipped; --retrain trains it again)", args.quiet)
    model, blob = checkpoint.load(ckpt)
    trained = blob["metrics"]  # float and GRU-baseline accuracy, activity: as measured when trained

    model_file = os.path.join(args.workdir, "digits.egru")
    quantized = cmd_quantize.quantize(model, blob, data, QuantSettings(seed=args.seed), model_file,
                                      quiet=args.quiet, checkpoint_path=ckpt)
    synth = None if args.no_synth else _start_synth(model_file, args)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # so that `finally` stops the synthesis too
        signal.signal(sig, _exit_on_signal)
    try:
        verilog = _stage("verilog", model_file, "-o", os.path.join(args.workdir, "verilog"),
                         "--lanes", str(args.lanes), "--pipeline", args.pipeline, *quiet)
        simulated = _stage("sim", model_file, "--simulator", "verilator", "--lanes", str(args.lanes),
                           "--pipeline", args.pipeline, "--build-dir", os.path.join(args.workdir, "sim"), *quiet)
        regularised = _regularised(args, data, ckpt, trained)
        figures, curve, ops = _analyse(model_file, args.lanes, data, trained, regularised, args.workdir,
                                       args.quiet, args.pipeline)
        synthesis = _finish_synth(synth, args.quiet) if synth else None
    finally:
        if synth and synth["proc"].poll() is None:  # interrupted or failed: stop the tools too
            try:
                os.killpg(synth["proc"].pid, signal.SIGKILL)  # its own group: egru synth, Yosys, nextpnr
            except ProcessLookupError:
                pass
            synth["proc"].wait()

    report = {
        "train": trained,
        "float_model": ckpt,
        "quantize": quantized,
        "verilog": {k: v for k, v in verilog.items() if k not in ("ports", "memories", "config")},
        "sim": simulated,
        "threshold_sweep": curve,
        "activity_regularisation": regularised,
        "dense_ops_per_step": ops,
        "plots": figures,
        "synth": synthesis,
    }
    if synthesis and synthesis.get("fmax_mhz"):
        report["throughput"] = throughput(simulated["cycles_per_step"], synthesis["fmax_mhz"], ops)
    if simulated["mismatches"]:
        report["failed"] = f"{simulated['mismatches']} of {simulated['samples']} sequences differ from the golden model"
    return report


def _check_workdir(workdir: str) -> None:
    """The demo's checkpoints and model file go into ``workdir``: never over the shipped ones."""
    names = ["digits.pt", "digits.egru", *(os.path.basename(regularised_model(r)) for r in ACTIVITY_REG)]
    shipped = [("a shipped checkpoint", os.path.join(MODELS, n)) for n in names if n.endswith(".pt")]
    check_output_folder(workdir, names, shipped, option="--workdir")


def throughput(cycles_per_step: float, fmax_mhz: float, dense_ops_per_step: int) -> dict:
    """The core's compute rate at a clock: time per step, steps per second, and the effective
    GOp/s (the operations a dense GRU would have to do per second to keep this pace). The
    readout at the end of a sequence and the host link are not in it."""
    us = cycles_per_step / fmax_mhz
    return {"fmax_mhz": fmax_mhz, "us_per_step": us, "steps_per_second": 1e6 / us,
            "effective_gops": dense_ops_per_step / us / 1e3}


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _stage(command: str, *argv: str) -> dict:
    """Run another subcommand as its command line would, so its options keep one definition."""
    from gen.cli import build_parser  # the CLI imports this module

    stage_args = build_parser().parse_args([command, *argv])
    return stage_args.run(stage_args)


def _start_synth(model_file: str, args) -> dict:
    """`egru synth` in its own process: the tools are single-threaded and take minutes, so they
    run on the second core while this process simulates."""
    folder = os.path.join(args.workdir, "synth")
    os.makedirs(folder, exist_ok=True)
    cmd = [sys.executable, "-m", "gen.cli", "synth", model_file, "--target", args.target,
           "--lanes", str(args.lanes), "--pipeline", args.pipeline, "-o", folder, "--json"]
    say(f"synthesis for {args.target} started in the background (log: {folder}/progress.log)", args.quiet)
    out = open(os.path.join(folder, "result.json"), "w")
    err = open(os.path.join(folder, "progress.log"), "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
    out.close()
    err.close()
    return {"proc": proc, "folder": folder, "target": args.target, "start": time.monotonic()}


def _finish_synth(s: dict, quiet: bool) -> dict:
    proc, last = s["proc"], 0.0
    while proc.poll() is None:
        time.sleep(1)
        waited = time.monotonic() - s["start"]
        if waited - last >= 15:
            last = waited
            say(f"waiting for synthesis ({s['target']}): {waited:.0f} s, {_last_line(s['folder'])}", quiet)
    with open(os.path.join(s["folder"], "result.json")) as f:
        text = f.read().strip()
    # A refusal (the model does not fit the target) or a crash is part of the report: the
    # minutes of simulation before it are not thrown away.
    log = os.path.join(s["folder"], "progress.log")
    try:
        result = json.loads(text.splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"target": s["target"], "error": f"egru synth gave no report (status {proc.returncode}); see {log}"}
    if "error" in result:
        return {"target": s["target"], "error": result["error"]}
    if proc.returncode != 0:
        return {"target": s["target"], "error": f"egru synth exited with status {proc.returncode}; see {log}"}
    return result


def _last_line(folder: str) -> str:
    try:
        with open(os.path.join(folder, "progress.log")) as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1] if lines else "starting"
    except OSError:
        return "starting"


def _regularised(args, data, ckpt: str, trained: dict) -> list[dict]:
    """Float test accuracy and activity of the digits EGRU trained with each ACTIVITY_REG weight
    and with the default one (the demo's model, ``trained`` its metrics): the shipped
    checkpoints' recorded metrics, or, with --retrain, trained again here. Sorted by weight."""
    out = [{"activity_reg": cmd_train.DEFAULTS.activity_reg, "accuracy": trained["test_accuracy"],
            "activity": trained["activity"], "checkpoint": ckpt}]
    for reg in ACTIVITY_REG:
        if args.retrain:
            path = os.path.join(args.workdir, f"digits-ar{reg:g}.pt")
            cfg = dataclasses.replace(cmd_train.DEFAULTS, epochs=args.epochs, seed=args.seed, activity_reg=reg)
            metrics = cmd_train.train(cfg, data, path, quiet=args.quiet)
        else:
            path = regularised_model(reg)
            metrics = checkpoint.load(path)[1]["metrics"]
        out.append({"activity_reg": reg, "accuracy": metrics["test_accuracy"], "activity": metrics["activity"],
                    "checkpoint": path})
    return sorted(out, key=lambda r: r["activity_reg"])


def _analyse(model_file: str, lanes: int, data, trained: dict, regularised: list[dict], workdir: str,
             quiet: bool, pipeline: str = "short"):
    """Golden-model runs behind the plots: events of a few sequences, every step's cycles and
    bound (the cycle model, which the simulation just matched cycle for cycle), and the
    accuracy-activity curve. Returns (plot paths, the curve, dense ops per step)."""
    from gen import plots  # matplotlib takes a while to import: only the demo pays for it

    say("plots: event raster, cycles against events, accuracy against activity ...", quiet)
    m = modelfile.load(model_file)
    x_q = quantize_inputs(data.x_test, m.config)
    res = golden_run(m.config, m.params, x_q)
    image = image_from_params(m.config, m.params, lanes=lanes, pipeline=pipeline)
    events, spent, bounds = [], [], []
    for n in range(x_q.shape[0]):
        for s in cycles.sequence_cycles(image, x_q, res, n):
            events.append(sum(s.events))
            spent.append(s.total)
            bounds.append(s.bound)
    curve = threshold_sweep(m.config, m.params, x_q, data.y_test, THRESHOLD_SCALES)
    as_trained = next(r for r in curve if r["threshold_scale"] == 1.0)
    o = res.layers[0].o[:RASTER_SEQUENCES].numpy()
    folder = os.path.join(workdir, "plots")
    figures = {
        "event_raster": plots.event_raster(list(o), data.y_test[:RASTER_SEQUENCES].tolist(),
                                           res.predictions[:RASTER_SEQUENCES].tolist(),
                                           os.path.join(folder, "event_raster.png")),
        "cycles_vs_events": plots.cycles_vs_events(np.array(events), np.array(spent), np.array(bounds),
                                                   cycles.dense_cycles_per_step(image, x_q.shape[1]), lanes,
                                                   os.path.join(folder, "cycles_vs_events.png")),
        "accuracy_vs_activity": plots.accuracy_vs_activity(
            curve, as_trained, trained.get("gru_test_accuracy"), os.path.join(folder, "accuracy_vs_activity.png"),
            regularised),
    }
    ops = 2 * op_counts(m.config, m.params, x_q, res)["dense_macs_per_step"]  # multiply + add
    return figures, curve, ops


def render(r: dict) -> str:
    t, q, s = r["train"], r["quantize"], r["sim"]
    gap = t["gru_test_accuracy"] - t["test_accuracy"] if "gru_test_accuracy" in t else None
    lines = [
        "EGRU accelerator demo: digits (8 steps x 8 features), EGRU 1x64, readout of 10 classes",
        "",
        "Accuracy on the test set (360 sequences)",
        f"  float EGRU                 {t['test_accuracy']:.4f}   ({os.path.relpath(r['float_model'])})",
    ]
    if gap is not None:
        lines.append(f"  dense GRU (float)          {t['gru_test_accuracy']:.4f}   (same size and budget; "
                     f"EGRU {-gap * 100:+.1f} points)")
    lines += [
        f"  quantized (golden model)   {q['quant_accuracy']:.4f}   ({q['weight_bits']}-bit weights, "
        f"{q['state_bits']}-bit state; QAT {q['qat_seconds']:.0f} s)",
        f"  hardware (Verilator)       {s['hw_accuracy']:.4f}   {s['samples'] - s['mismatches']} of {s['samples']} "
        f"sequences bit-exact (every event, logit, class and step cycle count)",
        "",
        "Activity",
        f"  events per unit and step   {s['activity']:.4f}   (float model {t['activity']:.4f})",
        "",
        f"Cycles per step ({s['lanes']} lanes"
        + (f", {s['pipeline']} pipeline)" if s.get("pipeline") != "short" else ")"),
        f"  event-driven (measured)    {s['cycles_per_step']:.1f}",
        f"  layout bound               {s['bound_cycles_per_step']:.1f}   (padded lane lists read + H / P; "
        f"measured / bound = {s['cycles_per_step'] / s['bound_cycles_per_step']:.2f})",
        f"  ideal bound                {s['ideal_bound_cycles_per_step']:.1f}   (entries read / P + H / P, "
        f"perfectly balanced lanes; lane imbalance {s['lane_imbalance']:.2f})",
        f"  dense GRU schedule         {s['dense_cycles_per_step']:.0f}   "
        f"(speed-up of the event-driven core: {s['dense_cycles_per_step'] / s['cycles_per_step']:.1f}x)",
        "",
    ]
    syn = r["synth"]
    if syn is None:
        lines += ["Synthesis: skipped (--no-synth)", ""]
    elif "error" in syn:
        lines += [f"Synthesis: {syn['target']}: {syn['error']}", ""]
    else:
        a = syn["available"]
        lines += [
            f"Synthesis: {syn['target']} ({syn['device']}), UART top, Yosys + nextpnr",
            f"  LUTs {syn['luts']}/{a['luts']}, FFs {syn['ffs']}/{a['ffs']}, RAM blocks {syn['brams']}/{a['brams']}, "
            f"DSPs {syn['dsps']}/{a['dsps']}: {'fits' if syn['fits'] else 'does NOT fit'}",
            f"  Fmax {syn['fmax_mhz']:.1f} MHz" if syn.get("fmax_mhz") else "  Fmax: none (not placed)",
        ]
        if "throughput" in r:
            tp = r["throughput"]
            lines += [
                f"  {tp['us_per_step']:.2f} us per step at that Fmax ({tp['steps_per_second']:,.0f} steps/s; the "
                f"core's compute, without the readout and the UART)",
                f"  effective {tp['effective_gops']:.2f} GOp/s: a dense GRU would need {r['dense_ops_per_step']:,} "
                f"ops per step (multiply and add) to keep this pace",
            ]
        lines += [f"  report: {syn['folder']}/report.json", ""]
    lines += ["Accuracy against activity (thresholds scaled, golden model)"]
    lines += [f"  x{c['threshold_scale']:<5g} activity {c['activity']:.4f}  accuracy {c['accuracy']:.4f}"
              for c in r["threshold_sweep"]]
    lines += ["", "Accuracy against activity (float models trained with activity regularisation weight reg)"]
    lines += [f"  reg {c['activity_reg']:<5g} activity {c['activity']:.4f}  accuracy {c['accuracy']:.4f}"
              for c in r["activity_regularisation"]]
    lines += ["", "Plots"]
    lines += [f"  {name:22s} {path}" for name, path in r["plots"].items()]
    lines += ["", f"Files: {os.path.dirname(q['out'])}/ (model file, Verilog, simulation build, synthesis, plots)"]
    if r.get("failed"):
        lines += ["", f"FAILED: {r['failed']}"]
    return "\n".join(lines)
