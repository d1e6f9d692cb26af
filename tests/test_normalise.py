"""Canonical forms of page addresses and readers' text."""

from __future__ import annotations

import random
import unicodedata

import pytest

from feedback.normalise import (
    TextError,
    UrlError,
    clean_context,
    clean_line,
    clean_text,
    normalise_origin,
    normalise_url,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.com/a#frag", "https://example.com/a"),
        ("HTTPS://EXAMPLE.com/Path", "https://example.com/Path"),
        ("https://example.com", "https://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a?utm_source=x&id=3&UTM_Campaign=y", "https://example.com/a?id=3"),
        ("https://example.com/a?gclid=1&fbclid=2&q=typo", "https://example.com/a?q=typo"),
        ("https://example.com/a?q=a+b&empty=", "https://example.com/a?q=a+b&empty="),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_url_is_normalised(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com/",
        "//example.com/a",
        "https://",
        "https://exa mple.com/",
        "https://example.com/\x00",
        "https://example.com:99999/",
    ],
)
def test_unacceptable_urls_are_refused(raw: str) -> None:
    with pytest.raises(UrlError):
        normalise_url(raw)


def test_one_line_text_is_nfc_without_controls_and_collapsed() -> None:
    assert clean_line("  Cafe\u0301 \t au\x00 lait\u2028now ") == "Caf\u00e9 au lait now"


def test_quote_context_keeps_the_space_next_to_the_quote() -> None:
    assert clean_context("said  the ") == "said the "
    assert clean_context("\u00a0said") == " said"


def test_quote_context_keeps_block_boundaries_as_one_line_break() -> None:
    assert clean_context(" and\nthen") == " and\nthen"
    assert clean_context("Heading \n\n  First\r\nline  ") == "Heading\nFirst\nline "
    assert clean_context("\n") == "\n"


def test_free_text_keeps_paragraphs() -> None:
    assert clean_text("one\r\ntwo  \x07three\n\n\n\n\nfour ") == "one\ntwo three\n\nfour"


def test_bidi_controls_are_kept_as_sent() -> None:
    # Right-to-left overrides are format characters, not controls: they are stored as
    # sent and made harmless where they are shown.
    assert clean_line("abc\u202edef") == "abc\u202edef"


@pytest.mark.parametrize("fn", [clean_line, clean_context, clean_text, normalise_url])
def test_lone_surrogates_are_refused(fn) -> None:
    with pytest.raises(TextError):
        fn("bad \ud83d text")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Example.com/", "https://example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://example.com:443", "https://example.com"),
    ],
)
def test_origins_are_normalised(raw: str, expected: str) -> None:
    assert normalise_origin(raw) == expected


@pytest.mark.parametrize("raw", ["https://example.com/path", "example.com", "ftp://x.example"])
def test_bad_origins_are_refused(raw: str) -> None:
    with pytest.raises(UrlError):
        normalise_origin(raw)


def reference_line(value: str) -> str:
    """The one-line rule written out plainly: control characters gone, the ones that
    separate words turned into spaces; NFC; whitespace runs collapsed; no space at
    either end."""
    out = []
    for ch in value:
        if ch in "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029":
            out.append(" ")
        elif unicodedata.category(ch) != "Cc":
            out.append(ch)
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


def test_cleaners_agree_with_the_plain_rule_on_random_text() -> None:
    # Plain ASCII takes a shortcut through the cleaners; both ways must give the same.
    rng = random.Random(7)
    alphabet = "ab .,\t\n\r\x00\x1f\x7f\x85\xa0é\u0301\u2028"
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        expected = reference_line(value)
        assert clean_line(value) == expected, repr(value)
        context = clean_context(value)
        assert " ".join(context.split()) == expected, repr(value)
        assert "  " not in context and "\n\n" not in context, repr(value)
        assert clean_text(value).replace("\n", " ").split() == expected.split(), repr(value)
        assert clean_line(expected) == expected  # cleaning twice changes nothing
