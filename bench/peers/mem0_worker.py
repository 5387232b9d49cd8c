"""Runs inside the mem0 venv: mem0's Memory in-process, driven by JSON lines on stdin.

Timings are taken here, in mem0's own process, so they exclude the pipe: mem0 is a library
its users call in-process. No LLM is configured to be called: add(..., infer=False) only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused-no-llm-is-called")
USER = "bench"


def main() -> None:
    """Serve commands until `close` or end of input."""
    wire = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything mem0 prints goes to stderr, never onto the wire
    mem: Any = None
    id_of: dict[str, str] = {}

    def reply(**kw: Any) -> None:
        wire.write(json.dumps(kw) + "\n")
        wire.flush()

    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "start":
                import torch
                from mem0 import Memory

                torch.set_num_threads(int(cmd["threads"]))
                mem = Memory.from_config({
                    "vector_store": {"provider": "qdrant", "config": {
                        "collection_name": "bench", "path": cmd["dir"] + "/qdrant",
                        "embedding_model_dims": 384, "on_disk": True}},
                    "embedder": {"provider": "huggingface", "config": {
                        "model": cmd["model"], "embedding_dims": 384}},
                    "llm": {"provider": "openai", "config": {"api_key": "unused-no-llm-is-called",
                                                             "model": "gpt-4o-mini"}},
                    "history_db_path": cmd["dir"] + "/history.db",
                })
                reply(ok=True)
            elif op == "add":
                t0 = time.perf_counter()
                res = mem.add([{"role": "user", "content": t} for t in cmd["texts"]],
                              user_id=USER, infer=False)
                took = (time.perf_counter() - t0) * 1000
                for r in res.get("results", []):
                    id_of[r["memory"]] = r["id"]
                reply(ok=True, ms=took)
            elif op == "update":
                mid = id_of.pop(cmd["old"])
                mem.update(mid, cmd["new"])
                id_of[cmd["new"]] = mid
                reply(ok=True)
            elif op == "search":
                t0 = time.perf_counter()
                res = mem.search(cmd["query"], top_k=int(cmd["k"]), filters={"user_id": USER})
                took = (time.perf_counter() - t0) * 1000
                reply(ok=True, ms=took, texts=[r["memory"] for r in res.get("results", [])])
            elif op == "close":
                reply(ok=True)
                return
        except Exception as exc:  # report any mem0 failure to the driver, keep serving
            reply(ok=False, error=f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
