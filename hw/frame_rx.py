"""The frame receiver of the host protocol (docs/protocol.md): bytes in, checked frames out."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.fixed import reject
from hw.spec.layout import bits
from hw.spec.protocol import SOF, Status

# the status codes that the receiver reports
BAD_CRC, BAD_LENGTH, TRUNCATED = Status.BAD_CRC, Status.BAD_LENGTH, Status.TRUNCATED


def crc16_update(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte (an Amaranth expression; MSB first)."""
    c = crc ^ (byte << 8)
    for _ in range(8):
        c = ((c << 1) ^ (0x1021 * c[15]))[:16]
    return c


class FrameSignature(wiring.Signature):
    """The frame receiver's side of its link to the frame's consumer (the command unit; flip it
    for that side): a checked frame (``frame_valid``, ``cmd``, ``seq``, ``length``, ``crc``) whose
    payload of at most ``max_payload`` bytes the consumer reads through ``rd_addr``/``rd_data``
    (one cycle of latency) until it pulses ``frame_done``; or a bad frame (``error_valid``,
    ``error``, and ``cmd``/``seq`` as far as they arrived) until ``error_done``."""

    def __init__(self, max_payload: int):
        if isinstance(max_payload, bool) or not isinstance(max_payload, int) or max_payload < 1:
            raise ValueError(f"FrameSignature: max_payload must be an integer >= 1, got {max_payload!r}")
        self._max = max_payload
        super().__init__({
            "frame_valid": Out(1), "cmd": Out(8), "seq": Out(8), "length": Out(16), "crc": Out(16),
            "rd_addr": In(bits(max_payload)), "rd_data": Out(8), "frame_done": In(1),
            "error_valid": Out(1), "error": Out(8), "error_done": In(1),
        })

    @property
    def max_payload(self) -> int:
        return self._max

    def __eq__(self, other):
        return type(other) is type(self) and other.max_payload == self._max

    def __hash__(self):
        return hash((type(self), self._max))

    def __repr__(self):
        return f"FrameSignature({self._max})"


