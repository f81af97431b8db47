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

    ``free`` is a flip-flop. With ``registered`` the start request (``start``, ``value``,
    ``nbytes``, ``at``) is registered before it reaches the shift register (the value, its
    length and address in every cycle, without an enable), so the caller's choice of value is
    not in one path with the shift, at a cycle more per value.

    Latency: a value started in cycle n has its byte b written in cycle n + 1 + b (registered:
    n + 2 + b), and ``free`` is high again in cycle n + 1 + nbytes (registered: n + 2 + nbytes).
    Throughput: one byte per cycle (a value every nbytes + 1 cycles, registered nbytes + 2, when
    each waits for ``free``).
    """

    def __init__(self, *, depth: int, max_bytes: int, registered: bool = False):
        _check(self, "depth", depth, 2)
        _check(self, "max_bytes", max_bytes, 1)
        if not isinstance(registered, bool):
            reject(self, TypeError(f"ResponseWriter: registered must be a bool, got {registered!r}"))
        self._depth, self._max_bytes, self._registered = depth, max_bytes, registered
        super().__init__({
            "start": In(1), "value": In(8 * max_bytes), "nbytes": In(range(max_bytes + 1)),
            "at": In(range(depth + 1)),
            "poke": In(1), "poke_addr": In(range(depth + 1)), "poke_data": In(8),
            "free": Out(1, init=1),
            "wr": Out(WritePort.Signature(addr_width=bits(depth), shape=8).flip()),
        })

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def registered(self) -> bool:
        return self._registered

    def elaborate(self, platform):
        m = Module()
        ser = Signal(8 * self._max_bytes)
        left, left_next = Signal(range(self._max_bytes + 1)), Signal(range(self._max_bytes + 1))
        addr = Signal(range(self._depth + 1))
        start, value, nbytes, at = self.start, self.value, self.nbytes, self.at
        pending_next = 0
        if self._registered:
            start, value = Signal(), Signal.like(self.value)
            nbytes, at = Signal.like(self.nbytes), Signal.like(self.at)
            # taken in every cycle, not only on start (the shift register uses them only in the
            # cycle after a start): no clock enable from the caller's start decision on them
            m.d.sync += [start.eq(self.start), value.eq(self.value), nbytes.eq(self.nbytes), at.eq(self.at)]
            pending_next = self.start
        m.d.comb += left_next.eq(left)
        with m.If(left != 0):
            m.d.comb += [self.wr.addr.eq(addr), self.wr.data.eq(ser[:8]), self.wr.en.eq(1), left_next.eq(left - 1)]
            m.d.sync += [ser.eq(ser >> 8), addr.eq(addr + 1)]
        with m.If(self.poke):
            m.d.comb += [self.wr.addr.eq(self.poke_addr), self.wr.data.eq(self.poke_data), self.wr.en.eq(1)]
        with m.If(start):
            m.d.comb += left_next.eq(nbytes)
            m.d.sync += [ser.eq(value), addr.eq(at)]
        # free is a register: (left == 0) one cycle ahead, and low while a request is pending
        m.d.sync += [left.eq(left_next), self.free.eq((left_next == 0) & ~pending_next)]
        return m
