"""The triage queue: what each row shows, filters, sorts, keyset pages, counts, actions."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest
from dashboard_support import make_user, send_report, sign_in
from starlette.applications import Starlette

from feedback.store.sites import Site

ORIGIN = "https://example.com"


@pytest.fixture
async def csrf(app: Starlette, client: httpx.AsyncClient) -> str:
    await make_user(app, "admin@example.com", "admin")
    return await sign_in(client, "admin@example.com")


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr class="row[^"]*" data-id="(\d+)"', html)]


async def status_of(app: Starlette, report_id: int) -> str:
    row = await app.state.services.store.fetchone(
        "SELECT status FROM reports WHERE id = ?", (report_id,)
    )
    return row[0]


async def send_many(client: httpx.AsyncClient, site: Site, n: int, **fields) -> list[int]:
    return [
        await send_report(
            client,
            site,
            ORIGIN,
            quote={"exact": f"word{i}", "prefix": "a ", "suffix": " b"},
            **fields,
        )
        for i in range(n)
    ]


async def test_row_shows_quote_in_context_diff_comment_and_count(
    client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    for comment in ("first", "Latest comment here"):
        await send_report(client, site, ORIGIN, comment=comment)
    page = (await client.get("/dashboard/")).text
    assert '<bdi class="ctx">This is </bdi><mark><bdi>teh</bdi></mark>' in page
    # teh → the, character by character.
    assert '<span class="before"><bdi>te<del>h</del></bdi></span>' in page
    assert '<span class="after"><bdi>t<ins>h</ins>e</bdi></span>' in page
    # One browser sent it twice: one reader, two sends.
    assert "Latest comment here" in page and "×1</span>" in page and "(2 sends)" in page
    assert 'href="https://example.com/news/article"' in page and "An article" in page
    assert "Example News" in page


async def test_queue_opens_on_open_reports_newest_first(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 4)
    await client.post("/dashboard/actions", data={"act": f"fixed:{ids[1]}", "csrf": csrf})
    page = (await client.get("/dashboard/")).text
    assert row_ids(page) == [ids[3], ids[2], ids[0]]
    assert re.search(r'data-status="new">New <b>3</b>', page)
    assert re.search(r'data-status="fixed">Fixed <b>1</b>', page)


async def test_filters_live_in_the_url(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    typo = await send_report(client, site, ORIGIN, comment="the kerning is off")
    comment = await send_report(
        client, site, ORIGIN, kind="comment", quote=None, comment="Great piece on rivers"
    )
    other_page = await send_report(
        client, site, ORIGIN, url=f"{ORIGIN}/sport/match", quote={"exact": "goal"}
    )
    assert row_ids((await client.get("/dashboard/?kind=comment")).text) == [comment]
    assert row_ids((await client.get("/dashboard/?url=/SPORT/")).text) == [other_page]
    assert row_ids((await client.get("/dashboard/?q=river")).text) == [comment]
    assert row_ids((await client.get("/dashboard/?q=kerning")).text) == [typo]
    assert row_ids((await client.get("/dashboard/?q=goal")).text) == [other_page]
    # Search syntax typed by an editor is just words, never an error.
    assert (await client.get('/dashboard/?q="NEAR( AND *')).status_code == 200
    assert row_ids((await client.get(f"/dashboard/?site={site.id + 99}")).text) == []
    await client.post("/dashboard/actions", data={"act": f"spam:{typo}", "csrf": csrf})
    assert row_ids((await client.get("/dashboard/?status=spam")).text) == [typo]
    all_ids = row_ids((await client.get("/dashboard/?status=all")).text)
    assert sorted(all_ids) == sorted([typo, comment, other_page])


async def every_page(client: httpx.AsyncClient, url: str) -> list[int]:
    """The report ids of every page of a view, following its "next" links."""
    seen: list[int] = []
    while url:
        page = (await client.get(url)).text
        seen += row_ids(page)
        nxt = re.search(r'<a href="(/dashboard/\?[^"]+)" rel="next"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    return seen


async def test_sorts_and_keyset_pages_cover_every_report_once(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 120)
    for _ in range(3):
        await send_report(
            client, site, ORIGIN, quote={"exact": "word7", "prefix": "a ", "suffix": " b"}
        )
    seen = await every_page(client, "/dashboard/")
    assert seen == sorted(ids, reverse=True)
    oldest = row_ids((await client.get("/dashboard/?sort=oldest")).text)
    assert oldest[:3] == ids[:3]
    most = (await client.get("/dashboard/?sort=most")).text
    assert row_ids(most)[0] == ids[7]
    nxt = re.search(r'<a href="(/dashboard/\?[^"]+)" rel="next"', most)
    assert nxt and "after_count=" in nxt.group(1)
    second = row_ids((await client.get(nxt.group(1).replace("&amp;", "&"))).text)
    assert set(second).isdisjoint(row_ids(most)) and len(second) == 50


async def test_most_reported_pages_cross_from_one_count_to_the_next(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 120)
    twice = ids[::2]  # 60 reports sent twice: the second page holds both counts
    for report_id in twice:
        i = ids.index(report_id)
        await send_report(
            client, site, ORIGIN, quote={"exact": f"word{i}", "prefix": "a ", "suffix": " b"}
        )
    expected = sorted(twice, reverse=True) + sorted(set(ids) - set(twice), reverse=True)
    seen = await every_page(client, "/dashboard/?sort=most")
    assert seen == expected


async def test_bulk_action_marks_selected_and_writes_events(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 5)
    r = await client.post(
        "/dashboard/actions",
        data={
            "to": "fixed",
            "id": [str(i) for i in ids[:3]],
            "csrf": csrf,
            "next": "/dashboard/?kind=typo",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/?kind=typo"
    assert [await status_of(app, i) for i in ids] == ["fixed"] * 3 + ["new"] * 2
    events = await app.state.services.store.fetchall(
        "SELECT report_id, from_status, to_status, user_id FROM report_events ORDER BY id"
    )
    assert [(e[0], e[1], e[2]) for e in events] == [(i, "new", "fixed") for i in ids[:3]]
    page = (await client.get("/dashboard/")).text
    assert "3 reports marked fixed" in page
    assert re.search(r'data-status="fixed">Fixed <b>3</b>', page)


async def test_every_action_moves_a_report(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    report_id = await send_report(client, site, ORIGIN)
    for to in ("in_progress", "rejected", "new", "spam", "fixed"):
        await client.post("/dashboard/actions", data={"act": f"{to}:{report_id}", "csrf": csrf})
        assert await status_of(app, report_id) == to


async def test_scripted_action_returns_updated_rows_and_counts(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 3)
    r = await client.post(
        "/dashboard/actions",
        data={"to": "rejected", "id": str(ids[0]), "view": "sort=oldest"},
        headers={"X-CSRF-Token": csrf, "X-Requested-With": "fetch"},
    )
    assert r.status_code == 200
    assert row_ids(r.text) == ids[1:]
    assert re.search(r'data-status="rejected">Not an error <b>1</b>', r.text)
    assert "1 report marked not an error" in r.text


async def test_undo_restores_the_last_action_and_records_it(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 3)
    await client.post("/dashboard/actions", data={"act": f"spam:{ids[0]}", "csrf": csrf})
    await client.post(
        "/dashboard/actions", data={"to": "fixed", "id": [str(ids[1]), str(ids[2])], "csrf": csrf}
    )
    await client.post("/dashboard/undo", data={"csrf": csrf})
    assert [await status_of(app, i) for i in ids] == ["spam", "new", "new"]
    await client.post("/dashboard/undo", data={"csrf": csrf})
    assert [await status_of(app, i) for i in ids] == ["new", "new", "new"]
    undo_events = await app.state.services.store.fetchall(
        "SELECT count(*) FROM report_events WHERE undoes IS NOT NULL"
    )
    assert undo_events[0][0] == 3


async def test_reopening_refuses_when_a_newer_open_report_covers_the_quote(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    first = await send_report(client, site, ORIGIN)
    await client.post("/dashboard/actions", data={"act": f"fixed:{first}", "csrf": csrf})
    second = await send_report(client, site, ORIGIN)
    assert second != first
    r = await client.post(
        "/dashboard/actions", data={"act": f"new:{first}", "csrf": csrf}, follow_redirects=True
    )
    assert f"report #{second} is already open for the same quote" in r.text
    assert await status_of(app, first) == "fixed"


async def test_spam_with_block_holds_back_the_senders_next_reports(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    report_id = await send_report(client, site, ORIGIN)
    await client.post(
        "/dashboard/actions", data={"act": f"spam:{report_id}", "block": "1", "csrf": csrf}
    )
    blocks = await app.state.services.store.fetchall("SELECT until FROM ip_blocks")
    assert len(blocks) == 1
    again = await send_report(client, site, ORIGIN, quote={"exact": "other"})
    assert await status_of(app, again) == "spam"


async def test_assign_to_me_and_note_show_on_the_report_page(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    report_id = await send_report(client, site, ORIGIN, comment="see paragraph 2")
    await send_report(client, site, ORIGIN, suggestion="tea", comment="or maybe tea")
    await client.post(f"/dashboard/reports/{report_id}/assign", data={"csrf": csrf})
    await client.post(
        f"/dashboard/reports/{report_id}/note", data={"csrf": csrf, "note": "Asked the desk"}
    )
    page = (await client.get(f"/dashboard/reports/{report_id}")).text
    # Assigning does not change the status; the button becomes "Unassign".
    assert await status_of(app, report_id) == "new"
    assert "Asked the desk" in page
    assert "see paragraph 2" in page and "or maybe tea" in page
    assert "admin@example.com</bdi>: assigned to admin@example.com" in page
    assert 'Assigned to <strong class="assignee"><bdi>admin@example.com</bdi>' in page
    assert ">Unassign</button>" in page
    assert 'href="https://example.com/news/article#:~:text=This%20is-,teh,-story."' in page


async def test_export_follows_the_filter_and_neutralises_formulas(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    await send_report(client, site, ORIGIN, quote={"exact": "=HYPERLINK(1)"}, comment="+1 cmd")
    await send_report(client, site, ORIGIN, quote={"exact": "@SUM(A1)"}, comment="-2")
    await send_report(client, site, ORIGIN, kind="comment", quote=None, comment="plain")
    r = await client.get("/dashboard/export.csv?kind=typo")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["quote"] for row in rows) == ["'=HYPERLINK(1)", "'@SUM(A1)"]
    assert sorted(row["comment"] for row in rows) == ["'+1 cmd", "'-2"]
    data = json.loads((await client.get("/dashboard/export.json?kind=comment")).text)
    assert [d["comment"] for d in data] == ["plain"]


async def test_stats_page_draws_the_chart_as_svg(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    ids = await send_many(client, site, 4)
    await client.post("/dashboard/actions", data={"act": f"fixed:{ids[0]}", "csrf": csrf})
    page = (await client.get("/dashboard/stats")).text
    assert "<svg" in page and page.count('class="bar status-') == 2
    assert "<dd>3</dd>" in page  # open backlog
    assert "https://example.com/news/article" in page


async def test_no_get_changes_state(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    report_id = await send_report(client, site, ORIGIN)
    for path in ("/dashboard/actions", "/dashboard/undo", f"/dashboard/reports/{report_id}/assign"):
        r = await client.get(path + f"?act=fixed:{report_id}")
        assert r.status_code == 405
    r = await client.get("/dashboard/logout")
    assert r.status_code == 405
    assert await status_of(app, report_id) == "new"
