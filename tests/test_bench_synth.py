"""gen.bench_synth's per-lane and fixed costs: the least-squares line through the placed rows."""

import pytest

from gen.bench_synth import cost_table, lane_costs


def _row(target, pipeline, lanes, luts, ffs, fits=True):
    return {"target": target, "pipeline": pipeline, "lanes": lanes, "luts": luts, "ffs": ffs, "fits": fits}


def test_a_linear_cost_is_recovered_exactly():
    rows = [_row("ecp5-85k", "deep", p, 2000 + 1500 * p, 900 + 700 * p) for p in (1, 2, 4, 8)]
    (fit,) = lane_costs(rows)
    assert fit["lanes"] == [1, 2, 4, 8]
    assert fit["luts_per_lane"] == pytest.approx(1500) and fit["luts_fixed"] == pytest.approx(2000)
    assert fit["ffs_per_lane"] == pytest.approx(700) and fit["ffs_fixed"] == pytest.approx(900)
    assert fit["luts_residual"] == pytest.approx(0, abs=1e-12)


def test_rows_that_did_not_place_and_lone_rows_are_left_out():
    rows = [_row("ice40-up5k", "short", 1, 5200, 1500), _row("ice40-up5k", "short", 2, 9000, 2000, fits=False),
            _row("ecp5-25k", "short", 1, 5000, 1600), _row("ecp5-25k", "short", 2, 7000, 2600),
            {"target": "ecp5-25k", "pipeline": "short", "lanes": 4, "error": "yosys failed"}]
    (fit,) = lane_costs(rows)
    assert (fit["target"], fit["lanes"]) == ("ecp5-25k", [1, 2])
    assert fit["luts_per_lane"] == pytest.approx(2000) and fit["luts_fixed"] == pytest.approx(3000)


def test_the_residual_shows_a_row_off_the_line():
    rows = [_row("t", "deep", 1, 3000, 100), _row("t", "deep", 2, 4000, 200), _row("t", "deep", 4, 9000, 400)]
    (fit,) = lane_costs(rows)
    assert fit["luts_residual"] > 0.05
    text = "\n".join(cost_table(rows))
    assert "| t | deep | 1, 2, 4 |" in text
    assert cost_table([_row("t", "deep", 1, 3000, 100)]) == []
