"""Action links from chat and email: GET shows a confirm page, only its POST acts."""

from __future__ import annotations

import time

import itsdangerous
import pytest

from feedback.notify.links import action_url
from feedback.store.users import update_user
from tests.dashboard_support import csrf_of, make_user, send_report

ORIGIN = "https://example.com"


def path_of(url: str) -> str:
    return url.split("testserver", 1)[1]


async def status_of(app, report_id: int) -> str:
    row = await app.state.services.store.fetchone(
        "SELECT status FROM reports WHERE id = ?", (report_id,)
    )
    return row[0]


@pytest.fixture
async def report(client, site) -> int:
    return await send_report(client, site, ORIGIN)


@pytest.fixture
async def editor(app, site) -> int:
    return await make_user(app, "desk@example.com", "editor", [site])


async def test_get_changes_nothing_and_the_confirm_post_changes_the_report(
    app, client, report, editor
) -> None:
    url = path_of(action_url(app.state.services.settings, "fixed", report, editor))
    page = await client.get(url)
    assert page.status_code == 200
    assert "desk@example.com" in page.text and "teh" in page.text
    assert page.headers["x-robots-tag"] == "noindex"
    # Prefetchers may open it any number of times.
    await client.get(url)
    await client.head(url)
    assert await status_of(app, report) == "new"

    done = await client.post(url, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200
    assert "is marked fixed" in done.text
    assert await status_of(app, report) == "fixed"
    history = await app.state.services.store.fetchall(
        "SELECT user_id, to_status FROM report_events WHERE report_id = ?", (report,)
    )
    assert [tuple(h) for h in history] == [(editor, "fixed")]

    again = await client.get(url)
    assert "already marked fixed" in again.text


async def test_the_post_needs_the_pages_csrf_token(app, client, report, editor) -> None:
    url = path_of(action_url(app.state.services.settings, "spam", report, editor))
    assert (await client.post(url)).status_code == 403
    assert (await client.post(url, data={"csrf": "forged"})).status_code == 403
    assert await status_of(app, report) == "new"


async def test_a_link_is_good_for_its_own_action_only(app, client, report, editor) -> None:
    url = path_of(action_url(app.state.services.settings, "fixed", report, editor))
    page = await client.get(url.replace("/act/fixed/", "/act/spam/"))
    assert page.status_code == 400
    assert (await client.get(url.replace("/act/fixed/", "/act/new/"))).status_code == 404
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert (await client.get(tampered)).status_code == 400


async def test_an_expired_link_is_refused(app, client, report, editor) -> None:
    class LastWeek(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 24 * 3600

    old = itsdangerous.URLSafeTimedSerializer(
        app.state.services.settings.secret, salt="feedback.action-link.fixed", signer=LastWeek
    ).dumps([report, editor])
    page = await client.get(f"/dashboard/act/fixed/{old}")
    assert page.status_code == 400
    assert "expired" in page.text


async def test_a_link_is_refused_once_its_editor_lost_access(
    app, client, report, editor, site
) -> None:
    db = app.state.services.store
    url = path_of(action_url(app.state.services.settings, "fixed", report, editor))
    csrf = csrf_of((await client.get(url)).text)
    await update_user(db, editor, "editor", [], False)
    assert (await client.get(url)).status_code == 403
    assert (await client.post(url, data={"csrf": csrf})).status_code == 403
    await update_user(db, editor, "editor", [site.id], True)
    refused = await client.post(url, data={"csrf": csrf})
    assert refused.status_code == 403
    assert "no longer has access" in refused.text
    assert await status_of(app, report) == "new"
