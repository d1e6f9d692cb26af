"""Finding a reported quote in a page: real HTML parsing, tolerant matching, and a fuzzy
fallback that never takes a weak resemblance for the quote."""

from __future__ import annotations

import random

import pytest

from feedback.checker.extract import page_text
from feedback.checker.match import MIN_SCORE, Outcome, locate

PREFIX = "The council met on Tuesday. The mayor said that "
EXACT = "teh bridge"
SUFFIX = " would reopen in spring, after the repairs."
SENTENCE = PREFIX + EXACT + SUFFIX


def article(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!doctype html><html><head><title>teh bridge</title><style>p{}</style>"
        f"<script>var s = 'teh bridge';</script></head><body>{body}</body></html>"
    )


def where(html: str) -> Outcome:
    return locate(page_text(html), EXACT, PREFIX, SUFFIX).outcome


def test_text_extraction_skips_code_and_dissolves_inline_markup() -> None:
    text = page_text(
        "<html><head><title>x</title><script>alert(1)</script></head><body>"
        "<p>wo<b>r</b>d&nbsp;one &amp; two<br>three</p><div hidden>secret</div>"
        "<template>tpl</template><p>caf&eacute;</p></body></html>"
    )
    assert "alert" not in text and "secret" not in text and "tpl" not in text
    assert "word\u00a0one & two\nthree" in text and "café" in text


def test_found_through_markup_soft_hyphens_nbsp_and_line_breaks() -> None:
    html = article(
        "The council met on <em>Tues\u00adday</em>.\n  The mayor said&nbsp;that "
        "<a href='#'>teh</a>\n<span>bri&shy;dge</span> would reopen in spring, after the "
        "repairs."
    )
    assert where(html) == Outcome.FOUND


def test_fixed_when_the_quote_is_gone_but_its_context_stays() -> None:
    assert where(article("Intro.", SENTENCE.replace("teh", "the"), "Outro.")) == Outcome.FIXED
    # Fixed by rewording, and another edit nearby: the fuzzy fallback still places it.
    changed = SENTENCE.replace("teh bridge", "the old bridge").replace("Tuesday", "Monday")
    assert where(article(changed)) == Outcome.FIXED


def test_quote_that_moved_to_another_paragraph_is_still_found() -> None:
    html = article("Opening words.", "Other news first.", "Later on, " + SENTENCE)
    assert where(html) == Outcome.FOUND
    # Moved, with new surroundings: the quote itself, with a bit of context, is there.
    moved = article("In short, the mayor said that teh bridge would reopen.")
    assert where(moved) == Outcome.FOUND


def test_found_fuzzily_when_nearby_words_changed_but_the_typo_stayed() -> None:
    html = article(SENTENCE.replace("Tuesday", "Wednesday").replace("spring", "summer"))
    match = locate(page_text(html), EXACT, PREFIX, SUFFIX)
    assert match.outcome == Outcome.FOUND


def test_missing_when_neither_quote_nor_context_is_there() -> None:
    assert where(article("A recipe for soup: boil the water, add salt.")) == Outcome.MISSING
    # The title and a script mention the quote, but readers never see them.
    assert where(article("Nothing to see.")) == Outcome.MISSING


def test_a_weak_resemblance_never_counts_as_found() -> None:
    rng = random.Random(7)
    words = (PREFIX + EXACT + SUFFIX).split()
    for _ in range(30):
        shuffled = words[:]
        rng.shuffle(shuffled)
        # Same words, scrambled, with the typo replaced: a weak match at best.
        text = " ".join(w if w != "teh" else "a" for w in shuffled)
        match = locate(text, EXACT, PREFIX, SUFFIX)
        assert match.outcome != Outcome.FOUND
        if match.outcome == Outcome.MISSING:
            assert match.score < MIN_SCORE


def test_nothing_to_look_for_is_an_error() -> None:
    with pytest.raises(ValueError):
        locate("text", "  ")
