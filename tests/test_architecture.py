"""Dependency direction: domain <- ports <- services <- {stores, doors}; only bootstrap
chooses stores; the domain and the ports import no driver or framework; each port is
narrow; doors see only the public surface; no import circle; no file past the hard size
limit."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOTS = ("memory", "api", "mcp_server", "vault", "gc", "cli")
DOORS = ("api", "mcp_server", "vault", "gc", "cli")
DOOR_PACKAGES = tuple(f"fleetmem.{door}" for door in DOORS)
# What a door may import of the core: the services' public surface (the package itself,
# not its submodules), the error tree, the settings, the one place that builds adapters,
# and the process's logging set-up (format, handler, the service call's ids on each line).
PUBLIC_CORE = frozenset({"fleetmem.memory.services", "fleetmem.memory.errors",
                         "fleetmem.memory.settings", "fleetmem.memory.bootstrap",
                         "fleetmem.memory.logs"})
MAX_LINES = 400
# Not part of the size rule: the Maven launcher project, benchmark scratch space, tools.
NOT_SOURCE = (".venv", ".git", "tests/neo4j_launcher", "bench/.work")
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


def _module_name(path: Path) -> str:
    """`api/fleetmem/api/routes/graph.py` -> `fleetmem.api.routes.graph` (roots dropped)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts[1:])
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(f): f for root in ROOTS
                            for f in sorted((ROOT / root / "fleetmem").rglob("*.py"))}


def _resolved(node: ast.Import | ast.ImportFrom, path: Path) -> set[str]:
    """The modules an import statement names: `from a import b` is `a.b` when b is a
    module of ours, else `a`; relative imports are made absolute."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        package = _module_name(path).split(".")
        if path.name != "__init__.py":
            package.pop()
        package = package[:len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}


def _all_imports(path: Path) -> set[str]:
    """Every module a file imports, wherever the import statement sits."""
    return {mod for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom) for mod in _resolved(node, path)}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _load_time_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: not those in function
    bodies, nor under `if TYPE_CHECKING:` (its `else` branch does run)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _load_time_imports(ast.Module(body=child.orelse, type_ignores=[]))
        elif isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        else:
            yield from _load_time_imports(child)


def _import_graph() -> dict[str, set[str]]:
    """fleetmem module -> the fleetmem modules it imports at load time."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {mod for node in _load_time_imports(ast.parse(path.read_text()))
                   for mod in _resolved(node, path)}
        graph[name] = {t for t in targets if t in MODULES and t != name}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (first module repeated at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _is_door(module: str) -> bool:
    return any(module == d or module.startswith(f"{d}.") for d in DOOR_PACKAGES)


def test_doors_import_only_the_public_surface_of_the_core() -> None:
    """Counts every import, also those inside functions (they couple just as much)."""
    found: set[tuple[str, str]] = set()
    for door in DOORS:
        for f in _files(door):
            rel = f.relative_to(ROOT).as_posix()
            for mod in _all_imports(f):
                if (mod == "fleetmem.memory" or mod.startswith("fleetmem.memory.")) \
                        and mod not in PUBLIC_CORE:
                    found.add((rel, mod))
    assert not found, f"doors import past fleetmem.memory's public surface: {sorted(found)}"


def test_core_never_imports_a_door() -> None:
    """Counts every import, also those inside functions."""
    for f in _files("memory"):
        doors = sorted(mod for mod in _all_imports(f) if _is_door(mod))
        assert not doors, f"{f.relative_to(ROOT)} imports {doors}"


def test_no_import_circle() -> None:
    """Among the fleetmem modules, counting the imports that run at load time: imports
    inside functions and under `if TYPE_CHECKING:` are left out (they cannot deadlock an
    import), and an import names its module, not the parent packages Python also loads."""
    graph = _import_graph()
    assert len(graph) > 100 and graph["fleetmem.api.app"], "the graph was not built"
    cycle = _find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_python_file_over_the_size_limit() -> None:
    """Source, tests and benchmarks alike (CONVENTIONS: aim for 300 lines, split before 400)."""
    over: set[str] = set()
    for folder, subfolders, names in os.walk(ROOT):
        here = Path(folder)
        # Pruned, not filtered: a checkout's .venv holds thousands of files (so does any
        # other virtualenv kept in the checkout, e.g. a second one without torch).
        subfolders[:] = [d for d in subfolders if d not in ("node_modules", "__pycache__")
                         and (here / d).relative_to(ROOT).as_posix() not in NOT_SOURCE
                         and not (here / d / "pyvenv.cfg").exists()]
        for name in names:
            if name.endswith(".py") and \
                    len((here / name).read_text().splitlines()) > MAX_LINES:
                over.add((here / name).relative_to(ROOT).as_posix())
    assert not over, f"over {MAX_LINES} lines: {sorted(over)}"
