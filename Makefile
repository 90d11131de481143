# GCX — every target installs what it needs into .venv first (Python 3.11).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
GCX    := $(VENV)/bin/gcx
STAMP  := $(VENV)/.installed
# The demo keeps its state (key, reports) here, not in your ~/.gcx.
DEMO_HOME ?= $(CURDIR)/.demo

.PHONY: install demo test check bench bench-gpu clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# One provider's signed capacity card, then a whole local network: a coordinator and 3 node
# agents as separate processes on loopback, the registry's providers table, teardown.
demo: $(STAMP)
	@GCX_HOME=$(DEMO_HOME) $(GCX) keys new --exist-ok
	@GCX_HOME=$(DEMO_HOME) $(GCX) node bench --quick --out $(DEMO_HOME)/report.json
	@GCX_HOME=$(DEMO_HOME) $(GCX) node verify-report $(DEMO_HOME)/report.json
	@GCX_HOME=$(DEMO_HOME) $(GCX) devnet up --nodes 3 --once

test: $(STAMP)
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/bench_node.py
	$(PY) -m coordinator.bench_ingest
	$(PY) -m coordinator.bench_adverts --no-gossip
	$(PY) -m coordinator.bench_adverts

# On a GPU machine: our CuPy GEMMs against torch.matmul, bandwidth against nominal peak.
bench-gpu: $(STAMP)
	$(PY) bench/gpu_vs_torch.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
