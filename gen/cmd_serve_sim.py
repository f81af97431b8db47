"""`egru serve-sim`: the Verilator simulation of the UART top, reachable over TCP, so the host
driver (`egru run`, sw.driver) talks to a simulation exactly as it would to a board."""

import json
import os
import signal
import sys

from gen.progress import say
from gen.verilog import PIPELINE_HELP, UART_TOP, build_top, write_verilog
from hw.spec import PIPELINES
from sim import bridge
from sw.files import check_output_folder

NAME = "serve-sim"
HELP = "simulate the accelerator's UART top and serve its pins on a TCP port"
DESCRIPTION = """\
Build the UART top for a model file (core, command unit, frame receiver and transmitter, UART)
as Verilog, compile it with Verilator together with a bridge that carries the bytes of one TCP
client to the design's rx pin and its tx pin back, bit by bit, and listen on 127.0.0.1.
The first line printed is the address (with --json: one JSON object with "port" and "url");
the simulation then runs until it is interrupted (Ctrl-C or SIGTERM: exit status 0). If the
simulation ends by itself (it crashed or was killed), a FAILED line (with --json: an object
with "failed") says so and the exit status is 1. A --port that is taken is refused at once.

The design's memories start with the given model; `egru run --url ...` (or sw.driver) loads
a model again through the protocol anyway, as on a board. --depth leaves room in the weight
memories for larger (less pruned) models of the same configuration. The first build of a
design compiles C++ for tens of seconds; an unchanged design is not rebuilt.

Example: egru serve-sim runs/digits.egru --port 0
         egru run --url socket://127.0.0.1:PORT runs/digits.egru --samples 50"""


def add_arguments(p) -> None:
    p.add_argument("model", help="model file written by `egru quantize`")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (%(default)s)")
    p.add_argument("--lanes", type=int, default=None, help="multiplier lanes P (default: the model's, 1)")
    p.add_argument("--pipeline", choices=PIPELINES, default=None, help=PIPELINE_HELP)
    p.add_argument("--depth", type=int, default=None,
                   help="weight words per lane (default: what this model needs)")
    p.add_argument("--divisor", type=int, default=8,
                   help="clock cycles per UART bit; a board uses clock / baud (%(default)s)")
    p.add_argument("--quick-build", action="store_true",
                   help="compile the simulation without C++ optimisation (faster build, slower run)")
    p.add_argument("--build-dir", default=os.path.join("build", "serve"), help="(%(default)s)")


def run(args):
    check_output_folder(os.path.join(args.build_dir, "verilog"), [f"{UART_TOP}.v"], [("the model file", args.model)],
                        option="--build-dir")
    top, _ = build_top(args.model, divisor=args.divisor, lanes=args.lanes, depth=args.depth, pipeline=args.pipeline)
    say(f"elaborating {UART_TOP} ({top.core.geometry.P} lanes, {top.core.geometry.depth} weight words "
        f"per lane) ...", args.quiet)
    path = write_verilog(top, os.path.join(args.build_dir, "verilog"), name=UART_TOP)
    say("building the Verilator simulation (the first build of a design takes a minute or so) ...", args.quiet)
    exe, seconds = bridge.build(path, args.build_dir, quick=args.quick_build)
    proc, port = bridge.start(exe, args.divisor, args.port)
    ready = {"port": port, "url": f"socket://127.0.0.1:{port}", "divisor": args.divisor, "verilog": path,
             "build_seconds": round(seconds, 1), "pid": proc.pid}
    if args.json:
        print(json.dumps(ready, sort_keys=True), flush=True)
    else:
        print(f"serving the simulation on {ready['url']} (Ctrl-C stops it)", flush=True)

    stopped = []  # the signal that asked us to stop: the simulation then ends as it should

    def stop(signum, frame):
        stopped.append(signum)
        proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        proc.wait()
    except KeyboardInterrupt:
        stopped.append(signal.SIGINT)
        proc.terminate()
        proc.wait()
    if stopped or proc.returncode == -signal.SIGINT:  # (a Ctrl-C in the terminal reaches both processes)
        return None  # everything was printed when the simulation came up
    # nobody asked it to stop: it crashed or was killed, and whoever uses the URL is cut off
    code = proc.returncode
    how = f"was killed by signal {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
    failed = (f"the simulation (pid {proc.pid}) {how}; {ready['url']} no longer serves "
              f"(messages of the simulation, if any, are above)")
    if args.json:
        print(f"egru serve-sim: error: {failed}", file=sys.stderr)
    return {"failed": failed}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def render(result) -> str:
    return f"FAILED: {result['failed']}" if result.get("failed") else ""
