"""The page checker at work, against a real article server on loopback whose text the
test changes: "looks fixed", "not on page", auto-resolve by the checker, check now, and
pages that are unreachable, unregistered or huge."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time

import httpx
import pytest
from article_server import Articles, article_server
from dashboard_support import make_user, sign_in
from mail_support import Inbox, inbox_fixture  # noqa: F401 - the fixture
from starlette.applications import Starlette
from starlette.datastructures import Secret

from feedback.checker.worker import Checker
from feedback.settings import Settings
from feedback.store.checks import report_for_check
from feedback.store.refusals import keep_notify_address
from feedback.store.sites import Site, add_site, update_site

BEFORE = "Then the mayor said this is"
AFTER = "story of the bridge, well known to all."
FILLER = "Filler about the council budget and the weather this week. " * 4


@pytest.fixture
def articles():
    with article_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Loopback article pages: the SSRF guard must let them through here.
    return dataclasses.replace(settings, allow_private_targets=True, check_host_interval=0.0)


@pytest.fixture
async def setup(app: Starlette, client: httpx.AsyncClient, articles: Articles):
    svc = app.state.services
    site = await add_site(svc.store, "Gazette", [articles.url])
    svc.checker = Checker(svc)  # not started: the test runs its rounds itself
    await make_user(app, "admin@example.com", "admin")
    csrf = await sign_in(client, "admin@example.com")
    return site, csrf


async def report(client: httpx.AsyncClient, site: Site, articles: Articles, path: str,
                 exact: str = "teh", **fields) -> int:  # fmt: skip
    body = {
        "site": site.key, "kind": "typo", "url": articles.url + path, "title": "Article",
        "lang": "en", "quote": {"exact": exact, "prefix": f"{BEFORE} ", "suffix": f" {AFTER}"},
        "suggestion": "the", "comment": "",
    }  # fmt: skip
    body.update(fields)
    r = await client.post("/api/v1/reports", json=body, headers={"Origin": articles.url})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def state(app: Starlette, report_id: int) -> tuple:
    row = await app.state.services.store.fetchone(
        "SELECT check_state, not_on_page, status, check_due FROM reports WHERE id = ?",
        (report_id,),
    )
    return tuple(row)


def row_of(page: str, report_id: int) -> str:
    match = re.search(rf'<tr class="row[^"]*" data-id="{report_id}".*?</tr>', page, re.S)
    assert match
    return match.group(0)


async def test_fixing_the_typo_makes_the_report_look_fixed(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, csrf = setup
    articles.set("/a", FILLER, f"{BEFORE} teh {AFTER}", FILLER)
    report_id = await report(client, site, articles, "/a")
    assert await app.state.services.checker.round() == 1
    assert (await state(app, report_id))[:2] == ("found", 0)
    assert "Looks fixed" not in row_of((await client.get("/dashboard/")).text, report_id)
    articles.set("/a", FILLER, f"{BEFORE} the {AFTER}", FILLER)
    r = await client.post(f"/dashboard/reports/{report_id}/check", data={"csrf": csrf},
                          follow_redirects=True)  # fmt: skip
    assert "Looks fixed" in r.text
    row = row_of((await client.get("/dashboard/")).text, report_id)
    assert "Looks fixed · checked" in row
    assert (await state(app, report_id))[2] == "new"  # never resolved without the setting


async def test_auto_resolve_is_done_by_the_checker_and_shown(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, csrf = setup
    await client.post(f"/dashboard/sites/{site.id}/flags", data={"csrf": csrf, "auto_resolve": "1"})
    articles.set("/a", f"{BEFORE} teh {AFTER}")
    report_id = await report(client, site, articles, "/a")
    checker = app.state.services.checker
    await checker.round()
    articles.set("/a", f"{BEFORE} the {AFTER}")
    assert await checker.check_one(await report_for_check(app.state.services.store, report_id))
    assert (await state(app, report_id))[2] == "fixed"
    history = (await client.get(f"/dashboard/reports/{report_id}")).text
    assert "the checker</bdi>: new → fixed" in history
    assert "no longer finds the quote" in history


async def test_a_reader_who_asked_hears_of_the_checkers_fix(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup, inbox: Inbox
) -> None:
    site, csrf = setup
    svc = app.state.services
    svc.settings = dataclasses.replace(
        svc.settings,
        smtp_url=Secret(f"smtp://127.0.0.1:{inbox.port}?starttls=off"),
        mail_from="Feedback <feedback@example.com>",
    )
    svc.checker = Checker(svc)
    await client.post(f"/dashboard/sites/{site.id}/flags", data={"csrf": csrf, "auto_resolve": "1"})
    articles.set("/a", f"{BEFORE} teh {AFTER}")
    report_id = await report(client, site, articles, "/a")
    await keep_notify_address(svc.store, report_id, "reader@example.org", time.time())
    await svc.checker.round()
    assert inbox.messages == []  # still there: nobody is told anything
    articles.set("/a", f"{BEFORE} the {AFTER}")
    await svc.checker.check_one(await report_for_check(svc.store, report_id))
    assert (await state(app, report_id))[2] == "fixed"
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "reader@example.org" and message["Subject"].startswith("Fixed")
    assert "has been fixed" in message.get_content()
    left = await svc.store.fetchone("SELECT count(*) FROM reader_notify")
    assert left[0] == 0  # told once, and the address is gone


async def test_fix_everywhere_lists_the_pages_where_the_checker_read_the_words(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, _ = setup
    svc = app.state.services
    articles.set("/a", f"{BEFORE} teh {AFTER}")
    articles.set("/b", "We recieve letters.", "Then teh mayor spoke, and teh crowd left.")
    articles.set("/c", "We recieve letters from Tehran every week.")
    fixed = await report(client, site, articles, "/a")
    await report(client, site, articles, "/b", exact="recieve", prefix="We ", suffix=" letters.")
    await report(client, site, articles, "/c", exact="recieve", prefix="We ", suffix=" letters")
    await svc.checker.round()
    # The first page is corrected; the checker reads it again.
    articles.set("/a", f"{BEFORE} the {AFTER}")
    await svc.checker.check_one(await report_for_check(svc.store, fixed))
    page = await client.get(f"/dashboard/reports/{fixed}/everywhere?from=teh&to=the")
    assert page.status_code == 200
    listed = re.search(r'<ul class="everywhere-pages".*?</ul>', page.text, re.S).group(0)
    assert f'data-url="{articles.url}/b"' in listed and "×2" in listed
    assert "Then <mark>teh</mark> mayor spoke" in listed
    assert "/c" not in listed  # "Tehran" is not the word "teh"
    assert f'data-url="{articles.url}/a"' not in listed  # fixed there already
    # Page text is public text only, and goes with its site.
    kept = await svc.store.fetchone("SELECT count(*) FROM page_texts WHERE site_id = ?", (site.id,))
    assert kept[0] == 3


async def test_a_quote_never_on_the_page_is_flagged(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, _ = setup
    articles.set("/a", FILLER, "A wholly different article about trains and timetables.")
    report_id = await report(client, site, articles, "/a")
    await app.state.services.checker.round()
    assert (await state(app, report_id))[:2] == ("missing", 1)
    assert "Not on page" in row_of((await client.get("/dashboard/")).text, report_id)


async def test_a_quote_moved_to_another_paragraph_is_still_found(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, _ = setup
    articles.set("/a", f"{BEFORE} teh {AFTER}", FILLER, FILLER)
    report_id = await report(client, site, articles, "/a")
    articles.set("/a", FILLER, FILLER, "A new first paragraph.", f"{BEFORE} teh {AFTER}")
    await app.state.services.checker.round()
    assert (await state(app, report_id))[:2] == ("found", 0)


async def test_unreachable_unregistered_and_huge_pages_change_nothing(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, csrf = setup
    svc = app.state.services
    gone = await report(client, site, articles, "/missing-page")  # 404: unreachable
    articles.endless.add("/huge")
    huge = await report(client, site, articles, "/huge", exact="tehh")
    await svc.checker.round()
    for report_id in (gone, huge):
        check_state, flagged, status, due = await state(app, report_id)
        assert (check_state, flagged, status) == ("", 0, "new") and due is not None
    # The huge page was cut at the cap: far less than it would have sent was read.
    assert articles.sent_bytes["/huge"] < 20 * svc.settings.check_max_bytes
    # The site stops listing the article's origin: its pages are never fetched again.
    articles.set("/b", f"{BEFORE} teh {AFTER}")
    other = await report(client, site, articles, "/b")
    await update_site(svc.store, site.id, site.name, ["https://elsewhere.example"])
    hits = len(articles.hits)
    r = await client.post(f"/dashboard/reports/{other}/check", data={"csrf": csrf},
                          follow_redirects=True)  # fmt: skip
    assert "never fetched" in r.text
    assert len(articles.hits) == hits
    assert (await state(app, other))[:2] == ("", 0)


async def test_one_word_typo_without_a_correction_gets_a_dictionary_suggestion(
    app: Starlette, client: httpx.AsyncClient, articles: Articles, setup
) -> None:
    site, _ = setup
    articles.set("/a", "We will recieve the parcel tomorrow.")
    report_id = await report(
        client, site, articles, "/a", exact="recieve", suggestion="",
        quote={"exact": "recieve", "prefix": "We will ", "suffix": " the parcel"},
    )  # fmt: skip
    await app.state.services.checker.round()
    row = row_of((await client.get("/dashboard/")).text, report_id)
    assert "Suggested by the spelling dictionary, not by a reader" in row
    assert "<ins>e</ins>" in row and "<del>e</del>" in row  # recieve → receive


async def test_the_background_checker_looks_soon_after_a_report_arrives(
    tmp_path, database: str, articles: Articles
) -> None:
    from tests.conftest import make_settings

    settings = dataclasses.replace(
        make_settings(tmp_path, database=database), checker=True, allow_private_targets=True,
        check_poll=60.0, check_host_interval=0.0,
    )  # fmt: skip
    from feedback.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        svc = application.state.services
        site = await add_site(svc.store, "Gazette", [articles.url])
        transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            articles.set("/a", f"{BEFORE} teh {AFTER}")
            report_id = await report(c, site, articles, "/a")
        for _ in range(400):  # the arrival wakes the checker well before its 60 s poll
            if (await state(application, report_id))[0]:
                break
            await asyncio.sleep(0.05)
        assert (await state(application, report_id))[0] == "found"
