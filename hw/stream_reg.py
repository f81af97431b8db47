"""Register slices for streams: the payload (and, in the skid buffer, the ready) leaves from flip-flops."""

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


class SkidBuffer(wiring.Component):
    """Passes ``i`` to ``o`` through registers in both directions: ``o.valid`` and ``o.payload``
    leave from flip-flops, and so does ``i.ready``, so neither side's handshake logic is in a
    combinational path with the other's (what a StreamRegister cannot do: its ``i.ready``
    follows ``o.ready``). A second register (the skid) takes the beat that arrives in the cycle
    the consumer stalls.

    Latency: 1 cycle (a beat accepted in cycle n is offered in n + 1). Throughput: one beat per
    cycle while ``o`` is ready; after a stall, ``i.ready`` stays low until the skid has moved on.
    Order: beats leave in the order they came, and ``o.valid`` is high in every cycle after the
    one that accepted a beat until that beat has left. ``busy`` is high while it holds a beat.
    """

    def __init__(self, shape):
        try:
            Shape.cast(shape)  # a layout stays a layout: the payloads are views of it
        except TypeError as e:
            reject(self, TypeError(f"SkidBuffer: shape must be a shape, got {shape!r} ({e})"))
        self._shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape)), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        out_valid, out_data = Signal(), Signal(self._shape)
        skid_valid, skid_data = Signal(), Signal(self._shape)
        take = self.i.valid & ~skid_valid
        m.d.comb += [self.i.ready.eq(~skid_valid), self.o.valid.eq(out_valid), self.o.payload.eq(out_data),
                     self.busy.eq(out_valid | skid_valid)]
        with m.If(~out_valid | self.o.ready):  # the output register is free this cycle
            with m.If(skid_valid):
                m.d.sync += [out_data.eq(skid_data), out_valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [out_data.eq(self.i.payload), out_valid.eq(take)]
        with m.Elif(take):  # the consumer stalls: the arriving beat goes into the skid
            m.d.sync += [skid_data.eq(self.i.payload), skid_valid.eq(1)]
        return m


class StreamHandoff(wiring.Component):
    """Passes ``i`` to ``o`` with every handshake signal registered, at a third of the rate, for
    a source that holds its beat (valid and payload) until it is taken, as every stream source
    must. One payload register, no skid: a cheaper SkidBuffer for slow streams.

    Latency: a beat offered in cycle n is offered on ``o`` in n + 1; taken there in cycle t, it
    is taken from ``i`` in t + 1 (``i.ready`` is a one-cycle pulse from a flip-flop). Throughput:
    one beat per 3 cycles. ``o.payload`` follows ``i.payload`` one cycle late in every cycle, so
    a source's payload between beats (the core's last counters, say) can be read there.
    ``busy`` is high while a beat is offered on ``o`` or being taken from ``i``.
    """

    def __init__(self, shape):
        try:
            Shape.cast(shape)  # a layout stays a layout: the payloads are views of it
        except TypeError as e:
            reject(self, TypeError(f"StreamHandoff: shape must be a shape, got {shape!r} ({e})"))
        self._shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape)), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        valid, taken = Signal(), Signal()
        took = self.o.valid & self.o.ready
        m.d.comb += [self.o.valid.eq(valid), self.i.ready.eq(taken), self.busy.eq(valid | taken)]
        m.d.sync += [self.o.payload.eq(self.i.payload), taken.eq(took),
                     # the beat being taken from i (taken) or just taken on o (took) is not offered again
                     valid.eq(self.i.valid & ~taken & ~took)]
        return m
