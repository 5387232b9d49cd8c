"""`python -m fleetmem.cli ...`: the `fleetmem` command without its console script (e.g.
to run a source tree's code, as the replica tests do)."""

from fleetmem.cli.main import main

if __name__ == "__main__":
    main()
