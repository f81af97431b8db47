"""The documents' commands run as written.

Every fenced ``sh`` and ``python`` block of README.md and docs/*.md runs, in document order, in
one fresh working folder (``.venv`` linked in, so ``.venv/bin/egru`` is the installed CLI), and
must exit with status 0. Two exceptions, both stated here rather than hidden:

- ``make demo`` and ``make test`` are not run from inside the test suite (CI runs ``make test``;
  tests/test_demo.py runs ``egru demo``);
- ``egru synth`` and ``egru board`` run with the same options on a small model instead of
  the digits model (runs/digits.egru -> runs/small.egru), which keeps place-and-route to a
  couple of minutes; `make bench` and docs/benchmarks.md cover the digits model.

Synopses and commands quoted in the prose (``egru sim MODEL [--lanes P]``) cannot run as they
stand; for those, every option they name must be one that subcommand accepts.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from tests.test_synth import small_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                              if f.endswith(".md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"^make (demo|test)\b")
SMALL = re.compile(r"(egru (?:synth|board) .*)runs/digits\.egru")


def blocks() -> list[tuple[str, int, str, str]]:
    out = []
    for doc in DOCS:
        with open(os.path.join(ROOT, doc)) as f:
            text = f.read()
        for m in FENCE.finditer(text):
            lang, body = m.group(1), m.group(2)
            if lang in ("sh", "python"):
                out.append((doc, text[:m.start()].count("\n") + 1, lang, body))
    return out


BLOCKS = blocks()


DOC_PORT = "5555"  # the documents' example port; the test uses a free one instead
STATE = {"failed": None}  # the blocks build on each other: after a failure the rest are skipped


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs")
    os.symlink(os.path.join(ROOT, ".venv"), d / ".venv")
    (d / "runs").mkdir()
    small_model(str(d / "runs" / "small.egru"))
    yield d
    pid = d / "runs" / "serve.pid"  # a block failed between starting and stopping the server
    if pid.exists():
        try:
            with open(f"/proc/{int(pid.read_text())}/cmdline") as f:
                ours = "serve-sim" in f.read()
            if ours:
                os.kill(int(pid.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


@pytest.fixture(scope="module")
def port():
    return free_port()


def as_run(lang: str, body: str, port: int) -> str:
    body = body.replace(f":{DOC_PORT}", f":{port}").replace(f"--port {DOC_PORT}", f"--port {port}")
    if lang == "python":
        return body
    lines = [line for line in body.splitlines() if not NOT_RUN.match(line)]
    return "\n".join(SMALL.sub(r"\1runs/small.egru", line) for line in lines)


def shell_path() -> str:
    """PATH as a user's shell has it: without the venv's bin/, which conftest puts first."""
    venv_bin = os.path.dirname(sys.executable)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)


def test_the_documents_have_commands():
    langs = {(doc, lang) for doc, _, lang, _ in BLOCKS}
    assert ("README.md", "sh") in langs and ("README.md", "python") in langs
    assert sum(1 for b in BLOCKS if "egru synth" in b[3]) >= 1  # the exception above is not vacuous


@pytest.mark.parametrize("doc,line,lang,body", BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS])
def test_block_runs(workdir, port, doc, line, lang, body):
    code = as_run(lang, body, port)
    if not code.strip():
        pytest.skip("only make demo / make test (run by CI and tests/test_demo.py)")
    if STATE["failed"]:
        pytest.skip(f"{STATE['failed']} failed, and this block builds on it")
    cmd = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "PATH": shell_path()}, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        STATE["failed"] = f"{doc} line {line}"
        server = workdir / "runs" / "serve.log"
        log = f"\n--- runs/serve.log\n{server.read_text()[-2000:]}" if server.exists() else ""
        if server.exists() and "serving" not in server.read_text():
            log += system_clues()  # the server vanished without a word: killed from outside?
        pytest.fail(f"{doc} line {line} ({lang}) failed with status {proc.returncode}:\n{code}\n"
                    f"--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}{log}")


def system_clues() -> str:
    """What the machine says when a process dies without a message (the kernel's OOM killer
    writes only to its log): the kernel's last kill messages and the memory left."""
    out = []
    for cmd in (["dmesg"], ["free", "-m"]):
        try:
            text = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as e:
            text = f"({cmd[0]} failed: {e})"
        if cmd == ["dmesg"]:
            text = "\n".join(l for l in text.splitlines() if re.search(r"oom|killed process|out of memory", l, re.I))
        out.append(f"\n--- {' '.join(cmd)}\n{text[-2000:] or '(nothing)'}")
    return "".join(out)


def quoted_commands() -> list[tuple[str, str]]:
    """`egru SUB ...` in inline code, indented blocks and fenced blocks of every document."""
    out = []
    for doc in DOCS:
        with open(os.path.join(ROOT, doc)) as f:
            text = f.read()
        spans = re.findall(r"`(egru [a-z][a-z-]*(?:\s[^`]*)?)`", text)
        spans += re.findall(r"^\s*(?:\.venv/bin/)?(egru [a-z][a-z-]*(?:\s.*)?)$", text, re.M)
        out += [(doc, s) for s in spans]
    return out


def test_every_quoted_command_names_options_its_subcommand_has():
    from gen.cli import build_parser

    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    problems, commands = [], quoted_commands()
    assert len(commands) > 30  # the documents quote dozens; fewer means the pattern broke
    for doc, command in commands:
        sub = command.split()[1]
        if sub not in subcommands:
            problems.append(f"{doc}: `{command}`: no subcommand {sub!r}")
            continue
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", command):
            if option not in subcommands[sub]._option_string_actions:
                problems.append(f"{doc}: `{command}`: egru {sub} has no {option}")
    assert not problems, "\n".join(problems)


def _block_with(text: str) -> tuple[str, str]:
    return next((lang, body) for doc, _, lang, body in BLOCKS if doc == "README.md" and text in body)


def test_the_wait_for_serve_sim_stops_when_serve_sim_dies(tmp_path):
    """The README's wait loop, with a server that died before it printed its address: the loop
    must end (it spun forever), as a user's shell runs it (no -e)."""
    _, body = _block_with("until grep -q serving")
    loop = next(line for line in body.splitlines() if line.startswith("until "))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "serve.log").write_text("egru serve-sim: error: port in use\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "runs" / "serve.pid").write_text(str(dead.pid))
    proc = subprocess.run(["bash", "-c", loop], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert "serving" not in (tmp_path / "runs" / "serve.log").read_text()  # it ended because the server is gone
    assert proc.returncode == 0


def test_the_data_set_example_runs_in_a_fresh_folder(tmp_path):
    """The waves example writes into runs/, which a fresh clone does not have."""
    lang, body = _block_with('np.savez("runs/waves.npz"')
    assert lang == "python"
    proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "waves.npz").exists()
