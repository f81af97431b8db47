"""The scale table of `make bench` (gen/bench_scale.py): the synthesis plan is checked before any
work, and each row's time and effective GOp/s come from its own cycles and its own placed clock;
a row not placed shows its clock-free figures only, and a failed placement says why."""

import pytest

from gen import bench_scale


def row(hidden, lanes, cycles, placed=None):
    r = {"hidden": hidden, "lanes": lanes, "accuracy": 0.95, "events_per_step": 10.0, "cycles_per_step": cycles,
         "ideal_bound_cycles_per_step": cycles - 10, "dense_ops_per_step": 400_000}
    if placed is not None:
        r["placed"] = placed
    return r


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_plan_is_parsed_and_checked():
    assert bench_scale.parse_plan("64:4, 256:16,64:4,") == ((64, 4), (256, 16))
    assert bench_scale.parse_plan("") == ()
    for bad, message in (("64", "is not H:P"), ("64:x", "is not H:P"), ("96:4", "H must be one of"),
                         ("64:3", "P one of")):
        with pytest.raises(ValueError, match=message):
            bench_scale.parse_plan(bad)


def test_time_and_gops_come_from_the_rows_own_cycles_and_clock():
    rows = [row(256, 16, 400.0, {"fmax_mhz": 80.0, "luts": 30000, "dsps": 90, "brams": 100}),
            row(256, 8, 700.0),
            row(512, 16, 900.0, {"error": "synth: router2 failed | overuse"})]
    lines = bench_scale.table(rows, plan=((256, 16), (512, 16)))
    body = [cells(line) for line in lines if line.startswith("| 256 ") or line.startswith("| 512 ")]
    placed, unplaced, failed = body
    # 400 cycles at 80 MHz: 5 us per step; 400,000 dense operations in 5 us: 80 GOp/s
    assert placed[9:15] == ["80.0", "5.00", "80.0", "30,000", "90", "100"]
    assert placed[8] == "1000"  # dense ops per cycle: 400,000 / 400
    assert unplaced[8] == f"{400_000 / 700:.0f}" and unplaced[9:] == [""] * 6
    assert failed[9].startswith("not placed: synth: router2 failed / overuse")
    assert "256:16, 512:16" in "\n".join(lines)


def test_the_section_replaces_its_own_and_leaves_the_rest_of_the_page():
    section = [bench_scale.HEADING, "", "new table", ""]
    page = "# Benchmarks\n\n## A\n\na\n\n" + bench_scale.HEADING + "\n\nold table\n\n## B\n\nb\n"
    out = bench_scale.put_section(page, section)
    assert "old table" not in out and "new table" in out
    assert out.index("## A") < out.index("new table") < out.index("## B") and out.endswith("b\n")
    assert bench_scale.put_section(out, section) == out  # (again: the same page)
    assert bench_scale.put_section("# Benchmarks\n", section).endswith("new table\n\n")
