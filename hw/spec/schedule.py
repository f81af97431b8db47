"""The core's schedule: the pipeline latency of every component and every phase, defined once.

Plain Python (no Amaranth): hw/core/update.py, hw/core/mac.py and hw/core/core.py build their pipelines to
these numbers, and sw/cycles.py derives the cycle model from them, so the hardware and the
performance model cannot drift apart (the tests hold the core to the cycle model exactly).

Two pipelines (``EGRUConfig.pipeline``):

* ``"short"``: the fewest cycles per step. Block-RAM outputs feed adders and multipliers
  directly; the clock is limited by those paths (about 40-50 MHz on ECP5, 22 MHz on the
  iCE40 UP5K).
* ``"deep"``: for the clock. Every block-RAM output and every multiplier output goes into a
  register before any logic, and every multiplier's inputs come from registers, so no path
  runs from a RAM or a DSP block through more than a few levels of logic. It costs a fixed
  number of cycles per layer and step (``per_layer_step``), never cycles per event.
"""

import dataclasses

from hw.spec import PIPELINES


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Latencies (cycles) of the components and the phases of one pipeline."""

    pipeline: str
    update_lane_latency: int
    """UpdateLane: accumulators and biases in (cycle n) -> event and state out (n + this)."""
    update_lane_late: int
    """UpdateLane: the state c and the threshold are given this many cycles after the
    accumulators (a block-RAM read in flight meanwhile costs no pipeline registers)."""
    mac_latency: int
    """MacLane: an entry given in cycle n has its sums written in cycle n + this."""
    mac_drain_latency: int
    """MacLane: a unit's accumulators, asked for in cycle n, are out in cycle n + this."""
    route_walk: int
    """Route: cycles beyond the walker's columns (event read -> column pointer -> descriptor)."""
    route_latency: int
    """Route: cycles beyond the columns walked up to the last one with an entry: the
    front-end, the lane-memory read and the MAC pipeline, until the banks may be read."""
    readout_scan: int
    """Readout: cycles beyond H to compact the nonzero event sums."""
    readout_per_class: int
    """Readout, per class, beyond its nonzero sums: the MAC pipeline and sending the logit."""

    peek_latency: int = 1
    """Read-back: a peek request accepted in cycle n has its word out in cycle n + this."""
    route_empty: int = 1
    """Route: a layer with no event at all takes one cycle to find none."""
    readout_final: int = 1
    """Readout: the cycle that sends the class."""
    walker_bypass: bool = False
    """ColumnWalker: a descriptor that reaches an idle walker with an empty queue is walked in
    the cycle it is written (the pointer's word goes straight to the lane memories' address)
    instead of from the queue's head in the next."""
    update_tail: int = 1
    """Update: cycles after the one in which the last unit's state and event are written
    (0: the next phase starts in the following cycle and reads them there)."""
    lane_register: int = 0
    """Route: registers between the lane memories' output and the MAC lanes (1: the lane
    word registered, so no path runs from a block RAM's output, through the multiplexer of a
    memory made of several blocks, into a DSP block's input)."""

    @property
    def deep(self) -> bool:
        return self.pipeline == "deep"

    @property
    def update_latency(self) -> int:
        """Update: cycles beyond ceil(H / P): the banks' read, the update lane, and the tail
        after the cycle that writes the last unit's state and event."""
        return self.mac_drain_latency + self.update_lane_latency + self.update_tail

    @property
    def per_layer_step(self) -> int:
        """The fixed cycles of one layer in one step (route and update latencies)."""
        return self.route_latency + self.update_latency


SHORT = Schedule(
    pipeline="short",
    # pre-activations, u/r tables, product r*gh rounded, tanh table, product u(c - g) rounded,
    # c_hat (c_hat through the threshold compare into the event FIFO's write was the worst path
    # of the UP5K top, 42 ns: one cycle per layer and step)
    update_lane_latency=6, update_lane_late=4,
    # products registered, sums written one cycle later (transparent bank reads)
    mac_latency=1, mac_drain_latency=1,
    # event read, column pointer read, the descriptor walked as it is written (walker bypass)
    route_walk=2,
    # walk, lane read, MAC write; the update's first (transparent) bank read overlaps the write
    route_latency=2 + 1 + 1 - 1,
    # a sum read and written back; per class entry -> W_out -> product -> logit, send
    readout_scan=1, readout_per_class=4,
    walker_bypass=True,
    # the next phase starts right after the last unit's writes: the short route's issuer reads
    # the event counts as they are (no registered copy), and the last event sum's write lands
    # while the step's counter word waits, before any readout
    update_tail=0,
)

DEEP = Schedule(
    pipeline="deep",
    # input registers, pre-activations, u/r tables, their register, r and gh registered again
    # in the DSP block, product r*gh, candidate pre-activation, tanh table, its register (with
    # c and the threshold), c - g, product u(c - g), c_hat, the threshold compare and
    # difference, the output registers
    update_lane_latency=14, update_lane_late=8,
    # input registers, products and bank read, aligned products and registered bank word, sum
    # written (the last two sums forwarded); banks read out through a register
    mac_latency=3, mac_drain_latency=2,
    # the lists' lengths registered in the route's first cycle (events then issue from
    # registers), the event buffer's word registered before the column's pointer is read
    route_walk=5,
    # walk, lane read, the lane word's register, MAC pipeline
    route_latency=5 + 1 + 1 + 3,
    # the sum registered before its write-back, which is registered too; per class entry
    # registered, its W_out address registered, W_out registered, the multipliers' own inputs
    readout_scan=3, readout_per_class=8,
    # the request registered twice, each memory's word, the narrow and wide choices, the word
    peek_latency=6,
    # the class waits a cycle for the last logit's compare (the argmax from a copy of the logit)
    readout_final=2,
    # no walker bypass (it would put logic between the pointer memory's output and the lane
    # memories' address: the clock), and a tail of one cycle: the registered flags behind the
    # event counts, and the event sums' registered write, need it
    update_tail=1,
    lane_register=1,
)

_SCHEDULES = {s.pipeline: s for s in (SHORT, DEEP)}


def schedule(pipeline: str) -> Schedule:
    """The schedule of a pipeline ("short" or "deep")."""
    if pipeline not in _SCHEDULES:
        raise ValueError(f"pipeline must be one of {PIPELINES}, got {pipeline!r}")
    return _SCHEDULES[pipeline]
