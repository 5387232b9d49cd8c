"""Governance fixtures: the shared agents plus roles that carry limits and denials."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.conftest import AGENTS

GOVERNANCE_AGENTS = copy.deepcopy(AGENTS)
GOVERNANCE_AGENTS["roles"].update({
    "crawler": {"allow": ["*"], "deny": ["forget", "purge"]},
    "throttled": {"allow": ["*"], "limits": {"requests_per_minute": 3}},
    "metered": {"allow": ["*"], "limits": {"writes_per_day": 2}},
    "boxed": {"allow": ["*"], "limits": {"memories_per_namespace": 2}},
    "bulky": {"allow": ["*"], "limits": {"texts_per_minute": 10}},
})
GOVERNANCE_AGENTS["agents"].update({
    "crawly": {"roles": ["crawler"], "teams": ["atlas"]},
    "speedy": {"roles": ["throttled"]},
    "meter": {"roles": ["metered"]},
    "boxy": {"roles": ["boxed"]},
    "bulk": {"roles": ["bulky"]},
    "ops": {"roles": ["writer"], "admin": True},
})


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    """The agents file of the governance tests (overrides the shared one)."""
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(GOVERNANCE_AGENTS))
    return path
