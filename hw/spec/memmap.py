"""The core's model memories, declared once (plain Python, no Amaranth).

Every memory that holds a part of the model is one ``ModelMemory``: its name, its load-port
target (the ``target`` field of a load or peek word and of the protocol's WRITE/READ), whether
every lane has its own copy (the ``lane`` field selects it) or there is one (``lane`` is 0),
its depth and word fields as formulas over the core's geometry (hw.spec.layout.CoreGeometry),
and its physical home: which of the core's memories (hw/core/core.py ``memories``) holds it and
at which offset, per pipeline where they differ. A memory that one phase leaves idle holds
another phase's table behind its own words (docs/datapath.md, "Memories shared between
phases"), so a home's offset need not be 0.

The load-port target numbers (``T_POINTER`` ... in hw.spec.layout), ``CoreGeometry.targets()``
(and from it the command unit's BAD_ADDRESS bounds and the AXI IP's TARGET_t_DEPTH registers),
the load words of ``sw.hwimage.load_words``, the core's initial contents, memory depths and
shared-table offsets (hw.spec.contents: ``initial_words``, ``home_extent``) and the synthesis
memory plan's SPRAM candidates all come from ``MEMORY_MAP``; docs/protocol.md and
docs/datapath.md show it, and tests/test_memmap.py holds them to it.

Formulas are Python expressions of integers, ``+ - * **`` and names: a name is an attribute of
the geometry (L, M, H, C, P, columns, depth, S, WB, Mb, RBB, start_bits, len_bits, ...) or else
of its configuration (lut_bits, preact_bits, ...).
"""

import ast
import dataclasses
import operator
import re

from hw.spec import LUT_KINDS, PIPELINES

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Pow: operator.pow}


def evaluate(formula: str, geometry) -> int:
    """The value of ``formula`` for ``geometry`` (see the module docstring); a name that is
    neither the geometry's nor its configuration's raises a KeyError naming it."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            for owner in (geometry, geometry.cfg):
                if hasattr(owner, node.id):
                    return int(getattr(owner, node.id))
            raise KeyError(f"memory map formula {formula!r}: no geometry or configuration value {node.id!r}")
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"memory map formula {formula!r}: only integers, names and + - * ** are allowed")
    return value(ast.parse(formula, mode="eval").body)


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a memory's word, packed from the least significant bit up in field order."""
    name: str
    width: str            # formula
    signed: bool = False


@dataclasses.dataclass(frozen=True)
class Home:
    """Where (part of) a model memory lives: word ``a`` of the model memory is word
    ``offset + a`` of core memory ``memory`` (``{lane}`` in the name: the lane's own copy).
    ``fields``: the fields this home keeps (all of them when empty), ``pipelines``: the
    pipelines (hw.spec.schedule) that place it here."""
    memory: str
    offset: str = "0"     # formula
    fields: tuple = ()
    pipelines: tuple = PIPELINES

    def memory_name(self, lane: int = 0) -> str:
        return self.memory.format(lane=lane)

    def holds(self, name: str) -> bool:
        """Whether core memory ``name`` is this home (of any lane)."""
        return re.fullmatch(re.escape(self.memory).replace(r"\{lane\}", r"\d+"), name) is not None


# how the synthesis memory plan may use single-port RAM (iCE40 SPRAM) for a memory's homes
SPRAM_ALWAYS = "always"   # the largest memories: SPRAM is why it is there (the fit check says if not)
SPRAM_SPARE = "spare"     # while SPRAM is left over, in map order


@dataclasses.dataclass(frozen=True)
class ModelMemory:
    """One model memory: load-port target, depth and words (formulas over the geometry), homes."""
    name: str
    target: int
    per_lane: bool
    depth: str            # formula: the number of addresses
    address: str          # what a load word's ``addr`` indexes
    fields: tuple         # Field, ...
    homes: tuple          # Home, ...
    description: str
    spram: str = ""       # "", SPRAM_ALWAYS or SPRAM_SPARE: its homes are read and written at one
    # address (loads only while the datapath is idle) and may lose their initial contents when
    # the driver loads the model, so they may be single-port RAM loaded at run time

    def depth_of(self, geometry) -> int:
        return evaluate(self.depth, geometry)

    def field_widths(self, geometry) -> list[tuple[str, int]]:
        """[(field name, width)] of the word, least significant first (hw.spec.layout.pack)."""
        return [(f.name, evaluate(f.width, geometry)) for f in self.fields]

    def width_of(self, geometry) -> int:
        return sum(w for _, w in self.field_widths(geometry))

    @property
    def signed(self) -> bool:
        """A one-field word that is a signed value (a peek sign-extends it)."""
        return len(self.fields) == 1 and self.fields[0].signed

    def homes_for(self, pipeline: str) -> tuple:
        if pipeline not in PIPELINES:
            raise ValueError(f"pipeline must be one of {PIPELINES}, got {pipeline!r}")
        return tuple(h for h in self.homes if pipeline in h.pipelines)

    def offset(self, geometry, memory: str | None = None) -> int:
        """The offset of this memory's words in its home (``memory``: the home's name pattern,
        when it has several) in the geometry's pipeline."""
        homes = [h for h in self.homes_for(geometry.cfg.pipeline) if memory is None or h.memory == memory]
        if len(homes) != 1:
            raise ValueError(f"memory map: {self.name} has {len(homes)} homes named {memory!r} "
                             f"in the {geometry.cfg.pipeline} pipeline")
        return evaluate(homes[0].offset, geometry)


