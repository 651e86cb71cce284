# Two commands matter: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/global-baseline.yaml
OUT ?= results/global-baseline

.PHONY: run test bench setup clean lint

$(STAMP): pyproject.toml
	@echo "setup (first use, about a minute): a virtual environment in $(VENV)/ ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: upgrading pip ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "setup: installing access-sim (editable) with numpy, scipy, pandas, pyarrow, simpy,"
	@echo "       networkx, matplotlib, pydantic, pyyaml, tqdm and the test and lint tools"
	@echo "       (pytest, hypothesis, dask, ruff, mypy, import-linter, nbclient) ..."
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)
	@echo "setup: done"

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/access-sim run $(SCENARIO) --out $(OUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

# Benchmarks (issue 7; benchmarks/README.md): JSON lines on stdout, about 30 minutes.
# `make bench BENCH_ARGS=--quick` is a smoke run of about 3 minutes.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/memory.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/parallel.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/make_run.py $(BENCH_ARGS)

# The layers contract (docs/architecture.md), types and style; CI runs it before the tests.
lint: $(STAMP)
	$(BIN)/python -m ruff check --select E,F,W sim tests
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m mypy sim

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
