# levguard: `make demo` and `make test` set everything up on first use (Python >= 3.11 with venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := $(VENV)/.installed-base
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick lint typecheck layers pytest warmup evm bench clean

# `make demo` installs the package alone; `make test` adds the dev extras (test, lint, browser).
# uv installs what pip would (the same requirements from PyPI, the same versions) in about half
# the time: 30 s against 55 s for the dev extras on a clean machine. Like pip it writes the
# packages' bytecode at install (--compile-bytecode; without it, where PYTHONDONTWRITEBYTECODE is
# set, every process would compile pandas, SciPy and the rest from source: 3.7 s against 1.3 s to
# import three of them). Where uv cannot be installed, pip does the work as before.
INSTALL = if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python $(1); \
	else $(BIN)/python -m pip install --quiet $(1); fi

$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv || $(BIN)/python -m pip install --quiet --upgrade pip
	$(call INSTALL,-e .)
	touch $(BASE)

$(STAMP): $(BASE)
	$(call INSTALL,-e '.[dev]')
	touch $(STAMP)

# Compile every numba kernel once (cached on disk) so no later command pays JIT time.
warmup: $(BASE)
	$(BIN)/levguard warmup

# The demo warms what the first hour uses (backtests, forecasts, sizing, risk, margin arrays);
# `levguard warmup` with no option (make test runs it) also compiles the sweep, cascade and search.
demo: $(BASE)
	$(BIN)/levguard warmup --only backtest --only forecast --only sizing --only risk --only margin+data
	$(BIN)/levguard demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# The DeFi differential tests run Aave v3 and Morpho Blue's own contracts (npm packages, Morpho
# compiled by the npm solc) in an in-process EVM; without node/npm they skip (tests/evm/README.md).
EVM_NODE := tests/evm/node_modules/.installed
$(EVM_NODE): tests/evm/package.json tests/evm/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/evm --no-audit --no-fund --loglevel=error && touch $(EVM_NODE); \
	else echo "npm not found: the EVM differential tests will skip"; fi

# build.py needs node and Python's standard library only, so it does not wait for the install:
# `make test` runs it beside the install, whose ~30 s use about 1.5 of 2 cores.
evm: $(EVM_NODE)
	@if [ -f $(EVM_NODE) ]; then $(PYTHON) tests/evm/build.py; fi

# One pytest worker more than the cores: several suites spend their time waiting (the chaos
# harness sleeps between kills, the browser and service tests wait on sockets), and the extra
# worker runs CPU-bound files meanwhile. On 2 cores: 396.7 s against 419.9 s with one per core.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
# pytest rewrites the assertions of its plugins' modules (hypothesis, schemathesis, anyio, xdist:
# about 260) when it starts, before tests/conftest.py can let it cache them: where
# PYTHONDONTWRITEBYTECODE is set, as on the CI machines, every pytest process (the controller and
# each worker) rewrote them all again. Unset for the test run, they are cached once:
# bench/bench_pytest_start.py, 2.4 s against 1.1 s of CPU per pytest start.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder

pytest: $(STAMP) warmup evm
	$(PYTEST)

# Every set-up job starts as soon as what it needs is there: the npm packages' download and the
# contract build (solc, one core) beside the install, the kernel warmup (two processes) once the
# package is installed, the checks (mypy on one core) once the dev extras are; each job's output
# printed whole when it ends; pytest runs last on both cores. bench/bench_setup.py compares it with
# the former two stages (install and npm, then the checks, warmup and contract build) on fresh
# clones: 5 to 20 s less on 2 cores (docs/benchmarks.md).
test:
	@t0=$$(date +%s); \
	$(MAKE) --no-print-directory -j4 --output-sync=target lint typecheck layers warmup evm && \
	echo "make test: install, checks, warmup and contract build took $$(( $$(date +%s) - t0 )) s; pytest next"
	$(PYTEST)

# A fast loop while developing: every test but the slow suites (end to end, chaos, in-EVM,
# chromium; tests/suites.py). `make test` (and CI) runs them all.
test-quick: $(STAMP) warmup
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n auto --dist loadfile --no-loadscope-reorder -m "not slow and not network"

bench: $(STAMP)
	$(BIN)/python bench/bench_margin.py
	$(BIN)/python bench/bench_synth.py
	$(BIN)/python bench/bench_liquidation.py
	$(BIN)/python bench/bench_policy_eval.py
	$(BIN)/python bench/bench_backtest.py
	$(BIN)/python bench/bench_cascade.py
	$(BIN)/python bench/bench_cascade_v2.py
	$(BIN)/python bench/bench_defi.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis
