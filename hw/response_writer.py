"""The command unit's response writer: multi-byte values into the response buffer, a byte a cycle."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out

from hw.fixed import reject
from hw.spec.layout import bits


def _check(component, name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        reject(component, ValueError(f"ResponseWriter: {name} must be an integer >= {lo}, got {value!r}"))


class ResponseWriter(wiring.Component):
    """Writes values of 1 to ``max_bytes`` bytes, least significant byte first, into the write
    port ``wr`` of a byte memory of ``depth`` words (the response buffer).

    ``start`` with ``value`` (zero-extended to ``max_bytes`` bytes), ``nbytes`` and ``at`` (the
    address of its first byte) takes a value into the shift register; a ``start`` while a value
    is still being written replaces the rest of it (the caller waits for ``free``). ``poke``
    writes the single byte ``poke_data`` at ``poke_addr`` in the same cycle, for a caller that
    picks bytes out of a wide word itself; only while ``free`` (it takes the port).

    Latency: a value started in cycle n has its byte b written in cycle n + 1 + b, and ``free``
    is high again in cycle n + 1 + nbytes. Throughput: one byte per cycle (a value every
    nbytes + 1 cycles when each waits for ``free``).
    """

    def __init__(self, *, depth: int, max_bytes: int):
        _check(self, "depth", depth, 2)
        _check(self, "max_bytes", max_bytes, 1)
        self._depth, self._max_bytes = depth, max_bytes
        super().__init__({
            "start": In(1), "value": In(8 * max_bytes), "nbytes": In(range(max_bytes + 1)),
            "at": In(range(depth + 1)),
            "poke": In(1), "poke_addr": In(range(depth + 1)), "poke_data": In(8),
            "free": Out(1),
            "wr": Out(WritePort.Signature(addr_width=bits(depth), shape=8).flip()),
        })

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def elaborate(self, platform):
        m = Module()
        ser = Signal(8 * self._max_bytes)
        left = Signal(range(self._max_bytes + 1))
        addr = Signal(range(self._depth + 1))
        m.d.comb += self.free.eq(left == 0)
        with m.If(~self.free):
            m.d.comb += [self.wr.addr.eq(addr), self.wr.data.eq(ser[:8]), self.wr.en.eq(1)]
            m.d.sync += [ser.eq(ser >> 8), left.eq(left - 1), addr.eq(addr + 1)]
        with m.If(self.poke):
            m.d.comb += [self.wr.addr.eq(self.poke_addr), self.wr.data.eq(self.poke_data), self.wr.en.eq(1)]
        with m.If(self.start):
            m.d.sync += [ser.eq(self.value), left.eq(self.nbytes), addr.eq(self.at)]
        return m
