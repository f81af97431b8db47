"""Export-time layout of the weight memories for P lanes (plain Python, no Amaranth).

Every weight matrix (W and R of every layer) is a set of source columns; a source is an input
element or a unit whose event arrives. Column c holds entries (k, w_u, w_r, w_g): the target
unit and its three gate weights. Lane p owns the accumulators of units k = p (mod P), at local
address k // P, so the column's entries split into P lane lists. The lists of one column are
padded to the longest with null entries (weights 0: adding them changes nothing), so all lanes
read the same address of their own memory in the same cycle and one pointer per column serves
them all:

    pointer[c] = (start, length)      lane_memory[p][start + q] = (k // P, w_u, w_r, w_g)

A column therefore costs exactly max over lanes of its lane-list length cycles, the quantity of
the cycle bound; pruned entries cost neither memory nor cycles, padding costs memory only.
Global column ids: layer l's W columns, then its R columns, then layer l+1's.
"""

import dataclasses

from hw.spec import LUT_KINDS, EGRUConfig, signed_bits
from hw.spec.memmap import MEMORY, MEMORY_MAP
from hw.spec.schedule import schedule

Entry = tuple[int, int, int, int]  # (target unit k, w_u, w_r, w_g)

GATES = ("u", "r", "gx", "gh")
# Load-port address map (hw/spec/memmap.py declares it): the `target` field of a load word.
T_POINTER = MEMORY["pointer"].target                # column pointer (start, length), addr = global column id
T_WEIGHT = MEMORY["weight"].target                  # lane weight word, per lane, addr = word
T_BIAS_U, T_BIAS_R, T_BIAS_GX, T_BIAS_GH = (MEMORY[f"bias_{gate}"].target for gate in GATES)
T_THR = MEMORY["thr"].target                        # per lane, addr = layer * M + local unit
T_LUT_UPDATE, T_LUT_SIGMOID, T_LUT_TANH = (MEMORY[f"lut_{kind}"].target for kind in LUT_KINDS)
T_READOUT_W = MEMORY["readout_weight"].target       # addr = unit * C + class
T_READOUT_B = MEMORY["readout_bias"].target         # addr = class


@dataclasses.dataclass(frozen=True)
class WeightLayout:
    lanes: int
    kernel_base: tuple       # global column id of layer l's W column 0
    recurrent_base: tuple    # global column id of layer l's R column 0
    pointers: tuple          # per global column: (start, length)
    lane_words: tuple        # per lane: tuple of (local unit, w_u, w_r, w_g), all the same length
    entries: tuple           # per global column: entries stored (the lane lists before padding)

    @property
    def depth(self) -> int:
        return len(self.lane_words[0])

    @property
    def columns(self) -> int:
        return len(self.pointers)

    def length(self, column: int) -> int:
        return self.pointers[column][1]


def columns_from_dense(w: list, H: int, dense: bool) -> list[list[Entry]]:
    """[S][3H] gate-major weights -> per source column its entries. ``dense`` keeps every entry
    (the dense GRU schedule); otherwise an entry with three zero weights is not stored."""
    cols = []
    for row in w:
        entries = [(k, row[k], row[H + k], row[2 * H + k]) for k in range(H)]
        cols.append(entries if dense else [e for e in entries if any(e[1:])])
    return cols


