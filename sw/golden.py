"""The bit-exact golden model: the integer EGRU of docs/arithmetic.md, batched over sequences.

The hardware must equal :func:`run` bit for bit: every event (step, layer, unit, value), every
state, every logit. The same :func:`forward` also runs the fake-quantized model of QAT
(sw/fixedpoint.SteOps), so the model that is trained and the model that is exported share one
definition of the arithmetic.
"""

import dataclasses

import torch

from hw.spec import EGRUConfig
from sw.fixedpoint import IntOps, update_gate_fn


@dataclasses.dataclass
class LayerParams:
    """One layer's integers. kernel [I, 3H] and recurrent [H, 3H] at kernel_frac /
    recurrent_frac (gate order u, r, g; pruned entries are 0); biases at preact_frac; thr at
    state_frac. bias_u and bias_r are b_x + b_r; b_x and b_r of the candidate gate stay apart
    because r multiplies only the recurrent part."""
    kernel: torch.Tensor
    recurrent: torch.Tensor
    bias_u: torch.Tensor
    bias_r: torch.Tensor
    bias_gx: torch.Tensor
    bias_gh: torch.Tensor
    thr: torch.Tensor


@dataclasses.dataclass
class ModelParams:
    layers: list
    readout_weight: torch.Tensor  # [H, C] at readout_frac
    readout_bias: torch.Tensor    # [C] at readout_acc_frac
    luts: dict                    # kind -> [2**lut_bits] table (hw.spec.make_lut)
    gamma: float = 0.7            # surrogate-gradient settings (only QAT uses them)
    eps: float = 1.0
    unit_order: list | None = None  # per layer, the user's unit at each physical position on chip
                                    # (sw/permute.py); None: the identity. The golden model ignores it

    def to(self, dtype) -> "ModelParams":
        """The same values in another dtype (LUTs stay int64: they are indexed, not computed)."""
        layers = [LayerParams(**{f: getattr(L, f).to(dtype) for f in LayerParams.__dataclass_fields__})
                  for L in self.layers]
        return dataclasses.replace(self, layers=layers, readout_weight=self.readout_weight.to(dtype),
                                   readout_bias=self.readout_bias.to(dtype))


@dataclasses.dataclass
class LayerRecord:
    """[N, T, H] per layer: states c after the step, event flags o, event values y."""
    c: torch.Tensor
    o: torch.Tensor
    y: torch.Tensor


@dataclasses.dataclass
class GoldenResult:
    logits: torch.Tensor          # [N, C] readout accumulators (readout_acc_frac): the sequence's
                                  # readout, or with a per-step readout the last step's
    layers: list                  # LayerRecord per layer
    step_logits: torch.Tensor | None = None  # [N, T, C] with a per-step readout (cfg.readout "step")

    def take(self, part) -> "GoldenResult":
        """The result for a subset of the sequences (a slice or index tensor)."""
        return GoldenResult(logits=self.logits[part],
                            layers=[LayerRecord(c=r.c[part], o=r.o[part], y=r.y[part]) for r in self.layers],
                            step_logits=None if self.step_logits is None else self.step_logits[part])

    @property
    def predictions(self) -> torch.Tensor:
        """The class of every sequence [N], or with a per-step readout of every step [N, T]
        (the shape of the data set's labels either way)."""
        # torch.argmax returns the first maximum: ties go to the lowest class index, as on chip
        return self.logits.argmax(dim=1) if self.step_logits is None else self.step_logits.argmax(dim=2)


