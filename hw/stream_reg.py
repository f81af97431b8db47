"""A register slice for a stream: the payload leaves from flip-flops."""

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.fixed import reject


class StreamRegister(wiring.Component):
    """Passes ``i`` to ``o`` through one register, so that whatever drives ``i.payload`` (a
    block-RAM output, say) is not in a combinational path with the consumer's logic.

    Latency: 1 cycle (a beat accepted in cycle n is offered in n + 1). Throughput: one beat per
    cycle while ``o`` is ready (``i.ready`` = the register is empty or is being emptied, a
    combinational path from ``o.ready`` only). ``busy`` is high while it holds a beat.
    """

    def __init__(self, shape):
        try:
            shape = Shape.cast(shape)
        except TypeError as e:
            reject(self, TypeError(f"StreamRegister: shape must be a shape, got {shape!r} ({e})"))
        self._shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape)), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        held, data = Signal(), Signal(self._shape)
        take = self.i.valid & self.i.ready
        m.d.comb += [self.i.ready.eq(~held | self.o.ready), self.o.valid.eq(held), self.o.payload.eq(data),
                     self.busy.eq(held)]
        with m.If(take):
            m.d.sync += [held.eq(1), data.eq(self.i.payload)]
        with m.Elif(self.o.ready):
            m.d.sync += held.eq(0)
        return m
