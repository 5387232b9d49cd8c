"""Names in plain text, without a model (issue 18): the speaker of a conversation turn
("Joanna: Bye Nate!") and the capitalised names a text mentions.

The rules are deliberately plain, so they cost microseconds and need no download:
- a leading `Name:` (one to three capitalised words, then a colon and a space) is the
  turn's speaker, unless the word is a label such as "Note" or "Update";
- a run of capitalised words (at most four) is a name when it does not start a sentence
  (a sentence's first word is capitalised whatever it is) and its words are not in the
  stop list (pronouns, greetings, months, weekdays, titles and common function words
  break a run: "Thanks Caroline" gives "Caroline").
A single-word name found this way counts as mentioned later only where a text capitalises
it as written (`mentions`), so an entity "Pride" is not linked to "I take pride in it";
names of several words are matched case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fleetmem.memory.domain.text import STOPWORDS


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_NAME_WORDS = 4
"""A longer run of capitalised words is a title or shouting, not a name."""

_SPEAKER = re.compile(r"^\s*([^\W\d_][\w'’.-]*(?: [^\W\d_][\w'’.-]*){0,2}):[ \t]+\S")
_LABELS = _wordset("""
note notes update updates todo fixme warning warn decision status summary question answer
q a re fwd fyi important reminder error errors fix info tip tips context result results goal
goals action actions next step steps problem solution issue edit ps nb example examples
update date time when where who why what how today yesterday tomorrow rule rules policy
""")
_STOP = STOPWORDS | _wordset("""
i i'm i've i'll i'd im ive ill id he she you we they it his her hers its our their this
that these those there here hey hi hello thanks thank wow yes yeah yep no nope oh ok okay
bye dear congrats congratulations sure great cool awesome nice lol haha omg please sorry
good morning evening night well so and but or also just really very anyway btw
mr mrs ms miss dr prof sir madam
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
monday tuesday wednesday thursday friday saturday sunday
mondays tuesdays wednesdays thursdays fridays saturdays sundays weekend weekends
mon tue tues wed thu thurs fri sat sun
today tomorrow yesterday tonight
""")
_TOKEN = re.compile(r"[^\s]+")
_SENTENCE_END = frozenset(".!?:;\"“”")
_EDGE = "\"'“”‘’()[]{}<>*_,.!?:;"
_BREAK = frozenset(",;:.!?)\"”’")
_OPEN = frozenset("\"“(‘'")


def speaker_of(text: str) -> str | None:
    """The speaker of a conversation turn (`"Joanna: Bye Nate!"` -> "Joanna"), or None
    when the text has no leading `Name:` prefix (or it is a label like "Note:")."""
    m = _SPEAKER.match(text)
    if m is None:
        return None
    name = m.group(1).strip()
    if any(w.lower().strip(".") in _LABELS for w in name.split()):
        return None
    if not all(w[0].isupper() for w in name.split()):
        return None
    return name


@dataclass(frozen=True, slots=True)
class TextName:
    """A name found in a text and the entity type it gets when it is new."""

    name: str
    entity_type: str


PERSON = "person"
UNKNOWN = "unknown"
"""A capitalised name is a person, place, organisation or product: the rules cannot
tell which, and a wrong type would be worse than an honest one."""


def names_in(text: str, limit: int) -> list[TextName]:
    """The speaker (type "person") and the capitalised names of `text` (type "unknown"),
    in order of first appearance, at most `limit`, each name once (case-insensitively)."""
    out: dict[str, TextName] = {}
    if limit <= 0:
        return []
    body = text
    speaker = speaker_of(text)
    if speaker is not None:
        out[speaker.lower()] = TextName(speaker, PERSON)
        body = text.split(":", 1)[1]
    for name in _capitalised_runs(body):
        if len(out) >= limit:
            break
        out.setdefault(name.lower(), TextName(name, UNKNOWN))
    return list(out.values())[:limit]


def _capitalised_runs(text: str) -> list[str]:
    """Runs of capitalised, non-stop words that do not start a sentence."""
    runs: list[str] = []
    run: list[str] = []

    def close() -> None:
        if run and len(run) <= MAX_NAME_WORDS:
            runs.append(" ".join(run))
        run.clear()

    for line in text.splitlines():
        sentence_start, dropping = True, False
        for raw in _TOKEN.findall(line):
            word = raw.strip(_EDGE)
            for suffix in ("'s", "’s"):
                if word.endswith(suffix):
                    word = word[: -len(suffix)]
            starts = sentence_start
            sentence_start = raw.rstrip("\"'”’)]*_")[-1:] in _SENTENCE_END
            breaks = raw[-1:] in _BREAK or sentence_start
            if not _capitalised(word) or word.lower() in _STOP:
                close()
                dropping = False
                continue
            if starts:  # a run that starts a sentence is dropped whole ("New York is big")
                close()
                dropping = not breaks
                continue
            if dropping:
                dropping = not breaks
                continue
            if raw[:1] in _OPEN:
                close()
            run.append(word)
            if breaks:
                close()
        close()
    return runs


def _capitalised(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word[0].isalpha() and all(
        c.isalnum() or c in "'’-." for c in word)


def mentions(text: str, text_lower: str, term: str, *, strict: bool = True) -> bool:
    """Whether `text` mentions `term` (a known entity's name or alias) as whole words:
    case-insensitively for a name of several words, and for one word when not `strict`;
    a `strict` one-word name only as written or capitalised (so "pride" in running text
    does not mention an entity "Pride" that was found capitalised)."""
    if not strict or " " in term.strip():
        return re.search(rf"(?<!\w){re.escape(term.lower())}(?!\w)", text_lower) is not None
    forms = {term, term[:1].upper() + term[1:], term.upper()}
    return any(re.search(rf"(?<!\w){re.escape(f)}(?!\w)", text) for f in forms)


def same_speaker(a: str, b: str) -> bool:
    """Whether two texts are turns of the same speaker, or neither is a turn."""
    sa, sb = speaker_of(a), speaker_of(b)
    return (sa or "").lower() == (sb or "").lower()


def unique_names(names: Sequence[TextName]) -> dict[str, TextName]:
    """Names by their lower-cased form; a person wins over an unknown of the same name."""
    out: dict[str, TextName] = {}
    for n in names:
        key = n.name.lower()
        if key not in out or (n.entity_type == PERSON and out[key].entity_type != PERSON):
            out[key] = n
    return out
