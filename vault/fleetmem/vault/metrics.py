"""Prometheus metrics of the vault watcher, in their own registry (no namespace or agent
label: the gauge says only whether the one vault of the process is syncing)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

SYNCING = Gauge("fleetmem_vault_syncing", "1 while the vault watcher syncs normally; 0 while "
                "it is starting, degraded (its last sync failed) or restarting after an "
                "error", registry=REGISTRY)
