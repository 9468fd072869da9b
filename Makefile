# The README's quick start: `make run`, `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEV := AUTHSERVER_MODE=development
# The in-process tests run in this many processes (pytest-xdist), one per core here. Then
# the fuzz run and the end-to-end tests (tests/e2e, whose servers run workers of their
# own) in as many, a module to a process; last, alone, the end-to-end tests marked
# `alone`, which measure time or load (drills, races, rotation schedules).
TEST_PROCESSES ?= 2

.PHONY: run test lint bench drills fleet clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "authserver needs Python 3.11 or newer: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(DEV) $(BIN)/authserver db upgrade
	@$(DEV) $(BIN)/authserver demo
	$(DEV) $(BIN)/authserver serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_PROCESSES) --ignore=tests/e2e --ignore=tests/fuzz
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile -m "not alone" tests/fuzz tests/e2e
	$(BIN)/pytest -m alone tests/e2e

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.installed-dev
	bash bench/run.sh

# The fault drills (bench/README.md, "Fault drills"): crash, database outage, key
# compromise, read-only key directory; each prints its figures, exit 1 on a violation.
drills: $(VENV)/.installed-dev
	$(BIN)/python bench/drills/run.py

# Two replicas behind nginx with TLS, on this machine's PostgreSQL and Redis, until Ctrl-C
# (docs/deployment.md).
fleet: $(VENV)/.installed
	$(BIN)/python deploy/fleet.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache examples/express/node_modules
