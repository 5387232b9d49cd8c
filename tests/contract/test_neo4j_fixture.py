"""The Neo4j fixture fails (never skips) when the launcher cannot start Neo4j."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.neo4j_fixtures import start_or_fail
from tests.support.neo4j_server import INSTALL_HINT, Neo4jServer, Neo4jUnavailable


def test_missing_java_or_maven_fails_with_what_to_install(tmp_path: Path) -> None:
    def no_java(data_dir: Path) -> Neo4jServer:
        raise Neo4jUnavailable(f"java was not found on PATH; {INSTALL_HINT}")

    with pytest.raises(pytest.fail.Exception) as failed:
        start_or_fail(tmp_path, no_java)
    assert "apt-get install openjdk-17-jdk-headless" in str(failed.value)
    assert "apt-get install maven" in str(failed.value)
