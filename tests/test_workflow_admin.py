"""Accounts and sites without a shell: passwords, reset links, deleting users and sites,
switching a site off, rotating its key with a grace period, and the install check."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from dashboard_support import PASSWORD, csrf_of, make_user, send_report, sign_in
from starlette.applications import Starlette

from feedback.store.sites import Site
from feedback.store.users import check_password, credentials
from tests.conftest import report_payload

ORIGIN = "https://example.com"


@pytest.fixture
async def csrf(app: Starlette, client: httpx.AsyncClient) -> str:
    await make_user(app, "admin@example.com", "admin")
    return await sign_in(client, "admin@example.com")


async def post_report(client: httpx.AsyncClient, body: dict, origin: str) -> httpx.Response:
    return await client.post("/api/v1/reports", json=body, headers={"Origin": origin})


async def signed_in_elsewhere(app: Starlette, email: str) -> httpx.AsyncClient:
    """A second browser signed in as the same user, for checking it gets signed out."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 4100))
    other = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    await sign_in(other, email)
    return other


async def test_change_your_own_password(
    app: Starlette, client: httpx.AsyncClient, csrf: str
) -> None:
    elsewhere = await signed_in_elsewhere(app, "admin@example.com")
    page = await client.get("/dashboard/account")
    assert "Change your password" in page.text
    wrong = await client.post(
        "/dashboard/account/password",
        data={
            "csrf": csrf,
            "current": "nope",
            "password": "new password 1",
            "again": "new password 1",
        },
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    mismatch = await client.post(
        "/dashboard/account/password",
        data={"csrf": csrf, "current": PASSWORD, "password": "new password 1", "again": "other"},
    )
    assert "do not match" in mismatch.text
    ok = await client.post(
        "/dashboard/account/password",
        data={"csrf": csrf, "current": PASSWORD, "password": "new password 1",
              "again": "new password 1"},
        follow_redirects=True,
    )  # fmt: skip
    assert "Your password has been changed" in ok.text
    found = await credentials(app.state.services.store, "admin@example.com")
    assert found and check_password("new password 1", found[1])
    # The browser that changed it stays signed in; every other session has ended.
    assert (await client.get("/dashboard/")).status_code == 200
    gone = await elsewhere.get("/dashboard/")
    await elsewhere.aclose()
    assert gone.status_code == 401  # signed out: the dashboard asks for a sign-in


async def test_admin_reset_link_works_once(
    app: Starlette, client: httpx.AsyncClient, csrf: str
) -> None:
    user_id = await make_user(app, "ed@example.com", "editor")
    elsewhere = await signed_in_elsewhere(app, "ed@example.com")
    r = await client.post(f"/dashboard/users/{user_id}/reset-link", data={"csrf": csrf})
    assert "Email is not set up" in r.text
    link = re.search(r'<code id="handover-link">([^<]+)</code>', r.text).group(1)
    path = link.removeprefix("http://testserver")
    assert path.startswith("/dashboard/password/reset/")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        form = await other.get(path)
        assert form.headers["referrer-policy"] == "no-referrer"
        data = {"csrf": csrf_of(form.text), "password": "fresh password", "again": "fresh password"}
        assert (await other.post(path, data=data)).status_code == 303
        assert (await other.get(path)).status_code == 404  # used
        forged = path[:-3] + "abc"
        assert (await other.get(forged)).status_code == 404
    found = await credentials(app.state.services.store, "ed@example.com")
    assert found and check_password("fresh password", found[1])
    # Whoever held a session with the old password is signed out by the reset.
    gone = await elsewhere.get("/dashboard/")
    await elsewhere.aclose()
    assert gone.status_code == 401  # signed out: the dashboard asks for a sign-in


async def test_admin_deletes_a_user_but_keeps_their_history(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    user_id = await make_user(app, "gone@example.com", "editor", [site])
    report_id = await send_report(client, site, ORIGIN)
    store = app.state.services.store
    await store.write(
        lambda tx: tx.execute(
            "INSERT INTO report_events (report_id, user_id, from_status, to_status, created_at)"
            " VALUES (?, ?, 'new', 'fixed', ?)",
            (report_id, user_id, time.time()),
        )
    )
    refused = await client.post(
        f"/dashboard/users/{user_id}/delete", data={"csrf": csrf}, follow_redirects=True
    )
    assert "tick the box" in refused.text
    done = await client.post(
        f"/dashboard/users/{user_id}/delete",
        data={"csrf": csrf, "confirm": "delete"},
        follow_redirects=True,
    )
    assert "User deleted." in done.text and "gone@example.com" not in done.text
    history = (await client.get(f"/dashboard/reports/{report_id}")).text
    assert "someone</bdi>: new → fixed" in history


async def test_rotated_key_keeps_working_for_the_grace_period_only(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    await client.post(f"/dashboard/sites/{site.id}/rotate-key",
                      data={"csrf": csrf, "grace_hours": "24"})  # fmt: skip
    page = (await client.get(f"/dashboard/sites/{site.id}")).text
    new_key = re.search(r'<code id="site-key">([^<]+)</code>', page).group(1)
    assert new_key != site.key and "keeps working until" in page
    old = await post_report(client, report_payload(site), ORIGIN)
    assert old.status_code == 201  # cached pages with the old tag still work
    new = await post_report(client, {**report_payload(site), "site": new_key,
                                     "quote": {"exact": "new"}}, ORIGIN)  # fmt: skip
    assert new.status_code == 201
    await client.post(f"/dashboard/sites/{site.id}/rotate-key",
                      data={"csrf": csrf, "grace_hours": "0"})  # fmt: skip
    gone = await post_report(client, {**report_payload(site), "site": new_key}, ORIGIN)
    assert gone.status_code == 404


async def test_a_switched_off_site_refuses_reports_and_can_be_deleted(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    report_id = await send_report(client, site, ORIGIN)
    await client.post(f"/dashboard/sites/{site.id}/flags", data={"csrf": csrf, "disabled": "1"})
    refused = await post_report(client, report_payload(site, quote={"exact": "x"}), ORIGIN)
    assert refused.status_code == 404
    assert "switched off" in (await client.get(f"/dashboard/sites/{site.id}")).text
    kept = await client.post(
        f"/dashboard/sites/{site.id}/delete", data={"csrf": csrf, "confirm_name": "wrong"},
        follow_redirects=True,
    )  # fmt: skip
    assert "Not deleted: type the site" in kept.text
    gone = await client.post(
        f"/dashboard/sites/{site.id}/delete", data={"csrf": csrf, "confirm_name": site.name},
        follow_redirects=True,
    )  # fmt: skip
    assert f"Site {site.name} and all its reports deleted." in gone.text
    assert (await client.get(f"/dashboard/reports/{report_id}")).status_code == 404
    assert (await client.get("/dashboard/?q=teh")).status_code == 200
    left = await app.state.services.store.fetchone("SELECT count(*) FROM submissions")
    assert left[0] == 0


async def test_install_check_counts_refusals_and_allows_an_origin(
    app: Starlette, client: httpx.AsyncClient, site: Site, csrf: str
) -> None:
    svc = app.state.services
    before = (await client.get(f"/dashboard/sites/{site.id}")).text
    assert 'id="no-refusals"' in before and "none yet" in before
    body = report_payload(site)
    for _ in range(3):
        r = await post_report(client, body, "https://www.example.com")
        assert r.status_code == 403
    r = await post_report(client, {**body, "site": "not-a-key"}, ORIGIN)
    assert r.status_code == 404
    r = await post_report(client, {**body, "url": "https://cdn.example.net/a"}, ORIGIN)
    assert r.status_code == 403
    await svc.refusals.flush(svc.store)
    page = (await client.get(f"/dashboard/sites/{site.id}")).text
    rows = re.findall(
        r"<tr><td><code>([^<]+)</code></td><td>([^<]+)</td><td class=\"n\">(\d+)", page
    )
    assert ("https://www.example.com", "page on an origin the site does not list", "3") in rows
    assert ("https://example.com", "wrong or retired site key", "1") in rows
    assert ("https://cdn.example.net", "page address not on the site&#39;s origins", "1") in rows
    allowed = await client.post(
        f"/dashboard/sites/{site.id}/allow-origin",
        data={"csrf": csrf, "origin": "https://www.example.com"},
        follow_redirects=True,
    )
    assert "Reports from https://www.example.com are now accepted." in allowed.text
    r = await post_report(
        client, {**body, "url": "https://www.example.com/news/a"}, "https://www.example.com"
    )
    assert r.status_code == 201
    page = (await client.get(f"/dashboard/sites/{site.id}")).text
    assert "none yet" not in page  # the widget was seen working
