"""Sending one message to one destination, and what the outcome means for retrying.

Outcomes: delivered; retry later (network trouble, 5xx, 429, a mail server's 4xx),
honouring Retry-After; or failed for good (other 4xx, a refused target, redirects).
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from feedback.mail import MailError, send_mail
from feedback.notify import formats
from feedback.outbound import RefusedTarget
from feedback.settings import Settings

KINDS = ("webhook", "slack", "telegram", "email")
MAX_RETRY_AFTER = 24 * 3600.0
MAX_BACKOFF = 4 * 3600.0


@dataclass(frozen=True)
class Destination:
    """Where messages go; `secret` signs webhooks, or is the Telegram bot token."""

    id: int
    site_id: int
    kind: str
    target: str
    secret: str = ""


@dataclass(frozen=True)
class Outcome:
    state: Literal["delivered", "retry", "failed"]
    code: int | None = None
    error: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class Message:
    """A rendered message for one destination kind."""

    body: bytes = b""  # webhook, slack, telegram
    subject: str = ""  # email
    text: str = ""
    html: str = ""
    event_type: str = ""


def render(
    dest: Destination,
    event: dict[str, Any],
    links: formats.Links,
    delivery_id: str,
) -> Message:
    if dest.kind == "webhook":
        return Message(
            body=formats.webhook_body(event, links, delivery_id), event_type=event["type"]
        )
    if dest.kind == "slack":
        return Message(body=_json(formats.slack_body(event, links)))
    if dest.kind == "telegram":
        chat = telegram_chat(dest.target)
        return Message(body=_json(formats.telegram_body(chat, formats.telegram_text(event, links))))
    if dest.kind == "email":
        subject, text, html = formats.email_message(event, links)
        return Message(subject=subject, text=text, html=html)
    raise ValueError(f"unknown destination kind {dest.kind!r}")


def render_digest(dest: Destination, digest: formats.Digest, delivery_id: str) -> Message:
    if dest.kind == "webhook":
        return Message(body=formats.webhook_digest_body(digest, delivery_id), event_type="digest")
    if dest.kind == "slack":
        return Message(body=_json(formats.slack_digest_body(digest)))
    if dest.kind == "telegram":
        text = formats.telegram_digest_text(digest)
        return Message(body=_json(formats.telegram_body(telegram_chat(dest.target), text)))
    if dest.kind == "email":
        subject, text, html = formats.email_digest(digest)
        return Message(subject=subject, text=text, html=html)
    raise ValueError(f"unknown destination kind {dest.kind!r}")


def telegram_chat(target: str) -> str:
    """A Telegram target is the chat id (a number, or @channelname)."""
    return target.strip()


def target_url(settings: Settings, dest: Destination) -> str | None:
    """The address an HTTP destination posts to (None for email)."""
    if dest.kind == "telegram":
        return f"{settings.telegram_api.rstrip('/')}/bot{dest.secret}/sendMessage"
    if dest.kind in ("webhook", "slack"):
        return dest.target
    return None


async def send(
    http: httpx.AsyncClient,
    settings: Settings,
    dest: Destination,
    message: Message,
    delivery_id: str,
) -> Outcome:
    if dest.kind == "email":
        try:
            await send_mail(settings, dest.target, message.subject, message.text, message.html)
        except MailError as exc:
            return Outcome("retry" if exc.temporary else "failed", exc.code, str(exc))
        return Outcome("delivered", 250)
    url = target_url(settings, dest)
    assert url is not None
    headers = {"Content-Type": "application/json"}
    if dest.kind == "webhook":
        headers |= {
            "Feedback-Signature": formats.sign(dest.secret, message.body),
            "Feedback-Delivery": delivery_id,
            "Feedback-Event": message.event_type,
        }
    try:
        response = await http.post(url, content=message.body, headers=headers)
    except RefusedTarget as exc:
        return Outcome("failed", None, f"refused: {exc}")
    except httpx.HTTPError as exc:
        return Outcome("retry", None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    return classify(response, redact=dest.secret if dest.kind == "telegram" else "")


def classify(response: httpx.Response, redact: str = "") -> Outcome:
    code = response.status_code
    if 200 <= code < 300:
        return Outcome("delivered", code)
    detail = _detail(response)
    if redact:
        detail = detail.replace(redact, "…")
    if code == 429 or code >= 500 or code == 408:
        return Outcome("retry", code, detail, retry_after(response))
    if 300 <= code < 400:
        return Outcome("failed", code, "redirects are not followed; use the final address")
    return Outcome("failed", code, detail)


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the receiver asked us to wait: Retry-After (seconds or a date), or
    Telegram's parameters.retry_after."""
    value = response.headers.get("retry-after", "").strip()
    seconds: float | None = None
    if value.isdigit():
        seconds = float(value)
    elif value:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
            seconds = parsed.timestamp() - (time.time() if now is None else now)
        except (ValueError, TypeError):
            seconds = None
    if seconds is None:
        try:
            seconds = float(response.json()["parameters"]["retry_after"])
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt number `attempt + 1`: exponential, capped, with full jitter
    around the middle so many failed deliveries do not retry in lockstep."""
    ceiling = min(MAX_BACKOFF, base * 2 ** max(0, attempt - 1))
    return ceiling * (0.5 + (rng or random).random() / 2)


def next_try(outcome: Outcome, attempt: int, base: float) -> float:
    delay = backoff(attempt, base)
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    return delay


def _detail(response: httpx.Response) -> str:
    text = response.text if response.content else ""
    return f"HTTP {response.status_code}: {' '.join(text.split())[:300]}".rstrip(": ")


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
