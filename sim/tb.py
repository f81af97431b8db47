"""The cocotb testbench of the core (runs inside the simulator: imports cocotb only).

:class:`TB` owns the clock, the reset and the stream drivers and monitors of the generated
`egru_core`. It loads a model through the load port (if the spec carries load words), streams
input sequences with optional idle cycles, applies optional random backpressure to the output
streams, and checks as words arrive: every event (step, layer, unit, value) in order, every
unit's state on the trace stream, the logits and class of every readout (one per sequence, or
one per step with a per-step readout), and every step's and readout's cycle count against
the cycle model. A mismatch names the sequence, step, layer, unit, expected and got; with
``stop_on_mismatch`` it fails the test at once, else it is counted per sequence.

Python runs only on falling clock edges while a stream has something to transfer; while a
stream is idle its coroutine sleeps on an edge of that stream's valid/ready signal, so long
compute phases of the core cost no Python calls.
"""

import random
import time

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from sim.words import input_words, pack, unpack

PERIOD_NS = 10


class Mismatch(AssertionError):
    pass


class TB:
    def __init__(self, dut, spec: dict):
        self.dut = dut
        self.spec = spec
        self.rng = random.Random(spec["seed"])
        self.layouts = spec["layouts"]
        self.P, self.H = spec["lanes"], spec["hidden"]
        self.n = 0                        # sequence whose outputs are arriving
        self.event_pos = 0
        self.readout = 0                  # its readout whose result is arriving
        # per sequence: logits and class of its last readout, "readouts" [logits] of each
        self.results = [{"mismatches": [], "logits": [], "class": None, "cycles": [], "readouts": [[]]}
                        for _ in spec["sequences"]]
        self.done = None
        self.cycles = 0

    # ---- set-up -------------------------------------------------------------------------------
    async def start(self):
        Clock(self.dut.clk, PERIOD_NS, unit="ns").start()
        for name in ("inputs", "load", "peek"):
            getattr(self.dut, f"{name}__valid").value = 0
        self.dut.cancel.value = 0  # Icarus leaves an undriven input at Z (Verilator at 0)
        for name in ("events", "result", "counters") + (("trace",) if self.spec["trace"] else ()):
            getattr(self.dut, f"{name}__ready").value = 1
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await FallingEdge(self.dut.clk)

    # ---- drivers --------------------------------------------------------------------------------
    async def send(self, stream: str, fields: dict, words):
        valid = getattr(self.dut, f"{stream}__valid")
        ready = getattr(self.dut, f"{stream}__ready")
        payload = getattr(self.dut, f"{stream}__payload")
        for w in words:
            while self.spec["idle"] and self.rng.random() < self.spec["idle"]:
                valid.value = 0
                await FallingEdge(self.dut.clk)
            payload.value = pack(fields, w)
            valid.value = 1
            while not int(ready.value):      # the core is busy: sleep until it is ready again
                await RisingEdge(ready)
                await FallingEdge(self.dut.clk)
            await FallingEdge(self.dut.clk)  # transferred at the rising edge in between
        valid.value = 0

    # ---- monitors ---------------------------------------------------------------------------------
    async def monitor(self, stream: str, on_word):
        valid = getattr(self.dut, f"{stream}__valid")
        ready = getattr(self.dut, f"{stream}__ready")
        payload = getattr(self.dut, f"{stream}__payload")
        fields = self.layouts[{"events": "event", "counters": "counter"}.get(stream, stream)]
        bp = self.spec["backpressure"]
        while True:
            if not int(valid.value):
                await RisingEdge(valid)
                await FallingEdge(self.dut.clk)
                continue
            if int(ready.value):
                if not payload.value.is_resolvable:
                    raise Mismatch(f"{stream}: a word with X or Z bits was offered: {payload.value}")
                on_word(unpack(fields, payload.value.to_unsigned()))
            if bp:
                ready.value = 0 if self.rng.random() < bp else 1
            await FallingEdge(self.dut.clk)

    # ---- checks -----------------------------------------------------------------------------------
    def mismatch(self, message: str):
        self.results[self.n]["mismatches"].append(message)
        if self.spec["stop_on_mismatch"]:
            raise Mismatch(f"sequence {self.n}: {message}")

    def expected(self):
        return self.spec["sequences"][self.n]["expected"]

    def on_event(self, w):
        exp = self.expected()["events"]
        for p in range(self.P):
            if (w["fire"] >> p) & 1:
                got = [w["step"], w["layer"], w["m"] * self.P + p, w["y"][p]]
                want = exp[self.event_pos] if self.event_pos < len(exp) else None
                if got != want:
                    self.mismatch(f"step {got[0]} layer {got[1]}: expected event {want and want[2:]} "
                                  f"(unit, value), got unit {got[2]} value {got[3]}")
                self.event_pos += 1

    def on_trace(self, w):
        exp = self.expected()["trace"][w["step"]]
        for p in range(self.P):
            k = w["m"] * self.P + p
            if k >= self.H:
                continue
            got = [w["c"][p], (w["o"] >> p) & 1, w["y"][p]]
            want = exp[w["layer"] * self.H + k]
            if got != want:
                self.mismatch(f"step {w['step']} layer {w['layer']} unit {k}: expected (c, o, y) {want}, got {got}")

    def readout_name(self) -> str:
        return f"step {self.readout}: " if len(self.expected()["readouts"]) > 1 else ""

    def on_result(self, w):
        r = self.results[self.n]
        readouts = self.expected()["readouts"]
        if self.readout >= len(readouts):
            self.mismatch(f"an unexpected readout result {w} (expected {len(readouts)} readouts)")
            return
        exp = readouts[self.readout]
        if w["kind"] == 1:
            r["class"] = w["index"]
            if w["index"] != exp["class"]:
                self.mismatch(f"{self.readout_name()}expected class {exp['class']}, got {w['index']}")
        else:
            want = exp["logits"][w["index"]] if w["index"] < len(exp["logits"]) else None
            r["readouts"][-1].append(w["value"])
            r["logits"] = r["readouts"][-1]
            if w["value"] != want:
                self.mismatch(f"{self.readout_name()}logit {w['index']}: expected {want}, got {w['value']}")

    def on_counter(self, w):
        r = self.results[self.n]
        exp = self.expected()
        if w["kind"] == 0:
            t = len(r["cycles"])
            r["cycles"].append(w["cycles"])
            if t >= len(exp["cycles"]) or w["cycles"] != exp["cycles"][t]:
                self.mismatch(f"step {t}: expected {exp['cycles'][t] if t < len(exp['cycles']) else None} "
                              f"cycles (cycle model), got {w['cycles']}")
        else:
            readouts = exp["readouts"]
            want = readouts[self.readout]["cycles"] if self.readout < len(readouts) else None
            if w["cycles"] != want:
                self.mismatch(f"{self.readout_name()}readout: expected {want} cycles, got {w['cycles']}")
            self.readout += 1
            if self.readout < len(readouts):  # a per-step readout: the sequence goes on
                r["readouts"].append([])
                return
            if self.event_pos != len(exp["events"]):
                self.mismatch(f"expected {len(exp['events'])} events, got {self.event_pos}")
            self.n += 1
            self.event_pos = 0
            self.readout = 0
            if self.n == len(self.spec["sequences"]):
                self.done.set()

    # ---- the run ----------------------------------------------------------------------------------
    async def run(self):
        import cocotb
        from cocotb.triggers import Event

        self.done = Event()
        await self.start()
        t0, start_ns = time.perf_counter(), cocotb.utils.get_sim_time("ns")
        cocotb.start_soon(self.monitor("events", self.on_event))
        cocotb.start_soon(self.monitor("result", self.on_result))
        cocotb.start_soon(self.monitor("counters", self.on_counter))
        if self.spec["trace"]:
            cocotb.start_soon(self.monitor("trace", self.on_trace))
        if self.spec["load"]:
            await self.send("load", self.layouts["load"], self.spec["load"])
        for seq in self.spec["sequences"]:
            await self.send("inputs", self.layouts["input"], input_words(seq["inputs"], zeros=self.spec["send_zeros"]))
        await self.done.wait()
        self.cycles = int((cocotb.utils.get_sim_time("ns") - start_ns) // PERIOD_NS)
        self.seconds = time.perf_counter() - t0
