"""Shortening long reader text for the queue; the report page shows it whole."""

from __future__ import annotations

QUOTE_CHARS = 160
COMMENT_CHARS = 240


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary where one is near, with an
    ellipsis when anything was left out."""
    text = text or ""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # Cut at the last space unless that would throw away most of the text (one long word).
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def is_shortened(text: str, limit: int) -> bool:
    return len(text or "") > limit