class FrameRx(wiring.Component):
    """Receives frames from the ``bytes`` stream into a buffer and releases a frame only after
    all of it has arrived with a valid length and CRC.

    On ``frames`` (a FrameSignature), a checked frame raises ``frame_valid`` with ``cmd``,
    ``seq`` and ``length``; its payload is read through ``rd_addr``/``rd_data`` (one cycle of
    latency) until the consumer pulses ``frame_done``. A bad frame raises ``error_valid`` with
    ``error`` (BAD_CRC, BAD_LENGTH or TRUNCATED), and ``cmd``/``seq`` as far as they arrived,
    until ``error_done``. While either
    is pending the receiver takes no byte (``bytes.ready`` low), so nothing half-received ever
    has an effect. A frame whose bytes stop for ``timeout`` cycles is TRUNCATED. After any
    error the receiver hunts for the next start byte among the following bytes: it never hangs.
    ``idle`` is high while it hunts with no frame begun or pending.

    Throughput: one byte per cycle. Latency: a frame is released the cycle after its last byte.

    With ``registered`` (the deep pipeline) the decisions on a received byte are taken a cycle
    later, from registers: the length's checks (LEN_CHECK) and the CRC's high byte (CRC_CHECK)
    in a cycle of their own, the low CRC byte's comparison and the payload's last position
    (length - 1) ahead, and the timeout from a flag; so no byte goes through a wide comparison
    into the frame's or the error's flags. A frame is then released two cycles after its last
    byte, and a header with a bad length is refused a cycle later; the same frames and errors.
    """

    def __init__(self, max_payload: int = 256, timeout: int = 1000, registered: bool = False):
        for name, value, lo in (("max_payload", max_payload, 1), ("timeout", timeout, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                reject(self, ValueError(f"FrameRx: {name} must be an integer >= {lo}, got {value!r}"))
        if not isinstance(registered, bool):
            reject(self, TypeError(f"FrameRx: registered must be a bool, got {registered!r}"))
        self._max, self._timeout, self._registered = max_payload, timeout, registered
        super().__init__({"bytes": In(stream.Signature(8)), "frames": Out(FrameSignature(max_payload)),
                          "idle": Out(1)})

    @property
    def max_payload(self) -> int:
        return self._max

    def elaborate(self, platform):
        m = Module()
        f = self.frames
        buf = Memory(shape=8, depth=max(2, self._max), init=[])
        m.submodules.buffer = buf
        wr, rd = buf.write_port(), buf.read_port()
        m.d.comb += [rd.addr.eq(f.rd_addr), f.rd_data.eq(rd.data)]

        byte = self.bytes.payload
        take = self.bytes.valid & self.bytes.ready
        crc = Signal(16, init=0xFFFF)
        got_crc = Signal(8)
        pos = Signal(range(self._max + 1))  # length <= max_payload is checked first
        idle = Signal(range(self._timeout + 1))

        def fail(code):
            m.d.sync += [f.error.eq(code), f.error_valid.eq(1)]
            m.next = "ERROR"

        with m.If(take):
            m.d.sync += idle.eq(0)
        with m.Elif(idle < self._timeout):
            m.d.sync += idle.eq(idle + 1)
        reg = self._registered
        if reg:
            # timed_out == (idle == timeout) in every cycle, from a flip-flop
            timed_out, len_m1, crc_lo_ok = Signal(), Signal.like(f.length), Signal()
            m.d.sync += timed_out.eq(~take & (idle >= self._timeout - 1))
        else:
            timed_out = idle == self._timeout

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += [self.bytes.ready.eq(1), self.idle.eq(1)]
                with m.If(take & (byte == SOF)):
                    m.d.sync += [crc.eq(0xFFFF), f.cmd.eq(0), f.seq.eq(0), f.length.eq(0)]
                    m.next = "CMD"
            def receive(state, on_byte):
                """A state that takes one byte (``on_byte`` acts on it) or times out."""
                with m.State(state):
                    m.d.comb += self.bytes.ready.eq(1)
                    with m.If(take):
                        on_byte()
                    with m.Elif(timed_out):
                        fail(TRUNCATED)

            def header_byte(field, nxt):
                def on_byte():
                    m.d.sync += [field.eq(byte), crc.eq(crc16_update(crc, byte))]
                    m.next = nxt
                return on_byte

            def length_high():
                m.d.sync += [f.length[8:].eq(byte), crc.eq(crc16_update(crc, byte)), pos.eq(0)]
                if reg:
                    m.next = "LEN_CHECK"
                else:
                    check_length((byte << 8) | f.length[:8])

            def check_length(length):
                with m.If(length > self._max):
                    fail(BAD_LENGTH)  # the frame's end is unknown: hunt from the next byte
                with m.Elif(length == 0):
                    m.next = "CRC0"
                with m.Else():
                    m.next = "PAYLOAD"

            def payload_byte():
                m.d.comb += [wr.addr.eq(pos), wr.data.eq(byte), wr.en.eq(1)]
                m.d.sync += [pos.eq(pos + 1), crc.eq(crc16_update(crc, byte))]
                with m.If(pos == len_m1 if reg else pos + 1 == f.length):
                    m.next = "CRC0"

            def crc_low():
                m.d.sync += got_crc.eq(byte)
                if reg:
                    m.d.sync += crc_lo_ok.eq(byte == crc[:8])
                m.next = "CRC1"

            def crc_high():
                if reg:
                    m.d.sync += got_crc.eq(byte)
                    m.next = "CRC_CHECK"
                else:
                    check_crc(((byte << 8) | got_crc) == crc)

            def check_crc(ok):
                with m.If(ok):
                    m.d.sync += [f.frame_valid.eq(1), f.crc.eq(crc)]
                    m.next = "FRAME"
                with m.Else():
                    fail(BAD_CRC)

            receive("CMD", header_byte(f.cmd, "SEQ"))
            receive("SEQ", header_byte(f.seq, "LEN0"))
            receive("LEN0", header_byte(f.length[:8], "LEN1"))
            receive("LEN1", length_high)
            receive("PAYLOAD", payload_byte)
            receive("CRC0", crc_low)
            receive("CRC1", crc_high)
            if reg:
                with m.State("LEN_CHECK"):  # the whole length is in its register now
                    m.d.sync += len_m1.eq(f.length - 1)
                    check_length(f.length)
                with m.State("CRC_CHECK"):  # got_crc holds the high byte now
                    check_crc(crc_lo_ok & (got_crc == crc[8:]))
            with m.State("FRAME"):
                with m.If(f.frame_done):
                    m.d.sync += f.frame_valid.eq(0)
                    m.next = "HUNT"
            with m.State("ERROR"):
                with m.If(f.error_done):
                    m.d.sync += f.error_valid.eq(0)
                    m.next = "HUNT"
        return m
