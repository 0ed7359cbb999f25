# Edgeward: `make demo` runs the product, `make test` runs every test,
# `make test-unit` the in-process ones in well under a minute (tests/README.md).
# Both create or refresh .venv from pyproject.toml; nothing else is needed
# but python3 (system packages the tests use are installed or named).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test test-unit test-e2e check lint typecheck bench fuzz system-deps docs clean

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
	$(BIN)/ruff check proxy demo_backend tests bench fuzz
	$(BIN)/ruff format --check proxy demo_backend tests bench fuzz

typecheck: venv
	$(BIN)/mypy

# An empty PYTHONDONTWRITEBYTECODE lets Python cache bytecode (and pytest its
# assertion rewrites) in __pycache__: with it set, every run recompiles every test
# module, about 8 s of the unit run here.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q -p no:cacheprovider

test: venv system-deps check
	$(PYTEST)

test-unit: venv
	$(PYTEST) tests/unit

test-e2e: venv system-deps
	$(PYTEST) tests/e2e

# docs/configuration.md is generated from the config model's field descriptions;
# tests/test_docs.py fails when the committed page differs.
docs: venv
	$(BIN)/python -m proxy.config.reference docs/configuration.md

bench: venv system-deps
	$(BIN)/python bench/run.py

# Coverage-guided fuzzing (atheris), FUZZ_SECONDS per target, one after another;
# `timeout` bounds each run even if libFuzzer's own limit did not. Findings land in
# .fuzz/TARGET/ (see fuzz/README.md). FUZZ_TARGETS picks a subset.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= paths headers upstream jws verify config
fuzz: venv
	@status=0; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s), log in .fuzz/$$t/last-run.log"; mkdir -p .fuzz/$$t; \
	  timeout -k 10 $$(( $(FUZZ_SECONDS) + 60 )) $(BIN)/python -m fuzz $$t \
	    --seconds $(FUZZ_SECONDS) < /dev/null > .fuzz/$$t/last-run.log 2>&1 || status=1; \
	  grep -E "(INITED|DONE) +cov:|^stat::(number_of_executed|average_exec)|Error|crash-|timeout-" \
	    .fuzz/$$t/last-run.log | head -20; \
	done; exit $$status

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .fuzz
