# One place for the project's commands. `make check` sets up and runs every check; `make simulate`
# sets up and runs the example campaign on the embedded defaults (no Tencent account, no Redis server).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup check test lint simulate bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

lint: setup
	$(BIN)/ruff format --check orchestrator workers tests bench
	$(BIN)/ruff check orchestrator workers tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup
	$(BIN)/pytest -q

check: lint test

simulate: setup
	$(BIN)/orchestrate simulate campaigns/example.yaml

# Quick runs of the benchmarks (full sizes and options: docs/benchmarks.md).
bench: setup
	$(PY) bench/bench_sdk.py --calls 1000 --concurrency 1,10
	$(PY) bench/bench_submit.py --recipients 200000
	$(PY) bench/bench_pipeline.py
	$(PY) bench/bench_simulate.py --sample 0.005

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
