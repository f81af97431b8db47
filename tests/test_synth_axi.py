"""`egru synth --top axi`: the AXI IP synthesises and is placed and routed out of context on the
ECP5 (its ports stay inside the fabric), with a report of resources and Fmax; other families are
refused with the reason (the digits model on the ECP5-85F: docs/integration.md)."""

import os

import pytest

from tests.test_synth import egru, small_model


@pytest.mark.slow
def test_small_model_axi_ip_synthesises_out_of_context_on_ecp5(tmp_path):
    path = str(tmp_path / "small.egru")
    small_model(path)
    code, r, err = egru("synth", path, "--target", "ecp5-25k", "--top", "axi", "-o", str(tmp_path / "axi"))
    assert code == 0, err
    assert r["top"] == "axi" and r["out_of_context"] is True
    assert r["fits"] and r["over"] == [] and r["pnr_error"] is None
    for k in ("luts", "ffs", "brams", "dsps"):
        assert 0 < r[k] <= r["available"][k], k
    assert r["fmax_mhz"] > 10 and r["memories_in_logic"] == []
    assert os.path.exists(tmp_path / "axi" / "egru_axi.v")


def test_axi_top_outside_ecp5_is_refused(tmp_path):
    path = str(tmp_path / "small.egru")
    small_model(path)
    code, r, err = egru("synth", path, "--target", "ice40-up5k", "--top", "axi", "-o", str(tmp_path / "x"))
    assert code == 2 and "out of context" in r["error"] and "ecp5-85k" in r["error"]
    assert not (tmp_path / "x").exists()
