"""The AXI top's stream beats as plain integers (hw/spec/axi.py defines them), shared by the
cocotb testbench of egru_axi (which imports neither torch nor Amaranth) and the amaranth.sim
tests: input beats of a sequence, decoding of result beats, and the check of a result stream
against the golden and cycle models' expectations (sim/spec.py's per-sequence ``expected``)."""

from hw.spec.axi import READOUT_FIELD, TAG_CLASS, TAG_COUNTER, TAG_EVENT, TAG_LOGIT


def _signed(v: int, width: int) -> int:
    return v - (1 << width) if v >> (width - 1) else v


def input_beats(x_seq, width: int) -> list[tuple[int, int, int]]:
    """One sequence [T][I] -> s_axis beats (tdata, tlast, tuser): every element of every step,
    two's complement in ``width`` bits, tlast on a step's last element, tuser on the sequence's."""
    beats = []
    T = len(x_seq)
    for t, row in enumerate(x_seq):
        for i, v in enumerate(row):
            last = i == len(row) - 1
            beats.append((v & ((1 << width) - 1), int(last), int(last and t == T - 1)))
    return beats


def decode(word: int) -> dict:
    """A 64-bit m_axis beat -> {"tag", and its fields}."""
    tag = word & 0xFF
    if tag == TAG_EVENT:
        return {"tag": tag, "layer": (word >> 8) & 0xFF, "unit": (word >> 16) & 0xFFFF,
                "value": _signed(word >> 32, 32)}
    if tag == TAG_LOGIT:
        return {"tag": tag, "index": (word >> 8) & 0xFFFF, "value": _signed(word >> 24, 40)}
    if tag == TAG_CLASS:
        return {"tag": tag, "index": (word >> 16) & 0xFFFF}
    if tag == TAG_COUNTER:
        return {"tag": tag, "field": (word >> 8) & 0xFF, "step": (word >> 16) & 0xFFFF, "value": word >> 32}
    return {"tag": tag}


class BeatChecker:
    """Checks m_axis beats in arrival order against the expected sequences: every event (step,
    layer, unit, value), every logit, the class, every step's counter beats (the step number and
    the cycle model's cycles), the readout cycles, and where tlast and tuser fall. ``results``
    per sequence: mismatches, logits, class, cycles (as sim/tb.py reports them)."""

    def __init__(self, expected: list[dict]):
        self.expected = expected
        self.results = [{"mismatches": [], "logits": [], "class": None, "cycles": [], "counters": []}
                        for _ in expected]
        self.n, self.t, self.event_pos = 0, 0, 0
        self.fields = {}

    @property
    def done(self) -> bool:
        return self.n >= len(self.expected)

    def mismatch(self, message: str):
        where = min(self.n, len(self.results) - 1)
        self.results[where]["mismatches"].append(message)

    def abandon(self):
        """The running sequence was cancelled: its remaining outputs are not expected."""
        self.results[self.n]["abandoned"] = True
        self.n, self.t, self.event_pos, self.fields = self.n + 1, 0, 0, {}

    def feed(self, word: int, last: int, user: int):
        if self.done:
            self.mismatch(f"a beat after the last sequence: {word:#x}")
            return
        b, exp, r = decode(word), self.expected[self.n], self.results[self.n]
        closes = b["tag"] == TAG_COUNTER and b["field"] in (READOUT_FIELD - 1, READOUT_FIELD)
        if last != int(closes) or user != int(b["tag"] == TAG_COUNTER and b["field"] == READOUT_FIELD):
            self.mismatch(f"step {self.t}: tlast {last} tuser {user} on a beat {b}")
        if b["tag"] == TAG_EVENT:
            got = [self.t, b["layer"], b["unit"], b["value"]]
            want = exp["events"][self.event_pos] if self.event_pos < len(exp["events"]) else None
            if got != want:
                self.mismatch(f"step {self.t} layer {b['layer']}: expected event {want and want[2:]} "
                              f"(unit, value), got unit {b['unit']} value {b['value']}")
            self.event_pos += 1
        elif b["tag"] == TAG_LOGIT:
            r["logits"].append(b["value"])
            want = exp["logits"][b["index"]] if b["index"] < len(exp["logits"]) else None
            if b["value"] != want:
                self.mismatch(f"logit {b['index']}: expected {want}, got {b['value']}")
        elif b["tag"] == TAG_CLASS:
            r["class"] = b["index"]
            if b["index"] != exp["class"]:
                self.mismatch(f"expected class {exp['class']}, got {b['index']}")
        elif b["tag"] == TAG_COUNTER and b["field"] < READOUT_FIELD:
            self._counter(b, exp, r)
        elif b["tag"] == TAG_COUNTER:
            if b["value"] != exp["readout_cycles"]:
                self.mismatch(f"readout: expected {exp['readout_cycles']} cycles, got {b['value']}")
            if self.event_pos != len(exp["events"]):
                self.mismatch(f"expected {len(exp['events'])} events, got {self.event_pos}")
            if self.t != len(exp["cycles"]):
                self.mismatch(f"expected {len(exp['cycles'])} steps, got {self.t}")
            self.n, self.t, self.event_pos = self.n + 1, 0, 0
        else:
            self.mismatch(f"unknown beat {word:#x}")

    def _counter(self, b, exp, r):
        if b["field"] != len(self.fields):
            self.mismatch(f"step {self.t}: counter field {b['field']} out of order")
        self.fields[b["field"]] = b["value"]
        if b["field"] != READOUT_FIELD - 1:
            return
        step, cycles = self.fields.get(0), self.fields.get(1)
        r["cycles"].append(cycles)
        r["counters"].append([self.fields.get(i) for i in range(READOUT_FIELD)])
        if step != self.t:
            self.mismatch(f"step {self.t}: the counter beats say step {step}")
        want = exp["cycles"][self.t] if self.t < len(exp["cycles"]) else None
        if cycles != want:
            self.mismatch(f"step {self.t}: expected {want} cycles (cycle model), got {cycles}")
        self.t += 1
        self.fields = {}
