"""Soak the host path: `egru serve-sim` (the Verilator UART top behind TCP) and `egru run` (the
driver, in processes of its own) for a number of test sequences, every one bit-exact against the
golden and cycle models (`egru run` exits 1 on any mismatch), with a disturbance between runs:

- cancel: a client starts a sequence, runs two steps and leaves without ending it;
- reset: a client starts a sequence, resets it after two steps, writes a model word again (loads
  are allowed once the sequence is reset) and runs a whole sequence, checked bit-exact;
- half frame: a client sends the first bytes of a STEP and disconnects; a second client connects
  at once (its first request meets the half frame: the driver's retry must recover) and runs a
  sequence, checked bit-exact;
- two clients: a second `egru run` connects while one runs. The bridge serves one client at a
  time (a new one replaces the old, as a second host on one UART would), so the first must end
  with a clear error (exit 2, no traceback) or have finished bit-exact before; never a false
  result. The second must be bit-exact.

    python -m tests.host_soak --sequences 10000 --report build/soak/report.json     (make soak)
"""

import argparse
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

from hw.spec.layout import T_THR
from hw.spec.protocol import STEP_START, Command
from sw.protocol import Frame, encode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EGRU = [sys.executable, "-m", "gen.cli"]
DISTURBANCES = ("cancel", "reset", "half_frame", "two_clients")


class SoakFailure(AssertionError):
    """A run that was not bit-exact, a false success, a traceback, or no recovery."""


