"""The command unit's request reader: payload bytes out of the frame receiver's buffer, gathered into words."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.fixed import reject


def _check(component, name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        reject(component, ValueError(f"RequestReader: {name} must be an integer >= {lo}, got {value!r}"))


class RequestReader(wiring.Component):
    """Reads bytes at a moving address ``addr`` (0 to ``span`` - 1) from ``sources`` byte
    memories that share it, each with a synchronous read port (the frame receiver's payload
    buffer; the INFO document's ROM), and gathers source 0's bytes into ``word``.

    ``seek`` moves the address to ``seek_to``; ``advance`` moves it to the next byte; ``gather``
    advances too and shifts ``byte[0]`` into the top of ``word`` (a word is gathered least
    significant byte first and is complete, at the top of ``word``, after its last byte). The
    caller advances or gathers only while ``ok``, when ``byte`` holds each source's byte at
    ``addr``. With ``registered`` the memories' outputs go into registers before ``byte`` (so
    no logic follows a block-RAM output directly), at one more cycle per byte.

    Latency: after a seek or advance in cycle n, ``ok`` is high from cycle n + 2 (registered:
    n + 3) until the next. Throughput: one byte per 2 cycles (registered: 3).
    """

    def __init__(self, *, span: int, word_bytes: int, sources: int = 1, registered: bool = False):
        _check(self, "span", span, 2)
        _check(self, "word_bytes", word_bytes, 1)
        _check(self, "sources", sources, 1)
        if not isinstance(registered, bool):
            reject(self, TypeError(f"RequestReader: registered must be a bool, got {registered!r}"))
        self._span, self._word_bytes, self._sources, self._registered = span, word_bytes, sources, registered
        bytes_ = data.ArrayLayout(8, sources)
        super().__init__({
            "addr": Out(range(span)), "data": In(bytes_),
            "seek": In(1), "seek_to": In(range(span)), "advance": In(1), "gather": In(1),
            "ok": Out(1), "byte": Out(bytes_), "word": Out(8 * word_bytes),
        })

    @property
    def span(self) -> int:
        return self._span

    @property
    def word_bytes(self) -> int:
        return self._word_bytes

    @property
    def sources(self) -> int:
        return self._sources

    @property
    def registered(self) -> bool:
        return self._registered

    def elaborate(self, platform):
        m = Module()
        rp, rp_q = Signal(range(self._span)), Signal(range(self._span))
        m.d.sync += rp_q.eq(rp)
        m.d.comb += self.addr.eq(rp)
        # the address is stable for one cycle (two, registered) before its byte is used
        if self._registered:
            rp_q2 = Signal.like(rp)
            m.d.sync += [rp_q2.eq(rp_q), self.byte.eq(self.data)]
            m.d.comb += self.ok.eq((rp == rp_q) & (rp_q == rp_q2))
        else:
            m.d.comb += [self.byte.eq(self.data), self.ok.eq(rp == rp_q)]
        with m.If(self.seek):
            m.d.sync += rp.eq(self.seek_to)
        with m.Elif(self.advance | self.gather):
            m.d.sync += rp.eq(rp + 1)
        with m.If(self.gather):
            m.d.sync += self.word.eq(Cat(self.word[8:], self.byte[0]))
        return m
