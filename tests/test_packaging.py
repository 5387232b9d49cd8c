"""The built wheel holds every module of the six import roots, and `pip install -e` makes
them importable: a new subfolder can never go missing from the package or the image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOTS = ("memory", "api", "mcp_server", "vault", "gc", "cli")


def _sources() -> set[str]:
    """Every module and SQL schema under `<root>/fleetmem/`, named as in the wheel."""
    found: set[str] = set()
    for root in ROOTS:
        base = ROOT / root
        for pattern in ("*.py", "*.sql"):
            found.update(f.relative_to(base).as_posix() for f in (base / "fleetmem").rglob(pattern)
                         if "__pycache__" not in f.parts)
    return found


def _build(kind: str, out: Path) -> zipfile.ZipFile:
    """Build the wheel offline with the installed hatchling, as `pip install .` would."""
    if kind == "wheel":
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)]
    else:  # the PEP 660 hook `pip install -e .` calls
        cmd = [sys.executable, "-c", "import sys; from hatchling.build import build_editable; "
               "build_editable(sys.argv[1])", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_holds_every_module_and_the_schema(tmp_path: Path) -> None:
    names = set(_build("wheel", tmp_path).namelist())
    sources = _sources()
    assert {"fleetmem/memory/stores/sqlite/schema.sql", "fleetmem/cli/main.py",
            "fleetmem/memory/services/__init__.py"} <= sources
    assert not sources - names, f"missing from the wheel: {sorted(sources - names)}"
    assert "fleetmem/__init__.py" not in names  # PEP 420: fleetmem is a namespace
    shipped = {n for n in names if n.startswith("fleetmem/") and n.endswith((".py", ".sql"))}
    assert not shipped - sources, f"in the wheel but not in the roots: {shipped - sources}"


def test_editable_install_makes_the_roots_importable(tmp_path: Path) -> None:
    wheel = _build("editable", tmp_path)
    (pth,) = (n for n in wheel.namelist() if n.endswith(".pth"))
    entries = [line for line in wheel.read(pth).decode().splitlines() if line.strip()]
    assert sorted(entries) == sorted(str(ROOT / root) for root in ROOTS)
    script = ("import json, sys\n"
              "import fleetmem.memory.services, fleetmem.gc, fleetmem.cli.main\n"
              "print(json.dumps({n: getattr(m, '__file__', None) for n, m in "
              "sys.modules.items() if n.startswith('fleetmem.')}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(entries)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout.splitlines()[-1])
    assert "fleetmem.cli.main" in files
    # Every module came from this checkout's roots (none from another install).
    strays = {n: f for n, f in files.items() if f and not Path(f).is_relative_to(ROOT)}
    assert not strays, strays


@pytest.mark.parametrize("root", ROOTS)
def test_each_root_holds_only_its_package(root: str) -> None:
    """`<root>/fleetmem/<root>/`: the import name follows from the path, no remap."""
    below = {p.name for p in (ROOT / root / "fleetmem").iterdir() if p.name != "__pycache__"}
    assert below == {root}, below
