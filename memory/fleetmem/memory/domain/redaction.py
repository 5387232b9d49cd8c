"""Secret redaction (pure): secrets never reach a store, a log or the audit trail.

Three sources find secrets, each as spans of the text: our patterns for shapes with a
fixed form (below), detect-secrets' provider detectors (`redaction_library`) and the
keyword rules (`redaction_rules`: `password=...`, "my password is ..."). Overlapping spans
are merged and each merged span is replaced by `[REDACTED]` once; the count is the number
of replacements. The redacted text is a fixed point: redacting it again changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fleetmem.memory.domain.redaction_library import LIBRARY_GATES, library_spans
from fleetmem.memory.domain.redaction_rules import (
    KEYWORD_GATES,
    Folded,
    keyword_spans,
    starts_inside_word,
)

REDACTED = "[REDACTED]"

_B64 = r"A-Za-z0-9+/"
_AWS_ID = r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"


def _basic_credentials(value: str) -> bool:
    """`Authorization: Basic <x>` holds a secret when x decodes to "user:password"."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        plain = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return ":" in plain and plain.isprintable()


def _mixed(value: str) -> bool:
    return (any(c.isupper() for c in value) and any(c.islower() for c in value)
            and any(c.isdigit() for c in value))


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A shape: the match (or its named group) is the secret when `accept` agrees.

    `gate`: lower-case literals of which the text must hold one for the pattern to run (a
    substring test costs far less than a regex scan, and most texts hold none). A pattern
    starts with a literal, not `\\b` (a leading `\\b` makes the engine try every
    position, ~50 times slower): a match that starts inside a word is dropped instead.
    A `Folded` pattern is written in lower case and runs on the lower-cased text (an
    IGNORECASE scan is as slow as a leading `\\b`).
    """

    kind: str
    gate: tuple[str, ...]
    regex: re.Pattern[str] | Folded
    accept: Callable[[str], bool] | None = None


_AWS_GATE = ("akia", "asia", "a3t", "abia", "acca", "aws")
# A token that holds a digit: random keys nearly always do, identifiers such as
# pk_orders_customer_id_index or "Bearer authentication" do not.
_WITH_DIGIT = r"(?=[a-zA-Z0-9_\-.~+/]*\d)"
_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("private_key", ("private key",), re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.DOTALL)),
    _Pattern("url_password", ("://",), re.compile(r"://[^\s:/@]*:(?P<s>[^\s@/]+)@")),
    _Pattern("bearer_token", ("bearer",), Folded(
        rf"bearer\s+{_WITH_DIGIT}[a-z0-9\-._~+/]{{8,}}=*")),
    _Pattern("basic_auth", ("basic",), Folded(r"basic\s+(?P<s>[a-z0-9+/]{8,}={0,2})"),
             _basic_credentials),
    _Pattern("aws_access_key", _AWS_GATE, re.compile(rf"{_AWS_ID}\b")),
    # A bare 40-character secret access key after an access key id or the word "aws" (the
    # look-behinds refuse an id or "aws" inside a word, such as "draws").
    _Pattern("aws_secret_key", _AWS_GATE, re.compile(
        rf"(?:{_AWS_ID}(?<!\w.{{20}})|[Aa][Ww][Ss](?<!\w.{{3}}))[^\n]{{0,100}}?"
        rf"(?<![{_B64}=])(?P<s>[{_B64}]{{40}})"
        rf"(?![{_B64}=])"), _mixed),
    _Pattern("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), re.compile(
        r"(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}\b")),
    _Pattern("gitlab_token", ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-",
                              "glptt-", "gloas-", "gr1348941"), re.compile(
        r"(?:glpat|gldt|glft|glsoat|glrt|glcbt|glptt|gloas)-[A-Za-z0-9_\-]{20,}"
        r"|GR1348941[A-Za-z0-9_\-]{20,}")),
    _Pattern("slack_token", ("xox", "xapp-", "hooks.slack"), re.compile(
        r"xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}"
        r"|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]+")),
    _Pattern("stripe_key", ("_live_", "_test_", "whsec_"), re.compile(
        r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}")),
    # sk-..., sk-proj-..., sk-ant-api03-... (OpenAI, Anthropic and similar).
    _Pattern("api_key", ("sk-", "sk_", "pk-", "pk_", "rk-", "rk_"),
             re.compile(rf"(?:sk|pk|rk)[-_]{_WITH_DIGIT}[A-Za-z0-9_\-]{{16,}}")),
    _Pattern("provider_token", ("aiza", "ya29.", "hf_", "npm_", "pypi-"), re.compile(
        r"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"  # Google API key
        r"|ya29\.[0-9A-Za-z_\-]{20,}"  # Google OAuth access token
        r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
        r"|npm_[A-Za-z0-9]{36}\b"  # npm
        r"|pypi-[A-Za-z0-9_\-]{50,}")),  # PyPI upload token
    _Pattern("jwt", ("eyj",), re.compile(
        r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    _Pattern("azure_key", ("accountkey=", "sharedaccesskey=", "sharedsecretvalue=", "sig="),
             Folded(r"(?:accountkey|sharedaccesskey|sharedsecretvalue)=(?P<s>[a-z0-9+/]{20,}={0,2})"
                    r"|[?&]sig=(?P<sig>[a-z0-9%+/=]{16,})")),
)


# Every gate literal, tested once per text (one substring test each).
_GATES = tuple(sorted({g for p in _PATTERNS for g in p.gate} | LIBRARY_GATES | KEYWORD_GATES))


@dataclass(frozen=True, slots=True)
class Redaction:
    """The redacted text and what was removed (kinds only, never the secrets)."""

    text: str
    count: int
    kinds: tuple[str, ...]


def _pattern_spans(text: str, low: str,
                   present: frozenset[str]) -> Iterator[tuple[int, int, str]]:
    for p in _PATTERNS:
        if present.isdisjoint(p.gate):
            continue
        matches = (p.regex.finditer(text, low) if isinstance(p.regex, Folded)
                   else p.regex.finditer(text))
        for m in matches:
            if starts_inside_word(text, m.start()):
                continue
            group = next((g for g, v in m.groupdict().items() if v is not None), None)
            start, end = m.span(group) if group else m.span()
            if p.accept is None or p.accept(text[start:end]):
                yield start, end, p.kind


def redact(text: str) -> Redaction:
    """Replace secrets in `text` with `[REDACTED]` and count them.

    Covers private key blocks (PEM, OpenSSH, PGP, inside JSON too), passwords in URLs,
    bearer and basic authorization, provider keys and tokens (AWS key ids and secret keys,
    GitHub, GitLab, Slack tokens and webhooks, Stripe, OpenAI/Anthropic-style `sk-...`,
    Google, Azure connection strings and SAS signatures, and the detect-secrets provider
    detectors), JWTs, keyword assignments (`password=...`, `"api_key": "..."`) and secrets
    stated in prose ("my password is ...", "password: ..."). Ordinary text is unchanged.
    """
    low = text.lower()
    present = frozenset([g for g in _GATES if g in low])
    found = [*_pattern_spans(text, low, present), *library_spans(text, present),
             *keyword_spans(text, low, present)]
    # An already redacted value (a second pass, `password=[REDACTED]`) is not a secret.
    found = [s for s in found if text[s[0]:s[1]].strip("'\"") != REDACTED and s[1] > s[0]]
    if not found:
        return Redaction(text=text, count=0, kinds=())
    found.sort()
    merged: list[list[int]] = []
    for start, end, _kind in found:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    last = 0
    for start, end in merged:
        parts += [text[last:start], REDACTED]
        last = end
    parts.append(text[last:])
    kinds = tuple(dict.fromkeys(kind for _s, _e, kind in found))
    return Redaction(text="".join(parts), count=len(merged), kinds=kinds)
