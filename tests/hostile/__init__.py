"""Hostile-fleet tier (issue 21): every reproduced abuse at once against `fleetmem serve`;
quick sizes here, full sizes in bench/reliability.py."""
