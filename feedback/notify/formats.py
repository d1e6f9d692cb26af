"""What each kind of destination receives, built from an event's stored snapshot.

An event snapshot (`event`) is plain JSON, written to the outbox with the report change:

    {"type": "report.created", "at": 1764000000.0,
     "site": {"key": ..., "name": ...},
     "report": {"id", "status", "kind", "url", "title", "lang",
                "quote": {"exact", "prefix", "suffix"}, "suggestion", "comment",
                "readers", "submissions", "first_seen", "last_seen", "edit_url"}}

`links` adds what depends on who the message goes to: the report page, the page at the
quote, and the signed action links. Reader text is hostile everywhere: chat markup is
escaped, mass mentions are defused, and email HTML is escaped.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feedback.dashboard.text import quote_url
from feedback.notify.links import LINK_ACTIONS

EVENT_LABELS = {
    "report.created": "New report",
    "report.updated": "Report updated",
    "digest": "Digest",
    "test": "Test message",
}
STATUS_LABELS = {
    "new": "new",
    "in_progress": "in progress",
    "fixed": "fixed",
    "rejected": "not an error",
    "spam": "spam",
}
TELEGRAM_LIMIT = 4096
# Chat apps ping everyone for these; a reader's text must not.
_MENTION = re.compile(r"@(?=(channel|here|everyone|all)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Links:
    report: str
    page: str | None = None
    edit: str | None = None
    actions: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "page": self.page,
            "edit": self.edit,
            "actions": dict(self.actions),
        }


@dataclass(frozen=True)
class Digest:
    """One summary message: what came in during the period, and what still waits."""

    site: dict[str, Any]
    period: str  # "hourly" or "daily"
    start: float
    end: float
    new: list[dict[str, Any]]  # event snapshots' reports, oldest first
    most_reported: list[dict[str, Any]]
    oldest_open: list[dict[str, Any]]
    capped: bool = False  # switched to digest because the hourly cap was reached
    report_links: dict[int, str] = field(default_factory=dict)


def page_link(report: dict[str, Any]) -> str | None:
    quote = report.get("quote") or {}
    return quote_url(
        report.get("url", ""),
        quote.get("exact", ""),
        quote.get("prefix", ""),
        quote.get("suffix", ""),
    )


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _defuse(text: str) -> str:
    return _MENTION.sub("@\u200b", text)


def _title(report: dict[str, Any]) -> str:
    return shorten(report.get("title") or report.get("url") or "(untitled page)", 120)


def _headline(event: dict[str, Any]) -> str:
    report = event["report"]
    kind = "Typo report" if report["kind"] == "typo" else "Comment"
    if event["type"] == "report.updated":
        return f"{kind} #{report['id']} is now {STATUS_LABELS.get(report['status'], '?')}"
    if event["type"] == "test":
        return f"Test message: {kind.lower()} #{report['id']}"
    return f"{kind} #{report['id']}"


def _readers(report: dict[str, Any]) -> str:
    n = int(report.get("readers") or 1)
    return "1 reader" if n == 1 else f"{n} readers"


# --- webhook ---------------------------------------------------------------------------


def webhook_body(event: dict[str, Any], links: Links, delivery_id: str) -> bytes:
    report = dict(event["report"])
    for key in ("first_seen", "last_seen"):
        report[key] = iso(report.get(key))
    body = {
        "id": delivery_id,
        "type": event["type"],
        "created_at": iso(event.get("at")),
        "site": event["site"],
        "report": report,
        "links": links.as_json(),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_digest_body(digest: Digest, delivery_id: str) -> bytes:
    def item(r: dict[str, Any]) -> dict[str, Any]:
        return {
            **r,
            "first_seen": iso(r.get("first_seen")),
            "last_seen": iso(r.get("last_seen")),
            "link": digest.report_links.get(r["id"]),
        }

    body = {
        "id": delivery_id,
        "type": "digest",
        "period": digest.period,
        "from": iso(digest.start),
        "to": iso(digest.end),
        "capped": digest.capped,
        "site": digest.site,
        "new": [item(r) for r in digest.new],
        "most_reported": [item(r) for r in digest.most_reported],
        "oldest_open": [item(r) for r in digest.oldest_open],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The Feedback-Signature header: t=TIMESTAMP,v1=HMAC_SHA256(secret, "TIMESTAMP.BODY")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- slack and compatible chat ------------------------------------------------------------


def _mrkdwn(text: str) -> str:
    # Slack's escaping is &, < and >; that also stops <!channel> and <url|label> forgeries.
    return _defuse(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _slack_link(url: str | None, label: str) -> str:
    if not url:
        return _mrkdwn(label)
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{_mrkdwn(label).replace('|', '¦')}>"


def slack_body(event: dict[str, Any], links: Links) -> dict[str, Any]:
    report = event["report"]
    site = event["site"]
    lines = [
        f"*{_mrkdwn(_headline(event))}* on {_slack_link(links.page, _title(report))} "
        f"({_mrkdwn(site['name'])})"
    ]
    quote = report.get("quote") or {}
    if quote.get("exact"):
        before = shorten(quote.get("prefix", ""), 60)
        after = shorten(quote.get("suffix", ""), 60)
        wrong = shorten(quote["exact"], 300)
        lines.append(f">…{_mrkdwn(before)} ~{_mrkdwn(wrong)}~ {_mrkdwn(after)}…")
    if report.get("suggestion"):
        lines.append(f"Suggestion: *{_mrkdwn(shorten(report['suggestion'], 300))}*")
    if report.get("comment"):
        lines.append(f"Comment: {_mrkdwn(shorten(report['comment'], 500))}")
    footer = [_readers(report), _slack_link(links.report, f"Open report #{report['id']}")]
    footer += [_slack_link(url, LINK_ACTIONS[a]) for a, url in links.actions.items()]
    if links.edit:
        footer.append(_slack_link(links.edit, "Edit the article"))
    lines.append(" · ".join(footer))
    text = "\n".join(lines)
    return {"text": text, "unfurl_links": False, "unfurl_media": False}


def slack_digest_body(digest: Digest) -> dict[str, Any]:
    lines = [f"*{_mrkdwn(_digest_title(digest))}*"]
    if digest.capped:
        lines.append(_mrkdwn(CAPPED_NOTE))
    for heading, items in _digest_sections(digest):
        lines.append(f"*{heading}*")
        for r in items:
            lines.append(
                "• "
                + _slack_link(digest.report_links.get(r["id"]), f"#{r['id']}")
                + " "
                + _mrkdwn(_digest_line(r))
            )
    return {"text": "\n".join(lines), "unfurl_links": False, "unfurl_media": False}


# --- telegram --------------------------------------------------------------------------


def _h(text: str) -> str:
    return _defuse(html.escape(text, quote=True))


def _a(url: str | None, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{_h(label)}</a>' if url else _h(label)


def telegram_text(event: dict[str, Any], links: Links) -> str:
    report = event["report"]
    parts = [
        f"<b>{_h(_headline(event))}</b> on {_a(links.page, _title(report))} "
        f"({_h(event['site']['name'])})"
    ]
    quote = report.get("quote") or {}
    if quote.get("exact"):
        parts.append(
            f"…{_h(shorten(quote.get('prefix', ''), 60))} <s>{_h(shorten(quote['exact'], 300))}"
            f"</s> {_h(shorten(quote.get('suffix', ''), 60))}…"
        )
    if report.get("suggestion"):
        parts.append(f"Suggestion: <b>{_h(shorten(report['suggestion'], 300))}</b>")
    if report.get("comment"):
        parts.append(f"Comment: {_h(shorten(report['comment'], 800))}")
    footer = [_h(_readers(report)), _a(links.report, f"Open report #{report['id']}")]
    footer += [_a(url, LINK_ACTIONS[a]) for a, url in links.actions.items()]
    if links.edit:
        footer.append(_a(links.edit, "Edit the article"))
    parts.append(" · ".join(footer))
    return "\n".join(parts)


def telegram_digest_text(digest: Digest) -> str:
    parts = [f"<b>{_h(_digest_title(digest))}</b>"]
    if digest.capped:
        parts.append(_h(CAPPED_NOTE))
    for heading, items in _digest_sections(digest):
        parts.append(f"<b>{_h(heading)}</b>")
        parts += [
            f"• {_a(digest.report_links.get(r['id']), '#' + str(r['id']))} {_h(_digest_line(r))}"
            for r in items
        ]
    text = "\n".join(parts)
    # Cut whole lines so no tag is left open.
    while len(text) > TELEGRAM_LIMIT and len(parts) > 1:
        parts = parts[:-2] + ["…"]
        text = "\n".join(parts)
    return text


def telegram_body(chat_id: str, text: str) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "disable_web_page_preview": True,
    }


# --- email -----------------------------------------------------------------------------


def email_message(event: dict[str, Any], links: Links) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of one report."""
    report = event["report"]
    site = event["site"]
    quote = report.get("quote") or {}
    subject = f"[{shorten(site['name'], 60)}] {_headline(event)}: {_title(report)}"
    text = [f"{_headline(event)} on {_title(report)}", report.get("url", ""), ""]
    body = [
        f"<p><b>{html.escape(_headline(event))}</b> on "
        f"{_ea(links.page, _title(report))} ({html.escape(site['name'])})</p>"
    ]
    if quote.get("exact"):
        text.append(f"  …{quote.get('prefix', '')}[{quote['exact']}]{quote.get('suffix', '')}…")
        body.append(
            f"<blockquote>…{html.escape(quote.get('prefix', ''))}<del>"
            f"{html.escape(quote['exact'])}</del>{html.escape(quote.get('suffix', ''))}…"
            "</blockquote>"
        )
    if report.get("suggestion"):
        text.append(f"Suggestion: {report['suggestion']}")
        body.append(f"<p>Suggestion: <ins>{html.escape(report['suggestion'])}</ins></p>")
    if report.get("comment"):
        text.append(f"Comment: {report['comment']}")
        body.append(f"<p>Comment: {html.escape(report['comment'])}</p>")
    text += ["", _readers(report), f"Open the report: {links.report}"]
    text += [f"{LINK_ACTIONS[a]}: {url}" for a, url in links.actions.items()]
    if links.edit:
        text.append(f"Edit the article: {links.edit}")
    footer = [html.escape(_readers(report)), _ea(links.report, f"Open report #{report['id']}")]
    footer += [_ea(url, LINK_ACTIONS[a]) for a, url in links.actions.items()]
    if links.edit:
        footer.append(_ea(links.edit, "Edit the article"))
    body.append(f"<p>{' · '.join(footer)}</p>")
    if links.actions:
        note = "Action links open a confirm page and expire in 7 days."
        text += ["", note]
        body.append(f"<p><small>{note}</small></p>")
    return subject, "\n".join(text) + "\n", _html_page(subject, "\n".join(body))


