"""What the figures were measured on: cores, RAM, CPU model, load, versions, date."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("fleetmem", "onnxruntime", "onnx", "tokenizers", "torch", "sentence-transformers",
            "transformers", "qdrant-edge-py",
            "numpy", "mcp", "fastapi", "pyinstrument")


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    """Total RAM in GiB from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def rss_mib() -> float:
    """This process's resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def version(package: str) -> str:
    """Installed version of a distribution, or '-'."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def git_commit() -> str:
    """Short commit of the working tree the benchmark ran from."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False, timeout=10).stdout.strip() or "-"
    except OSError:
        return "-"


def header_lines(command: str, extra_versions: dict[str, str]) -> list[str]:
    """The RESULTS.md preamble: how to reproduce, and what machine and software ran it."""
    load = os.getloadavg()
    versions = {p: version(p) for p in PACKAGES} | extra_versions
    return [
        "# fleetmem benchmark results",
        "",
        f"Reproduce: `{command}` from the repository root (peers need `python -m bench setup` "
        "once). This file is rewritten by every `all` run; the profile notes come from "
        "bench/PROFILE_NOTES.md.",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit {git_commit()}",
        f"- machine: {os.cpu_count()} cores, {ram_gib():.1f} GiB RAM, CPU {cpu_model()}",
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(figures taken on a busy machine are noisy)",
        f"- Python {platform.python_version()} on {platform.system()} {platform.release()}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]
