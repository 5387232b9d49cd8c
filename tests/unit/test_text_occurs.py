"""`text.occurs` answers what `text.whole_word` answers (issue 22): the entity lookup of
every write uses it instead of one regular expression per known name."""

from __future__ import annotations

import random

from fleetmem.memory.domain.text import occurs, whole_word, word_starts

WORDS = ["al", "also", "new", "york", "new york", "o'brien", "dr", "dr. smith", "smith",
         "café", "cafe", "ǆ", "x_y", "x", "42", "4", ".net", "net", "c++", "c", "İstanbul",
         "-", "a b", "b", "san josé", "josé"]
GLUE = [" ", "  ", ", ", ".", "-", "'", "_", "\n", "", "(", ")", "é", "1"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(GLUE) for _ in range(rng.randint(0, 12)))


def test_occurs_equals_the_regular_expression_on_every_case() -> None:
    rng = random.Random(22)
    checked = found = 0
    for _ in range(3000):
        lowered = _text(rng).lower()
        starts = word_starts(lowered)
        for term in WORDS:
            want = whole_word(lowered, [term])
            assert occurs(lowered, term, starts) is want, (lowered, term)
            checked += 1
            found += want
    assert 0.05 < found / checked < 0.5  # both answers were exercised


def test_occurs_on_the_cases_that_decide_it() -> None:
    text = "met al. at the new york office; also o'brien's cafe"
    starts = word_starts(text)
    assert occurs(text, "al", starts)
    assert occurs(text, "New York", starts)  # a term is compared lower-cased
    assert occurs(text, "york", starts)  # inside a longer name
    assert not occurs(text, "new yorker", starts)
    assert not occurs(text, "caf", starts)  # a prefix of a word is no word
    assert not occurs(text, "o'brie", starts)
    assert occurs(text, "o'brien", starts)
    assert not occurs(text, "offic", starts)
    assert occurs("use .net here", ".net", word_starts("use .net here"))  # the fallback
    assert not occurs("use dotnet", ".net", word_starts("use dotnet"))
