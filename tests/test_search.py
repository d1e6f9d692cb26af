"""Full-text search in the queue finds the newest matches first, whether a word is in a
handful of reports or in thousands of them (engines may search those two differently)."""

from __future__ import annotations

import asyncio

from feedback.store.queue import COMMON_SEARCH, QueueFilter, queue_page
from feedback.store.reports import STATUSES, NewSubmission
from feedback.store.sites import add_site


def send(site_id: int, n: int, word: str) -> NewSubmission:
    return NewSubmission(
        site_id=site_id, kind="typo", url=f"https://example.com/{n % 97}", title="",
        lang="en", exact=f"harbour {word} number{n}", prefix="", suffix="", suggestion="",
        comment="", user_agent="", ip_hash=f"{n:032d}",
    )  # fmt: skip


async def test_common_and_rare_words_are_both_found_newest_first(app) -> None:
    store = app.state.services.store
    site = await add_site(store, "S", ["https://example.com"])
    total = COMMON_SEARCH + 300
    ids: dict[str, list[int]] = {"harbour": [], "lighthouse": []}
    for start in range(0, total, 500):
        stored = await asyncio.gather(
            *(store.add_submission(send(site.id, n, "quay" if n % 3 else "lighthouse"))
              for n in range(start, min(start + 500, total)))
        )  # fmt: skip
        for n, s in zip(range(start, start + 500), stored, strict=False):
            ids["harbour"].append(s.report_id)  # in every report: a common word
            if n % 3 == 0:
                ids["lighthouse"].append(s.report_id)
    rare = (await store.add_submission(send(site.id, total, "zeppelin"))).report_id
    ids["harbour"].append(rare)

    everything = {"statuses": STATUSES}
    page, after = await queue_page(store, QueueFilter(q="harbour", **everything), None)
    assert [r["id"] for r in page] == sorted(ids["harbour"], reverse=True)[:50]
    assert after is not None
    second, _ = await queue_page(store, after, None)
    assert [r["id"] for r in second] == sorted(ids["harbour"], reverse=True)[50:100]
    page, _ = await queue_page(store, QueueFilter(q="lighth", **everything), None)
    assert [r["id"] for r in page] == sorted(ids["lighthouse"], reverse=True)[:50]
    page, after = await queue_page(store, QueueFilter(q="zeppelin", **everything), None)
    assert [r["id"] for r in page] == [rare] and after is None
    page, _ = await queue_page(store, QueueFilter(q="harbour zeppelin", **everything), None)
    assert [r["id"] for r in page] == [rare]
    page, _ = await queue_page(store, QueueFilter(q="quay zeppelin", **everything), None)
    assert page == []
