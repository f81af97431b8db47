"""The event-routed EGRU core: P lanes, sparse weight memories, event buffers, update units,
stacked layers on one datapath and an on-chip readout.

Schedule of one time step, per layer l (docs/datapath.md has the diagrams):

* **route**: a front-end walks the layer's input events (layer 0: the nonzero elements of the
  input vector; layer l > 0: layer l-1's events of this step) and then its recurrent events (its
  own events of the previous step), reads each event's column pointer and queues a descriptor;
  a back-end reads the column's padded lane lists, one address per cycle for all lanes, and each
  lane multiplies and adds into its accumulator bank (read-modify-write, transparent reads so
  that back-to-back updates of one unit are exact). A column of length L costs max(L, 1) cycles;
  the front-end runs ahead so no cycle is lost between columns.
* **update**: every lane updates one unit per cycle (UpdateLane), ceil(H/P) cycles, clears the
  accumulators behind itself, writes the state, appends events to the layer's event buffer
  (ping-pong halves by step parity) and sends them out as beats of P lanes.

After a sequence's last step the **readout** multiplies the per-unit sums of the last layer's
event values (accumulated during the updates) with the readout weights, for units whose sum is
nonzero (compacted first), one class at a time, and sends the logits and the class. With a
per-step readout (configuration readout "step") the sums hold one step's event values and the
readout runs after every step: only the rows of units that fired in the step are read.

Streams: ``inputs`` (index, value, last = end of step, end = end of sequence), ``events``,
``result``, ``counters`` (one word per step and one per readout), optional ``trace`` (every
unit's c, o, y per step) and ``load`` (writes any model memory while the core is idle); ``peek``
reads any model memory back while the core is idle (``peek_data`` with ``peek_valid`` one cycle
later), and ``cancel`` abandons a sequence between its steps.
The exact cycle counts are predicted by sw/cycles.py.
"""

import functools
import operator

from amaranth.hdl import Array, Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.core.dsp import dsp_family
from hw.core.mac import MacLane
from hw.core.ports import SlicedMemory, slice_width, synchronous_read
from hw.core.readout import DSP_BITS, Readout, result_layout
from hw.core.route import EventIssuer
from hw.core.update import UpdateLane
from hw.core.walker import ColumnWalker
from hw.fixed import reject
from hw.spec import LUT_KINDS
from hw.spec.contents import home_extent, initial_words, tenants
from hw.spec.layout import (
    GATES,
    T_BIAS_U,
    T_LUT_SIGMOID,
    T_LUT_TANH,
    T_LUT_UPDATE,
    T_POINTER,
    T_READOUT_B,
    T_READOUT_W,
    T_THR,
    T_WEIGHT,
    CoreGeometry,
    CoreImage,
)
from hw.spec.layout import bits as _bits
from hw.spec.memmap import MEMORY, evaluate
from hw.spec.schedule import schedule
from hw.stream_reg import SkidBuffer

# counter word kinds
C_STEP, C_READOUT = 0, 1


