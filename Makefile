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

# The full reliability tier (about 65 min): the security suite's full profile (150
# isolation examples, ~15 min), then 50 kill -9 cycles on each backend, 8 agent processes
# for 120 s, writes racing a reconcile loop for 120 s, a 10-minute soak and the hostile
# fleet (120 s attack, docs/reliability.md); writes bench/RELIABILITY.md (its section of
# RESULTS.md).
reliability: setup
	FLEETMEM_HYPOTHESIS_PROFILE=full FLEETMEM_SECURITY_SUMMARY=bench/.work/security-full.txt \
		$(PY) -m pytest -p no:cacheprovider tests/security
	$(PY) -m bench.reliability --cycles 50 --concurrency-seconds 120 --reconcile-seconds 120 \
		--soak-seconds 600 --hostile-seconds 120 \
		--security-summary bench/.work/security-full.txt --write bench/RELIABILITY.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
