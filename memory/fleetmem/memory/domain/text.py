"""Text rules (pure): normalisation for dedup, ids, token estimates, input limits."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

from fleetmem.memory.errors import InvalidInput

_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Lone UTF-16 surrogates are not Unicode text: no store or index can encode them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize(text: str) -> str:
    """Fold case, Unicode form and white space so that near-identical texts compare equal."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WS.sub(" ", folded).strip(" .!?;:")


_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def numbers_in(text: str) -> frozenset[str]:
    """The numbers a text states (versions, ports, amounts): facts that differ in them differ."""
    return frozenset(_NUMBER.findall(text))


def content_words(text: str) -> frozenset[str]:
    """The words a statement is made of, without stopwords, case or a plural `s`.

    Two texts are near-duplicates only when these sets are equal: an embedding rates
    "the deploy host is alpha" and "the deploy host is omega" above 0.96, and merging
    them would swallow the second claim.
    """
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss")
                     else w for w in keyword_terms(text, limit=10_000))


def content_hash(namespace: str, text: str) -> str:
    """Return the dedup key of a text within a namespace."""
    return hashlib.sha256(f"{namespace}\x1f{normalize(text)}".encode()).hexdigest()


def new_id() -> str:
    """Return a new random id (a canonical UUID, which every store accepts as a key)."""
    return str(uuid.uuid4())


def validate_id(value: object, field_name: str = "id") -> str:
    """Return `value` as a canonical UUID string or raise `InvalidInput`."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            pass
        else:
            if str(parsed) == value.lower():
                return str(parsed)
    raise InvalidInput(
        f"{field_name} must be a memory id such as '3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10' "
        "(a UUID as returned by remember)",
        field=field_name,
        rule="id_format",
    )


def clean_text(value: object, field_name: str, *, max_chars: int, allow_empty: bool = False) -> str:
    """Validate a user-supplied text: a string, not blank, no NUL/control bytes, bounded."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name} must be a string", field=field_name, rule="type")
    if _CONTROL.search(value):
        raise InvalidInput(
            f"{field_name} contains control characters (e.g. NUL); remove them",
            field=field_name,
            rule="control_characters",
        )
    if _SURROGATE.search(value):
        raise InvalidInput(
            f"{field_name} contains a lone surrogate (e.g. \\ud800), which is not valid "
            "Unicode; send UTF-8 text",
            field=field_name,
            rule="invalid_unicode",
        )
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{field_name} must not be empty", field=field_name, rule="not_empty")
    if len(value) > max_chars:
        raise InvalidInput(
            f"{field_name} is {len(value)} characters; the limit is {max_chars}. "
            "Split it into several memories",
            field=field_name,
            rule="max_length",
        )
    return value


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters a token) for `max_tokens` budgets."""
    return max(1, (len(text) + 3) // 4)


_WORD = re.compile(r"\w+")
_STOPWORD_TEXT = (
    "a about also an and are as at be been but by can could did do does for from had has "
    "have how i "
    "if in into is it its me my no not of on or our so than that the their them then there "
    "these they this to us was we were what when where which who whom why will with would "
    "you your should shall must might")
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def keyword_terms(text: str, limit: int = 32) -> list[str]:
    """The words a keyword search looks for: lower-cased, deduplicated, no stopwords.

    Stopwords are dropped because OR-ing "the" or "is" matches nearly every row and makes
    BM25 rank the whole table. Terms are letters, digits and underscores only, so quoting
    them keeps any query syntax (FTS5, Lucene) from leaking in.
    """
    terms = [t for t in _WORD.findall(text.lower()) if len(t) > 1 and t not in STOPWORDS]
    return list(dict.fromkeys(terms))[:limit]


_SUFFIXES = ("ers", "er", "ing", "ed", "es", "s")


def stem(word: str) -> str:
    """A crude English stem, enough to meet 'owns', 'owner' and 'owned' at 'own'."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def asks_about(text: str, relation_type: str) -> bool:
    """Whether a question names a relation type by one of its words ('who owns X?' and
    `owned_by`; 'the owner of X' too), so recall may follow that relation one hop."""
    words = {stem(w) for w in keyword_terms(text)}
    return any(stem(w) in words for w in keyword_terms(relation_type.replace("_", " ")))


def or_query(text: str) -> str:
    """A full-text OR-query of quoted keyword terms, valid for both FTS5 and Lucene."""
    return " OR ".join(f'"{t}"' for t in keyword_terms(text))


