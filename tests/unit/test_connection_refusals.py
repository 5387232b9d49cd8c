"""Refused connections are logged once, then summed up (api/connections.py)."""

from __future__ import annotations

import logging

import pytest

from fleetmem.api.connections import REFUSAL_LOG_SECONDS, _Refusals


def test_a_refusal_flood_logs_one_line_then_a_count_per_period(
        caplog: pytest.LogCaptureFixture) -> None:
    refusals = _Refusals()
    with caplog.at_level(logging.WARNING, logger="fleetmem.api.connections"):
        for i in range(1000):
            refusals.note("the server holds its maximum of 10 connections", i / 1000)
        assert [r.getMessage() for r in caplog.records] == [
            "connection refused: the server holds its maximum of 10 connections"]
        refusals.note("the server holds its maximum of 10 connections", REFUSAL_LOG_SECONDS)
        refusals.note("this client address holds the maximum of 4 connections", 11.0)
    assert [r.getMessage() for r in caplog.records][1:] == [
        f"1000 connections refused in the last {REFUSAL_LOG_SECONDS:.0f} s: the server "
        "holds its maximum of 10 connections"]
    assert refusals.pending == {"this client address holds the maximum of 4 connections": 1}
