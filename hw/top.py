"""The accelerator top: the core behind the host protocol on a UART (two pins)."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out, connect

from hw.command import CommandUnit
from hw.core import EGRUCore
from hw.fixed import reject
from hw.frame_rx import FrameRx
from hw.frame_tx import FrameTx
from hw.spec.layout import CoreImage
from hw.spec.protocol import Wire, info_document
from hw.stream_reg import SkidBuffer, StreamRegister
from hw.uart import UARTRx, UARTTx, check_divisor


class UARTTop(wiring.Component):
    """``rx`` -> UART receiver -> byte FIFO -> frame receiver -> command unit <-> EGRUCore;
    command unit -> frame transmitter -> UART transmitter -> ``tx``.

    ``divisor``: clock cycles per bit (clock / baud). ``max_payload``: the request buffer
    (raised to fit a STEP of this build). ``rx_fifo``: bytes buffered while a request executes
    or a response is sent; the host waits for each response, so it only has to absorb garbage
    and the frames that follow a damaged one. ``timeout_bytes``: a frame whose bytes pause for
    this many byte times is TRUNCATED. ``quiet`` is high while nothing is received, pending,
    executing or being sent (a simulation bridge may then stop the clock; a board may light an LED).

    Throughput: the line rate, 10 bit times per byte each way; a STEP costs its request and
    response bytes plus the core's cycles (sw/cycles.py).
    """

    def __init__(self, image: CoreImage, divisor: int, max_payload: int = 256, rx_fifo: int = 256,
                 timeout_bytes: int = 64, version: str = "0"):
        check_divisor(self, divisor)
        for name, value, lo in (("rx_fifo", rx_fifo, 2), ("timeout_bytes", timeout_bytes, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                reject(self, ValueError(f"UARTTop: {name} must be an integer >= {lo}, got {value!r}"))
        self.core = EGRUCore(image)
        self.wire = Wire(self.core.geometry, max_payload)
        self.info = info_document(self.wire, divisor, version)
        self._divisor, self._rx_fifo, self._timeout = divisor, rx_fifo, timeout_bytes * 10 * divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "quiet": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.uart_rx = uart_rx = UARTRx(self._divisor)
        m.submodules.rx_fifo = fifo = SyncFIFOBuffered(width=8, depth=self._rx_fifo)
        deep = self.core.geometry.cfg.pipeline == "deep"
        # the receiver's decisions from registers in both pipelines: the length compare into its
        # FSM was a worst path of the UP5K top (42 ns); it costs a cycle or two per frame, no
        # cycle of a step
        m.submodules.frame_rx = frame_rx = FrameRx(self.wire.max_payload, self._timeout, registered=True)
        m.submodules.command = unit = CommandUnit(core, self.wire, self.info)
        m.submodules.frame_tx = frame_tx = FrameTx()
        m.submodules.uart_tx = uart_tx = UARTTx(self._divisor)

        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx),
                     fifo.w_data.eq(uart_rx.bytes.payload), fifo.w_en.eq(uart_rx.bytes.valid),
                     uart_rx.bytes.ready.eq(fifo.w_rdy)]
        regs_busy = 0
        if deep:
            # the receive FIFO's and the response buffer's block-RAM outputs go into registers
            # before the frame receiver's and transmitter's logic
            m.submodules.rx_reg = rx_reg = StreamRegister(8)
            m.submodules.tx_reg = tx_reg = StreamRegister(8)
            # and a skid buffer carries the bytes across the chip: the FIFO sits by the receive
            # pin, and the hop from its register into the frame receiver's logic was the worst
            # path at P = 4 (10.5 ns, 5.5 of them one wire); a byte a cycle more, at a byte per
            # ten bit times
            m.submodules.rx_skid = rx_skid = SkidBuffer(8)
            m.d.comb += [rx_reg.i.payload.eq(fifo.r_data), rx_reg.i.valid.eq(fifo.r_rdy), fifo.r_en.eq(rx_reg.i.ready)]
            connect(m, rx_reg.o, rx_skid.i)
            connect(m, rx_skid.o, frame_rx.bytes)
            connect(m, unit.data, tx_reg.i)
            connect(m, tx_reg.o, frame_tx.data)
            regs_busy = rx_reg.busy | rx_skid.busy | tx_reg.busy
        else:
            m.d.comb += [frame_rx.bytes.payload.eq(fifo.r_data), frame_rx.bytes.valid.eq(fifo.r_rdy),
                         fifo.r_en.eq(frame_rx.bytes.ready)]
            connect(m, unit.data, frame_tx.data)
        connect(m, frame_rx.frames, unit.frames)
        connect(m, unit.header, frame_tx.header)
        connect(m, frame_tx.bytes, uart_tx.bytes)
        for name in ("inputs", "load", "peek", "events", "result", "counters"):
            connect(m, getattr(unit, name), getattr(core, name))
        m.d.comb += [core.cancel.eq(unit.cancel), unit.peek_data.eq(core.peek_data),
                     unit.readout_cycles.eq(core.readout_cycles),
                     unit.peek_valid.eq(core.peek_valid),
                     self.quiet.eq(unit.quiet & frame_rx.idle & ~fifo.r_rdy & (fifo.level == 0) & ~regs_busy
                                   & ~uart_rx.bytes.valid & frame_tx.header.ready & uart_tx.bytes.ready)]
        return m
