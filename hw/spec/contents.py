"""The words of the model memories and the core memories' initial contents, both from the
memory map (hw/spec/memmap.py; plain Python, no Amaranth).

``memory_words`` gives every model memory's words (the load port's view: sw.hwimage.load_words
sends them); ``initial_words`` places them in the core's memories through the map's homes for a
pipeline, so the core (hw/core/core.py) starts with exactly the words a load of the model would
write, and tests/test_memmap.py holds the two to each other.
"""

from hw.spec import LUT_KINDS
from hw.spec.layout import GATES, CoreGeometry, CoreImage, pack, per_lane
from hw.spec.memmap import DATAPATH_WORDS, MEMORY_MAP, evaluate


def memory_words(image: CoreImage, geometry: CoreGeometry | None = None) -> dict[str, list[list[int]]]:
    """Per model memory of hw.spec.memmap (by name) its words, one list per lane (one list in
    all for a memory that is not per lane), word ``a`` of a list at address ``a``; the words of
    several fields packed for ``geometry`` (hw.spec.layout.pack), a one-field word its value
    (signed where the field is)."""
    g = geometry or CoreGeometry(image)
    cfg = image.cfg
    words = {"pointer": [[pack(g.ptr_fields, ptr) for ptr in image.weights.pointers]],
             "weight": [[pack(g.lane_fields, w) for w in lane] for lane in image.weights.lane_words],
             "thr": per_lane(image.thr, cfg, cfg.one),
             # row k of W_out at k * C: the rows one after the other
             "readout_weight": [[v for row in image.readout_weight for v in row]],
             "readout_bias": [list(image.readout_bias)]}
    for gate in GATES:
        words[f"bias_{gate}"] = per_lane(getattr(image, f"bias_{gate}"), cfg, 0)
    for kind in LUT_KINDS:
        words[f"lut_{kind}"] = [list(image.luts[kind]) for _ in range(g.P)]
    return words


def _home_word(mm, home, word: int, geometry) -> int:
    """The part of model memory ``mm``'s ``word`` that ``home`` keeps: the word itself, or the
    home's fields packed from bit 0 in field order."""
    if not home.fields:
        return word
    kept = pos = at = 0  # the word kept, its next bit, the next field's bit in the model word
    for name, width in mm.field_widths(geometry):
        if name in home.fields:
            kept |= ((word >> at) & ((1 << width) - 1)) << pos
            pos += width
        at += width
    return kept


def placements(geometry: CoreGeometry):
    """(model memory, home, lane, core memory name, offset) of every home in the geometry's
    pipeline, lane by lane for a per-lane home, in map order."""
    for mm in MEMORY_MAP:
        for home in mm.homes_for(geometry.cfg.pipeline):
            for lane in range(geometry.P if "{lane}" in home.memory else 1):
                yield mm, home, lane, home.memory_name(lane), evaluate(home.offset, geometry)


def tenants(name: str, pipeline: str) -> list[tuple]:
    """(model memory, home) of every model memory that the map places in core memory ``name``
    (a pattern with ``{lane}`` for a lane's own copy, as the homes name them) in ``pipeline``."""
    return [(mm, h) for mm in MEMORY_MAP for h in mm.homes_for(pipeline) if h.memory == name]


def home_extent(name: str, geometry: CoreGeometry) -> tuple[int, int]:
    """(depth, width): the fewest words and bits core memory ``name`` needs for the datapath's
    own words at its start (hw.spec.memmap.DATAPATH_WORDS; their width is the datapath's) and
    every model memory the map places in it; (0, 0) when the map places nothing there."""
    depth = width = 0
    for pattern, words in DATAPATH_WORDS.items():
        if any(pattern.format(lane=lane) == name for lane in range(geometry.P)):
            depth = evaluate(words, geometry)
    for mm, home, _, memory, offset in placements(geometry):
        if memory == name:
            widths = dict(mm.field_widths(geometry))
            depth = max(depth, offset + mm.depth_of(geometry))
            width = max(width, sum(widths[f] for f in (home.fields or widths)))
    return depth, width


def initial_words(image: CoreImage, geometry: CoreGeometry | None = None) -> dict[str, list[int]]:
    """Per core memory that the map places a model memory in (for the image's pipeline), its
    initial words from address 0: ``memory_words(image)`` through the homes, each word at its
    home's offset, zero elsewhere (the datapath's own words, gaps). A one-field signed word is
    its value: a core memory of an unsigned shape holds its two's complement in its width."""
    g = geometry or CoreGeometry(image)
    words = memory_words(image, g)
    contents: dict[str, list[int]] = {}
    for mm, home, lane, name, offset in placements(g):
        values = words[mm.name][lane if mm.per_lane else 0]
        target = contents.setdefault(name, [])
        target += [0] * (offset + len(values) - len(target))
        target[offset:offset + len(values)] = [_home_word(mm, home, v, g) for v in values]
    return contents
