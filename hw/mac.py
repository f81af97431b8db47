"""One lane's multiply-accumulate unit and accumulator banks."""

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.fixed import reject
from hw.spec import EGRUConfig
from hw.spec.layout import GATES, bits

_PRODUCTS = ("u", "r", "g")


class MacLane(wiring.Component):
    """Three multipliers and the four accumulator banks (A_u, A_r, A_gx, A_gh) of one lane's
    ``depth`` units (docs/datapath.md, route phase).

    Accumulate (route phase, ``draining`` low): in cycle n give ``i_valid``, the local unit
    ``i_k``, the event value ``i_value``, the entry's gate weights ``i_w_u/r/g``, ``i_rec``
    (a recurrent event: the candidate product goes to A_gh, else to A_gx) and ``i_layer``, which
    selects the layer's input or recurrent alignment shift. The sums are written in cycle n + 1
    (read-modify-write; reads are transparent, so an entry for the same unit in cycle n + 1
    adds to the new value). ``pending`` is high in cycle n + 1. Throughput: one entry per cycle.

    Drain (update phase, ``draining`` high): give ``d_valid`` and the local unit ``d_m`` in
    cycle n; its four accumulators are on ``d_a_*`` in cycle n + 1, and are cleared in that
    cycle, ready for the next layer or step. Throughput: one unit per cycle.
    """

    def __init__(self, cfg: EGRUConfig, depth: int):
        if not isinstance(cfg, EGRUConfig):
            reject(self, TypeError(f"MacLane: cfg must be an EGRUConfig, got {cfg!r}"))
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            reject(self, ValueError(f"MacLane: depth must be a positive integer, got {depth!r}"))
        self._cfg = cfg
        self._depth = depth
        self.acc_bits = max(cfg.acc_bits(layer) for layer in range(cfg.layers))
        value_bits = max(cfg.input_bits, cfg.state_bits)
        kb = bits(depth)
        super().__init__({
            "i_valid": In(1), "i_k": In(kb), "i_value": In(signed(value_bits)),
            "i_w_u": In(signed(cfg.weight_bits)), "i_w_r": In(signed(cfg.weight_bits)),
            "i_w_g": In(signed(cfg.weight_bits)), "i_rec": In(1), "i_layer": In(bits(cfg.layers)),
            "pending": Out(1),
            "draining": In(1), "d_valid": In(1), "d_m": In(kb),
            "d_a_u": Out(signed(self.acc_bits)), "d_a_r": Out(signed(self.acc_bits)),
            "d_a_gx": Out(signed(self.acc_bits)), "d_a_gh": Out(signed(self.acc_bits)),
        })

    @property
    def memories(self) -> list[tuple[str, int, int]]:
        """(name, depth, width) of the banks, for reports."""
        depth = max(2, self._depth)
        return [(f"acc_{gate}", depth, Shape.cast(signed(self.acc_bits)).width) for gate in GATES]

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        AB = self.acc_bits
        wr, rd = {}, {}
        for gate in GATES:
            mem = Memory(shape=signed(AB), depth=max(2, self._depth), init=[])
            m.submodules[f"acc_{gate}"] = mem
            wr[gate] = mem.write_port()
            rd[gate] = mem.read_port(transparent_for=(wr[gate],))

        # stage 1: products (registered as they leave the multiplier, so that the register can be
        # the DSP block's own), then aligned to the accumulator format; accumulator reads
        weights = {"u": self.i_w_u, "r": self.i_w_r, "g": self.i_w_g}
        # (without reset: a register with one cannot be the DSP block's)
        raw = {name: Signal(signed(len(self.i_value) + cfg.weight_bits), name=f"raw_{name}", reset_less=True)
               for name in _PRODUCTS}
        m.d.sync += [raw[name].eq(self.i_value * weights[name]) for name in _PRODUCTS]
        k, rec, valid, layer_q = Signal.like(self.i_k), Signal(), Signal(), Signal.like(self.i_layer)
        m.d.sync += [k.eq(self.i_k), rec.eq(self.i_rec), valid.eq(self.i_valid & ~self.draining),
                     layer_q.eq(self.i_layer)]
        prod = {name: Signal(signed(AB), name=f"prod_{name}") for name in _PRODUCTS}
        with m.Switch(Cat(rec, layer_q)):
            for layer in range(cfg.layers):
                for rec_ in (0, 1):
                    with m.Case(rec_ | (layer << 1)):
                        shift = cfg.recurrent_shift(layer) if rec_ else cfg.input_shift(layer)
                        for name in _PRODUCTS:
                            m.d.comb += prod[name].eq(raw[name] << shift)
        for gate in GATES:
            m.d.comb += [rd[gate].en.eq(1), rd[gate].addr.eq(Mux(self.draining, self.d_m, self.i_k))]

        # stage 2: write back the sums, or clear behind a drain
        drained, drained_m = Signal(), Signal.like(self.d_m)
        m.d.sync += [drained.eq(self.draining & self.d_valid), drained_m.eq(self.d_m)]
        add = {"u": prod["u"], "r": prod["r"], "gx": prod["g"], "gh": prod["g"]}
        enable = {"u": valid, "r": valid, "gx": valid & ~rec, "gh": valid & rec}
        for gate in GATES:
            with m.If(drained):
                m.d.comb += [wr[gate].addr.eq(drained_m), wr[gate].data.eq(0), wr[gate].en.eq(1)]
            with m.Else():
                m.d.comb += [wr[gate].addr.eq(k), wr[gate].data.eq(rd[gate].data + add[gate]),
                             wr[gate].en.eq(enable[gate])]
        m.d.comb += [self.pending.eq(valid), self.d_a_u.eq(rd["u"].data), self.d_a_r.eq(rd["r"].data),
                     self.d_a_gx.eq(rd["gx"].data), self.d_a_gh.eq(rd["gh"].data)]
        return m
