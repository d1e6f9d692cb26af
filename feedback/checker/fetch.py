"""Fetching a reported page for the checker: only from the site's registered origins,
through the shared guarded client, with a short timeout, a size cap and a per-host pace."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from feedback import normalise

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


class NotAllowed(Exception):
    """The page is not on any of the site's registered origins: never fetched."""


class Unreachable(Exception):
    """The page could not be fetched now (network, timeout, HTTP error): try later."""


@dataclass(frozen=True)
class Page:
    url: str
    html: str
    truncated: bool  # the page was longer than the cap; only its start was read


def origin_of(url: str) -> str | None:
    try:
        return normalise.origin_of(normalise.normalise_url(url))
    except (normalise.UrlError, ValueError):
        return None


def allowed(url: str, origins: frozenset[str] | set[str]) -> bool:
    origin = origin_of(url)
    return origin is not None and origin in origins


class HostPace:
    """At most one fetch per host every `interval` seconds, so a site with many open
    reports is never hammered by its own checker."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, host: str) -> None:
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            ready = self._next.get(host, 0.0)
            if ready > now:
                await asyncio.sleep(ready - now)
            self._next[host] = max(now, ready) + self.interval


async def fetch_page(
    http: httpx.AsyncClient,
    url: str,
    origins: frozenset[str] | set[str],
    *,
    cap_bytes: int,
    time_limit: float,
    pace: HostPace | None = None,
) -> Page:
    """The page's HTML, at most `cap_bytes` of it. Raises NotAllowed before any network
    use when the URL is not on a registered origin, Unreachable when fetching fails."""
    if not allowed(url, origins):
        raise NotAllowed(url)
    target = httpx.URL(url.split("#", 1)[0])
    if pace is not None:
        await pace.wait(target.host)
    try:
        async with asyncio.timeout(time_limit):
            async with http.stream(
                "GET",
                target,
                headers={"Accept": "text/html,application/xhtml+xml"},
                timeout=time_limit,
            ) as response:
                if response.status_code != 200:
                    raise Unreachable(f"HTTP {response.status_code}")
                kind = response.headers.get("content-type", "text/html").split(";")[0].strip()
                if kind.lower() not in HTML_TYPES:
                    raise Unreachable(f"not a web page ({kind})")
                body = bytearray()
                truncated = False
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= cap_bytes:
                        del body[cap_bytes:]
                        truncated = True
                        break
                encoding = response.charset_encoding or "utf-8"
    except TimeoutError:
        raise Unreachable("timed out") from None
    except httpx.HTTPError as exc:
        raise Unreachable(str(exc) or type(exc).__name__) from None
    try:
        html = bytes(body).decode(encoding, errors="replace")
    except LookupError:
        html = bytes(body).decode("utf-8", errors="replace")
    return Page(url=url, html=html, truncated=truncated)
