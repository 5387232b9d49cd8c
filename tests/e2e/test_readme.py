"""The README's examples run as written (issue 19): its fenced `bash`/`sh`/`shell` and
`python` blocks are executed against a fresh `fleetmem serve`.

The rule (stated in the README too, in a comment above its Quick start):
- every such block runs, unless the line right above its fence is an HTML comment
  `<!-- readme-test: skip (why) -->`: blocks that install software, set up the virtualenv
  or need another program (`claude`) are marked so; every other block must run;
- the service runs on a temporary data folder (`FLEETMEM_DATA_DIR`, which the README
  names as the way to choose it) with the README's agents file (its first `yaml` block),
  on a free port: `127.0.0.1:8765` in a block is replaced by that address;
- `.venv/bin/fleetmem` is this checkout's `fleetmem` (linked into the working folder);
- a shell block runs one command at a time (lines joined at a trailing `\\`; `#` lines
  are comments; `NAME=value` lines set a variable for the commands after them); the
  placeholder `<memory-id>` stands for the id the block's last `remember` printed;
- a command passes when it exits 0, and a `curl` when the answer is 2xx as well (the
  test adds `--fail-with-body`); a Python block passes when it exits 0.
The command-line block then runs a second time with the service stopped: the README says
the commands work the same either way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.serve import FLEETMEM, ServeProcess, serving

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\b")
RUN_LANGS = {"bash", "sh", "shell", "python"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=(\S*)\s*(#.*)?$")
README_ADDRESS = "127.0.0.1:8765"


@dataclass
class Block:
    """One fenced block of the README."""

    lang: str
    text: str
    line: int
    skipped: bool


def blocks(text: str) -> list[Block]:
    """Every fenced block, with its language, first line number and skip mark."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = FENCE.match(lines[i])
        if start is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        above = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        found.append(Block(start.group(1), "\n".join(lines[i + 1:j]), i + 1,
                           bool(SKIP.match(above.strip()))))
        i = j + 1
    return found


def commands(text: str) -> list[str]:
    """The block's commands: continuation lines joined, comment lines dropped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


class Runner:
    """Runs README blocks in a working folder against a service address."""

    def __init__(self, work: Path, data_dir: Path, address: str) -> None:
        self.work, self.address = work, address
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETMEM_")
                    or k.startswith("FLEETMEM_TEST_") or k == "FLEETMEM_EMBEDDING__CACHE_DIR"}
        self.env.update({"FLEETMEM_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                         "FLEETMEM_GC__ENABLED": "false", "COLUMNS": "100"})
        self.memory_id: str | None = None

    def shell(self, block: Block) -> None:
        variables: dict[str, str] = {}
        for command in commands(block.text):
            assigned = ASSIGNMENT.match(command)
            if assigned:
                variables[assigned.group(1)] = assigned.group(2)
                continue
            if "<memory-id>" in command:
                assert self.memory_id, f"line {block.line}: no memory id printed yet"
                command = command.replace("<memory-id>", self.memory_id)
            command = command.replace(README_ADDRESS, self.address)
            is_curl = command.startswith("curl ")
            if is_curl:
                command = "curl --fail-with-body " + command.removeprefix("curl ")
            done = subprocess.run(["bash", "-c", f"set -o pipefail\n{command}"],
                                  cwd=self.work, env={**self.env, **variables},
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (
                f"README line {block.line}: `{command}` exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}")
            if " remember " in f" {command} " or "/v1/memories " in f"{command} ":
                ids = UUID.findall(done.stdout)
                if ids:
                    self.memory_id = ids[0]

    def python(self, block: Block) -> None:
        code = block.text.replace(README_ADDRESS, self.address)
        done = subprocess.run([sys.executable, "-c", code], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (f"README line {block.line}: the Python block exited "
                                      f"{done.returncode}\n{done.stdout}\n{done.stderr}")

    def run(self, block: Block) -> None:
        if block.lang == "python":
            self.python(block)
        else:
            self.shell(block)


def test_the_readme_states_which_blocks_run() -> None:
    found = blocks(README.read_text())
    runnable = [b for b in found if b.lang in RUN_LANGS and not b.skipped]
    skipped = [b for b in found if b.skipped]
    assert len(runnable) >= 3 and skipped, "no README block to run, or none marked"
    assert all(b.lang in RUN_LANGS for b in skipped), "a skip mark on a block never run"
    assert commands("a \\\n  b\n# c\n\nd") == ["a    b", "d"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working folder whose `.venv/bin/fleetmem` is this checkout's command."""
    work = tmp_path / "work"
    (work / ".venv" / "bin").mkdir(parents=True)
    (work / ".venv" / "bin" / "fleetmem").symlink_to(FLEETMEM)
    return work


def test_readme_examples_run_against_a_fresh_service(tmp_path: Path, workdir: Path) -> None:
    found = blocks(README.read_text())
    agents_yaml = next(b for b in found if b.lang == "yaml")
    agents = tmp_path / "agents.yaml"
    agents.write_text(agents_yaml.text + "\n")
    data = tmp_path / "data"
    runnable = [b for b in found if b.lang in RUN_LANGS and not b.skipped]
    env = {"FLEETMEM_AGENTS_FILE": str(agents)}
    with serving(data, tmp_path / "serve.log", env=env) as serve:
        runner = Runner(workdir, data, f"127.0.0.1:{serve.port}")
        runner.env["FLEETMEM_AGENTS_FILE"] = str(agents)
        for block in runnable:
            runner.run(block)
        _stop(serve)
    # The command-line blocks again, on the same folder with no service running.
    for block in runnable:
        if block.lang != "python" and ".venv/bin/fleetmem" in block.text \
                and "curl" not in block.text:
            runner.run(block)


def _stop(serve: ServeProcess) -> None:
    serve.stop()
    assert not (serve.data_dir / "serve.json").exists() or serve.proc is None or \
        serve.proc.poll() is not None
