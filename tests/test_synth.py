"""Synthesis reports (`egru synth`): the fit check refuses, with the numbers, a model that
cannot fit before any tool runs; a small configuration synthesises and places on the ECP5-25k
with its memories in RAM blocks and its multipliers in DSP blocks (the other targets and the
digits model run in `make bench`)."""

import json
import os
import subprocess
import sys

import pytest

from gen.synth import DoesNotFitTarget, check_fit, core_memory_name, memory_plan, parse_mapping
from gen.targets import TARGETS
from sw import modelfile
from sw.datasets import load
from tests.random_models import random_config, random_params

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def egru(*args):
    proc = subprocess.run([sys.executable, "-m", "gen.cli", *args, "--json", "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def small_model(path, **overrides):
    """A small random model whose inputs are the digits task's (8 features per step), so that
    the cycle model has a test set to run."""
    cfg = random_config(5, lanes=1, layers=1, input_size=8, hidden_size=6, num_classes=3, **overrides)
    data = load(task="digits")
    modelfile.save(path, cfg, random_params(cfg, 5),
                   {"data": {"source": "task:digits", "sha256": data.sha256}})
    return cfg


def test_ram_blocks_take_the_best_shape():
    ebr = TARGETS["ice40-up5k"].bram
    assert ebr.blocks_for(64, 30) == 2          # two 256 x 16 blocks side by side
    assert ebr.blocks_for(1024, 16) == 4        # four stacked
    assert ebr.blocks_for(2048, 2) == 1
    dp16 = TARGETS["ecp5-25k"].bram
    assert dp16.blocks_for(4598, 30) == 9       # 512 x 36 shape, nine deep
    assert dp16.blocks_for(640, 8) == 1         # 2048 x 9


def test_weights_then_tables_go_to_spram_on_ice40_only():
    memories = [("weights_0", 4598, 30), ("bias_u_0", 64, 30), ("lut_update_0", 1024, 16),
                ("lut_sigmoid_0", 1024, 16), ("lut_tanh_0", 1024, 16)]
    ice = memory_plan(memories, TARGETS["ice40-up5k"])
    # two SPRAMs side by side for the 30-bit weights, one each for two tables: all four used
    assert ice["spram"] == ["lut_sigmoid_0", "lut_update_0", "weights_0"]
    assert (ice["spram_blocks"], ice["bram_blocks"]) == (4, 2 + 4)
    ecp5 = memory_plan(memories, TARGETS["ecp5-25k"])
    assert (ecp5["spram"], ecp5["spram_blocks"], ecp5["bram_blocks"]) == ([], 0, 9 + 1 + 3)


def test_the_fit_check_names_the_numbers():
    with pytest.raises(DoesNotFitTarget, match=r"need 10 SB_SPRAM256KA blocks, the device has 4"):
        check_fit([("weights_0", 70000, 30)], TARGETS["ice40-up5k"])
    with pytest.raises(DoesNotFitTarget, match=r"need 48 SB_RAM40_4K blocks .* the device has 30"):
        check_fit([(f"bias_{gate}_0", 4096, 16) for gate in ("u", "r", "gx")], TARGETS["ice40-up5k"])
    with pytest.raises(DoesNotFitTarget, match=r"hold 786432 bits, the device's RAM blocks 479232"):
        check_fit([(f"lut_{k}_0", 16384, 16) for k in ("update", "sigmoid", "tanh")], TARGETS["gowin-gw1n9"])
    assert check_fit([("weights_0", 4598, 30)], TARGETS["ice40-up5k"])["spram_blocks"] == 2


def test_mapping_is_read_from_the_yosys_log(tmp_path):
    log = tmp_path / "yosys.log"
    log.write_text("mapping memory egru_top.core.weights_0 via $__ICE40_SPRAM_\n"
                   "mapping memory egru_top.core.mac_0.acc_u via $__ICE40_RAM4K_\n"
                   "Mapping memory \\input_buffer in module \\egru_top.core:\n")
    assert parse_mapping(str(log)) == {"egru_top.core.weights_0": "ICE40_SPRAM",
                                       "egru_top.core.mac_0.acc_u": "ICE40_RAM4K",
                                       "egru_top.core.input_buffer": "logic"}


def test_memory_names_in_the_log_are_the_cores():
    """Yosys' memory paths back to the core's names: the lanes' own memories and the slices of a
    sliced weight memory (ECP5, deep pipeline) under their memory's name."""
    assert core_memory_name("egru_top.core.mac_3.acc_u") == "acc_u_3"
    assert core_memory_name("egru_top.core.update_1.lut_tanh") == "lut_tanh_1"
    assert core_memory_name("egru_top.core.weights_2") == "weights_2"
    assert core_memory_name("egru_top.core.weights_2_s11") == "weights_2"
    assert core_memory_name("egru_top.core.event_sum_0") == "event_sum_0"
    assert core_memory_name("egru_top.command.response") is None


def test_a_model_too_large_is_refused_before_any_tool(tmp_path):
    path = str(tmp_path / "big.egru")
    small_model(path, lut_bits=14, state_bits=16)  # three 16k-entry tables per lane: 768 kbit
    code, out, err = egru("synth", path, "--target", "gowin-gw1n9", "-o", str(tmp_path / "out"))
    assert code == 2
    assert "does not fit gowin-gw1n9" in out["error"] and "the device's RAM blocks 479232" in out["error"]
    assert not os.path.exists(tmp_path / "out" / "yosys.log")  # refused before the tools


def test_small_model_synthesises_on_ecp5(tmp_path):
    path = str(tmp_path / "small.egru")
    small_model(path)
    folder = tmp_path / "ecp5"
    code, r, err = egru("synth", path, "--target", "ecp5-25k", "-o", str(folder))
    assert code == 0, err
    assert r["target"] == "ecp5-25k" and r["fits"] and r["over"] == []
    for k in ("luts", "ffs", "brams", "dsps"):
        assert 0 < r[k] <= r["available"][k], k
    # multipliers in DSP blocks: every one of the datapath's fits one MULT18X18D
    assert r["dsps"] >= r["multipliers"] == 6
    # every model memory is in RAM (block or distributed), none built from flip-flops
    assert r["memories_in_logic"] == []
    assert set(r["memories"]) >= {"weights_0", "state_0", "thr_0", "lut_tanh_0", "acc_u_0"}
    assert r["fmax_mhz"] > 10 and r["critical_path"]["through"]
    assert r["cycles_per_step"] > 0
    assert r["us_per_step"] == pytest.approx(r["cycles_per_step"] / r["fmax_mhz"], rel=1e-3)
    assert json.loads((folder / "report.json").read_text())["fmax_mhz"] == r["fmax_mhz"]
    # the report can be rebuilt from the run's files without running the tools again
    code, again, err = egru("synth", path, "--target", "ecp5-25k", "-o", str(folder), "--from-logs")
    assert code == 0, err
    same = ("luts", "ffs", "brams", "dsps", "fits", "fmax_mhz", "memories", "critical_path", "cycles_per_step")
    assert {k: again[k] for k in same} == {k: r[k] for k in same}
    assert again["yosys_seconds"] is None


def test_seeds_try_several_placements_and_keep_the_fastest(tmp_path):
    path = str(tmp_path / "small.egru")
    small_model(path)
    folder = tmp_path / "ecp5"
    code, r, err = egru("synth", path, "--target", "ecp5-25k", "-o", str(folder), "--seed", "3", "--seeds", "2")
    assert code == 0, err
    runs = r["placements"]
    assert [p["seed"] for p in runs] == [3, 4] and all(p["routed"] for p in runs)
    best = max(runs, key=lambda p: p["fmax_mhz"])
    assert r["seed"] == best["seed"] and r["fmax_mhz"] == best["fmax_mhz"]
    # each placement's files are kept; the chosen one's are also the run's nextpnr files
    for seed in (3, 4):
        assert (folder / f"nextpnr-seed{seed}.log").exists() and (folder / f"nextpnr-seed{seed}.json").exists()
    assert (folder / "nextpnr.json").read_bytes() == (folder / f"nextpnr-seed{r['seed']}.json").read_bytes()
    assert [p["command"].endswith(f"--seed {p['seed']}") for p in runs] == [True, True]
    code, again, err = egru("synth", path, "--target", "ecp5-25k", "-o", str(folder), "--seed", "3", "--seeds", "2",
                            "--from-logs")
    assert code == 0, err
    assert {k: again[k] for k in ("fmax_mhz", "seed", "placements")} == {k: r[k] for k in ("fmax_mhz", "seed",
                                                                                        "placements")}
    # logs of these placements are not the logs of nextpnr's default seed
    code, _, err = egru("synth", path, "--target", "ecp5-25k", "-o", str(folder), "--from-logs", "--seeds", "3")
    assert code != 0 and "seeds" in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (("--seeds", "0"), "--seeds must be"),
    (("--seeds", "101"), "--seeds must be"),
    (("--seed", "0"), "--seed must be"),
])
def test_bad_seed_options_are_refused_before_any_tool(tmp_path, args, message):
    path = str(tmp_path / "small.egru")
    small_model(path)
    proc = subprocess.run([sys.executable, "-m", "gen.cli", "synth", path, "--target", "ecp5-25k",
                           "-o", str(tmp_path / "out"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_text_report_says_how_the_placement_was_chosen():
    from gen.cmd_synth import placement_seeds, placement_text

    assert placement_seeds(None, 1) == (None,)  # one run with nextpnr's own default seed
    assert placement_seeds(None, 3) == (1, 2, 3) and placement_seeds(7, 2) == (7, 8)
    runs = [{"seed": 1, "fmax_mhz": 88.2}, {"seed": 2, "fmax_mhz": 95.04}, {"seed": 3, "fmax_mhz": None}]
    assert placement_text({"seed": 2, "placements": runs}) == \
        " (seed 2, the fastest of 3 placements; seed: MHz 1: 88.2, 2: 95.0, 3: failed)"
    assert placement_text({"seed": 5, "placements": runs[:1]}) == " (seed 5)"
    assert placement_text({"seed": None, "placements": None}) == ""
