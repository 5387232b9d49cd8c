"""Secret redaction (pure): secrets never reach a store, a log or the audit trail."""

from __future__ import annotations

import re
from dataclasses import dataclass

REDACTED = "[REDACTED]"

# Order matters: the widest patterns (private key blocks) run first.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
        re.DOTALL)),
    ("url_password", re.compile(r"(?<=://)([^\s:/@]+):([^\s@/]+)(?=@)")),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("github_token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}\b")),
    ("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("api_key", re.compile(r"\b(?:sk|pk|rk)[-_](?:live|test|proj|ant)?[-_]?[A-Za-z0-9_\-]{16,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")),
    ("assigned_secret", re.compile(
        r"(?i)\b((?:api[_-]?key|secret|token|passwd|password|pwd|access[_-]?key)"
        r"[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])([^\s\"',;]{6,})")),
)


@dataclass(frozen=True, slots=True)
class Redaction:
    """The redacted text and what was removed (kinds only, never the secrets)."""

    text: str
    count: int
    kinds: tuple[str, ...]


def redact(text: str) -> Redaction:
    """Replace secrets in `text` with `[REDACTED]` and count them.

    Covers private key blocks, passwords in URLs, bearer tokens, common provider keys
    (AWS, GitHub, Slack, `sk-...` style API keys), JWTs and `password=...` assignments.
    """
    count = 0
    kinds: list[str] = []
    for kind, pattern in _PATTERNS:
        if kind == "url_password":
            text, n = pattern.subn(lambda m: f"{m.group(1)}:{REDACTED}", text)
        elif kind == "assigned_secret":
            text, n = pattern.subn(lambda m: m.group(1) + REDACTED, text)
        else:
            text, n = pattern.subn(REDACTED, text)
        if n > 0:
            count += n
            kinds.append(kind)
    return Redaction(text=text, count=count, kinds=tuple(kinds))
