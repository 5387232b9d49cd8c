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

# The full reliability tier (about 40 min): 50 kill -9 cycles on each backend, 8 agent
# processes for 120 s, a 10-minute soak (prints the Reliability section of RESULTS.md),
# then the security suite's full profile (150 isolation examples, ~15 min).
reliability: setup
	$(PY) -m bench.reliability --cycles 50 --concurrency-seconds 120 --soak-seconds 600
	FLEETMEM_HYPOTHESIS_PROFILE=full $(PY) -m pytest -p no:cacheprovider tests/security

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
