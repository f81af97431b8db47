"""The specification of the accelerator, in plain Python (no Amaranth, no torch).

This package (this module: arithmetic; hw.spec.layout: the weight-memory layout) is the
single source of the integer formats, the rounding and saturation rules and
the lookup tables. The Amaranth datapath, the golden model (sw/golden.py), the quantizer and
the cycle model all read one :class:`EGRUConfig`; docs/arithmetic.md explains every field.
It is the only part of hw/ that sw/ may import.
"""

import dataclasses
import math

MEMORY_LAYOUTS = ("sparse", "dense")
PIPELINES = ("short", "deep")  # hw.spec.schedule has their latencies
# "sequence": one readout after the last step, on the sum over steps of the last layer's events;
# "step": a readout after every step, on that step's events (streaming use, language models)
READOUT_MODES = ("sequence", "step")


def rshift_round(v: int, s: int) -> int:
    """Arithmetic right shift by s with round-half-up: floor(v / 2**s + 1/2). s <= 0 shifts left."""
    if s <= 0:
        return v << -s
    return (v + (1 << (s - 1))) >> s


def saturate(v: int, bits: int) -> int:
    """Clamp v into the signed two's-complement range of ``bits`` bits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return lo if v < lo else hi if v > hi else v


def quantize_value(x: float, frac: int, bits: int) -> int:
    """Round a real number to ``bits``-bit signed fixed point with ``frac`` fractional bits
    (round half up, then saturate). The host uses it for inputs and the quantizer for weights."""
    return saturate(math.floor(x * 2.0 ** frac + 0.5), bits)


def signed_bits(magnitude: int) -> int:
    """Bits of a signed register that holds every value in [-magnitude, magnitude]."""
    return max(1, int(magnitude).bit_length()) + 1


MAX_CLASSES = 1 << 12  # the readout's class accumulators; sw.datasets refuses more at train time


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"EGRUConfig: {name} must be an integer in [{lo}, {hi}], got {value!r}")


@dataclasses.dataclass(frozen=True)
class EGRUConfig:
    """Sizes, bit widths, fixed-point formats and hardware options of one EGRU accelerator.

    Formats are signed two's complement with a power-of-two scale: a register of ``b`` bits with
    ``f`` fractional bits holds the integer q and means q * 2**-f. Per-layer tuples have one
    entry per layer. See docs/arithmetic.md.
    """

    input_size: int
    hidden_size: int
    num_classes: int
    layers: int = 1
    max_steps: int = 64              # longest sequence the readout accumulator is sized for
    input_bits: int = 8              # layer 0 input x
    input_frac: int = 7
    weight_bits: int = 8             # W, R and readout weights
    kernel_frac: tuple = (7,)        # per layer, W
    recurrent_frac: tuple = (7,)     # per layer, R
    readout_frac: int = 7
    state_bits: int = 16             # c, c_hat, y, thr and LUT outputs
    state_frac: int = 14
    preact_bits: int = 16            # gate pre-activations fed to the LUTs
    preact_frac: int = 11
    lut_bits: int = 10               # LUT address bits (2**lut_bits entries)
    sigmoid_frac: int = 6            # sigmoid LUT input step 2**-6: domain [-8, 8)
    tanh_frac: int = 7               # tanh LUT input step 2**-7: domain [-4, 4)
    zoneout: float = 0.0             # EvNN eval zoneout, folded into the update-gate LUT
    lanes: int = 1                   # P: multiplier lanes, accumulators banked by unit mod P
    memory: str = "sparse"           # weight memory layout: "sparse" (CSC) or "dense"
    pipeline: str = "short"          # "short" (fewest cycles) or "deep" (for the clock): hw.spec.schedule
    readout: str = "sequence"        # READOUT_MODES: at the sequence's end on summed events, or every step

    def __post_init__(self):
        _check_int("input_size", self.input_size, 1, 1 << 16)
        _check_int("hidden_size", self.hidden_size, 1, 1 << 14)
        _check_int("num_classes", self.num_classes, 2, MAX_CLASSES)
        _check_int("layers", self.layers, 1, 16)
        _check_int("max_steps", self.max_steps, 1, 1 << 20)
        _check_int("input_bits", self.input_bits, 2, 16)
        _check_int("weight_bits", self.weight_bits, 4, 16)
        _check_int("state_bits", self.state_bits, 8, 16)
        _check_int("state_frac", self.state_frac, 1, self.state_bits - 2)
        _check_int("preact_bits", self.preact_bits, 8, 24)
        _check_int("lut_bits", self.lut_bits, 4, 14)
        _check_int("sigmoid_frac", self.sigmoid_frac, 0, self.preact_frac)
        _check_int("tanh_frac", self.tanh_frac, 0, self.preact_frac)
        _check_int("preact_frac", self.preact_frac, 0, self.preact_bits - 2)
        _check_int("lanes", self.lanes, 1, 64)
        for name in ("input_frac", "readout_frac"):
            _check_int(name, getattr(self, name), -16, 32)
        for name in ("kernel_frac", "recurrent_frac"):
            v = getattr(self, name)
            if isinstance(v, list):
                v = tuple(v)
                object.__setattr__(self, name, v)
            if not isinstance(v, tuple) or len(v) != self.layers:
                raise ValueError(f"EGRUConfig: {name} must hold one entry per layer "
                                 f"({self.layers}), got {v!r}")
            for f in v:
                _check_int(name, f, -16, 32)
        if not isinstance(self.zoneout, (int, float)) or not 0.0 <= self.zoneout < 1.0:
            raise ValueError(f"EGRUConfig: zoneout must lie in [0, 1), got {self.zoneout!r}")
        if self.memory not in MEMORY_LAYOUTS:
            raise ValueError(f"EGRUConfig: memory must be one of {MEMORY_LAYOUTS}, got {self.memory!r}")
        if self.pipeline not in PIPELINES:
            raise ValueError(f"EGRUConfig: pipeline must be one of {PIPELINES}, got {self.pipeline!r}")
        if self.readout not in READOUT_MODES:
            raise ValueError(f"EGRUConfig: readout must be one of {READOUT_MODES}, got {self.readout!r}")

    # ---- per-layer input formats: layer 0 reads x, layer l > 0 reads layer l-1's events y
    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.hidden_size

    def layer_input_bits(self, layer: int) -> int:
        return self.input_bits if layer == 0 else self.state_bits

    def layer_input_frac(self, layer: int) -> int:
        return self.input_frac if layer == 0 else self.state_frac

    # ---- accumulators: input and recurrent products are aligned to one format by a constant
    # left shift of the coarser one, so both phases add into the same A_u, A_r.
    def acc_frac(self, layer: int) -> int:
        return max(self.layer_input_frac(layer) + self.kernel_frac[layer],
                   self.state_frac + self.recurrent_frac[layer])

    def input_shift(self, layer: int) -> int:
        return self.acc_frac(layer) - self.layer_input_frac(layer) - self.kernel_frac[layer]

    def recurrent_shift(self, layer: int) -> int:
        return self.acc_frac(layer) - self.state_frac - self.recurrent_frac[layer]

    def bias_limit(self, layer: int) -> int:
        """Biases are pre-activations (preact_bits, preact_frac), added after the accumulator is
        shifted to that format: the pre-activation range, beyond which they cannot change a LUT
        output. (A bias at acc_frac would only add fractional bits that the shift rounds away.)"""
        return 1 << (self.preact_bits - 1)

    def acc_bits(self, layer: int) -> int:
        """Accumulator width that no sum of products can overflow, so accumulation needs no
        saturation and its result does not depend on the order of events."""
        w = 1 << (self.weight_bits - 1)
        x = 1 << (self.layer_input_bits(layer) - 1)
        y = 1 << (self.state_bits - 1)
        bound = (self.layer_input_size(layer) * x * w << self.input_shift(layer)) \
            + (self.hidden_size * y * w << self.recurrent_shift(layer))
        return signed_bits(bound)

    # ---- readout: logits = b_out + sum over steps and events of y_j * W_out[j, :] ("sequence"),
    # or logits_t = b_out + sum over step t's events of y_j * W_out[j, :] ("step")
    @property
    def per_step(self) -> bool:
        return self.readout == "step"

    @property
    def summed_steps(self) -> int:
        """Steps whose events one readout sums: the bound of the event-sum and logit registers."""
        return 1 if self.per_step else self.max_steps

    @property
    def readout_acc_frac(self) -> int:
        return self.state_frac + self.readout_frac

    @property
    def readout_bias_limit(self) -> int:
        return 1 << (self.weight_bits - 1 - self.readout_frac + self.readout_acc_frac)

    @property
    def readout_acc_bits(self) -> int:
        w = 1 << (self.weight_bits - 1)
        y = 1 << (self.state_bits - 1)
        return signed_bits(self.summed_steps * self.hidden_size * y * w + self.readout_bias_limit)

    @property
    def one(self) -> int:
        """1.0 in the state format."""
        return 1 << self.state_frac

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["kernel_frac"] = list(self.kernel_frac)
        d["recurrent_frac"] = list(self.recurrent_frac)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EGRUConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"EGRUConfig: unknown field(s) {', '.join(sorted(unknown))}")
        d = dict(d)
        for name in ("kernel_frac", "recurrent_frac"):
            if name in d and isinstance(d[name], list):
                d[name] = tuple(d[name])
        return cls(**d)


# ---- lookup tables -------------------------------------------------------------------------

def lut_index(p: int, cfg: EGRUConfig, table_frac: int) -> int:
    """Table address (0 .. 2**lut_bits - 1) of pre-activation p (preact_frac fractional bits)
    for a table whose input step is 2**-table_frac."""
    half = 1 << (cfg.lut_bits - 1)
    i = rshift_round(p, cfg.preact_frac - table_frac)
    return min(max(i, -half), half - 1) + half


def make_lut(kind: str, cfg: EGRUConfig) -> list[int]:
    """The table of one nonlinearity: entry a holds f(z) in the state format, z = (a - 2**(L-1))
    * 2**-frac, rounded half up. ``kind``: "sigmoid" (reset gate), "update" (sigmoid mixed with
    EvNN's eval zoneout p: p + (1 - p) * sigmoid, equal to sigmoid when p = 0) or "tanh".
    The golden model and the hardware both read tables made here."""
    half = 1 << (cfg.lut_bits - 1)
    if kind == "tanh":
        frac, fn = cfg.tanh_frac, math.tanh
    elif kind == "sigmoid":
        frac, fn = cfg.sigmoid_frac, _sigmoid
    elif kind == "update":
        p = float(cfg.zoneout)
        frac, fn = cfg.sigmoid_frac, (lambda z: p + (1.0 - p) * _sigmoid(z))
    else:
        raise ValueError(f"unknown LUT kind {kind!r}; known: sigmoid, update, tanh")
    return [math.floor(fn((a - half) * 2.0 ** -frac) * cfg.one + 0.5) for a in range(2 * half)]


LUT_KINDS = ("update", "sigmoid", "tanh")


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
