"""The back-end of the route phase: a queue of column descriptors and the walk along them."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from hw.fixed import reject


def _check(component, name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        reject(component, ValueError(f"ColumnWalker: {name} must be an integer >= {lo}, got {value!r}"))


class ColumnWalker(wiring.Component):
    """Queues column descriptors (start address, length, event value, recurrent flag) and walks
    each column one lane-memory address per cycle.

    Write side: ``w_en`` with ``w_start``, ``w_len``, ``w_value``, ``w_rec``; ``level`` counts the
    queued descriptors (the writer keeps ``level`` + its in-flight descriptors below ``depth``).
    Walk side, combinational: ``issue`` is high in every cycle that reads lane address ``addr``
    for the column's event ``value`` and flag ``rec``.

    Latency: a descriptor written in cycle n is walked from cycle n + 1; with ``bypass``, one
    written while the walker is idle and its queue empty is walked from cycle n itself (the
    write's start address is the read address in the same cycle: a combinational path from
    ``w_start`` to ``addr``, which the short pipeline affords and the deep one does not).
    Throughput: a column of length L occupies exactly max(L, 1) cycles (a column with no entry
    still takes one), and the next column starts in the following cycle when it is queued: no
    cycle is lost between columns. ``busy`` is high while a column is being walked or one is
    queued (not in the cycle of a bypassed write: the writer knows of it).
    """

    def __init__(self, *, addr_bits: int, len_bits: int, value_bits: int, depth: int = 8, bypass: bool = False):
        _check(self, "addr_bits", addr_bits, 1)
        _check(self, "len_bits", len_bits, 1)
        _check(self, "value_bits", value_bits, 2)
        _check(self, "depth", depth, 2)
        if not isinstance(bypass, bool):
            reject(self, TypeError(f"ColumnWalker: bypass must be a bool, got {bypass!r}"))
        self._a, self._l, self._v, self._depth, self._bypass = addr_bits, len_bits, value_bits, depth, bypass
        super().__init__({
            "w_en": In(1), "w_start": In(addr_bits), "w_len": In(len_bits),
            "w_value": In(signed(value_bits)), "w_rec": In(1), "level": Out(range(depth + 1)),
            "issue": Out(1), "addr": Out(addr_bits), "value": Out(signed(value_bits)), "rec": Out(1),
            "busy": Out(1),
        })

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform):
        m = Module()
        a, ln, v = self._a, self._l, self._v
        fifo = m.submodules.queue = SyncFIFO(width=a + ln + v + 1, depth=self._depth)
        active = Signal()
        # bypass: an idle walker with nothing queued takes the descriptor being written as its head
        m.d.comb += [fifo.w_data.eq(Cat(self.w_start, self.w_len, self.w_value, self.w_rec)),
                     self.level.eq(fifo.level)]
        if self._bypass:
            take = Signal()
            m.d.comb += [take.eq(self.w_en & ~active & ~fifo.r_rdy), fifo.w_en.eq(self.w_en & ~take)]
            head, head_valid = Mux(take, fifo.w_data, fifo.r_data), fifo.r_rdy | take
        else:
            m.d.comb += fifo.w_en.eq(self.w_en)
            head, head_valid = fifo.r_data, fifo.r_rdy
        h_start, h_len = head[:a], head[a:a + ln]
        h_value, h_rec = head[a + ln:a + ln + v].as_signed(), head[a + ln + v]

        # The column being walked is the registered one while active, else the queue head, so
        # a column starts in the cycle it reaches the head. While active, the next address and
        # the entries left are registers (no adder or comparator of a length behind the queue's
        # read): the address counts up, ``left`` counts down.
        addr, left = Signal(a), Signal(ln)
        value, rec = Signal(signed(v)), Signal()
        # the column's last cycle: a column of length 0 or 1 takes one cycle
        at_most_one = (h_len[1:] == 0) if ln > 1 else 1  # (a 1-bit length always is)
        last = Mux(active, left == 1, at_most_one)
        m.d.comb += [self.issue.eq(active | (head_valid & (h_len != 0))),
                     self.addr.eq(Mux(active, addr, h_start)),
                     self.value.eq(Mux(active, value, h_value)), self.rec.eq(Mux(active, rec, h_rec)),
                     self.busy.eq(active | (fifo.level != 0))]
        with m.If(active):
            m.d.sync += [addr.eq(addr + 1), left.eq(left - 1)]
            with m.If(last):
                m.d.sync += active.eq(0)
        with m.Elif(head_valid):
            m.d.comb += fifo.r_en.eq(~take if self._bypass else 1)  # (a bypassed head is not in the queue)
            with m.If(~last):
                m.d.sync += [active.eq(1), addr.eq(h_start + 1), left.eq(h_len - 1),
                             value.eq(h_value), rec.eq(h_rec)]
        return m
