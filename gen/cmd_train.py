"""`egru train`: train the float EGRU classifier (sparse BPTT) on a task or a user's data."""

import dataclasses
import os

from gen.progress import bar, say
from sw import checkpoint, threads
from sw.datasets import TASKS, load, missing_labels
from sw.files import check_output
from sw.train import Timer, TrainConfig, build_egru, build_gru, check_seed, count_params, evaluate, fit, seed_everything

NAME = "train"
HELP = "train the float EGRU classifier on a built-in task or your own data"
DESCRIPTION = """\
Train an EGRU classifier with the triangular pseudo-derivative (sparse BPTT) and write a
checkpoint that `egru quantize` reads. The classifier is stacked EGRU layers and a linear
readout of the sum over time of the last layer's events, which runs event by event on chip.

Data: --task digits (scikit-learn's 8x8 digits, 8 steps of 8 features, fixed 80/20 split) or
--data FILE.npz with x_train [N, T, I] float, y_train [N] int, x_test, y_test.

Trade events for accuracy with --activity-reg (the weight of the mean event rate in the loss).
Results are deterministic for a given --seed on a given machine.

Example: egru train --task digits --hidden 64 --baseline --json"""

DEFAULTS = TrainConfig(epochs=120, activity_reg=0.2, pseudo_derivative_support=3.0, dropout=0.1)


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", choices=TASKS, help="built-in data set (default: digits)")
    src.add_argument("--data", metavar="FILE.npz", help="your own data set (see above)")
    p.add_argument("--out", metavar="PATH", help="checkpoint to write (default: runs/NAME.pt)")
    p.add_argument("--hidden", type=int, default=DEFAULTS.hidden, help="units per layer (%(default)s)")
    p.add_argument("--layers", type=int, default=DEFAULTS.layers, help="stacked EGRU layers (%(default)s)")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="training epochs (%(default)s)")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="(%(default)s)")
    p.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate, cosine-annealed (%(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (%(default)s)")
    p.add_argument("--activity-reg", type=float, default=DEFAULTS.activity_reg,
                   help="loss weight of the mean event rate: higher gives fewer events (%(default)s)")
    p.add_argument("--thr-mean", type=float, default=DEFAULTS.thr_mean,
                   help="mean of the initial thresholds, in (0, 1) (%(default)s)")
    p.add_argument("--init-activity", type=float, default=DEFAULTS.init_activity,
                   help="a layer firing less than this at initialisation gets its thresholds scaled down until "
                        "it does, so deep and wide models train (0: EvNN's draw unchanged) (%(default)s)")
    p.add_argument("--dampening-factor", type=float, default=DEFAULTS.dampening_factor,
                   help="gamma, height of the pseudo-derivative (%(default)s)")
    p.add_argument("--pseudo-derivative-support", type=float, default=DEFAULTS.pseudo_derivative_support,
                   help="eps: the pseudo-derivative is zero where |c_hat - thr| >= 1/eps (%(default)s)")
    p.add_argument("--dropout", type=float, default=DEFAULTS.dropout,
                   help="DropConnect probability on the recurrent weights (%(default)s)")
    p.add_argument("--zoneout", type=float, default=DEFAULTS.zoneout, help="zoneout probability (%(default)s)")
    p.add_argument("--baseline", action="store_true",
                   help="also train torch.nn.GRU of the same size and budget and report its accuracy")
    p.add_argument("--threads", type=int, default=0, metavar="N", help=threads.HELP)


def config_from_args(args) -> TrainConfig:
    return TrainConfig(hidden=args.hidden, layers=args.layers, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       activity_reg=args.activity_reg, thr_mean=args.thr_mean,
                       dampening_factor=args.dampening_factor,
                       pseudo_derivative_support=args.pseudo_derivative_support,
                       dropout=args.dropout, zoneout=args.zoneout, init_activity=args.init_activity)


def run(args) -> dict:
    check_seed(args.seed)
    cfg = config_from_args(args)
    data = load(task=args.task or (None if args.data else "digits"), data=args.data)
    out = args.out or os.path.join("runs", f"{data.name}.pt")
    with threads.requested(args.threads):
        return train(cfg, data, out, baseline=args.baseline, quiet=args.quiet)


def train(cfg: TrainConfig, data, out: str, *, baseline: bool = False, quiet: bool = False) -> dict:
    """Train, evaluate and write the checkpoint ``out``; ``out`` is checked first (not the data
    set, a place that can be written), so a bad one costs no training time."""
    source_kind, _, source_path = data.source.partition(":")
    check_output(out, [("the data set", source_path if source_kind == "npz" else "")])
    gaps = missing_labels(data)
    if gaps:
        shown = ", ".join(map(str, gaps[:10])) + (", ..." if len(gaps) > 10 else "")
        say(f"warning: {len(gaps)} of the {data.num_classes} classes 0..{data.num_classes - 1} never occur in "
            f"y_train ({shown}); labels should be 0..C-1 without gaps", quiet)
    seed_everything(cfg.seed)
    model = build_egru(cfg, data)
    with Timer() as t, bar(cfg.epochs, "train EGRU", quiet) as b:
        fit(model, data, cfg, on_epoch=lambda e, loss: b.step(loss=f"{loss:.3f}"))
    test = evaluate(model, data.x_test, data.y_test)
    result = {
        "test_accuracy": test["accuracy"],
        "train_accuracy": evaluate(model, data.x_train, data.y_train)["accuracy"],
        "activity": test["activity"],
        "layer_activity": test["layer_activity"],
        "backward_sparsity": test["backward_sparsity"],
        "params": count_params(model),
        "seconds": round(t.seconds, 2),
        "seed": cfg.seed,
        "data": data.name,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "epochs": cfg.epochs,
        "out": out,
    }
    if baseline:
        seed_everything(cfg.seed)
        gru = build_gru(cfg, data)
        with Timer() as tg, bar(cfg.epochs, "train GRU baseline", quiet) as b:
            fit(gru, data, cfg, on_epoch=lambda e, loss: b.step(loss=f"{loss:.3f}"))
        result["gru_test_accuracy"] = evaluate(gru, data.x_test, data.y_test)["accuracy"]
        result["gru_params"] = count_params(gru)
        result["gru_seconds"] = round(tg.seconds, 2)
    checkpoint.save(out, model, data=data.record(), train=dataclasses.asdict(cfg), metrics=result)
    return result


def render(r: dict) -> str:
    lines = [
        f"EGRU {r['layers']}x{r['hidden']} on {r['data']}, {r['epochs']} epochs, seed {r['seed']}, "
        f"{r['seconds']:.1f} s",
        f"  test accuracy      {r['test_accuracy']:.4f}   (train {r['train_accuracy']:.4f})",
        f"  activity           {r['activity']:.4f}   fraction of units emitting an event per step"
        + (f" (layers: {', '.join(f'{a:.4f}' for a in r['layer_activity'])})" if len(r["layer_activity"]) > 1 else ""),
        f"  backward sparsity  {r['backward_sparsity']:.4f}   fraction of unit-steps with zero pseudo-derivative",
        f"  parameters         {r['params']}",
    ]
    if "gru_test_accuracy" in r:
        lines.append(f"  GRU baseline       {r['gru_test_accuracy']:.4f}   "
                     f"(torch.nn.GRU, {r['gru_params']} parameters, {r['gru_seconds']:.1f} s)")
    lines.append(f"checkpoint written to {r['out']}")
    return "\n".join(lines)