def whole_word(text_lower: str, names: Sequence[str]) -> bool:
    """Whether any name occurs in the text as whole words (so 'Al' does not match 'also')."""
    return any(re.search(rf"(?<!\w){re.escape(n.lower())}(?!\w)", text_lower) for n in names)


_WORD_CHAR = re.compile(r"\w")


def word_starts(text_lower: str) -> dict[str, list[int]]:
    """Where each word (a maximal run of word characters) of a text begins, by word."""
    starts: dict[str, list[int]] = {}
    for m in _WORD.finditer(text_lower):
        starts.setdefault(m.group(), []).append(m.start())
    return starts


def occurs(text_lower: str, term: str, starts: Mapping[str, Sequence[int]]) -> bool:
    """`whole_word(text_lower, [term])`, answered from where the term's first word begins
    in the text (`starts`, from `word_starts`) instead of a regular expression run over
    the whole text: a write's entity lookup checks thousands of known names against its
    64 texts at once, and those searches were a fifth of a thread at 1M memories, with
    the GIL held (bench/OTHER_RUNS.md, issue 22). A term that does not begin with a word
    character takes the regular expression."""
    term = term.lower()
    first = _WORD.match(term)
    if first is None:
        return whole_word(text_lower, [term])
    end = len(term)
    return any(text_lower.startswith(term, p) and _WORD_CHAR.match(text_lower, p + end) is None
               for p in starts.get(first.group(), ()))


def encode_cursor(namespace: str, name_lower: str) -> str:
    """Opaque paging cursor for graph reads (same format on every store)."""
    # UTF-8, not \u escapes: a 200-emoji name must still fit the 2000-character bound
    # on cursors (escaped, it made a 3300-character cursor REST then refused).
    raw = json.dumps([namespace, name_lower], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None) -> tuple[str, str]:
    """Inverse of encode_cursor; a bad cursor restarts from the beginning."""
    if not cursor:
        return ("", "")
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        for part in (ns, name):
            str(part).encode()  # a forged cursor may hold lone surrogates: restart
        return (str(ns), str(name))
    except (ValueError, TypeError):
        return ("", "")


# Texts the service writes for graph facts (observations, relations, entity edits) -------

class RelationLike(Protocol):
    """Anything with a relation's three parts (a request spec or a stored relation)."""

    @property
    def from_entity(self) -> str: ...
    @property
    def relation_type(self) -> str: ...
    @property
    def to_entity(self) -> str: ...


def observation_text(entity: str, observation: str) -> str:
    """The memory text written for an observation."""
    return f"{entity}: {observation}"


def relation_text(r: RelationLike) -> str:
    """The memory text written for a relation."""
    return f"{r.from_entity} {r.relation_type.replace('_', ' ')} {r.to_entity}"


def mirror_key(namespace: str, record: str) -> str:
    """The dedup key of a memory written to mirror a graph record (see `relation_record`,
    `observation_record`, `fact_record`): derived from the record's identity, never from a
    text a caller sends, so a graph delete finds exactly the memory written for what it
    deleted and never an ordinary memory that happens to read the same."""
    return hashlib.sha256(f"{namespace}\x1fmirror\x1f{record}".encode()).hexdigest()


def relation_record(r: RelationLike) -> str:
    """The identity of a relation within its namespace (endpoints compare case-blind)."""
    return f"relation\x1f{r.from_entity.lower()}\x1f{r.relation_type}\x1f{r.to_entity.lower()}"


def observation_record(entity: str, observation: str) -> str:
    """The identity of one observation of an entity within its namespace."""
    return f"observation\x1f{entity.lower()}\x1f{observation}"


def fact_record(text: str) -> str:
    """The identity of an entity fact (type, alias, tag, rename) from `fact_texts`."""
    return f"fact\x1f{normalize(text)}"


def fact_texts(name: str, entity_type: str, aliases: Sequence[str],
               tags: Sequence[str]) -> list[str]:
    """Memory texts that mirror an entity's type, aliases and tags (written on edits)."""
    article = "an" if entity_type[:1].lower() in "aeiou" else "a"
    return [f"{name} is {article} {entity_type}",
            *(f"{name} is also known as {a}" for a in aliases),
            *(f"{name} is tagged {t}" for t in tags)]


def rewrite_links(text: str, old: str, new: str) -> str:
    """Point `[[old]]`, `[[folder/old|shown]]` and `[[old#heading]]` links at `new`."""
    pattern = re.compile(r"\[\[((?:[^\[\]|#^]*/)?)" + re.escape(old) + r"(?=[\]|#^])",
                         re.IGNORECASE)
    return pattern.sub(lambda m: f"[[{m.group(1)}{new}", text)
