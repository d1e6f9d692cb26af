"""Checking a new destination before it is saved, the same for the CLI and the dashboard."""

from __future__ import annotations

import re
import secrets

from feedback.mail import MailError, check_address
from feedback.outbound import RefusedTarget, check_target
from feedback.settings import Settings
from feedback.store.notify import DIGESTS, EVENTS, KINDS, NewDestination

_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_CHAT = re.compile(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,}")


class DestinationError(ValueError):
    """What is wrong with a destination, in words for the person adding it."""


def parse_events(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    events = tuple(dict.fromkeys(e.strip() for e in items if e.strip()))
    if not events:
        raise DestinationError(f"choose at least one event: {', '.join(EVENTS)}")
    for event in events:
        if event not in EVENTS:
            raise DestinationError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    return events


async def prepare(
    settings: Settings,
    *,
    kind: str,
    target: str,
    path_prefix: str = "",
    events: str | list[str] | tuple[str, ...] = "report.created",
    digest: str = "off",
) -> NewDestination:
    """A destination ready to store, with its secret; DestinationError if it is not right."""
    target = target.strip()
    if kind not in KINDS:
        raise DestinationError(f"kind must be one of {', '.join(KINDS)}")
    if digest not in DIGESTS:
        raise DestinationError(f"digest must be one of {', '.join(DIGESTS)}")
    path_prefix = path_prefix.strip()
    if path_prefix and not path_prefix.startswith("/"):
        raise DestinationError("a path prefix starts with /, e.g. /news/")
    if len(target) > 2000 or len(path_prefix) > 500:
        raise DestinationError("the target or path prefix is too long")
    chosen = parse_events(events)
    secret = ""
    if kind in ("webhook", "slack"):
        try:
            await check_target(target, allow_private=settings.allow_private_targets)
        except RefusedTarget as exc:
            raise DestinationError(f"target refused: {exc}") from None
        if kind == "webhook":
            secret = "whsec_" + secrets.token_urlsafe(24)
    elif kind == "telegram":
        token, _, chat = target.rpartition("/")
        if not _BOT_TOKEN.fullmatch(token) or not _CHAT.fullmatch(chat):
            raise DestinationError(
                "a telegram target is BOT_TOKEN/CHAT_ID, e.g. 123456:ABC-DEF/-1001234567890 "
                "or 123456:ABC-DEF/@channelname"
            )
        target, secret = chat, token
    else:
        try:
            check_address(target)
        except MailError as exc:
            raise DestinationError(str(exc)) from None
    return NewDestination(kind, target, secret, path_prefix, chosen, digest)
