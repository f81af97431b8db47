"""torch's intra-op threads under load: `egru train --task digits --epochs 3` timed with the
automatic thread choice (sw/threads.py) and with 2 threads, on the machine as it is and with
busy-loop processes beside it.

`make bench` (gen/bench.py) includes this section; `python -m gen.bench_threads` measures only
this and rewrites only its section of docs/benchmarks.md (the rest of the file stays).
"""

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from gen.progress import say
from sw import threads

HEADING = "## torch threads under load"
COMMAND = ["train", "--task", "digits", "--epochs", "3"]
THREADS = (0, 2)  # automatic, and torch's default on this project's 2-core reference machine


@contextlib.contextmanager
def busy_loops(n: int):
    """``n`` processes that spin on a core each (the load another job puts on the machine);
    killed, by their own pids, when the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(1.0 if n else 0.0)  # let them take their cores
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def timed_train(n_threads: int, workdir: str) -> dict:
    """One `egru train` run in a fresh process (torch's own default threads, no
    OMP_NUM_THREADS): wall and CPU seconds, and the 1-minute load average before it."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = os.path.join(workdir, f"digits-threads{n_threads}.pt")
    argv = [sys.executable, "-m", "gen.cli", *COMMAND, "--threads", str(n_threads), "--out", out,
            "--json", "--quiet"]
    load = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench_threads: egru train failed: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    used = n_threads or threads.choose(threads.step_work(32, 8, 64))  # digits: I = 8, H = 64, batch 32
    return {"threads_option": n_threads, "threads": used, "wall": wall, "cpu": cpu, "load": load,
            "nice": os.nice(0), "test_accuracy": result["test_accuracy"]}


def measure(workdir: str, busy: int = 1) -> list[dict]:
    """Every combination of THREADS and (no busy loop, ``busy`` busy loops)."""
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for loops in (0, busy):
        with busy_loops(loops):
            for n in THREADS:
                say(f"bench: egru train --epochs 3 --threads {n}, {loops} busy loop(s) beside it ...")
                rows.append({"busy_loops": loops, **timed_train(n, workdir)})
    return rows


def table(rows: list[dict], machine: str) -> list[str]:
    lines = [
        HEADING,
        "",
        f"`egru {' '.join(COMMAND)} --threads N` (EGRU 1x64, batch 32), each run a fresh process with",
        "torch's default thread pool (no OMP_NUM_THREADS); `--threads 0` is the automatic choice of",
        "sw/threads.py (1 thread for a model this small). Busy loops are `python -c 'while True: pass'`",
        "processes started beside it; the load average is the machine's at the start of the run (other",
        "jobs included), so a row with no busy loop is not an idle machine when others share it.",
        "",
        f"- machine: {machine}",
        f"- measured {time.strftime('%Y-%m-%d')} with `python -m gen.bench_threads` (or `make bench`), "
        f"niceness {rows[0]['nice'] if rows else os.nice(0)}",
        "",
        "| busy loops beside it | --threads | threads used | wall s | CPU s | load average | test accuracy |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['busy_loops']} | {r['threads_option']} | {r['threads']} | {r['wall']:.1f} | "
                     f"{r['cpu']:.1f} | {r['load']:.2f} | {r['test_accuracy']:.4f} |")
    lines.append("")
    return lines


def replace_section(text: str, section: list[str]) -> str:
    """``text`` with its HEADING section (up to the next ``## `` heading) replaced by
    ``section``, or with ``section`` appended if it has none."""
    lines = text.split("\n")
    if HEADING not in lines:
        return text.rstrip("\n") + "\n\n" + "\n".join(section)
    start = lines.index(HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + section + lines[end:])


def main(argv=None) -> int:
    from gen.bench import machine  # gen.bench imports this module
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join("docs", "benchmarks.md"))
    ap.add_argument("--busy", type=int, default=1, help="busy-loop processes for the loaded runs (%(default)s)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        rows = measure(work, args.busy)
    with open(args.out) as f:
        text = f.read()
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(replace_section(text, table(rows, machine())))
    os.replace(tmp, args.out)
    say(f"bench_threads: wrote its section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
