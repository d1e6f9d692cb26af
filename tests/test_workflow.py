"""The editors' workflow as editors see it: readers counted by reader, suggestions as a
consensus, assignment with its filters, counts that follow the filters, resolution
reasons with notes, duplicates merged, and fixing a mistake everywhere at once."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from dashboard_support import make_user, send_report, sign_in
from starlette.applications import Starlette

from feedback.store.sites import Site
from tests.conftest import report_payload

ORIGIN = "https://example.com"


@pytest.fixture
async def csrf(app: Starlette, client: httpx.AsyncClient) -> str:
    await make_user(app, "admin@example.com", "admin")
    return await sign_in(client, "admin@example.com")


async def send_from(app: Starlette, ip: str, site: Site, **fields) -> int:
    """A send from another reader's address."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.post(
            "/api/v1/reports", json=report_payload(site, **fields), headers={"Origin": ORIGIN}
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]


def row_of(page: str, report_id: int) -> str:
    match = re.search(rf'<tr class="row[^"]*" data-id="{report_id}".*?</tr>', page, re.S)
    assert match, f"no row for report {report_id}"
    return match.group(0)


async def test_suggestions_show_as_a_consensus_by_reader(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    quote = {"exact": "recieve", "prefix": "We ", "suffix": " mail."}
    for n, suggestion in enumerate(["receive", "receive", "receive", "get", "recieve"]):
        report_id = await send_from(app, f"198.51.100.{n + 1}", site, quote=quote,
                                    suggestion=suggestion)  # fmt: skip
    # One reader insisting ten times is still one reader.
    for _ in range(10):
        await send_from(app, "198.51.100.4", site, quote=quote, suggestion="get")
    row = row_of((await client.get("/dashboard/")).text, report_id)
    text = re.sub(r"<[^>]+>", "", row)
    assert "receive ×3 · get ×1" in text
    assert "recieve ×" not in text  # a "suggestion" equal to the quote is dropped
    assert "×5" in text and "(15 sends)" in text
    # The diff shown is the most common suggestion's.
    assert "<ins>" in row and "rec<ins>e</ins>i<del>" not in row


async def test_one_browser_sending_twenty_times_is_one_reader(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    for _ in range(20):
        report_id = await send_report(client, site, ORIGIN)
    row = row_of((await client.get("/dashboard/")).text, report_id)
    assert "×1</span>" in row and "(20 sends)" in row and "×20" not in row


async def test_assignment_is_visible_filtered_and_keeps_the_status(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    mine = await send_report(client, site, ORIGIN, quote={"exact": "one"})
    other = await send_report(client, site, ORIGIN, quote={"exact": "two"})
    r = await client.post(f"/dashboard/reports/{mine}/assign", data={"csrf": csrf})
    assert r.status_code == 303
    page = (await client.get("/dashboard/")).text
    assert "admin@example.com" in row_of(page, mine)
    assert "assignee" not in row_of(page, other)
    mine_page = (await client.get("/dashboard/?assignee=mine")).text
    assert f'data-id="{mine}"' in mine_page and f'data-id="{other}"' not in mine_page
    unassigned = (await client.get("/dashboard/?assignee=none")).text
    assert f'data-id="{other}"' in unassigned and f'data-id="{mine}"' not in unassigned
    report = (await client.get(f"/dashboard/reports/{mine}")).text
    assert 'badge status-new">new<' in report and ">Unassign</button>" in report
    await client.post(f"/dashboard/reports/{mine}/assign", data={"csrf": csrf, "to": "none"})
    report = (await client.get(f"/dashboard/reports/{mine}")).text
    assert ">Assign to me</button>" in report and "Unassigned" in report


async def test_status_counts_follow_every_filter(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    typo = await send_report(client, site, ORIGIN, quote={"exact": "one"})
    await send_report(client, site, ORIGIN, quote={"exact": "two"})
    await send_report(client, site, ORIGIN, kind="comment", quote=None, comment="hello there")
    await client.post("/dashboard/actions", data={"act": f"fixed:{typo}", "csrf": csrf})
    await client.post(f"/dashboard/reports/{typo}/assign", data={"csrf": csrf})

    def counts(page: str) -> dict[str, str]:
        return dict(re.findall(r'data-status="(\w+)">[^<]*<b>(\d+\+?)</b>', page))

    everything = counts((await client.get("/dashboard/")).text)
    assert everything["new"] == "2" and everything["fixed"] == "1"
    typos = counts((await client.get("/dashboard/?kind=typo")).text)
    assert typos["new"] == "1" and typos["fixed"] == "1"
    comments = counts((await client.get("/dashboard/?kind=comment&status=all")).text)
    assert comments["new"] == "1" and comments["fixed"] == "0"
    mine = counts((await client.get("/dashboard/?assignee=mine")).text)
    assert mine["new"] == "0" and mine["fixed"] == "1"
    # A search's page shows its results at once and fetches its counts next.
    search_page = (await client.get("/dashboard/?q=hello")).text
    assert "counting…" in search_page and counts(search_page) == {}
    searched = counts((await client.get("/dashboard/rows?q=hello")).text)
    assert searched["new"] == "1" and searched["fixed"] == "0"
    by_url = counts((await client.get("/dashboard/?url=/nowhere/")).text)
    assert set(by_url.values()) == {"0"}


async def test_resolution_reasons_with_canned_notes_in_history_and_export(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    report_id = await send_report(client, site, ORIGIN)
    await client.post(
        "/dashboard/resolutions",
        data={"csrf": csrf, "need_info": "Please tell us which paragraph."},
    )
    r = await client.post(
        f"/dashboard/reports/{report_id}/resolve", data={"csrf": csrf, "reason": "need_info"}
    )
    assert r.status_code == 303
    page = (await client.get(f"/dashboard/reports/{report_id}")).text
    assert "[Need info]" in page and "Please tell us which paragraph." in page
    export = (await client.get("/dashboard/export.csv?status=all")).content.decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(export)))
    assert row["resolution"] == "Need info"
    assert row["resolution_note"] == "Please tell us which paragraph."
    # An editor's own note wins over the canned one.
    other = await send_report(client, site, ORIGIN, quote={"exact": "x"})
    await client.post(
        f"/dashboard/reports/{other}/resolve",
        data={"csrf": csrf, "reason": "wont_fix", "note": "House style."},
    )
    assert "House style." in (await client.get(f"/dashboard/reports/{other}")).text


async def test_duplicate_is_linked_and_merged_into_the_kept_report(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    kept = await send_report(client, site, ORIGIN, quote={"exact": "teh", "prefix": "A "})
    dup = await send_from(app, "198.51.100.20", site, suggestion="the",
                          quote={"exact": "teh", "prefix": "B "}, comment="same thing")  # fmt: skip
    r = await client.post(
        f"/dashboard/reports/{dup}/resolve",
        data={"csrf": csrf, "reason": "duplicate", "duplicate_of": f"#{kept}"},
    )
    assert r.status_code == 303
    dup_page = (await client.get(f"/dashboard/reports/{dup}")).text
    assert f'href="/dashboard/reports/{kept}">report #{kept}</a>' in dup_page
    assert "[Duplicate]" in dup_page
    kept_page = (await client.get(f"/dashboard/reports/{kept}")).text
    assert "same thing" in kept_page and "What readers sent (2)" in kept_page
    assert "×2 readers" in kept_page
    # Searching for what the duplicate's reader wrote finds the kept report.
    found = (await client.get("/dashboard/?q=same%20thing")).text
    assert f'data-id="{kept}"' in found and f'data-id="{dup}"' not in found
    # A duplicate of nothing is refused.
    lone = await send_report(client, site, ORIGIN, quote={"exact": "zz"})
    r = await client.post(
        f"/dashboard/reports/{lone}/resolve",
        data={"csrf": csrf, "reason": "duplicate", "duplicate_of": "999999"},
        follow_redirects=True,
    )
    assert "There is no report #999999" in r.text


async def test_fix_it_everywhere_previews_and_resolves_the_same_mistake(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    first = await send_report(client, site, ORIGIN, quote={"exact": "goverment"},
                              suggestion="government")  # fmt: skip
    same = await send_report(client, site, ORIGIN, quote={"exact": "the goverment said"},
                             url="https://example.com/news/b")  # fmt: skip
    unrelated = await send_report(client, site, ORIGIN, quote={"exact": "teh"},
                                  url="https://example.com/news/c")  # fmt: skip
    r = await client.post(
        f"/dashboard/reports/{first}/resolve",
        data={"csrf": csrf, "reason": "fixed", "correction": "government"},
    )
    assert r.status_code == 303 and "/everywhere?" in r.headers["location"]
    preview = (await client.get(r.headers["location"])).text
    assert f'value="{same}"' in preview and f'value="{unrelated}"' not in preview
    assert "<ins>" in preview  # what "the goverment said" becomes
    done = await client.post(
        f"/dashboard/reports/{first}/everywhere",
        data={"csrf": csrf, "id": str(same), "from": "goverment", "to": "government"},
        follow_redirects=True,
    )
    assert "1 more report resolved as fixed." in done.text
    statuses = {
        r["id"]: r["status"]
        for r in await app.state.services.store.fetchall("SELECT id, status FROM reports")
    }
    assert statuses[same] == "fixed" and statuses[unrelated] == "new"
    history = (await client.get(f"/dashboard/reports/{same}")).text
    assert f"Fixed everywhere with #{first}" in history
