"""Each destination kind, rendered and sent to a real receiver on loopback."""

from __future__ import annotations

import email
import email.policy
import html
import json
import random
import time
from dataclasses import replace

import httpx
import pytest
from starlette.datastructures import Secret

from feedback.notify import formats
from feedback.notify.links import action_urls, read_action_token
from feedback.notify.send import Destination, backoff, render, render_digest, retry_after, send
from feedback.outbound import outbound_client
from feedback.settings import Settings
from tests.receivers import receiver
from tests.test_mail import Inbox, free_port

HOSTILE = '<script>alert(1)</script> & <!channel> @here <a href="x">|'
SETTINGS = Settings(
    secret_key=Secret("k" * 32),
    public_url="https://feedback.example.com",
    allow_private_targets=True,
)


def sample_event(**report) -> dict:
    base = {
        "id": 42,
        "status": "new",
        "kind": "typo",
        "url": "https://example.com/news/story?x=1&y=2",
        "title": "Budget story",
        "lang": "en",
        "quote": {"exact": "teh", "prefix": "This is ", "suffix": " story."},
        "suggestion": "the",
        "comment": "",
        "readers": 3,
        "submissions": 4,
        "first_seen": 1764000000.0,
        "last_seen": 1764000100.0,
        "edit_url": None,
    }
    base.update(report)
    return {
        "type": "report.created",
        "at": time.time(),
        "site": {"key": "abc", "name": "Example News"},
        "report": base,
    }


def sample_links(report_id: int = 42, user_id: int = 7) -> formats.Links:
    return formats.Links(
        report=f"https://feedback.example.com/dashboard/reports/{report_id}",
        page="https://example.com/news/story#:~:text=teh",
        edit="https://cms.example.com/edit?url=x",
        actions=action_urls(SETTINGS, report_id, user_id),
    )


@pytest.fixture
async def http():
    async with outbound_client(allow_private=True, timeout=5) as client:
        yield client


async def test_webhook_is_signed_and_the_signature_verifies(http) -> None:
    with receiver() as hook:
        dest = Destination(1, 1, "webhook", f"{hook.url}/hook", secret="whsec_test")
        message = render(dest, sample_event(), sample_links(), "dlv_1")
        outcome = await send(http, SETTINGS, dest, message, "dlv_1")
    assert outcome.state == "delivered"
    got = hook.requests[0]
    assert got.headers["Feedback-Delivery"] == "dlv_1"
    assert got.headers["Feedback-Event"] == "report.created"
    assert formats.verify("whsec_test", got.body, got.headers["Feedback-Signature"])
    assert not formats.verify("wrong", got.body, got.headers["Feedback-Signature"])
    assert not formats.verify("whsec_test", got.body + b" ", got.headers["Feedback-Signature"])
    body = got.json()
    assert body["id"] == "dlv_1"
    assert body["report"]["quote"]["exact"] == "teh"
    assert body["report"]["suggestion"] == "the"
    assert body["site"]["key"] == "abc"
    assert body["report"]["first_seen"] == "2025-11-24T16:00:00Z"
    fixed = body["links"]["actions"]["fixed"]
    token = fixed.rsplit("/", 1)[1]
    assert read_action_token(SETTINGS, "fixed", token) == (42, 7)


def test_a_stale_or_malformed_signature_is_refused() -> None:
    body = b'{"x":1}'
    old = formats.sign("s", body, int(time.time()) - 3600)
    assert not formats.verify("s", body, old)
    assert not formats.verify("s", body, "v1=abc")
    assert not formats.verify("s", body, "t=notanumber,v1=abc")


async def test_slack_message_shows_quote_suggestion_and_links_with_reader_text_escaped(
    http,
) -> None:
    event = sample_event(
        quote={"exact": HOSTILE, "prefix": "<@U123> ", "suffix": " <https://evil|click>"},
        suggestion=HOSTILE,
        comment="@channel look",
        title="A <b>title</b>",
    )
    with receiver() as hook:
        dest = Destination(2, 1, "slack", f"{hook.url}/services/T/B/X")
        outcome = await send(http, SETTINGS, dest, render(dest, event, sample_links(), "d"), "d")
    assert outcome.state == "delivered"
    text = hook.requests[0].json()["text"]
    # Only our own links and markup survive; the reader's angle brackets are escaped.
    assert "<script>" not in text and "<!channel>" not in text and "<@U123>" not in text
    assert "&lt;script&gt;" in text
    assert "@channel" not in text and "@here" not in text
    plain = formats.slack_body(sample_event(), sample_links())["text"]
    assert "~teh~" in plain and "Suggestion: *the*" in plain
    assert "<https://example.com/news/story#:~:text=teh|Budget story>" in plain
    assert "3 readers" in plain and "|Fixed>" in plain and "|Not an error>" in plain
    assert "|Edit the article>" in plain