def build(cfg: EGRUConfig, kernel_cols: list, recurrent_cols: list, lanes: int | None = None) -> WeightLayout:
    """kernel_cols[l] / recurrent_cols[l]: per source column the sorted entries of layer l."""
    P = cfg.lanes if lanes is None else lanes
    if isinstance(P, bool) or not isinstance(P, int) or not 1 <= P <= 64:
        raise ValueError(f"lanes must be an integer in [1, 64], got {P!r}")
    if len(kernel_cols) != cfg.layers or len(recurrent_cols) != cfg.layers:
        raise ValueError(f"expected columns for {cfg.layers} layer(s)")
    H = cfg.hidden_size
    pointers, lane_words, counts = [], [[] for _ in range(P)], []
    kernel_base, recurrent_base = [], []
    for layer in range(cfg.layers):
        for base, cols, S in ((kernel_base, kernel_cols[layer], cfg.layer_input_size(layer)),
                              (recurrent_base, recurrent_cols[layer], H)):
            if len(cols) != S:
                raise ValueError(f"layer {layer}: expected {S} columns, got {len(cols)}")
            base.append(len(pointers))
            for entries in cols:
                per_lane = [[] for _ in range(P)]
                last = -1
                for k, wu, wr, wg in entries:
                    if not last < k < H:
                        raise ValueError(f"layer {layer}: column entries must have increasing "
                                         f"units in [0, {H}), got {k} after {last}")
                    last = k
                    per_lane[k % P].append((k // P, wu, wr, wg))
                length = max(len(lst) for lst in per_lane)
                pointers.append((len(lane_words[0]), length))
                counts.append(len(entries))
                for p in range(P):
                    lane_words[p] += per_lane[p] + [(0, 0, 0, 0)] * (length - len(per_lane[p]))
    if not lane_words[0]:  # an all-pruned model still needs one (null) word per lane
        for p in range(P):
            lane_words[p].append((0, 0, 0, 0))
    return WeightLayout(lanes=P, kernel_base=tuple(kernel_base), recurrent_base=tuple(recurrent_base),
                        pointers=tuple(pointers), lane_words=tuple(tuple(w) for w in lane_words),
                        entries=tuple(counts))


def local_depth(cfg: EGRUConfig, lanes: int) -> int:
    """Units per lane: ceil(H / P). Lane p's local address m holds unit m * P + p."""
    return -(-cfg.hidden_size // lanes)


def per_lane(table, cfg: EGRUConfig, pad: int) -> list[list[int]]:
    """[layer][unit] -> per lane the words [layer * M + m] of unit m * P + lane (``pad`` past H)."""
    P, H = cfg.lanes, cfg.hidden_size
    M = local_depth(cfg, P)
    return [[table[layer][m * P + p] if m * P + p < H else pad
             for layer in range(cfg.layers) for m in range(M)] for p in range(P)]


@dataclasses.dataclass(frozen=True)
class CoreImage:
    """Everything the core's memories hold for one model, as plain integers: the weight layout
    for ``cfg.lanes`` lanes, per layer the biases (at preact_frac) and thresholds of every unit,
    the readout and the LUTs. Built from a model file by sw.hwimage.image_from_model."""
    cfg: EGRUConfig
    weights: WeightLayout
    bias_u: tuple      # [layer][unit]
    bias_r: tuple
    bias_gx: tuple
    bias_gh: tuple
    thr: tuple
    readout_weight: tuple  # [unit][class]
    readout_bias: tuple    # [class]
    luts: dict             # kind -> table
    # per layer the user's unit at each physical position (sw/permute.py), or None (the identity):
    # every table above, and the unit numbers on the event and trace streams, are physical
    unit_order: tuple | None = None


def bits(n: int) -> int:
    """Bits of an unsigned index in [0, n)."""
    return max(1, (n - 1).bit_length())


def pack(fields, values) -> int:
    """Pack integers into one word, first field in the least significant bits."""
    word, pos = 0, 0
    for (_, width), v in zip(fields, values, strict=True):
        word |= (v & ((1 << width) - 1)) << pos
        pos += width
    return word


class CoreGeometry:
    """Widths and depths of one core (hw/core/core.py), derived from a CoreImage's configuration and
    layout; the host packs load-port words with the same widths."""

    def __init__(self, image: CoreImage):
        self._derive(image.cfg, image.weights.columns, image.weights.depth)

    @classmethod
    def of_sizes(cls, cfg: EGRUConfig, columns: int, depth: int) -> "CoreGeometry":
        """The geometry of a build known only by its configuration and memory sizes (what a
        running accelerator reports): all the host needs to talk to it."""
        g = cls.__new__(cls)
        g._derive(cfg, columns, depth)
        return g

    def _derive(self, cfg: EGRUConfig, columns: int, depth: int):
        self.cfg = cfg
        self.P = cfg.lanes
        self.H, self.L, self.C, self.I = cfg.hidden_size, cfg.layers, cfg.num_classes, cfg.input_size
        self.M = local_depth(cfg, self.P)
        self.Mb = bits(self.M)
        self.S, self.WB = cfg.state_bits, cfg.weight_bits
        self.VB = max(cfg.input_bits, cfg.state_bits)
        self.AB = max(cfg.acc_bits(layer) for layer in range(self.L))
        self.SB = cfg.state_bits + cfg.summed_steps.bit_length() + 1
        self.RB = cfg.readout_acc_bits
        self.columns = columns
        self.depth = depth
        self.start_bits = bits(self.depth + 1)
        self.len_bits = self.M.bit_length()
        self.lut_bits = cfg.lut_bits
        # the readout biases are held in their own range (readout_bias_limit), not the logits' RB
        self.RBB = signed_bits(cfg.readout_bias_limit)
        self.lane_fields = MEMORY["weight"].field_widths(self)
        self.ptr_fields = MEMORY["pointer"].field_widths(self)
        self.ebuf_fields = [("m", self.Mb), ("y", self.S)]
        # counter widths from the largest possible step, so no counter can wrap
        self.step_bits = bits(cfg.max_steps + 1)  # the step index counts up to max_steps
        sources = sum(cfg.layer_input_size(layer) + self.H for layer in range(self.L))
        self.event_bits = bits(sources + 1)
        # the longest step (every source routed, dense columns) or readout (every sum nonzero)
        sched = schedule(cfg.pipeline)
        step_max = self.L * (sched.per_layer_step + self.M) + sources * max(self.M, 1)
        readout_max = self.H + sched.readout_scan + self.C * (self.H + sched.readout_per_class) + sched.readout_final
        self.cycle_bits = bits(max(step_max, readout_max) + 1)
        self.mac_bits = bits(3 * sources * self.H + 1)
        # the load port's address and data reach every model memory's words
        self.load_addr_bits = bits(max(mm.depth_of(self) for mm in MEMORY_MAP) + 1)
        self.data_bits = max(mm.width_of(self) for mm in MEMORY_MAP)

    def targets(self) -> dict[int, tuple[int, bool]]:
        """The load-port map (hw/spec/memmap.py): per target, its number of addresses and whether
        every lane has its own memory (the ``lane`` field selects it) or there is one (``lane``
        must be 0)."""
        return {mm.target: (mm.depth_of(self), mm.per_lane) for mm in MEMORY_MAP}


def with_depth(image: CoreImage, depth: int) -> CoreImage:
    """The same model in lane memories of ``depth`` words (padded with null words), so a build
    has room for a larger model loaded at run time."""
    have = image.weights.depth
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < have:
        raise ValueError(f"the weight memories need at least {have} words per lane for this model, got {depth!r}")
    pad = ((0, 0, 0, 0),) * (depth - have)
    weights = dataclasses.replace(image.weights, lane_words=tuple(w + pad for w in image.weights.lane_words))
    return dataclasses.replace(image, weights=weights)