_LANE_UNIT = "layer * M + local unit"
_GATE_NAMES = {"u": "update gate", "r": "reset gate", "gx": "candidate's input part",
               "gh": "candidate's recurrent part (times r)"}
MEMORY_MAP = (
    ModelMemory("pointer", 0, False, "columns", "global column id",
                (Field("start", "start_bits"), Field("len", "len_bits")),
                (Home("state_0", "L * M", ("start",), ("short",)), Home("thr_0", "L * M", ("len",), ("short",)),
                 Home("pointers", pipelines=("deep",))),
                "column pointers (start, length) into the weight memories"),
    ModelMemory("weight", 1, True, "depth", "word",
                (Field("k", "Mb"), Field("wu", "WB", True), Field("wr", "WB", True), Field("wg", "WB", True)),
                (Home("weights_{lane}"),),
                "lane weight words (local unit, w_u, w_r, w_g)", spram=SPRAM_ALWAYS),
    *(ModelMemory(f"bias_{gate}", 2 + i, True, "L * M", _LANE_UNIT, (Field("value", "preact_bits", True),),
                  (Home(f"bias_{gate}_{{lane}}"),), f"{_GATE_NAMES[gate]} biases (at preact_frac)")
      for i, gate in enumerate(("u", "r", "gx", "gh"))),
    ModelMemory("thr", 6, True, "L * M", _LANE_UNIT, (Field("value", "S", True),), (Home("thr_{lane}"),),
                "thresholds theta"),
    *(ModelMemory(f"lut_{kind}", 7 + i, True, "2 ** lut_bits", "table entry", (Field("value", "S", True),),
                  (Home(f"lut_{kind}_{{lane}}"),), f"the {kind} table (hw.spec.make_lut)", spram=SPRAM_SPARE)
      for i, kind in enumerate(LUT_KINDS)),
    ModelMemory("readout_weight", 10, False, "H * C", "unit * C + class", (Field("value", "WB", True),),
                (Home("weights_0", "depth"),), "readout weights W_out"),
    ModelMemory("readout_bias", 11, False, "C", "class", (Field("value", "RBB", True),),
                (Home("event_sum_0", "M"),), "readout biases (in readout_bias_limit)"),
)

# Core memories that keep the datapath's own words (no load-port target) at their start, and
# how many: the states c and the readout's per-unit event sums. A model memory placed in one of
# them lies behind these words.
DATAPATH_WORDS = {"state_{lane}": "L * M", "event_sum_{lane}": "M"}

MEMORY = {mm.name: mm for mm in MEMORY_MAP}
BY_TARGET = {mm.target: mm for mm in MEMORY_MAP}


def spram_homes() -> list[tuple[Home, str]]:
    """(home, SPRAM_ALWAYS or SPRAM_SPARE) of the memories that may be single-port RAM, in map order."""
    return [(h, mm.spram) for mm in MEMORY_MAP if mm.spram for h in mm.homes]


# ---- the map in the documents (docs/protocol.md, docs/datapath.md; tests/test_memmap.py
# checks that they hold these tables verbatim; `python -m hw.spec.memmap` prints them)
def _home_text(h: Home) -> str:
    text = f"`{h.memory.format(lane='p')}`" + (f" + {h.offset}" if h.offset != "0" else "")
    if h.fields:
        text += f" ({', '.join(h.fields)})"
    if tuple(h.pipelines) != PIPELINES:
        text += f" [{'/'.join(h.pipelines)}]"
    return text


def _word_text(mm: ModelMemory) -> str:
    if len(mm.fields) == 1:
        return mm.fields[0].width + (", signed" if mm.signed else "")
    return ", ".join(f"{f.name}: {f.width}" + (" signed" if f.signed else "") for f in mm.fields)


def protocol_table() -> str:
    """The load-port targets as the protocol's WRITE/READ see them."""
    lines = ["| target | memory | lanes | addresses | `addr` | holds |", "|---:|---|---|---|---|---|"]
    lines += [f"| {mm.target} | `{mm.name}` | {'P' if mm.per_lane else '1'} | {mm.depth} | {mm.address} | "
              f"{mm.description} |" for mm in MEMORY_MAP]
    return "\n".join(lines) + "\n"


def datapath_table() -> str:
    """The model memories with their words and their homes in the core."""
    lines = ["| memory | target | per lane | depth | word (bits) | home (core memory + offset) |",
             "|---|---:|---|---|---|---|"]
    lines += [f"| `{mm.name}` | {mm.target} | {'yes' if mm.per_lane else 'no'} | {mm.depth} | {_word_text(mm)} | "
              f"{'; '.join(_home_text(h) for h in mm.homes)} |" for mm in MEMORY_MAP]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(protocol_table())
    print(datapath_table())
