"""From a reader's report to a message at a real receiver: outbox, routing, retries,
no floods, digests."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace

import pytest

from feedback.app import create_app
from feedback.notify import formats
from feedback.notify.links import read_action_token
from feedback.notify.worker import DeliveryWorker
from feedback.store import actions as store_actions
from tests.conftest import make_settings
from tests.dashboard_support import make_user, send_report
from tests.notify_support import add_destination, deliveries, wait_for
from tests.receivers import receiver

ORIGIN = "https://example.com"


@pytest.fixture
def settings(tmp_path, database):
    # Loopback receivers, and retries fast enough for a test.
    return make_settings(
        tmp_path, database=database, allow_private_targets=True, delivery_backoff=0.05
    )


@pytest.fixture
def hook():
    with receiver() as r:
        yield r


async def test_a_new_report_reaches_a_webhook_signed_once(app, client, site, hook) -> None:
    editor = await make_user(app, "desk@example.com", "editor", [site])
    dest, secret = await add_destination(app, site, "webhook", f"{hook.url}/h", created_by=editor)
    report_id = await send_report(client, site, ORIGIN)
    await wait_for(lambda: hook.requests, what="the webhook")
    # A duplicate of the open report sends nothing new.
    assert await send_report(client, site, ORIGIN) == report_id
    await app.state.services.delivery.step()
    await asyncio.sleep(0.3)
    assert len(hook.requests) == 1
    got = hook.requests[0]
    assert formats.verify(secret, got.body, got.headers["Feedback-Signature"])
    body = got.json()
    assert body["type"] == "report.created"
    assert body["report"]["id"] == report_id
    assert body["report"]["quote"]["exact"] == "teh"
    assert body["report"]["suggestion"] == "the"
    assert got.headers["Feedback-Delivery"] == body["id"]
    assert set(body["links"]["actions"]) == {"fixed", "rejected", "spam"}
    [row] = await deliveries(app, dest)
    assert (row["state"], row["attempts"], row["last_code"]) == ("delivered", 1, 200)


async def test_500_500_500_200_gives_exactly_one_successful_delivery(
    app, client, site, hook
) -> None:
    hook.answer(500, 500, 500)
    dest, _ = await add_destination(app, site, "webhook", hook.url)
    await send_report(client, site, ORIGIN)
    await wait_for(lambda: len(hook.requests) >= 4, what="four attempts")
    await asyncio.sleep(0.5)
    assert len(hook.requests) == 4
    assert len({r.headers["Feedback-Delivery"] for r in hook.requests}) == 1
    [row] = await deliveries(app, dest)
    assert (row["state"], row["attempts"], row["last_code"]) == ("delivered", 4, 200)


async def test_other_4xx_gives_up_at_once(app, client, site, hook) -> None:
    hook.answer(404)
    dest, _ = await add_destination(app, site, "webhook", hook.url)
    await send_report(client, site, ORIGIN)
    row = await wait_for(lambda: _state(app, dest, "failed"), what="the delivery to fail")
    assert (row["attempts"], row["last_code"]) == (1, 404)
    await asyncio.sleep(0.3)
    assert len(hook.requests) == 1


async def test_retry_after_is_honoured(app, client, site, hook) -> None:
    hook.answer((429, {"Retry-After": "60"}, b""))
    dest, _ = await add_destination(app, site, "webhook", hook.url)
    await send_report(client, site, ORIGIN)
    await wait_for(lambda: hook.requests, what="the first attempt")
    row = await wait_for(lambda: _attempted(app, dest), what="the attempt to be recorded")
    assert row["state"] == "pending"
    assert row["next_at"] >= time.time() + 55


async def test_a_delivery_fails_after_the_configured_attempts(tmp_path, database, hook) -> None:
    settings = make_settings(
        tmp_path, database=database, allow_private_targets=True, delivery_backoff=0.02,
        delivery_attempts=3,
    )  # fmt: skip
    hook.answer(500, 500, 500, 500, 500)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        from feedback.store.sites import add_site

        site = await add_site(app.state.services.store, "S", [ORIGIN])
        dest, _ = await add_destination(app, site, "webhook", hook.url)
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await send_report(c, site, ORIGIN)
        row = await wait_for(lambda: _state(app, dest, "failed"), what="failure")
    assert row["attempts"] == 3
    assert len(hook.requests) == 3


async def test_path_prefix_and_events_route_messages(app, client, site, hook) -> None:
    editor = await make_user(app, "desk@example.com", "admin")
    news, _ = await add_destination(app, site, "slack", f"{hook.url}/news", path_prefix="/news/")
    updates, _ = await add_destination(
        app, site, "webhook", f"{hook.url}/updates", events="report.updated"
    )
    sport = await send_report(client, site, ORIGIN, url=f"{ORIGIN}/sport/match")
    story = await send_report(client, site, ORIGIN, url=f"{ORIGIN}/news/story")
    await wait_for(lambda: hook.requests, what="the news message")
    await store_actions.change_status(
        app.state.services.store, [sport], "fixed", editor, None, time.time()
    )
    await wait_for(lambda: len(hook.requests) >= 2, what="the update")
    await asyncio.sleep(0.3)
    paths = sorted(r.path for r in hook.requests)
    assert paths == ["/news", "/updates"]
    news_text = next(r for r in hook.requests if r.path == "/news").json()["text"]
    assert f"#{story}" in news_text
    update = next(r for r in hook.requests if r.path == "/updates").json()
    assert (update["type"], update["report"]["id"], update["report"]["status"]) == (
        "report.updated", sport, "fixed",
    )  # fmt: skip
    assert len(await deliveries(app, news)) == 1
    assert len(await deliveries(app, updates)) == 1


async def test_an_hourly_cap_switches_to_a_digest_that_says_so(tmp_path, database, hook) -> None:
    import httpx

    from feedback.store.sites import add_site

    settings = make_settings(
        tmp_path, database=database, allow_private_targets=True, notify_hourly_cap=2
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        svc = app.state.services
        site = await add_site(svc.store, "S", [ORIGIN])
        dest, _ = await add_destination(app, site, "webhook", hook.url)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for n in range(5):
                await send_report(c, site, ORIGIN, url=f"{ORIGIN}/news/{n}")
        await wait_for(lambda: len(hook.requests) >= 2, what="two messages")
        await svc.delivery.step()
        await asyncio.sleep(0.3)
        assert len(hook.requests) == 2
        rows = await deliveries(app, dest)
        assert sorted(r["state"] for r in rows) == [
            "delivered",
            "delivered",
            "held",
            "held",
            "held",
        ]
        # At the end of the hour, the held reports go out as one summary.
        next_hour = time.time() + 3600
        later = DeliveryWorker(svc.store, svc.http, settings, clock=lambda: next_hour)
        assert await later.step() == 1
    assert len(hook.requests) == 3
    digest = hook.requests[2].json()
    assert digest["type"] == "digest"
    assert digest["capped"] is True
    assert len(digest["new"]) == 3


async def test_digest_mode_collects_a_batch_into_one_message(app, client, site, hook) -> None:
    svc = app.state.services
    dest, _ = await add_destination(app, site, "slack", hook.url, digest="hourly")
    for n in range(3):
        await send_report(client, site, ORIGIN, url=f"{ORIGIN}/news/{n}", title=f"Story {n}")
    await svc.delivery.step()
    await asyncio.sleep(0.2)
    assert hook.requests == []
    # Nothing new this hour: nothing is sent.
    now_worker = DeliveryWorker(svc.store, svc.http, svc.settings)
    assert await now_worker.step() == 0
    next_hour = time.time() + 3600
    later = DeliveryWorker(svc.store, svc.http, svc.settings, clock=lambda: next_hour)
    assert await later.step() == 1
    assert await later.step() == 0
    assert len(hook.requests) == 1
    text = hook.requests[0].json()["text"]
    assert "3 new reports" in text
    assert all(f"Story {n}" in text for n in range(3))
    states = sorted(r["state"] for r in await deliveries(app, dest))
    assert states == ["delivered", "digested", "digested", "digested"]


async def test_spam_and_rolled_back_changes_announce_nothing(app, client, site, hook) -> None:
    svc = app.state.services
    await add_destination(app, site, "webhook", hook.url, events="report.created,report.updated")

    async def failing(tx):
        await tx.execute("UPDATE reports SET status = 'fixed'")
        raise RuntimeError("changed my mind")

    report = await send_report(client, site, ORIGIN)
    await wait_for(lambda: hook.requests, what="the created message")
    with pytest.raises(RuntimeError):
        await svc.store.write(failing)
    await svc.delivery.step()
    await asyncio.sleep(0.3)
    assert [r.json()["type"] for r in hook.requests] == ["report.created"]
    assert report


async def _state(app, dest: int, state: str):
    rows = await deliveries(app, dest)
    return rows[0] if rows and rows[0]["state"] == state else None


async def _attempted(app, dest: int):
    rows = await deliveries(app, dest)
    return rows[0] if rows and rows[0]["attempts"] >= 1 else None


def test_settings_replace_keeps_delivery_fields(tmp_path) -> None:
    s = replace(make_settings(tmp_path), delivery_attempts=2)
    assert s.delivery_attempts == 2


async def test_two_instances_deliver_each_message_once(tmp_path, database, hook) -> None:
    import httpx

    from feedback.store.sites import add_site

    settings = make_settings(tmp_path, database=database, allow_private_targets=True)
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        site = await add_site(first.state.services.store, "S", [ORIGIN])
        await add_destination(first, site, "webhook", hook.url)
        sent = []
        for n, app in enumerate([first, second] * 6):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                sent.append(await send_report(c, site, ORIGIN, url=f"{ORIGIN}/n/{n}"))
        # Both workers step at once, over and over, racing for the same rows.
        for _ in range(5):
            await asyncio.gather(first.state.services.delivery.step(),
                                 second.state.services.delivery.step())  # fmt: skip
        await wait_for(lambda: len(hook.requests) >= len(sent), what="every message")
        await asyncio.sleep(1.5)
    got = [r.json()["report"]["id"] for r in hook.requests]
    assert sorted(got) == sorted(sent)
    assert len({r.headers["Feedback-Delivery"] for r in hook.requests}) == len(sent)


async def test_email_and_telegram_destinations_through_the_worker(tmp_path, database, hook) -> None:
    import email
    import email.policy

    import httpx
    from aiosmtpd.controller import Controller
    from starlette.datastructures import Secret

    from feedback.store.sites import add_site
    from tests.test_mail import Inbox, free_port

    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    settings = make_settings(
        tmp_path, database=database, allow_private_targets=True,
        smtp_url=Secret(f"smtp://127.0.0.1:{port}"), mail_from="fb@example.com",
        telegram_api=hook.url,
    )  # fmt: skip
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            store = app.state.services.store
            site = await add_site(store, "S", [ORIGIN])
            desk = await make_user(app, "desk@example.com", "editor", [site])
            await add_destination(app, site, "email", "desk@example.com")
            await add_destination(app, site, "telegram", "123:ABC/-100555")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                report = await send_report(c, site, ORIGIN, comment="<b>@channel</b>")
            await wait_for(lambda: inbox.messages and hook.requests, what="both messages")
    finally:
        smtp.stop()
    message = email.message_from_bytes(inbox.messages[0][2], policy=email.policy.default)
    plain = message.get_body(("plain",)).get_content()
    fixed = re.search(r"Fixed: (\S+)", plain).group(1)
    token = fixed.rsplit("/", 1)[1]
    # The email's links act as the editor it was sent to.
    assert read_action_token(settings, "fixed", token) == (report, desk)
    sent = hook.requests[0]
    assert sent.path == "/bot123:ABC/sendMessage"
    body = sent.json()
    assert body["chat_id"] == "-100555" and "&lt;b&gt;" in body["text"]
