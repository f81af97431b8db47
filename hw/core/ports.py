"""Read ports of the core's memories, built for the pipeline they serve."""

import dataclasses

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib.memory import Memory

SMALL_MEMORY = 128
"""Memories of at most this many words are LUT RAM where the device has it (ECP5, Gowin)."""


@dataclasses.dataclass
class AddressedRead:
    """The signals of a read port (address and enable in, data out), built by hand."""
    addr: Signal
    en: Signal
    data: Signal


def synchronous_read(m: Module, memory: Memory, name: str, deep: bool, small: int = SMALL_MEMORY):
    """A read port whose data is the word at the address of the cycle before (a synchronous
    read, one cycle of latency; the enable low keeps the word, or, for the port built by hand
    below, the address: a write to that word meanwhile shows. No user here drives it low).

    The short pipeline, and a memory larger than ``small`` words, get the memory's own
    synchronous port. For a small memory in the deep pipeline it is built as a register on the
    address and an asynchronous read: such a memory is LUT RAM, whose read is asynchronous, so
    the synchronous port would leave the address's multiplexer (datapath, readout, host
    read-back) and the RAM in one path. Those paths were the worst of the UART top at P = 1 (the
    peek flag into the biases' address) and P = 2 (the readout's counter into the event sums',
    the drain's unit into the MAC banks'). A word written in the cycle of the read is read new
    (a synchronous port gives the old one): callers must not depend on either. A memory that
    is block RAM after all takes the register behind it into the RAM (Yosys), which leaves the
    RAM's output unregistered: ``small`` is for callers whose memories are wider.
    """
    if not deep or memory.depth > small:
        return memory.read_port()
    port = memory.read_port(domain="comb")
    given = AddressedRead(addr=Signal.like(port.addr, name=f"{name}_raddr"),
                          en=Signal(init=1, name=f"{name}_ren"), data=port.data)
    held = Signal.like(port.addr, name=f"{name}_raddr_q")
    with m.If(given.en):  # (a disabled port keeps its address)
        m.d.sync += held.eq(given.addr)
    m.d.comb += port.addr.eq(held)
    return given


BLOCK_SHAPES = {"ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))}
"""Device family -> the (depth, width) shapes of its block RAM (the ECP5 DP16KD; gen/targets.py
reads them for the fit check and the memory plan)."""

SLICE_COST = 1.5
"""A sliced memory may take at most this many times the blocks of the best stacking."""


def slice_width(family: str | None, depth: int, width: int) -> int | None:
    """The width of the slices a ``depth`` x ``width`` memory is cut into so that each slice is
    one block deep on ``family`` (the widest shape at least ``depth`` deep), or None: no blocks
    known for the family, the memory fits one block already, it is deeper than any shape, or
    slicing would take more than SLICE_COST times the blocks that stacking takes."""
    shapes = BLOCK_SHAPES.get(family)
    if not shapes:
        return None
    deep_enough = [w for d, w in shapes if d >= depth]
    if not deep_enough:
        return None
    w = max(deep_enough)
    if w >= width:
        return None  # one block column: Yosys builds no multiplexer
    stacked = min(-(-depth // d) * -(-width // sw) for d, sw in shapes)
    return w if -(-width // w) <= SLICE_COST * stacked else None


@dataclasses.dataclass
class AddressedWrite:
    """The signals of a write port (address, enable and data in), built by hand."""
    addr: Signal
    en: Signal
    data: Signal


class SlicedMemory:
    """A memory of ``depth`` words of ``width`` bits built from memories of ``slice_width``
    bits each (the last one narrower), one block RAM deep: read and write ports as a
    Memory's (``read_port()``: addr, en in, data out one cycle later, held while en is low;
    ``write_port()``: addr, en, data), every slice at the same address.

    Why: Yosys builds a memory deeper than one block as a stack of blocks and a multiplexer
    on their outputs. ECP5's block RAM, without its output register, gives its word 5.6 ns
    after the clock, and that multiplexer behind it was the worst path of the deep pipeline's
    UART top at P = 1, 2 and 4 (docs/synthesis.md). Slices as deep as the memory and as wide as
    one block allows need no multiplexer. The slices are submodules of ``m`` named
    ``{name}_s{i}`` (so that Yosys' ``weights_*`` selections, e.g. --runtime-weights, still
    reach them).
    """

    def __init__(self, m: Module, name: str, depth: int, width: int, init, slice_width: int):
        if slice_width < 1 or slice_width >= width:
            raise ValueError(f"SlicedMemory: {name}: slice_width must be in 1..{width - 1}, got {slice_width}")
        self.depth, self.width, self._m = depth, width, m
        init = list(init)
        self._slices = []
        for i, lo in enumerate(range(0, width, slice_width)):
            w = min(slice_width, width - lo)
            mem = Memory(shape=unsigned(w), depth=depth, init=[(v >> lo) & ((1 << w) - 1) for v in init])
            m.submodules[f"{name}_s{i}"] = mem
            self._slices.append(mem)

    def read_port(self) -> AddressedRead:
        ports = [mem.read_port() for mem in self._slices]
        given = AddressedRead(addr=Signal(ports[0].addr.shape()), en=Signal(init=1), data=Signal(self.width))
        self._m.d.comb += [p.addr.eq(given.addr) for p in ports] + [p.en.eq(given.en) for p in ports]
        self._m.d.comb += given.data.eq(Cat(*(p.data for p in ports)))
        return given

    def write_port(self) -> AddressedWrite:
        ports = [mem.write_port() for mem in self._slices]
        given = AddressedWrite(addr=Signal(ports[0].addr.shape()), en=Signal(), data=Signal(self.width))
        lo = 0
        for p in ports:
            w = p.data.shape().width
            self._m.d.comb += [p.addr.eq(given.addr), p.en.eq(given.en), p.data.eq(given.data[lo:lo + w])]
            lo += w
        return given
