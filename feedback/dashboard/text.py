"""Turning a report into what an editor sees: the text-fragment link to the quote,
the character-level correction diff, safe links and ages."""

from __future__ import annotations

import difflib
import time
from urllib.parse import quote, urlsplit

LONG_QUOTE = 80
EDGE_WORDS = 4
CONTEXT_WORDS = 3


def _encode(part: str) -> str:
    # encodeURIComponent, plus "-" which the fragment syntax uses as its delimiter.
    return quote(part, safe="!'()*._~").replace("-", "%2D")


def text_fragment(exact: str, prefix: str = "", suffix: str = "") -> str:
    """`:~:text=[prefix-,]start[,end][,-suffix]` for the quote; start,end for long ones."""
    exact = " ".join(exact.split())
    if not exact:
        return ""
    words = exact.split(" ")
    if len(exact) > LONG_QUOTE and len(words) > 2 * EDGE_WORDS:
        target = f"{_encode(' '.join(words[:EDGE_WORDS]))},{_encode(' '.join(words[-EDGE_WORDS:]))}"
    else:
        target = _encode(exact)
    before = " ".join(prefix.split()[-CONTEXT_WORDS:])
    after = " ".join(suffix.split()[:CONTEXT_WORDS])
    # Fragments match whole words only: context that runs into the quote mid-word
    # ("This is t" + "eh") would never match, so it is left out.
    if before and not (prefix[-1].isalnum() and exact[0].isalnum()):
        target = f"{_encode(before)}-,{target}"
    if after and not (suffix[0].isalnum() and exact[-1].isalnum()):
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


def quote_url(url: str, exact: str, prefix: str, suffix: str) -> str | None:
    href = safe_href(url)
    if href is None:
        return None
    fragment = text_fragment(exact, prefix, suffix)
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
