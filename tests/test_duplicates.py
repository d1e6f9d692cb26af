"""Merging identical sends into one open report, atomically, even under concurrency."""

from __future__ import annotations

import asyncio

from feedback.store.sites import Site
from tests.conftest import ORIGIN, report_payload


async def post(client, body: dict):
    return await client.post("/api/v1/reports", json=body, headers=ORIGIN)


async def test_duplicate_report_increments_count(client, site: Site, app) -> None:
    first = await post(client, report_payload(site, suggestion="the"))
    second = await post(client, report_payload(site, suggestion="The", comment="Fix please"))
    assert first.json() == {"id": 1, "duplicate": False}
    assert second.json() == {"id": 1, "duplicate": True}
    db = app.state.services.store
    [report] = await db.fetchall("SELECT id, submission_count, first_seen, last_seen FROM reports")
    assert report["submission_count"] == 2
    assert report["last_seen"] >= report["first_seen"]
    rows = await db.fetchall("SELECT suggestion, comment FROM submissions ORDER BY id")
    assert [tuple(r) for r in rows] == [("the", ""), ("The", "Fix please")]


async def test_url_variants_of_one_page_merge(client, site: Site, app) -> None:
    await post(client, report_payload(site, url="https://example.com/a?utm_source=tw#top"))
    second = await post(client, report_payload(site, url="https://EXAMPLE.com/a"))
    assert second.json()["duplicate"] is True


async def test_different_context_is_a_different_report(client, site: Site) -> None:
    await post(client, report_payload(site))
    other = report_payload(site, quote={"exact": "teh", "prefix": "Later ", "suffix": " end."})
    response = await post(client, other)
    assert response.json() == {"id": 2, "duplicate": False}


async def test_different_page_comments_stay_apart_and_identical_ones_merge(
    client, site: Site
) -> None:
    a = report_payload(site, kind="comment", comment="Map is outdated", quote=None)
    b = report_payload(site, kind="comment", comment="Great piece", quote=None)
    assert (await post(client, a)).json() == {"id": 1, "duplicate": False}
    assert (await post(client, b)).json() == {"id": 2, "duplicate": False}
    assert (await post(client, a)).json() == {"id": 1, "duplicate": True}


