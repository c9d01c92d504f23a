# Everyday commands. `make help` lists them.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test test-unit test-integration demo up down lint format bench-accuracy

help: ## list the commands
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/flts: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/flts ## create .venv with every service's dependencies and the dev tools

test: install ## run every test (unit, integration on real tansu/moto/MLflow/Postgres, e2e)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install ## only the fast unit tests
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install ## only the integration tests
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

demo: install ## the whole pipeline on a synthetic sample, as local processes, then shut down
	$(BIN)/flts demo

up: install ## start the local stack in the foreground (Ctrl-C stops it)
	$(BIN)/flts up

down: ## stop a local stack started with `flts up -d`
	$(BIN)/flts down

lint: install ## ruff and mypy on the shared library
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install ## ruff format
	$(BIN)/ruff format .
