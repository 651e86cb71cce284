# Two commands matter: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/global-baseline.yaml
OUT ?= results/global-baseline

.PHONY: run test bench setup clean lint browser

$(STAMP): pyproject.toml
	@echo "setup (first use, about a minute): a virtual environment in $(VENV)/ ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: upgrading pip ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "setup: installing access-sim (editable) with numpy, scipy, pandas, pyarrow, simpy,"
	@echo "       networkx, matplotlib, plotly, pydantic, pyyaml, tqdm and the test and lint"
	@echo "       tools (pytest, hypothesis, dask, ruff, mypy, import-linter, nbclient, playwright) ..."
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)
	@echo "setup: done"

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/access-sim run $(SCENARIO) --out $(OUT) --overwrite

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist worksteal -q

# Debian's Chromium for the HTML report's browser test (tests/test_report_html.py), which
# skips without it. Never fails the build: it says why when it installs nothing.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "browser: $(CHROMIUM) is there"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: skipped: no $(CHROMIUM), and installing Debian's chromium needs apt-get"; \
		echo "         as root; the browser test will skip (install chromium to run it)"; \
	else \
		echo "browser: installing Debian's chromium (apt-get, a minute or two) ..."; \
		log=$$(mktemp); \
		if { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
				>"$$log" 2>&1 && [ -x "$(CHROMIUM)" ]; then echo "browser: installed $(CHROMIUM)"; \
		else echo "browser: no $(CHROMIUM) after apt-get install chromium; the browser test will skip:"; \
			tail -n 5 "$$log"; fi; \
		rm -f "$$log"; \
	fi

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