def email_digest(digest: Digest) -> tuple[str, str, str]:
    subject = f"[{shorten(digest.site['name'], 60)}] {_digest_title(digest)}"
    text = [_digest_title(digest)]
    body = [f"<p><b>{html.escape(_digest_title(digest))}</b></p>"]
    if digest.capped:
        text.append(CAPPED_NOTE)
        body.append(f"<p>{html.escape(CAPPED_NOTE)}</p>")
    for heading, items in _digest_sections(digest):
        text += ["", heading]
        body.append(f"<h3>{html.escape(heading)}</h3><ul>")
        for r in items:
            link = digest.report_links.get(r["id"])
            text.append(f"- #{r['id']} {_digest_line(r)}" + (f"  {link}" if link else ""))
            body.append(f"<li>{_ea(link, '#' + str(r['id']))} {html.escape(_digest_line(r))}</li>")
        body.append("</ul>")
    return subject, "\n".join(text) + "\n", _html_page(subject, "\n".join(body))


def _ea(url: str | None, label: str) -> str:
    if not url:
        return html.escape(label)
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'


def _html_page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )


# --- digests ---------------------------------------------------------------------------

CAPPED_NOTE = (
    "So many reports arrived this hour that messages for this destination switched to a "
    "summary; single messages resume next hour."
)


def _digest_title(digest: Digest) -> str:
    n = len(digest.new)
    span = "hour" if digest.period == "hourly" else "day"
    news = "1 new report" if n == 1 else f"{n} new reports"
    return f"{digest.site['name']}: {news} in the last {span}"


def _digest_sections(digest: Digest) -> list[tuple[str, list[dict[str, Any]]]]:
    sections = [("New", digest.new[:50])]
    if digest.most_reported:
        sections.append(("Most reported", digest.most_reported[:10]))
    if digest.oldest_open:
        sections.append(("Oldest still open", digest.oldest_open[:10]))
    return sections


def _digest_line(report: dict[str, Any]) -> str:
    quote = (report.get("quote") or {}).get("exact") or report.get("comment") or ""
    line = f"“{shorten(quote, 80)}”" if quote else ""
    if report.get("suggestion"):
        line += f" → “{shorten(report['suggestion'], 80)}”"
    return f"{line} on {_title(report)} ({_readers(report)})".strip()
