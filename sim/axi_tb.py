"""The cocotb testbench of the generated egru_axi (runs inside the simulator: cocotb,
cocotbext-axi and the plain-Python beat format of sim/axi_words.py, no torch or Amaranth).

It resets the IP, loads the spec's model words over AXI4-Lite (AxiLiteMaster) and reads every
one back, streams the sequences one step per AxiStreamFrame (AxiStreamSource, tuser on the
sequence's last beat) and takes the results (AxiStreamSink), both with random pause
generators, checks every beat with sim.axi_words.BeatChecker against the golden and cycle
models, and reads the counter registers at the end. ``interrupt`` in the spec cancels or
soft-resets one sequence after some of its steps; its outputs are then not expected.
"""

import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from sim.axi_words import BeatChecker

PERIOD_NS = 10


def pauses(rng: random.Random, p: float):
    """A pause generator: True (pause this cycle) with probability p."""
    while True:
        yield p > 0 and rng.random() < p


class AxiTB:
    def __init__(self, dut, spec: dict):
        self.dut, self.spec = dut, spec
        self.map = spec["axi"]
        self.rng = random.Random(spec["seed"])
        self.checker = BeatChecker([s["expected"] for s in spec["sequences"]])
        self.results = self.checker.results
        self.problems = []       # memory read-back and register mismatches
        self.cycles = 0
        self.memory_words = 0

    def reg(self, name: str) -> int:
        return next(r["offset"] for r in self.map["registers"] if r["name"] == name)

    def mem_address(self, target, lane, addr, sub=0) -> int:
        m = self.map
        return m["mem_base"] + (((((target << m["lane_bits"]) | lane) << m["addr_bits"] | addr)
                                 << m["sub_bits"] | sub) << 2)

    async def start(self):
        d = self.dut
        Clock(d.aclk, PERIOD_NS, unit="ns").start()
        kw = dict(reset=d.aresetn, reset_active_level=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(d, "s_axi"), d.aclk, **kw)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(d, "s_axis"), d.aclk, byte_lanes=1, **kw)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(d, "m_axis"), d.aclk, byte_lanes=1, **kw)
        self.source.set_pause_generator(pauses(self.rng, self.spec["idle"]))
        self.sink.set_pause_generator(pauses(self.rng, self.spec["backpressure"]))
        d.aresetn.value = 0
        await ClockCycles(d.aclk, 4)
        d.aresetn.value = 1
        await ClockCycles(d.aclk, 2)

    async def read(self, address: int) -> tuple[int, int]:
        r = await self.axil.read(address, 4)
        return int(r.resp), int.from_bytes(r.data, "little")

    async def write(self, address: int, value: int) -> int:
        r = await self.axil.write(address, (value & 0xFFFFFFFF).to_bytes(4, "little"))
        return int(r.resp)

    async def load_and_read_back(self):
        """Every model word written over AXI4-Lite (its 32-bit slices, the last one writes), then
        every one read back: equal to the word written."""
        n, mask = self.map["word_regs"], (1 << self.spec["word_bits"]) - 1
        for w in self.spec["load"]:
            for sub in range(n):
                address = self.mem_address(w["target"], w["lane"], w["addr"], sub)
                resp = await self.write(address, w["data"] >> (32 * sub))
                if resp:
                    self.problems.append(f"memory write {w}: response {resp}")
        for w in self.spec["load"]:
            value = 0
            for sub in range(n):
                resp, part = await self.read(self.mem_address(w["target"], w["lane"], w["addr"], sub))
                value |= part << (32 * sub)
                if resp:
                    self.problems.append(f"memory read {w}: response {resp}")
            if value & mask != w["data"]:
                self.problems.append(f"memory target {w['target']} lane {w['lane']} addr {w['addr']}: "
                                     f"wrote {w['data']:#x}, read {value & mask:#x}")
        self.memory_words = len(self.spec["load"])

    def frames(self, inputs):
        """One sequence [T][I] -> one AxiStreamFrame per step (tuser on the sequence's last beat)."""
        width = self.map["input_bits"]
        T = len(inputs)
        for t, row in enumerate(inputs):
            yield AxiStreamFrame([v & ((1 << width) - 1) for v in row],
                                 tuser=[0] * (len(row) - 1) + [int(t == T - 1)])

    async def take(self, frames: int):
        for _ in range(frames):
            f = await self.sink.recv()
            users = f.tuser if isinstance(f.tuser, list) else [f.tuser or 0] * len(f.tdata)
            for i, word in enumerate(f.tdata):
                self.checker.feed(word, int(i == len(f.tdata) - 1), users[i])

    async def interrupt(self, seq: dict, action: str, steps: int):
        """``steps`` steps of ``seq`` (checked), one more step sent and, while it is computed,
        CANCEL (or, once its outputs are out, SOFT_RESET); then the sequence is abandoned."""
        frames = list(self.frames(seq["inputs"]))
        for f in frames[:steps]:
            await self.source.send(f)
        await self.take(steps)
        bit = 1 if action == "cancel" else 2
        if action == "cancel":
            await self.source.send(frames[steps])
            await self.source.wait()
        status = (await self.read(self.reg("STATUS")))[1]
        if not status & 2:
            self.problems.append(f"{action}: STATUS {status:#x} does not say IN_SEQUENCE")
        await self.write(self.reg("CONTROL"), bit)
        while (await self.read(self.reg("STATUS")))[1] & 5:  # busy or cancel pending
            pass
        await ClockCycles(self.dut.aclk, 20)
        self.sink.clear()
        status = (await self.read(self.reg("STATUS")))[1]
        if status & 2:
            self.problems.append(f"{action}: STATUS {status:#x} still says IN_SEQUENCE")
        self.checker.abandon()

    async def check_registers(self, steps: int, sequences: int):
        last = self.spec["sequences"][-1]["expected"]
        want = {"TOTAL_STEPS": steps, "TOTAL_SEQUENCES": sequences, "LAST_CLASS": last["class"],
                "STEP_CYCLES": last["cycles"][-1], "READOUT_CYCLES": last["readout_cycles"]}
        for name, value in want.items():
            got = (await self.read(self.reg(name)))[1]
            if got != value:
                self.problems.append(f"register {name}: expected {value}, got {got}")

    async def run(self):
        await self.start()
        t0, start_ns = time.perf_counter(), cocotb.utils.get_sim_time("ns")
        if self.spec["load"]:
            await self.load_and_read_back()
        inter = self.spec.get("interrupt")
        steps = sequences = 0
        for n, seq in enumerate(self.spec["sequences"]):
            if inter and n == inter["sequence"]:
                await self.interrupt(seq, inter["action"], inter["steps"])
                if inter["action"] == "soft_reset":
                    steps = sequences = 0  # the counters restart
                else:
                    steps += inter["steps"] + 1  # the step being computed when cancelled finishes
                continue
            for f in self.frames(seq["inputs"]):
                await self.source.send(f)
            await self.take(len(seq["inputs"]) + 1)
            steps, sequences = steps + len(seq["inputs"]), sequences + 1
        self.cycles = int((cocotb.utils.get_sim_time("ns") - start_ns) // PERIOD_NS)
        self.seconds = time.perf_counter() - t0
        await self.check_registers(steps, sequences)
        await RisingEdge(self.dut.aclk)