def egru_run(url: str, model: str, samples: int, load: bool) -> subprocess.Popen:
    argv = [*EGRU, "run", "--url", url, model, "--samples", str(samples), "--json"]
    return subprocess.Popen(argv + ([] if load else ["--no-load"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)


def finish(proc: subprocess.Popen, what: str, may_fail: bool = False) -> int:
    """Wait for an `egru run`; the sequences it ran bit-exact (0 if it failed cleanly and
    ``may_fail``). Anything else is a SoakFailure."""
    out, err = proc.communicate(timeout=3600)
    if "Traceback" in err:
        raise SoakFailure(f"{what}: a traceback:\n{err[-3000:]}")
    try:
        r = json.loads(out)
    except ValueError:
        raise SoakFailure(f"{what}: no JSON on stdout (exit {proc.returncode}): {out[-500:]!r} {err[-1500:]}") from None
    if proc.returncode == 0 and r.get("mismatches") == 0 and "failed" not in r:
        return r["samples"]
    if may_fail and proc.returncode == 2 and "error" in r:
        return 0
    raise SoakFailure(f"{what}: exit {proc.returncode}: {json.dumps(r)[:1500]}")


class Checker:
    """In-process clients (sw.driver) for the disturbances, with the golden and cycle models of
    the test set to check the sequences they run."""

    def __init__(self, url: str, model: str):
        from sw import modelfile
        from sw.datasets import load_recorded
        from sw.golden import quantize_inputs
        from sw.golden import run as golden_run

        self.url = url
        m = modelfile.load(model)
        self.model = m
        self.x_q = quantize_inputs(load_recorded(m.meta.get("data")).x_test, m.config)
        self.golden = golden_run(m.config, m.params, self.x_q)
        self.rng = random.Random(7)

    def connect(self, retries: int = 3):
        from sw.driver import Accelerator
        return Accelerator(self.url, timeout=2.0, retries=retries)

    def step_frame(self, acc, n: int, t: int, flags: int) -> bytes:
        w = acc.wire
        return bytes([flags]) + b"".join(int(v).to_bytes(w.input_bytes, "little", signed=True) for v in self.x_q[n][t])

    def check_sequence(self, acc, n: int) -> None:
        from sw import cycles
        from sw.golden import events as golden_events

        image = acc.fit((self.model.config, self.model.params))
        out = acc.run(self.x_q[n])
        got = ([(t, *e) for t, s in enumerate(out.steps) for e in s.events], out.logits,
               [s.counters["cycles"] for s in out.steps])
        want = (golden_events(self.golden, n), self.golden.logits[n].tolist(),
                [s.total for s in cycles.sequence_cycles(image, self.x_q, self.golden, n)])
        if got != want:
            raise SoakFailure(f"sequence {n} differs from the golden model after a disturbance")

    def cancel(self) -> int:
        n = self.rng.randrange(len(self.x_q))
        with self.connect() as acc:
            acc.request(Command.STEP, self.step_frame(acc, n, 0, STEP_START))
            acc.request(Command.STEP, self.step_frame(acc, n, 1, 0))
        return 0  # left mid-sequence: the next `egru run` must start cleanly

    def reset(self) -> int:
        n = self.rng.randrange(len(self.x_q))
        with self.connect() as acc:
            acc.request(Command.STEP, self.step_frame(acc, n, 0, STEP_START))
            acc.request(Command.STEP, self.step_frame(acc, n, 1, 0))
            acc.reset()
            word = acc.read(T_THR, 0, 0, 1)[0]  # refused (BUSY) if the sequence still ran
            payload = struct.pack("<BBIH", T_THR, 0, 0, 1) + word.to_bytes(acc.wire.word_bytes, "little")
            acc.request(Command.WRITE, payload)
            self.check_sequence(acc, n)
        return 1

    def half_frame(self) -> int:
        n = self.rng.randrange(len(self.x_q))
        with self.connect() as acc:
            frame = encode(Frame(Command.STEP, 1, self.step_frame(acc, n, 0, STEP_START)))
        host, port = self.url.removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as s:
            s.sendall(frame[:self.rng.randint(1, len(frame) - 1)])
        with self.connect() as acc:  # at once: its first request may complete the half frame
            self.check_sequence(acc, n)
        return 1


def two_clients(url: str, model: str, samples: int) -> tuple[int, dict]:
    """A second `egru run` while one runs: (sequences bit-exact, what happened to the first)."""
    first = egru_run(url, model, samples, load=False)
    # the first is connected once it says so on stderr (it prints that without --quiet)
    line = ""
    while "connected to" not in line:
        line = first.stderr.readline()
        if not line:
            break
    time.sleep(0.5)
    second = egru_run(url, model, samples, load=False)
    done_first = finish(first, "the first of two clients", may_fail=True)
    done_second = finish(second, "the second of two clients")
    return done_first + done_second, {"first_finished": done_first > 0}


def soak(url: str, model: str, sequences: int, per_run: int, say=None, load_first: bool = True) -> dict:
    """Run at least ``sequences`` test sequences through `egru run` at ``url`` (``per_run`` a
    run), one disturbance between runs in turn; raises SoakFailure. Returns the figures. The
    first run loads the model, unless ``load_first`` is False (the accelerator holds it)."""
    t0 = time.perf_counter()
    checker = Checker(url, model)
    per_run = min(per_run, len(checker.x_q))
    done = runs = 0
    if load_first:
        done, runs = finish(egru_run(url, model, per_run, load=True), "the first run (loads the model)"), 1
    counts, first_finished = dict.fromkeys(DISTURBANCES, 0), 0
    while done < sequences:
        kind = DISTURBANCES[sum(counts.values()) % len(DISTURBANCES)]
        counts[kind] += 1
        if kind == "two_clients":
            n, outcome = two_clients(url, model, per_run)
            done, runs, first_finished = done + n, runs + 2, first_finished + outcome["first_finished"]
        else:
            done += getattr(checker, kind)()
            done += finish(egru_run(url, model, min(per_run, max(1, sequences - done)), load=False),
                           f"the run after {kind}")
            runs += 1
        if say:
            rate = done / (time.perf_counter() - t0)
            say(f"soak: {done} of {sequences} sequences bit-exact, {runs} runs, {rate:.1f} sequences/s")
    seconds = time.perf_counter() - t0
    return {"sequences": done, "mismatches": 0, "runs": runs, "disturbances": counts,
            "two_clients_first_finished": first_finished, "seconds": round(seconds, 1),
            "sequences_per_second": round(done / seconds, 2), "per_run": per_run, "url": url}


def serve(model: str, build_dir: str, divisor: int):
    """`egru serve-sim` of ``model`` (2 lanes): (process, url)."""
    proc = subprocess.Popen([*EGRU, "serve-sim", model, "--lanes", "2", "--divisor", str(divisor), "--build-dir",
                             build_dir, "--json", "--quiet"], stdout=subprocess.PIPE, stderr=None, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    if not line:
        raise SoakFailure(f"egru serve-sim did not start (exit {proc.wait()})")
    return proc, json.loads(line)["url"]


def main(argv=None) -> int:
    from tests.host_fuzz import machine, publish

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=10000)
    ap.add_argument("--per-run", type=int, default=360, help="test sequences per `egru run` (%(default)s)")
    ap.add_argument("--divisor", type=int, default=4,
                    help="UART clock cycles per bit of the simulation; 4, the fastest, halves the cycles per "
                         "sequence of serve-sim's default 8 (%(default)s)")
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "soak"))
    ap.add_argument("--report", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    if args.sequences < 1 or args.per_run < 1:
        ap.error("--sequences and --per-run must be positive")
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model = os.path.join(args.work, "digits.egru")
    if not os.path.exists(model):  # the demo's shipped float model, quantized and 50% pruned
        say("soak: quantizing gen/models/digits.pt ...")
        subprocess.run([*EGRU, "quantize", os.path.join(ROOT, "gen", "models", "digits.pt"), "--out", model,
                        "--prune", "0.5", "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    say("soak: starting egru serve-sim (the first build compiles for a minute or two) ...")
    server, url = serve(model, os.path.join(args.work, "serve"), args.divisor)
    t0 = time.perf_counter()
    try:
        report = soak(url, model, args.sequences, args.per_run, say)
        code = 0
    except SoakFailure as e:
        report = {"sequences": args.sequences, "failed": str(e), "seconds": round(time.perf_counter() - t0, 1)}
        code = 1
    finally:
        server.terminate()
        status = server.wait(timeout=60)
    if status != 0 and code == 0:
        report["failed"], code = f"egru serve-sim exited with status {status}", 1
    report["machine"], report["divisor"] = machine(), args.divisor
    publish(report, "tests.host_soak", argv, args.report)
    return code


if __name__ == "__main__":
    sys.exit(main())
