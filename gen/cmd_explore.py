"""`egru explore`: sweep designs for a model and boards on dask.distributed."""

import os

from gen import explore
from gen.progress import open_bar, say
from gen.targets import TARGETS
from hw.spec import PIPELINES
from sw import checkpoint
from sw.datasets import load_recorded
from sw.files import check_output_folder, file_problem

NAME = "explore"
HELP = "sweep lanes, bit widths, pruning and targets on a dask cluster; table, CSV and Pareto plot"
DESCRIPTION = f"""\
Find the best design for a model and a board: every combination of the lists given (lanes x
weight bits x state bits x pruning x threshold scale x pipeline) is quantized (with QAT) and
evaluated on the golden model (accuracy, activity), the cycle model (cycles per step, bound,
dense schedule), its memory bits and the fit check on each --target; with --synth also placed
and routed (LUTs, FFs, RAM, DSPs, Fmax, us per step, effective GOp/s).

The work runs on dask.distributed: a LocalCluster of one single-threaded worker per core by
default (--workers N), or an existing cluster (--scheduler tcp://HOST:8786; its workers must run
this checkout's code and tools, which is checked). One quantize task serves every point with
the same formats; each point is one evaluate task and one synth task per target. A failed
point is reported in its row with the reason, and the sweep goes on.

Results are cached in OUT/cache by a content hash of the checkpoint, the point and the tool and
code versions: run the same command again (or after Ctrl-C) and only what is missing is
computed. Writes OUT/explore.json, explore.csv, explore.md and pareto.png (accuracy against us
or cycles per step, marker area LUTs or memory bits, the Pareto-optimal points ringed).

Targets: {', '.join(TARGETS)}.

Example: egru explore runs/digits.pt --lanes 1,2,4,8 --weight-bits 4,8 --prune 0,0.5,0.8 -o runs/explore"""


def _list(kind, name):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise ValueError
        out = [kind(t) for t in items]
        if len(set(out)) != len(out):
            raise ValueError
        return out
    parse.__name__ = f"comma-separated list of {name}"  # argparse names the type in its error
    return parse


def add_arguments(p) -> None:
    p.add_argument("checkpoint", help="float checkpoint written by `egru train`")
    p.add_argument("--lanes", type=_list(int, "integers"), default=[1, 2, 4, 8], metavar="P,...",
                   help="multiplier lanes, 1..64 (default: 1,2,4,8)")
    p.add_argument("--weight-bits", type=_list(int, "integers"), default=[8], metavar="B,...",
                   help="weight widths, 4..16 (default: 8)")
    p.add_argument("--state-bits", type=_list(int, "integers"), default=[16], metavar="B,...",
                   help="state widths, 8..16 (default: 16)")
    p.add_argument("--prune", type=_list(float, "fractions"), default=[0.0], metavar="F,...",
                   help="fractions of W and R entries pruned, in [0, 1) (default: 0)")
    p.add_argument("--threshold-scale", type=_list(float, "numbers"), default=[1.0], metavar="X,...",
                   help="threshold scales after quantization, fewer events above 1 (default: 1)")
    p.add_argument("--pipeline", type=_list(str, "pipelines"), default=["short"], metavar="NAME,...",
                   help=f"core pipelines: {', '.join(PIPELINES)} (default: short)")
    p.add_argument("--target", action="append", default=None, metavar="TARGET",
                   help="FPGA target for the fit check (and --synth); repeat or comma-separate "
                        "(default: every target)")
    p.add_argument("--synth", action="store_true", help="also place and route every point on every --target")
    p.add_argument("--qat-epochs", type=int, default=20, help="quantization-aware fine-tuning epochs (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the fine-tuning (%(default)s)")
    p.add_argument("--balance-lanes", type=int, default=0, metavar="P",
                   help="prune to equal lane lists for P lanes and its divisors, as `egru quantize "
                        "--balance-lanes` (default: 0, global pruning; only points with --prune > 0)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--workers", type=int, default=None,
                   help="workers of the local cluster (default: one per core); not with --scheduler")
    p.add_argument("-o", "--out", default=os.path.join("runs", "explore"), metavar="DIR",
                   help="output folder; its cache/ holds finished tasks (%(default)s)")


def parse(args) -> tuple[list, explore.Sweep]:
    problem = file_problem(args.checkpoint)
    if problem:
        raise ValueError(f"{args.checkpoint}: {problem}")
    targets = [t.strip() for spec in (args.target or list(TARGETS)) for t in spec.split(",") if t.strip()]
    points = explore.grid(args.lanes, args.weight_bits, args.state_bits, args.prune, args.threshold_scale,
                          args.pipeline)
    if any(p.prune for p in points) and not args.qat_epochs:
        raise ValueError("pruning needs fine-tuning: give --qat-epochs > 0 with --prune")
    sweep = explore.Sweep(qat_epochs=args.qat_epochs, seed=args.seed, targets=tuple(dict.fromkeys(targets)),
                          synth=args.synth, balance_lanes=args.balance_lanes)
    if args.workers is not None and (args.workers < 1 or args.scheduler):
        raise ValueError("--workers must be >= 1, and is for the local cluster only (not with --scheduler)")
    check_output_folder(args.out, explore.OUTPUTS.values(), [("the checkpoint", args.checkpoint)], option="--out")
    # a damaged checkpoint or a data set that changed fails here, once, not in every point's task
    _, blob = checkpoint.load(args.checkpoint)
    load_recorded(blob["data"])
    return points, sweep


def run(args) -> dict:
    points, sweep = parse(args)
    say(f"explore: {len(points)} points, targets {', '.join(sweep.targets)}"
        + (" (with synthesis)" if sweep.synth else ""), args.quiet)
    with explore.Connection(args.scheduler, args.workers, say=lambda m: say(m, args.quiet)) as connect:
        report = explore.run_sweep(args.checkpoint, points, sweep, args.out, connect,
                                   progress=lambda n: open_bar(n, "explore: tasks", args.quiet))
    report["outputs"] = explore.write_outputs(report, args.out)
    if report["failed_points"]:
        report["failed"] = f"{report['failed_points']} of {len(points)} points failed (see their error)"
    return report


def render(r: dict) -> str:
    lines = explore.to_markdown(r).splitlines()[2:]  # the title is the file's
    lines += ["", f"{r['computed']} points computed, {r['cached']} from the cache"
              + (f", {r['failed_points']} failed" if r["failed_points"] else "")]
    lines += [f"{k:9s} {v}" for k, v in r["outputs"].items()]
    return "\n".join(lines)
