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
	$(BIN)/pytest -q -rs

check: lint test

simulate: setup
	$(BIN)/orchestrate simulate campaigns/example.yaml

# Every benchmark at quick sizes and one table of figures against their ceilings (docs/benchmarks.md).
bench: setup
	$(PY) bench/table.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
