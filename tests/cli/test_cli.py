"""The `fleetmem` command end to end, as a user runs it (subprocesses, real stores)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

FLEETMEM = str(Path(sys.executable).parent / "fleetmem")


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("FLEETMEM_AGENTS_FILE", None)
    return subprocess.run([FLEETMEM, *args], env=env, capture_output=True, text=True,
                          timeout=180)


def test_remember_recall_forget_stats_json(tmp_path: Path) -> None:
    r = _run(tmp_path, "remember", "The staging database is called pg-stage-2", "--agent",
             "alice", "--kind", "fact", "--importance", "0.9", "--json")
    assert r.returncode == 0, r.stderr
    written = json.loads(r.stdout)
    assert written["namespace"] == "agent:alice" and not written["deduplicated"]

    r = _run(tmp_path, "recall", "what is the staging db called?", "--agent", "alice", "--json")
    hits = json.loads(r.stdout)["hits"]
    assert hits[0]["memory"]["id"] == written["id"]
    assert hits[0]["memory"]["attribution"]["created_by"] == "alice"

    r = _run(tmp_path, "recall", "staging db", "--agent", "bob", "--json")
    assert json.loads(r.stdout)["hits"] == []

    r = _run(tmp_path, "forget", written["id"], "--agent", "alice", "--json")
    assert json.loads(r.stdout)["status"] == "archived"
    r = _run(tmp_path, "stats", "--agent", "alice", "--json")
    mine = [n for n in json.loads(r.stdout)["namespaces"] if n["namespace"] == "agent:alice"]
    assert mine[0]["memories"] == {"archived": 1}


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    r = _run(tmp_path, "remember", "fine text", "--agent", "alice", "--importance", "3")
    assert r.returncode == 2
    assert "importance must be a number between 0 and 1" in r.stderr
    r = _run(tmp_path, "forget", "not-an-id", "--agent", "alice")
    assert r.returncode == 2 and "UUID" in r.stderr
    r = _run(tmp_path, "stats", "--agent", "alice", "--json")
    assert json.loads(r.stdout)["total_memories"] == 0


def test_serve_answers_health_and_openapi(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([FLEETMEM, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve did not answer in 120 s"
                time.sleep(0.3)
        assert r.json() == {"status": "ok"}
        # ready only once the model is loaded (503 "still loading" before)
        while (ready := httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)).status_code \
                == 503:
            assert "still loading" in ready.json()["detail"], ready.text
            assert time.monotonic() < deadline, "serve was not ready in 120 s"
            time.sleep(0.2)
        assert ready.json()["status"] == "ready"
        write = httpx.post(f"http://127.0.0.1:{port}/v1/memories", timeout=30,
                           json={"text": "the staging database is db-stage-2"})
        assert write.status_code == 201, write.text
        assert "/healthz" in httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["paths"]
        # MCP loads once the service is ready; a request sent meanwhile waits for it
        assert ready.json()["mcp"] in ("starting", "ready")
        init = httpx.post(f"http://127.0.0.1:{port}/mcp", timeout=60, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}},
            headers={"Accept": "application/json, text/event-stream"})
        assert init.status_code == 200 and "fleetmem" in init.text, init.text
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["mcp"] == "ready"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_serve_announces_the_port_it_was_given(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "FLEETMEM_PORT": "1"}
    proc = subprocess.Popen([FLEETMEM, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "serve.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
        assert json.loads((tmp_path / "serve.json").read_text())["port"] == port
    finally:
        proc.terminate()
        proc.wait(timeout=60)


_MODULES = """
import sys
from fleetmem.cli.main import main
sys.argv = ["fleetmem", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = ("torch", "sentence_transformers", "transformers", "onnx", "safetensors",
         "onnxruntime", "tokenizers", "fastapi", "uvicorn", "mcp", "apscheduler", "httpx")
print(" ".join(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _loaded_modules(data_dir: Path, *args: str) -> list[str]:
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(data_dir)}
    env.pop("FLEETMEM_AGENTS_FILE", None)
    r = subprocess.run([sys.executable, "-c", _MODULES, *args], env=env, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    return r.stderr.rstrip("\n").split("\n")[-1].split()


def test_one_shot_commands_load_only_what_they_use(tmp_path: Path) -> None:
    """A command that embeds loads ONNX Runtime and the tokenizer, nothing of torch or of
    the server; one that does not embed loads no model at all."""
    r = _run(tmp_path, "remember", "The staging database is called pg-stage-2", "--agent",
             "alice")  # builds the cached graph if this session has not yet
    assert r.returncode == 0, r.stderr
    assert _loaded_modules(tmp_path, "recall", "staging db", "--agent", "alice") == [
        "onnxruntime", "tokenizers"]
    assert _loaded_modules(tmp_path, "stats", "--agent", "alice") == []


_SERVE_MODULES = """
import http.client, os, signal, sys, threading, time

def watch():
    port = int(os.environ["FLEETMEM_PORT"])
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)
    unused = ("torch", "sentence_transformers", "transformers", "onnx", "safetensors",
              "httpx", "rich")
    print("AT READY:", *sorted(m for m in unused if m in sys.modules), file=sys.stderr,
          flush=True)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=watch, daemon=True).start()
from fleetmem.cli.main import main
sys.argv = ["fleetmem", "serve"]
main()
"""


def test_serve_loads_only_what_it_uses_until_ready(tmp_path: Path) -> None:
    """Until /readyz first says 200, `fleetmem serve` has loaded neither torch nor the ONNX
    graph builder (the graph is cached), nor the HTTP client and terminal output the CLI's
    other commands use (issue 17: serve's start is what it imports)."""
    r = _run(tmp_path, "remember", "warm the cached graph", "--agent", "alice")
    assert r.returncode == 0, r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "FLEETMEM_PORT": str(port), "FLEETMEM_HOST": "127.0.0.1"}
    env.pop("FLEETMEM_AGENTS_FILE", None)
    r = subprocess.run([sys.executable, "-c", _SERVE_MODULES], env=env, capture_output=True,
                       text=True, timeout=180)
    line = next((x for x in r.stderr.splitlines() if x.startswith("AT READY:")), None)
    assert line is not None, r.stderr[-2000:]
    assert line.split()[2:] == []


def test_a_command_that_fails_fast_exits_cleanly_while_the_model_loads(tmp_path: Path) -> None:
    """remember/recall load the model in the background; a command refused at once must
    still exit 2, not abort in the middle of ONNX Runtime's load (it did, 3 runs in 10)."""
    for _ in range(5):
        r = _run(tmp_path, "remember", "fine text", "--agent", "alice", "--importance", "3")
        assert r.returncode == 2, r.stderr
