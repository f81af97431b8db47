"""The update unit of one lane: LUT nonlinearities, c_hat, and the threshold unit."""

import functools
import operator

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.core.dsp import RegisteredMultiplier
from hw.fixed import reject, rshift_round, saturate
from hw.spec import LUT_KINDS, EGRUConfig, make_lut
from hw.spec.layout import GATES
from hw.spec.schedule import schedule


class UpdateLane(wiring.Component):
    """Computes one unit per cycle (docs/arithmetic.md, update phase).

    Inputs (``i_*``, valid with ``i_valid`` in cycle n): the four accumulators, their biases
    (``i_b_*``, pre-activations, added after the accumulator is shifted to that format), the
    layer (selects the accumulator-to-pre-activation shift) and an opaque tag that travels along;
    the unit's state c (0 on a sequence's first step) and threshold come ``latency_late`` cycles
    later, where they are first used: a memory read in flight meanwhile costs no pipeline
    registers to carry them.

    Latency: ``latency`` cycles, from the configuration's pipeline (hw.spec.schedule): the
    ``o_*`` outputs of an input given in cycle n are valid (``o_valid``) in cycle n + latency.
    Short pipeline (6): the pre-activations, both products (rounded), c_hat and every table
    read have a register behind them. Deep pipeline (14): also the inputs, every table output,
    c - g, the threshold compare and difference and the outputs are registered (both products
    in a RegisteredMultiplier, hw/core/dsp.py, with its own input registers), so no path runs
    from a block RAM or a multiplier through more than one adder. Throughput: one unit per cycle, no stalls.

    LUTs: the three tables, initialised with ``luts`` (kind -> 2**lut_bits entries; by default
    hw.spec.make_lut's for the configuration: a model file may carry others), and
    writable through ``lut_we``/``lut_sel``/``lut_addr``/``lut_data`` (the load port) and
    readable while the lane is idle: ``lut_read`` with ``lut_sel``/``lut_addr`` in cycle n gives
    the entry in ``lut_q`` in cycle n + 1 (n + 2 in the deep pipeline, where ``lut_q`` is 0 in
    cycle n + 2 when ``lut_read`` was low in cycle n; the read-back of the host protocol).
    """

    def __init__(self, cfg: EGRUConfig, tag_bits: int = 8, luts: dict | None = None):
        if not isinstance(cfg, EGRUConfig):
            reject(self, TypeError(f"UpdateLane: cfg must be an EGRUConfig, got {cfg!r}"))
        if isinstance(tag_bits, bool) or not isinstance(tag_bits, int) or tag_bits < 1:
            reject(self, ValueError(f"UpdateLane: tag_bits must be a positive integer, got {tag_bits!r}"))
        self._cfg = cfg
        self._luts = {kind: list(make_lut(kind, cfg)) for kind in LUT_KINDS} if luts is None else \
            {kind: list(luts.get(kind, ())) for kind in LUT_KINDS}
        lo, hi = -(1 << (cfg.state_bits - 1)), 1 << (cfg.state_bits - 1)
        for kind, table in self._luts.items():
            if len(table) != 1 << cfg.lut_bits or not all(isinstance(v, int) and lo <= v < hi for v in table):
                reject(self, ValueError(f"UpdateLane: the {kind} table must have {1 << cfg.lut_bits} integer "
                                        f"entries in [{lo}, {hi})"))
        self._schedule = schedule(cfg.pipeline)
        acc_bits = max(cfg.acc_bits(layer) for layer in range(cfg.layers))
        S = cfg.state_bits
        super().__init__({
            "i_valid": In(1),
            "i_layer": In(max(1, (cfg.layers - 1).bit_length())),  # never 0 bits wide
            "i_a_u": In(signed(acc_bits)), "i_a_r": In(signed(acc_bits)),
            "i_a_gx": In(signed(acc_bits)), "i_a_gh": In(signed(acc_bits)),
            "i_b_u": In(signed(cfg.preact_bits)), "i_b_r": In(signed(cfg.preact_bits)),
            "i_b_gx": In(signed(cfg.preact_bits)), "i_b_gh": In(signed(cfg.preact_bits)),
            "i_c": In(signed(S)), "i_thr": In(signed(S)),
            "i_tag": In(tag_bits),
            "o_valid": Out(1),
            "o_fire": Out(1),
            "o_y": Out(signed(S)),
            "o_c": Out(signed(S)),
            "o_tag": Out(tag_bits),
            "lut_we": In(1), "lut_sel": In(range(len(LUT_KINDS))),
            "lut_addr": In(cfg.lut_bits), "lut_data": In(signed(S)),
            "lut_read": In(1), "lut_q": Out(signed(S)),
        })

    @property
    def cfg(self) -> EGRUConfig:
        return self._cfg

    @property
    def latency(self) -> int:
        return self._schedule.update_lane_latency

    @property
    def latency_late(self) -> int:
        return self._schedule.update_lane_late

    def elaborate(self, platform):
        cfg = self._cfg
        deep = self._schedule.deep
        m = Module()
        S, P, F, Fp = cfg.state_bits, cfg.preact_bits, cfg.state_frac, cfg.preact_frac

        # One address per table for reads and writes (the load port writes only while the lane is
        # idle), so a table maps to single-port RAM too (iCE40 SPRAM); no read in a write cycle.
        luts, addrs = {}, {}
        for i, kind in enumerate(LUT_KINDS):
            mem = Memory(shape=signed(S), depth=1 << cfg.lut_bits, init=self._luts[kind])
            m.submodules[f"lut_{kind}"] = mem
            wr, rd = mem.write_port(), mem.read_port()
            addrs[kind] = Signal(cfg.lut_bits, name=f"{kind}_addr")
            writing = self.lut_we & (self.lut_sel == i)
            m.d.comb += [wr.en.eq(writing), wr.addr.eq(addrs[kind]), wr.data.eq(self.lut_data),
                         rd.addr.eq(addrs[kind]), rd.en.eq(~writing)]
            luts[kind] = rd

        # read-back: the table addresses come from the load port instead of the datapath
        # (these statements come after the datapath's, which they override)
        read_sel, read_asked = Signal.like(self.lut_sel), Signal()
        m.d.sync += [read_sel.eq(self.lut_sel), read_asked.eq(self.lut_read)]
        if deep:
            # each table's entry in a register of its own, cleared unless read (a flip-flop's
            # synchronous reset, no logic behind the block RAM: the three tables' multiplexer
            # there was the worst path of the P = 4 top, 10.4 ns); lut_q is their OR
            entries = []
            for i, kind in enumerate(LUT_KINDS):
                entry = Signal(signed(S), name=f"lut_q_{kind}")
                m.d.sync += entry.eq(Mux(read_asked & (read_sel == i), luts[kind].data, 0))
                entries.append(entry)
            m.d.comb += self.lut_q.eq(functools.reduce(operator.or_, entries))
        else:
            with m.Switch(read_sel):
                for i, kind in enumerate(LUT_KINDS):
                    with m.Case(i):
                        m.d.comb += self.lut_q.eq(luts[kind].data)

        def stage(name, value, reset_less=False):
            """A pipeline register holding ``value`` (one cycle later)."""
            reg = Signal(value.shape(), name=name, reset_less=reset_less)
            m.d.sync += reg.eq(value)
            return reg

        def deep_stage(name, value, reset_less=False):
            """A register of the deep pipeline only (the short one passes ``value`` on)."""
            return stage(name, value, reset_less) if deep else value

        def address(p, table_frac):
            # clamp to [-half, half) and add half: the saturated value with its sign bit inverted
            q = saturate(rshift_round(p, Fp - table_frac), cfg.lut_bits)
            return Cat(q[:cfg.lut_bits - 1], ~q[cfg.lut_bits - 1])

        # valid and tag travel along every stage
        valid, tag = [self.i_valid], [self.i_tag]
        for k in range(1, self.latency + 1):
            valid.append(stage(f"v{k}_valid", valid[-1]))
            tag.append(stage(f"v{k}_tag", tag[-1]))

        # s1: the inputs, registered (they come from block-RAM outputs)
        a1 = {gate: deep_stage(f"s1_a_{gate}", getattr(self, f"i_a_{gate}")) for gate in GATES}
        b1 = {gate: deep_stage(f"s1_b_{gate}", getattr(self, f"i_b_{gate}")) for gate in GATES}
        layer1 = deep_stage("s1_layer", self.i_layer)

        # s2: pre-activations sat_P(rshift_round(a, d) + b): one adder, the rounding bit its carry in
        pre = {}
        for gate in GATES:
            out = Signal(signed(P), name=f"pre_{gate}")
            with m.Switch(layer1):
                for layer in range(cfg.layers):
                    with m.Case(layer):
                        m.d.comb += out.eq(saturate(rshift_round(a1[gate], cfg.acc_frac(layer) - Fp) + b1[gate], P))
            pre[gate] = stage(f"s2_{gate}", out)

        # the u and r tables are read from s2 (address logic into the RAM), out in s3's cycle ...
        m.d.comb += [addrs["update"].eq(address(pre["u"], cfg.sigmoid_frac)),
                     addrs["sigmoid"].eq(address(pre["r"], cfg.sigmoid_frac))]
        gx3, gh3 = stage("s3_gx", pre["gx"]), stage("s3_gh", pre["gh"])
        # s4: ... and registered
        u4 = deep_stage("s4_u", luts["update"].data)
        gx4 = deep_stage("s4_gx", gx3)
        # s5: the product r * gh (the short pipeline rounds it before its register; the deep
        # one registers r and gh in the fabric, then again in a RegisteredMultiplier's own
        # registers, then the product: hw/core/dsp.py). The fabric register takes the table's
        # block RAM output: straight into the DSP block, 5.6 ns of the RAM's clock-to-output and
        # 4.6 of routing were the worst path of the P = 4 top. (u and gx wait a cycle more.)
        if deep:
            r4, gh4 = stage("s4_r", luts["sigmoid"].data), stage("s4_gh", gh3)
            mul_rg = m.submodules.mul_rg = RegisteredMultiplier(r4.shape(), gh4.shape())
            m.d.comb += [mul_rg.a.eq(r4), mul_rg.b.eq(gh4)]
            rg5 = mul_rg.p
            u4, gx4 = stage("s4b_u", u4), stage("s4b_gx", gx4)
        else:
            rg5 = stage("s5_rg", rshift_round(luts["sigmoid"].data * gh3, F))
        u5, gx5 = stage("s5_u", u4), stage("s5_gx", gx4)
        # s6: the candidate's pre-activation (wide enough for any S-bit table entry a host may
        # load, so the sum saturates as specified)
        p_g = deep_stage("s6_pg", saturate(gx5 + (rshift_round(rg5, F) if deep else rg5), P))
        u6 = deep_stage("s6_u", u5)
        # the tanh table is read from s6, out in s7's cycle, together with c and the threshold
        m.d.comb += addrs["tanh"].eq(address(p_g, cfg.tanh_frac))
        u7 = stage("s7_u", u6)
        # s8: g, c and the threshold registered (all three come from block-RAM outputs)
        g8 = deep_stage("s8_g", luts["tanh"].data)
        c8, thr8 = deep_stage("s8_c", self.i_c), deep_stage("s8_thr", self.i_thr)
        u8 = deep_stage("s8_u", u7)
        # s9 and s10: c - g (one more bit: any S-bit c and g) and u, registered, then the product
        # u (c - g) (deep: a RegisteredMultiplier; short: rounded before its register)
        g9, thr9 = deep_stage("s9_g", g8), deep_stage("s9_thr", thr8)
        if deep:
            mul_ud = m.submodules.mul_ud = RegisteredMultiplier(u8.shape(), (c8 - g8).shape())
            m.d.comb += [mul_ud.a.eq(u8), mul_ud.b.eq(c8 - g8)]
            p10 = mul_ud.p
        else:
            p10 = stage("s10_p", rshift_round(u8 * (c8 - g8), F))
        g10, thr10 = stage("s10_g", g9), stage("s10_thr", thr9)
        # s11: c_hat = g + u (c - g), rounded once and saturated
        c_hat = stage("s11_chat", saturate(g10 + (rshift_round(p10, F) if deep else p10), S))
        thr11 = stage("s11_thr", thr10)
        # s12: strict threshold; reset by subtraction. The deep pipeline registers the compare
        # and the difference (two carry chains side by side) before the choice (s13): compare
        # and choice in one stage were the worst path at P = 2 (11.3 ns, 22 levels)
        if deep:
            fire12, diff12 = stage("s12_fire", c_hat > thr11), stage("s12_diff", c_hat - thr11)
            chat12 = stage("s12_chat", c_hat)
            m.d.sync += [self.o_fire.eq(valid[-2] & fire12), self.o_y.eq(Mux(fire12, chat12, 0)),
                         self.o_c.eq(Mux(fire12, diff12, chat12))]
        else:
            fire = c_hat > thr11
            m.d.comb += [self.o_fire.eq(valid[-1] & fire), self.o_y.eq(Mux(fire, c_hat, 0)),
                         self.o_c.eq(Mux(fire, c_hat - thr11, c_hat))]
        with m.If(self.lut_read | self.lut_we):
            for kind in LUT_KINDS:
                m.d.comb += addrs[kind].eq(self.lut_addr)
        m.d.comb += [self.o_valid.eq(valid[-1]), self.o_tag.eq(tag[-1])]
        return m
