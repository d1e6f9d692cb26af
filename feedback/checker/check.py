"""One check of one report: fetch its page and say what became of its quote."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from feedback.checker.extract import page_text, readable
from feedback.checker.fetch import HostPace, NotAllowed, Unreachable, fetch_page
from feedback.checker.match import Match, Outcome, locate

# What a check can conclude; "unreachable" and "not_allowed" change nothing on the report.
FOUND, FIXED, MISSING, UNREACHABLE, NOT_ALLOWED, NOTHING = (
    "found", "fixed", "missing", "unreachable", "not_allowed", "nothing",
)  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    verdict: str
    detail: str = ""
    score: float = 0.0
    truncated: bool = False
    # The page's readable text as read (see `readable`), when the page could be read.
    text: str = ""


async def check_page(
    http: httpx.AsyncClient,
    *,
    url: str,
    exact: str,
    prefix: str,
    suffix: str,
    origins: frozenset[str] | set[str],
    cap_bytes: int,
    time_limit: float,
    pace: HostPace | None = None,
) -> CheckResult:
    if not exact.strip():
        return CheckResult(NOTHING, "a page comment has no quote to look for")
    try:
        page = await fetch_page(
            http, url, origins, cap_bytes=cap_bytes, time_limit=time_limit, pace=pace
        )
    except NotAllowed:
        return CheckResult(NOT_ALLOWED, "the page is not on one of the site's origins")
    except Unreachable as exc:
        return CheckResult(UNREACHABLE, str(exc))
    # Parsing and fuzzy matching a large page is CPU work: keep it off the event loop.
    match, text = await asyncio.to_thread(_match, page.html, exact, prefix, suffix)
    if match.outcome is Outcome.MISSING and page.truncated:
        # The quote may sit past the part that was read: that proves nothing.
        return CheckResult(
            UNREACHABLE, "the page is larger than the size cap", match.score, True, text
        )
    verdict = {Outcome.FOUND: FOUND, Outcome.FIXED: FIXED, Outcome.MISSING: MISSING}
    return CheckResult(verdict[match.outcome], "", match.score, page.truncated, text)


def _match(html: str, exact: str, prefix: str, suffix: str) -> tuple[Match, str]:
    text = page_text(html)
    return locate(text, exact, prefix, suffix), readable(text)
