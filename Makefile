# GCX — every target installs what it needs into .venv first (Python 3.11).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
GCX    := $(VENV)/bin/gcx
STAMP  := $(VENV)/.installed
# The demo keeps its state (key, reports) here, not in your ~/.gcx.
DEMO_HOME ?= $(CURDIR)/.demo

CONTRACTS_STAMP := contracts/node_modules/.installed
FORGE := cd contracts && ./node_modules/.bin/forge

.PHONY: install native demo test check bench bench-gpu clean contracts contracts-test gas-snapshot dist

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The matching engine compiled by Cython from core/engine.py + engine.pxd (coordinator.exchange.native);
# rebuilt whenever either changes. Without it the same engine runs as plain Python, slower.
NATIVE_DIR  := src/coordinator/exchange/core
NATIVE_INFO := $(NATIVE_DIR)/engine.build.json
$(NATIVE_INFO): $(STAMP) $(NATIVE_DIR)/engine.py $(NATIVE_DIR)/engine.pxd
	$(PY) -m coordinator.exchange.native build

native: $(NATIVE_INFO)

install: $(STAMP) $(NATIVE_INFO)

# The release: dist/gcx-<version>-cp311-cp311-<platform>.whl (with the contracts' ABIs and
# bytecode and the compiled matching engine inside) and dist/gcx-<version>.tar.gz. Install the
# wheel into any Python 3.11 virtualenv (docs/operations.md); nothing at run time needs this
# checkout, npm or a compiler.
dist: $(STAMP) contracts
	$(PY) scripts/dist.py --out dist

# Solidity toolchain from npm (solc-js, forge, anvil, OpenZeppelin, forge-std): offline after this.
$(CONTRACTS_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	touch $(CONTRACTS_STAMP)

contracts: $(CONTRACTS_STAMP)
	$(FORGE) build

contracts-test: contracts
	$(FORGE) test

gas-snapshot: contracts
	$(FORGE) snapshot

# One provider's signed capacity card, then a whole local network: a coordinator and 3 node
# agents as separate processes on loopback, the registry's providers table, teardown; then a
# quantized digits classifier written as a GCX-TP job and run here (accuracy, result root, CH);
# and jobs end to end on a fresh devnet with a verifier and a faulty node (gcx devnet scenario jobs).
demo: $(STAMP) $(NATIVE_INFO) contracts
	@GCX_HOME=$(DEMO_HOME) $(GCX) keys new --exist-ok
	@GCX_HOME=$(DEMO_HOME) $(GCX) node bench --quick --out $(DEMO_HOME)/report.json
	@GCX_HOME=$(DEMO_HOME) $(GCX) node verify-report $(DEMO_HOME)/report.json
	@GCX_HOME=$(DEMO_HOME) $(GCX) devnet up --nodes 3 --once --fresh
	@GCX_HOME=$(DEMO_HOME) $(GCX) devnet scenario jobs
	@GCX_HOME=$(DEMO_HOME) $(GCX) devnet scenario cheater
	@GCX_HOME=$(DEMO_HOME) $(GCX) job example digits --out $(DEMO_HOME)/digits.gcxjob
	@GCX_HOME=$(DEMO_HOME) $(GCX) job run $(DEMO_HOME)/digits.gcxjob

test: $(STAMP) $(NATIVE_INFO) contracts-test
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts hatch_build.py
	$(VENV)/bin/ruff format --check src tests bench scripts hatch_build.py
	$(VENV)/bin/mypy

bench: $(STAMP) $(NATIVE_INFO)
	$(PY) bench/bench_node.py
	$(PY) -m bench.ingest
	$(PY) -m bench.adverts --no-gossip
	$(PY) -m bench.adverts
	$(PY) -m bench.gen_workload --ops 1000000 --seed 1 --out $(VENV)/workload.csv
	$(PY) -m bench.matching --workload $(VENV)/workload.csv --json
	$(PY) -m bench.journal --ops 300000 --json
	$(PY) -m bench.api --orders 20000 --json
	$(PY) -m bench.api --orders 20000 --connections 2 --window 32 --batch 16 --json
	$(PY) -m bench.tp --json
	$(PY) -m bench.data --json
	$(PY) -m bench.audit --json
	$(PY) -m bench.jobs --json

# On a GPU machine: our CuPy GEMMs against torch.matmul, bandwidth against nominal peak;
# GCX-TP's CuPy executor, commitment overhead and proofs.
bench-gpu: $(STAMP)
	$(PY) bench/gpu_vs_torch.py
	$(PY) -m bench.tp --json --backend cupy

clean:
	rm -f $(NATIVE_DIR)/engine.*.so $(NATIVE_INFO)
	rm -rf $(VENV) $(DEMO_HOME) build dist .pytest_cache .mypy_cache .ruff_cache contracts/node_modules contracts/out contracts/cache
