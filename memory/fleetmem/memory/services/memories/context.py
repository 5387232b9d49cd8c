"""What the keyword search matches for a memory besides its text, and never shows: the
preceding turn of the same writer's conversation, the memory's event date, and the dates
its relative expressions ("yesterday", "last week") mean, resolved against that event time
when it is written. Dates in a question are resolved the same way (against now) into the
same tokens, so "what happened in October 2023?" matches memories of that month.

Phrases that may be dates are found by a short pattern; what they mean is left to
dateparser (English, offline, imported on first use).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|"
           "november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_UNITS = r"day|days|week|weeks|weekend|month|months|year|years"
_NUM = r"\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|a|a couple of|a few"
RELATIVE = re.compile(
    rf"\b(?:yesterday|today|tonight|tomorrow|(?:last|next|this|past) (?:{_UNITS}|{_DAYS}|"
    rf"{_MONTHS})|(?:{_NUM}) (?:{_UNITS}) (?:ago|from now))\b", re.IGNORECASE)
"""Relative expressions in a memory's text (resolved against its event time)."""
ABSOLUTE = re.compile(
    rf"\b(?:(?:\d{{1,2}}(?:st|nd|rd|th)? )?(?:{_MONTHS})(?: \d{{1,2}}(?:st|nd|rd|th)?)?,? "
    rf"\d{{4}}|(?:{_MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?|\d{{4}}-\d{{2}}-\d{{2}})\b",
    re.IGNORECASE)
"""Calendar dates with a year (or a month and day) in a question or a text."""
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_DAY = re.compile(r"\b\d{1,2}(?:st|nd|rd|th)?\b|\d{4}-\d{2}-\d{2}")
MAX_PHRASES = 8

_parser: Any = None


def _parse(phrase: str, base: datetime) -> datetime | None:
    global _parser
    if _parser is None:
        import dateparser  # type: ignore[import-untyped]

        _parser = dateparser
    try:
        found = _parser.parse(phrase, languages=["en"], settings={
            "RELATIVE_BASE": base.replace(tzinfo=None), "PREFER_DATES_FROM": "past",
            "RETURN_AS_TIMEZONE_AWARE": False})
    except Exception:  # noqa: BLE001 - an unparsable phrase is no date, never an error
        logger.debug("date phrase not understood: %r", phrase)
        return None
    return found.replace(tzinfo=UTC) if isinstance(found, datetime) else None


def date_tokens(when: datetime, *, day: bool = True) -> str:
    """Searchable words for a date: "8 May 2023 Monday d20230508 m202305 y2023"
    (without the day for a month)."""
    month = f"{when:%B %Y} m{when:%Y%m} y{when:%Y}"
    return f"{when.day} {month} {when:%A} d{when:%Y%m%d}" if day else month


def _phrases(text: str, pattern: re.Pattern[str]) -> list[str]:
    return list(dict.fromkeys(m.group(0) for m in pattern.finditer(text)))[:MAX_PHRASES]


def resolved_dates(text: str, base: datetime) -> list[str]:
    """Date tokens of the relative expressions and dates in a text, against `base`."""
    out: list[str] = []
    for phrase in [*_phrases(text, RELATIVE), *_phrases(text, ABSOLUTE)]:
        when = _parse(phrase, base)
        if when is not None:
            out.append(date_tokens(when, day=_has_day(phrase)))
    return out


def _has_day(phrase: str) -> bool:
    """Whether a date phrase names a day (not only a month or a year)."""
    low = phrase.lower()
    month_only = bool(re.search(rf"\b(?:{_MONTHS})\b", low)) \
        and not _DAY.search(_YEAR.sub("", low))
    return not (any(w in low for w in ("month", "year")) or month_only)


def keyword_context(text: str, event_time: datetime, preceding: str | None,
                    following: str | None = None) -> str:
    """The keyword context of a memory written with this text and event time, after
    `preceding` and before `following` (the turns of the writer's conversation around
    it, if any: see `turns`)."""
    parts = [date_tokens(event_time), *resolved_dates(text, event_time)]
    parts += [t for t in (preceding, following) if t]
    return "\n".join(parts)


def query_dates(query: str, now: datetime) -> list[str]:
    """Date tokens the question names ("last May", "October 2023", "yesterday"), against
    now, as extra keyword terms ("m202310"): only the tokens, so a month without a year
    still matches by its name in the texts."""
    tokens: list[str] = []
    for phrase in [*_phrases(query, RELATIVE), *_phrases(query, ABSOLUTE)]:
        when = _parse(phrase, now)
        if when is None:
            continue
        tokens.append(f"d{when:%Y%m%d}" if _has_day(phrase) else f"m{when:%Y%m}")
    return list(dict.fromkeys(tokens))


def names_dates(text: str) -> bool:
    """Whether a text holds a phrase that may be a date (cheap: no parsing)."""
    return bool(RELATIVE.search(text) or ABSOLUTE.search(text))
