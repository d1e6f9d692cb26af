"""The site's notifications page: destinations, delivery log and redelivery, tokens, and
the CMS edit link; admins only."""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_settings
from tests.dashboard_support import csrf_of, make_user, send_report, sign_in
from tests.notify_support import deliveries, wait_for
from tests.receivers import receiver

ORIGIN = "https://example.com"


@pytest.fixture
def settings(tmp_path, database):
    return make_settings(
        tmp_path, database=database, allow_private_targets=True, delivery_backoff=0.05,
        delivery_attempts=2,
    )  # fmt: skip


@pytest.fixture
async def admin(app, client) -> str:
    await make_user(app, "boss@example.com", "admin")
    return await sign_in(client, "boss@example.com")


async def test_an_admin_adds_a_webhook_sees_its_secret_once_and_its_log(
    app, client, site, admin
) -> None:
    with receiver() as hook:
        hook.answer(500, 500)
        page = await client.post(
            f"/dashboard/sites/{site.id}/destinations",
            data={"csrf": admin, "kind": "webhook", "target": f"{hook.url}/in",
                  "events": ["report.created"], "digest": "off", "path_prefix": ""},
        )  # fmt: skip
        assert page.status_code == 200, page.text
        secret = re.search(r"(whsec_[\w-]+)", page.text).group(1)
        listing = await client.get(f"/dashboard/sites/{site.id}/notify")
        assert secret not in listing.text
        dest = int(re.search(r'href="/dashboard/destinations/(\d+)"', listing.text).group(1))
        await send_report(client, site, ORIGIN)
        # Two 500s with two attempts allowed: the delivery fails, and can be sent again.
        row = await wait_for(lambda: _failed(app, dest), what="the delivery to fail")
        log = await client.get(f"/dashboard/destinations/{dest}")
        assert "failed" in log.text and "500" in log.text and "Redeliver" in log.text
        again = await client.post(
            f"/dashboard/deliveries/{row['id']}/redeliver", data={"csrf": csrf_of(log.text)}
        )
        assert again.status_code == 303
        await wait_for(lambda: _delivered(app, dest), what="the redelivery")
        assert len(hook.requests) == 3


async def test_refused_destinations_say_why(app, client, site, admin, settings) -> None:
    from dataclasses import replace

    app.state.services.settings = replace(settings, allow_private_targets=False)
    page = await client.post(
        f"/dashboard/sites/{site.id}/destinations",
        data={"csrf": admin, "kind": "slack", "target": "http://localhost/hook",
              "events": ["report.created"], "digest": "off"},
    )  # fmt: skip
    assert page.status_code == 400
    assert "loopback" in page.text
    assert await app.state.services.store.fetchall("SELECT id FROM destinations") == []


async def test_tokens_are_shown_once_and_can_be_revoked(app, client, site, admin) -> None:
    page = await client.post(
        f"/dashboard/sites/{site.id}/tokens", data={"csrf": admin, "name": "CMS", "scope": "read"}
    )
    token = re.search(r"(fbk_[\w-]+)", page.text).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/sites", headers=headers)).status_code == 200
    listing = await client.get(f"/dashboard/sites/{site.id}/notify")
    assert token not in listing.text
    token_id = re.search(r'action="/dashboard/tokens/(\d+)/revoke"', listing.text).group(1)
    await client.post(
        f"/dashboard/tokens/{token_id}/revoke",
        data={"csrf": csrf_of(listing.text), "site": str(site.id)},
    )
    assert (await client.get("/api/v1/sites", headers=headers)).status_code == 401


async def test_the_edit_link_shows_on_the_report_page(app, client, site, admin) -> None:
    bad = await client.post(
        f"/dashboard/sites/{site.id}/edit-link", data={"csrf": admin, "edit_url": "javascript:x"}
    )
    assert bad.status_code == 400
    await client.post(
        f"/dashboard/sites/{site.id}/edit-link",
        data={"csrf": admin, "edit_url": "https://cms.example.com/edit?url={url}"},
    )
    report = await send_report(client, site, ORIGIN)
    page = await client.get(f"/dashboard/reports/{report}")
    assert (
        'href="https://cms.example.com/edit?url=https%3A%2F%2Fexample.com%2Fnews%2Farticle"'
        in page.text
    )


async def test_editors_cannot_reach_the_page(app, client, site) -> None:
    await make_user(app, "desk@example.com", "editor", [site])
    csrf = await sign_in(client, "desk@example.com")
    assert (await client.get(f"/dashboard/sites/{site.id}/notify")).status_code == 404
    response = await client.post(
        f"/dashboard/sites/{site.id}/tokens", data={"csrf": csrf, "scope": "write"}
    )
    assert response.status_code == 404


async def _failed(app, dest: int):
    rows = await deliveries(app, dest)
    return rows[0] if rows and rows[0]["state"] == "failed" else None


async def _delivered(app, dest: int):
    rows = await deliveries(app, dest)
    return rows[0] if rows and rows[0]["state"] == "delivered" else None
