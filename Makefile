# The README's two commands: `make serve` (set up, then run on embedded defaults) and
# `make test` (set up, then run every test, including the real Neo4j ones).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fleetmem-installed

.PHONY: setup serve test lint typecheck bench reliability clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup
	./scripts/setup

serve: setup
	$(VENV)/bin/fleetmem serve

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	VENV=$(VENV) ./scripts/typecheck

test: setup lint typecheck
	$(PY) -m pytest -p no:cacheprovider

bench: setup
	$(PY) -m bench all

reliability: setup
	FLEETMEM_CRASH_CYCLES=50 $(PY) -m pytest -p no:cacheprovider -m slow tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
