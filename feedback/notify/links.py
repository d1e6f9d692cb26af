"""Signed action links in chat and email messages: Fixed, Not an error, Spam.

A link names one report, one action and the editor it was sent to. Each action signs
with its own salt, so a "Fixed" link cannot be turned into a "Spam" one, and every link
expires after a week. Opening a link only shows a confirm page; its POST acts.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import itsdangerous
from itsdangerous.exc import BadSignature, SignatureExpired

from feedback.settings import Settings

LINK_ACTIONS = {"fixed": "Fixed", "rejected": "Not an error", "spam": "Spam"}
LINK_MAX_AGE = 7 * 24 * 3600


class LinkError(ValueError):
    """The link is not one of ours, is for another action, or has expired."""


def _serializer(settings: Settings, action: str) -> itsdangerous.URLSafeTimedSerializer:
    if action not in LINK_ACTIONS:
        raise LinkError(f"unknown action {action!r}")
    return itsdangerous.URLSafeTimedSerializer(
        settings.secret, salt=f"feedback.action-link.{action}"
    )


def action_token(settings: Settings, action: str, report_id: int, user_id: int) -> str:
    return _serializer(settings, action).dumps([report_id, user_id])


def read_action_token(
    settings: Settings, action: str, token: str, max_age: int = LINK_MAX_AGE
) -> tuple[int, int]:
    """(report id, editor id) from a link's token; LinkError if it is not valid now."""
    try:
        value = _serializer(settings, action).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkError("This link has expired. Open the report in the dashboard.") from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise LinkError("This link is not valid.")
    return value[0], value[1]


def action_url(settings: Settings, action: str, report_id: int, user_id: int) -> str:
    token = action_token(settings, action, report_id, user_id)
    return f"{settings.public_url.rstrip('/')}/dashboard/act/{action}/{token}"


def action_urls(settings: Settings, report_id: int, user_id: int) -> dict[str, str]:
    return {a: action_url(settings, a, report_id, user_id) for a in LINK_ACTIONS}


def report_url(settings: Settings, report_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/dashboard/reports/{report_id}"


def check_edit_template(template: str) -> str:
    """A site's CMS edit link template, checked: http(s), with {url} or {path}."""
    template = template.strip()
    if not template:
        return ""
    if not template.lower().startswith(("http://", "https://")):
        raise ValueError("the edit link must start with http:// or https://")
    rest = template.replace("{url}", "").replace("{path}", "")
    if "{" in rest or "}" in rest:
        raise ValueError("the edit link may use only {url} and {path}")
    if rest == template:
        raise ValueError("the edit link must contain {url} or {path}")
    return template


def edit_url(template: str, page_url: str) -> str | None:
    """The CMS link for a page: {url} is the page address, {path} its path, both encoded."""
    if not template:
        return None
    try:
        path = urlsplit(page_url).path or "/"
    except ValueError:
        return None
    return template.replace("{url}", quote(page_url, safe="")).replace(
        "{path}", quote(path, safe="/")
    )
