"""Dependency direction: domain <- ports <- services <- {stores, doors}; only bootstrap
chooses stores; the domain and the ports import no driver or framework; each port is
narrow."""

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
            assert not mod.startswith(("fleetmem.memory.ports", "fleetmem.memory.services",
                                       "fleetmem.memory.stores", "fleetmem.api",
                                       "fleetmem.mcp_server")), f"{f}: {mod}"


def test_ports_import_only_the_domain() -> None:
    for f in _files("memory/fleetmem/memory/ports"):
        for mod in _imports(f):
            assert not mod.startswith((*DRIVERS, "qdrant")), f"{f} imports {mod}"
            if mod.startswith("fleetmem"):
                # nothing from services, stores, settings, bootstrap or any door
                assert mod.startswith(("fleetmem.memory.domain", "fleetmem.memory.ports")), \
                    f"{f} imports {mod}"


NARROW_PORT_METHODS = 20
"""At most this many methods per narrow port: what one aggregate's use cases need."""
LIFECYCLE = {"open", "close", "ping"}


def _port_methods() -> dict[str, set[str]]:
    """Methods declared in the body of each class under ports/, by class name."""
    found: dict[str, set[str]] = {}
    for f in _files("memory/fleetmem/memory/ports"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ClassDef):
                found[node.name] = {n.name for n in node.body if isinstance(
                    n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return found


def test_ports_are_narrow_and_graph_store_only_composes_them() -> None:
    from fleetmem.memory import ports

    methods = _port_methods()
    graph_ports = [b.__name__ for b in ports.GraphStore.__bases__
                   if b.__name__ != "Protocol"]
    assert set(graph_ports) == {"MemoryStore", "EntityGraph", "BufferStore", "AuditStore",
                                "UpkeepStore"}
    assert methods["GraphStore"] == LIFECYCLE, "GraphStore adds only its lifecycle"
    for name, declared in methods.items():
        if name != "GraphStore" and declared:
            assert len(declared) <= NARROW_PORT_METHODS, f"{name}: {len(declared)} methods"
    seen: dict[str, str] = {}
    for name in graph_ports:
        for method in methods[name]:
            assert method not in seen, f"{method} is in {seen.get(method)} and {name}"
            seen[method] = name
    assert not LIFECYCLE & set(seen), "lifecycle belongs to GraphStore alone"


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
