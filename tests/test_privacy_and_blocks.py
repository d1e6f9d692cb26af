"""What is kept about a reader: an IP hash whose key changes daily, a browser family and
system; and spam blocks that stay on their own site and go away with undo."""

from __future__ import annotations

import time

import pytest
from dashboard_support import make_user

from feedback.clients import ip_hash, ip_hashes, today
from feedback.store.actions import change_status, undo_last
from feedback.store.sites import add_site
from feedback.useragent import reduce_user_agent
from tests.conftest import report_payload

READER = "203.0.113.7"  # the client fixture's address


async def send(client, site, origin: str, word: str, **headers: str):
    body = report_payload(site, url=f"{origin}/story", quote={"exact": word})
    r = await client.post("/api/v1/reports", json=body, headers={"Origin": origin, **headers})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def status_of(app, report_id: int) -> str:
    row = await app.state.services.store.fetchone(
        "SELECT status FROM reports WHERE id = ?", (report_id,)
    )
    return row[0]


async def test_a_spam_block_stays_on_its_site_and_undo_lifts_it(app, client) -> None:
    store = app.state.services.store
    site_a = await add_site(store, "A", ["https://a.example"])
    site_b = await add_site(store, "B", ["https://b.example"])
    editor = await make_user(app, "ed@example.com", "admin")
    first = await send(client, site_a, "https://a.example", "spammy")
    now = time.time()
    await change_status(store, [first], "spam", editor, None, now, block_until=now + 3600)

    assert await status_of(app, await send(client, site_a, "https://a.example", "again")) == "spam"
    # The same reader on another site is not blocked there.
    assert await status_of(app, await send(client, site_b, "https://b.example", "fine")) == "new"

    await undo_last(store, editor, None, time.time())
    assert await status_of(app, first) == "new"
    # Undo lifted the block: the reader's next report is an ordinary one again.
    assert await status_of(app, await send(client, site_a, "https://a.example", "real")) == "new"


async def test_blocks_hold_across_the_day_boundary_and_no_longer(app, client) -> None:
    store = app.state.services.store
    site = await add_site(store, "A", ["https://a.example"])
    secret = app.state.services.settings.secret

    async def block(hashed: str) -> None:
        async def unit(tx):
            await tx.execute("DELETE FROM ip_blocks")
            await tx.execute(
                "INSERT INTO ip_blocks (site_id, ip_hash, until, created_at) VALUES (?, ?, ?, ?)",
                (site.id, hashed, time.time() + 86400, time.time()),
            )

        await store.write(unit)

    # Set yesterday (the hash under yesterday's key): still blocks today.
    await block(ip_hash(secret, READER, today() - 1))
    assert await status_of(app, await send(client, site, "https://a.example", "w1")) == "spam"
    # Set the day before: today's and yesterday's hashes both differ from it.
    await block(ip_hash(secret, READER, today() - 2))
    assert await status_of(app, await send(client, site, "https://a.example", "w2")) == "new"


async def test_the_stored_ip_hash_changes_key_every_day(app, client, site) -> None:
    report_id = await send(client, site, "https://example.com", "teh")
    row = await app.state.services.store.fetchone(
        "SELECT ip_hash FROM submissions WHERE report_id = ?", (report_id,)
    )
    secret = app.state.services.settings.secret
    assert row[0] == ip_hash(secret, READER)
    assert READER not in row[0]
    assert row[0] != ip_hash(secret, READER, today() - 1)
    assert row[0] != ip_hash(secret, READER, today() + 1)
    assert ip_hashes(secret, READER, time.time() + 86400)[1] == row[0]  # tomorrow's "yesterday"


async def test_only_browser_family_and_system_are_stored(app, client, site) -> None:
    ua = (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.6099.210 Mobile Safari/537.36"
    )
    report_id = await send(client, site, "https://example.com", "teh", **{"User-Agent": ua})
    row = await app.state.services.store.fetchone(
        "SELECT user_agent FROM submissions WHERE report_id = ?", (report_id,)
    )
    assert row[0] == "Chrome on Android"


@pytest.mark.parametrize(
    ("ua", "reduced"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
         "Firefox on Windows"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Safari on iOS"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
         "Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Edge on macOS"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 YaBrowser/24.1.0.0 Safari/537.36", "Yandex Browser on Linux"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Bot"),
        ("something odd", "Other on Other"),
        ("", ""),
    ],
)  # fmt: skip
def test_user_agents_are_reduced(ua: str, reduced: str) -> None:
    assert reduce_user_agent(ua) == reduced