def forward(ops, cfg: EGRUConfig, p: ModelParams, x) -> GoldenResult:
    """Run quantized inputs x [N, T, I] (integers at input_frac) through the layers and the
    readout with the operations ``ops`` (IntOps or SteOps)."""
    N, T, _ = x.shape
    if T > cfg.max_steps:
        raise ValueError(f"sequence of {T} steps is longer than the configured max_steps "
                         f"{cfg.max_steps} the readout accumulator is sized for")
    records = []
    h_in = x
    for layer, L in enumerate(p.layers):
        ax = (h_in @ L.kernel) * (1 << cfg.input_shift(layer))           # input phase, [N, T, 3H]
        y = x.new_zeros(N, cfg.hidden_size)
        c = x.new_zeros(N, cfg.hidden_size)
        cs, os_, ys = [], [], []
        for t in range(T):
            c, o, y = _layer_step(ops, cfg, p, layer, ax[:, t], c, y)
            cs.append(c)
            os_.append(o)
            ys.append(y)
        rec = LayerRecord(c=torch.stack(cs, 1), o=torch.stack(os_, 1), y=torch.stack(ys, 1))
        records.append(rec)
        h_in = rec.y
    if cfg.per_step:  # every step's events alone: logits_t = b + y_t W_out
        step_logits = p.readout_bias + h_in @ p.readout_weight
        return GoldenResult(logits=step_logits[:, -1], layers=records, step_logits=step_logits)
    logits = p.readout_bias + h_in.sum(dim=1) @ p.readout_weight
    return GoldenResult(logits=logits, layers=records)


def _layer_step(ops, cfg: EGRUConfig, p: ModelParams, layer: int, ax_t, c, y):
    """One step of one layer: the input phase's accumulators ax_t [N, 3H] (already aligned),
    the state c and the events y of the previous step -> (c, o, y) after this step."""
    H, S, P, Fs, Fp = cfg.hidden_size, cfg.state_bits, cfg.preact_bits, cfg.state_frac, cfg.preact_frac
    L = p.layers[layer]
    ah = (y @ L.recurrent) * (1 << cfg.recurrent_shift(layer))          # recurrent phase
    to_preact = cfg.acc_frac(layer) - Fp
    a_u = ax_t[:, :H] + ah[:, :H]
    a_r = ax_t[:, H:2 * H] + ah[:, H:2 * H]
    a_gx = ax_t[:, 2 * H:]
    a_gh = ah[:, 2 * H:]
    p_u, p_r, p_gx, p_gh = (ops.saturate(ops.rshift_round(a, to_preact) + b, P)
                            for a, b in ((a_u, L.bias_u), (a_r, L.bias_r), (a_gx, L.bias_gx), (a_gh, L.bias_gh)))
    u = ops.lut(p.luts["update"], p_u, cfg, cfg.sigmoid_frac, update_gate_fn(cfg.zoneout))  # update phase
    r = ops.lut(p.luts["sigmoid"], p_r, cfg, cfg.sigmoid_frac, torch.sigmoid)
    p_g = ops.saturate(p_gx + ops.rshift_round(r * p_gh, Fs), P)
    g = ops.lut(p.luts["tanh"], p_g, cfg, cfg.tanh_frac, torch.tanh)
    c_hat = ops.saturate(g + ops.rshift_round(u * (c - g), Fs), S)
    o = ops.fire(c_hat, L.thr, cfg, p.gamma, p.eps)
    return c_hat - o * L.thr, o, o * c_hat


class Stepper:
    """The golden model one step at a time, for a sequence built as it runs (a language
    model's samples fed back as its next inputs): the same integers as :func:`run` on the whole
    sequence. ``step(x_t)`` takes one quantized input vector [I] (int64) and returns that step's
    readout logits [C] (a per-step readout's; with a sequence readout the logits the sequence
    would have if it ended at this step)."""

    def __init__(self, cfg: EGRUConfig, p: ModelParams):
        self.cfg, self.p = cfg, p
        self.steps = 0
        H = cfg.hidden_size
        self._c = [torch.zeros(1, H, dtype=torch.int64) for _ in range(cfg.layers)]
        self._y = [torch.zeros(1, H, dtype=torch.int64) for _ in range(cfg.layers)]
        self._sum = torch.zeros(1, H, dtype=torch.int64)

    @torch.no_grad()
    def step(self, x_t) -> torch.Tensor:
        cfg, ops = self.cfg, IntOps()
        x_t = torch.as_tensor(x_t, dtype=torch.int64).reshape(1, cfg.input_size)
        if self.steps >= cfg.max_steps:
            raise ValueError(f"the sequence is longer than the configured max_steps {cfg.max_steps}")
        h = x_t
        for layer, L in enumerate(self.p.layers):
            ax_t = (h @ L.kernel) * (1 << cfg.input_shift(layer))
            self._c[layer], _, self._y[layer] = _layer_step(ops, cfg, self.p, layer, ax_t, self._c[layer],
                                                            self._y[layer])
            h = self._y[layer]
        self.steps += 1
        self._sum = h if cfg.per_step else self._sum + h
        return (self.p.readout_bias + self._sum @ self.p.readout_weight)[0]