async def test_fifty_concurrent_identical_sends_make_one_report_with_count_50(
    client, site: Site, app
) -> None:
    responses = await asyncio.gather(*(post(client, report_payload(site)) for _ in range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    bodies = [r.json() for r in responses]
    assert {b["id"] for b in bodies} == {1}
    assert sum(not b["duplicate"] for b in bodies) == 1
    db = app.state.services.store
    [report] = await db.fetchall("SELECT submission_count FROM reports")
    assert report["submission_count"] == 50
    [count] = await db.fetchall("SELECT count(*) FROM submissions WHERE report_id = 1")
    assert count[0] == 50


async def test_closed_report_is_not_reopened_by_the_same_quote(client, site: Site, app) -> None:
    await post(client, report_payload(site))
    db = app.state.services.store

    async def close(conn):
        await conn.execute("UPDATE reports SET status = 'fixed' WHERE id = 1")

    await db.write(close)
    response = await post(client, report_payload(site))
    assert response.json() == {"id": 2, "duplicate": False}
    again = await post(client, report_payload(site))
    assert again.json() == {"id": 2, "duplicate": True}
    rows = await db.fetchall("SELECT id, status, submission_count FROM reports ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "fixed", 1), (2, "new", 2)]


async def test_in_progress_report_still_collects_duplicates(client, site: Site, app) -> None:
    await post(client, report_payload(site))

    async def start(conn):
        await conn.execute("UPDATE reports SET status = 'in_progress' WHERE id = 1")

    await app.state.services.store.write(start)
    assert (await post(client, report_payload(site))).json() == {"id": 1, "duplicate": True}


async def test_blocked_sender_lands_in_spam_without_touching_open_reports(
    client, site: Site, app
) -> None:
    import time

    from feedback.clients import ip_hash

    await post(client, report_payload(site))
    blocked = ip_hash(app.state.services.settings.secret, "203.0.113.7")

    async def block(conn):
        await conn.execute(
            "INSERT INTO ip_blocks (site_id, ip_hash, until, created_at) VALUES (?, ?, ?, ?)",
            (site.id, blocked, time.time() + 3600, time.time()),
        )

    await app.state.services.store.write(block)
    response = await post(client, report_payload(site))
    assert response.status_code == 201
    rows = await app.state.services.store.fetchall(
        "SELECT id, status, submission_count FROM reports ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [(1, "new", 1), (2, "spam", 1)]


async def test_every_field_of_a_send_lands_in_its_own_column(app) -> None:
    """Sends travel to the batch statement as arrays read by position: a field read from
    the wrong place would land in another's column."""
    from feedback.store.reports import NewSubmission
    from feedback.store.sites import add_site

    store = app.state.services.store
    site = await add_site(store, "Fields", ["https://fields.example"])
    sub = NewSubmission(
        site_id=site.id, kind="typo", url="https://fields.example/page", title="Title",
        lang="de-CH", exact="Exakt", prefix="Davor ", suffix=" danach", suggestion="Vorschlag",
        comment="Kommentar", user_agent="Firefox on Linux", ip_hash="a" * 32,
        ip_hash_prev="b" * 32, fragment="text=Exakt", position=(120, 125),
    )  # fmt: skip
    stored = await store.add_submission(sub)
    [report] = await store.fetchall(
        "SELECT site_id, kind, url, title, lang, quote_exact, quote_prefix, quote_suffix, "
        "quote_fragment, dedup_key, status FROM reports WHERE id = ?",
        (stored.report_id,),
    )
    assert tuple(report) == (
        site.id, "typo", sub.url, "Title", "de-CH", "Exakt", "Davor ", " danach",
        "text=Exakt", sub.dedup_key(), "new",
    )  # fmt: skip
    [send] = await store.fetchall(
        "SELECT suggestion, comment, user_agent, ip_hash, position_start, position_end "
        "FROM submissions WHERE report_id = ?",
        (stored.report_id,),
    )
    assert tuple(send) == ("Vorschlag", "Kommentar", "Firefox on Linux", "a" * 32, 120, 125)


def test_a_send_encodes_as_json_would_whatever_its_text() -> None:
    """The dedup key of a send must stay byte for byte what it was when reports already
    stored were keyed, and a send's array must read back exactly, whatever readers put in
    it: quotes, backslashes, control and line-separator characters, any script."""
    import hashlib
    import json

    from feedback.store.reports import SEND_FIELDS, NewSubmission, send_json

    hostile = 'a "quoted" \\ back\\slash\t\x01\x1f \u2028\u2029 ünï 日本語 💥 </script>'
    for kind, position in (("typo", (3, 9)), ("comment", None)):
        sub = NewSubmission(
            site_id=7, kind=kind, url="https://news.example/" + hostile, title=hostile,
            lang="en", exact=hostile, prefix="before\n" + hostile, suffix=hostile + "\nafter",
            suggestion=hostile, comment=hostile, user_agent=hostile, ip_hash="a" * 32,
            fragment=hostile, position=position,
        )  # fmt: skip
        identity = [sub.url, kind, hostile, hostile, hostile] + ([hostile] * (kind == "comment"))
        blob = json.dumps(identity, ensure_ascii=False, separators=(",", ":"))
        assert sub.dedup_key() == hashlib.sha256(blob.encode()).hexdigest()
        fields = dict(zip(SEND_FIELDS, json.loads(send_json(sub)), strict=True))
        assert fields["site_id"] == 7 and fields["ip_hash_prev"] == "a" * 32
        assert fields["prefix"] == "before\n" + hostile and fields["fragment"] == hostile
        assert (fields["position_start"], fields["position_end"]) == (position or (None, None))
