# Live Scoreboard: `make help` lists the targets (from their `## ` comments).

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
FLASK  := $(BIN)/flask --app wsgi:app
# The install reruns only when the pins change (the stamps are older than these files).
PINS   := pyproject.toml constraints.txt

export PORT

.PHONY: help run test lint fmt bench clean vendor

help: ## Show this help
	@echo "Usage: make <target>"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON) is older); try: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies, from the lock.
$(VENV)/.installed: $(PINS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	@touch $@

# Runtime and development dependencies (the dev extra includes the tracing one), from the lock
# (this covers the runtime stamp too).
$(VENV)/.installed-dev: $(PINS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(VENV)/.installed $@

run: $(VENV)/.installed ## Run the app on SQLite (instance/) with demo data, one gevent worker, on 127.0.0.1:$PORT (default 8000)
	$(FLASK) db upgrade
	$(FLASK) demo seed
	@echo
	@echo "Live Scoreboard is running at http://127.0.0.1:$(PORT)"
	@echo
	HOST=127.0.0.1 WEB_CONCURRENCY=1 exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(VENV)/.installed-dev ## Run the whole test suite (pytest -n 2)
	$(BIN)/pytest -n 2

lint: $(VENV)/.installed-dev ## Check code, formatting and types (ruff check, ruff format --check, mypy app)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app

fmt: $(VENV)/.installed-dev ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

vendor: ## Copy the pinned front-end libraries (assets/package-lock.json) into static/vendor/
	npm ci --prefix assets --no-audit --no-fund
	cp assets/node_modules/uplot/dist/uPlot.iife.min.js static/vendor/uplot-1.6.32.min.js
	cp assets/node_modules/uplot/dist/uPlot.min.css static/vendor/uplot-1.6.32.min.css
	cp assets/node_modules/uplot/LICENSE static/vendor/uplot-LICENSE

bench: $(VENV)/.installed-dev ## Run the benchmarks (needs PostgreSQL and Redis) and print the figures
	$(BIN)/python bench/run.py

clean: ## Remove the virtualenv, caches and build leftovers (instance/, the local database, stays)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis test-artifacts bench/out build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
