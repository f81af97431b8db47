"""The route front-end's issue stage: which event of the layer's event lists is read next."""

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.fixed import reject
from hw.spec import PIPELINES


class EventIssuer(wiring.Component):
    """Walks ``segments`` event lists in order, list by list and in each list position by
    position, and issues one event per cycle while ``active`` and ``credit`` are high: ``issue``
    with its list ``seg`` and position ``pos`` (the event buffers' read address). Empty lists
    cost no cycle.

    ``start`` (one cycle, while not ``active``) begins a walk. ``lengths`` are the lists'
    lengths; they must hold from ``start`` to the end of the walk, except that list 0 may grow
    until the walk's first cycle (the input buffer fills until the route starts). ``done`` is
    high once every event has been issued (and before the first ``start``).

    Pipelines (hw.spec.schedule):

    * ``"short"``: the first event issues in the walk's first active cycle; the next non-empty
      list is found in the cycle that issues its first event (a comparator chain on
      ``lengths`` in front of ``seg``). ``nonempty`` is not used.
    * ``"deep"``: the lengths are registered in the walk's first active cycle and the first
      event issues in the next, from registers: the next event is found a cycle ahead, so
      ``seg`` and ``pos`` come straight from flip-flops (with ``nonempty``, flags the core
      registers behind its counters, the first list with events is found without comparators).
      ``seg`` and ``pos`` then show the next event in every cycle, issued or not.

    Throughput: one event per cycle. Latency: with credit in every cycle, ``done`` rises
    (events) + 1 active cycles after the start in both pipelines: the short walk's last cycle
    finds no more events, the deep walk's first registers the lengths.
    """

    def __init__(self, segments: int, length_bits: int, pipeline: str):
        for name, value, lo in (("segments", segments, 1), ("length_bits", length_bits, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                reject(self, ValueError(f"EventIssuer: {name} must be an integer >= {lo}, got {value!r}"))
        if pipeline not in PIPELINES:
            reject(self, ValueError(f"EventIssuer: pipeline must be one of {PIPELINES}, got {pipeline!r}"))
        self._segments, self._deep = segments, pipeline == "deep"
        super().__init__({
            "start": In(1), "active": In(1), "credit": In(1),
            "lengths": In(data.ArrayLayout(unsigned(length_bits), segments)), "nonempty": In(segments),
            "issue": Out(1), "seg": Out(range(segments)), "pos": Out(length_bits), "done": Out(1, init=1),
        })

    def elaborate(self, platform):
        NS = self._segments
        m = Module()
        lengths = [self.lengths[s] for s in range(NS)]

        def first_nonempty(nonzero, after):
            """(found, s): the first list s > after (all lists if after is None) with events."""
            found, nxt = Signal(), Signal(range(NS))
            for s_ in reversed(range(0 if after is None else 1, NS)):  # list 0 is never after another
                cond = nonzero[s_] if after is None else (s_ > after) & nonzero[s_]
                with m.If(cond):
                    m.d.comb += [found.eq(1), nxt.eq(s_)]
            return found, nxt

        if self._deep:
            length = Array(Signal.like(lengths[s], name=f"length_{s}") for s in range(NS))
            m.d.sync += [length[s].eq(lengths[s]) for s in range(NS)]
            waiting, valid = Signal(), Signal()
            seg, pos = Signal.like(self.seg), Signal.like(self.pos)
            m.d.comb += [self.seg.eq(seg), self.pos.eq(pos), self.done.eq(~waiting & ~valid)]
            with m.If(self.start):
                m.d.sync += waiting.eq(1)
            with m.Elif(self.active & waiting):  # the lengths are registered in this cycle
                found0, nxt0 = first_nonempty([self.nonempty[s] for s in range(NS)], None)
                m.d.sync += [waiting.eq(0), valid.eq(found0), seg.eq(nxt0), pos.eq(0)]
            with m.Elif(self.active & valid & self.credit):
                m.d.comb += self.issue.eq(1)
                with m.If(pos + 1 < length[seg]):
                    m.d.sync += pos.eq(pos + 1)
                with m.Else():
                    found1, nxt1 = first_nonempty([length[s] != 0 for s in range(NS)], seg)
                    m.d.sync += [valid.eq(found1), seg.eq(nxt1), pos.eq(0)]
        else:
            seg, pos, done = Signal.like(self.seg), Signal.like(self.pos), Signal(init=1)
            # ``left``: the events of list seg after pos (length[seg] - pos), counted down, so
            # that whether the list has another is a zero test of a register, not a compare of
            # pos with a selected length (that compare into the issue and the core's counters
            # was the worst path of the UP5K top, 43 ns). ``fresh``: no event has been looked
            # for since the start; list 0 may still have grown, so its length is read directly.
            left, fresh = Signal.like(self.pos), Signal()
            m.d.comb += self.done.eq(done)
            length = Array(lengths)
            with m.If(self.start):
                m.d.sync += [seg.eq(0), pos.eq(0), done.eq(0), fresh.eq(1)]
            with m.Elif(self.active & ~done & self.credit):
                m.d.sync += fresh.eq(0)
                with m.If(Mux(fresh, lengths[0] != 0, left != 0)):  # (seg is 0 while fresh)
                    m.d.comb += [self.issue.eq(1), self.seg.eq(seg), self.pos.eq(pos)]
                    m.d.sync += [pos.eq(pos + 1), left.eq(Mux(fresh, lengths[0], left) - 1)]
                with m.Else():
                    # the next non-empty list after seg, found in the same cycle
                    found, nxt = first_nonempty([lengths[s] != 0 for s in range(NS)], seg)
                    with m.If(found):
                        m.d.comb += [self.issue.eq(1), self.seg.eq(nxt), self.pos.eq(0)]
                        m.d.sync += [seg.eq(nxt), pos.eq(1), left.eq(length[nxt] - 1)]
                    with m.Else():
                        m.d.sync += done.eq(1)
        return m
