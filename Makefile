# scalebox developer commands; `make help` lists them. CI runs `make test` (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.NOTPARALLEL:  # prerequisites run left to right: cheap checks first, stop at the first failure

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
LINT_PATHS := src tests bench scripts
PYTEST_ARGS ?=

# Installs leave a stamp named by a checksum of what decides them, so a repeated run installs
# nothing, and an edit to pyproject.toml or constraints.txt (the lock) installs again.
LOCK_SUM := $(firstword $(shell cat pyproject.toml constraints.txt | cksum))
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(LOCK_SUM)
DEV_STAMP := $(VENV)/.installed-dev-$(LOCK_SUM)
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python -c constraints.txt

.PHONY: help up install dev system-deps lint fmt pytest check test clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

up: install  ## install scalebox and start every system (Ctrl-C stops them)
	$(BIN)/scalebox up

install: $(RUNTIME_STAMP)  ## create .venv and install scalebox from the lock

dev: $(DEV_STAMP)  ## install scalebox with the dev extra (tests, linters)

system-deps:  ## apt-get install what the tests run against, if missing (PostgreSQL, Redis, Chromium, libmagic)
	bash scripts/bootstrap.sh

lint: dev  ## ruff format --check, ruff check, mypy, lint-imports
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/mypy scripts
	$(BIN)/lint-imports

fmt: dev  ## format and autofix with ruff
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

pytest: dev  ## pytest on 2 workers against a throwaway PostgreSQL and Redis (PYTEST_ARGS=... to add)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/services.py run -- \
		pytest -n 2 --dist loadgroup --durations=15 --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

check: lint pytest  ## lint, then the tests (no apt-get)

test: system-deps check  ## what CI runs: system packages, then lint and the tests

clean:  ## remove caches and build output (keeps .venv)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage .coverage.* htmlcov build dist
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean  ## also remove .venv
	rm -rf $(VENV)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); bash scripts/bootstrap.sh venv; $(PYTHON) -m venv $(VENV); }

$(UV_STAMP): | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q uv==$(UV_VERSION)
	rm -f $(VENV)/.uv-*
	touch $@

$(RUNTIME_STAMP): | $(UV_STAMP)
	$(UV_INSTALL) -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The dev extra is a superset, so it satisfies `install` too.
$(DEV_STAMP): | $(UV_STAMP)
	$(UV_INSTALL) -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@ $(RUNTIME_STAMP)
