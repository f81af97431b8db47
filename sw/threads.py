"""How many intra-op threads torch uses for training and quantization-aware fine-tuning.

torch starts one intra-op thread per core. For the models this project trains the matrix
products of one time step are small (digits, H = 64, batch 32: 0.44 M multiply-adds), so every
operation is a parallel region whose cost is its synchronisation; on a machine where another
process takes a core, each region waits for a descheduled thread and training collapses
(`egru train --task digits --epochs 3`: 136 s of wall time with 2 threads, 37 s with 1; see
docs/benchmarks.md). So small problems get one thread and only large ones more.

The automatic choice depends on the problem size and the machine's core count only, never on
the load at the moment, so a run is repeatable: the thread count can change the order of
floating-point sums. ``--threads N`` (``egru train``, ``egru quantize``, ``egru demo``) overrides
it; 0 or absent means automatic.
"""

import contextlib
import functools
import numbers

import torch

# torch's own default (one per core, or OMP_NUM_THREADS), read before anything changes it:
# the most threads the automatic choice gives.
MACHINE_THREADS = max(1, torch.get_num_threads())
# Multiply-adds per time step (all layers, one batch) that one extra thread must have to be
# worth its synchronisation; below this the choice is 1 thread.
WORK_PER_THREAD = 1 << 25
MAX_THREADS = 256

HELP = ("torch intra-op threads for training and fine-tuning: 0 chooses by the problem's size "
        "(1 for small models, where more threads only wait for each other) (%(default)s)")

_requested: int | None = None


def check(value) -> int | None:
    """A ``--threads`` value: None or 0 is automatic (None), else 1..MAX_THREADS.
    Raises ValueError naming --threads otherwise."""
    if value is None or (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_THREADS:
        raise ValueError(f"--threads must be 0 (automatic) or a number of threads from 1 to {MAX_THREADS}, "
                         f"got {value!r}")
    return int(value)


def step_work(batch: int, inputs: int, hidden: int, layers: int = 1) -> int:
    """Multiply-adds of the recurrent layers' matrix products in one time step of one batch:
    batch x (inputs + hidden) x 3 hidden for the first layer, (hidden + hidden) for the rest."""
    first = (inputs + hidden) * 3 * hidden
    rest = (layers - 1) * (2 * hidden) * 3 * hidden
    return batch * (first + rest)


def choose(work: int, requested: int | None = None) -> int:
    """The intra-op thread count for a problem of ``work`` multiply-adds per step: the
    requested count if there is one (this argument, else the one set by :func:`requested`),
    else 1 for small problems and up to MACHINE_THREADS for large ones."""
    n = check(requested) or _requested
    if n:
        return n
    return max(1, min(MACHINE_THREADS, work // WORK_PER_THREAD))


@contextlib.contextmanager
def use(n: int):
    """Run the block with ``n`` intra-op threads; restores the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def requested(value):
    """A command's ``--threads``: validated on entry (ValueError before any work); while the
    block runs, :func:`choose` returns it, and torch uses it outside the training loops too
    (evaluation, the golden model). 0 or None: every training loop chooses by its size."""
    global _requested
    n = check(value)
    before = _requested
    _requested = n
    try:
        if n:
            with use(n):
                yield n
        else:
            yield None
    finally:
        _requested = before


def training_loop(fit):
    """Decorates ``fit(model, data, cfg, ...)`` (sw.train.fit) so that it runs with
    ``choose(step_work(...))`` threads, from its data set's features and cfg's batch size,
    hidden size and layers; the previous count is restored after."""
    @functools.wraps(fit)
    def run(model, data, cfg, *args, **kwargs):
        work = step_work(cfg.batch_size, data.features, cfg.hidden, cfg.layers)
        with use(choose(work)):
            return fit(model, data, cfg, *args, **kwargs)
    return run
