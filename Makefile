# The two commands of the README: `make demo` (the main job) and `make test` (every test).
# Both install what they need and can be run again at any time. `make faults`: the fault
# suite at full size (tests/faults/scale.py); `make test` runs it reduced.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup demo simulate test unit lint faults fuzz services-up services-down bench-core bench-stream clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@mkdir -p var
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (log: var/pip.log)"
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[dev]'; } > var/pip.log 2>&1 \
	  || { tail -30 var/pip.log; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

services-up:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

simulate: setup
	@mkdir -p var
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

faults: setup services-up
	@RATER_FAULTS_SCALE=full $(BIN)/pytest -q -s tests/faults

# the longer fuzz run of the decoders (docs/fuzzing.md); `make test` runs a bounded one
FUZZ_SECONDS ?= 120
fuzz: setup
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench-core: setup
	@$(BIN)/rater bench core

bench-stream: setup services-up
	@$(BIN)/rater bench stream

clean:
	@scripts/services.sh down || true
	@rm -rf var
