"""Dependency direction: domain <- ports <- services <- {stores, doors}; only bootstrap
chooses stores; the domain imports no driver or framework."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ("neo4j", "qdrant_edge", "qdrant_client", "sqlite3", "fastapi", "mcp", "typer",
           "sentence_transformers", "torch", "watchfiles", "apscheduler", "httpx")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_domain_imports_no_driver_and_nothing_above_it() -> None:
    for f in _files("memory/fleetmem/memory/domain"):
        for mod in _imports(f):
            assert not mod.startswith(DRIVERS), f"{f} imports {mod}"
            assert not mod.startswith(("fleetmem.memory.services", "fleetmem.memory.stores",
                                       "fleetmem.api", "fleetmem.mcp_server")), f"{f}: {mod}"


def test_services_never_import_stores_or_doors() -> None:
    for f in _files("memory/fleetmem/memory/services"):
        for mod in _imports(f):
            assert not mod.startswith(("fleetmem.memory.stores", "fleetmem.memory.bootstrap",
                                       "fleetmem.api", "fleetmem.mcp_server", "fleetmem.vault",
                                       "fleetmem.gc", "fleetmem.cli")), f"{f} imports {mod}"
            assert not mod.startswith(("neo4j", "qdrant", "sqlite3", "fastapi", "mcp")), \
                f"{f} imports {mod}"


def test_only_bootstrap_imports_stores() -> None:
    allowed = {ROOT / "memory" / "fleetmem" / "memory" / "bootstrap.py"}
    for folder in ("memory", "api", "mcp_server", "vault", "gc", "cli"):
        for f in _files(folder):
            if f in allowed or (ROOT / "memory" / "fleetmem" / "memory" / "stores") in f.parents:
                continue
            for mod in _imports(f):
                assert not mod.startswith("fleetmem.memory.stores"), f"{f} imports {mod}"


def test_nothing_prints() -> None:
    for folder in ("memory", "api", "mcp_server", "vault", "gc"):
        for f in _files(folder):
            tree = ast.parse(f.read_text())
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id == "print"]
            assert not calls, f"{f} calls print (stdout is the MCP stdio wire)"
