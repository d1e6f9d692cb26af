"""Corrections read as an editor expects: letter by letter for a small fix inside a
word, word by word when whole words change; long text shortened in the queue only."""

from __future__ import annotations

import httpx
from dashboard_support import make_user, sign_in
from starlette.applications import Starlette

from feedback.dashboard.diff import correction_diff, word_diff
from feedback.dashboard.shorten import QUOTE_CHARS, shorten
from feedback.store.sites import Site
from tests.conftest import ORIGIN


def test_one_or_two_letters_inside_a_word_are_a_character_diff() -> None:
    assert correction_diff("recieve", "receive") == [
        ("equal", "rec"),
        ("ins", "e"),
        ("equal", "i"),
        ("del", "e"),
        ("equal", "ve"),
    ]
    assert correction_diff("адин раз", "один раз") == [
        ("del", "а"),
        ("ins", "о"),
        ("equal", "дин раз"),
    ]


def test_whole_words_changing_are_a_word_diff() -> None:
    assert correction_diff("He go home", "He went home") == [
        ("equal", "He "),
        ("del", "go"),
        ("ins", "went"),
        ("equal", " home"),
    ]
    # A character diff would have shown "H<del>ello</del><ins>i</ins>".
    assert correction_diff("Hello world", "Hi world") == [
        ("del", "Hello"),
        ("ins", "Hi"),
        ("equal", " world"),
    ]
    # Two one-letter fixes in two different words: word by word.
    assert correction_diff("teh cat sat on teh mat", "the cat sat on the mat") == word_diff(
        "teh cat sat on teh mat", "the cat sat on the mat"
    )


def test_word_diff_keeps_every_character() -> None:
    before, after = "Il a dit : « bonjour », puis il est parti.", "Il dit « salut » et part."
    pieces = word_diff(before, after)
    assert "".join(t for op, t in pieces if op != "ins") == before
    assert "".join(t for op, t in pieces if op != "del") == after


def test_shorten_cuts_at_a_word_and_marks_the_cut() -> None:
    text = "word " * 100
    short = shorten(text, 50)
    assert len(short) <= 51 and short.endswith("…") and not short.endswith(" …")
    assert shorten("short", 50) == "short"
    assert shorten("x" * 80, 50) == "x" * 50 + "…"


async def test_queue_shows_word_diff_and_shortened_text_report_page_whole(
    app: Starlette, client: httpx.AsyncClient, site: Site
) -> None:
    await make_user(app, "ed@example.com", "editor", [site])
    await sign_in(client, "ed@example.com")
    quote = "the council " + "met again on Tuesday and voted for the plan " * 6 + "in the end"
    comment = "Please look at this sentence carefully " * 12 + "THE-END"
    sent = await client.post(
        "/api/v1/reports",
        json={
            "site": site.key,
            "kind": "typo",
            "url": "https://example.com/a",
            "lang": "en",
            "quote": {"exact": quote, "prefix": "", "suffix": ""},
            "suggestion": quote.replace("the council", "a committee"),
            "comment": comment,
        },
        headers=ORIGIN,
    )
    assert sent.status_code == 201, sent.text
    page = (await client.get("/dashboard/")).text
    assert "<del>the council</del>" in page and "<ins>a committee</ins>" in page
    assert quote not in page and "THE-END" not in page
    assert shorten(quote, QUOTE_CHARS) in page and "Whole text" in page
    report = (await client.get("/dashboard/reports/1")).text
    assert quote in report and "THE-END" in report
