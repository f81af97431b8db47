"""`egru quantize`: float checkpoint -> integer model file, checked against the golden model."""

import dataclasses
import os

import torch

from gen.progress import bar, say
from sw import checkpoint, modelfile, permute, threads
from sw.datasets import load_recorded
from sw.files import check_output
from sw.qat import QATModel
from sw.quantize import QuantSettings, choose_config, fine_tune, golden_eval, weight_sparsity
from sw.train import Timer, TrainConfig, check_seed, evaluate, seed_everything

NAME = "quantize"
HELP = "quantize (and optionally prune) a trained model into an .egru model file"
DESCRIPTION = """\
Quantize a checkpoint of `egru train` into the integer model that the hardware computes:
post-training quantization (power-of-two formats per tensor), optional structured magnitude
pruning of W and R (--prune: whole entries, i.e. the three gate weights of one source->target
pair, which is what the sparse weight memories skip), and quantization-aware fine-tuning
(--qat-epochs) whose forward pass is the golden model's integer arithmetic with
straight-through gradients. Unit j sits in lane j mod P on chip: --balance-lanes P prunes so
that every column keeps the same number of entries per lane, and --permute-lanes P renumbers
the units on chip (stored in the model file) to even out what pruning left uneven, without
changing what the model computes. Accuracy is measured with the bit-exact golden model; for a
character language model (`egru train --task charlm` or --text) also bits per character on the
held-out windows (test_bpc, next to the float model's float_test_bpc), and the model file's meta
carries the vocabulary (meta["charlm"]["vocab"]) so that a prime can be encoded and samples decoded.

The data set is the one the checkpoint was trained on (its hash is checked).

Example: egru quantize runs/digits.pt --out runs/digits.egru --weight-bits 8 --state-bits 16"""


def add_arguments(p) -> None:
    p.add_argument("checkpoint", help="float checkpoint written by `egru train`")
    p.add_argument("--out", metavar="PATH", help="model file to write (default: the checkpoint with .egru)")
    p.add_argument("--weight-bits", type=int, default=8, help="W, R and readout weights, 4..16 (%(default)s)")
    p.add_argument("--state-bits", type=int, default=16, help="state c, events y, thresholds, 8..16 (%(default)s)")
    p.add_argument("--input-bits", type=int, default=8, help="quantized inputs, 2..16 (%(default)s)")
    p.add_argument("--prune", type=float, default=0.0,
                   help="fraction of W and R entries to prune, in [0, 1) (%(default)s)")
    p.add_argument("--balance-lanes", type=int, default=0, metavar="P",
                   help="prune lane-balanced for P lanes (and its divisors): every column keeps the same number "
                        "of entries in each lane, so no lane's list is longer than the others; 0: the largest "
                        "entries of the whole matrix (%(default)s)")
    p.add_argument("--permute-lanes", type=int, default=0, metavar="P",
                   help="renumber the units on chip so that every column's entries spread evenly over P lanes, "
                        "for what pruning leaves uneven; the model file stores the order, and everything "
                        "you read keeps your unit numbers; 0: the units keep their order (%(default)s)")
    p.add_argument("--qat-epochs", type=int,
                   help=f"quantization-aware fine-tuning epochs; 0 = post-training only ({QAT_EPOCHS}; a character "
                        f"language model: {LM_QAT_EPOCHS}, since one of its epochs is thousands of windows)")
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate (%(default)s)")
    p.add_argument("--dense", action="store_true",
                   help="store every weight entry (dense memory layout) instead of sparse columns")
    p.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help=threads.HELP)


QAT_EPOCHS = 20
LM_QAT_EPOCHS = 1


def run(args) -> dict:
    check_seed(args.seed)
    model, blob = checkpoint.load(args.checkpoint)
    qat_epochs = args.qat_epochs
    if qat_epochs is None:  # the default of the checkpoint's kind
        qat_epochs = LM_QAT_EPOCHS if "charlm" in blob["data"] else QAT_EPOCHS
    settings = QuantSettings(weight_bits=args.weight_bits, state_bits=args.state_bits,
                             input_bits=args.input_bits, prune=args.prune, balance_lanes=args.balance_lanes,
                             permute_lanes=args.permute_lanes,
                             qat_epochs=qat_epochs, lr=args.lr, seed=args.seed)
    out = args.out or os.path.splitext(args.checkpoint)[0] + ".egru"
    data = _data_of(blob)
    with threads.requested(args.threads):
        return quantize(model, blob, data, settings, out, dense=args.dense, quiet=args.quiet,
                        checkpoint_path=args.checkpoint)


def _data_of(blob: dict):
    return load_recorded(blob["data"])


