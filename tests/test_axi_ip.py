"""`egru verilog --top axi`: egru_axi.v lints clean with the documented waivers, --json says what
was written, registers.md and egru_axi.json come from the same register map as the hardware,
and the FuseSoC core file written beside the Verilog passes its lint target and runs its
simulation targets (edalize driving Verilator and Icarus)."""

import json
import os
import subprocess
import sys

import pytest

from hw.spec import axi as spec
from sw import modelfile
from tests.conftest import egru_json
from tests.random_models import random_config, random_params

FUSESOC = os.path.join(os.path.dirname(sys.executable), "fusesoc")


@pytest.fixture(scope="module")
def ip(tmp_path_factory):
    d = tmp_path_factory.mktemp("axi")
    cfg = random_config(3, layers=1)
    modelfile.save(str(d / "m.egru"), cfg, random_params(cfg, 3))
    r = egru_json("verilog", str(d / "m.egru"), "-o", str(d / "ip"), "--top", "axi", "--lanes", "2", "--lint")
    return r, d / "ip", cfg


def test_the_axi_top_is_written_and_described(ip):
    r, out, cfg = ip
    assert r["lint_clean"] is True, r.get("lint_output")
    for key, name in (("verilog", "egru_axi.v"), ("registers", "registers.md"), ("core_file", "egru_axi.core"),
                      ("json", "egru_axi.json"), ("testbench", "egru_axi_tb.v")):
        assert r[key] == str(out / name) and (out / name).is_file()
    text = (out / "egru_axi.v").read_text()
    assert "module egru_axi(" in text.replace(" (", "(")
    names = {p["name"] for p in r["ports"]}
    want = {"aclk", "aresetn"} | {f"s_axis_{s}" for s in ("tdata", "tvalid", "tready", "tlast", "tuser")} \
        | {f"m_axis_{s}" for s in ("tdata", "tvalid", "tready", "tlast", "tuser")} \
        | {f"s_axi_{s}" for s in ("awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready",
                                  "bresp", "bvalid", "bready", "araddr", "arprot", "arvalid", "arready",
                                  "rdata", "rresp", "rvalid", "rready")}
    assert names == want
    assert json.loads((out / "egru_axi.json").read_text())["register_map"] == r["register_map"]
    doc = (out / "registers.md").read_text()
    for reg in r["register_map"]["registers"]:
        assert f"| 0x{reg['offset']:03X} | {reg['name']} |" in doc
    assert f"0x{r['register_map']['mem_base']:X}" in doc
    assert {"ID", "CONTROL", "STATUS", "STEP_CYCLES", "INPUT_SIZE", "TARGET_1_DEPTH"} <= \
        {reg["name"] for reg in r["register_map"]["registers"]}
    assert r["config"]["input_size"] == cfg.input_size


def test_trace_with_the_axi_top_is_refused(ip, tmp_path, capsys):
    from gen.cli import main
    code = main(["verilog", str(ip[1].parent / "m.egru"), "-o", str(tmp_path / "x"), "--top", "axi", "--trace"])
    assert code == 2 and "--trace" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def fusesoc(out, target, work):
    env = dict(os.environ, MAKEFLAGS="CFG_CXXFLAGS_PCH_I=-include",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([FUSESOC, "--cores-root", str(out), "run", "--target", target, "egru:accel:egru_axi"],
                          cwd=work, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("target", ["lint", "sim_icarus", pytest.param("sim_verilator", marks=pytest.mark.slow)])
def test_fusesoc_runs_the_core_file_targets(ip, tmp_path, target):
    proc = fusesoc(ip[1], target, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    if target != "lint":
        assert f"PASS: egru_axi ID {spec.MAGIC:08x}" in proc.stdout + proc.stderr
