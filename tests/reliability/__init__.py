"""Reliability suite: crash (kill -9) cycles, concurrent agent processes and the soak,
each against a real `fleetmem serve`; quick sizes here, full sizes in bench/reliability.py."""