def quantize(model, blob, data, s: QuantSettings, out: str, *, dense=False, quiet=False,
             checkpoint_path: str | None = None) -> dict:
    source_kind, _, source_path = data.source.partition(":")
    check_output(out, [("the checkpoint", checkpoint_path or ""),
                       ("the data set", source_path if source_kind == "npz" else "")])
    seed_everything(s.seed)
    float_test = evaluate(model, data.x_test, data.y_test)
    float_acc = float_test["accuracy"]
    cfg = choose_config(model, data.x_train, s, data.steps)
    if dense:
        cfg = dataclasses.replace(cfg, memory="dense")
    qat = QATModel(model, cfg)
    ptq, _ = golden_eval(cfg, qat.export(), data.x_test, data.y_test)
    result = {"float_accuracy": float_acc, "ptq_accuracy": ptq["accuracy"]}
    if cfg.per_step:
        result.update(float_test_bpc=float_test["bpc"], ptq_test_bpc=ptq["bpc"])
    with Timer() as t:
        if s.qat_epochs:
            train_cfg = TrainConfig(**blob["train"])
            with bar(s.qat_epochs, "quantization-aware fine-tuning", quiet) as b:
                fine_tune(qat, data, s, train_cfg, on_epoch=lambda e, loss: b.step(loss=f"{loss:.3f}"))
    params = qat.export()
    placement = None
    if s.permute_lanes:
        placement = placement_report(params, cfg.hidden_size, s.permute_lanes, s.seed)
        params = placement.pop("params")
    with Timer() as tg:
        golden, res = golden_eval(cfg, params, data.x_test, data.y_test)
    with torch.no_grad():
        qat_logits, _ = qat(torch.from_numpy(data.x_test))
    differ = (qat_logits.argmax(dim=-1) != res.predictions).double().mean().item()
    meta = {"data": blob["data"], "float_accuracy": float_acc, "quant_accuracy": golden["accuracy"],
            "pruning": {"fraction": s.prune, "balance_lanes": s.balance_lanes},
            **({"unit_order": {"lanes": s.permute_lanes}} if params.unit_order is not None else {}),
            "source_checkpoint": os.path.abspath(checkpoint_path) if checkpoint_path else None}
    if cfg.per_step:
        result["test_bpc"] = golden["bpc"]
        meta.update(float_test_bpc=float_test["bpc"], test_bpc=golden["bpc"])
    if data.charlm is not None:  # what `egru generate` needs to encode a prime and decode samples
        meta["charlm"] = {"vocab": data.charlm["vocab"], "window": data.charlm["window"]}
    size = modelfile.save(out, cfg, params, meta)
    say(f"wrote {out} ({size} bytes)", quiet)
    result.update({
        "quant_accuracy": golden["accuracy"],
        "qat_golden_class_mismatch": differ,
        "weight_sparsity": weight_sparsity(params, cfg.hidden_size),
        "activity": golden["activity"],
        "model_bytes": size,
        "weight_bits": cfg.weight_bits,
        "state_bits": cfg.state_bits,
        "prune": s.prune,
        "balance_lanes": s.balance_lanes,
        "permute_lanes": s.permute_lanes,
        **({"placement": placement} if placement else {}),
        "qat_epochs": s.qat_epochs,
        "qat_seconds": round(t.seconds, 2),
        "golden_seconds": round(tg.seconds, 4),
        "golden_samples": int(len(data.x_test)),
        "out": out,
    })
    return result


def _placement_line(pl: dict) -> str:
    b, a, i = pl["padded_entries"], pl["padded_entries_permuted"], pl["ideal_entries"]
    return (f"  unit order            for P = {pl['lanes']}: {pl['moved_units']} units moved; longest lane lists "
            f"over all columns {b} -> {a} (ideal {i}: imbalance {b / max(i, 1):.3f} -> {a / max(i, 1):.3f})")


def placement_report(params, H: int, lanes: int, seed: int) -> dict:
    """Balance the unit order for ``lanes`` lanes (sw/permute.py): the permuted parameters and,
    summed over every column of every layer, the padded lane-list lengths before and after and
    their floor, sum of ceil(entries / P) (the columns' share of the ideal bound)."""
    masks = permute.column_masks(params, H)
    orders = permute.balance(params, H, lanes, seed=seed)
    ideal = sum(int((-(-m.sum(axis=1) // lanes)).sum()) for m in masks)
    before = sum(permute.layout_cost(m, range(H), lanes) for m in masks)
    after = sum(permute.layout_cost(m, o, lanes) for m, o in zip(masks, orders, strict=True))
    return {"params": permute.with_order(params, orders), "lanes": lanes, "padded_entries": before,
            "padded_entries_permuted": after, "ideal_entries": ideal,
            "moved_units": sum(sum(j != u for j, u in enumerate(o)) for o in orders)}


def render(r: dict) -> str:
    bpc = [f"  float BPC             {r['float_test_bpc']:.4f}   bits per character, held-out windows",
           f"  post-training BPC     {r['ptq_test_bpc']:.4f}",
           f"  quantized BPC         {r['test_bpc']:.4f}   (golden model)"] if "test_bpc" in r else []
    return "\n".join([
        f"quantized to {r['weight_bits']}-bit weights, {r['state_bits']}-bit state"
        + (f", {r['prune']:.0%} pruned" if r["prune"] else "")
        + (f" (lane-balanced for P = {r['balance_lanes']})" if r.get("balance_lanes") else "")
        + f", {r['qat_epochs']} QAT epochs",
        f"  float accuracy        {r['float_accuracy']:.4f}",
        f"  post-training quant.  {r['ptq_accuracy']:.4f}   (golden model, before fine-tuning)",
        f"  quantized accuracy    {r['quant_accuracy']:.4f}   (golden model, integer, bit-exact reference)",
        *bpc,
        f"  QAT vs golden         {r['qat_golden_class_mismatch']:.4f}   fraction of test "
        f"{'steps' if 'test_bpc' in r else 'samples'} whose class differs",
        f"  weight sparsity       {r['weight_sparsity']:.4f}   entries of W and R that take no memory",
        *([_placement_line(r["placement"])] if r.get("placement") else []),
        f"  activity              {r['activity']:.4f}",
        f"  golden model          {r['golden_samples']} test sequences in {r['golden_seconds']:.3f} s",
        f"model file written to {r['out']} ({r['model_bytes']} bytes)",
    ])

