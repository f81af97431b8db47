"""`egru generate`: sample text from a character language model, one character at a time, each
sample fed back as the next input: from the golden model, or through the host driver from a
running simulation (`egru serve-sim`) or a board."""

import time

import numpy as np

from gen.progress import bar, say
from sw import charlm, modelfile
from sw.driver import Accelerator
from sw.golden import Stepper, quantize_inputs
from sw.sampling import Sampler, check_temperature
from sw.train import check_seed

NAME = "generate"
HELP = "sample text from a character language model (golden model, simulation or board)"
DESCRIPTION = """\
Feed the --prime text to a character language model (`egru train --task charlm` or --text, then
`egru quantize`) one character per step, then sample --chars characters, each fed back as the next
step's input. Without --url the golden model computes the logits; with --url the accelerator at
that URL does (a board, or socket://127.0.0.1:PORT of `egru serve-sim`), after the model is loaded
into it. Both compute the same integers, so the same --seed gives the same text from either;
--check also runs the golden model beside the accelerator and stops at the first step whose
logits differ. The sampler: softmax(logits / --temperature), one draw per character from numpy's
PCG64 seeded by --seed; --temperature 0 takes the likeliest character.

Example: egru generate runs/charlm.egru --prime "The " --chars 200 --seed 1"""


def add_arguments(p) -> None:
    p.add_argument("model", help="a character language model file (per-step readout), from `egru quantize`")
    p.add_argument("--prime", default="The ", help="text fed first, one character per step (%(default)r)")
    p.add_argument("--chars", type=int, default=200, help="characters to sample (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (%(default)s)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 is greedy (%(default)s)")
    p.add_argument("--url", help="pyserial URL of an accelerator (default: the golden model)")
    p.add_argument("--no-load", action="store_true", help="with --url: the accelerator already holds this model")
    p.add_argument("--check", action="store_true", help="with --url: compare every step's logits with the golden model")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="with --url: seconds to wait for a response (%(default)s)")


def run(args) -> dict:
    check_seed(args.seed)
    check_temperature(args.temperature)
    if isinstance(args.chars, bool) or args.chars < 1:
        raise ValueError(f"--chars must be a positive integer, got {args.chars}")
    if not args.prime:
        raise ValueError("--prime must hold at least one character (the first step's input)")
    if args.url is None and (args.no_load or args.check):
        raise ValueError("--no-load and --check need --url (without it the golden model generates)")
    model = modelfile.load(args.model)
    cfg = model.config
    if not cfg.per_step:
        raise ValueError(f"{args.model}: this model reads out once per sequence (a classifier); generate needs a "
                         "language model with a per-step readout (egru train --task charlm, then egru quantize)")
    vocab = charlm.vocab_from_meta(model.meta)
    prime = vocab.encode(args.prime).tolist()
    if len(vocab) != cfg.input_size or len(vocab) != cfg.num_classes:
        raise ValueError(f"{args.model}: its vocabulary of {len(vocab)} symbols does not match its {cfg.input_size} "
                         f"inputs and {cfg.num_classes} outputs")
    steps = len(prime) + args.chars - 1  # the last sample is printed, not fed
    if steps > cfg.max_steps:
        raise ValueError(f"--prime ({len(prime)} characters) and --chars {args.chars} need {steps} steps, more than "
                         f"the model's max_steps {cfg.max_steps}")
    # the training data's one-hot inputs, quantized as the host quantizes every input: row s is symbol s
    rows = quantize_inputs(charlm.one_hot(np.arange(len(vocab)), len(vocab))[None], cfg)[0]
    sampler = Sampler(args.seed, cfg.readout_acc_frac, args.temperature)
    golden = Stepper(cfg, model.params) if args.url is None or args.check else None
    t0 = time.perf_counter()
    out, cycles = [], []
    acc = None
    try:
        if args.url is not None:
            acc = Accelerator(args.url, timeout=args.timeout)
            image = acc.fit(model)
            if args.no_load:
                acc.holds(image)
            else:
                say(f"loading {args.model} into {args.url} ...", args.quiet)
                acc.load(image)
        feed = list(prime)
        with bar(steps, "generate", args.quiet) as b:
            for t in range(steps):
                symbol = feed[t] if t < len(feed) else out[-1]
                if acc is not None:
                    step = acc.step(rows[symbol], start=t == 0, end=t == steps - 1)
                    logits = step.logits
                    cycles.append(step.counters["cycles"] + step.readout_cycles)
                    if golden is not None:
                        want = golden.step(rows[symbol]).tolist()
                        if logits != want:
                            raise RuntimeError(f"step {t}: the accelerator's logits differ from the golden model's "
                                               f"(got {logits}, expected {want})")
                else:
                    logits = golden.step(rows[symbol]).tolist()
                if t >= len(prime) - 1:
                    out.append(sampler(logits))
                b.step()
    finally:
        if acc is not None:
            acc.close()
    text = vocab.decode(out)
    result = {"prime": args.prime, "text": text, "chars": len(out), "seed": args.seed,
              "temperature": args.temperature, "source": args.url or "golden", "steps": steps,
              "seconds": round(time.perf_counter() - t0, 3)}
    if cycles:
        result["cycles_per_char"] = sum(cycles) / len(cycles)
    return result


def render(r: dict) -> str:
    return r["prime"] + r["text"]
