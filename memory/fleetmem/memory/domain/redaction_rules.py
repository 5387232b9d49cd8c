"""Secrets named by a keyword: `password=...`, `"api_key": "..."`, "my password is ...".

A keyword names the value after it; whether the value is a secret depends on how sure the
keyword is and how the value looks:
- strong keywords (password, passphrase, secret, ...) in code (`=`, a quoted value):
  any value of 6+ characters that is not a placeholder (`${VAR}`, `<your password>`,
  `None`, a call, an upper-case constant, a path);
- the same keywords in prose (`password: ...` unquoted, "... is ..."): the value must not
  be a plain word ("Password: required", "the password is stored in Vault");
- weak keywords (token, api key, access key, credentials, ...): the value must look
  random: letters and digits (8+), or long and high in entropy ("token_type=bearer" and
  "max_tokens=4096" are not secrets);
- PIN: 4 to 12 digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fleetmem.memory.domain.redaction_library import entropy


class Folded:
    """A case-insensitive pattern, written in lower case, run on the lower-cased text.

    Python's IGNORECASE scan tries the pattern at every position; a case-sensitive one
    skips ahead to its first literal (20-50 times faster on long texts). Positions are the
    original text's when lower-casing kept its length (a few non-ASCII letters grow);
    otherwise the pattern runs with IGNORECASE on the original text.
    """

    __slots__ = ("folded", "_ignorecase")

    def __init__(self, pattern: str) -> None:
        self.folded = re.compile(pattern)
        self._ignorecase: re.Pattern[str] | None = None  # compiled when first needed

    def finditer(self, text: str, low: str) -> Iterator[re.Match[str]]:
        """Matches over `text`; group positions index `text` (their content may be `low`'s:
        read values from `text`)."""
        if len(low) == len(text):
            return self.folded.finditer(low)
        if self._ignorecase is None:
            self._ignorecase = re.compile(self.folded.pattern, re.IGNORECASE)
        return self._ignorecase.finditer(text)


def starts_inside_word(text: str, start: int) -> bool:
    """A match that starts in the middle of a word (what a leading `\\b` would refuse)."""
    return (start > 0 and (text[start].isalnum() or text[start] == "_")
            and (text[start - 1].isalnum() or text[start - 1] == "_"))


_STRONG = (r"password|passwd|passphrase|passcode|pwd|secret|private[_\-]?key|"
           r"master[_\-]?key|encryption[_\-]?key|signing[_\-]?key")
_WEAK = (r"token|api[_\-]?key|apikey|access[_\-]?key|auth[_\-]?key|account[_\-]?key|"
         r"client[_\-]?key|session[_\-]?key|credentials?")

# A key name ends with a keyword (optionally "key"/"value"/"token"): DB_PASSWORD,
# aws_secret_access_key, clientSecret, X-API-Key; not password_policy, max_tokens. The scan
# takes every `name = value` / `name: value` pair (the name possessive, so a failed match
# costs one pass), then checks how the name ends.
_KEY_END = re.compile(
    rf"(?:(?P<strong>{_STRONG})|(?P<weak>{_WEAK}))(?:[_\-]?(?:key|value|string|token))?$",
    re.IGNORECASE)
# A quoted value ends at its own quote ("it's-x1" is one value).
_QUOTED = r"(?P<q>[\"'`])(?P<qv>(?:(?!(?P=q))[^\n]){1,200})(?P=q)"
_BARE = r"(?P<bv>[^\s\"'`,;]+)"
# The value is read in a look-ahead, so a pair whose name is no keyword does not swallow
# the pairs inside its value (`https://host/x?token=...`).
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z0-9_.\-]++)[\"'`]?\]?[ \t]*(?P<sep>:=|=>|==?|:)"
    rf"(?=[ \t]*(?:{_QUOTED}|{_BARE}))")
# "my password is hunter2", "the password for the staging db is 'x'", "secret was ...".
_PROSE = Folded(
    r"(?:(?P<strong>password|passwd|passphrase|passcode|pwd|secret(?:[ _\-]key)?)"
    r"|(?P<weak>token|api[ _\-]?key|access[ _\-]?key|credentials?))\b"
    r"(?:\s+(?:for|of|to|on|at)(?:\s+[\w.@:/\-]+){1,4}?)?\s+(?:is|was)\s*:?\s+"
    r"(?:(?P<q>[\"'`\u2018\u201c])(?P<qv>[^\"'`\u2018\u2019\u201c\u201d\n]{1,100})"
    r"[\"'`\u2019\u201d]|(?P<bv>[^\s\"'`,;]+))")
_PIN = Folded(
    r"pin(?:[ _\-]?(?:code|number))?\b(?:\s+(?:for|of|to|on|at)(?:\s+[\w.@:/\-]+){1,4}?)?"
    r"\s*(?:\bis\b|\bwas\b|:|=)\s*(?P<bv>\d{4,12})(?![\d.,]\d|\w)")

_TRAILING = ".,:;)]}"
_PLACEHOLDER_START = ("$", "%", "{", "<", "[", "#{", "/", "./", "../", "~/")
_NOT_VALUES = frozenset({"none", "null", "nil", "true", "false", "undefined", "empty",
                         "missing", "unset", "n/a"})
_WORD = re.compile(r"[A-Za-z][a-z]*")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_REFERENCE = re.compile(r"[A-Za-z_]+(?:\.[A-Za-z_]+)+")
_CALL = re.compile(r"[A-Za-z_][\w.]*\(.*\)")
_MASK = re.compile(r"[*x.\-_•]+", re.IGNORECASE)


def _placeholder(value: str) -> bool:
    """A value that stands for a secret instead of being one."""
    return (value.startswith(_PLACEHOLDER_START) or value.lower() in _NOT_VALUES
            or _CONSTANT.fullmatch(value) is not None
            or _REFERENCE.fullmatch(value) is not None
            or _CALL.fullmatch(value) is not None or _MASK.fullmatch(value) is not None
            or re.match(r"[A-Za-z]:\\", value) is not None)


def _random_looking(value: str) -> bool:
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return ((len(value) >= 8 and has_digit and has_alpha)
            or (len(value) >= 20 and entropy(value) > 4.0))


def _is_secret(value: str, *, strong: bool, prose: bool, quoted: bool) -> bool:
    if _placeholder(value):
        return False
    if not strong:
        return _random_looking(value)
    if len(value) < (4 if quoted else 6):
        return False
    return not (prose and not quoted and _WORD.fullmatch(value))


def _value(m: re.Match[str], text: str) -> tuple[int, int, bool]:
    """The value's span, trailing punctuation excluded, and whether it was quoted."""
    if m.group("qv") is not None:
        return m.start("qv"), m.end("qv"), True
    start, end = m.start("bv"), m.end("bv")
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    return start, end, False


