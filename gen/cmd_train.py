"""`egru train`: train the float EGRU classifier (sparse BPTT) on a task or a user's data, or
the character language model on the built-in corpus or a user's text."""

import dataclasses
import os

from gen.progress import bar, say
from sw import charlm, checkpoint, threads
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

Character language model: --task charlm (every text of Debian's `fortunes` package, which
make's set-up installs) or --text FILE (any UTF-8 text). One-hot characters in, the next
character out after every step (per-step readout); truncated BPTT over windows of --window
characters, each from zero state; every 10th window is held out. Reports bits per character
(test_bpc; gru_test_bpc with --baseline) and activity. Its defaults differ from digits' where
an option's help shows two values; an option you give is used as given.

Trade events for accuracy with --activity-reg (the weight of the mean event rate in the loss).
Results are deterministic for a given --seed on a given machine.

Examples: egru train --task digits --hidden 64 --baseline --json
          egru train --task charlm --baseline --json"""

DEFAULTS = TrainConfig(epochs=120, activity_reg=0.2, pseudo_derivative_support=3.0, dropout=0.1)
# The language model's: sized to train in a few minutes on 2 cores (docs/training.md,
# "Character language model", has the measurements and larger settings).
# A light activity term (0.05; digits' 0.2 starves the per-step readout, which sees only events)
# keeps the activity near 0.2; no DropConnect: a few epochs do not overfit 300 000 characters.
# A wide pseudo-derivative (eps 1: every |c_hat - thr| < 1 passes gradient, against 1/3 for
# digits) and lr 2e-2 learn fastest in the few hundred updates of 3 epochs, and 256 units come
# closest to the GRU of the same size there (measured there).
CHARLM_DEFAULTS = dataclasses.replace(DEFAULTS, hidden=256, epochs=3, lr=2e-2, activity_reg=0.05, dropout=0.0,
                                     pseudo_derivative_support=1.0)
TUNED = ("hidden", "epochs", "batch_size", "lr", "activity_reg", "thr_mean", "init_activity",
         "dampening_factor", "pseudo_derivative_support", "dropout", "zoneout")


def _default(name: str) -> str:
    """An option's default for the help: one value, or digits' and the language model's."""
    a, b = getattr(DEFAULTS, name), getattr(CHARLM_DEFAULTS, name)
    return f"({a})" if a == b else f"({a}; charlm and --text: {b})"


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", choices=TASKS, help="built-in data set (default: digits)")
    src.add_argument("--data", metavar="FILE.npz", help="your own data set (see above)")
    src.add_argument("--text", metavar="FILE", help="your own UTF-8 text for the character language model")
    p.add_argument("--out", metavar="PATH", help="checkpoint to write (default: runs/NAME.pt)")
    p.add_argument("--hidden", type=int, help=f"units per layer {_default('hidden')}")
    p.add_argument("--layers", type=int, default=DEFAULTS.layers, help="stacked EGRU layers (%(default)s)")
    p.add_argument("--epochs", type=int, help=f"training epochs {_default('epochs')}")
    p.add_argument("--batch-size", type=int, help=_default("batch_size"))
    p.add_argument("--lr", type=float, help=f"Adam learning rate, cosine-annealed {_default('lr')}")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (%(default)s)")
    p.add_argument("--activity-reg", type=float,
                   help=f"loss weight of the mean event rate: higher gives fewer events {_default('activity_reg')}")
    p.add_argument("--thr-mean", type=float, help=f"mean of the initial thresholds, in (0, 1) {_default('thr_mean')}")
    p.add_argument("--init-activity", type=float,
                   help="a layer firing less than this at initialisation gets its thresholds scaled down until "
                        "it does, so deep and wide models train (0: EvNN's draw unchanged) "
                        + _default("init_activity"))
    p.add_argument("--dampening-factor", type=float,
                   help=f"gamma, height of the pseudo-derivative {_default('dampening_factor')}")
    p.add_argument("--pseudo-derivative-support", type=float,
                   help=f"eps: the pseudo-derivative is zero where |c_hat - thr| >= 1/eps "
                        f"{_default('pseudo_derivative_support')}")
    p.add_argument("--dropout", type=float,
                   help=f"DropConnect probability on the recurrent weights {_default('dropout')}")
    p.add_argument("--zoneout", type=float, help=f"zoneout probability {_default('zoneout')}")
    p.add_argument("--window", type=int,
                   help=f"language model: characters per training window, the truncated-BPTT length ({charlm.WINDOW})")
    p.add_argument("--windows", type=int,
                   help=f"language model: training windows, evenly spaced over the text ({charlm.TRAIN_WINDOWS}); "
                        f"{charlm.TEST_WINDOWS} held-out windows are evaluated")
    p.add_argument("--baseline", action="store_true",
                   help="also train torch.nn.GRU of the same size and budget and report its accuracy "
                        "(language model: its BPC)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help=threads.HELP)


def language_model(args) -> bool:
    return args.text is not None or args.task == "charlm"


def config_from_args(args) -> TrainConfig:
    """The options given, and for the rest the defaults of the task (digits' or the language model's)."""
    base = CHARLM_DEFAULTS if language_model(args) else DEFAULTS
    given = {name: getattr(args, name) for name in TUNED if getattr(args, name) is not None}
    return dataclasses.replace(base, layers=args.layers, seed=args.seed, **given)


def load_data(args):
    """The data set of the command line; the window options belong to the language model only."""
    if not language_model(args):
        for option, value in (("--window", args.window), ("--windows", args.windows)):
            if value is not None:
                raise ValueError(f"{option} applies to the character language model (--task charlm or --text FILE)")
        return load(task=args.task or (None if args.data else "digits"), data=args.data)
    settings = {k: v for k, v in (("window", args.window), ("train_windows", args.windows)) if v is not None}
    return charlm.load_text(args.text, **settings) if args.text is not None else charlm.load_builtin(**settings)


def run(args) -> dict:
    check_seed(args.seed)
    cfg = config_from_args(args)
    data = load_data(args)
    out = args.out or os.path.join("runs", f"{data.name}.pt")
    with threads.requested(args.threads):
        return train(cfg, data, out, baseline=args.baseline, quiet=args.quiet)


def train(cfg: TrainConfig, data, out: str, *, baseline: bool = False, quiet: bool = False) -> dict:
    """Train, evaluate and write the checkpoint ``out``; ``out`` is checked first (not the data
    set, a place that can be written), so a bad one costs no training time."""
    source_kind, _, source_path = data.source.partition(":")
    check_output(out, [("the data set", source_path if source_kind in ("npz", "text") else "")])
    gaps = [] if data.per_step else missing_labels(data)
    if gaps:
        shown = ", ".join(map(str, gaps[:10])) + (", ..." if len(gaps) > 10 else "")
        say(f"warning: {len(gaps)} of the {data.num_classes} classes 0..{data.num_classes - 1} never occur in "
            f"y_train ({shown}); labels should be 0..C-1 without gaps", quiet)
    seed_everything(cfg.seed)
    model = build_egru(cfg, data)
    with Timer() as t, bar(cfg.epochs, "train EGRU", quiet) as b:
        fit(model, data, cfg, on_epoch=lambda e, loss: b.step(loss=f"{loss:.3f}"))
    test = evaluate(model, data.x_test, data.y_test)
    train_metrics = evaluate(model, data.x_train, data.y_train)
    result = {
        "test_accuracy": test["accuracy"],
        "train_accuracy": train_metrics["accuracy"],
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
    if data.per_step:
        result.update(test_bpc=test["bpc"], train_bpc=train_metrics["bpc"], window=data.steps,
                      windows=len(data.x_train), test_windows=len(data.x_test), vocab=data.num_classes)
    if baseline:
        seed_everything(cfg.seed)
        gru = build_gru(cfg, data)
        with Timer() as tg, bar(cfg.epochs, "train GRU baseline", quiet) as b:
            fit(gru, data, cfg, on_epoch=lambda e, loss: b.step(loss=f"{loss:.3f}"))
        gru_test = evaluate(gru, data.x_test, data.y_test)
        result["gru_test_accuracy"] = gru_test["accuracy"]
        if data.per_step:
            result["gru_test_bpc"] = gru_test["bpc"]
        result["gru_params"] = count_params(gru)
        result["gru_seconds"] = round(tg.seconds, 2)
    checkpoint.save(out, model, data=data.record(), train=dataclasses.asdict(cfg), metrics=result)
    return result


def render(r: dict) -> str:
    lm = "test_bpc" in r
    lines = [
        f"EGRU {r['layers']}x{r['hidden']} on {r['data']}, {r['epochs']} epochs, seed {r['seed']}, "
        f"{r['seconds']:.1f} s",
        *([f"  language model     {r['windows']} training windows of {r['window']} characters, "
           f"{r['test_windows']} held out, {r['vocab']} symbols",
           f"  test BPC           {r['test_bpc']:.4f}   bits per character (train {r['train_bpc']:.4f})"]
          if lm else []),
        f"  test accuracy      {r['test_accuracy']:.4f}   (train {r['train_accuracy']:.4f})"
        + ("   next character" if lm else ""),
        f"  activity           {r['activity']:.4f}   fraction of units emitting an event per step"
        + (f" (layers: {', '.join(f'{a:.4f}' for a in r['layer_activity'])})" if len(r["layer_activity"]) > 1 else ""),
        f"  backward sparsity  {r['backward_sparsity']:.4f}   fraction of unit-steps with zero pseudo-derivative",
        f"  parameters         {r['params']}",
    ]
    if "gru_test_bpc" in r:
        lines.append(f"  GRU baseline       {r['gru_test_bpc']:.4f} BPC, accuracy {r['gru_test_accuracy']:.4f}   "
                     f"(torch.nn.GRU, {r['gru_params']} parameters, {r['gru_seconds']:.1f} s)")
    elif "gru_test_accuracy" in r:
        lines.append(f"  GRU baseline       {r['gru_test_accuracy']:.4f}   "
                     f"(torch.nn.GRU, {r['gru_params']} parameters, {r['gru_seconds']:.1f} s)")
    lines.append(f"checkpoint written to {r['out']}")
    return "\n".join(lines)
