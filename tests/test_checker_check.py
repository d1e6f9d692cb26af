"""A check of one report against a real article server on loopback whose text changes."""

from __future__ import annotations

from article_server import article_server

from feedback.checker import check
from feedback.outbound import outbound_client
from tests.conftest import free_port

BEFORE = "Then the mayor said this is"
AFTER = "story of the bridge, well known to all."
QUOTE = dict(exact="teh", prefix="Then the mayor said this is ", suffix=" story of the bridge")
FILLER = "Filler about the council budget and the weather this week. " * 5


async def run(url: str, origins: set[str], cap: int = 1_000_000) -> check.CheckResult:
    async with outbound_client(allow_private=True) as http:
        return await check.check_page(
            http, url=url, origins=origins, cap_bytes=cap, time_limit=5, **QUOTE
        )


async def test_fixing_the_typo_turns_found_into_fixed() -> None:
    with article_server() as articles:
        url = articles.set("/a", FILLER, f"{BEFORE} teh {AFTER}", FILLER)
        assert (await run(url, {articles.url})).verdict == check.FOUND
        articles.set("/a", FILLER, f"{BEFORE} the {AFTER}", FILLER)
        assert (await run(url, {articles.url})).verdict == check.FIXED


async def test_quote_moved_to_another_paragraph_is_still_found() -> None:
    with article_server() as articles:
        url = articles.set("/a", f"{BEFORE} teh {AFTER}", FILLER, FILLER)
        articles.set("/a", FILLER, FILLER, "New intro.", f"{BEFORE} teh {AFTER}")
        assert (await run(url, {articles.url})).verdict == check.FOUND


async def test_neither_quote_nor_context_is_missing() -> None:
    with article_server() as articles:
        url = articles.set("/a", FILLER, "An entirely different story about trains.")
        assert (await run(url, {articles.url})).verdict == check.MISSING


async def test_unreachable_unregistered_and_huge_pages() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert (await run(dead + "/a", {dead})).verdict == check.UNREACHABLE
    with article_server() as articles:
        url = articles.set("/a", f"{BEFORE} teh {AFTER}")
        result = await run(url, {"https://elsewhere.example"})
        assert result.verdict == check.NOT_ALLOWED and articles.hits == []
        # A huge page whose start lacks the quote proves nothing: not "missing".
        articles.endless.add("/huge")
        result = await run(articles.url + "/huge", {articles.url}, cap=200_000)
        assert result.verdict == check.UNREACHABLE and result.truncated
