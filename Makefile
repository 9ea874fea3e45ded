# The two commands of the README: `make demo` (the main job) and `make test` (every test).
# Both install what they need and can be run again at any time.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup demo simulate test unit lint services-up services-down bench-core bench-stream clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

services-up:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

simulate: setup
	@$(BIN)/rater simulate --catalog examples/catalog-basic.yaml \
	  --subscribers examples/subscribers-basic.yaml --usage examples/usage-basic.jsonl \
	  --until 2026-05-01T00:00:00+08:00 --out var/simulate-events.jsonl
	@echo "events: var/simulate-events.jsonl"

demo: setup services-up
	@scripts/demo.sh

lint: setup
	@$(BIN)/ruff check rater tests
	@$(BIN)/ruff format --check rater tests
	@$(BIN)/mypy

unit: setup
	@$(BIN)/pytest tests/unit -q

test: setup lint services-up
	@$(BIN)/pytest -q

bench-core: setup
	@$(BIN)/rater bench core

bench-stream: setup services-up
	@$(BIN)/rater bench stream

clean:
	@scripts/services.sh down || true
	@rm -rf var