class EGRUCore(wiring.Component):
    """The accelerator core for one model geometry; memories start with ``image``'s model.

    Latency and throughput (cycles, with every output stream ready), with the latencies of the
    configuration's pipeline (hw.spec.schedule: short, or deep for the clock): a step costs,
    per layer, ``route`` = route_latency + sum over the layer's input and recurrent events of
    max(L_col, 1) (short: 3 + ...), plus ``update`` = ceil(H/P) + update_latency (short: 6);
    the readout costs H + readout_scan + C x (readout_per_class + the units whose event sum is
    nonzero) + 1 (short: H + 2 + C x (4 + ...)), sending the result included. sw/cycles.py
    states it exactly (with the rule for trailing empty columns) and the tests hold the core
    to it. Backpressure on
    ``events``/``trace`` stalls the update phase (the stall cycles are not counted); ``inputs``
    are accepted between steps, ``load`` and ``peek`` only between sequences.

    Between steps the ``counters`` payload (not valid) keeps the last step's counters and
    ``readout_cycles`` the last readout's cycle count, for a host that asks for them later.

    Output order: a step's counter word leaves after all of the step's events (and trace
    words), and a sequence's readout counter word after its result, so a consumer can split
    steps and sequences at the counter words even under output backpressure. A per-step
    readout sends its result and readout counter word after every step's counter word, and the
    next step's inputs are accepted after them.

    Read-back: a ``peek`` request (target, lane, addr of the load-port map) accepted in cycle n
    gives the word in ``peek_data`` with ``peek_valid`` in cycle n + 1 (n + 6 in the deep
    pipeline, which registers the request twice, the second time also in a copy per lane,
    each memory's word, the narrow and the wide choices and the word),
    sign-extended from the
    signed memories (biases, thresholds, LUTs, readout), so it equals the load word that wrote
    it when that word lies in the memory's range (readout biases: readout_bias_limit). One word
    per cycle.
    """

    def __init__(self, image: CoreImage, trace: bool = False):
        """``image``: the model and layout (its configuration fixes the sizes, widths, lanes and,
        with ``memory == "dense"``, the dense GRU schedule: every input element and every unit
        is routed each step, zeros included). ``trace``: add the trace stream."""
        if not isinstance(image, CoreImage):
            reject(self, TypeError(f"EGRUCore: image must be a CoreImage, got {type(image).__name__}"))
        if image.weights.lanes != image.cfg.lanes:
            reject(self, ValueError(f"EGRUCore: the weight layout has {image.weights.lanes} lanes but the "
                                    f"configuration {image.cfg.lanes}"))
        self._image = image
        self._trace = bool(trace)
        g = self.geometry = CoreGeometry(image)
        y_array = data.ArrayLayout(signed(g.S), g.P)
        self.input_layout = data.StructLayout({"index": _bits(g.I), "value": signed(g.cfg.input_bits),
                                               "last": 1, "end": 1})
        self.event_layout = data.StructLayout({"step": g.step_bits, "layer": _bits(g.L), "m": g.Mb, "fire": g.P,
                                               "y": y_array})
        self.trace_layout = data.StructLayout({"step": g.step_bits, "layer": _bits(g.L), "m": g.Mb, "o": g.P,
                                               "c": y_array, "y": y_array})
        self.result_layout = result_layout(g)
        self.counter_layout = data.StructLayout({"kind": 1, "step": g.step_bits, "cycles": g.cycle_bits,
                                                 "input_events": g.event_bits, "recurrent_events": g.event_bits,
                                                 "lane_cycles": g.cycle_bits, "macs": g.mac_bits})
        self.load_layout = data.StructLayout({"target": 4, "lane": 6, "addr": g.load_addr_bits, "data": g.data_bits})
        self.peek_layout = data.StructLayout({"target": 4, "lane": 6, "addr": g.load_addr_bits})
        members = {
            "inputs": In(stream.Signature(self.input_layout)),
            "load": In(stream.Signature(self.load_layout)),
            "events": Out(stream.Signature(self.event_layout)),
            "result": Out(stream.Signature(self.result_layout)),
            "counters": Out(stream.Signature(self.counter_layout)),
            "peek": In(stream.Signature(self.peek_layout)),
            "peek_data": Out(g.data_bits),
            "peek_valid": Out(1),
            "cancel": In(1),
            "busy": Out(1),
            "readout_cycles": Out(g.cycle_bits),
        }
        if self._trace:
            members["trace"] = Out(stream.Signature(self.trace_layout))
        super().__init__(members)

    @property
    def image(self) -> CoreImage:
        return self._image

    @property
    def multipliers(self) -> int:
        """Multipliers of the datapath: three per MAC lane, two per update lane, and the
        readout's one (two in the deep pipeline when the event sum is wider than a DSP block's
        operand: hw/core/readout.py)."""
        g = self.geometry
        return 5 * g.P + (2 if g.cfg.pipeline == "deep" and g.SB > DSP_BITS else 1)

    @property
    def has_trace(self) -> bool:
        return self._trace

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):  # noqa: C901  (one schedule, kept in one place on purpose)
        g, cfg, img = self.geometry, self.geometry.cfg, self._image
        P, M, L, H = g.P, g.M, g.L, g.H
        dense = cfg.memory == "dense"
        sched = schedule(cfg.pipeline)
        deep = sched.deep
        per_step = cfg.per_step  # a readout after every step (on its events), not only after the last
        drain, late = sched.mac_drain_latency, sched.update_lane_late
        # the output FIFOs have room for every unit in flight (from the banks' read to the lanes'
        # outputs, the short pipeline's write register and the FIFO's own write latency) and as
        # many again
        in_flight = drain + sched.update_lane_latency + 2 + (0 if sched.deep else 1)
        fifo_depth = 1 << (2 * in_flight - 1).bit_length()
        # the least descriptor queue that never starves the walker: a descriptor is walked
        # route_walk cycles after its event is issued (that many lose cycles; a bypassed one a
        # cycle sooner, the queue as deep as without)
        desc_depth = sched.route_walk + 1 + sched.walker_bypass
        m = Module()

        # ---- memories ----------------------------------------------------------------------
        def field(word, fields, name, signed_=False):
            pos = 0
            for n, w in fields:
                if n == name:
                    v = word[pos:pos + w]
                    return v.as_signed() if signed_ else v
                pos += w
            raise KeyError(name)

        self.memories = []  # (name, depth, width) of every memory, for reports

        names = {}  # id(memory) -> its name

        def mem(name, shape, depth, init=()):
            depth = max(2, depth)  # a 1-word memory would have a 0-bit address port
            mm = Memory(shape=shape, depth=depth, init=list(init))
            m.submodules[name] = mm
            names[id(mm)] = name
            self.memories.append((name, depth, Shape.cast(shape).width))
            return mm

        # The model memories' initial words, depths and widths come from the memory map
        # (hw/spec/memmap.py) through hw.spec.contents: the words a load of the image would write.
        contents = initial_words(img, g)

        def model_mem(name, shape, sliced=False):
            """A core memory that the map places model memories in: as deep as its homes need
            (and the datapath's own words at its start), with their initial words (signed ones
            in two's complement when ``shape`` is unsigned). ``sliced``: in the deep pipeline
            on a device whose block shapes hw.core.ports knows, built of slices one block deep
            (SlicedMemory: no multiplexer behind the block RAMs' outputs) where that is cheap."""
            shape = Shape.cast(shape)
            depth, width = home_extent(name, g)
            if width > shape.width:
                raise ValueError(f"EGRUCore: {name} is {shape.width} bits wide, the memory map needs {width}")
            init = contents.get(name, ())
            if not shape.signed:
                init = [v & ((1 << shape.width) - 1) for v in init]
            cut = slice_width(dsp_family(platform), max(2, depth), shape.width) if sliced and deep else None
            if cut is not None and not shape.signed:
                self.memories.append((name, max(2, depth), shape.width))
                return SlicedMemory(m, name, max(2, depth), shape.width, init, cut)
            return mem(name, shape, depth, init)

        lw = sum(w for _, w in g.lane_fields)
        pw = sum(w for _, w in g.ptr_fields)
        ew = sum(w for _, w in g.ebuf_fields)
        in_mem = mem("input_buffer", unsigned(_bits(g.I) + cfg.input_bits), g.I)
        # Memories that one phase leaves idle hold another phase's tables behind their own words
        # (lane 0's copy), instead of block RAMs of their own: the readout weights W_out[k][n]
        # sit behind the weights (word depth + k * C + n; the walker is idle in the readout), the
        # column pointers' starts behind the states and their lengths behind the thresholds
        # (word L * M + column; both are read only in the update phase). The deep pipeline gives
        # the pointers a memory of their own: shared, the read address of the state and threshold
        # memories (LUT RAM on ECP5) chose between the route's pointer and the update's unit, and
        # that choice behind the pointer's adder was the worst path of the core at P = 4.
        # (the places are the memory map's, hw/spec/memmap.py)
        wo_base = MEMORY["readout_weight"].offset(g)  # W_out behind lane 0's weight words
        lane_mem = [model_mem(f"weights_{p}", unsigned(lw), sliced=True) for p in range(P)]
        ptr_homes = MEMORY["pointer"].homes_for(cfg.pipeline)
        own_ptr = [h.memory for h in ptr_homes] == ["pointers"]
        if len({h.offset for h in ptr_homes}) != 1:  # one address reads both halves of a pointer
            raise ValueError("the memory map must place a pointer's start and length at one offset")
        ptr_base = MEMORY["pointer"].offset(g, ptr_homes[0].memory)
        len_bits = pw - g.start_bits
        # every lane's states and thresholds as wide as lane 0's, which may hold a pointer half
        c_width = max(g.S, home_extent("state_0", g)[1])
        thr_width = max(g.S, home_extent("thr_0", g)[1])

        bias_mem = {gate: [model_mem(f"bias_{gate}_{p}", signed(cfg.preact_bits)) for p in range(P)]
                    for gate in GATES}
        thr_mem = [model_mem(f"thr_{p}", unsigned(thr_width)) for p in range(P)]
        c_mem = [model_mem(f"state_{p}", unsigned(c_width)) for p in range(P)]
        if own_ptr:
            ptr_mem = model_mem("pointers", unsigned(pw))
            ptr_rd, ptr_wr = ptr_mem.read_port(), ptr_mem.write_port()
        # two halves (ping-pong by step parity), each 2**Mb deep so the half is the address MSB
        ebuf_mem = [[mem(f"events_{layer}_{p}", unsigned(ew), 2 << g.Mb) for p in range(P)] for layer in range(L)]
        # an event sum word also has room for W_out's row address k * C: the readout compacts the
        # nonzero sums in place into (row, sum) entries (hw/core/readout.py). Lane 0's memory
        # also holds the readout biases, behind its M sums: block RAM that is there anyway,
        # instead of C registers and their multiplexer.
        readout = m.submodules.readout = Readout(g)
        sum_width = readout.sum_width
        rb_base = MEMORY["readout_bias"].offset(g)
        sum_mem = [model_mem(f"event_sum_{p}", unsigned(sum_width)) for p in range(P)]

        def small_read_port(mm):
            return synchronous_read(m, mm, names[id(mm)], deep)

        in_rd, in_wr = in_mem.read_port(), in_mem.write_port()
        lane_rd = [mm.read_port() for mm in lane_mem]
        bias_rd = {gate: [small_read_port(mm) for mm in bias_mem[gate]] for gate in GATES}
        thr_rd = [small_read_port(mm) for mm in thr_mem]
        c_rd, c_wr = [small_read_port(mm) for mm in c_mem], [mm.write_port() for mm in c_mem]
        ebuf_rd = [[mm.read_port() for mm in row] for row in ebuf_mem]
        ebuf_wr = [[mm.write_port() for mm in row] for row in ebuf_mem]
        sum_rd, sum_wr = [small_read_port(mm) for mm in sum_mem], [mm.write_port() for mm in sum_mem]

        macs = [MacLane(cfg, M) for _ in range(P)]
        for p, mac in enumerate(macs):
            m.submodules[f"mac_{p}"] = mac
            self.memories += [(f"{name}_{p}", d, w) for name, d, w in mac.memories]
        # the lanes' tags are not used: the core's own unit pipeline (u_pipe) knows each unit
        # (their tables start with the image's, placed by the memory map like every model memory)
        lanes = [UpdateLane(cfg, tag_bits=1, luts={kind: contents[f"lut_{kind}_{p}"] for kind in LUT_KINDS})
                 for p in range(P)]
        for p, lane in enumerate(lanes):
            m.submodules[f"update_{p}"] = lane
            self.memories += [(f"lut_{kind}_{p}", *home_extent(f"lut_{kind}_{p}", g)) for kind in LUT_KINDS]

        # ---- load port: writes model memories while idle ------------------------------------
        ld = self.load.payload
        ld_fire = self.load.valid & self.load.ready

        def registered_twice(name, req, fire, layout):
            """The deep pipeline's request: registered first, so the host side's logic stays out
            of the RAM paths, then once more, centrally (the weights, pointers and readout) and
            in a register of each lane's own (its biases, thresholds and tables), so that one
            flip-flop does not drive the address of every lane's memories across the chip (at
            P = 8 that broadcast was the core's worst path). A lane's copy takes only its own
            requests: distinct enables keep Yosys from merging the copies into one. A lane's
            table requests (LUT targets) get a flag of their own as well, registered from the
            first request: it selects the lane's table addresses, and decoded there from the
            lane's flag and target it was the UART top's worst path at P = 8. A request of the
            weight memories (weights or W_out) has its flag and its word address there
            registered too, in ``weight_requests[name]``: the target's compare and the
            address's adder in front of those RAMs' address were the worst path at P = 2.
            Returns (request, fires, [(fires, request, table request) per lane])."""
            req1, fire1 = Signal(layout, name=f"{name}1"), Signal(name=f"{name}1_fire")
            req2, fire2 = Signal(layout, name=f"{name}2"), Signal(name=f"{name}2_fire")
            m.d.sync += [req1.eq(req), fire1.eq(fire), req2.eq(req1), fire2.eq(fire1)]
            w_fire2 = Signal(name=f"{name}2_weights")
            w_addr2 = Signal(range(home_extent("weights_0", g)[0] + 1), name=f"{name}2_waddr")
            m.d.sync += [w_fire2.eq(fire1 & is_weights(req1)), w_addr2.eq(weights_addr(req1))]
            weight_requests[name] = (w_fire2, w_addr2)
            copies = []
            for p in range(P):
                mine, copy = Signal(name=f"{name}_fire_{p}"), Signal(layout, name=f"{name}_{p}")
                table = Signal(name=f"{name}_table_{p}")
                m.d.sync += [mine.eq(fire1 & (req1.lane == p)), table.eq(fire1 & (req1.lane == p) & is_table(req1))]
                with m.If(fire1 & (req1.lane == p)):
                    m.d.sync += copy.eq(req1)
                copies.append((mine, copy, table))
            return req2, fire2, copies

        weight_requests = {}  # deep: name -> (fires, word address) of its weight-memory requests

        def is_table(req):
            return (req.target >= T_LUT_UPDATE) & (req.target <= T_LUT_TANH)

        def is_weights(req):
            """A request of the weight memories: the weights or W_out (behind lane 0's weights)."""
            return (req.target == T_WEIGHT) | (req.target == T_READOUT_W)

        def weights_addr(req):
            return req.addr + Mux(req.target == T_READOUT_W, wo_base, 0)

        # per lane: (fires, request, a table's request) of the load port for that lane's own memories
        ld_lane = [(ld_fire & (ld.lane == p), ld, ld_fire & (ld.lane == p) & is_table(ld)) for p in range(P)]
        if deep:
            ld, ld_fire, ld_lane = registered_twice("ld", ld, ld_fire, self.load_layout)
        lane_wr = [mm.write_port() for mm in lane_mem]
        bias_wr = {gate: [mm.write_port() for mm in bias_mem[gate]] for gate in GATES}
        thr_wr = [mm.write_port() for mm in thr_mem]
        # The lane memories have one address for reads and writes (the load writes only while the
        # datapath is idle), so they map to single-port RAM: iCE40 SPRAM holds the weights.
        lane_addr = Signal(range(home_extent("weights_0", g)[0] + 1))  # (W_out's words too)
        # The model memories that the map places whole at word 0 of a memory of their own in
        # every lane (the thresholds and biases; the tables are the update lanes'): the peek
        # reads each target's word from those ports. (read ports, write ports) per model memory.
        own_memories = {}
        for pattern, ports in {"thr_{lane}": (thr_rd, thr_wr),
                               **{f"bias_{gate}_{{lane}}": (bias_rd[gate], bias_wr[gate]) for gate in GATES}}.items():
            for mm, home in tenants(pattern, cfg.pipeline):
                if evaluate(home.offset, g) != 0 or home.fields:
                    raise ValueError(f"the memory map must place {mm.name} whole at word 0 of {pattern}")
                own_memories[mm] = ports
        lane_write = ld_fire & is_weights(ld)
        if deep:
            lane_write = weight_requests["ld"][0]
        for p in range(P):
            on_lane = ld_fire & (ld.lane == p)
            mine, lq, lq_table = ld_lane[p]
            # the readout weights live in lane 0's memory only, whatever the lane field says
            readout_w = (ld_fire & (ld.target == T_READOUT_W)) if p == 0 else 0
            m.d.comb += [lane_wr[p].addr.eq(lane_addr), lane_rd[p].addr.eq(lane_addr), lane_wr[p].data.eq(ld.data),
                         lane_wr[p].en.eq((on_lane & (ld.target == T_WEIGHT)) | readout_w),
                         thr_wr[p].addr.eq(lq.addr), thr_wr[p].data.eq(lq.data),
                         thr_wr[p].en.eq(mine & (lq.target == T_THR)),
                         lanes[p].lut_we.eq(lq_table),
                         lanes[p].lut_sel.eq(lq.target - T_LUT_UPDATE),
                         lanes[p].lut_addr.eq(lq.addr), lanes[p].lut_data.eq(lq.data)]
            for i, gate in enumerate(GATES):
                w = bias_wr[gate][p]
                m.d.comb += [w.addr.eq(lq.addr), w.data.eq(lq.data),
                             w.en.eq(mine & (lq.target == T_BIAS_U + i))]

        # ---- control state -----------------------------------------------------------------
        # sequences are at most max_steps long (the host checks; a longer one would wrap this)
        step = Signal(g.step_bits)
        layer = Signal(_bits(L))  # as wide as the layer field of the output words
        cur = step[0]                 # ebuf half written this step
        first = step == 0
        if deep:
            # registered: it selects between the event sum and zero in every lane's sum adder,
            # and the compare in front of that fan-out was the worst path at P = 8. It lags the
            # step by a cycle, and nothing reads it in the cycle after the step changes (that is
            # a LOAD cycle; routing and updating start later)
            first = Signal(init=1)
            m.d.sync += first.eq(step == 0)
        end_seq = Signal()
        n_in = Signal(range(g.I + 1))
        counts = [[[Signal(range(M + 1), name=f"count_{layer_}_{h}_{p}") for p in range(P)] for h in range(2)]
                  for layer_ in range(L)]
        cyc = Signal(g.cycle_bits)
        in_events, rec_events = Signal(g.event_bits), Signal(g.event_bits)
        lane_cycles = Signal(g.cycle_bits)
        mac_count = Signal(g.mac_bits)  # 3 per stored entry read (padding words of zeros do no MAC)

        # output FIFOs. They do not hold the step: every word of a step leaves before the step
        # counter advances (STEP_DONE waits until they are drained), so it is the live register.
        sb = g.step_bits

        def output_fifo(name, port):
            """The FIFO in front of an output stream, and a signal high while it (and what
            follows it) holds no word. The deep pipeline reads it through a skid buffer: the
            FIFO's block-RAM output (5.8 ns clock-to-output) straight across the chip into the
            command unit was the worst path of a P = 4 top (10.8 ns); the skid registers it
            beside the RAM at full rate, and the counter word still waits for its last word."""
            fifo = m.submodules[name] = SyncFIFOBuffered(width=len(port.payload.as_value()) - sb,
                                                         depth=fifo_depth)
            empty = ~fifo.r_rdy & (fifo.level == 0)
            out = stream.Signature(fifo.width).flip().create(path=(f"{name}_out",))
            if deep:
                skid = m.submodules[f"{name}_skid"] = SkidBuffer(fifo.width)
                wiring.connect(m, skid.o, out)
                m.d.comb += [skid.i.valid.eq(fifo.r_rdy), skid.i.payload.eq(fifo.r_data), fifo.r_en.eq(skid.i.ready)]
                empty = empty & ~skid.busy
            else:
                m.d.comb += [out.valid.eq(fifo.r_rdy), out.payload.eq(fifo.r_data), fifo.r_en.eq(out.ready)]
            m.d.comb += [port.valid.eq(out.valid), port.payload.eq(Cat(step, out.payload)), out.ready.eq(port.ready)]
            return fifo, empty

        ev_fifo, ev_empty = output_fifo("ev_fifo", self.events)
        if self._trace:
            tr_fifo, tr_empty = output_fifo("tr_fifo", self.trace)

        # ---- route: front-end ---------------------------------------------------------------
        # unbuffered: a descriptor written in one cycle is at the head in the next
        walker = m.submodules.walker = ColumnWalker(addr_bits=g.start_bits, len_bits=g.len_bits,
                                                    value_bits=g.VB, depth=desc_depth, bypass=sched.walker_bypass)
        NS = 2 * P
        prev = ~cur

        def per_segment(name, shape, of_counter, of_inputs):
            """One signal per event list (segment) of the layer being routed, from its counter:
            segments 0..P-1 are the input lists (layer 0: the input buffer, one list; layer l:
            layer l-1's lists of this step), P..2P-1 the recurrent lists (the layer's own of the
            previous step; none on a sequence's first step)."""
            out = [Signal(shape, name=f"{name}_{s}") for s in range(NS)]
            for s in range(NS):
                with m.Switch(layer):
                    for layer_ in range(L):
                        with m.Case(layer_):
                            if s < P:
                                if layer_ == 0:
                                    m.d.comb += out[s].eq(of_inputs if s == 0 else 0)
                                else:
                                    m.d.comb += out[s].eq(Mux(cur, of_counter(layer_ - 1, 1, s),
                                                              of_counter(layer_ - 1, 0, s)))
                            else:
                                q = s - P
                                m.d.comb += out[s].eq(Mux(first, 0, Mux(prev, of_counter(layer_, 1, q),
                                                                        of_counter(layer_, 0, q))))
            return out

        seg_count = per_segment("seg_count", range(max(M, g.I) + 1),
                                lambda layer_, h, p: counts[layer_][h][p], n_in)
        f1_valid, f1_seg = Signal(), Signal(range(NS))
        f1r_valid, f1r_rec = Signal(), Signal()
        f1r_src, f1r_value = Signal(range(max(g.I, H) + 1)), Signal(signed(g.VB))
        f2_valid, f2_value, f2_rec = Signal(), Signal(signed(g.VB)), Signal()
        inflight = f1_valid + f2_valid + (f1r_valid if deep else 0)
        # an event issued now is written 3 cycles later, after the three in flight: room for all four
        credit = (walker.level + inflight) < desc_depth

        routing = Signal()
        # which event is read next (hw/core/route.py); the deep pipeline issues from registers
        issuer = m.submodules.issuer = EventIssuer(NS, len(seg_count[0]), cfg.pipeline)
        issue, issue_seg, issue_pos, fe_done = issuer.issue, issuer.seg, issuer.pos, issuer.done
        m.d.comb += [issuer.active.eq(routing), issuer.credit.eq(credit)]
        m.d.comb += [issuer.lengths[s].eq(seg_count[s]) for s in range(NS)]
        if deep:
            # which lists have events, from flags registered behind the counts (final a cycle
            # before any route starts; layer 0's input list counts on until the route, so its
            # flag is n_in's own): the first event is found without the counts' comparators
            nz = [[[Signal(name=f"nz_{layer_}_{h}_{p}") for p in range(P)] for h in range(2)] for layer_ in range(L)]
            for layer_ in range(L):
                for h in range(2):
                    m.d.sync += [nz[layer_][h][p].eq(counts[layer_][h][p] != 0) for p in range(P)]
            seg_nz = per_segment("seg_nz", 1, lambda layer_, h, p: nz[layer_][h][p], n_in != 0)
            m.d.comb += [issuer.nonempty[s].eq(seg_nz[s]) for s in range(NS)]
        half_sel = Mux(issue_seg < P, cur, prev)
        m.d.comb += [in_rd.addr.eq(issue_pos), in_rd.en.eq(1)]
        for layer_ in range(L):
            for p in range(P):
                m.d.comb += [ebuf_rd[layer_][p].addr.eq(Cat(issue_pos[:g.Mb], half_sel)), ebuf_rd[layer_][p].en.eq(1)]
        m.d.sync += [f1_valid.eq(issue), f1_seg.eq(issue_seg)]
        with m.If(issue):
            with m.If(issue_seg < P):
                m.d.sync += in_events.eq(in_events + 1)
            with m.Else():
                m.d.sync += rec_events.eq(rec_events + 1)

        # F1: the event's source index (input element or unit) and value, registered (they come
        # from the input and event buffers' block RAM)
        src = Signal.like(f1r_src)
        value = Signal(signed(g.VB))
        rec = Signal()
        in_word = in_rd.data
        with m.Switch(layer):
            for layer_ in range(L):
                with m.Case(layer_):
                    with m.Switch(f1_seg):
                        for s in range(NS):
                            with m.Case(s):
                                if s < P and layer_ == 0:
                                    idx = in_word[:_bits(g.I)]
                                    m.d.comb += [src.eq(idx), value.eq(in_word[_bits(g.I):].as_signed()), rec.eq(0)]
                                elif s < P:
                                    word = ebuf_rd[layer_ - 1][s].data
                                    k = field(word, g.ebuf_fields, "m") * P + s
                                    m.d.comb += [src.eq(k), value.eq(field(word, g.ebuf_fields, "y", True)), rec.eq(0)]
                                else:
                                    word = ebuf_rd[layer_][s - P].data
                                    k = field(word, g.ebuf_fields, "m") * P + (s - P)
                                    m.d.comb += [src.eq(k), value.eq(field(word, g.ebuf_fields, "y", True)), rec.eq(1)]
        if deep:
            m.d.sync += [f1r_valid.eq(f1_valid), f1r_src.eq(src), f1r_value.eq(value), f1r_rec.eq(rec)]
            p_valid, p_src, p_value, p_rec = f1r_valid, f1r_src, f1r_value, f1r_rec
        else:  # the short pipeline reads the pointer in the same cycle
            p_valid, p_src, p_value, p_rec = f1_valid, src, value, rec
        # F1R (deep; F1 short): the column and the read of its pointer
        # (the pointer's read addresses are set below, after the update's, which they override)
        # the pointer's address: one adder of the event's source index and a constant (the
        # pointers' place behind the states plus the layer's kernel or recurrent column 0)
        ptr_addr = Signal(range(ptr_base + g.columns + 1))
        with m.Switch(layer):
            for layer_ in range(L):
                with m.Case(layer_):
                    base = Mux(p_rec, ptr_base + img.weights.recurrent_base[layer_],
                               ptr_base + img.weights.kernel_base[layer_])
                    m.d.comb += ptr_addr.eq(base + p_src)
        m.d.sync += [f2_valid.eq(p_valid), f2_value.eq(p_value), f2_rec.eq(p_rec)]
        # F2: pointer -> descriptor queue
        ptr_word = ptr_rd.data if own_ptr else Cat(c_rd[0].data[:g.start_bits], thr_rd[0].data[:len_bits])
        m.d.comb += [walker.w_en.eq(f2_valid), walker.w_start.eq(ptr_word[:g.start_bits]),
                     walker.w_len.eq(ptr_word[g.start_bits:pw]), walker.w_value.eq(f2_value),
                     walker.w_rec.eq(f2_rec)]

        # ---- route: back-end (ColumnWalker) reads the lane lists ----------------------------------
        with m.If(walker.issue):
            m.d.sync += lane_cycles.eq(lane_cycles + 1)
        m.d.comb += lane_addr.eq(walker.addr)
        for p in range(P):
            # no read in a write cycle: single-port RAMs keep their output then (iCE40 SPRAM)
            m.d.comb += lane_rd[p].en.eq(~lane_write)
        l1_valid, l1_value, l1_rec = Signal(), Signal(signed(g.VB)), Signal()
        m.d.sync += [l1_valid.eq(walker.issue), l1_value.eq(walker.value), l1_rec.eq(walker.rec)]
        # L2 (deep: hw.spec.schedule lane_register): the lane words registered with their entry.
        # Taken only with an entry: without the enable Yosys merges lane 0's register with the
        # readout's W_out register (the same word, also unconditional), and the one register
        # placed between the MAC lane and the readout was the worst path at P = 4 (11.4 ns)
        lane_words = [port.data for port in lane_rd]
        w_valid, w_value, w_rec, w_busy = l1_valid, l1_value, l1_rec, l1_valid
        if sched.lane_register:
            lane_words = [Signal.like(port.data, name=f"l2_word_{p}") for p, port in enumerate(lane_rd)]
            w_valid, w_value, w_rec = Signal(), Signal.like(l1_value), Signal()
            m.d.sync += [w_valid.eq(l1_valid), w_value.eq(l1_value), w_rec.eq(l1_rec)]
            with m.If(l1_valid):
                m.d.sync += [reg.eq(port.data) for reg, port in zip(lane_words, lane_rd, strict=True)]
            w_busy = l1_valid | w_valid

        # (from the MAC lanes' registered weights: no logic behind the lane memories' outputs)
        real_entries = Signal(range(P + 1))
        m.d.comb += real_entries.eq(sum(mac.real.as_unsigned() for mac in macs))
        if deep:  # the count registered, and times 3 as a shift and an add (not a multiplier)
            real_q = Signal.like(real_entries)
            m.d.sync += [real_q.eq(real_entries), mac_count.eq(mac_count + (real_q << 1) + real_q)]
        else:
            m.d.sync += mac_count.eq(mac_count + 3 * real_entries)

        # L1 (deep: L2, behind the lane register): the lane words reach the MAC lanes (products,
        # accumulator read-modify-write)
        updating = Signal()   # update phase: the MAC lanes drain their banks unit by unit
        u_m = Signal(range(M + 1))
        u0_issue = Signal()
        for p, mac in enumerate(macs):
            word = lane_words[p]
            m.d.comb += [mac.i_valid.eq(w_valid), mac.i_k.eq(field(word, g.lane_fields, "k")),
                         mac.i_value.eq(w_value), mac.i_rec.eq(w_rec), mac.i_layer.eq(layer),
                         mac.i_w_u.eq(field(word, g.lane_fields, "wu", True)),
                         mac.i_w_r.eq(field(word, g.lane_fields, "wr", True)),
                         mac.i_w_g.eq(field(word, g.lane_fields, "wg", True)),
                         mac.draining.eq(updating), mac.d_valid.eq(u0_issue), mac.d_m.eq(u_m)]

        # the last entry's write-back may still be pending: the update's first accumulator read
        # overlaps it (the MAC lanes' reads are transparent to their writes)
        # the update's first bank read waits until the MAC lanes' pipelines have written their last sum
        mac_busy = Cat(mac.busy for mac in macs).any()
        route_idle = fe_done & ~f1_valid & ~f1r_valid & ~f2_valid & ~walker.busy & ~w_busy & ~mac_busy

        # ---- update phase -------------------------------------------------------------------
        # the units in flight, one cycle apart: issued (u1: the banks are being read; the biases
        # are read then, so that they arrive with the banks' words, u2, at the update lanes) and
        # inside the update lanes; the last: the lanes' outputs
        u_pipe = [(Signal(name=f"u{i + 1}_valid"), Signal(g.Mb, name=f"u{i + 1}_m"))
                  for i in range(drain + sched.update_lane_latency)]
        (u1_valid, u1_m) = u_pipe[0]
        # room in the output FIFOs for every unit in flight (and the FIFO's own write latency)
        room = ev_fifo.level <= fifo_depth - in_flight
        if self._trace:
            room = room & (tr_fifo.level <= fifo_depth - in_flight)
        if deep:
            # decided a cycle ahead (the levels' comparators are off the issue path), with one
            # place more in reserve: a level grows by at most one per cycle
            early = ev_fifo.level < fifo_depth - in_flight
            if self._trace:
                early = early & (tr_fifo.level < fifo_depth - in_flight)
            room = Signal()
            m.d.sync += room.eq(early)
        m.d.comb += u0_issue.eq(updating & (u_m < M) & room)
        with m.If(u0_issue):
            m.d.sync += u_m.eq(u_m + 1)
        unit_addr = Signal(range(L * M + 1))
        m.d.comb += unit_addr.eq(layer * M + (u_pipe[drain - 2][1] if drain >= 2 else u_m))
        # state and threshold are read for the unit LATE - 1 cycles into its update lane (see UpdateLane)
        late_addr = Signal(range(L * M + 1))
        m.d.comb += late_addr.eq(layer * M + u_pipe[drain + late - 2][1])
        for p in range(P):
            for gate in GATES:
                m.d.comb += [bias_rd[gate][p].addr.eq(unit_addr), bias_rd[gate][p].en.eq(1)]
            m.d.comb += [thr_rd[p].addr.eq(late_addr), thr_rd[p].en.eq(1),
                         c_rd[p].addr.eq(late_addr), c_rd[p].en.eq(1)]
        if own_ptr:  # F1: the event's column pointer (read in every cycle; one used when valid)
            m.d.comb += ptr_rd.addr.eq(ptr_addr)
        else:
            with m.If(routing):
                m.d.comb += [c_rd[0].addr.eq(ptr_addr), thr_rd[0].addr.eq(ptr_addr)]
        m.d.sync += [u1_valid.eq(u0_issue), u1_m.eq(u_m)]
        for (v, um), (v_next, um_next) in zip(u_pipe, u_pipe[1:], strict=False):
            m.d.sync += [v_next.eq(v), um_next.eq(um)]
        for p, lane in enumerate(lanes):
            m.d.comb += [lane.i_valid.eq(u_pipe[drain - 1][0]), lane.i_layer.eq(layer),
                         lane.i_c.eq(Mux(first, 0, c_rd[p].data[:g.S].as_signed())),
                         lane.i_thr.eq(thr_rd[p].data[:g.S].as_signed())]
            for gate in GATES:
                m.d.comb += [getattr(lane, f"i_a_{gate}").eq(getattr(macs[p], f"d_a_{gate}")),
                             getattr(lane, f"i_b_{gate}").eq(bias_rd[gate][p].data)]
            # the event sum is read while the lane's output is registered (below), to add to it
            m.d.comb += [sum_rd[p].addr.eq(u_pipe[-1][1]), sum_rd[p].en.eq(1)]

        # U3: outputs of the update lanes
        o_valid = lanes[0].o_valid
        o_m = u_pipe[-1][1]
        fires = Signal(P)
        last_layer = layer == L - 1
        sum_valid, sum_m = Signal(), Signal.like(o_m)
        m.d.sync += [sum_valid.eq(o_valid & last_layer), sum_m.eq(o_m)]
        for p, lane in enumerate(lanes):
            real = (o_m * P + p) < H  # lane slots past H are padding
            m.d.comb += fires[p].eq(lane.o_fire & real)
            m.d.comb += [c_wr[p].addr.eq(layer * M + o_m), c_wr[p].data.eq(lane.o_c), c_wr[p].en.eq(o_valid)]
            for layer_ in range(L):
                wr = ebuf_wr[layer_][p]
                cnt = Mux(cur, counts[layer_][1][p], counts[layer_][0][p])
                # the dense (GRU) schedule passes every unit on, silent ones with y = 0
                put = (o_valid & real) if dense else fires[p]
                m.d.comb += [wr.addr.eq(Cat(cnt[:g.Mb], cur)),
                             wr.data.eq(Cat(o_m, lane.o_y)),
                             wr.en.eq(put & (layer == layer_))]
                for h in range(2):
                    with m.If(put & (layer == layer_) & (cur == h)):
                        m.d.sync += counts[layer_][h][p].eq(counts[layer_][h][p] + 1)
            # per-unit sums of the last layer's event values, for the readout, one cycle after the
            # lane's output (its threshold compare and the sum's adder would be one long path);
            # the last write lands in the cycle the update phase ends, before any read of it
            sum_y = Signal(signed(g.S), name=f"sum_y_{p}")
            m.d.sync += sum_y.eq(lane.o_y)
            old_sum, w_valid, w_m, w_y = sum_rd[p].data[:g.SB].as_signed(), sum_valid, sum_m, sum_y
            if deep:  # the sum read is registered first, and added one cycle later (still before any read)
                old_sum = Signal(signed(g.SB), name=f"sum_old_{p}")
                w_valid, w_m, w_y = Signal(name=f"sum_valid2_{p}"), Signal.like(sum_m), Signal.like(sum_y)
                m.d.sync += [old_sum.eq(sum_rd[p].data[:g.SB].as_signed()), w_valid.eq(sum_valid), w_m.eq(sum_m),
                             w_y.eq(sum_y)]
            # a per-step readout reads this step's events alone: the sum starts again every step
            new_sum = w_y if per_step else Mux(first, 0, old_sum) + w_y
            m.d.comb += [sum_wr[p].addr.eq(w_m), sum_wr[p].data.eq(new_sum), sum_wr[p].en.eq(w_valid)]
        ev_word = Cat(layer, o_m, fires, *[lane.o_y for lane in lanes])
        if deep:  # (the lanes' fire bits leave from registers)
            m.d.comb += [ev_fifo.w_data.eq(ev_word), ev_fifo.w_en.eq(o_valid & (fires != 0))]
        else:
            # the short pipeline writes the FIFO a cycle after the lanes' outputs: c_hat, the
            # threshold compare and the fire bit into the FIFO's level and write pointer was the
            # worst path of the GW1N-9 and UP5K tops (21 ns, two carry chains and the FIFO's
            # logic); the word is counted in flight (``in_flight``) and in ``ev_empty``
            ev_w_en, ev_w_data = Signal(), Signal.like(ev_word)
            m.d.sync += [ev_w_en.eq(o_valid & (fires != 0)), ev_w_data.eq(ev_word)]
            m.d.comb += [ev_fifo.w_data.eq(ev_w_data), ev_fifo.w_en.eq(ev_w_en)]
            ev_empty = ev_empty & ~ev_w_en
        if self._trace:
            tr_word = Cat(layer, o_m, fires, *[lane.o_c for lane in lanes], *[lane.o_y for lane in lanes])
            m.d.comb += [tr_fifo.w_data.eq(tr_word), tr_fifo.w_en.eq(o_valid)]
        # the update ends when no unit is in flight, or without a tail (hw.spec.schedule) in the
        # cycle that writes the last one (the lanes' output is the last stage, u_pipe[-1])
        if sched.update_tail:
            update_idle = ~o_valid
            for v, _ in u_pipe:
                update_idle = update_idle & ~v
        else:
            update_idle = ~u_pipe[0][0]
            for v, _ in u_pipe[1:-1]:
                update_idle = update_idle & ~v

        # ---- readout (hw/core/readout.py): the sums' and W_out's memories are the core's, and
        # the readout drives their ports while it runs (the statements below come after the
        # update phase's, so they take precedence; the peek's come later still)
        ro = readout
        with m.If(ro.sum_sel):
            for p in range(P):
                m.d.comb += sum_rd[p].addr.eq(ro.sum_addr)
        with m.If(ro.bias_sel):
            m.d.comb += sum_rd[0].addr.eq(rb_base + ro.bias_index)
        for p in range(P):
            m.d.comb += ro.sum_data[p].eq(sum_rd[p].data)
            with m.If(ro.sum_we[p]):
                m.d.comb += [sum_wr[p].addr.eq(ro.sum_waddr), sum_wr[p].data.eq(ro.sum_wdata), sum_wr[p].en.eq(1)]
        wo_data = lane_rd[0].data[:g.WB].as_signed()
        m.d.comb += ro.w_data.eq(wo_data)
        with m.If(ro.w_sel):
            m.d.comb += lane_addr.eq(wo_base + ro.w_addr)
        bias_word = sum_rd[0].data[:g.RBB].as_signed()  # (for the peek of the readout biases)
        wiring.connect(m, wiring.flipped(self.result), ro.result)

        # ---- the schedule ---------------------------------------------------------------------
        drained = ev_empty & tr_empty if self._trace else ev_empty  # every event (and trace word) has left
        settled = Signal()  # STEP_DONE or RO_DONE, since the previous cycle
        if not deep:
            # the counter words wait on a registered copy of ``drained``: the FIFO's flags
            # through it, the counters' valid and the command unit's response logic into the
            # status register were the worst path of the UP5K top (42 ns). A copy is stale only
            # in a state's first cycle (the last event's write may be a cycle behind the
            # update), hence ``settled``; the wait is not a counted cycle.
            drained_r = Signal()
            m.d.sync += [drained_r.eq(drained), settled.eq(0)]
            drained = drained_r & settled
        cw = self.counters.payload
        m.d.comb += self.busy.eq(1)
        # Between steps (LOAD) the counter payload keeps the last step's counters, not valid, and
        # readout_cycles the last readout's: the host's COUNTERS reads them there. (Assigned in
        # the states, not once for all: a lone register-to-slice assignment becomes an
        # ``always @*`` that Icarus never runs while the register keeps its initial value.)
        done_step = Signal(g.step_bits)  # the step the counters belong to
        # A cycle of the step is counted a cycle later (cyc_inc, added to cyc in the next cycle):
        # the phase's idle and issue logic enabling every bit of the counter was the worst path
        # of the deep P = 2 top (10.2 ns) and of the UP5K's (37.6 ns). The deep counter word adds
        # what is still pending; the short one is offered only from STEP_DONE's second cycle
        # (``settled``), when nothing is.
        cyc_inc = Signal()
        m.d.sync += [cyc_inc.eq(0), cyc.eq(cyc + cyc_inc)]  # (the FSM's assignments below override)
        step_counters = [cw.kind.eq(C_STEP), cw.step.eq(done_step), cw.cycles.eq(cyc + cyc_inc if deep else cyc),
                         cw.input_events.eq(in_events),
                         cw.recurrent_events.eq(rec_events), cw.lane_cycles.eq(lane_cycles), cw.macs.eq(mac_count)]
        m.d.comb += self.readout_cycles.eq(ro.cycles)
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += step_counters
                # model memories may change only between sequences
                m.d.comb += [self.busy.eq(0), self.inputs.ready.eq(~self.cancel),
                             self.load.ready.eq(step == 0),
                             # one of load and peek per cycle: they share the memories' address ports
                             self.peek.ready.eq((step == 0) & ~self.load.valid)]
                with m.If(self.cancel):  # the host abandons the sequence: the next input starts a new one
                    m.d.sync += [step.eq(0), end_seq.eq(0), n_in.eq(0)]
                ip = self.inputs.payload
                # zero inputs are not events; the dense (GRU) schedule keeps them
                keep = (ip.index < g.I) & ((ip.value != 0) if not dense else 1)
                m.d.comb += [in_wr.addr.eq(n_in), in_wr.data.eq(Cat(ip.index, ip.value)),
                             in_wr.en.eq(self.inputs.valid & keep & ~self.cancel)]
                with m.If(self.inputs.valid & ~self.cancel):
                    with m.If(keep):
                        m.d.sync += n_in.eq(n_in + 1)
                    with m.If(ip.last | ip.end):
                        m.d.comb += issuer.start.eq(1)
                        m.d.sync += [end_seq.eq(ip.end), done_step.eq(step), layer.eq(0),
                                     u_m.eq(0), cyc.eq(0), in_events.eq(0), rec_events.eq(0), lane_cycles.eq(0),
                                     mac_count.eq(0)]
                        m.next = "ROUTE"
            with m.State("ROUTE"):
                m.d.comb += routing.eq(1)
                # the last route cycle is also the update's first issue; if output backpressure
                # stalls that issue, the cycle is a stall and is not counted
                m.d.sync += cyc_inc.eq(~route_idle | u0_issue)
                with m.If(route_idle):
                    # the update phase issues its first unit in this same cycle (u_m is 0)
                    m.d.comb += updating.eq(1)
                    for h in range(2):
                        for p in range(P):
                            with m.If(cur == h):
                                with m.Switch(layer):
                                    for layer_ in range(L):
                                        with m.Case(layer_):
                                            m.d.sync += counts[layer_][h][p].eq(0)
                    m.next = "UPDATE"
            with m.State("UPDATE"):
                m.d.comb += updating.eq(1)
                m.d.sync += cyc_inc.eq(u0_issue | (u_m == M))
                with m.If((u_m == M) & update_idle):
                    with m.If(last_layer):
                        m.next = "STEP_DONE"
                    with m.Else():
                        m.d.comb += issuer.start.eq(1)
                        m.d.sync += [layer.eq(layer + 1), u_m.eq(0)]
                        m.next = "ROUTE"
            with m.State("STEP_DONE"):
                # the step's counter word only after all its events have left (see the docstring)
                m.d.comb += [self.counters.valid.eq(drained), *step_counters]
                m.d.sync += settled.eq(~(drained & self.counters.ready))
                with m.If(drained & self.counters.ready):
                    m.d.sync += [step.eq(step + 1), n_in.eq(0)]
                    with m.If(end_seq | per_step):
                        m.d.comb += ro.start.eq(1)
                        m.next = "READOUT"
                    with m.Else():
                        m.next = "LOAD"
            with m.State("READOUT"):
                with m.If(ro.done):
                    m.next = "RO_DONE"
            with m.State("RO_DONE"):
                m.d.comb += [self.counters.valid.eq(drained), cw.kind.eq(C_READOUT), cw.step.eq(step),
                             cw.cycles.eq(ro.cycles)]
                m.d.sync += settled.eq(~(drained & self.counters.ready))
                with m.If(drained & self.counters.ready):
                    with m.If(end_seq):  # (a per-step readout's sequence goes on after the others)
                        m.d.sync += [step.eq(0), end_seq.eq(0)]
                    m.d.sync += n_in.eq(0)
                    m.next = "LOAD"

        with m.If(ld_fire & (ld.target == T_READOUT_B)):
            m.d.comb += [sum_wr[0].addr.eq(rb_base + ld.addr), sum_wr[0].data.eq(ld.data), sum_wr[0].en.eq(1)]

        # ---- read-back: while idle between sequences the datapath's read ports serve ``peek``
        # (the statements below come last, so they override the datapath's addresses)
        pk = self.peek.payload
        pk_fire = self.peek.valid & self.peek.ready
        if deep:  # registered twice, as the load
            pk, pk_fire, pk_lane_req = registered_twice("pk", pk, pk_fire, self.peek_layout)
        pk_target, pk_lane = Signal.like(pk.target), Signal.like(pk.lane)
        if deep:
            with m.If(weight_requests["ld"][0]):
                m.d.comb += lane_addr.eq(weight_requests["ld"][1])
        else:
            with m.If(ld_fire & (ld.target == T_WEIGHT)):
                m.d.comb += lane_addr.eq(ld.addr)
            with m.If(ld_fire & (ld.target == T_READOUT_W)):
                m.d.comb += lane_addr.eq(wo_base + ld.addr)
        if own_ptr:
            m.d.comb += [ptr_wr.addr.eq(ld.addr), ptr_wr.data.eq(ld.data[:pw]),
                         ptr_wr.en.eq(ld_fire & (ld.target == T_POINTER))]
        else:
            with m.If(ld_fire & (ld.target == T_POINTER)):
                m.d.comb += [c_wr[0].addr.eq(ptr_base + ld.addr), c_wr[0].data.eq(ld.data[:g.start_bits]),
                             c_wr[0].en.eq(1), thr_wr[0].addr.eq(ptr_base + ld.addr),
                             thr_wr[0].data.eq(ld.data[g.start_bits:pw]), thr_wr[0].en.eq(1)]
        with m.If(pk_fire):
            if own_ptr:
                m.d.comb += ptr_rd.addr.eq(pk.addr)
            m.d.comb += [sum_rd[0].addr.eq(rb_base + pk.addr), c_rd[0].addr.eq(ptr_base + pk.addr)]
            if not deep:
                m.d.comb += lane_addr.eq(weights_addr(pk))
        if deep:
            with m.If(weight_requests["pk"][0]):
                m.d.comb += lane_addr.eq(weight_requests["pk"][1])
        for p in range(P):
            # (a peek reads only the lane it names: the other lanes' words are not selected)
            mine, pq, pq_table = pk_lane_req[p] if deep else (pk_fire, pk, pk_fire)
            m.d.comb += lanes[p].lut_read.eq(pq_table)
            with m.If(mine):
                m.d.comb += [thr_rd[p].addr.eq(pq.addr + Mux(pq.target == T_POINTER, ptr_base, 0)),
                             lanes[p].lut_addr.eq(pq.addr),
                             lanes[p].lut_sel.eq(pq.target - T_LUT_UPDATE)]
                for gate in GATES:
                    m.d.comb += bias_rd[gate][p].addr.eq(pq.addr)
        pk_read = Signal()  # the memories' outputs hold the word asked for
        m.d.sync += [pk_read.eq(pk_fire), pk_target.eq(pk.target), pk_lane.eq(pk.lane)]
        word = Signal.like(self.peek_data)
        if deep:  # each source's word, then the narrow and the wide choices, then the word, registered
            pk_held, pk_chosen = Signal(), Signal()
            m.d.sync += [pk_held.eq(pk_read), pk_chosen.eq(pk_held), self.peek_valid.eq(pk_chosen),
                         self.peek_data.eq(word)]
        else:
            m.d.comb += [self.peek_valid.eq(pk_read), self.peek_data.eq(word)]

        def lane_word(ports):
            return Array(port.data for port in ports)[pk_lane[:_bits(P)]]

        def held(name, value):
            """The deep pipeline registers each source's lane-selected word before the target
            multiplexer (two levels of logic behind the block RAMs instead of four)."""
            if not deep:
                return value
            reg = Signal.like(value, name=f"peek_{name}")
            m.d.sync += reg.eq(value)
            return reg

        sel_target = pk_target
        if deep:
            sel_target = Signal.like(pk_target)
            m.d.sync += sel_target.eq(pk_target)
        # the signed words of at most 16 bits first, then the wide ones: the upper bits of the
        # word choose among four sources instead of ten
        narrow = Signal(signed(max(g.S, cfg.preact_bits, g.WB)))

        def own_value(mm, port):
            """A word of ``mm`` as the port reads it: a signed memory's word, or the low bits of
            a wider unsigned memory's, as a signed value."""
            if port.data.shape().signed:
                return port.data
            return port.data[:mm.width_of(g)].as_signed()

        # (each lane's own memories' words, lane-selected, in target order)
        sources = {mm.target: held(mm.name, Array(own_value(mm, port) for port in rd)[pk_lane[:_bits(P)]])
                   for mm, (rd, _) in sorted(own_memories.items(), key=lambda item: item[0].target)}
        if deep:  # the lanes register their table entries themselves, a cycle after the others
            # Every lane's word is zero unless the peek names that lane (each lane's register
            # clears itself, from the lane's own copy of the request), so the lane's word is the
            # OR of all of them: no selection behind the registers. A decoder of the lane number
            # driving every lane's multiplexer took 12.7 ns across the chip at P = 8, and a
            # central one-hot flag per lane still 6.5 ns at P = 4.
            def chosen(words):
                return functools.reduce(operator.or_, words)
            lut_word = chosen([lane.lut_q for lane in lanes])  # (UpdateLane clears lut_q unless read)
        else:
            lut_word = Array(lane.lut_q for lane in lanes)[pk_lane[:_bits(P)]]
        readout_w = held("readout_w", wo_data)
        pointer = held("pointer", ptr_word)
        if deep:  # each lane's word registered at its block RAM, the lane chosen behind the registers
            # (the lane multiplexer between the RAMs' outputs and one register was the UART top's
            # worst path at P = 2)
            peek_words = [Signal.like(port.data, name=f"peek_weight_{p}") for p, port in enumerate(lane_rd)]
            for p, (reg, port) in enumerate(zip(peek_words, lane_rd, strict=True)):
                named = Signal(name=f"peek_named_{p}")  # the word at the RAM's output is this lane's peek
                m.d.sync += [named.eq(pk_lane_req[p][0]), reg.eq(Mux(named, port.data, 0))]
            weight = chosen(peek_words)
        else:
            weight = lane_word(lane_rd)
        readout_b = held("readout_b", bias_word)
        # (deep: both choices registered, with the target, before the last one: the whole
        # selection in one cycle was the UART top's worst path at P = 2)
        choice = m.d.sync if deep else m.d.comb
        wide = Signal.like(word)
        with m.Switch(sel_target):
            for target, value in sources.items():
                with m.Case(target):
                    choice += narrow.eq(value)
            with m.Case(T_LUT_UPDATE, T_LUT_SIGMOID, T_LUT_TANH):
                choice += narrow.eq(lut_word)
            with m.Case(T_READOUT_W):
                choice += narrow.eq(readout_w)
            with m.Case(T_POINTER):
                choice += wide.eq(pointer)
            with m.Case(T_WEIGHT):
                choice += wide.eq(weight)
            with m.Case(T_READOUT_B):
                choice += wide.eq(readout_b)
        last_target = sel_target
        if deep:
            last_target = Signal.like(sel_target)
            m.d.sync += last_target.eq(sel_target)
        with m.Switch(last_target):
            with m.Case(T_POINTER, T_WEIGHT, T_READOUT_B):
                m.d.comb += word.eq(wide)
            with m.Default():
                m.d.comb += word.eq(narrow)
        return m
