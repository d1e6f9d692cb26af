"""Finding a reader's quote, with its context, in a page's text, tolerantly.

Whitespace, soft hyphens, non-breaking spaces and zero-width characters are ignored, and
so is inline markup (the text arrives without it). When the exact context is not found,
a fuzzy search looks for the place that resembles it most; only a close resemblance
counts, and a weak one is never taken for the quote."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from rapidfuzz import fuzz

# Scores are 0-100 (rapidfuzz). Below this, a resemblance is not a match.
MIN_SCORE = 90.0
# Context shorter than this is too common to place a quote by, fuzzily.
MIN_FUZZY_CHARS = 16
# How much of the prefix and suffix locates the quote's place.
CONTEXT_CHARS = 32
# A quote at least this long is its own context: found anywhere on the page, it is there.
SELF_EVIDENT_CHARS = 12

_IGNORED = re.compile(r"[\s\u00ad\u200b\u200c\u200d\u2060\ufeff]+")


class Outcome(Enum):
    FOUND = "found"  # the quote is still on the page
    FIXED = "fixed"  # its context is there, the quote is not: looks fixed
    MISSING = "missing"  # neither the quote nor its context is on the page


@dataclass(frozen=True)
class Match:
    outcome: Outcome
    score: float  # how closely the place found resembles the reported text, 0-100


def squash(text: str) -> str:
    """Text as compared: composed, with everything a reader cannot see removed."""
    text = unicodedata.normalize("NFC", text.replace("\u00a0", " "))
    return _IGNORED.sub("", text)


def locate(page: str, exact: str, prefix: str = "", suffix: str = "") -> Match:
    """Where `prefix + exact + suffix` stands on the page, and what became of `exact`."""
    hay = squash(page)
    quote = squash(exact)
    before = squash(prefix)[-CONTEXT_CHARS:]
    after = squash(suffix)[:CONTEXT_CHARS]
    if not quote:
        raise ValueError("nothing to look for")
    if before + quote + after in hay:
        return Match(Outcome.FOUND, 100.0)
    if quote in hay and (
        len(quote) >= SELF_EVIDENT_CHARS
        or (before and before[-8:] + quote in hay)
        or (after and quote + after[:8] in hay)
    ):
        # The quote moved, or its surroundings were edited: it is still there.
        return Match(Outcome.FOUND, 100.0)
    if before and after and _context_closes_over_gap(hay, before, after, len(quote)):
        return Match(Outcome.FIXED, 100.0)
    return _fuzzy(hay, quote, before, after)


def _context_closes_over_gap(hay: str, before: str, after: str, quote_len: int) -> bool:
    """The context with something else where the quote stood (the correction)."""
    limit = quote_len * 3 + 24
    start = hay.find(before)
    while start != -1:
        gap_start = start + len(before)
        end = hay.find(after, gap_start, gap_start + limit + len(after))
        if end != -1:
            return True
        start = hay.find(before, start + 1)
    return False


def _fuzzy(hay: str, quote: str, before: str, after: str) -> Match:
    needle = before + quote + after
    if len(needle) < MIN_FUZZY_CHARS:
        return Match(Outcome.MISSING, 0.0)
    found = fuzz.partial_ratio_alignment(needle, hay, score_cutoff=MIN_SCORE)
    if found is None:
        best = fuzz.partial_ratio(needle, hay)
        return Match(Outcome.MISSING, best)
    spot = hay[max(0, found.dest_start - 4) : found.dest_end + 4]
    if quote in spot:
        return Match(Outcome.FOUND, found.score)
    # The place is there, but what stood in it changed: the reader's quote was edited.
    # Only the context can vouch for that, so it must carry most of the resemblance.
    context = before + after
    if len(context) >= MIN_FUZZY_CHARS and fuzz.partial_ratio(context, spot) >= MIN_SCORE - 10:
        return Match(Outcome.FIXED, found.score)
    return Match(Outcome.MISSING, found.score)
