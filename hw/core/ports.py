"""Read ports of the core's memories, built for the pipeline they serve."""

import dataclasses

from amaranth.hdl import Module, Signal
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
