"""The readout: logits = b + (sum over the last layer's events of y) W_out, and the class."""

from amaranth.hdl import Array, Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.core.dsp import ECP5_WIDTH, RegisteredMultiplier
from hw.fixed import reject
from hw.spec.layout import CoreGeometry, bits
from hw.spec.schedule import schedule

# signed operand bits of the DSP blocks the deep pipeline keeps its products within (the ECP5
# MULT18X18D and the Gowin MULT18X18 take 18; the iCE40's SB_MAC16 16, where Yosys splits)
DSP_BITS = ECP5_WIDTH
# result word kinds
R_LOGIT, R_CLASS = 0, 1


def result_layout(g: CoreGeometry) -> data.StructLayout:
    """A result word: a logit (kind R_LOGIT, its class in ``index``) or the class (R_CLASS)."""
    return data.StructLayout({"kind": 1, "index": bits(g.C + 1), "value": signed(g.RB)})


class Readout(wiring.Component):
    """Computes the logits from the per-unit event sums, one class at a time with one multiplier,
    and sends them and the class on ``result``.

    It owns no memory: the core's event-sum memories (one per lane; unit k's sum at lane
    k mod P, word k div P; lane 0 also holds the readout biases at words M + n) and lane 0's
    weight memory (W_out[k][n] at row address k * C + n, behind the weights) are read and
    written through the ports below, which the core gives to the readout while it runs:

    * ``sum_sel``: the sums' read address is ``sum_addr`` (all lanes); ``sum_data`` the
      lanes' words, one cycle after their address (block RAM). ``sum_we`` (a bit per lane),
      ``sum_waddr``, ``sum_wdata``: the write of a compacted entry.
    * ``bias_sel``: lane 0's read address is its bias word M + ``bias_index`` (it overrides
      ``sum_sel`` there).
    * ``w_sel``: lane 0's weight memory reads row address ``w_addr`` of W_out; ``w_data`` the
      weight, a cycle later.

    ``start`` (one cycle, while idle) begins a readout; ``done`` is high in the cycle the
    class is accepted; ``cycles`` counts its cycles (stalls of ``result`` not counted) and
    keeps the count until the next start.

    Schedule (cycles of the deep pipeline; the short one has no register behind the memories
    nor on the write-back, the W_out address and the multipliers' inputs: two cycles less in
    SCAN and four per class).
    SCAN (H + readout_scan cycles): unit k's sum is
    read in cycle k, registered in k + 1 and, when nonzero, written back in cycle k + 2 (from
    registers, k + 3) as entry j (row address k * C, sum) of the same memories, at lane
    j mod P, word j div P: j <= k, so that place has been read already. Then per class n, MAC
    (nnz + readout_per_class - 1 cycles): entry j is read in cycle j and registered in j + 1,
    its row address row + n registered in j + 2, W_out[row + n] read in j + 3 and registered in
    j + 4 (with the sum), both taken into the multiplier's input registers in j + 5 (a
    RegisteredMultiplier), the product registered in j + 6 and added to the logit in j + 7;
    SEND (1 cycle) sends the logit and
    starts the next class's at its bias. Last, CLASS sends the class (ties keep the lowest;
    deep: a cycle after the last logit's compare, readout_final 2).
    Latency: H + readout_scan + C x (nnz + readout_per_class) + readout_final cycles
    (hw.spec.schedule; nnz = the units whose sum is nonzero), as sw/cycles.py predicts.
    Throughput: one readout at a time; one MAC per cycle.
    """

    def __init__(self, geometry: CoreGeometry):
        if not isinstance(geometry, CoreGeometry):
            reject(self, TypeError(f"Readout: geometry must be a CoreGeometry, got {type(geometry).__name__}"))
        g = self._g = geometry
        self._sched = schedule(g.cfg.pipeline)
        self.row_bits = bits(g.H * g.C)
        # a sum word also has room for W_out's row address k * C (a compacted entry), and lane
        # 0's words M + n hold the biases
        self.sum_width = max(g.SB + self.row_bits, g.RBB)
        self.result_layout = result_layout(g)
        super().__init__({
            "start": In(1), "done": Out(1), "cycles": Out(g.cycle_bits),
            "result": Out(stream.Signature(self.result_layout)),
            "sum_sel": Out(1), "sum_addr": Out(range(g.M + 1)),
            "sum_data": In(data.ArrayLayout(unsigned(self.sum_width), g.P)),
            "sum_we": Out(g.P), "sum_waddr": Out(range(g.M + 1)), "sum_wdata": Out(unsigned(self.sum_width)),
            "bias_sel": Out(1), "bias_index": Out(range(g.C)),
            "w_sel": Out(1), "w_addr": Out(range(g.H * g.C + g.C)), "w_data": In(signed(g.WB)),
        })

    def elaborate(self, platform):  # noqa: C901  (one schedule, as its docstring states it)
        g, sched = self._g, self._sched
        P, M, H, C = g.P, g.M, g.H, g.C
        deep = sched.deep
        m = Module()

        ro_k = Signal(range(H + sched.readout_scan))  # SCAN: the next unit read
        ro_kc = Signal(range(H * C + 1))       # its row address k * C
        ro_n = Signal(range(C + 1))
        nnz = Signal(range(H + 1))             # entries (units with a nonzero event sum)
        mc = Signal(range(H + sched.readout_per_class - 1))  # MAC: cycle within the class
        rd_lane, rd_addr = Signal(range(max(P, 2))), Signal(range(M + 1))  # the next sum read
        wr_lane, wr_addr = Signal.like(rd_lane), Signal.like(rd_addr)      # the next entry written
        q_valid, q_lane, q_kc = Signal(), Signal.like(rd_lane), Signal.like(ro_kc)  # the read in flight
        logit = Signal(signed(g.RB))
        best, best_n = Signal(signed(g.RB)), Signal(range(C + 1))
        cycles = Signal.like(self.cycles)
        m.d.comb += self.cycles.eq(cycles)

        def advance(lane_, addr_):
            """The next place in unit order: lane + 1, or lane 0 of the next address."""
            if P == 1:
                m.d.sync += addr_.eq(addr_ + 1)
            else:
                with m.If(lane_ == P - 1):
                    m.d.sync += [lane_.eq(0), addr_.eq(addr_ + 1)]
                with m.Else():
                    m.d.sync += lane_.eq(lane_ + 1)

        reading, scanning, macing = Signal(), Signal(), Signal()
        # the sums' address is the readout's in SCAN and MAC, whether or not a sum is read in
        # that cycle (a word read when none is wanted is dropped: q_valid follows ``reading``):
        # the phase is a decode of the state register, while ``reading`` compares counters
        # (mc < nnz), and that compare in front of the address of the sums' memories (LUT RAM,
        # asynchronous read) was the worst path of the core at P = 2
        m.d.comb += [self.sum_sel.eq(scanning | macing), self.sum_addr.eq(rd_addr)]
        m.d.sync += [q_valid.eq(0), q_lane.eq(rd_lane)]
        with m.If(reading):
            m.d.sync += q_valid.eq(1)
            advance(rd_lane, rd_addr)
        # the word read, registered (the event sums' memories are block RAM; deep: registered first)
        sum_word, e_valid, e_kc = Signal(g.SB + self.row_bits), Signal(), Signal.like(q_kc)
        sum_read = Array(self.sum_data[p] for p in range(P))[q_lane]
        if deep:
            m.d.sync += [sum_word.eq(sum_read), e_valid.eq(q_valid), e_kc.eq(q_kc)]
        else:
            m.d.comb += [sum_word.eq(sum_read), e_valid.eq(q_valid), e_kc.eq(q_kc)]
        sum_data = sum_word[:g.SB].as_signed()
        we = Signal(P)
        with m.If(scanning & e_valid & (sum_data != 0)):
            for p in range(P):
                m.d.comb += we[p].eq(wr_lane == p)
            m.d.sync += nnz.eq(nnz + 1)
            advance(wr_lane, wr_addr)
        write = [self.sum_we.eq(we), self.sum_waddr.eq(wr_addr), self.sum_wdata.eq(Cat(sum_data, e_kc))]
        # the deep pipeline writes an entry a cycle later, from registers: the nonzero compare
        # behind the registered sum, into the write enables of every lane's sums (LUT RAM), was
        # the worst path of the core at P = 4. SCAN is a cycle longer for it (readout_scan)
        if deep:
            m.d.sync += write
        else:
            m.d.comb += write

        # MAC pipeline: entry -> registered -> (deep: W_out address registered) -> W_out read ->
        # registered -> (deep: the multipliers' own input registers) -> product -> logit
        m.d.comb += self.w_sel.eq(macing)
        if deep:  # the row's adder registered: behind it, the weights' address multiplexer was the worst path at P = 1
            m.d.sync += self.w_addr.eq(sum_word[g.SB:] + ro_n)
        else:
            m.d.comb += self.w_addr.eq(sum_word[g.SB:] + ro_n)
        # (no reset on the multiplier's operand and product registers: a DSP block's have none)
        ro_s, ro_s_valid = Signal(signed(g.SB)), Signal()
        ro_s2, ro_w, ro_w_valid = Signal(signed(g.SB), reset_less=True), Signal(signed(g.WB), reset_less=True), Signal()
        ro_prod, ro_prod_valid = Signal(signed(g.SB + g.WB), reset_less=True), Signal()
        m.d.sync += [ro_s.eq(sum_data), ro_s_valid.eq(macing & e_valid)]
        if deep:  # W_out registered, with the sum, then both taken into RegisteredMultipliers
            # (hw/core/dsp.py: the DSP blocks' own registers on ECP5, a cycle more per class: the
            # product's register and the DSP block, placed apart, were the worst path at P = 8)
            # (the sum waits a cycle more for the weight read from the registered address)
            ro_s1, ro_s1_valid = Signal(signed(g.SB), reset_less=True), Signal()
            ro_m_valid = Signal()  # the operands inside the multipliers
            m.d.sync += [ro_s1.eq(ro_s), ro_s1_valid.eq(ro_s_valid), ro_s2.eq(ro_s1), ro_w.eq(self.w_data),
                         ro_w_valid.eq(ro_s1_valid), ro_m_valid.eq(ro_w_valid), ro_prod_valid.eq(ro_m_valid)]

            def product(name, a):
                mul = m.submodules[name] = RegisteredMultiplier(a.shape(), ro_w.shape())
                m.d.comb += [mul.a.eq(a), mul.b.eq(ro_w)]
                return mul.p

            if g.SB > DSP_BITS:
                # a sum wider than a DSP block's operand: two products, each a DSP block of its own
                # with its output register, added to the logit together (Yosys would otherwise
                # split the multiplier and put the adder of its halves behind it, unregistered).
                # The high half is signed (a slice is unsigned in Amaranth: taken as it is, a
                # negative sum, y < 0 from a negative threshold, gave a wrong logit)
                lo_bits = DSP_BITS - 1
                p_lo = product("mul_lo", Cat(ro_s2[:lo_bits], 0).as_signed())
                p_hi = product("mul_hi", ro_s2[lo_bits:].as_signed())
                m.d.comb += ro_prod.eq((p_hi << lo_bits) + p_lo)
            else:
                m.d.comb += ro_prod.eq(product("mul", ro_s2))
        else:
            m.d.sync += [ro_prod.eq(ro_s * self.w_data), ro_prod_valid.eq(ro_s_valid)]
        with m.If(ro_prod_valid):
            m.d.sync += logit.eq(logit + ro_prod)
        # class n's bias is lane 0's sum word M + n, read in the cycle before its MAC starts
        m.d.comb += self.bias_index.eq(0)
        bias_word = self.sum_data[0][:g.RBB].as_signed()
        if deep:  # registered first: the class's first product is added at mc = 7
            bias_q = Signal.like(bias_word)
            m.d.sync += bias_q.eq(bias_word)
            with m.If(macing & (mc == 1)):
                m.d.sync += logit.eq(bias_q)
        else:
            with m.If(macing & (mc == 0)):
                m.d.sync += logit.eq(bias_word)

        rs = self.result.payload
        # The deep pipeline takes the argmax a cycle after each logit is sent, from a copy of
        # the logit: the logit register, placed toward the command unit that takes the logits,
        # was 4.5 ns of routing from the compare that enables the best's register (the UART
        # top's worst path at P = 1).
        cand, cand_n, cand_valid = Signal.like(logit), Signal.like(best_n), Signal()
        if deep:
            m.d.sync += cand_valid.eq(0)  # (SEND's assignment below overrides)
            with m.If(cand_valid & ((cand_n == 0) | (cand > best))):
                m.d.sync += [best.eq(cand), best_n.eq(cand_n)]  # ties keep the lowest class
        with m.FSM():
            with m.State("IDLE"):
                # the counters restart in every idle cycle, not only at the start: the start
                # comes late in its cycle (from the core's drained output FIFOs), and as their
                # clock enable it was the UART top's worst path at P = 1. ``cycles`` keeps the
                # last readout's count for the host until the next start.
                m.d.sync += [ro_k.eq(0), ro_kc.eq(0), rd_lane.eq(0), rd_addr.eq(0), wr_lane.eq(0),
                             wr_addr.eq(0), nnz.eq(0)]
                with m.If(self.start):
                    m.d.sync += cycles.eq(0)
                    m.next = "SCAN"
            with m.State("SCAN"):
                m.d.comb += [scanning.eq(1), reading.eq(ro_k < H)]
                m.d.sync += [cycles.eq(cycles + 1), q_kc.eq(ro_kc)]
                with m.If(ro_k < H + sched.readout_scan - 1):
                    m.d.sync += ro_k.eq(ro_k + 1)
                    with m.If(ro_k < H):
                        m.d.sync += ro_kc.eq(ro_kc + C)
                with m.Else():  # unit H - 1's sum is written in this cycle; class 0 starts
                    m.d.comb += [self.bias_sel.eq(1), self.bias_index.eq(0)]
                    m.d.sync += [rd_lane.eq(0), rd_addr.eq(0), mc.eq(0), ro_n.eq(0)]
                    m.next = "MAC"
            with m.State("MAC"):
                m.d.comb += [macing.eq(1), reading.eq(mc < nnz)]
                m.d.sync += [cycles.eq(cycles + 1), mc.eq(mc + 1)]
                with m.If(mc == nnz + sched.readout_per_class - 2):  # the last product is added in this cycle
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.result.valid.eq(1), rs.kind.eq(R_LOGIT), rs.index.eq(ro_n), rs.value.eq(logit),
                             self.bias_sel.eq(ro_n != C - 1), self.bias_index.eq(ro_n + 1)]
                with m.If(self.result.ready):
                    m.d.sync += cycles.eq(cycles + 1)
                    if deep:  # compared in the next cycle, from a copy beside the best
                        m.d.sync += [cand.eq(logit), cand_n.eq(ro_n), cand_valid.eq(1)]
                    else:
                        with m.If((ro_n == 0) | (logit > best)):
                            m.d.sync += [best.eq(logit), best_n.eq(ro_n)]  # ties keep the lowest class
                    with m.If(ro_n == C - 1):
                        m.next = "CLASS"
                    with m.Else():
                        m.d.sync += [ro_n.eq(ro_n + 1), rd_lane.eq(0), rd_addr.eq(0), mc.eq(0)]
                        m.next = "MAC"
            with m.State("CLASS"):
                if deep:  # (the last class's compare is in CLASS's first cycle: the class waits for it)
                    m.d.comb += [self.result.valid.eq(~cand_valid), rs.kind.eq(R_CLASS), rs.index.eq(best_n),
                                 rs.value.eq(best)]
                    with m.If(cand_valid):
                        m.d.sync += cycles.eq(cycles + 1)
                else:
                    m.d.comb += [self.result.valid.eq(1), rs.kind.eq(R_CLASS), rs.index.eq(best_n),
                                 rs.value.eq(best)]
                with m.If(self.result.valid & self.result.ready):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += cycles.eq(cycles + 1)
                    m.next = "IDLE"
        return m
