"""The frame transmitter of the host protocol: header and payload in, framed bytes out."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.frame_rx import SOF, crc16_update

HEADER = data.StructLayout({"cmd": 8, "seq": 8, "length": 16})


class FrameTx(wiring.Component):
    """Frames a response (docs/protocol.md): take one ``header`` (cmd, seq, length), then
    ``length`` bytes from ``data``, and send SOF, cmd, seq, length (LE), the payload and the
    CRC-16/CCITT-FALSE (LE) on ``bytes``.

    Latency: the start byte is offered in the cycle after the header is accepted. Throughput:
    one byte per cycle while ``bytes`` is ready and ``data`` has the next payload byte, i.e.
    length + 7 cycles per frame at full rate.
    """

    def __init__(self):
        super().__init__({"header": In(stream.Signature(HEADER)), "data": In(stream.Signature(8)),
                          "bytes": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        cmd, seq, length = Signal(8), Signal(8), Signal(16)
        crc = Signal(16)
        pos = Signal(16)
        out = self.bytes
        sent = out.valid & out.ready

        # one CRC circuit, on whatever byte leaves: header and payload bytes count, SOF and CRC not
        counted = Signal()
        with m.If(sent & counted):
            m.d.sync += crc.eq(crc16_update(crc, out.payload))

        def send(value, nxt, add_to_crc=True):
            m.d.comb += [out.valid.eq(1), out.payload.eq(value), counted.eq(add_to_crc)]
            with m.If(out.ready):
                m.next = nxt

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.header.ready.eq(1)
                with m.If(self.header.valid):
                    h = self.header.payload
                    m.d.sync += [cmd.eq(h.cmd), seq.eq(h.seq), length.eq(h.length), crc.eq(0xFFFF), pos.eq(0)]
                    m.next = "SOF"
            with m.State("SOF"):
                send(SOF, "CMD", add_to_crc=False)
            with m.State("CMD"):
                send(cmd, "SEQ")
            with m.State("SEQ"):
                send(seq, "LEN0")
            with m.State("LEN0"):
                send(length[:8], "LEN1")
            with m.State("LEN1"):
                send(length[8:], "PAYLOAD")
                with m.If(sent & (length == 0)):
                    m.next = "CRC0"
            with m.State("PAYLOAD"):
                m.d.comb += [out.valid.eq(self.data.valid), out.payload.eq(self.data.payload),
                             self.data.ready.eq(out.ready), counted.eq(1)]
                with m.If(sent):
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(pos + 1 == length):
                        m.next = "CRC0"
            with m.State("CRC0"):
                send(crc[:8], "CRC1", add_to_crc=False)
            with m.State("CRC1"):
                send(crc[8:], "IDLE", add_to_crc=False)
        return m
