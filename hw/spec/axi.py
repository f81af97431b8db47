"""The AXI top's register map and output-stream beats (hw/axi.py), in plain Python: the hardware,
the generated register document (registers.md, egru_axi.json) and the cocotb testbench all
read them here, so there is one definition.

The AXI4-Lite address space (32-bit registers, byte addresses):

* ``0x000 .. 0x3FF`` control, status, performance counters and the build's geometry
  (:data:`REGISTERS`, one 32-bit word each; then one word per load-port target: its depth);
* ``0x400 .. 0x7FF`` the INFO document of the UART protocol (hw.spec.protocol.info_document),
  four bytes per word, little-endian (INFO_LENGTH says how many bytes);
* from ``mem_base`` the model memories, through the load-port map of hw.spec.layout (the same
  target, lane and address the UART protocol's WRITE and READ carry): the word of
  (target, lane, addr) at ``mem_base + ((((target << lane_bits) | lane) << addr_bits | addr)
  << sub_bits | sub) * 4``, ``sub`` selecting 32-bit slices of a memory word wider than 32 bits.
"""

import dataclasses

from hw.spec.layout import CoreGeometry, bits
from hw.spec.protocol import COUNTER_FIELDS, INFO_LIMIT, VERSION, Wire

MAGIC = 0x45475255          # "EGRU" in the ID register
MAP_VERSION = 1             # of this register map (the VERSION register's high half)
TARGET_BITS = 4             # the load port's target field (hw/core/core.py load_layout)
INFO_BASE = 0x400
REGISTER_SPACE = INFO_BASE + 4 * (-(-(INFO_LIMIT + 1) // 4))   # 0x800: registers and INFO
TARGETS_BASE = 0x100        # one word per target: depth | per_lane << 31

# CONTROL bits (write 1 to act; they read back 0)
CTRL_CANCEL = 1 << 0        # abandon the running sequence at the next step boundary
CTRL_SOFT_RESET = 1 << 1    # reset the core and the stream adapters (memories keep the model)
CTRL_CLEAR_ERRORS = 1 << 2  # clear STATUS's sticky error bits
# STATUS bits
ST_BUSY = 1 << 0            # the core computes a step or readout, or a result beat waits on m_axis
ST_IN_SEQUENCE = 1 << 1     # a sequence has begun and not ended (steps without tuser so far)
ST_CANCEL_PENDING = 1 << 2  # a cancel waits for the step boundary
ST_RANGE_ERROR = 1 << 3     # sticky: an input beat's bits above input_bits were not its sign
ST_LENGTH_ERROR = 1 << 4    # sticky: a step had more than input_size beats (extra beats dropped)
ST_STEPS_ERROR = 1 << 5     # sticky: a sequence reached max_steps without tuser (ended there)

# m_axis beats: 64 bits, byte 0 the tag
TAG_EVENT = 1    # [15:8] layer, [31:16] unit, [63:32] value (signed)
TAG_LOGIT = 2    # [23:8] class, [63:24] logit (signed, 40 bits)
TAG_CLASS = 3    # [31:16] the predicted class
TAG_COUNTER = 4  # [15:8] field (0..5: COUNTER_FIELDS, 6: readout cycles), [63:32] value
OUT_BITS = 64
LOGIT_BITS = 40
READOUT_FIELD = len(COUNTER_FIELDS)

# AXI4-Lite responses
OKAY, SLVERR, DECERR = 0, 2, 3


@dataclasses.dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str        # "RO", "WO" or "RW"
    description: str


def _registers(g: CoreGeometry, m: "AxiMap") -> list[Register]:
    regs = [
        Register("ID", 0x000, "RO", f"0x{MAGIC:08X} (\"EGRU\")"),
        Register("VERSION", 0x004, "RO", f"[15:0] host protocol version ({VERSION}), [31:16] register map "
                                         f"version ({MAP_VERSION})"),
        Register("CONTROL", 0x008, "WO", "bit 0 CANCEL: abandon the running sequence at the next step boundary; "
                                         "bit 1 SOFT_RESET: reset the core and stream adapters (the memories keep "
                                         "the model); bit 2 CLEAR_ERRORS: clear STATUS bits 3..5"),
        Register("STATUS", 0x00C, "RO", "bit 0 BUSY, bit 1 IN_SEQUENCE, bit 2 CANCEL_PENDING, bit 3 RANGE_ERROR, "
                                        "bit 4 LENGTH_ERROR, bit 5 STEPS_ERROR (3..5 sticky)"),
        Register("INFO_LENGTH", 0x010, "RO", f"bytes of the INFO document at 0x{INFO_BASE:03X}"),
        Register("LAST_CLASS", 0x014, "RO", "the class of the last finished sequence"),
    ]
    for i, (name, _n) in enumerate(COUNTER_FIELDS):
        regs.append(Register(f"STEP_{name.upper()}", 0x020 + 4 * i, "RO", f"the last step's {name} counter"))
    regs.append(Register("READOUT_CYCLES", 0x038, "RO", "the last readout's cycles"))
    for i, (name, desc) in enumerate((("TOTAL_STEPS", "steps finished since reset (wraps)"),
                                      ("TOTAL_SEQUENCES", "sequences finished since reset (wraps)"),
                                      ("BUSY_CYCLES", "cycles the core was busy since reset (wraps)"),
                                      ("IN_BEATS", "s_axis beats accepted since reset (wraps)"),
                                      ("OUT_BEATS", "m_axis beats sent since reset (wraps)"))):
        regs.append(Register(name, 0x040 + 4 * i, "RO", desc))
    for i, (name, value, desc) in enumerate(m.geometry_values()):
        regs.append(Register(name, 0x080 + 4 * i, "RO", f"{desc} ({value} in this build)"))
    for t, (depth, per_lane) in sorted(g.targets().items()):
        regs.append(Register(f"TARGET_{t}_DEPTH", TARGETS_BASE + 4 * t, "RO",
                             f"target {t}: words per lane [30:0] ({depth}), bit 31 one memory per lane "
                             f"({int(per_lane)})"))
    return regs


class AxiMap:
    """The register map of one build (from its geometry)."""

    def __init__(self, geometry: CoreGeometry):
        g = self.geometry = geometry
        self.wire = Wire(g)
        for name, width, most in (("state_bits", g.S, 32), ("readout_acc_bits", g.RB, LOGIT_BITS)):
            if width > most:
                raise ValueError(f"the AXI top's result beats carry {name} in {most} bits; this build's is {width}")
        self.word_regs = -(-g.data_bits // 32)
        self.sub_bits = (self.word_regs - 1).bit_length()
        self.lane_bits = bits(g.P)
        self.addr_bits = g.load_addr_bits
        self.mem_bits = 2 + self.sub_bits + self.addr_bits + self.lane_bits + TARGET_BITS
        self.mem_base = 1 << max(self.mem_bits, REGISTER_SPACE.bit_length() - 1)
        self.addr_width = self.mem_base.bit_length()   # the window is the upper half of the space
        self.input_bits = 8 * self.wire.input_bytes
        self.registers = _registers(g, self)
        self.by_name = {r.name: r for r in self.registers}

    def geometry_values(self) -> list[tuple[str, int, str]]:
        g = self.geometry
        return [("INPUT_SIZE", g.I, "input elements per step (s_axis beats)"),
                ("HIDDEN_SIZE", g.H, "units per layer"), ("LAYERS", g.L, "layers"),
                ("CLASSES", g.C, "classes"), ("LANES", g.P, "multiplier lanes"),
                ("MAX_STEPS", g.cfg.max_steps, "longest sequence"),
                ("INPUT_BITS", g.cfg.input_bits, "significant bits of an s_axis beat"),
                ("WORD_BITS", g.data_bits, "bits of a model memory word"),
                ("MEM_BASE", self.mem_base, "byte address of the model memory window"),
                ("ADDR_BITS", self.addr_bits, "address bits of the memory window"),
                ("LANE_BITS", self.lane_bits, "lane bits of the memory window"),
                ("SUB_BITS", self.sub_bits, "32-bit slices per memory word: 1 << SUB_BITS")]

    def offset(self, name: str) -> int:
        return self.by_name[name].offset

    def mem_address(self, target: int, lane: int, addr: int, sub: int = 0) -> int:
        """The byte address of 32-bit slice ``sub`` of a model memory word (the load-port map)."""
        return self.mem_base + (((((target << self.lane_bits) | lane) << self.addr_bits | addr)
                                 << self.sub_bits | sub) << 2)

    def to_dict(self) -> dict:
        return {"addr_width": self.addr_width, "mem_base": self.mem_base, "word_regs": self.word_regs,
                "sub_bits": self.sub_bits, "lane_bits": self.lane_bits, "addr_bits": self.addr_bits,
                "info_base": INFO_BASE, "input_bits": self.input_bits, "output_bits": OUT_BITS,
                "registers": [dataclasses.asdict(r) for r in self.registers],
                "targets": {str(t): list(v) for t, v in self.geometry.targets().items()},
                "tags": {"event": TAG_EVENT, "logit": TAG_LOGIT, "class": TAG_CLASS, "counter": TAG_COUNTER},
                "counter_fields": [n for n, _ in COUNTER_FIELDS] + ["readout_cycles"]}

    def markdown(self, top: str = "egru_axi") -> str:
        """registers.md: the register map, the memory window and the stream formats."""
        g = self.geometry
        lines = [f"# {top} register map", "",
                 "Generated by `egru verilog --top axi` from hw/spec/axi.py (the same source as the hardware).",
                 f"AXI4-Lite: 32-bit data, {self.addr_width}-bit byte addresses (s_axi_awaddr/araddr). "
                 "Responses: OKAY; SLVERR for a write to a read-only register, a memory access while a "
                 "sequence runs (the UART protocol's BUSY) or a partial-strobe memory write; DECERR for an "
                 "unmapped address, target, lane or word (BAD_ADDRESS).", "",
                 "| offset | name | access | description |", "|---|---|---|---|"]
        lines += [f"| 0x{r.offset:03X} | {r.name} | {r.access} | {r.description} |" for r in self.registers]
        lines += [f"| 0x{INFO_BASE:03X}.. | INFO | RO | the INFO document (JSON), 4 bytes per word, little-endian |",
                  "", "## Model memories", "",
                  f"Word (target, lane, addr) of the load-port map, slice `sub` (0..{self.word_regs - 1}) at "
                  f"`0x{self.mem_base:X} + (((((target << {self.lane_bits}) | lane) << {self.addr_bits} | addr) "
                  f"<< {self.sub_bits} | sub) * 4)`. A word is {g.data_bits} bits; a write of its last slice "
                  "writes the word (earlier slices are held until then); reads are sign-extended like READ's. "
                  "Memories can be written and read only between sequences.", "",
                  "| target | words | per lane |", "|---|---|---|"]
        lines += [f"| {t} | {d} | {'yes' if pl else 'no'} |" for t, (d, pl) in sorted(g.targets().items())]
        lines += ["", "## Streams", "",
                  f"s_axis: {self.input_bits}-bit tdata, one input element per beat (index 0 first, "
                  f"{g.I} per step, sign-extended from {g.cfg.input_bits} bits); tlast ends a step, "
                  "tuser (with tlast) ends the sequence.", "",
                  "m_axis: 64-bit tdata, byte 0 the tag; tlast closes each step (its last counter beat) and "
                  "each sequence (the readout-cycles beat, with tuser = 1).", "",
                  "| tag | beat | fields |", "|---|---|---|",
                  f"| {TAG_EVENT} | event | [15:8] layer, [31:16] unit, [63:32] value (signed) |",
                  f"| {TAG_LOGIT} | logit | [23:8] class, [63:24] logit (signed) |",
                  f"| {TAG_CLASS} | class | [31:16] predicted class |",
                  f"| {TAG_COUNTER} | counter | [15:8] field: "
                  + ", ".join(f"{i} {n}" for i, (n, _) in enumerate(COUNTER_FIELDS))
                  + f", {READOUT_FIELD} readout cycles; [63:32] value |", ""]
        return "\n".join(lines)
