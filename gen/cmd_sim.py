"""`egru sim`: run the model's test set through the generated Verilog on Verilator or Icarus
(cocotb) and through the golden model, and compare them sample for sample."""

import os
import statistics

import torch

from gen.axi import AXI_TOP, build_axi
from gen.progress import bar, say
from gen.verilog import PIPELINE_HELP, build_core, write_verilog
from hw.spec import PIPELINES
from sim import runner
from sim.axi_spec import build_axi_spec
from sim.spec import build_spec
from sw.charlm import bpc
from sw.datasets import load_recorded
from sw.files import check_output_folder
from sw.golden import quantize_inputs
from sw.golden import run as golden_run
from sw.hwimage import load_words
from sw.perf import schedule_report

NAME = "sim"
HELP = "simulate the generated Verilog on the test set and compare with the golden model"
DESCRIPTION = """\
Generate the core for a model file, build it with Verilator (default) or Icarus through cocotb,
stream the test set of the model's data set (or its first --samples sequences) and check every
event, the logits, the class and every step's cycle count against the golden and cycle models.
A sample whose outputs or events differ counts as a mismatch (the messages name step, layer,
unit, expected and got). The first build of a design takes tens of seconds (Verilator compiles
C++); an unchanged design is not rebuilt.

--top axi simulates the AXI IP (egru verilog --top axi) with cocotbext-axi instead: the model is
written over AXI4-Lite and every word read back, the steps go in on s_axis and the results come
out on m_axis (--idle and --backpressure: random tvalid and tready pauses), every beat is
checked the same way, and the counter registers at the end of every chunk.

Example: egru sim runs/digits.egru --simulator verilator --samples 100"""


def add_arguments(p) -> None:
    p.add_argument("model", help="model file written by `egru quantize`")
    p.add_argument("--simulator", choices=runner.SIMULATORS, default="verilator", help="(%(default)s)")
    p.add_argument("--samples", type=int, default=None, help="first N test sequences (default: all)")
    p.add_argument("--lanes", type=int, default=None, help="multiplier lanes P (default: the model's, 1)")
    p.add_argument("--pipeline", choices=PIPELINES, default=None, help=PIPELINE_HELP)
    p.add_argument("--dense", action="store_true", help="dense memories and the GRU schedule")
    p.add_argument("--trace", action="store_true", help="also check every unit's state on the trace stream")
    p.add_argument("--idle", type=float, default=0.0, help="probability of an idle cycle between inputs")
    p.add_argument("--backpressure", type=float, default=0.0, help="probability of not-ready on outputs")
    p.add_argument("--waves", action="store_true", help="record waveforms (path printed; also WAVES=1)")
    p.add_argument("--build-dir", default=os.path.join("build", "sim"), help="(%(default)s)")
    p.add_argument("--top", choices=("core", "axi"), default="core",
                   help="the bare core, or the AXI IP through cocotbext-axi (%(default)s)")


