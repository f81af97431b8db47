"""UART receiver and transmitter (8 data bits, no parity, 1 stop bit) with byte streams."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from hw.fixed import reject


def check_divisor(owner, divisor) -> None:
    """Reject (from ``owner``'s constructor) a bit period the UART cannot sample."""
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 4:
        reject(owner, ValueError(f"{type(owner).__name__}: divisor (clock cycles per bit) "
                                 f"must be an integer >= 4, got {divisor!r}"))


class _UART(wiring.Component):
    """What receiver and transmitter share: the validated bit period."""

    def __init__(self, divisor: int, members: dict):
        check_divisor(self, divisor)
        self._divisor = divisor
        super().__init__(members)

    @property
    def divisor(self) -> int:
        """Clock cycles per bit: clock frequency / baud rate."""
        return self._divisor


class UARTRx(_UART):
    """Receives bytes on ``rx`` (idle high) into the ``bytes`` stream.

    ``divisor`` is the number of clock cycles per bit (clock frequency / baud rate). The line is
    synchronised through two flip-flops; a start bit is confirmed at its middle and every bit is
    sampled at its middle. A byte whose stop bit reads low is dropped and counted in ``errors``
    (framing error); a byte that finds the stream not ready is dropped and counted in
    ``overruns``. Latency: a byte is on ``bytes`` about 9.5 bit times after its start edge (plus
    the 2-cycle synchroniser). Throughput: one byte per 10 bit times, the line rate.
    """

    def __init__(self, divisor: int):
        super().__init__(divisor, {"rx": In(1, init=1), "bytes": Out(stream.Signature(8)),
                                   "errors": Out(16), "overruns": Out(16)})

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(d))
        bit = Signal(range(10))
        shift = Signal(8)
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(~line):  # still low in the middle: a real start bit
                        m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                        m.next = "DATA"
                    with m.Else():
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(d - 1), shift.eq((shift >> 1) | (line << 7)), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        with m.If(self.bytes.valid & ~self.bytes.ready):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                        with m.Else():
                            m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.errors.eq(self.errors + 1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):  # wait for the line to return high before the next start bit
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(_UART):
    """Sends the bytes of the ``bytes`` stream on ``tx`` (idle high): start bit, 8 data bits
    LSB first, stop bit, each ``divisor`` clock cycles long. Latency: the start bit begins in
    the cycle after a byte is accepted. Throughput: one byte per 10 bit times, back to back."""

    def __init__(self, divisor: int):
        super().__init__(divisor, {"tx": Out(1, init=1), "bytes": In(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        bits = Signal(9)    # data then stop bit, shifted out LSB first
        left = Signal(range(10))
        # ready once the last bit (the stop bit) has lasted its full period
        m.d.comb += self.bytes.ready.eq((left == 0) & (timer == 0))
        with m.If(self.bytes.ready & self.bytes.valid):  # the start bit goes out at once
            m.d.sync += [self.tx.eq(0), bits.eq((1 << 8) | self.bytes.payload), left.eq(9), timer.eq(d - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Elif(left != 0):
            m.d.sync += [self.tx.eq(bits[0]), bits.eq(bits >> 1), left.eq(left - 1), timer.eq(d - 1)]
        return m
