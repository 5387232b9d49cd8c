"""detect-secrets' provider detectors, called on a text without its file scanning machinery.

Each plugin's `analyze_string` yields raw secret values (not positions); `library_spans`
finds where each value sits in the text. Plugins are built once, on first use (the
library's import pulls in `requests`, ~0.25 s, which a CLI start should not pay), and each
runs only when a cheap gate (a literal its pattern needs) is in the text: the library's
regexes cost 5-100 us each on a 200-character text, so running all of them every time
would cost more than the rest of redaction together.

Not used, and why:
- KeywordDetector: its case-insensitive patterns cost ~1.2 ms on a 160-character text;
  `redaction_rules` implements the same keyword assignments (and prose) in one pattern.
- GitHubTokenDetector, GitLabTokenDetector: yield the token's prefix group ("ghp"), not
  the token; NpmDetector: yields everything to the end of the line; PrivateKeyDetector:
  yields the BEGIN line only. Our own patterns cover those shapes with exact positions.
- IbmCloudIamDetector, IbmCosHmacDetector: their name prefix is optional, so they are
  generic `key|password|token = <44 or 48 characters>` rules (the keyword rules cover
  those) costing 1.3-1.6 ms each on an 8,000-character text that mentions a key.
- IPPublicDetector: an IP address is not a credential; high-entropy string detectors flag
  any quoted hash or id (git SHAs) in prose; their entropy measure is used for keyword
  values instead (`entropy`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

# A value shorter than this is never searched for (it would match inside ordinary words);
# below _BOUNDED only occurrences not inside a longer word count.
_MIN_VALUE = 8
_BOUNDED = 16
_ALNUM = re.compile(r"[A-Za-z0-9]")


def _as_is(value: str) -> str | None:
    return value


def _after_equals(value: str) -> str | None:
    # AzureStorageKeyDetector yields "AccountKey=<key>": keep the label readable.
    return value.split("=", 1)[1] if "=" in value else value


def _with_digit(value: str) -> str | None:
    # ArtifactoryDetector's match includes the delimiters around the token, and its
    # "AP[0-9A-F]..." shape also fits upper-case words: a token must hold a digit.
    value = value.strip(" \t\r\n=:\"")
    return value if any(c.isdigit() for c in value) else None


@dataclass(frozen=True, slots=True)
class _Detector:
    """One library plugin: its module and class, our kind name, its gate, how to read it.

    The plugin runs only when the lower-cased text holds one of the `gate` literals and,
    if set, `pattern` matches (a shape the plugin's own pattern needs).
    """

    module: str
    name: str
    kind: str
    gate: tuple[str, ...]
    pattern: re.Pattern[str] | None = None
    clean: Callable[[str], str | None] = _as_is


_DETECTORS: tuple[_Detector, ...] = (
    _Detector("aws", "AWSKeyDetector", "aws_key", ("akia", "asia", "a3t", "abia", "acca", "aws")),
    _Detector("azure_storage_key", "AzureStorageKeyDetector", "azure_key", ("accountkey=",),
              clean=_after_equals),
    _Detector("basic_auth", "BasicAuthDetector", "url_password", ("://",)),
    _Detector("jwt", "JwtTokenDetector", "jwt", ("eyj",)),
    _Detector("slack", "SlackDetector", "slack_token", ("xox", "hooks.slack")),
    _Detector("stripe", "StripeDetector", "stripe_key", ("k_live_",)),
    _Detector("openai", "OpenAIDetector", "api_key", ("t3blbkfj",)),
    _Detector("pypi_token", "PypiTokenDetector", "pypi_token", ("pypi-",)),
    _Detector("sendgrid", "SendGridDetector", "sendgrid_key", ("sg.",)),
    _Detector("square_oauth", "SquareOAuthDetector", "square_token", ("sq0csp-",)),
    _Detector("mailchimp", "MailchimpDetector", "mailchimp_key", ("-us",)),
    _Detector("telegram_token", "TelegramBotTokenDetector", "telegram_token", (":",),
              re.compile(r"\d{8}:")),
    _Detector("twilio", "TwilioKeyDetector", "twilio_key", ("ac", "sk"),
              re.compile(r"(?:AC|SK)[a-z0-9]{32}")),
    _Detector("discord", "DiscordBotTokenDetector", "discord_token", (".",),
              re.compile(r"[MNO][\w-]{23,25}\.")),
    _Detector("artifactory", "ArtifactoryDetector", "artifactory_token", ("akc", "ap"),
              re.compile(r"AKC|AP[0-9A-F]"), _with_digit),
    _Detector("cloudant", "CloudantDetector", "cloudant_key", ("cloudant",)),
    _Detector("softlayer", "SoftlayerDetector", "softlayer_key",
              ("softlayer", "sl_", "sl-", "slapi", "slkey", "slpass", "slpw", "sltoken")),
)


LIBRARY_GATES = frozenset(g for d in _DETECTORS for g in d.gate)


@cache
def _plugins() -> tuple[tuple[_Detector, Any], ...]:
    """The library's plugin instances, built once (imported on first use)."""
    import importlib

    built = []
    for d in _DETECTORS:
        module = importlib.import_module(f"detect_secrets.plugins.{d.module}")
        built.append((d, getattr(module, d.name)()))
    return tuple(built)


@cache
def _entropy_plugin() -> Any:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return Base64HighEntropyString()


def entropy(value: str) -> float:
    """Shannon entropy of `value` over the base64 alphabet (detect-secrets' measure)."""
    return float(_entropy_plugin().calculate_shannon_entropy(value))


def _occurrences(text: str, value: str) -> Iterator[tuple[int, int]]:
    start = text.find(value)
    while start >= 0:
        end = start + len(value)
        inside_word = ((start > 0 and _ALNUM.match(text[start - 1]) is not None)
                       or (end < len(text) and _ALNUM.match(text[end]) is not None))
        if len(value) >= _BOUNDED or not inside_word:
            # A value the library cut short (a fixed-length pattern) takes the rest of
            # its token with it.
            while start > 0 and _ALNUM.match(text[start - 1]):
                start -= 1
            while end < len(text) and _ALNUM.match(text[end]):
                end += 1
            yield start, end
        start = text.find(value, end)


def library_spans(text: str, present: frozenset[str]) -> list[tuple[int, int, str]]:
    """Spans (start, end, kind) of the secrets detect-secrets' plugins find in `text`
    (`present`: the gate literals the lower-cased text holds)."""
    spans: list[tuple[int, int, str]] = []
    for detector, plugin in _plugins():
        if present.isdisjoint(detector.gate) or (
                detector.pattern is not None and detector.pattern.search(text) is None):
            continue
        for raw in plugin.analyze_string(text):
            value = detector.clean(str(raw))
            if value is None or len(value) < _MIN_VALUE:
                continue
            spans.extend((s, e, detector.kind) for s, e in _occurrences(text, value))
    return spans