def run(args) -> dict:
    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples must be a positive integer, got {args.samples}")
    for name in ("idle", "backpressure"):
        v = getattr(args, name)
        if not 0.0 <= v < 1.0:
            raise ValueError(f"--{name} must be a probability in [0, 1), got {v}")
    axi = getattr(args, "top", "core") == "axi"
    if axi and args.trace:
        raise ValueError("--trace is not available with --top axi (the AXI top has no trace stream)")
    verilog_dir = os.path.join(args.build_dir, "verilog")
    check_output_folder(verilog_dir, [f"{AXI_TOP if axi else 'egru_core'}.v"], [("the model file", args.model)],
                        option="--build-dir")
    if axi:
        top, model = build_axi(args.model, lanes=args.lanes, dense=args.dense, pipeline=args.pipeline)
        core = top.core
    else:
        core, model = build_core(args.model, lanes=args.lanes, dense=args.dense, trace=args.trace,
                                 pipeline=args.pipeline)
    data = load_recorded(model.meta.get("data"))
    x, y = data.x_test, data.y_test
    if args.samples is not None:
        x, y = x[:args.samples], y[:args.samples]
    cfg = core.image.cfg
    x_q = quantize_inputs(x, cfg)
    golden = golden_run(cfg, model.params, x_q)
    path = write_verilog(top, verilog_dir, AXI_TOP) if axi else write_verilog(core, verilog_dir)
    problems, memory_words = [], 0
    say(f"simulating {len(x)} sequences on {args.simulator} ({core.geometry.P} lanes); "
        f"the first build of a design compiles for a while ...", args.quiet)
    chunk = max(1, -(-len(x) // 10))
    observed, sim_cycles, sim_seconds, build_seconds, waves = [], 0, 0.0, 0.0, None
    with bar(-(-len(x) // chunk), f"sim ({args.simulator})", args.quiet) as b:
        for start in range(0, len(x), chunk):
            part = slice(start, start + chunk)
            sub = golden.take(part)
            if axi:  # the model is loaded and read back in the first run
                spec = build_axi_spec(top, x_q[part], sub, idle=args.idle, backpressure=args.backpressure, seed=start,
                                      load=load_words(core.image) if start == 0 else None)
                r = runner.run(path, spec, args.simulator, args.build_dir, waves=args.waves or None,
                               top=AXI_TOP, test_module="sim.cocotb_axi")
                problems += r.problems
                memory_words += r.memory_words
            else:
                spec = build_spec(core, x_q[part], sub, trace=args.trace, idle=args.idle,
                                  backpressure=args.backpressure, seed=start, stop_on_mismatch=False)
                r = runner.run(path, spec, args.simulator, args.build_dir, waves=args.waves or None)
            if len(r.sequences) != len(spec["sequences"]) or any(s["class"] is None for s in r.sequences):
                raise RuntimeError(f"the simulation did not complete; its log ends:\n{r.log[-2000:]}")
            observed += r.sequences
            sim_cycles += r.cycles
            sim_seconds += r.seconds
            build_seconds += r.build_seconds
            waves = waves or r.waves
            b.step()
    mismatched = [i for i, s in enumerate(observed) if s["mismatches"]]
    if cfg.per_step:  # a prediction at every step, from its own readout
        hw_logits = torch.tensor([s["readouts"] for s in observed], dtype=torch.int64)  # [N, T, C]
        hw_pred = hw_logits.argmax(dim=2)
    else:
        hw_pred = torch.tensor([s["class"] for s in observed])
    golden_pred = golden.predictions
    steps = [c for s in observed for c in s["cycles"]]
    schedule = schedule_report(core.image, model.params, x_q)  # bound and dense schedule (cycle model)
    result = {
        "simulator": args.simulator,
        "samples": len(x),
        "lanes": core.geometry.P, "pipeline": core.geometry.cfg.pipeline,
        "golden_accuracy": float((golden_pred.numpy() == y).mean()),
        "hw_accuracy": float((hw_pred.numpy() == y).mean()),
        "mismatches": len(mismatched),
        "mismatch_messages": [f"sample {i}: {m}" for i in mismatched[:5] for m in observed[i]["mismatches"][:3]],
        "activity": float(torch.cat([r.o for r in golden.layers], dim=2).double().mean()),
        "cycles_per_step": statistics.fmean(steps),
        "bound_cycles_per_step": schedule["bound_cycles_per_step"],
        "ideal_bound_cycles_per_step": schedule["ideal_bound_cycles_per_step"],
        "lane_imbalance": schedule["lane_imbalance"],
        "dense_cycles_per_step": schedule["dense_cycles_per_step"],
        "sim_cycles": sim_cycles,
        "sim_seconds": round(sim_seconds, 3),
        "sim_cycles_per_second": sim_cycles / sim_seconds if sim_seconds else 0.0,
        "build_seconds": round(build_seconds, 2),
        "verilog": path,
        "top": "axi" if axi else "core",
    }
    if cfg.per_step:
        frac = cfg.readout_acc_frac
        result.update(golden_bpc=bpc(golden.step_logits, y, frac), hw_bpc=bpc(hw_logits, y, frac),
                      readout_cycles_per_step=schedule["readout_cycles"],
                      cycles_per_step_with_readout=schedule["cycles_per_step_with_readout"],
                      bound_cycles_per_step_with_readout=schedule["bound_cycles_per_step_with_readout"])
    if axi:
        result.update(memory_words_read_back=memory_words, axi_problems=problems[:20],
                      mismatches=len(mismatched) + len(problems))
    if waves:
        result["waves"] = waves
        say(f"waveforms: {waves}", args.quiet)
    return result


def render(r: dict) -> str:
    lines = [
        f"simulated {r['samples']} sequences on {r['simulator']} ({r['lanes']} lanes"
        f"{', AXI IP' if r.get('top') == 'axi' else ''})",
        f"  golden accuracy       {r['golden_accuracy']:.4f}",
        f"  hardware accuracy     {r['hw_accuracy']:.4f}",
        f"  mismatching samples   {r['mismatches']}",
        f"  activity              {r['activity']:.4f}",
        f"  cycles per step       {r['cycles_per_step']:.1f} (layout bound {r['bound_cycles_per_step']:.1f}, "
        f"ideal bound {r['ideal_bound_cycles_per_step']:.1f}, dense GRU schedule {r['dense_cycles_per_step']:.0f})",
        f"  simulation speed      {r['sim_cycles_per_second']:.0f} cycles/s ({r['sim_cycles']} cycles in "
        f"{r['sim_seconds']:.1f} s; build {r['build_seconds']:.1f} s)",
    ]
    if "hw_bpc" in r:  # a per-step readout (language model)
        lines[1:3] = [f"  golden accuracy       {r['golden_accuracy']:.4f} (next step), "
                      f"{r['golden_bpc']:.4f} bits per step",
                      f"  hardware accuracy     {r['hw_accuracy']:.4f} (next step), {r['hw_bpc']:.4f} bits per step"]
        lines.append(f"  with the readout      {r['cycles_per_step_with_readout']:.1f} cycles per step (readout "
                     f"{r['readout_cycles_per_step']:.1f}; bound {r['bound_cycles_per_step_with_readout']:.1f})")
    if r.get("top") == "axi":
        lines.append(f"  memory words written and read back over AXI4-Lite: {r['memory_words_read_back']}")
        lines += [f"  {m}" for m in r["axi_problems"]]
    lines += [f"  {m}" for m in r["mismatch_messages"]]
    if "waves" in r:
        lines.append(f"  waveforms: {r['waves']}")
    return "\n".join(lines)
