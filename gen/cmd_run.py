"""`egru run`: load a model into a running accelerator (board or `egru serve-sim`) through the
host driver, stream the test set and compare every output with the golden model."""

import statistics
import time

import numpy as np
import torch

from gen.progress import bar, say
from sw import cycles, modelfile
from sw.charlm import bpc
from sw.datasets import load_recorded
from sw.driver import Accelerator
from sw.golden import events as golden_events
from sw.golden import quantize_inputs
from sw.golden import run as golden_run

NAME = "run"
HELP = "load a model into a running accelerator and run its test set through the driver"
DESCRIPTION = """\
Connect to an accelerator at URL (pyserial: /dev/ttyUSB1 for a board, socket://127.0.0.1:PORT
for `egru serve-sim`), check that the model fits the build (refused with the reasons if not),
write every model memory and read it back, then stream the test sequences of the model's data
set (or the first --samples) step by step. Every step's events, the logits, the class and
every step's cycle count are compared with the golden model and the cycle model; a sample
with any difference is a mismatch, and any mismatch makes the exit status 1 with what it most
probably means (e.g. --no-load while the accelerator holds another model).

Example: egru run --url socket://127.0.0.1:5555 runs/digits.egru --samples 100 --json"""


def add_arguments(p) -> None:
    p.add_argument("model", help="model file written by `egru quantize`")
    p.add_argument("--url", required=True, help="pyserial URL of the accelerator")
    p.add_argument("--samples", type=int, default=None, help="first N test sequences (default: all)")
    p.add_argument("--baud", type=int, default=115200, help="serial baud rate for a board (%(default)s)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a response (%(default)s)")
    p.add_argument("--no-load", action="store_true", help="the accelerator already holds this model")
    p.add_argument("--no-verify", action="store_true", help="do not read the memories back after loading")


def run(args) -> dict:
    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples must be a positive integer, got {args.samples}")
    model = modelfile.load(args.model)
    data = load_recorded(model.meta.get("data"))
    x, y = data.x_test, data.y_test
    if args.samples is not None:
        x, y = x[:args.samples], y[:args.samples]
    cfg = model.config
    x_q = quantize_inputs(x, cfg)
    golden = golden_run(cfg, model.params, x_q)
    t0 = time.perf_counter()
    with Accelerator(args.url, timeout=args.timeout, baudrate=args.baud) as acc:
        info = acc.info()
        image = acc.fit(model)  # refuses a model that does not fit, before anything is written
        say(f"connected to {args.url}: {info.config.hidden_size} units x {info.config.layers} layer(s), "
            f"{info.config.lanes} lanes, {info.depth} weight words per lane", args.quiet)
        words = 0
        if args.no_load:
            acc.holds(image)
        else:
            with bar(100, "load", args.quiet) as b:
                shown = [0]

                def progress(done, total):
                    pct = done * 100 // total
                    for _ in range(pct - shown[0]):
                        b.step()
                    shown[0] = pct

                words = acc.load(image, verify=not args.no_verify, progress=progress)
        load_seconds = time.perf_counter() - t0
        predicted, mismatched, messages, step_cycles, model_cycles = [], [], [], [], []
        per_step, step_logits = image.cfg.per_step, []
        with bar(len(x), "run", args.quiet) as b:
            for n in range(len(x)):
                out = acc.run(x_q[n])
                expect = [step.total for step in cycles.sequence_cycles(image, x_q, golden, n)]
                got_events = [(t, *e) for t, s in enumerate(out.steps) for e in s.events]
                got_cycles = [s.counters["cycles"] for s in out.steps]
                problems = []
                if got_events != golden_events(golden, n):
                    problems.append("events differ")
                if per_step:  # every step's readout, not only the last
                    got_logits = [s.logits for s in out.steps]
                    bad = [t for t, lg in enumerate(got_logits) if lg != golden.step_logits[n, t].tolist()]
                    if bad:
                        problems.append(f"step {bad[0]}: logits {got_logits[bad[0]]} != "
                                        f"{golden.step_logits[n, bad[0]].tolist()} ({len(bad)} steps differ)")
                    step_logits.append(got_logits)
                elif out.logits != golden.logits[n].tolist():
                    problems.append(f"logits {out.logits} != {golden.logits[n].tolist()}")
                if got_cycles != expect:
                    problems.append(f"cycles per step {got_cycles} != cycle model {expect}")
                if problems:
                    mismatched.append(n)
                    messages.append(f"sample {n}: " + "; ".join(problems))
                predicted.append(out.predicted)
                step_cycles += got_cycles
                model_cycles += expect
                b.step()
        seconds = time.perf_counter() - t0
        if per_step:  # a prediction at every step (ties go to the lowest class, as on chip)
            hw_logits = torch.tensor(step_logits, dtype=torch.int64)
            predicted = hw_logits.argmax(dim=2).numpy()
        golden_pred = golden.predictions.numpy()
        result = {
            "url": args.url,
            "samples": len(x),
            "accuracy": float((np.asarray(predicted) == np.asarray(y)).mean()),
            "golden_accuracy": float((golden_pred == y).mean()),
            "mismatches": len(mismatched),
            "mismatch_messages": messages[:5],
            "cycles_per_step": statistics.fmean(step_cycles),
            "words_loaded": words,
            "bytes_sent": acc.bytes_sent,
            "bytes_received": acc.bytes_received,
            "retries": acc.retried,
            "load_seconds": round(load_seconds, 3),
            "seconds": round(seconds, 3),
            "hardware": {"lanes": info.config.lanes, "depth": info.depth, "version": info.version},
        }
        if per_step:
            frac = image.cfg.readout_acc_frac
            result["bpc"] = bpc(hw_logits, y, frac)
            result["golden_bpc"] = bpc(golden.step_logits, y, frac)
        if mismatched:  # the report is printed, and the exit status says that the run failed
            result["failed"] = (f"{len(mismatched)} of {len(x)} sequences differ from the golden model; "
                                f"{_likely_cause(acc, image, args.no_load)}")
    return result


def _likely_cause(acc: Accelerator, image, no_load: bool) -> str:
    """What a mismatch most probably means, from a read-back of the model memories."""
    difference = acc.differs(image)
    if difference and no_load:
        return (f"the accelerator holds another model (its memories differ from this model's at {difference}): "
                f"run without --no-load")
    if difference:
        return f"the model's memories changed after loading ({difference}): the hardware lost or overwrote them"
    return ("the accelerator holds exactly this model, so the hardware computes something else than the golden "
            "model (a hardware or build bug; the first mismatches are listed)")


def render(r: dict) -> str:
    lines = [
        f"ran {r['samples']} sequences on {r['url']} ({r['hardware']['lanes']} lanes)",
        f"  hardware accuracy     {r['accuracy']:.4f}",
        f"  golden accuracy       {r['golden_accuracy']:.4f}",
        f"  mismatching samples   {r['mismatches']}",
        f"  cycles per step       {r['cycles_per_step']:.1f}",
        *([f"  bits per step         {r['bpc']:.4f} (golden {r['golden_bpc']:.4f})"] if "bpc" in r else []),
        f"  loaded                {r['words_loaded']} words in {r['load_seconds']:.1f} s",
        f"  bytes sent / received {r['bytes_sent']} / {r['bytes_received']} ({r['retries']} retries)",
        f"  wall time             {r['seconds']:.1f} s",
    ]
    lines += [f"  {m}" for m in r["mismatch_messages"]]
    if r.get("failed"):
        lines += ["", f"FAILED: {r['failed']}"]
    return "\n".join(lines)
