"""Stream words as plain integers, shared by the cocotb testbench (which imports neither torch
nor Amaranth) and the amaranth.sim driver: field maps, packing, unpacking, input words."""


def layout_fields(layout) -> dict:
    """An Amaranth StructLayout -> {field: [offset, width, signed, array length or 0]}."""
    out = {}
    for name, field in layout:
        shape = field.shape
        if hasattr(shape, "elem_shape"):
            out[name] = [field.offset, shape.elem_shape.width, bool(shape.elem_shape.signed), shape.length]
        else:
            out[name] = [field.offset, field.width, bool(getattr(shape, "signed", False)), 0]
    return out


def pack(fields: dict, values: dict) -> int:
    word = 0
    for name, (offset, width, _signed, length) in fields.items():
        if length:
            for i, v in enumerate(values.get(name, [0] * length)):
                word |= (v & ((1 << width) - 1)) << (offset + i * width)
        else:
            word |= (values.get(name, 0) & ((1 << width) - 1)) << offset
    return word


def unpack(fields: dict, word: int) -> dict:
    """Signed fields are sign-extended; array fields become lists."""
    def conv(v, width, signed):
        return v - (1 << width) if signed and v >> (width - 1) else v

    out = {}
    for name, (offset, width, signed, length) in fields.items():
        if length:
            out[name] = [conv((word >> (offset + i * width)) & ((1 << width) - 1), width, signed)
                         for i in range(length)]
        else:
            out[name] = conv((word >> offset) & ((1 << width) - 1), width, signed)
    return out


def input_words(x_seq, zeros: bool = False) -> list[dict]:
    """One sequence [T][I] of ints -> input stream words: the nonzero elements of every step
    (every element with ``zeros``, as the dense schedule needs), the step's last word flagged
    `last`, the sequence's last word `end`."""
    words = []
    T = len(x_seq)
    for t, row in enumerate(x_seq):
        step = [(i, v) for i, v in enumerate(row) if zeros or v != 0] or [(0, 0)]
        for j, (i, v) in enumerate(step):
            last = j == len(step) - 1
            words.append({"index": i, "value": v, "last": int(last), "end": int(last and t == T - 1)})
    return words
