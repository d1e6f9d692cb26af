"""Fetching a reported page: registered origins only, through the SSRF guard, cut at the
size cap, and a dead page is "unreachable", not "fixed"."""

from __future__ import annotations

import time

import pytest
from article_server import article_server

from feedback.checker.extract import page_text
from feedback.checker.fetch import HostPace, NotAllowed, Unreachable, fetch_page
from feedback.outbound import outbound_client
from tests.conftest import free_port


async def test_fetches_a_registered_page_and_reads_its_text() -> None:
    with article_server() as articles:
        url = articles.set("/news/a", "Hello <b>wor</b>ld.")
        async with outbound_client(allow_private=True) as http:
            page = await fetch_page(http, url, {articles.url}, cap_bytes=100_000, time_limit=5)
        assert "Hello world." in page_text(page.html) and not page.truncated


async def test_an_unregistered_origin_is_never_fetched() -> None:
    with article_server() as articles:
        url = articles.set("/news/a", "Hello.")
        async with outbound_client(allow_private=True) as http:
            with pytest.raises(NotAllowed):
                await fetch_page(
                    http, url, {"https://example.com"}, cap_bytes=100_000, time_limit=5
                )
            with pytest.raises(NotAllowed):
                await fetch_page(
                    http, "javascript:alert(1)", {articles.url}, cap_bytes=1, time_limit=5
                )
        assert articles.hits == []


async def test_the_ssrf_guard_still_applies_to_registered_origins() -> None:
    with article_server() as articles:
        url = articles.set("/news/a", "Hello.")
        async with outbound_client(allow_private=False) as http:
            with pytest.raises(Unreachable):
                await fetch_page(http, url, {articles.url}, cap_bytes=100_000, time_limit=5)
        assert articles.hits == []


async def test_a_huge_page_is_cut_at_the_cap() -> None:
    with article_server() as articles:
        articles.endless.add("/huge")
        async with outbound_client(allow_private=True) as http:
            page = await fetch_page(
                http, articles.url + "/huge", {articles.url}, cap_bytes=300_000, time_limit=10
            )
        assert page.truncated and len(page.html.encode()) <= 300_000
        # The server was stopped long before its 200 MB.
        assert articles.sent_bytes["/huge"] < 50_000_000


async def test_unreachable_and_missing_pages() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with outbound_client(allow_private=True) as http:
        with pytest.raises(Unreachable):
            await fetch_page(http, dead + "/a", {dead}, cap_bytes=1000, time_limit=5)
        with article_server() as articles, pytest.raises(Unreachable, match="404"):
            await fetch_page(
                http, articles.url + "/gone", {articles.url}, cap_bytes=1000, time_limit=5
            )


async def test_host_pace_spaces_fetches_to_one_host() -> None:
    pace = HostPace(0.2)
    started = time.monotonic()
    for _ in range(3):
        await pace.wait("example.com")
    await pace.wait("other.example")
    assert 0.35 < time.monotonic() - started < 1.5
