"""The AXI IP of the accelerator: the core behind AXI4-Stream data ports and an AXI4-Lite
control slave, with the port names Vivado's IP packager infers as interfaces (UG1118).

The register map and the output beat format are defined once in hw/spec/axi.py.
"""

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, Module, Mux, ResetInserter, ResetSignal, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.core import C_READOUT, C_STEP, R_LOGIT, EGRUCore
from hw.fixed import reject
from hw.spec import axi as spec
from hw.spec.layout import CoreImage
from hw.spec.protocol import COUNTER_FIELDS, info_document


def _ext(value, width: int = 32):
    """``value`` sign- or zero-extended (as its shape says) to ``width`` bits, or truncated."""
    value = Value.cast(value)
    if len(value) >= width:
        return value[:width]
    if value.shape().signed:
        return Cat(value, value[-1].replicate(width - len(value)))
    return Cat(value, Const(0, width - len(value)))


class InputAdapter(wiring.Component):
    """s_axis beats (one input element each, tlast = end of step, tuser = end of sequence) ->
    the core's ``inputs`` words (index, value, last, end). Combinational, zero latency, one beat
    per cycle whenever the core accepts inputs (between steps); the core skips zero values.

    Checks (one-cycle error pulses, the stream never stalls on them): bits above input_bits that
    are not the sign (the value is truncated), more than input_size beats in a step (the extra
    beats are dropped; a dropped beat with tlast still ends the step), a sequence reaching
    max_steps without tuser (its last step is ended as the sequence's end). A step of fewer
    beats is one whose remaining elements are zero."""

    def __init__(self, core: EGRUCore, width: int):
        self._core = core
        super().__init__({
            "tdata": In(width), "tvalid": In(1), "tready": Out(1), "tlast": In(1), "tuser": In(1),
            "inputs": Out(stream.Signature(core.input_layout)),
            "restart": In(1),           # the core is cancelled this cycle: next beat is element 0
            "range_error": Out(1), "length_error": Out(1), "steps_error": Out(1),
            "in_sequence": Out(1), "beat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._core.geometry
        k = Signal(range(max(g.I, 2)))      # the element index of the next beat
        over = Signal()                     # input_size beats of this step were taken
        steps = Signal(range(g.cfg.max_steps))
        ib = g.cfg.input_bits
        top = self.tdata[ib - 1:]
        force_end = steps == g.cfg.max_steps - 1
        drop = over
        ip = self.inputs.payload
        end = self.tuser | force_end
        m.d.comb += [ip.index.eq(Mux(drop, 0, k)), ip.value.eq(Mux(drop, 0, self.tdata[:ib])),
                     ip.last.eq(self.tlast & ~end), ip.end.eq(self.tlast & end),
                     self.inputs.valid.eq(self.tvalid & (~drop | self.tlast) & ~self.restart),
                     self.tready.eq(~self.restart & (Mux(drop & ~self.tlast, 1, self.inputs.ready)))]
        take = self.tvalid & self.tready
        m.d.comb += self.beat.eq(take)
        with m.If(self.restart):
            m.d.sync += [k.eq(0), over.eq(0), steps.eq(0), self.in_sequence.eq(0)]
        with m.Elif(take):
            m.d.comb += [self.range_error.eq((top != 0) & (top != (1 << len(top)) - 1) & ~drop),
                         self.length_error.eq(drop)]
            with m.If(self.tlast):
                m.d.sync += [k.eq(0), over.eq(0)]
                with m.If(end):
                    m.d.sync += [steps.eq(0), self.in_sequence.eq(0)]
                    m.d.comb += self.steps_error.eq(force_end & ~self.tuser)
                with m.Else():
                    m.d.sync += [steps.eq(steps + 1), self.in_sequence.eq(1)]
            with m.Else():
                m.d.sync += k.eq(k + 1)
                with m.If(k == g.I - 1):
                    m.d.sync += over.eq(1)
        return m


class OutputAdapter(wiring.Component):
    """The core's ``events``, ``result`` and ``counters`` streams -> one m_axis stream of 64-bit
    beats (hw/spec/axi.py: one beat per fired unit, logit, class and counter field). tlast closes
    each step (its last counter beat) and each sequence (the readout beat, tuser = 1).

    One registered output beat: one beat per cycle while m_axis_tready is high, latency one
    cycle from a core word to its first beat; back-pressure reaches the core through its
    streams' ready (the core stalls its update phase, uncounted)."""

    def __init__(self, core: EGRUCore):
        self._core = core
        super().__init__({
            "events": In(stream.Signature(core.event_layout)),
            "result": In(stream.Signature(core.result_layout)),
            "counters": In(stream.Signature(core.counter_layout)),
            "tdata": Out(spec.OUT_BITS), "tvalid": Out(1), "tready": In(1), "tlast": Out(1), "tuser": Out(1),
            # the last step's counters, the last readout and class, for the registers
            "step_counters": Out(32 * len(COUNTER_FIELDS)), "readout_cycles": Out(32), "last_class": Out(16),
            "step_done": Out(1), "sequence_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._core.geometry
        P = g.P
        load = ~self.tvalid | self.tready
        with m.If(self.tvalid & self.tready):
            m.d.sync += self.tvalid.eq(0)

        def beat(tag, byte1, half1, value, last=0, user=0):
            m.d.sync += [self.tdata.eq(Cat(Const(tag, 8), _ext(byte1, 8), _ext(half1, 16), _ext(value, 32))),
                         self.tvalid.eq(1), self.tlast.eq(last), self.tuser.eq(user)]

        ev, rs, cw = self.events.payload, self.result.payload, self.counters.payload
        sent = Signal(P)
        rem = ev.fire & ~sent
        lane = Signal(range(max(P, 2)))
        for p in reversed(range(P)):  # the lowest lane still to send
            with m.If(rem[p]):
                m.d.comb += lane.eq(p)
        only = (rem & ~(1 << lane)[:P]) == 0 if P > 1 else Const(1)
        fields = [_ext(getattr(cw, name)) for name, _ in COUNTER_FIELDS]
        f = Signal(range(len(fields)))
        with m.If(self.events.valid):
            with m.If(rem == 0):
                m.d.comb += self.events.ready.eq(1)
                m.d.sync += sent.eq(0)
            with m.Elif(load):
                beat(spec.TAG_EVENT, ev.layer, ev.m * P + lane, ev.y[lane])
                m.d.sync += sent.eq(sent | (1 << lane)[:P])
                with m.If(only):
                    m.d.comb += self.events.ready.eq(1)
                    m.d.sync += sent.eq(0)
        with m.Elif(self.result.valid):
            with m.If(load):
                m.d.comb += self.result.ready.eq(1)
                with m.If(rs.kind == R_LOGIT):
                    m.d.sync += [self.tdata.eq(Cat(Const(spec.TAG_LOGIT, 8), _ext(rs.index, 16),
                                                   _ext(rs.value, spec.LOGIT_BITS))),
                                 self.tvalid.eq(1), self.tlast.eq(0), self.tuser.eq(0)]
                with m.Else():
                    beat(spec.TAG_CLASS, 0, rs.index, 0)
                    m.d.sync += self.last_class.eq(rs.index)
        with m.Elif(self.counters.valid):
            with m.If(load & (cw.kind == C_STEP)):
                value = Signal(32)
                with m.Switch(f):
                    for i, fv in enumerate(fields):
                        with m.Case(i):
                            m.d.comb += value.eq(fv)
                final = f == len(fields) - 1
                beat(spec.TAG_COUNTER, f, cw.step, value, last=final)
                m.d.sync += f.eq(f + 1)
                with m.If(final):
                    m.d.comb += [self.counters.ready.eq(1), self.step_done.eq(1)]
                    m.d.sync += [f.eq(0), self.step_counters.eq(Cat(*fields))]
            with m.Elif(load & (cw.kind == C_READOUT)):
                beat(spec.TAG_COUNTER, spec.READOUT_FIELD, 0, cw.cycles, last=1, user=1)
                m.d.comb += [self.counters.ready.eq(1), self.sequence_done.eq(1)]
                m.d.sync += self.readout_cycles.eq(_ext(cw.cycles))
        return m


class AxiLiteSlave(wiring.Component):
    """An AXI4-Lite slave for the register map of hw/spec/axi.py: registers, the INFO window and
    the model memories through the core's load and peek ports.

    One transaction at a time: AW and W are accepted in any order (each held until both are
    there), a read waits while a write is being answered and vice versa (writes first). Latency:
    BVALID/RVALID rise one cycle after the last address/data handshake (an INFO read two, a
    memory read the core's peek latency + 1); a new address is accepted the cycle after the
    response's handshake, so with BREADY/RREADY held high one transaction takes about three
    cycles. Back-pressure on B and R holds the response (and the slave) until it is taken."""

    def __init__(self, core: EGRUCore, amap: spec.AxiMap, info: bytes):
        self._core, self._map, self._info = core, amap, info
        A = amap.addr_width
        super().__init__({
            "awaddr": In(A), "awprot": In(3), "awvalid": In(1), "awready": Out(1),
            "wdata": In(32), "wstrb": In(4), "wvalid": In(1), "wready": Out(1),
            "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
            "araddr": In(A), "arprot": In(3), "arvalid": In(1), "arready": Out(1),
            "rdata": Out(32), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
            "load": Out(stream.Signature(core.load_layout)),
            "peek": Out(stream.Signature(core.peek_layout)),
            "peek_data": In(core.geometry.data_bits), "peek_valid": In(1),
            "reg_values": In(32 * len(amap.registers)),   # read-only register values, in map order
            "control": Out(3),                             # CONTROL bits, one cycle
        })

    def _mem_decode(self, m, addr, target, lane, word, sub, ok):
        """Split a memory-window address and check target, lane and word against the map."""
        amap, g = self._map, self._core.geometry
        off = addr[2:amap.mem_bits]
        m.d.comb += [sub.eq(off[:amap.sub_bits] if amap.sub_bits else 0),
                     word.eq(off[amap.sub_bits:amap.sub_bits + amap.addr_bits]),
                     lane.eq(off[amap.sub_bits + amap.addr_bits:][:amap.lane_bits]),
                     target.eq(off[amap.sub_bits + amap.addr_bits + amap.lane_bits:])]
        gap = addr[amap.mem_bits:amap.addr_width - 1]  # between the window's size and its base bit
        with m.Switch(target):
            for t, (depth, per_lane) in g.targets().items():
                with m.Case(t):
                    m.d.comb += ok.eq((word < depth) & ((lane < g.P) if per_lane else (lane == 0))
                                      & (sub < amap.word_regs) & ((gap == 0) if len(gap) else 1))

    def elaborate(self, platform):  # noqa: C901  (one bus protocol, kept in one place)
        m = Module()
        amap, g = self._map, self._core.geometry
        A, top = amap.addr_width, amap.addr_width - 1
        nwords = -(-len(self._info) // 4)
        info = bytes(self._info) + bytes(4 * nwords - len(self._info))
        rom = Memory(shape=32, depth=max(nwords, 2),
                     init=[int.from_bytes(info[4 * i:4 * i + 4], "little") for i in range(nwords)])
        m.submodules.info = rom
        rom_rd = rom.read_port()

        aw_ok, w_ok, ar_ok = Signal(), Signal(), Signal()
        awaddr, araddr, wdata, wstrb = Signal(A), Signal(A), Signal(32), Signal(4)
        m.d.comb += [self.awready.eq(~aw_ok & ~self.bvalid), self.wready.eq(~w_ok & ~self.bvalid),
                     self.arready.eq(~ar_ok & ~self.rvalid)]
        with m.If(self.awvalid & self.awready):
            m.d.sync += [awaddr.eq(self.awaddr), aw_ok.eq(1)]
        with m.If(self.wvalid & self.wready):
            m.d.sync += [wdata.eq(self.wdata), wstrb.eq(self.wstrb), w_ok.eq(1)]
        with m.If(self.arvalid & self.arready):
            m.d.sync += [araddr.eq(self.araddr), ar_ok.eq(1)]
        with m.If(self.bvalid & self.bready):
            m.d.sync += self.bvalid.eq(0)
        with m.If(self.rvalid & self.rready):
            m.d.sync += self.rvalid.eq(0)

        # staging of the lower 32-bit slices of a wide memory word
        stage = Signal(32 * max(amap.word_regs - 1, 1))
        target, lane, word, sub, ok = Signal(spec.TARGET_BITS), Signal(amap.lane_bits), Signal(amap.addr_bits), \
            Signal(max(amap.sub_bits, 1)), Signal()
        sub_q = Signal.like(sub)
        reg_vals = {r.offset: self.reg_values[32 * i:32 * i + 32] for i, r in enumerate(amap.registers)}
        ctrl = amap.offset("CONTROL")

        def respond_b(code):
            m.d.sync += [self.bvalid.eq(1), self.bresp.eq(code), aw_ok.eq(0), w_ok.eq(0)]

        def respond_r(code, data=0):
            m.d.sync += [self.rvalid.eq(1), self.rresp.eq(code), self.rdata.eq(data), ar_ok.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(aw_ok & w_ok & ~self.bvalid):
                    with m.If(awaddr[top]):
                        self._mem_decode(m, awaddr, target, lane, word, sub, ok)
                        last_slice = sub == amap.word_regs - 1
                        with m.If(~ok):
                            respond_b(spec.DECERR)
                        with m.Elif(wstrb != 0xF):
                            respond_b(spec.SLVERR)
                        with m.Elif(~last_slice):
                            for i in range(amap.word_regs - 1):
                                with m.If(sub == i):
                                    m.d.sync += stage[32 * i:32 * i + 32].eq(wdata)
                            respond_b(spec.OKAY)
                        with m.Elif(~self.load.ready):
                            respond_b(spec.SLVERR)  # the UART protocol's BUSY
                        with m.Else():
                            ld = self.load.payload
                            data = Cat(stage[:32 * (amap.word_regs - 1)], wdata) if amap.word_regs > 1 else wdata
                            m.d.comb += [self.load.valid.eq(1), ld.target.eq(target), ld.lane.eq(lane),
                                         ld.addr.eq(word), ld.data.eq(data[:g.data_bits])]
                            respond_b(spec.OKAY)
                    with m.Elif(awaddr[2:top] == ctrl >> 2):
                        with m.If(wstrb[0]):
                            m.d.comb += self.control.eq(wdata[:3])
                        respond_b(spec.OKAY)
                    with m.Elif(awaddr[:top] < spec.REGISTER_SPACE):
                        respond_b(spec.SLVERR)  # read-only (or unmapped inside the register space)
                    with m.Else():
                        respond_b(spec.DECERR)
                with m.Elif(ar_ok & ~self.rvalid):
                    with m.If(araddr[top]):
                        self._mem_decode(m, araddr, target, lane, word, sub, ok)
                        with m.If(~ok):
                            respond_r(spec.DECERR)
                        with m.Elif(~self.peek.ready):
                            respond_r(spec.SLVERR)
                        with m.Else():
                            pk = self.peek.payload
                            m.d.comb += [self.peek.valid.eq(1), pk.target.eq(target), pk.lane.eq(lane),
                                         pk.addr.eq(word)]
                            m.d.sync += sub_q.eq(sub)
                            m.next = "PEEK"
                    with m.Elif((araddr[:top] >= spec.INFO_BASE) & (araddr[:top] < spec.INFO_BASE + 4 * nwords)):
                        m.d.comb += rom_rd.addr.eq(araddr[2:top] - (spec.INFO_BASE >> 2))
                        m.next = "INFO"
                    with m.Else():
                        hit = Signal()
                        with m.Switch(araddr[2:top]):
                            for off, value in reg_vals.items():
                                with m.Case(off >> 2):
                                    m.d.comb += hit.eq(1)
                                    respond_r(spec.OKAY, value)
                        with m.If(~hit):
                            respond_r(spec.DECERR)
            with m.State("INFO"):
                respond_r(spec.OKAY, rom_rd.data)
                m.next = "IDLE"
            with m.State("PEEK"):
                with m.If(self.peek_valid):
                    full = Signal(32 * amap.word_regs)
                    m.d.comb += full.eq(self.peek_data)
                    respond_r(spec.OKAY, full.word_select(sub_q, 32) if amap.word_regs > 1 else full)
                    m.next = "IDLE"
        return m


class EGRUAxi(wiring.Component):
    """The Verilog top ``egru_axi``: EGRUCore behind

    * ``s_axis_*``: input elements, ``input_bits`` rounded up to whole bytes of tdata, tlast =
      end of step, tuser = end of sequence (hw/spec/axi.py);
    * ``m_axis_*``: 64-bit result beats (events, logits, class, counters), tlast closing each step
      and each sequence (tuser on the sequence's);
    * ``s_axi_*``: the AXI4-Lite slave (control, status, counters, configuration, INFO, every
      model memory through the UART protocol's load-port map);
    * ``aclk``, ``aresetn`` (active low, synchronous).

    Latency and throughput: the core's (sw/cycles.py) per step; s_axis moves one beat per cycle
    while the core takes inputs (between steps), m_axis one beat per cycle (one registered
    stage), the AXI4-Lite slave one transaction every few cycles. CONTROL.SOFT_RESET resets
    the core and both stream adapters for one cycle (the model memories keep their contents;
    a beat being offered on m_axis is withdrawn); CONTROL.CANCEL takes effect at the next step
    boundary (the core's ``cancel``), after which the next s_axis beat is element 0 of a new
    sequence.
    """

    def __init__(self, image: CoreImage, version: str = "0", clock_ports: bool = True):
        """``clock_ports=False`` (for amaranth.sim) leaves out ``aclk``/``aresetn``: the design
        then runs in the enclosing ``sync`` domain and its reset."""
        if not isinstance(image, CoreImage):
            reject(self, TypeError(f"EGRUAxi: image must be a CoreImage, got {type(image).__name__}"))
        if not isinstance(version, str):
            reject(self, TypeError(f"EGRUAxi: version must be a string, got {type(version).__name__}"))
        if not isinstance(clock_ports, bool):
            reject(self, TypeError(f"EGRUAxi: clock_ports must be True or False, got {clock_ports!r}"))
        if image.cfg.per_step:  # its tuser marks a sequence's one readout; a readout per step needs a new beat map
            reject(self, ValueError("EGRUAxi: the AXI IP reads out once per sequence; a model with a per-step "
                                    "readout runs on the UART top (egru verilog / sim / serve-sim without --top axi)"))
        self.core = EGRUCore(image)
        g = self.core.geometry
        try:
            self.map = spec.AxiMap(g)
            self.info = info_document(self.map.wire, 0, version)
        except ValueError as e:
            reject(self, ValueError(f"EGRUAxi: {e}"))
        A, IB = self.map.addr_width, self.map.input_bits
        self._clock_ports = bool(clock_ports)
        clocks = {"aclk": In(1), "aresetn": In(1, init=1)} if clock_ports else {}
        super().__init__({
            **clocks,
            "s_axis_tdata": In(IB), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1), "s_axis_tuser": In(1),
            "m_axis_tdata": Out(spec.OUT_BITS), "m_axis_tvalid": Out(1), "m_axis_tready": In(1),
            "m_axis_tlast": Out(1), "m_axis_tuser": Out(1),
            "s_axi_awaddr": In(A), "s_axi_awprot": In(3), "s_axi_awvalid": In(1), "s_axi_awready": Out(1),
            "s_axi_wdata": In(32), "s_axi_wstrb": In(4), "s_axi_wvalid": In(1), "s_axi_wready": Out(1),
            "s_axi_bresp": Out(2), "s_axi_bvalid": Out(1), "s_axi_bready": In(1),
            "s_axi_araddr": In(A), "s_axi_arprot": In(3), "s_axi_arvalid": In(1), "s_axi_arready": Out(1),
            "s_axi_rdata": Out(32), "s_axi_rresp": Out(2), "s_axi_rvalid": Out(1), "s_axi_rready": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        if self._clock_ports:
            m.domains.sync = ClockDomain("sync")
            m.d.comb += [ClockSignal("sync").eq(self.aclk), ResetSignal("sync").eq(~self.aresetn)]
        core, amap = self.core, self.map
        soft = Signal()        # CONTROL.SOFT_RESET, registered: one cycle of reset
        m.submodules.core = ResetInserter(soft)(core)
        inp = InputAdapter(core, amap.input_bits)
        out = OutputAdapter(core)
        m.submodules.inputs = ResetInserter(soft)(inp)
        m.submodules.outputs = ResetInserter(soft)(out)
        m.submodules.slave = slave = AxiLiteSlave(core, amap, self.info)

        for name in ("tdata", "tvalid", "tlast", "tuser"):
            m.d.comb += getattr(inp, name).eq(getattr(self, f"s_axis_{name}"))
        m.d.comb += self.s_axis_tready.eq(inp.tready)
        for name in ("tdata", "tvalid", "tlast", "tuser"):
            m.d.comb += getattr(self, f"m_axis_{name}").eq(getattr(out, name))
        m.d.comb += out.tready.eq(self.m_axis_tready)
        wiring.connect(m, inp.inputs, core.inputs)
        for name in ("events", "result", "counters"):
            wiring.connect(m, getattr(core, name), getattr(out, name))
        wiring.connect(m, slave.load, core.load)
        wiring.connect(m, slave.peek, core.peek)
        m.d.comb += [slave.peek_data.eq(core.peek_data), slave.peek_valid.eq(core.peek_valid)]
        for name in ("awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                     "araddr", "arprot", "arvalid", "rready"):
            m.d.comb += getattr(slave, name).eq(getattr(self, f"s_axi_{name}"))
        for name in ("awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp", "rvalid"):
            m.d.comb += getattr(self, f"s_axi_{name}").eq(getattr(slave, name))

        # ---- control: cancel waits for the step boundary (the core's LOAD state, not busy)
        cancel_pending = Signal()
        cancel_now = cancel_pending & ~core.busy
        m.d.comb += [core.cancel.eq(cancel_now), inp.restart.eq(cancel_now)]
        m.d.sync += soft.eq(slave.control[1])
        with m.If(slave.control[0]):
            m.d.sync += cancel_pending.eq(1)
        with m.Elif(cancel_now | soft):
            m.d.sync += cancel_pending.eq(0)
        errors = Signal(3)
        with m.If(slave.control[2] | soft):
            m.d.sync += errors.eq(0)
        with m.Else():
            m.d.sync += errors.eq(errors | Cat(inp.range_error, inp.length_error, inp.steps_error))
        # ---- counters (soft reset clears them too)
        totals = {name: Signal(32) for name in ("TOTAL_STEPS", "TOTAL_SEQUENCES", "BUSY_CYCLES", "IN_BEATS",
                                                "OUT_BEATS")}
        incr = {"TOTAL_STEPS": out.step_done, "TOTAL_SEQUENCES": out.sequence_done, "BUSY_CYCLES": core.busy,
                "IN_BEATS": inp.beat, "OUT_BEATS": self.m_axis_tvalid & self.m_axis_tready}
        for name, sig in totals.items():
            with m.If(soft):
                m.d.sync += sig.eq(0)
            with m.Elif(incr[name]):
                m.d.sync += sig.eq(sig + 1)
        status = Cat(core.busy | out.tvalid, inp.in_sequence, cancel_pending, errors)
        values = {"ID": spec.MAGIC, "VERSION": spec.VERSION | (spec.MAP_VERSION << 16), "CONTROL": 0,
                  "STATUS": status, "INFO_LENGTH": len(self.info), "LAST_CLASS": out.last_class,
                  "READOUT_CYCLES": out.readout_cycles, **totals}
        for i, (name, _n) in enumerate(COUNTER_FIELDS):
            values[f"STEP_{name.upper()}"] = out.step_counters[32 * i:32 * i + 32]
        for name, value, _d in amap.geometry_values():
            values[name] = value
        for t, (depth, per_lane) in core.geometry.targets().items():
            values[f"TARGET_{t}_DEPTH"] = depth | (int(per_lane) << 31)
        m.d.comb += slave.reg_values.eq(Cat(*(_ext(Const(values[r.name], 32) if isinstance(values[r.name], int)
                                                   else values[r.name]) for r in amap.registers)))
        return m


