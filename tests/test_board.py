"""Board builds (`egru board`): the build plans amaranth-boards makes for each board carry the
project's tool fixes (nextpnr-himbaechel's options for Gowin, SPRAM placement for iCE40), and a
model that cannot fit the board's FPGA is refused before any tool runs. The tools themselves run
in `make bench` (a board build takes minutes)."""

import functools
import json
import os
import subprocess
import sys

import pytest

from gen import board as boards
from gen.synth import core_memories, memory_plan
from gen.verilog import build_top
from tests.test_synth import ROOT, small_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("board") / "small.egru")
    small_model(path)
    return path


@functools.cache
def plan_files(name, model, runtime_weights=False):
    """The files of the board's build plan (what amaranth-boards would run), no tool run."""
    b = boards.board(name)
    top, _ = build_top(model, divisor=round(boards.clock_hz(b) / 115200))
    spram = memory_plan(core_memories(top.core), b.target)["spram"]
    plan = boards.build_plan(b, top, runtime_weights, spram)
    return {name: (data.decode() if isinstance(data, bytes) else data) for name, data in plan.files.items()}


def test_every_board_has_a_target_and_a_clock():
    assert set(boards.BOARDS) == {"icebreaker", "ulx3s-85f", "tangnano9k"}
    assert [boards.clock_hz(boards.board(n)) for n in ("icebreaker", "ulx3s-85f", "tangnano9k")] == [12e6, 25e6, 27e6]
    with pytest.raises(ValueError, match="unknown board 'arty'; known: icebreaker, ulx3s-85f, tangnano9k"):
        boards.board("arty")


def test_gowin_build_calls_nextpnr_himbaechel_with_its_options(model):
    script = plan_files("tangnano9k", model)["build_egru_board.sh"]
    assert "--vopt family=GW1N-9C" in script and "--vopt cst=egru_board.cst" in script
    assert "--family " not in script and "--cst " not in script


def test_icebreaker_puts_weights_and_tables_in_spram_loaded_at_run_time(model):
    ys = plan_files("icebreaker", model)["egru_board.ys"]
    assert "synth_ice40 -dsp -spram" in ys
    assert 'setattr -set ram_style "huge" *.core/weights_0' in ys
    assert "delete *.core/t:$meminit_v2 *.core/r:MEMID=\\weights_0 %i" in ys
    assert 'setattr -set ram_style "huge" *.core.update_0/lut_update' in ys


def test_ulx3s_routes_with_router2_and_keeps_weights_in_the_bitstream_unless_asked(model):
    assert "--router router2" in plan_files("ulx3s-85f", model)["build_egru_board.sh"]
    assert "meminit" not in plan_files("ulx3s-85f", model)["egru_board.ys"]
    assert r"delete */t:$meminit_v2 */r:MEMID=\weights_* %i" in plan_files("ulx3s-85f", model, True)["egru_board.ys"]


def test_a_model_too_large_for_the_board_is_refused_before_any_tool(tmp_path):
    path = str(tmp_path / "big.egru")
    small_model(path, lut_bits=14, state_bits=16)
    proc = subprocess.run([sys.executable, "-m", "gen.cli", "board", "tangnano9k", path, "-o", str(tmp_path / "b"),
                           "--json", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "does not fit gowin-gw1n9" in json.loads(proc.stdout)["error"]
    assert not os.path.exists(tmp_path / "b")
