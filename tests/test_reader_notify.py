"""Closing the loop: a reader who asked is emailed once when their report is fixed, in the
page's language, with a link to the corrected spot; the address is then gone."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest
from dashboard_support import make_user, send_report, sign_in
from mail_support import Inbox, inbox_fixture  # noqa: F401 - the fixture
from starlette.applications import Starlette
from starlette.datastructures import Secret

from feedback.settings import Settings
from feedback.store.refusals import forget_old_addresses, keep_notify_address
from feedback.store.sites import Site


@pytest.fixture
def settings(settings: Settings, inbox: Inbox) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_url=Secret(f"smtp://127.0.0.1:{inbox.port}?starttls=off"),
        mail_from="Feedback <feedback@example.com>",
    )


async def test_reader_is_told_once_in_the_page_language(
    app: Starlette, client: httpx.AsyncClient, site: Site, inbox: Inbox
) -> None:
    store = app.state.services.store
    await make_user(app, "admin@example.com", "admin")
    csrf = await sign_in(client, "admin@example.com")
    report_id = await send_report(client, site, "https://example.com", lang="ru",
                                  quote={"exact": "превед", "prefix": "Он сказал ",
                                         "suffix": " всем."}, suggestion="привет")  # fmt: skip
    await keep_notify_address(store, report_id, "reader@example.org", time.time())
    page = (await client.get(f"/dashboard/reports/{report_id}")).text
    assert 'name="notify_reader" value="1" checked' in page
    r = await client.post(
        f"/dashboard/reports/{report_id}/resolve",
        data={"csrf": csrf, "reason": "fixed", "notify_reader": "1"},
        follow_redirects=True,
    )
    assert "The reader who asked has been told by email." in r.text
    [message] = inbox.messages
    assert message["To"] == "reader@example.org"
    assert message["Subject"].startswith("Исправлено")
    body = message.get_content()
    assert "https://example.com/news/article#:~:text=" in body and "%D0%BF%D1%80%D0%B8" in body
    left = await store.fetchone("SELECT count(*) FROM reader_notify")
    assert left[0] == 0  # used once, then gone


async def test_editor_can_switch_the_email_off_and_closing_forgets_the_address(
    app: Starlette, client: httpx.AsyncClient, site: Site, inbox: Inbox
) -> None:
    store = app.state.services.store
    await make_user(app, "admin@example.com", "admin")
    csrf = await sign_in(client, "admin@example.com")
    report_id = await send_report(client, site, "https://example.com")
    await keep_notify_address(store, report_id, "reader@example.org", time.time())
    await client.post(f"/dashboard/reports/{report_id}/resolve",
                      data={"csrf": csrf, "reason": "fixed"})  # fmt: skip
    assert inbox.messages == []
    left = await store.fetchone("SELECT count(*) FROM reader_notify")
    assert left[0] == 0
    # An address nobody used is forgotten after 90 days anyway.
    other = await send_report(client, site, "https://example.com", quote={"exact": "x"})
    await keep_notify_address(store, other, "late@example.org", time.time() - 91 * 86400)
    assert await forget_old_addresses(store, time.time()) == 1


async def test_the_queue_fixed_button_tells_the_reader_unless_told_not_to(
    app: Starlette, client: httpx.AsyncClient, site: Site, inbox: Inbox
) -> None:
    import asyncio

    store = app.state.services.store
    await make_user(app, "admin@example.com", "admin")
    csrf = await sign_in(client, "admin@example.com")
    told = await send_report(client, site, "https://example.com", lang="de")
    quiet = await send_report(client, site, "https://example.com", quote={"exact": "y"})
    await keep_notify_address(store, told, "leser@example.org", time.time())
    await keep_notify_address(store, quiet, "other@example.org", time.time())
    await client.post("/dashboard/actions", data={"csrf": csrf, "act": f"fixed:{told}"})
    await client.post(
        "/dashboard/actions", data={"csrf": csrf, "act": f"fixed:{quiet}", "quiet": "1"}
    )
    for _ in range(100):
        if inbox.messages:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert [m["To"] for m in inbox.messages] == ["leser@example.org"]
    assert inbox.messages[0]["Subject"].startswith("Korrigiert")
    left = await store.fetchone("SELECT count(*) FROM reader_notify")
    assert left[0] == 0