async def test_telegram_sendmessage_is_html_with_everything_escaped(http) -> None:
    event = sample_event(quote={"exact": HOSTILE, "prefix": "", "suffix": ""}, comment=HOSTILE)
    with receiver() as api:
        settings = replace(SETTINGS, telegram_api=api.url)
        dest = Destination(3, 1, "telegram", "-100123", secret="123:ABC")
        outcome = await send(http, settings, dest, render(dest, event, sample_links(), "d"), "d")
    assert outcome.state == "delivered"
    got = api.requests[0]
    assert got.path == "/bot123:ABC/sendMessage"
    body = got.json()
    assert body["chat_id"] == "-100123"
    assert body["parse_mode"] == "HTML"
    assert "<script>" not in body["text"]
    assert html.escape(HOSTILE).replace("@here", "@\u200bhere") in body["text"]
    assert (
        "<s>" in body["text"]
        and '<a href="https://feedback.example.com/dashboard/' in (body["text"])
    )


async def test_telegram_429_waits_as_long_as_asked_and_the_token_is_kept_out_of_errors(
    http,
) -> None:
    with receiver() as api:
        api.answer(
            (429, {}, b'{"ok":false,"parameters":{"retry_after":17}}'),
            (400, {}, b'{"ok":false,"description":"chat 123:ABC not found"}'),
        )
        settings = replace(SETTINGS, telegram_api=api.url)
        dest = Destination(3, 1, "telegram", "1", secret="123:ABC")
        message = render(dest, sample_event(), sample_links(), "d")
        first = await send(http, settings, dest, message, "d")
        second = await send(http, settings, dest, message, "d")
    assert (first.state, first.code, first.retry_after) == ("retry", 429, 17)
    assert (second.state, second.code) == ("failed", 400)
    assert "123:ABC" not in second.error


async def test_email_is_multipart_and_escaped() -> None:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = replace(
            SETTINGS, smtp_url=Secret(f"smtp://127.0.0.1:{port}"), mail_from="fb@example.com"
        )
        dest = Destination(4, 1, "email", "desk@example.com")
        event = sample_event(comment=HOSTILE)
        outcome = await send(
            httpx.AsyncClient(), settings, dest, render(dest, event, sample_links(), "d"), "d"
        )
    finally:
        controller.stop()
    assert outcome.state == "delivered"
    message = email.message_from_bytes(inbox.messages[0][2], policy=email.policy.default)
    assert "Example News" in message["Subject"]
    plain = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    assert HOSTILE in plain
    assert "<script>" not in rich and "&lt;script&gt;" in rich
    assert "<del>teh</del>" in rich and "<ins>the</ins>" in rich
    assert "/dashboard/act/fixed/" in plain and "/dashboard/act/spam/" in rich


@pytest.mark.parametrize(
    ("status", "headers", "state"),
    [
        (500, {}, "retry"),
        (503, {"Retry-After": "120"}, "retry"),
        (429, {"Retry-After": "5"}, "retry"),
        (408, {}, "retry"),
        (404, {}, "failed"),
        (410, {}, "failed"),
        (401, {}, "failed"),
        (302, {"Location": "http://169.254.169.254/"}, "failed"),
        (204, {}, "delivered"),
    ],
)
async def test_responses_decide_between_retrying_and_giving_up(
    http, status: int, headers: dict, state: str
) -> None:
    with receiver() as hook:
        hook.answer((status, headers, b""))
        dest = Destination(1, 1, "webhook", hook.url, secret="s")
        outcome = await send(
            http, SETTINGS, dest, render(dest, sample_event(), sample_links(), "d"), "d"
        )
    assert outcome.state == state
    assert outcome.code == status
    if "Retry-After" in headers:
        assert outcome.retry_after == float(headers["Retry-After"])


