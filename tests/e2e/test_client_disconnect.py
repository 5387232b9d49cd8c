"""A REST request whose client disconnects stops its work (issue 21 follow-up): a large
batch sent and abandoned no longer keeps `serve` encoding and writing for minutes, and
the request is counted as 499 in the metrics."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from tests.reliability.serve import serving

BATCH = 200
TEXT = ("ledger billing deploy rollout cache shard replica quota tenant invoice " * 120)[:8000]


def _abandoned_batch(port: int, base: str) -> None:
    """Send a whole batch of maximum-size texts, wait until its first chunk is stored
    (the batch is being encoded and written), then close the connection unanswered."""
    body = json.dumps({"memories": [{"text": f"{i} {TEXT}"[:8000]} for i in range(BATCH)]})
    head = (f"POST /v1/memories/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body.encode())
        deadline = time.monotonic() + 180
        while _stored(base) == 0:
            assert time.monotonic() < deadline, "the batch never started writing"
            time.sleep(0.2)


def _stored(base: str) -> int:
    return int(httpx.get(f"{base}/v1/stats", timeout=30).json()["total_memories"])


def test_an_abandoned_batch_is_cancelled(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(tmp_path / "data", log, env={"FLEETMEM_LOG_LEVEL": "INFO"}) as serve:
        _abandoned_batch(serve.port, serve.base_url)
        deadline = time.monotonic() + 60
        while "client went away: cancelled POST /v1/memories/batch" not in \
                log.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the abandoned batch was never cancelled"
            time.sleep(0.2)
        # Its work stopped: the count of stored memories no longer moves.
        scrape = httpx.get(f"{serve.base_url}/metrics", timeout=30).text
        assert any("/v1/memories/batch" in line and '"499"' in line
                   for line in scrape.splitlines()), "the request was not counted as 499"
        time.sleep(3.0)
        counts = [_stored(serve.base_url)]
        time.sleep(5.0)
        counts.append(_stored(serve.base_url))
        assert 0 < counts[0] == counts[1] < BATCH  # committed chunks stay, the rest stops
        # The service is free: another request is answered at once.
        answer = httpx.post(f"{serve.base_url}/v1/memories/recall",
                            json={"query": "ledger"}, timeout=30)
        assert answer.status_code == 200
