"""Build and start the simulation bridge of `egru serve-sim` (sim/bridge.cpp): the Verilator
model of the UART top with its two pins carried over a TCP socket on 127.0.0.1.

One build folder per design (keyed by a hash of the Verilog and of the bridge source), so an
unchanged design is not rebuilt.
"""

import errno
import hashlib
import os
import select
import shutil
import socket
import subprocess
import time

from sim.runner import _env

TOP = "egru_top"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bridge.cpp")
EXE = "egru_bridge"


class BridgeError(OSError):
    """The bridge could not be built or did not start (an OSError: the CLI reports it without a
    traceback)."""


class PortInUse(BridgeError):
    """The TCP port asked for is taken."""


def _check_port(port: int) -> None:
    """Refuse a port that is taken, with the bind options the bridge uses (SO_REUSEADDR: a port
    in TIME_WAIT is free, one that something listens on is not)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on 127.0.0.1 is already in use (another `egru serve-sim`?): "
                                f"stop what listens there, or give another --port (0 picks a free one)") from None
            raise BridgeError(f"cannot listen on port {port} of 127.0.0.1: {e.strerror}") from None


def build(verilog_path: str, work_dir: str, quick: bool = False) -> tuple[str, float]:
    """Compile the bridge for one design; returns (executable, seconds spent building, 0 when
    the design was built before). ``quick`` compiles without C++ optimisation: about twice as
    fast to build, slower to run (for tests of small designs)."""
    exe = shutil.which("verilator")
    if exe is None:
        raise OSError("verilator not found on PATH (make installs it into .venv/bin)")
    digest = hashlib.sha256()
    for path in (verilog_path, SOURCE):
        with open(path, "rb") as f:
            digest.update(f.read())
    build_dir = os.path.abspath(os.path.join(work_dir, f"bridge-{digest.hexdigest()[:16]}{'-quick' if quick else ''}"))
    binary = os.path.join(build_dir, EXE)
    if os.path.exists(binary):
        return binary, 0.0
    _env()
    obj = f"{build_dir}.tmp-{os.getpid()}"
    shutil.rmtree(obj, ignore_errors=True)
    os.makedirs(obj)
    opt = "-O0" if quick else "-O1"
    cmd = [exe, "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--top-module", TOP, "-Mdir", obj, "-o", EXE, os.path.abspath(verilog_path), SOURCE,
           "-MAKEFLAGS", f"OPT_FAST={opt} OPT_SLOW={opt} OPT_GLOBAL={opt}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(os.path.join(obj, EXE)):
        raise BridgeError(f"building the simulation bridge failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    os.makedirs(build_dir, exist_ok=True)
    os.replace(os.path.join(obj, EXE), binary)  # the executable appears only when complete
    shutil.rmtree(obj, ignore_errors=True)
    return binary, time.perf_counter() - t0


def start(binary: str, divisor: int, port: int = 0, timeout: float = 30.0) -> tuple[subprocess.Popen, int]:
    """Start the bridge; returns (process, the TCP port it listens on)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535] (0: any free port), got {port!r}")
    _check_port(port)
    # the bridge's own messages (only on a fatal error) go straight to our stderr
    proc = subprocess.Popen([binary, "--divisor", str(divisor), "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if line.startswith("PORT "):
        return proc, int(line.split()[1])
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        raise BridgeError(f"the simulation bridge did not start listening within {timeout} s")
    proc.wait()
    where = f"port {port}" if port else "a free port"
    raise BridgeError(f"the simulation bridge exited with status {proc.returncode} before it listened on "
                      f"{where} of 127.0.0.1 (its message is above; a port taken meanwhile gives 'bind')")