async def test_network_errors_are_retried_and_private_targets_refused_for_good() -> None:
    dest = Destination(1, 1, "webhook", f"http://127.0.0.1:{free_port()}/", secret="s")
    message = render(dest, sample_event(), sample_links(), "d")
    async with outbound_client(allow_private=True, timeout=2) as open_client:
        assert (await send(open_client, SETTINGS, dest, message, "d")).state == "retry"
    async with outbound_client(allow_private=False, timeout=2) as guarded:
        outcome = await send(guarded, SETTINGS, dest, message, "d")
    assert outcome.state == "failed"
    assert "loopback" in outcome.error


def test_retry_after_as_an_http_date() -> None:
    now = 1_764_000_000.0
    response = httpx.Response(503, headers={"Retry-After": "Mon, 24 Nov 2025 16:01:00 GMT"})
    assert retry_after(response, now=now) == 60.0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff(n, 30.0, rng) for n in range(1, 16)]
    assert 15 <= delays[0] <= 30
    assert 60 <= delays[2] <= 120
    assert max(delays) <= 4 * 3600
    # Fourteen attempts with the defaults take about a day.
    middle = sum(min(4 * 3600, 30 * 2 ** (n - 1)) * 0.75 for n in range(1, 14))
    assert 12 * 3600 < middle < 36 * 3600
    assert len({round(backoff(3, 30.0), 3) for _ in range(20)}) > 1


def test_digest_lists_new_most_reported_and_oldest_open_in_every_kind() -> None:
    reports = [sample_event(id=i, title=f"Story {i}")["report"] for i in (1, 2, 3)]
    digest = formats.Digest(
        site={"key": "abc", "name": "Example News"},
        period="hourly",
        start=1764000000.0,
        end=1764003600.0,
        new=reports,
        most_reported=[reports[1]],
        oldest_open=[reports[0]],
        capped=True,
        report_links={1: "https://f/dashboard/reports/1"},
    )
    for kind in ("webhook", "slack", "telegram", "email"):
        message = render_digest(Destination(1, 1, kind, "x@example.com"), digest, "d")
        blob = message.body.decode() + message.text + message.html
        assert "Story 3" in blob and "Story 1" in blob
        if kind != "webhook":
            assert "3 new reports" in blob
            assert "summary" in blob
        else:
            body = json.loads(message.body)
            assert body["type"] == "digest" and body["capped"] and len(body["new"]) == 3


@pytest.mark.parametrize(
    ("kind", "target", "extra", "message"),
    [
        ("webhook", "http://169.254.169.254/latest", {}, "link-local"),
        ("webhook", "file:///etc/passwd", {}, "http"),
        ("slack", "http://[::1]/hook", {}, "loopback"),
        ("telegram", "not-a-token", {}, "BOT_TOKEN/CHAT_ID"),
        ("telegram", "123:abc/chat id", {}, "BOT_TOKEN/CHAT_ID"),
        ("email", "nobody", {}, "not an email"),
        ("email", "a@example.com", {"events": "report.deleted"}, "unknown event"),
        ("email", "a@example.com", {"events": ""}, "at least one event"),
        ("email", "a@example.com", {"path_prefix": "news"}, "starts with /"),
        ("email", "a@example.com", {"digest": "weekly"}, "digest"),
        ("sms", "+100", {}, "kind"),
    ],
)
async def test_bad_destinations_are_refused_before_saving(kind, target, extra, message) -> None:
    from feedback.notify.destinations import DestinationError, prepare

    settings = replace(SETTINGS, allow_private_targets=False)
    with pytest.raises(DestinationError, match=message):
        await prepare(settings, kind=kind, target=target, **extra)


async def test_a_telegram_target_splits_into_chat_and_token() -> None:
    from feedback.notify.destinations import prepare

    new = await prepare(SETTINGS, kind="telegram", target="123456:AA-bb_c/-100123")
    assert (new.target, new.secret) == ("-100123", "123456:AA-bb_c")
    webhook = await prepare(SETTINGS, kind="webhook", target="http://127.0.0.1:9/h")
    assert webhook.secret.startswith("whsec_") and len(webhook.secret) > 30
