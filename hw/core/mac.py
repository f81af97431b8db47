"""One lane's multiply-accumulate unit and accumulator banks."""

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.core.dsp import RegisteredMultiplier
from hw.core.ports import synchronous_read
from hw.fixed import reject
from hw.spec import EGRUConfig
from hw.spec.layout import GATES, bits
from hw.spec.schedule import schedule

_PRODUCTS = ("u", "r", "g")
# banks of at most this many units read through an address register (deep pipeline): a bank
# is as wide as an accumulator, and at 64 words Yosys makes it block RAM on ECP5, into which
# the bank word's register would go (the RAM's output then ran into the adder unregistered)
BANK_LUT_RAM = 32


class MacLane(wiring.Component):
    """Three multipliers and the four accumulator banks (A_u, A_r, A_gx, A_gh) of one lane's
    ``depth`` units (docs/datapath.md, route phase).

    Accumulate (route phase, ``draining`` low): in cycle n give ``i_valid``, the local unit
    ``i_k``, the event value ``i_value``, the entry's gate weights ``i_w_u/r/g``, ``i_rec``
    (a recurrent event: the candidate product goes to A_gh, else to A_gx) and ``i_layer``, which
    selects the layer's input or recurrent alignment shift. The sums are written in cycle
    n + ``latency`` (hw.spec.schedule, the configuration's pipeline), and entries of the same
    unit may follow each other in every cycle. Throughput: one entry per cycle.

    * short pipeline (latency 1): the products are registered, the bank read in cycle n is
      transparent to the write of cycle n, so a read in the write's cycle (the next entry's,
      or the update's first) sees the new sum. ``busy`` is always low.
    * deep pipeline (latency 3): the inputs are registered first (the weights come from a
      block-RAM output), then the products (both in a RegisteredMultiplier, the DSP block's
      registers where the platform has them) and the bank read, then the aligned products and
      the bank word registered, and the sum is written; the sums of the two cycles before
      an add are forwarded to it. ``busy`` is high while an entry is in the pipeline; the
      banks may be read (drained) once it is low.

    ``real`` says, ``latency`` + 1 cycles after an entry in the deep pipeline and 1 in the
    short one, whether that entry had a nonzero weight (a padding word of zeros does no MAC).

    Drain (update phase, ``draining`` high): give ``d_valid`` and the local unit ``d_m`` in
    cycle n; its four accumulators are on ``d_a_*`` in cycle n + ``drain_latency`` (1, from
    the block RAM, or 2, from a register), and the bank words are cleared behind the read,
    ready for the next layer or step. Throughput: one unit per cycle.
    """

    def __init__(self, cfg: EGRUConfig, depth: int):
        if not isinstance(cfg, EGRUConfig):
            reject(self, TypeError(f"MacLane: cfg must be an EGRUConfig, got {cfg!r}"))
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            reject(self, ValueError(f"MacLane: depth must be a positive integer, got {depth!r}"))
        self._cfg = cfg
        self._depth = depth
        self._schedule = schedule(cfg.pipeline)
        self.acc_bits = max(cfg.acc_bits(layer) for layer in range(cfg.layers))
        value_bits = max(cfg.input_bits, cfg.state_bits)
        kb = bits(depth)
        super().__init__({
            "i_valid": In(1), "i_k": In(kb), "i_value": In(signed(value_bits)),
            "i_w_u": In(signed(cfg.weight_bits)), "i_w_r": In(signed(cfg.weight_bits)),
            "i_w_g": In(signed(cfg.weight_bits)), "i_rec": In(1), "i_layer": In(bits(cfg.layers)),
            "busy": Out(1), "real": Out(1),
            "draining": In(1), "d_valid": In(1), "d_m": In(kb),
            "d_a_u": Out(signed(self.acc_bits)), "d_a_r": Out(signed(self.acc_bits)),
            "d_a_gx": Out(signed(self.acc_bits)), "d_a_gh": Out(signed(self.acc_bits)),
        })

    @property
    def latency(self) -> int:
        return self._schedule.mac_latency

    @property
    def drain_latency(self) -> int:
        return self._schedule.mac_drain_latency

    @property
    def memories(self) -> list[tuple[str, int, int]]:
        """(name, depth, width) of the banks, for reports."""
        depth = max(2, self._depth)
        return [(f"acc_{gate}", depth, Shape.cast(signed(self.acc_bits)).width) for gate in GATES]

    def elaborate(self, platform):
        cfg = self._cfg
        deep = self._schedule.deep
        m = Module()
        AB = self.acc_bits
        wr, rd = {}, {}
        for gate in GATES:
            mem = Memory(shape=signed(AB), depth=max(2, self._depth), init=[])
            m.submodules[f"acc_{gate}"] = mem
            wr[gate] = mem.write_port()
            # the short pipeline relies on transparency; the deep one forwards (a transparent
            # read would put the write data's multiplexer behind the RAM output)
            # (deep: a small bank's read is an address register and LUT RAM, hw/core/ports.py; the
            # forwarding below covers either port's view of the write two cycles before an add)
            rd[gate] = synchronous_read(m, mem, f"acc_{gate}", deep, small=BANK_LUT_RAM) if deep else \
                mem.read_port(transparent_for=(wr[gate],))

        # s1 and s2: in the deep pipeline the inputs are registered, then the products, both in
        # a RegisteredMultiplier (hw/core/dsp.py: on ECP5 the DSP block's own registers, so the
        # event value is copied into every block rather than driven from one register); the
        # short pipeline registers only the products
        weights = {"u": self.i_w_u, "r": self.i_w_r, "g": self.i_w_g}
        raw = {name: Signal(signed(len(self.i_value) + cfg.weight_bits), name=f"s2_raw_{name}",
                      reset_less=True) for name in _PRODUCTS}
        valid1, k1, rec1, layer1 = self.i_valid & ~self.draining, self.i_k, self.i_rec, self.i_layer
        nonzero1 = (self.i_w_u != 0) | (self.i_w_r != 0) | (self.i_w_g != 0)
        if deep:
            for name in _PRODUCTS:
                mul = m.submodules[f"mul_{name}"] = RegisteredMultiplier(self.i_value.shape(), weights[name].shape())
                m.d.comb += [mul.a.eq(self.i_value), mul.b.eq(weights[name]), raw[name].eq(mul.p)]
            valid1, k1, rec1, layer1 = Signal(), Signal.like(self.i_k), Signal(), Signal.like(self.i_layer)
            # a copy of the weights in the fabric, for the nonzero test only: the weights may
            # come straight from a block RAM's output (the core registers them first, with the
            # deep schedule's lane_register), and the test before a register was the worst path
            # at P = 1 without that register (12.9 ns, 5 levels)
            w1 = {name: Signal.like(weights[name], name=f"s1_w_{name}", reset_less=True) for name in _PRODUCTS}
            nonzero1 = (w1["u"] != 0) | (w1["r"] != 0) | (w1["g"] != 0)
            m.d.sync += [valid1.eq(self.i_valid & ~self.draining), k1.eq(self.i_k), rec1.eq(self.i_rec),
                         layer1.eq(self.i_layer), *(w1[name].eq(weights[name]) for name in _PRODUCTS)]
        else:
            m.d.sync += [raw[name].eq(self.i_value * weights[name]) for name in _PRODUCTS]
        valid2, k2, rec2, layer2 = Signal(), Signal.like(k1), Signal(), Signal.like(layer1)
        m.d.sync += [valid2.eq(valid1), k2.eq(k1), rec2.eq(rec1), layer2.eq(layer1),
                     self.real.eq(valid1 & nonzero1)]
        # the bank address: the entry's unit while one is in s1, else the unit drained. The deep
        # pipeline selects by s1's valid flip-flop, not by ``draining``, which the core decides
        # combinationally at the end of a route (that select ran through the address into the
        # banks, LUT RAM with an asynchronous read, and limited the clock at P >= 2); the
        # drain starts only when no entry is in the pipeline, so the two never overlap
        select = valid1 if deep else ~self.draining
        for gate in GATES:
            m.d.comb += [rd[gate].en.eq(1), rd[gate].addr.eq(Mux(select, k1, self.d_m))]

        # s3: the products aligned to the accumulator format (registered in the deep pipeline),
        # and the bank words (registered in the deep pipeline)
        prod = {name: Signal(signed(AB), name=f"s3_prod_{name}") for name in _PRODUCTS}
        with m.Switch(Cat(rec2, layer2)):
            for layer in range(cfg.layers):
                for rec_ in (0, 1):
                    with m.Case(rec_ | (layer << 1)):
                        shift = cfg.recurrent_shift(layer) if rec_ else cfg.input_shift(layer)
                        for name in _PRODUCTS:
                            domain = m.d.sync if deep else m.d.comb
                            domain += prod[name].eq(raw[name] << shift)
        word = {gate: rd[gate].data for gate in GATES}
        valid3, k3, rec3 = valid2, k2, rec2
        if deep:
            word = {gate: Signal(signed(AB), name=f"s3_acc_{gate}") for gate in GATES}
            m.d.sync += [word[gate].eq(rd[gate].data) for gate in GATES]
            valid3, k3, rec3 = Signal(), Signal.like(k2), Signal()
            m.d.sync += [valid3.eq(valid2), k3.eq(k2), rec3.eq(rec2)]
            m.d.comb += self.busy.eq(valid1 | valid2 | valid3)

        # the sum is written now. In the deep pipeline the bank word was read two cycles ago,
        # so the sums written in the last two cycles (sum_1: one cycle ago, sum_2: two) are
        # forwarded to it, the newer first; whether they hit is decided a cycle ahead, from
        # s2's unit, so that only a multiplexer is left before the adder
        add = {"u": prod["u"], "r": prod["r"], "gx": prod["g"], "gh": prod["g"]}
        enable = {"u": valid3, "r": valid3, "gx": valid3 & ~rec3, "gh": valid3 & rec3}
        drained, drained_m = Signal(), Signal.like(self.d_m)
        m.d.sync += [drained.eq(self.draining & self.d_valid), drained_m.eq(self.d_m)]
        for gate in GATES:
            total = Signal(signed(AB), name=f"sum_{gate}")
            if deep:
                k_1, en_1 = Signal.like(k3, name=f"w1_k_{gate}"), Signal(name=f"w1_en_{gate}")
                hit_1, hit_2 = Signal(name=f"hit1_{gate}"), Signal(name=f"hit2_{gate}")
                sum_1, sum_2 = Signal(signed(AB), name=f"w1_sum_{gate}"), Signal(signed(AB), name=f"w2_sum_{gate}")
                m.d.comb += total.eq(Mux(hit_1, sum_1, Mux(hit_2, sum_2, word[gate])) + add[gate])
                m.d.sync += [k_1.eq(k3), en_1.eq(enable[gate]), sum_1.eq(total), sum_2.eq(sum_1),
                             hit_1.eq(enable[gate] & (k3 == k2)), hit_2.eq(en_1 & (k_1 == k2))]
            else:
                m.d.comb += total.eq(word[gate] + add[gate])
            with m.If(drained):
                m.d.comb += [wr[gate].addr.eq(drained_m), wr[gate].data.eq(0), wr[gate].en.eq(1)]
            with m.Else():
                m.d.comb += [wr[gate].addr.eq(k3), wr[gate].data.eq(total), wr[gate].en.eq(enable[gate])]
        m.d.comb += [self.d_a_u.eq(word["u"]), self.d_a_r.eq(word["r"]),
                     self.d_a_gx.eq(word["gx"]), self.d_a_gh.eq(word["gh"])]
        return m