_KEYWORDS = frozenset({"pass", "pwd", "secret", "key", "token", "credential"})
_SEPARATORS = frozenset({"=", ":"})
_VERBS = frozenset({"is", "was"})
KEYWORD_GATES = _KEYWORDS | _SEPARATORS | _VERBS | {"pin"}


def keyword_spans(text: str, low: str,
                  present: frozenset[str]) -> Iterator[tuple[int, int, str]]:
    """Spans (start, end, kind) of secrets named by a keyword in `text` (`present`: the
    gate literals its lower-cased form holds; a text without a keyword costs nothing)."""
    if "pin" in present:
        for m in _PIN.finditer(text, low):
            if not starts_inside_word(text, m.start()):
                yield m.start("bv"), m.end("bv"), "prose_secret"
    if present.isdisjoint(_KEYWORDS):
        return
    if not present.isdisjoint(_SEPARATORS):
        for m in _ASSIGNMENT.finditer(text):
            key = _KEY_END.search(m.group("key"))
            if key is None:
                continue
            start, end, quoted = _value(m, text)
            if m.start() > 0 and text[m.start() - 1] in "?&" and not quoted:
                # A URL query parameter (`?token=...&page=2`) ends at the next one.
                end = start + len(re.split(r"[&#]", text[start:end], maxsplit=1)[0])
            prose = m.group("sep") == ":" and not quoted
            if _is_secret(text[start:end], strong=key.group("strong") is not None,
                          prose=prose, quoted=quoted):
                yield start, end, "assigned_secret"
    if present.isdisjoint(_VERBS):
        return
    for m in _PROSE.finditer(text, low):
        if starts_inside_word(text, m.start()):
            continue
        start, end, quoted = _value(m, text)
        if _is_secret(text[start:end], strong=m.group("strong") is not None, prose=True,
                      quoted=quoted):
            yield start, end, "prose_secret"
