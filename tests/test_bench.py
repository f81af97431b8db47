"""make bench's page keeps the figures of the long fuzz and soak runs, which it does not repeat."""

import os

from gen.bench import RELIABILITY, reliability_figures

BENCHMARKS = os.path.join(os.path.dirname(RELIABILITY), "benchmarks.md")


def test_the_fuzz_and_soak_figures_are_carried_into_the_benchmarks_page():
    lines = reliability_figures()
    headings = [line for line in lines if line.startswith("### ")]
    assert headings == ["### The fuzz (tests/host_fuzz.py)", "### The soak (tests/host_soak.py)"]
    with open(RELIABILITY) as f:
        source = f.read()
    rows = [line for line in lines if line.startswith("| ")]
    assert rows and all(row in source for row in rows)
    assert any(row.startswith("| mismatches / hangs | 0 / 0") for row in rows)
    with open(BENCHMARKS) as f:
        assert "\n".join(lines) in f.read()  # the page as committed has them too
