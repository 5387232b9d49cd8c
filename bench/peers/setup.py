"""`python -m bench setup`: install the peers under bench/.work (gitignored), idempotently.

- reference server: npm package into bench/.work/node;
- mem0: its own venv (its protobuf < 7 pin conflicts with ours), which sees the project
  venv's torch and sentence-transformers through a lowest-priority .pth entry instead of
  downloading torch a second time;
- basic-memory: a venv on a Python >= 3.12 found on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from bench.peers.base import BM_VENV, MEM0_VENV, NODE_DIR
from bench.report import WORK_DIR, say

REFERENCE_PKG = "@modelcontextprotocol/server-memory"
MEM0_REQ = "mem0ai>=2,<3"
# 0.24.x pins fastmcp 4.1.3, which needs a certifi release newer than any published one.
BM_REQ = "basic-memory==0.23.2"
BM_CONSTRAINTS = "certifi<=2026.10.18\n"


def _run(cmd: list[str], cwd: Path | None = None) -> bool:
    say("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, check=False)
    return proc.returncode == 0


def setup_reference() -> bool:
    """npm install the reference MCP memory server."""
    if shutil.which("npm") is None:
        say("npm not found: the reference server is skipped")
        return False
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    pkg = NODE_DIR / "package.json"
    if not pkg.exists():
        pkg.write_text(json.dumps({"name": "fleetmem-bench-peers", "private": True}))
    return _run(["npm", "install", "--no-audit", "--no-fund", REFERENCE_PKG], cwd=NODE_DIR)


def setup_mem0() -> bool:
    """A venv for mem0 that reuses the project's torch through a .pth entry (the project
    venv needs the `torch` extra for this: `EXTRAS=dev,torch ./scripts/setup`)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        say("mem0 reuses the project's torch: install the torch extra first "
            "(EXTRAS=dev,torch ./scripts/setup); mem0 is skipped")
        return False
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not (MEM0_VENV / "bin" / "python").exists() and \
            not _run([str(base), "-m", "venv", str(MEM0_VENV)]):
        return False
    venv_site = subprocess.run(
        [str(MEM0_VENV / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    # 'zz' sorts last: the venv's own packages (mem0's protobuf) win over the project's.
    Path(venv_site, "zz_fleetmem_project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return _run([str(MEM0_VENV / "bin" / "pip"), "install", "-q", "--ignore-installed",
                 MEM0_REQ])


def _python312() -> str | None:
    """A Python >= 3.12: on PATH, or installed by pyenv but not selected (its shims then
    refuse to run, so the interpreters under $PYENV_ROOT/versions are tried too)."""
    candidates = [shutil.which(name) for name in ("python3.12", "python3.13")]
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted((str(p) for p in root.glob("3.1[2-9]*/bin/python3")), reverse=True)
    for found in candidates:
        if found and subprocess.run([found, "-c", "import sys; assert sys.version_info >= "
                                     "(3, 12)"], check=False, capture_output=True
                                    ).returncode == 0:
            return found
    return None


def setup_basic_memory() -> bool:
    """A Python >= 3.12 venv with basic-memory."""
    py = _python312()
    if py is None:
        say("no Python >= 3.12 on this machine: basic-memory is skipped")
        return False
    if not (BM_VENV / "bin" / "python").exists() and not _run([py, "-m", "venv", str(BM_VENV)]):
        return False
    constraints = WORK_DIR / "bm-constraints.txt"
    constraints.write_text(BM_CONSTRAINTS)
    return _run([str(BM_VENV / "bin" / "pip"), "install", "-q", "-c", str(constraints), BM_REQ])


def setup_all() -> int:
    """Install every peer; exit code 1 if any failed (the others still work)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    results = {"reference": setup_reference(), "mem0": setup_mem0(),
               "basic-memory": setup_basic_memory()}
    for name, ok in results.items():
        say(f"{name}: {'ready' if ok else 'NOT installed'}")
    return 0 if all(results.values()) else 1
