"""End to end with a client we did not write: the MCP Inspector CLI (npm
`@modelcontextprotocol/inspector`, installed under tests/e2e/node) lists the tools, then
remembers and recalls over stdio (`fleetmem mcp`) and over HTTP with a bearer key; a
missing or wrong key is refused (the Inspector's exit code 3)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetmem.mcp_server.launcher import read_state
from fleetmem.memory.ports import Embedder
from tests.conftest import AGENTS
from tests.e2e.mcp_scenarios import ALL_TOOLS
from tests.e2e.mcp_support import FLEETMEM, free_port, stop_serve

NODE_DIR = Path(__file__).parent / "node"
INSPECTOR = NODE_DIR / "node_modules" / ".bin" / "mcp-inspector"
EXIT_AUTH_REQUIRED, EXIT_TOOL_ERROR = 3, 5


@pytest.fixture(scope="module")
def inspector() -> Path:
    """The Inspector CLI, installed from the committed lock file when missing."""
    if not INSPECTOR.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is required for the MCP Inspector end-to-end test: install "
                        "Node.js (>= 22) with npm, then rerun (the test runs `npm ci` in "
                        f"{NODE_DIR})")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                              capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0 or not INSPECTOR.exists():
            pytest.fail(f"`npm ci` in {NODE_DIR} failed ({done.returncode}):\n{done.stderr}")
    return INSPECTOR


@pytest.fixture
def site(tmp_path: Path, embedder: Embedder) -> Any:
    """A data dir with an agents file; the service the stdio shim starts is stopped after.
    The session's ONNX graph cache is built first and handed to that service, so it need
    not build the graph while the Inspector waits to connect."""
    embedder.embed(["the session's graph is built and cached"])
    agents = tmp_path / "agents.yaml"
    agents.write_text(yaml.safe_dump(AGENTS))
    yield tmp_path, agents, free_port()
    stop_serve(tmp_path / "data")


def run(inspector: Path, tmp: Path, *args: str) -> tuple[int, Any]:
    """Run the Inspector CLI; return its exit code and its JSON output (or raw text)."""
    env = {"PATH": str(Path(shutil.which("node") or "node").parent) + ":/usr/bin:/bin",
           "HOME": str(tmp), "MCP_CATALOG_PATH": str(tmp / "inspector-catalog.json")}
    # The shim may start the service (model load, MCP door) on a loaded 2-core CI machine:
    # the CLI's default 15 s connect timeout is about the client, not what is tested here.
    done = subprocess.run([str(inspector), "--cli", "--connect-timeout", "120000", *args],
                          env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.returncode, done.stdout + done.stderr


def stdio_target(tmp: Path, agents: Path, port: int, key: str) -> list[str]:
    env = {"FLEETMEM_DATA_DIR": tmp / "data", "FLEETMEM_AGENTS_FILE": agents,
           "FLEETMEM_PORT": port, "FLEETMEM_MCP__API_KEY": key, "HF_HUB_OFFLINE": 1,
           "FLEETMEM_LOG_LEVEL": "WARNING",
           "FLEETMEM_EMBEDDING__CACHE_DIR": os.environ["FLEETMEM_EMBEDDING__CACHE_DIR"]}
    return [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")] + [FLEETMEM, "mcp"]


def call(tool: str, **args: str | int) -> list[str]:
    return ["--method", "tools/call", "--tool-name", tool,
            *(a for k, v in args.items() for a in ("--tool-arg", f"{k}={v}"))]


def test_inspector_over_stdio_and_http(inspector: Path, site: Any) -> None:
    tmp, agents, port = site
    target = stdio_target(tmp, agents, port, "alice-key")

    code, listed = run(inspector, tmp, *target, "--method", "tools/list")
    assert code == 0, listed
    assert {t["name"] for t in listed["tools"]} == ALL_TOOLS
    remember = next(t for t in listed["tools"] if t["name"] == "remember")
    assert remember["annotations"]["readOnlyHint"] is False and "outputSchema" in remember

    code, written = run(inspector, tmp, *target,
                        *call("remember", text="The staging cluster restarts every Sunday"))
    assert code == 0, written
    assert written["structuredContent"]["namespace"] == "agent:alice"
    code, found = run(inspector, tmp, *target, *call("recall", query="when does staging "
                                                     "restart", k=3))
    assert code == 0, found
    assert found["structuredContent"]["hits"][0]["memory"]["id"] == \
        written["structuredContent"]["id"]
    code, failed = run(inspector, tmp, *target, *call("remember", text="x", kind="rumour"))
    assert code == EXIT_TOOL_ERROR and "kind must be one of" in json.dumps(failed)

    # The same service over streamable HTTP (the one the stdio shim started).
    served = read_state(tmp / "data")
    assert served is not None
    url = ["--transport", "http", served.mcp_url]
    alice = ["--header", "Authorization: Bearer alice-key"]
    code, listed = run(inspector, tmp, *url, *alice, "--method", "tools/list")
    assert code == 0, listed
    assert {t["name"] for t in listed["tools"]} == ALL_TOOLS
    code, written = run(inspector, tmp, *url, *alice,
                        *call("remember", text="Deploy freezes start on December 20"))
    assert code == 0, written
    code, found = run(inspector, tmp, *url, *alice, *call("recall", query="deploy freeze",
                                                          k=5))
    assert code == 0, found
    hits = [h["memory"]["id"] for h in found["structuredContent"]["hits"]]
    assert written["structuredContent"]["id"] in hits

    bob = ["--header", "Authorization: Bearer bob-key"]
    code, found = run(inspector, tmp, *url, *bob, *call("recall", query="deploy freeze", k=5))
    assert code == 0 and found["structuredContent"]["hits"] == []  # alice's are private

    for headers in ([], ["--header", "Authorization: Bearer not-a-key"]):
        code, refused = run(inspector, tmp, *url, *headers, "--method", "tools/list")
        assert code == EXIT_AUTH_REQUIRED, refused
