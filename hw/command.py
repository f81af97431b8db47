"""The command unit of the host protocol: checked frames in, the core driven, responses out."""

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect, flipped

from hw.core import C_READOUT, C_STEP, R_LOGIT, EGRUCore
from hw.fixed import reject
from hw.frame_rx import FrameSignature
from hw.frame_tx import HEADER
from hw.request_reader import RequestReader
from hw.response_writer import ResponseWriter
from hw.spec.protocol import (
    ACCESS_HEADER,
    COUNTER_BYTES,
    COUNTER_FIELDS,
    RESPONSE,
    STEP_FLAGS,
    Command,
    Status,
    Wire,
)
from hw.stream_reg import SkidBuffer, StreamHandoff


def _widen(value, nbytes: int):
    """``value`` zero-extended (or truncated) to exactly ``nbytes`` bytes, for packing."""
    width = 8 * nbytes
    if len(value) >= width:
        return value[:width]
    return Cat(value, Const(0, width - len(value)))


class CommandUnit(wiring.Component):
    """Executes one checked frame at a time (docs/protocol.md) on an EGRUCore and writes its
    response into a buffer, then hands the response to the frame transmitter.

    A request takes effect only after all of its checks passed, in this order: length
    (BAD_LENGTH), command (UNKNOWN_COMMAND), target, lane and address range (BAD_ADDRESS), core
    between sequences for WRITE/READ (BUSY), STEP flags, input values and sequence length
    (BAD_ARGUMENT). A frame the receiver rejected (BAD_CRC, BAD_LENGTH, TRUNCATED) gets a
    response with that status and changes nothing. A frame identical to the previous one (same
    command, sequence number and CRC) is a retry: its stored response is sent again and it is
    not executed twice, so a host may resend a STEP whose response it lost (also when damaged
    copies arrived in between: their error answers do not touch the stored response).

    The FSM here sequences the commands; a RequestReader (hw/request_reader.py) reads the
    request's payload bytes from the frame receiver's buffer (``frames``, a FrameSignature) and
    gathers its words, and a ResponseWriter (hw/response_writer.py) writes the response's values
    into the response buffer.

    Latency and throughput: 2 cycles (deep pipeline: 3) per request byte read from the receive
    buffer, 1 cycle per response byte written (deep: and 1 per value), plus the core's own
    cycles for a STEP; all far below the line's 10 bit times per byte, so the UART sets the
    rate. ``quiet`` is high while nothing is pending.

    ``cancel`` leaves from a flip-flop. The deep pipeline registers the whole boundary to the
    core (see ``_core_side``): valid, payload and ready of its six streams leave from
    flip-flops (``events`` through a skid buffer, at full rate; the others, slow, through
    handoffs), and ``peek_data``/``peek_valid``, ``readout_cycles`` and the core's load-ready
    (the BUSY check) are registered. The core's counters do not see this: it counts no cycle in which its
    outputs are stalled. Both pipelines register a WRITE's or READ's header checks
    (ACCESS_WAIT) and compare with length - 1 and count - 1 from registers. The deep pipeline
    also registers the response writer's start request and the DISPATCH decision (DECODE), so
    no decision of this FSM is in one path with the core's or the writer's logic or with a wide
    compare of the request.
    """

    def __init__(self, core: EGRUCore, wire: Wire, info: bytes):
        if not isinstance(core, EGRUCore):
            reject(self, TypeError(f"CommandUnit: core must be an EGRUCore, got {type(core).__name__}"))
        if not isinstance(wire, Wire) or wire.geometry is not core.geometry:
            reject(self, ValueError("CommandUnit: wire must be the Wire of this core's geometry"))
        if not 0 < len(info) < wire.max_response:
            reject(self, ValueError(f"CommandUnit: the INFO document ({len(info)} bytes) must be shorter "
                                    f"than the response buffer ({wire.max_response})"))
        self._core, self._wire, self._info = core, wire, bytes(info)
        g = core.geometry
        super().__init__({
            # from the frame receiver (hw/frame_rx.py)
            "frames": In(FrameSignature(wire.max_payload)),
            # to the frame transmitter (hw/frame_tx.py)
            "header": Out(stream.Signature(HEADER)), "data": Out(stream.Signature(8)),
            # to and from the core
            "inputs": Out(stream.Signature(core.input_layout)),
            "load": Out(stream.Signature(core.load_layout)),
            "peek": Out(stream.Signature(core.peek_layout)),
            "peek_data": In(g.data_bits), "peek_valid": In(1),
            "events": In(stream.Signature(core.event_layout)),
            "result": In(stream.Signature(core.result_layout)),
            "counters": In(stream.Signature(core.counter_layout)),
            "readout_cycles": In(len(core.counters.payload.cycles)),
            "cancel": Out(1),
            "quiet": Out(1),
        })

    def _core_side(self, m):
        """The ends of the core's ports that the FSM drives and reads: the ports themselves in
        the short pipeline; in the deep one, the inner ends of skid buffers and registers.

        Order: the core offers a step's counter word only after the step's last event has left
        its FIFO, i.e. at least a cycle after the events skid buffer took it; both the skid and
        the counters' handoff have a latency of 1, and the skid shows a held beat in every cycle
        until it has left, so whenever the counter word is visible the step's remaining events
        are visible too, and STEP_COLLECT (events first) keeps the order. The same holds for the
        result ahead of the readout's counter word (both handoffs; results before counters).
        Between steps the counters' handoff shows the core's idle payload one cycle late: the
        COUNTERS command reads it there."""
        ports = {name: getattr(self, name) for name in ("inputs", "load", "peek", "events", "result", "counters")}
        side = dict(ports, cancel=self.cancel, peek_data=self.peek_data, peek_valid=self.peek_valid,
                    idle_counters=self.counters.payload, readout_cycles=self.readout_cycles,
                    load_free=self.load.ready, busy=Const(0))
        # cancel reaches the core from a flip-flop in both pipelines (it is raised in DISPATCH
        # and STEP_DECIDE, states that offer the core nothing, and the next input comes later
        # still): the core takes no input in a cancel's cycle, and the FSM's decision through
        # the core's inputs.ready back into STEP_PUT was the worst path of the UP5K top (45 ns)
        cancel = Signal()
        m.d.sync += self.cancel.eq(cancel)
        side["cancel"] = cancel
        if self._core.geometry.cfg.pipeline != "deep":
            return side
        busy = []
        for name, port in ports.items():
            # events at the core's full rate; the others are at most a beat per 3 cycles (a byte
            # of the request each, or one per step or class)
            reg = (SkidBuffer if name == "events" else StreamHandoff)(port.payload.shape())
            m.submodules[f"{name}_reg"] = reg
            busy.append(reg.busy)
            if name in ("inputs", "load", "peek"):  # from the unit to the core
                connect(m, reg.o, flipped(port))
                side[name] = reg.i
            else:
                connect(m, flipped(port), reg.i)
                side[name] = reg.o
        side["idle_counters"] = side["counters"].payload
        for name in ("peek_data", "peek_valid", "readout_cycles", "load_free"):
            reg = Signal.like(side[name], name=f"{name}_q")
            m.d.sync += reg.eq(side[name])
            side[name] = reg
        side["busy"] = Cat(*busy).any()
        return side

    def _dispatch_decode(self, m, cmd, seq, length, crc, last):
        """The deep pipeline's DISPATCH decision on the request fields, in two registered steps
        (the comparisons in DECODE, the decision in DECIDE): one flag per outcome (at most one
        is high) and, for ``finish``, the status. The same decisions, in the same order, as the
        short pipeline's DISPATCH."""
        w = self._wire
        last_ok, last_cmd, last_seq, last_crc = last
        names = ("retry", "finish", "reset", "counters", "ping", "info", "access", "step")
        go_c = {name: Signal(name=f"go_{name}_c") for name in names}
        code_c = Signal(8)
        bad_len = Signal()

        def end(name, code=None):
            m.d.comb += go_c[name].eq(1)
            if code is not None:
                m.d.comb += code_c.eq(code)

        def flag(name, value):
            """A comparison of the request's fields, registered (DECODE): the retry check's 32
            bits of equality and the length compares in front of the priority chain were the
            worst path of the P = 2 top (9.96 ns, 6 levels)."""
            reg = Signal(name=f"dec_{name}")
            m.d.sync += reg.eq(value)
            return reg

        same = flag("same", last_ok & (cmd == last_cmd) & (seq == last_seq) & (crc == last_crc))
        is_cmd = {c: flag(f"is_{c.name.lower()}", cmd == c) for c in (Command.PING, Command.INFO, Command.STEP,
                                                                      Command.COUNTERS, Command.RESET)}
        is_access = flag("is_access", (cmd == Command.WRITE) | (cmd == Command.READ))
        too_long, empty = flag("too_long", length + 1 > w.max_response), flag("empty", length == 0)
        short_access = flag("short_access", length < ACCESS_HEADER)
        step_len = flag("step_len", length == w.step_request)
        with m.If(same):
            end("retry")
        with m.Elif(is_cmd[Command.PING]):
            with m.If(too_long):
                end("finish", Status.BAD_LENGTH)
            with m.Elif(empty):
                end("finish", Status.OK)
            with m.Else():
                end("ping")
        with m.Elif(is_cmd[Command.INFO]):
            m.d.comb += bad_len.eq(~empty)
            end("info")
        with m.Elif(is_access):
            m.d.comb += bad_len.eq(short_access)
            end("access")
        with m.Elif(is_cmd[Command.STEP]):
            m.d.comb += bad_len.eq(~step_len)
            end("step")
        with m.Elif(is_cmd[Command.COUNTERS]):
            m.d.comb += bad_len.eq(~empty)
            end("counters")
        with m.Elif(is_cmd[Command.RESET]):
            m.d.comb += bad_len.eq(~empty)
            end("reset")
        with m.Else():
            end("finish", Status.UNKNOWN_COMMAND)
        go = {name: Signal(name=f"go_{name}") for name in names}
        code = Signal(8)
        m.d.sync += code.eq(Mux(bad_len, Status.BAD_LENGTH, code_c))
        for name in names:
            if name == "finish":
                m.d.sync += go[name].eq(go_c[name] | bad_len)
            elif name == "retry":
                m.d.sync += go[name].eq(go_c[name])
            else:
                m.d.sync += go[name].eq(go_c[name] & ~bad_len)
        return go, code

    def elaborate(self, platform):  # noqa: C901  (one command set, kept in one place)
        w, g = self._wire, self._core.geometry
        P, I = g.P, g.I
        deep = g.cfg.pipeline == "deep"
        m = Module()
        core = self._core_side(m)
        inputs, load, peek = core["inputs"], core["load"], core["peek"]
        events, result, counters = core["events"], core["result"], core["counters"]
        cancel = core["cancel"]
        f = self.frames

        tx_mem = Memory(shape=8, depth=w.max_response, init=[])
        rom = Memory(shape=8, depth=len(self._info), init=list(self._info))
        m.submodules.response = tx_mem
        m.submodules.info = rom
        tx_rd, rom_rd = tx_mem.read_port(), rom.read_port()

        # ---- request fields --------------------------------------------------------------
        cmd, seq, length, crc = Signal(8), Signal(8), Signal(16), Signal(16)
        is_frame = Signal()             # the response answers a frame (not a receive error)
        status = Signal(8)
        tx_len = Signal(range(w.max_response + 1))
        # ---- request reader: the payload (and the INFO document, rp also walks it) a byte at a
        # time at rp; the deep pipeline registers both block-RAM outputs before any logic
        reader = RequestReader(span=max(w.max_payload, len(self._info)) + 1,
                               word_bytes=max(w.word_bytes, w.input_bytes), sources=2,
                               registered=deep)
        m.submodules.reader = reader
        m.d.comb += [f.rd_addr.eq(reader.addr), rom_rd.addr.eq(reader.addr),
                     reader.data[0].eq(f.rd_data), reader.data[1].eq(rom_rd.data)]
        rp, byte_ok, byte, info_byte = reader.addr, reader.ok, reader.byte[0], reader.byte[1]

        def seek(to):
            m.d.comb += [reader.seek.eq(1), reader.seek_to.eq(to)]

        def advance():
            m.d.comb += reader.advance.eq(1)

        hdr = Signal(8 * ACCESS_HEADER)
        target, lane = hdr[0:8], hdr[8:16]
        addr, count = hdr[16:48], hdr[48:64]
        AW = 8 * max(w.word_bytes, w.input_bytes)
        acc = reader.word               # a word or input value gathered LSB first, from the top
        nb = Signal(range(max(w.word_bytes, w.input_bytes) + 1))
        k = Signal(range(max(w.max_read(), w.max_write(), I) + 1))  # word / input index
        wa = Signal(range(w.max_response + 1))  # next response byte to write

        # ---- response writer: a value of n bytes into the response buffer, one byte a cycle
        writer = ResponseWriter(depth=w.max_response, registered=deep,
                                max_bytes=max(w.word_bytes, w.logit_bytes, w.event_bytes, 4))  # counters: by field
        m.submodules.writer = writer
        tx_wr = tx_mem.write_port()
        if deep:
            # the writes reach the buffer a cycle later, from registers: the FSM's choice of a
            # poke or a value, through the writer's port, into the block RAM's data input was
            # the worst path of the P = 4 top (10.5 ns). The buffer is read only in SEND, after
            # FINISH and SEND_HEADER, which wait for the writer to be free
            m.d.sync += [tx_wr.addr.eq(writer.wr.addr), tx_wr.data.eq(writer.wr.data), tx_wr.en.eq(writer.wr.en)]
        else:
            connect(m, writer.wr, tx_wr)
        ser_free = writer.free

        def offer(value, nbytes, at):
            """The value the writer takes if it is started in this cycle (``emit``). Offered by
            state (and, collecting a step, by which output is at hand), outside the handshake
            conditions of the start: the writer ignores it unless started, so its inputs need
            not wait for the start's decision (that was the worst path at P = 1 and 2)."""
            m.d.comb += [writer.value.eq(_widen(value, nbytes)), writer.nbytes.eq(nbytes), writer.at.eq(at)]

        def emit():
            """Start the writer on the value offered in this state."""
            m.d.comb += writer.start.eq(1)

        # ---- the last response, for retries ------------------------------------------------
        last_ok, last_cmd, last_seq, last_crc = Signal(), Signal(8), Signal(8), Signal(16)
        last_len, last_status = Signal.like(tx_len), Signal(8)

        # ---- sequence state -----------------------------------------------------------------
        steps = Signal(range(g.cfg.max_steps))      # steps done in the running sequence
        flags = Signal(8)
        end, start = flags[0], flags[1]
        bad = Signal()
        # The counters are not copied: the core holds its step's counter word until it is taken,
        # and keeps the last step's counters (and readout cycles) on the payload between steps,
        # so they go into the response byte by byte straight from there.
        cb = Signal(range(COUNTER_BYTES))  # the next counter byte
        la = Signal(range(w.max_response + 1))  # where the next logit goes
        finishing = Signal()
        n_events = Signal(range(w.max_events + 1))
        beat_lane = Signal(range(P))  # the lane of the event beat at the stream's head

        def finish(code, n=1):
            m.d.sync += [status.eq(code), tx_len.eq(n)]
            goto("FINISH")

        # top byte of an input value: the bits above input_bits - 1 must repeat its sign
        top_q = (g.cfg.input_bits - 1) - 8 * (w.input_bytes - 1)
        top_mask = (0xFF >> top_q) << top_q

        def gather(state, nbytes, then):
            """A state that reads the next ``nbytes`` payload bytes into the top of ``acc``."""
            with m.State(state):
                with m.If(byte_ok):
                    m.d.comb += reader.gather.eq(1)
                    m.d.sync += nb.eq(nb + 1)
                    with m.If(nb + 1 == nbytes):
                        goto(then)

        cw = counters.payload

        def counter_bytes(word):
            return Cat(*(_widen(getattr(word, name), n) for name, n in COUNTER_FIELDS))

        def write_counter_byte(word):
            """Write counter byte cb of ``word`` into the response (after the status byte); True
            after the last one. The response writer must be free."""
            m.d.comb += [writer.poke.eq(1), writer.poke_addr.eq(1 + cb),
                         writer.poke_data.eq(counter_bytes(word).word_select(cb, 8))]
            m.d.sync += cb.eq(cb + 1)
            last = cb == COUNTER_BYTES - 1
            with m.If(last):
                m.d.sync += cb.eq(0)
            return last

        rs = result.payload
        ev = events.payload

        # ---- the checks of a WRITE's or READ's header, from the header registers, registered
        # once more (ACCESS_WAIT gives them their cycle: the target's decode and the range check
        # into the FSM's choice of status were the worst path of the UP5K top, 41 ns). Addresses
        # and counts past every memory are refused on their high bits, so the range check needs
        # an adder only as wide as the load port's address.
        LA = g.load_addr_bits
        depth, valid_target, lane_ok = Signal(LA + 1), Signal(), Signal()
        with m.Switch(target):
            for t, (d, per_lane) in g.targets().items():
                with m.Case(t):
                    m.d.comb += [depth.eq(d), valid_target.eq(1), lane_ok.eq(lane < P if per_lane else lane == 0)]
        bad_length, bad_address = Signal(), Signal()
        m.d.comb += [
            bad_length.eq(Mux(cmd == Command.WRITE, length != ACCESS_HEADER + count * w.word_bytes,
                              (length != ACCESS_HEADER) | (count > w.max_read()))),
            bad_address.eq(~valid_target | ~lane_ok | (addr[LA:] != 0) | (count[LA:] != 0)
                           | (addr[:LA] + count[:LA] > depth)),
        ]
        bad_length_q, bad_address_q = Signal(), Signal()
        m.d.sync += [bad_length_q.eq(bad_length), bad_address_q.eq(bad_address)]
        bad_length, bad_address = bad_length_q, bad_address_q

        # the request's last payload byte, the access's last word: compared with length - 1 and
        # count - 1 from registers (length and count are at least 1 where these are asked, and a
        # state lies between their writes and the first question: DISPATCH, or DECODE in the
        # deep pipeline, and ACCESS_WAIT). k + 1 == count into the FSM's choice of status was
        # the worst path of the UP5K top (39 ns).
        length_m1, count_m1 = Signal.like(length), Signal.like(count)
        m.d.sync += [length_m1.eq(length - 1), count_m1.eq(count - 1)]

        def last_byte():
            return rp == length_m1

        def last_word():
            return k == count_m1

        if deep:
            go, go_code = self._dispatch_decode(m, cmd, seq, length, crc, (last_ok, last_cmd, last_seq, last_crc))

        # ---- what the writer is offered in the states that write values (PING, INFO, READ_TAKE,
        # COUNTERS_READOUT, STEP_COLLECT; the last by which output is at hand), in priority order
        event_value = Signal(signed(8 * w.state_bytes))  # signed values go out sign-extended to whole bytes
        logit = Signal(signed(8 * w.logit_bytes))
        m.d.comb += [event_value.eq(ev.y[beat_lane]), logit.eq(rs.value)]
        fire = ev.fire.bit_select(beat_lane, 1)
        unit = ev.m * P + beat_lane
        state_offers = {
            "PING": (byte, 1, rp + 1), "INFO": (info_byte, 1, rp + 1),
            "READ_TAKE": (core["peek_data"], w.word_bytes, wa),
            "COUNTERS_READOUT": (core["readout_cycles"], 4, 1 + COUNTER_BYTES),
        }
        collect_offers = [  # (when, value, nbytes, at): the first whose condition holds
            (events.valid, Cat(_widen(ev.layer, 1), _widen(unit, 2), event_value), w.event_bytes, wa),
            (result.valid & (rs.kind == R_LOGIT), logit, w.logit_bytes, la),
            (result.valid, rs.index, 2, w.class_at),
            (counters.valid, cw.cycles, 4, w.readout_at),
            (Const(1), n_events, 2, w.events_count_at),
        ]

        # The deep pipeline keeps a flag per state that writes values, a flip-flop high exactly
        # while the FSM is in that state (every transition goes through ``goto``), and drives the
        # writer's offer and STEP_COLLECT's handshakes from those flags outside the FSM: decoding
        # the binary state register (Yosys does not re-encode an FSM whose register has an initial
        # value) into the offer's choice and the writer's start registers was the worst path of a
        # P = 4 top (11.8 ns, 6 levels).
        in_state = {name: Signal(name=f"in_{name.lower()}") for name in (*state_offers, "STEP_COLLECT")} \
            if deep else {}

        def goto(state):
            m.next = state
            for name, flag in in_state.items():
                m.d.sync += flag.eq(name == state)

        collect_done = Signal()  # STEP_COLLECT's response is complete: FINISH next

        def collect_step():
            """STEP_COLLECT's handshakes: events first (their beat stays at the stream's head
            until its last lane is out), then results, then counter words, then the end."""
            with m.If(events.valid):
                with m.If(~fire | ser_free):
                    with m.If(fire):
                        emit()
                        m.d.sync += [wa.eq(wa + w.event_bytes), n_events.eq(n_events + 1)]
                    m.d.sync += beat_lane.eq(beat_lane + 1)
                    with m.If(beat_lane == P - 1):
                        m.d.comb += events.ready.eq(1)
                        m.d.sync += beat_lane.eq(0)
            with m.Elif(result.valid & ser_free):
                m.d.comb += result.ready.eq(1)
                emit()
                with m.If(rs.kind == R_LOGIT):  # the logits come in class order
                    m.d.sync += la.eq(la + w.logit_bytes)
            with m.Elif(counters.valid & ser_free):
                with m.If(cw.kind == C_STEP):
                    with m.If(write_counter_byte(cw)):  # the word is taken after its last byte
                        m.d.comb += counters.ready.eq(1)
                        with m.If(end):
                            m.d.sync += steps.eq(0)
                        with m.Else():
                            m.d.sync += steps.eq(steps + 1)
                            if not w.carries_readout(False):  # else the readout's counter word finishes
                                m.d.sync += finishing.eq(1)
                with m.Elif(cw.kind == C_READOUT):
                    m.d.comb += counters.ready.eq(1)
                    emit()
                    m.d.sync += finishing.eq(1)
            with m.Elif(finishing & ser_free):  # every counter byte is written by now
                emit()
                m.d.comb += collect_done.eq(1)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.quiet.eq(~f.frame_valid & ~f.error_valid & ~core["busy"])
                with m.If(f.error_valid):
                    m.d.comb += f.error_done.eq(1)
                    # the stored response stays: a damaged resend of the last frame must not
                    # make its next clean copy run again
                    m.d.sync += [cmd.eq(f.cmd), seq.eq(f.seq), is_frame.eq(0)]
                    finish(f.error)
                with m.Elif(f.frame_valid):
                    seek(0)
                    m.d.sync += [cmd.eq(f.cmd), seq.eq(f.seq), length.eq(f.length), crc.eq(f.crc),
                                 is_frame.eq(1), k.eq(0), nb.eq(0), wa.eq(1), bad.eq(0)]
                    goto("DECODE" if deep else "DISPATCH")

            if deep:
                with m.State("DECODE"):  # the comparisons of the new request's fields are registered now ...
                    goto("DECIDE")
                with m.State("DECIDE"):  # ... and the dispatch decision on them
                    goto("DISPATCH")
                with m.State("DISPATCH"):
                    with m.If(go["retry"]):
                        m.d.comb += f.frame_done.eq(1)
                        m.d.sync += [tx_len.eq(last_len), status.eq(last_status)]
                        goto("SEND_HEADER")
                    with m.Elif(go["finish"]):
                        finish(go_code)
                    with m.Elif(go["reset"]):
                        m.d.comb += cancel.eq(1)  # the core is between steps: safe at any time
                        m.d.sync += steps.eq(0)
                        finish(Status.OK)
                    with m.Elif(go["counters"]):
                        m.d.sync += cb.eq(0)
                        goto("COUNTERS")
                    for name, state in (("ping", "PING"), ("info", "INFO"), ("access", "ACCESS_HEADER"),
                                        ("step", "STEP_CHECK")):
                        with m.Elif(go[name]):
                            goto(state)

            else:
                with m.State("DISPATCH"):
                    retry = last_ok & (cmd == last_cmd) & (seq == last_seq) & (crc == last_crc)
                    with m.If(retry):
                        m.d.comb += f.frame_done.eq(1)
                        m.d.sync += [tx_len.eq(last_len), status.eq(last_status)]
                        goto("SEND_HEADER")
                    with m.Elif(cmd == Command.PING):
                        with m.If(length + 1 > w.max_response):
                            finish(Status.BAD_LENGTH)
                        with m.Elif(length == 0):
                            finish(Status.OK)
                        with m.Else():
                            goto("PING")
                    with m.Elif(cmd == Command.INFO):
                        with m.If(length != 0):
                            finish(Status.BAD_LENGTH)
                        with m.Else():
                            goto("INFO")
                    with m.Elif((cmd == Command.WRITE) | (cmd == Command.READ)):
                        with m.If(length < ACCESS_HEADER):
                            finish(Status.BAD_LENGTH)
                        with m.Else():
                            goto("ACCESS_HEADER")
                    with m.Elif(cmd == Command.STEP):
                        with m.If(length != w.step_request):
                            finish(Status.BAD_LENGTH)
                        with m.Else():
                            goto("STEP_CHECK")
                    with m.Elif((cmd == Command.COUNTERS) | (cmd == Command.RESET)):
                        with m.If(length != 0):
                            finish(Status.BAD_LENGTH)
                        with m.Elif(cmd == Command.RESET):
                            m.d.comb += cancel.eq(1)  # the core is between steps: safe at any time
                            m.d.sync += steps.eq(0)
                            finish(Status.OK)
                        with m.Else():
                            m.d.sync += cb.eq(0)
                            goto("COUNTERS")
                    with m.Else():
                        finish(Status.UNKNOWN_COMMAND)

            # ---- PING and INFO: copy bytes into the response
            with m.State("PING"):
                if not deep:
                    offer(*state_offers["PING"])
                with m.If(byte_ok & ser_free):
                    emit()
                    advance()
                    with m.If(last_byte()):
                        finish(Status.OK, length + 1)
            with m.State("INFO"):
                if not deep:
                    offer(*state_offers["INFO"])
                with m.If(byte_ok & ser_free):
                    emit()
                    advance()
                    with m.If(rp + 1 == len(self._info)):
                        finish(Status.OK, len(self._info) + 1)

            # ---- WRITE and READ: header, checks, then one word at a time
            with m.State("ACCESS_HEADER"):
                with m.If(byte_ok):
                    advance()
                    m.d.sync += hdr.eq(Cat(hdr[8:], byte))
                    with m.If(rp + 1 == ACCESS_HEADER):
                        goto("ACCESS_WAIT")
            with m.State("ACCESS_WAIT"):  # the checks of the complete header are registered now
                goto("ACCESS_CHECK")
            with m.State("ACCESS_CHECK"):
                is_write = cmd == Command.WRITE
                with m.If(bad_length):
                    finish(Status.BAD_LENGTH)
                with m.Elif(bad_address):
                    finish(Status.BAD_ADDRESS)
                with m.Elif(~core["load_free"]):
                    finish(Status.BUSY)  # loads and reads only between sequences
                with m.Elif(count == 0):
                    finish(Status.OK)
                with m.Elif(is_write):
                    goto("WRITE_GATHER")
                with m.Else():
                    goto("READ_ASK")
            gather("WRITE_GATHER", w.word_bytes, "WRITE_PUT")
            with m.State("WRITE_PUT"):
                ld = load.payload
                m.d.comb += [load.valid.eq(1), ld.target.eq(target), ld.lane.eq(lane),
                             ld.addr.eq(addr[:g.load_addr_bits] + k),
                             ld.data.eq(acc[AW - 8 * w.word_bytes:])]
                with m.If(load.ready):
                    m.d.sync += [k.eq(k + 1), nb.eq(0)]
                    with m.If(last_word()):
                        finish(Status.OK)
                    with m.Else():
                        goto("WRITE_GATHER")
            with m.State("READ_ASK"):
                pk = peek.payload
                m.d.comb += [peek.valid.eq(ser_free), pk.target.eq(target), pk.lane.eq(lane),
                             pk.addr.eq(addr[:g.load_addr_bits] + k)]
                with m.If(ser_free & peek.ready):
                    goto("READ_TAKE")
            with m.State("READ_TAKE"):
                if not deep:
                    offer(*state_offers["READ_TAKE"])
                with m.If(core["peek_valid"]):
                    emit()
                    m.d.sync += [wa.eq(wa + w.word_bytes), k.eq(k + 1)]
                    with m.If(last_word()):
                        finish(Status.OK, 1 + count * w.word_bytes)
                    with m.Else():
                        goto("READ_ASK")

            # ---- STEP: check every byte first, then feed the core and collect its outputs
            with m.State("STEP_CHECK"):
                with m.If(byte_ok):
                    advance()
                    with m.If(rp == 0):
                        m.d.sync += [flags.eq(byte), bad.eq((byte & ~STEP_FLAGS) != 0)]
                    with m.Else():
                        with m.If(nb + 1 == w.input_bytes):  # the value's top byte
                            m.d.sync += nb.eq(0)
                            if top_q < 7:
                                top = byte & top_mask
                                with m.If((top != 0) & (top != top_mask)):
                                    m.d.sync += bad.eq(1)
                        with m.Else():
                            m.d.sync += nb.eq(nb + 1)
                    with m.If(last_byte()):
                        goto("STEP_DECIDE")
            with m.State("STEP_DECIDE"):
                done_steps = Mux(start, 0, steps)  # steps of this sequence before this one
                with m.If(bad | (~end & (done_steps == g.cfg.max_steps - 1))):
                    finish(Status.BAD_ARGUMENT)  # a value outside input_bits, unknown flags, or too long
                with m.Else():
                    with m.If(start):
                        m.d.comb += cancel.eq(1)
                        m.d.sync += steps.eq(0)
                    seek(1)
                    m.d.sync += [nb.eq(0), k.eq(0)]
                    goto("STEP_GATHER")
            gather("STEP_GATHER", w.input_bytes, "STEP_PUT")
            with m.State("STEP_PUT"):
                ip = inputs.payload
                lo = AW - 8 * w.input_bytes
                final = k == I - 1
                m.d.comb += [inputs.valid.eq(1), ip.index.eq(k), ip.value.eq(acc[lo:lo + g.cfg.input_bits]),
                             ip.last.eq(final & ~end), ip.end.eq(final & end)]
                with m.If(inputs.ready):
                    m.d.sync += [k.eq(k + 1), nb.eq(0)]
                    with m.If(final):
                        m.d.sync += [wa.eq(w.events_at(False)), finishing.eq(0), n_events.eq(0), beat_lane.eq(0),
                                     la.eq(w.logits_at)]
                        with m.If(end):  # (a per-step readout's events_at(False) is this already)
                            m.d.sync += wa.eq(w.events_at(True))
                        goto("STEP_COLLECT")
                    with m.Else():
                        goto("STEP_GATHER")
            with m.State("STEP_COLLECT"):
                if not deep:  # (the deep pipeline's handshakes are below the FSM)
                    with m.If(collect_offers[0][0]):
                        offer(*collect_offers[0][1:])
                    for when, *what in collect_offers[1:]:
                        with m.Elif(when):
                            offer(*what)
                    collect_step()
                with m.If(collect_done):
                    finish(Status.OK, wa)

            with m.State("COUNTERS"):  # the core is between steps: its payload holds the last step's
                with m.If(ser_free):
                    with m.If(write_counter_byte(core["idle_counters"])):  # (it writes only inside this If)
                        goto("COUNTERS_READOUT")
            with m.State("COUNTERS_READOUT"):
                if not deep:
                    offer(*state_offers["COUNTERS_READOUT"])
                with m.If(ser_free):
                    emit()
                    finish(Status.OK, w.counters_response)

            # ---- the response: header, the status byte (from its register: byte 0 of the buffer
            # is never written, so a receive error's answer leaves the stored response intact),
            # then the buffer's bytes
            with m.State("FINISH"):
                with m.If(ser_free):
                    m.d.comb += f.frame_done.eq(is_frame)
                    with m.If(is_frame):
                        m.d.sync += [last_ok.eq(1), last_cmd.eq(cmd), last_seq.eq(seq), last_crc.eq(crc),
                                     last_len.eq(tx_len), last_status.eq(status)]
                    goto("SEND_HEADER")
            sp, dv, at0 = Signal.like(tx_len), Signal(), Signal()
            with m.State("SEND_HEADER"):
                h = self.header.payload
                m.d.comb += [self.header.valid.eq(1), h.cmd.eq(cmd | RESPONSE), h.seq.eq(seq), h.length.eq(tx_len)]
                with m.If(self.header.ready):
                    m.d.sync += [sp.eq(0), dv.eq(0)]
                    goto("SEND")
            with m.State("SEND"):
                # a one-word pipeline from the buffer's read port: the port holds its data while
                # the transmitter stalls (en low)
                advance = ~dv | self.data.ready
                m.d.comb += [tx_rd.addr.eq(sp), tx_rd.en.eq(advance),
                             self.data.valid.eq(dv), self.data.payload.eq(Mux(at0, status, tx_rd.data))]
                with m.If(advance):
                    m.d.sync += [dv.eq(sp < tx_len), at0.eq(sp == 0)]
                    with m.If(sp < tx_len):
                        m.d.sync += sp.eq(sp + 1)
                    with m.Else():
                        goto("IDLE")

        if deep:
            # the offer as an AND-OR of one-hot choices (the flags are one-hot, and so are the
            # collect choices by their priority)
            choices = [(in_state[name], *what) for name, what in state_offers.items()]
            taken = Const(0)
            for when, *what in collect_offers:
                choices.append((in_state["STEP_COLLECT"] & when & ~taken, *what))
                taken = taken | when
            widest = max(n for _, _, n, _ in choices)

            def any_of(terms):
                return functools.reduce(operator.or_, terms)

            m.d.comb += [
                writer.value.eq(any_of(Mux(c, _widen(_widen(v, n), widest), 0) for c, v, n, _ in choices)),
                writer.nbytes.eq(any_of(Mux(c, n, 0) for c, _, n, _ in choices)),
                writer.at.eq(any_of(Mux(c, a, 0) for c, _, _, a in choices)),
            ]
            with m.If(in_state["STEP_COLLECT"]):
                collect_step()
        return m
