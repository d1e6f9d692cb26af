"""Administration: sites with their embed tag, and user accounts."""

from __future__ import annotations

import re

import httpx
import pytest
from dashboard_support import make_user, send_report, sign_in
from starlette.applications import Starlette

from feedback.store.users import check_password, credentials


@pytest.fixture
async def csrf(app: Starlette, client: httpx.AsyncClient) -> str:
    await make_user(app, "admin@example.com", "admin")
    return await sign_in(client, "admin@example.com")


async def test_admin_creates_a_site_and_sees_its_embed_tag(
    app: Starlette, client: httpx.AsyncClient, csrf: str
) -> None:
    r = await client.post(
        "/dashboard/sites",
        data={
            "csrf": csrf,
            "name": "Daily Bugle",
            "origins": "https://bugle.example/\nhttps://www.bugle.example",
        },
    )
    assert r.status_code == 303
    page = (await client.get(r.headers["location"])).text
    key = re.search(r"data-site=&#34;([^&]+)&#34;", page).group(1)
    assert (
        f"&lt;script src=&#34;http://testserver/widget.js&#34; data-site=&#34;{key}&#34; "
        "async&gt;&lt;/script&gt;" in page
    )
    assert 'data-copy="embed-tag"' in page and "none yet" in page
    site = await app.state.services.sites.get(key)
    assert site and site.origins == {"https://bugle.example", "https://www.bugle.example"}
    await send_report(client, site, "https://bugle.example")
    page = (await client.get(r.headers["location"])).text
    assert "none yet" not in page and "UTC" in page


async def test_admin_edits_a_sites_origins(
    app: Starlette, client: httpx.AsyncClient, csrf: str, site
) -> None:
    r = await client.post(
        f"/dashboard/sites/{site.id}",
        data={"csrf": csrf, "name": "Renamed", "origins": "https://new.example"},
    )
    assert r.status_code == 303
    fresh = await app.state.services.sites.get(site.key)
    assert fresh.name == "Renamed" and fresh.origins == {"https://new.example"}


async def test_bad_origins_are_refused(
    app: Starlette, client: httpx.AsyncClient, csrf: str
) -> None:
    r = await client.post(
        "/dashboard/sites", data={"csrf": csrf, "name": "X", "origins": "not a url"}
    )
    assert r.status_code == 400 and "Not an origin" in r.text


async def test_admin_creates_changes_and_disables_users(
    app: Starlette, client: httpx.AsyncClient, csrf: str, site
) -> None:
    r = await client.post(
        "/dashboard/users",
        data={"csrf": csrf, "email": "new@example.com", "role": "editor", "site": str(site.id)},
    )
    assert r.status_code == 200
    page = r.text
    password = re.search(r"Their first password: (\S+)</p>", page).group(1)
    db = app.state.services.store
    found = await credentials(db, "new@example.com")
    assert found and check_password(password, found[1])
    await client.post(
        f"/dashboard/users/{found[0]}",
        data={"csrf": csrf, "role": "editor", "disabled": "1"},
    )
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        page = await other.get("/dashboard/login")
        r = await other.post(
            "/dashboard/login",
            data={
                "email": "new@example.com",
                "password": password,
                "csrf": re.search(r'name="csrf" value="([^"]+)"', page.text).group(1),
            },
        )
        assert r.status_code == 400


async def test_admin_cannot_lock_themselves_out(
    app: Starlette, client: httpx.AsyncClient, csrf: str
) -> None:
    found = await credentials(app.state.services.store, "admin@example.com")
    r = await client.post(
        f"/dashboard/users/{found[0]}",
        data={"csrf": csrf, "role": "editor"},
        follow_redirects=True,
    )
    assert "cannot demote or disable yourself" in r.text
