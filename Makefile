# Edgeward: `make demo` runs the product, `make test` runs every test.
# Both create or refresh .venv from pyproject.toml; nothing else is needed
# but python3 (system packages the tests use are installed or named).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test check lint typecheck bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/edgeward demo

system-deps:
	@scripts/system-deps.sh

check: lint typecheck

lint: venv
	$(BIN)/ruff check proxy demo_backend tests bench
	$(BIN)/ruff format --check proxy demo_backend tests bench

typecheck: venv
	$(BIN)/mypy

test: venv system-deps check
	$(BIN)/pytest -q -p no:cacheprovider

bench: venv system-deps
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
