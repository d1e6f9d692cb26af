"""Turning a report into what an editor sees: the text-fragment link to the quote,
the character-level correction diff, safe links and ages."""

from __future__ import annotations

import difflib
import time
import unicodedata
from urllib.parse import quote, urlsplit

LONG_QUOTE = 80
EDGE_WORDS = 4
CONTEXT_WORDS = 3
OLD_CONTEXT = 64


def _encode(part: str) -> str:
    # encodeURIComponent, plus "-" which the fragment syntax uses as its delimiter.
    return quote(part, safe="!'()*._~").replace("-", "%2D")


def _word_char(ch: str) -> bool:
    # Letters, digits and the joiners inside words ("don't", "re-use" are split by the
    # browser at the punctuation, so those are not word characters here).
    return ch.isalnum() or unicodedata.category(ch) in ("Mn", "Mc")


def widen_to_words(exact: str, prefix: str, suffix: str) -> tuple[str, str, str]:
    """The quote grown to whole words with the letters of its context that touch it, and
    what is left of the context: browsers match a fragment's outer ends only at word
    boundaries, so "eh" in "teh" must become "teh". In text without spaces (Chinese,
    Japanese) this grows to the nearest punctuation or space, which is always a boundary."""
    start = len(prefix)
    while start and exact[:1] and _word_char(exact[0]) and _word_char(prefix[start - 1]):
        start -= 1
    end = 0
    while end < len(suffix) and exact[-1:] and _word_char(exact[-1]) and _word_char(suffix[end]):
        end += 1
    return prefix[start:] + exact + suffix[:end], prefix[:start], suffix[end:]


def _context_words(context: str, before: bool) -> list[str]:
    """The few words of context nearest the quote, from its own block only (the widget marks
    block boundaries with a line break), leaving out a word cut off at the far end."""
    block = context.rpartition("\n")[2] if before else context.partition("\n")[0]
    words = block.split()
    # Widgets before block boundaries were marked cut the context at 64 characters,
    # wherever that fell; shorter context ran to the edge of its block, a word boundary.
    edge = block[:1] if before else block[-1:]
    if words and edge.strip() and "\n" not in context and len(context) >= OLD_CONTEXT:
        words = words[1:] if before else words[:-1]
    return words[-CONTEXT_WORDS:] if before else words[:CONTEXT_WORDS]


def text_fragment(exact: str, prefix: str = "", suffix: str = "") -> str:
    """`:~:text=[prefix-,]start[,end][,-suffix]` for a quote whose report has no verified
    fragment from the reader's browser: the quote widened to whole words, start,end for
    long ones, and a few words of context from its own block."""
    exact = " ".join(exact.split())
    if not exact:
        return ""
    exact, prefix, suffix = widen_to_words(exact, prefix, suffix)
    words = exact.split(" ")
    if len(exact) > LONG_QUOTE and len(words) > 2 * EDGE_WORDS:
        target = f"{_encode(' '.join(words[:EDGE_WORDS]))},{_encode(' '.join(words[-EDGE_WORDS:]))}"
    else:
        target = _encode(exact)
    before = " ".join(_context_words(prefix, before=True))
    after = " ".join(_context_words(suffix, before=False))
    if before:
        target = f"{_encode(before)}-,{target}"
    if after:
        target = f"{target},-{_encode(after)}"
    return ":~:text=" + target


def safe_href(url: str) -> str | None:
    """The URL if a browser may follow it from the dashboard (http or https), else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url.strip()
    return None


def quote_url(url: str, exact: str, prefix: str, suffix: str, verified: str = "") -> str | None:
    """The page at the quote: with the text fragment the reader's browser made and checked
    against the whole page when there is one, else one made here from the quote."""
    href = safe_href(url)
    if href is None:
        return None
    fragment = f":~:text={verified}" if verified else text_fragment(exact, prefix, suffix)
    base = href.split("#", 1)[0]
    return f"{base}#{fragment}" if fragment else base


def char_diff(before: str, after: str) -> list[tuple[str, str]]:
    """(op, text) pieces, op in equal/del/ins, for a before→after rendering."""
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("equal", before[i1:i2]))
            continue
        if i2 > i1:
            pieces.append(("del", before[i1:i2]))
        if j2 > j1:
            pieces.append(("ins", after[j1:j2]))
    return pieces


def age(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return ""
    seconds = max(0, int((now or time.time()) - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
