"""Quantization-aware model: float parameters, fake-quantized in the forward pass.

:class:`QATModel` holds the float parameters of a trained EGRUClassifier and the integer
formats of an EGRUConfig. Its forward pass runs sw/golden.forward on SteOps, i.e. it computes
exactly the integers the golden model computes (same LUTs, same rounding) while gradients pass
straight through; :meth:`QATModel.export` produces those integers for the golden model and the
model file. Optional structured pruning masks remove whole (source, target) entries: the three
gate weights that one sparse-memory entry holds.
"""

import torch
import torch.nn as nn

from hw.spec import LUT_KINDS, EGRUConfig, make_lut
from sw.classifier import EGRUClassifier, LayerTrace
from sw.fixedpoint import SteOps, fake_quant
from sw.golden import LayerParams, ModelParams, forward, quantize_inputs


class QATModel(nn.Module):
    def __init__(self, float_model: EGRUClassifier, cfg: EGRUConfig):
        super().__init__()
        self.cfg = cfg
        self.kernels = nn.ParameterList()
        self.recurrents = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.recurrent_biases = nn.ParameterList()
        self.thrs = nn.ParameterList()
        for rnn in float_model.rnns:
            self.kernels.append(nn.Parameter(rnn.kernel.detach().double().clone()))
            self.recurrents.append(nn.Parameter(rnn.recurrent_kernel.detach().double().clone()))
            self.biases.append(nn.Parameter(rnn.bias.detach().double().clone()))
            self.recurrent_biases.append(nn.Parameter(rnn.recurrent_bias.detach().double().clone()))
            self.thrs.append(nn.Parameter(rnn.thr.detach().double().clone().clamp(0.0, 1.0)))
        self.readout_weight = nn.Parameter(float_model.readout.weight.detach().double().t().clone())
        self.readout_bias = nn.Parameter(float_model.readout.bias.detach().double().clone())
        rnn0 = float_model.rnns[0]
        self.gamma = float(rnn0.dampening_factor)
        self.eps = float(rnn0.pseudo_derivative_support)
        # Masks of kept entries, [source, H] per layer; 1 everywhere until pruning.
        H = cfg.hidden_size
        for i in range(cfg.layers):
            self.register_buffer(f"kernel_mask{i}", torch.ones(cfg.layer_input_size(i), H, dtype=torch.float64))
            self.register_buffer(f"recurrent_mask{i}", torch.ones(H, H, dtype=torch.float64))
        self.luts = {k: torch.tensor(make_lut(k, cfg), dtype=torch.int64) for k in LUT_KINDS}

    def mask(self, kind: str, layer: int) -> torch.Tensor:
        return getattr(self, f"{kind}_mask{layer}")

    def _weights(self, layer: int):
        """Masked float W and R: a pruned entry zeroes its three gate weights."""
        km = self.mask("kernel", layer).repeat(1, 3)
        rm = self.mask("recurrent", layer).repeat(1, 3)
        return self.kernels[layer] * km, self.recurrents[layer] * rm

    def quantized(self) -> ModelParams:
        """Integer-valued float64 parameters with straight-through gradients."""
        cfg = self.cfg
        wlo, whi = -(1 << (cfg.weight_bits - 1)), (1 << (cfg.weight_bits - 1)) - 1
        H = cfg.hidden_size
        layers = []
        for i in range(cfg.layers):
            W, R = self._weights(i)
            bx, br = self.biases[i], self.recurrent_biases[i]
            lim = cfg.bias_limit(i)
            qb = lambda b, lim=lim: fake_quant(b, cfg.preact_frac, -lim, lim - 1)  # noqa: E731
            layers.append(LayerParams(
                kernel=fake_quant(W, cfg.kernel_frac[i], wlo, whi),
                recurrent=fake_quant(R, cfg.recurrent_frac[i], wlo, whi),
                bias_u=qb(bx[:H] + br[:H]),
                bias_r=qb(bx[H:2 * H] + br[H:2 * H]),
                bias_gx=qb(bx[2 * H:]),
                bias_gh=qb(br[2 * H:]),
                thr=fake_quant(self.thrs[i], cfg.state_frac, 0, cfg.one),
            ))
        rlim = cfg.readout_bias_limit
        return ModelParams(
            layers=layers,
            readout_weight=fake_quant(self.readout_weight, cfg.readout_frac, wlo, whi),
            readout_bias=fake_quant(self.readout_bias, cfg.readout_acc_frac, -rlim, rlim - 1),
            luts=self.luts, gamma=self.gamma, eps=self.eps)

    def forward(self, x):
        """x: float inputs [N, T, I]. Returns (logits in real units, [LayerTrace]) like
        EGRUClassifier, so the same training loop serves both: [N, C], or [N, T, C] for a
        per-step readout (cfg.readout "step")."""
        with torch.no_grad():
            self._clamp_thresholds()
        x_q = quantize_inputs(x, self.cfg).to(torch.float64)
        res = forward(SteOps(), self.cfg, self.quantized(), x_q)
        scale = 2.0 ** -self.cfg.state_frac
        traces = [LayerTrace(y=r.y * scale, c=r.c * scale, o=r.o, v=None) for r in res.layers]
        logits = res.step_logits if self.cfg.per_step else res.logits
        return logits * 2.0 ** -self.cfg.readout_acc_frac, traces

    def _clamp_thresholds(self):
        for t in self.thrs:
            t.clamp_(0.0, 1.0)

    @torch.no_grad()
    def export(self) -> ModelParams:
        """The integers of the current parameters, as int64 tensors for the golden model."""
        q = self.quantized()
        to_int = lambda t: t.detach().round().to(torch.int64)  # noqa: E731  exact: integer-valued
        layers = [LayerParams(**{f: to_int(getattr(L, f)) for f in LayerParams.__dataclass_fields__})
                  for L in q.layers]
        return ModelParams(layers=layers, readout_weight=to_int(q.readout_weight),
                           readout_bias=to_int(q.readout_bias), luts=dict(self.luts),
                           gamma=self.gamma, eps=self.eps)
