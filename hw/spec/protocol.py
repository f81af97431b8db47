"""The host protocol's numbers and payload formats (docs/protocol.md), in plain Python: the
hardware command unit (hw/command.py) and the host driver (sw/driver.py) both read them here.

Every multi-byte field is little-endian. Widths that depend on the build (a memory word, an
input value, an event value, a logit) are whole bytes: ceil(bits / 8).
"""

import enum
import json

from hw.spec.layout import CoreGeometry

VERSION = 2          # of the protocol; INFO reports it. 2: biases are pre-activations (model file
                     # version 2) and the word size follows the memories that are loaded
SOF = 0xA5
RESPONSE = 0x80      # a response's CMD is the request's | 0x80
MAX_PAYLOAD = 4096   # the protocol's ceiling; a build reports its own limits in INFO
INFO_LIMIT = 1023    # bytes of the INFO document; every build's response buffer holds it (status
                     # byte included: 1024 bytes, two iCE40 block RAMs rather than three)


class Command(enum.IntEnum):
    PING = 0x00      # payload -> the same payload
    INFO = 0x01      # -> the build description (JSON, see info_document)
    WRITE = 0x02     # target u8, lane u8, addr u32, count u16, count words -> -
    READ = 0x03      # target u8, lane u8, addr u32, count u16 -> count words
    STEP = 0x04      # flags u8, input_size values -> counters, [readout], events (Wire; the readout on
                     # the last step, or on every step with a per-step readout)
    COUNTERS = 0x05  # -> the last step's counters, the last readout's cycles
    RESET = 0x06     # abandon the running sequence -> -


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_COMMAND = 3
    BAD_ADDRESS = 4
    BUSY = 5
    TRUNCATED = 6
    BAD_ARGUMENT = 7


# STEP request flags
STEP_END = 0x01      # the sequence's last step: the response also carries the readout
STEP_START = 0x02    # the sequence's first step: abandon any running sequence first
STEP_FLAGS = STEP_END | STEP_START

ACCESS_HEADER = 8    # WRITE/READ: target, lane, addr (u32), count (u16)
# counters of one step: step (u16), cycles, input events, recurrent events, lane cycles, MACs (u32)
COUNTER_FIELDS = (("step", 2), ("cycles", 4), ("input_events", 4), ("recurrent_events", 4),
                  ("lane_cycles", 4), ("macs", 4))
COUNTER_BYTES = sum(n for _, n in COUNTER_FIELDS)


def nbytes(bits: int) -> int:
    return -(-bits // 8)


class Wire:
    """Byte sizes and response layouts of one build (from its geometry)."""

    def __init__(self, geometry: CoreGeometry, max_payload: int = 256):
        g = self.geometry = geometry
        cfg = g.cfg
        for name in ("cycle_bits", "event_bits", "mac_bits"):
            if getattr(g, name) > 32:
                raise ValueError(f"the build's {name} ({getattr(g, name)}) exceeds the protocol's 32-bit counters")
        if g.step_bits > 16 or g.H > 0xFFFF or g.C > 0xFFFF:
            raise ValueError("the protocol carries steps, units and classes as 16-bit numbers")
        self.word_bytes = nbytes(g.data_bits)
        self.input_bytes = nbytes(cfg.input_bits)
        self.state_bytes = nbytes(g.S)
        self.logit_bytes = nbytes(g.RB)
        self.event_bytes = 3 + self.state_bytes      # layer u8, unit u16, value
        self.step_request = 1 + g.I * self.input_bytes
        # requests: a STEP and a WRITE of at least one word must fit
        self.max_payload = max(max_payload, self.step_request, ACCESS_HEADER + self.word_bytes)
        if self.max_payload > MAX_PAYLOAD:
            raise ValueError(f"a STEP request of this build needs {self.max_payload} bytes, more than the "
                             f"protocol's {MAX_PAYLOAD}")
        # step response: status | counters | events count | [readout cycles, logits, class] | events
        self.events_count_at = 1 + COUNTER_BYTES
        self.readout_at = self.events_count_at + 2
        self.logits_at = self.readout_at + 4
        self.class_at = self.logits_at + g.C * self.logit_bytes
        self.readout_bytes = 4 + g.C * self.logit_bytes + 2
        self.max_events = g.L * g.H
        step_max = self.readout_at + self.readout_bytes + self.max_events * self.event_bytes
        if step_max > MAX_PAYLOAD:
            raise ValueError(f"the largest STEP response of this build ({step_max} bytes: every unit of "
                             f"{g.L} x {g.H} firing) exceeds the protocol's {MAX_PAYLOAD}")
        self.counters_response = 1 + COUNTER_BYTES + 4
        self.max_response = max(step_max, 1 + self.max_payload, self.counters_response, 1 + INFO_LIMIT)

    def carries_readout(self, end: bool) -> bool:
        """Whether a STEP response carries the readout: every step's with a per-step readout
        (configuration readout "step"), else the sequence's last step's only."""
        return end or self.geometry.cfg.per_step

    def events_at(self, end: bool) -> int:
        return self.readout_at + (self.readout_bytes if self.carries_readout(end) else 0)

    def max_read(self) -> int:
        """Most words one READ returns."""
        return (self.max_response - 1) // self.word_bytes

    def max_write(self) -> int:
        """Most words one WRITE carries."""
        return (self.max_payload - ACCESS_HEADER) // self.word_bytes


def info_document(wire: Wire, divisor: int, version: str) -> bytes:
    """What INFO returns after its status byte: a compact JSON object with the protocol version,
    the configuration, the memory sizes and the frame limits, so the host can check that a
    model fits before it sends anything."""
    g = wire.geometry
    doc = {"protocol": VERSION, "version": version, "config": g.cfg.to_dict(), "columns": g.columns,
           "depth": g.depth, "max_payload": wire.max_payload, "max_response": wire.max_response,
           "divisor": divisor}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    if len(text) > INFO_LIMIT:
        raise ValueError(f"the INFO document of this build has {len(text)} bytes, more than {INFO_LIMIT}")
    return text
