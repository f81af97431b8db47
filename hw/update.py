"""The update unit of one lane: LUT nonlinearities, c_hat, and the threshold unit."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.fixed import reject, rshift_round, saturate
from hw.spec import LUT_KINDS, EGRUConfig, make_lut


class UpdateLane(wiring.Component):
    """Computes one unit per cycle (docs/arithmetic.md, update phase).

    Inputs (``i_*``, valid with ``i_valid`` in cycle n): the four accumulators, their biases
    (``i_b_*``, pre-activations, added after the accumulator is shifted to that format), the
    layer (selects the accumulator-to-pre-activation shift) and an opaque tag that travels along;
    the unit's state c (0 on a sequence's first step) and threshold come ``LATE`` = 4 cycles
    later, in cycle n + 4, where they are first used: a memory read there costs no pipeline
    registers to carry them.

    Latency: ``LATENCY`` = 5 cycles; the ``o_*`` outputs of an input given in cycle n are valid
    (``o_valid``) in cycle n + 5, combinationally from the registers of the last stage. The
    pre-activations, every product and every table read have a register behind them, so no
    path runs from a block RAM through a multiplier or from the accumulators into a table.
    Throughput: one unit per cycle, no stalls.

    LUTs: the three tables of hw.spec.make_lut, initialised from the configuration, and
    writable through ``lut_we``/``lut_sel``/``lut_addr``/``lut_data`` (the load port) and
    readable while the lane is idle: ``lut_read`` with ``lut_sel``/``lut_addr`` in cycle n gives
    the entry in ``lut_q`` in cycle n + 1 (the read-back of the host protocol).
    """

    LATENCY = 5
    LATE = 4

    def __init__(self, cfg: EGRUConfig, tag_bits: int = 8):
        if not isinstance(cfg, EGRUConfig):
            reject(self, TypeError(f"UpdateLane: cfg must be an EGRUConfig, got {cfg!r}"))
        if isinstance(tag_bits, bool) or not isinstance(tag_bits, int) or tag_bits < 1:
            reject(self, ValueError(f"UpdateLane: tag_bits must be a positive integer, got {tag_bits!r}"))
        self._cfg = cfg
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

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        S, P, F, Fp = cfg.state_bits, cfg.preact_bits, cfg.state_frac, cfg.preact_frac

        # One address per table for reads and writes (the load port writes only while the lane is
        # idle), so a table maps to single-port RAM too (iCE40 SPRAM); no read in a write cycle.
        luts, addrs = {}, {}
        for i, kind in enumerate(LUT_KINDS):
            mem = Memory(shape=signed(S), depth=1 << cfg.lut_bits, init=make_lut(kind, cfg))
            m.submodules[f"lut_{kind}"] = mem
            wr, rd = mem.write_port(), mem.read_port()
            addrs[kind] = Signal(cfg.lut_bits, name=f"{kind}_addr")
            writing = self.lut_we & (self.lut_sel == i)
            m.d.comb += [wr.en.eq(writing), wr.addr.eq(addrs[kind]), wr.data.eq(self.lut_data),
                         rd.addr.eq(addrs[kind]), rd.en.eq(~writing)]
            luts[kind] = rd

        # read-back: the table addresses come from the load port instead of the datapath
        # (these statements come after the datapath's, which they override)
        read_sel = Signal.like(self.lut_sel)
        m.d.sync += read_sel.eq(self.lut_sel)
        with m.Switch(read_sel):
            for i, kind in enumerate(LUT_KINDS):
                with m.Case(i):
                    m.d.comb += self.lut_q.eq(luts[kind].data)

        def preact(a, b):
            """sat_P(rshift_round(a, d) + b): one adder, the rounding bit its carry in."""
            out = Signal(signed(P))
            with m.Switch(self.i_layer):
                for layer in range(cfg.layers):
                    with m.Case(layer):
                        m.d.comb += out.eq(saturate(rshift_round(a, cfg.acc_frac(layer) - Fp) + b, P))
            return out

        def address(p, table_frac):
            # clamp to [-half, half) and add half: the saturated value with its sign bit inverted
            q = saturate(rshift_round(p, Fp - table_frac), cfg.lut_bits)
            return Cat(q[:cfg.lut_bits - 1], ~q[cfg.lut_bits - 1])

        # stage 0: pre-activations (registered: the accumulators arrive from block RAM outputs)
        s1_valid, s1_tag = Signal(), Signal.like(self.i_tag)
        s1_u, s1_r, s1_gx, s1_gh = (Signal(signed(P), name=f"s1_{n}") for n in ("u", "r", "gx", "gh"))
        m.d.sync += [s1_valid.eq(self.i_valid), s1_tag.eq(self.i_tag)]
        for reg, gate in zip((s1_u, s1_r, s1_gx, s1_gh), ("u", "r", "gx", "gh"), strict=True):
            m.d.sync += reg.eq(preact(getattr(self, f"i_a_{gate}"), getattr(self, f"i_b_{gate}")))

        # stage 1: u and r table reads
        m.d.comb += [addrs["update"].eq(address(s1_u, cfg.sigmoid_frac)),
                     addrs["sigmoid"].eq(address(s1_r, cfg.sigmoid_frac))]
        s2_valid, s2_tag = Signal(), Signal.like(self.i_tag)
        # s2_gh and s4_u feed only a multiplier: without reset they can be the DSP block's input registers
        s2_gx, s2_gh = Signal(signed(P)), Signal(signed(P), reset_less=True)
        m.d.sync += [s2_valid.eq(s1_valid), s2_tag.eq(s1_tag), s2_gx.eq(s1_gx), s2_gh.eq(s1_gh)]

        # stage 2: the reset gate's product r * gh, rounded once (registered: a table read feeding
        # a multiplier fills a cycle on small FPGAs)
        u, r = luts["update"].data, luts["sigmoid"].data
        s3_valid, s3_tag = Signal(), Signal.like(self.i_tag)
        # wide enough for any S-bit table entry a host may load, so the sum saturates as specified
        s3_rg, s3_gx = Signal(signed(S + P + 1 - F)), Signal(signed(P))
        s3_u = Signal(signed(S))
        m.d.sync += [s3_valid.eq(s2_valid), s3_tag.eq(s2_tag), s3_rg.eq(rshift_round(r * s2_gh, F)),
                     s3_gx.eq(s2_gx), s3_u.eq(u)]

        # stage 3: candidate pre-activation and the tanh table read
        p_g = Signal(signed(P))
        m.d.comb += [p_g.eq(saturate(s3_gx + s3_rg, P)), addrs["tanh"].eq(address(p_g, cfg.tanh_frac))]
        s4_valid, s4_tag = Signal(), Signal.like(self.i_tag)
        s4_u = Signal(signed(S), reset_less=True)
        m.d.sync += [s4_valid.eq(s3_valid), s4_tag.eq(s3_tag), s4_u.eq(s3_u)]

        # stage 4: the product u (c - g), rounded once (registered, as in stage 2); c and the
        # threshold arrive now (LATE)
        g = luts["tanh"].data
        s5_valid, s5_tag = Signal(), Signal.like(self.i_tag)
        s5_g, s5_thr = Signal(signed(S)), Signal(signed(S))
        s5_p = Signal(signed(2 * S + 2 - F))  # any S-bit u, c and g (see s3_rg)
        m.d.sync += [s5_valid.eq(s4_valid), s5_tag.eq(s4_tag), s5_g.eq(g), s5_thr.eq(self.i_thr),
                     s5_p.eq(rshift_round(s4_u * (self.i_c - g), F))]

        # stage 5: c_hat = g + u (c - g); strict threshold; reset by subtraction
        c_hat = Signal(signed(S))
        m.d.comb += c_hat.eq(saturate(s5_g + s5_p, S))
        with m.If(self.lut_read | self.lut_we):
            for kind in LUT_KINDS:
                m.d.comb += addrs[kind].eq(self.lut_addr)
        fire = c_hat > s5_thr
        m.d.comb += [
            self.o_valid.eq(s5_valid),
            self.o_tag.eq(s5_tag),
            self.o_fire.eq(s5_valid & fire),
            self.o_y.eq(Mux(fire, c_hat, 0)),
            self.o_c.eq(Mux(fire, c_hat - s5_thr, c_hat)),
        ]
        return m



