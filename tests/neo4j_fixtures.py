"""Pytest fixtures for a real Neo4j: one server per test session, wiped before each test.

The server is Neo4j Community 5.26 started in-process by `tests/support/neo4j_server.py`
(Bolt on a free loopback port, data in a session temp folder), or an external server
when FLEETMEM_TEST_NEO4J_URI is set (e.g. the docker-compose one in CI). When Java or
Maven is missing the fixture FAILS with the launcher's message: the `neo4j` tests never
skip silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from tests.support.neo4j_server import Neo4jServer, Neo4jUnavailable, start_neo4j

EXTERNAL_URI_ENV = "FLEETMEM_TEST_NEO4J_URI"


@dataclass(frozen=True)
class Neo4jTarget:
    """Where the tests' Neo4j listens (auth only for an external server)."""

    uri: str
    user: str = "neo4j"
    password: str = ""


def wipe(target: Neo4jTarget) -> None:
    """Delete every node and relationship (the schema stays): a clean store per test.

    Community edition has one user database, so tests share it and start from empty.
    """
    auth = (target.user, target.password) if target.password else None
    with GraphDatabase.driver(target.uri, auth=auth) as driver, driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS"
                    ).consume()


def start_or_fail(data_dir: Path, start: Callable[[Path], Neo4jServer] = start_neo4j
                  ) -> Neo4jServer:
    """Start Neo4j, or FAIL the requesting tests with the launcher's message (what to
    install): a missing Java or Maven must never turn into silently skipped tests."""
    try:
        return start(data_dir)
    except Neo4jUnavailable as exc:
        pytest.fail(f"the neo4j tests need a real Neo4j and it could not start: {exc}",
                    pytrace=False)


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jTarget]:
    """A Neo4j for the whole session: started on first use, stopped at the end."""
    external = os.environ.get(EXTERNAL_URI_ENV)
    if external:
        yield Neo4jTarget(external, os.environ.get("FLEETMEM_TEST_NEO4J_USER", "neo4j"),
                          os.environ.get("FLEETMEM_TEST_NEO4J_PASSWORD", ""))
        return
    server = start_or_fail(tmp_path_factory.mktemp("neo4j"))
    try:
        yield Neo4jTarget(server.uri)
    finally:
        server.stop()


@pytest.fixture
def neo4j_clean(neo4j_server: Neo4jTarget) -> Neo4jTarget:
    """The session's Neo4j, emptied for this test."""
    wipe(neo4j_server)
    return neo4j_server