def quantize_inputs(x, cfg: EGRUConfig) -> torch.Tensor:
    """Host-side input quantization: x * 2**input_frac rounded half up, saturated to
    input_bits (hw.spec.quantize_value on every element). Returns int64."""
    x = torch.as_tensor(x, dtype=torch.float64)
    lo, hi = -(1 << (cfg.input_bits - 1)), (1 << (cfg.input_bits - 1)) - 1
    return torch.floor(x * 2.0 ** cfg.input_frac + 0.5).clamp(lo, hi).to(torch.int64)


def run(cfg: EGRUConfig, p: ModelParams, x_q: torch.Tensor) -> GoldenResult:
    """The golden model: int64 arithmetic on quantized inputs x_q [N, T, I]."""
    if x_q.dtype != torch.int64:
        raise TypeError(f"golden model inputs must be int64 (quantize_inputs), got {x_q.dtype}")
    with torch.no_grad():
        return forward(IntOps(), cfg, p, x_q)


def events(result: GoldenResult, n: int) -> list[tuple[int, int, int, int]]:
    """The events of sequence n as (step, layer, unit, value), in the order the hardware emits
    them: step by step, within a step layer by layer, within a layer by increasing unit index."""
    out = []
    T = result.layers[0].o.shape[1]
    for t in range(T):
        for layer, rec in enumerate(result.layers):
            for k in torch.nonzero(rec.o[n, t]).flatten().tolist():
                out.append((t, layer, k, int(rec.y[n, t, k])))
    return out


def op_counts(cfg: EGRUConfig, p: ModelParams, x_q: torch.Tensor, result: GoldenResult) -> dict:
    """Multiply-accumulates per sequence and step. Event-driven: every nonzero input or event
    reads its weight column's stored entries (3 gates each) and the readout row of an event
    (C classes); a dense GRU does 3H(I + H) per layer and step and H*C readout MACs per step."""
    N, T, _ = x_q.shape
    event_macs = torch.zeros(N, T, dtype=torch.int64)
    h_in_active = x_q != 0
    dense = 0
    for layer, (L, rec) in enumerate(zip(p.layers, result.layers, strict=True)):
        col_w = _column_entries(L.kernel, cfg.hidden_size)
        col_r = _column_entries(L.recurrent, cfg.hidden_size)
        event_macs += 3 * (h_in_active.to(torch.int64) @ col_w)
        prev = torch.cat([torch.zeros_like(rec.o[:, :1]), rec.o[:, :-1]], dim=1).to(torch.int64)
        event_macs += 3 * (prev @ col_r)
        h_in_active = rec.o != 0
        dense += 3 * cfg.hidden_size * (cfg.layer_input_size(layer) + cfg.hidden_size)
    event_macs += cfg.num_classes * h_in_active.to(torch.int64).sum(dim=2)  # the readout rows either way
    dense += cfg.hidden_size * cfg.num_classes
    return {"event_macs": event_macs, "dense_macs_per_step": dense}


def _column_entries(w: torch.Tensor, H: int) -> torch.Tensor:
    """Stored entries per source column: target units with any nonzero gate weight."""
    return (w.reshape(w.shape[0], 3, H) != 0).any(dim=1).sum(dim=1).to(torch.int64)

