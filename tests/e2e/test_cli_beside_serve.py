"""The README's command-line examples with `fleetmem serve` running on the same data folder
and with none running (issue 19): the CLI goes through the owner, or opens the stores
itself; restore refuses under a running service and loses nothing; the stdio shim exits
when its client closes stdin. Real serve processes, real stores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.serve import FLEETMEM, ServeProcess, serving

Run = Callable[..., subprocess.CompletedProcess[str]]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def cli(data_dir: Path) -> Run:
    """`fleetmem ARGS` as a user runs it on `data_dir` (80 columns, no agents file)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLEETMEM_") or k.startswith("FLEETMEM_TEST_")}
    env.update({"FLEETMEM_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                "FLEETMEM_GC__ENABLED": "false", "COLUMNS": "80"})

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([FLEETMEM, *args], env=env, capture_output=True, text=True,
                              timeout=300)
        if ok:
            assert done.returncode == 0, f"fleetmem {' '.join(args)}: {done.stderr}"
        return done

    return run


def readme_examples(run: Run, vault: Path) -> dict[str, str]:
    """Every command-line example of the README and docs, checked; returns what a second
    run compares (bad input's wording)."""
    written = run("remember", "Deploys are frozen on Fridays", "--agent", "alice", "--kind",
                  "procedure")
    line = written.stdout.strip()
    # one line; the second run (same folder) reinforces the first run's memory
    assert "\n" not in line and " in agent:alice" in line
    assert line.startswith(("remembered ", "reinforced the existing memory ")), line
    memory_id = UUID.findall(line)[0]  # the full id, pasteable
    hits = json.loads(run("recall", "when can we deploy?", "--agent", "alice",
                          "--json").stdout)["hits"]
    assert memory_id in [h["memory"]["id"] for h in hits]
    table = run("recall", "deploy", "--agent", "alice").stdout
    assert memory_id in table and all(len(x) <= 80 for x in table.splitlines())
    assert json.loads(run("remember", "mine", "--json").stdout)["namespace"] == "agent:local"
    assert "agent:alice" in run("stats", "--agent", "alice").stdout
    assert "audit log intact" in run("audit", "verify").stdout
    assert memory_id in run("audit", "tail", "-n", "5").stdout
    run("conflicts", "list", "--agent", "alice")
    run("gc", "run", "--dry-run")
    assert json.loads(run("gc", "run", "decay", "--json").stdout)[0]["job"] == "decay"
    assert "written" in run("vault", "export", "--path", str(vault)).stdout
    assert json.loads(run("forget", memory_id, "--agent", "alice", "--json").stdout)[
        "status"] == "archived"
    restored = run("gc", "restore", memory_id).stdout
    assert f"restored {memory_id} in agent:alice" in restored
    errors = {}
    for name, args in {"namespace": ("remember", "x", "-n", "team:nosuch"),
                       "id": ("forget", "not-an-id"),
                       "job": ("gc", "run", "nosuch"),
                       "conflict": ("conflicts", "resolve", "nope", "--keep", "a")}.items():
        failed = run(*args, ok=False)
        assert failed.returncode == 2, failed
        errors[name] = failed.stderr.strip().splitlines()[-1]
    return errors


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_readme_examples_with_and_without_a_running_service(tmp_path: Path,
                                                            data_dir: Path) -> None:
    run = cli(data_dir)
    with serving(data_dir, tmp_path / "serve.log") as serve:
        assert json.loads((data_dir / "serve.json").read_text())["socket"]
        through_service = readme_examples(run, tmp_path / "vault1")
        assert serve.proc is not None and serve.proc.poll() is None
        # the writes went through the service: it sees them without a restart
        stats = httpx.get(f"{serve.base_url}/v1/stats", timeout=30).json()
        assert stats["total_memories"] >= 1
        serve.stop()
    assert not (data_dir / "serve.json").exists()
    direct = readme_examples(run, tmp_path / "vault2")
    assert direct == through_service  # the service's wording on both paths
    assert "may not write namespace 'team:nosuch'" in direct["namespace"]
    assert "UUID" in direct["id"]


def _remember(base_url: str, text: str) -> str:
    r = httpx.post(f"{base_url}/v1/memories", json={"text": text}, timeout=120)
    assert r.status_code == 201, r.text
    memory_id: str = r.json()["id"]
    return memory_id


def test_restore_under_a_running_service_is_refused_and_loses_nothing(
        tmp_path: Path, data_dir: Path) -> None:
    run = cli(data_dir)
    backup = tmp_path / "b.tar.gz"
    with serving(data_dir, tmp_path / "serve.log") as serve:
        ids = [_remember(serve.base_url, "Backups run nightly at 02:00")]
        run("backup", "--to", str(backup))
        refused = run("restore", "--from", str(backup), "--force", ok=False)
        assert refused.returncode == 2
        assert f"pid {serve.pid}" in refused.stderr and "stop the service" in refused.stderr
        ids += [_remember(serve.base_url, f"Acknowledged after the restore attempt {i}")
                for i in range(3)]
        serve.stop()
        serve.start()  # what the issue did: restart, then look for the acknowledged writes
        for memory_id in ids:
            got = httpx.get(f"{serve.base_url}/v1/memories/{memory_id}", timeout=60)
            assert got.status_code == 200, (memory_id, got.text)
    # with no service the same command restores (the folder is the CLI's own)
    assert "restored" in run("restore", "--from", str(backup), "--force").stdout


def test_a_stale_serve_json_is_reported_and_the_stores_opened(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    other = subprocess.Popen(["sleep", "300"])  # the pid reused by another program
    try:
        for pid, says in ((dead.pid, "which is no longer running"),
                          (other.pid, "which is now another program")):
            (data_dir / "serve.json").write_text(json.dumps(
                {"pid": pid, "host": "127.0.0.1", "port": 9, "socket": str(data_dir / "x")}))
            done = cli(data_dir)("stats", "--json")
            assert json.loads(done.stdout)["agent_id"] == "local"
            assert f"pid {pid}, {says}" in done.stderr
    finally:
        other.kill()
        other.wait()


@pytest.fixture
def served(tmp_path: Path, data_dir: Path) -> Iterator[ServeProcess]:
    with serving(data_dir, tmp_path / "serve.log") as serve:
        yield serve


def test_the_stdio_shim_exits_when_stdin_closes_and_direct_modes_refuse(
        served: ServeProcess) -> None:
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(served.data_dir), "HF_HUB_OFFLINE": "1"}
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    shim = subprocess.Popen([FLEETMEM, "mcp"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert shim.stdin is not None and shim.stdout is not None
        shim.stdin.write(init + "\n")
        shim.stdin.flush()
        assert json.loads(shim.stdout.readline())["id"] == 1
        started = time.monotonic()
        shim.stdin.close()
        assert shim.wait(timeout=60) == 0
        assert time.monotonic() - started < 30
    finally:
        shim.kill()
        shim.wait()
    # what needs the folder to itself refuses while the service owns it, naming its pid
    for args in (("mcp", "--direct"), ("serve", "--port", "9"), ("vault", "watch")):
        refused = cli(served.data_dir)(*args, ok=False)
        assert refused.returncode == 2 and f"pid {served.pid}" in refused.stderr, args
