"""fleetmem benchmarks: the physical ceiling, fleetmem itself, its peers, retrieval quality."""
