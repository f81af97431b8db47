"""Sampling a language model's next symbol from integer readout logits, one definition for
every source: the golden model, a simulation and a board compute the same integers, and this
function turns equal integers into the same symbol for the same seed.

The logits are the readout accumulators (real value logit * 2**-readout_acc_frac); the
probabilities are softmax(logit / temperature) in float64, and one uniform draw of numpy's
PCG64 generator (seeded by the user) picks a symbol by inverse CDF. Temperature 0 is greedy
(the first largest logit, as the hardware's class).
"""

import math

import numpy as np


def check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"--temperature must be a finite number >= 0, got {temperature!r}")
    return float(temperature)


class Sampler:
    """Draws symbols for one generated text (one seed, one generator, draws in order)."""

    def __init__(self, seed: int, readout_acc_frac: int, temperature: float = 1.0):
        self.temperature = check_temperature(temperature)
        self.scale = 2.0 ** -readout_acc_frac
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def __call__(self, logits) -> int:
        z = np.asarray([int(v) for v in logits], dtype=np.float64) * self.scale
        if self.temperature == 0.0:
            return int(np.argmax(z))
        z = (z - z.max()) / self.temperature
        p = np.exp(z)
        cdf = np.cumsum(p)
        u = self.rng.random() * cdf[-1]
        return int(min(np.searchsorted(cdf, u, side="right"), len(cdf) - 1))
