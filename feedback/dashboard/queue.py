"""The triage queue, its in-place updates, the actions editors take, and export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.diff import correction_diff
from feedback.dashboard.shorten import COMMENT_CHARS, QUOTE_CHARS, shorten
from feedback.dashboard.text import age, quote_url, safe_href, when
from feedback.reader_mail import tell_in_background
from feedback.signals import REPORT_STATUS_CHANGED
from feedback.store import actions as store_actions
from feedback.store.queue import (
    QueueFilter,
    export_rows,
    queue_page,
    report_site,
    view_counts,
)
from feedback.store.readers import ReaderSummary, reader_summaries
from feedback.store.refusals import notify_addresses
from feedback.store.reports import KINDS, STATUSES
from feedback.store.sites import list_sites
from feedback.store.users import User

ACTION_LABELS = {
    "fixed": "Fixed",
    "rejected": "Not an error",
    "spam": "Spam",
    "in_progress": "In progress",
    "new": "Reopen",
}

STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "fixed": "Fixed",
    "rejected": "Not an error",
    "spam": "Spam",
}


RESOLUTION_LABELS = {
    "fixed": "Fixed",
    "not_error": "Not an error",
    "duplicate": "Duplicate",
    "wont_fix": "Won't fix",
    "need_info": "Need info",
}


def present(row: Any, now: float, summary: ReaderSummary | None = None) -> dict[str, Any]:
    """A report row with what the templates show: the readers' suggestions as a
    consensus with diffs, readers and sends, flags, safe links, age."""
    item = dict(row)
    summary = summary or ReaderSummary(
        readers=item["submission_count"], sends=item["submission_count"]
    )
    item["suggestions"] = [
        {"text": text, "readers": n, "diff": correction_diff(item["quote_exact"], text)}
        for text, n in summary.suggestions[:5]
    ]
    item["more_suggestions"] = max(0, len(summary.suggestions) - 5)
    item["readers"] = summary.readers or item["submission_count"]
    item["sends"] = max(summary.sends, item["readers"])
    item["diff"] = item["suggestions"][0]["diff"] if item["suggestions"] else []
    top = summary.suggestions[0][0] if summary.suggestions else ""
    service = item.get("service_suggestion") or ""
    item["service_diff"] = (
        correction_diff(item["quote_exact"], service) if service and not top else []
    )
    item["resolution_label"] = RESOLUTION_LABELS.get(item.get("resolution") or "", "")
    item["checked"] = when(item.get("checked_at"))
    # The queue shows long text shortened; the report page shows it whole.
    item["short_quote"] = shorten(item["quote_exact"], QUOTE_CHARS)
    item["short_comment"] = shorten(item.get("latest_comment") or "", COMMENT_CHARS)
    item["href"] = safe_href(item["url"])
    item["quote_url"] = quote_url(
        item["url"],
        item["quote_exact"],
        item["quote_prefix"],
        item["quote_suffix"],
        item.get("quote_fragment") or "",
    )
    item["age"] = age(item["first_seen"], now)
    return item


def _filter_from(params: QueryParams | dict, user: User | None = None) -> QueueFilter:
    f = QueueFilter.from_query(params)
    return replace(f, me=user.id) if user is not None else f


async def present_rows(store: Any, rows: list[Any], now: float) -> list[dict[str, Any]]:
    summaries = await reader_summaries(store, {r["id"]: r["quote_exact"] for r in rows})
    return [present(r, now, summaries[r["id"]]) for r in rows]


async def _queue_context(
    request: Request, user: User, f: QueueFilter, *, defer_search: bool = False
) -> dict[str, Any]:
    svc = services(request)
    visible = user.visible_sites()
    rows, next_page = await queue_page(svc.store, f, visible)
    counts = await view_counts(svc.store, f, visible, defer_search=defer_search)
    now = time.time()
    sites = [s for s in await list_sites(svc.store) if user.may_see(s.id)]
    filter_qs = urlencode(f.params())
    view_qs = urlencode(f.params(cursor=True))
    return {
        "user": user,
        "csrf": csrf_token(request),
        "filter": f,
        "filter_qs": filter_qs,
        "view_qs": view_qs,
        "here": "/dashboard/" + (f"?{view_qs}" if view_qs else ""),
        "rows": await present_rows(svc.store, rows, now),
        "next_qs": urlencode(next_page.params(cursor=True)) if next_page else None,
        "counts": counts.by_status,
        "counts_partial": counts.partial,
        "assignee_links": {
            a: urlencode(replace(f.first_page(), assignee=a).params()) for a in ("", "mine", "none")
        },
        "sites": sites,
        "statuses": STATUSES,
        "kinds": KINDS,
        "labels": ACTION_LABELS,
        "block_hours": svc.settings.spam_block_hours,
        "messages": request.scope["session"].pop("flash", []),
        "status_links": {
            s: urlencode(replace(f.first_page(), statuses=(s,)).params()) for s in STATUSES
        },
        "labels_status": STATUS_LABELS,
    }


@signed_in()
async def queue(request: Request, user: User) -> Response:
    f = _filter_from(request.query_params, user)
    # A search's counts come in a second request, so the results show at once.
    ctx = await _queue_context(request, user, f, defer_search=True)
    return services(request).templates.TemplateResponse(request, "dashboard/queue.html", ctx)


@signed_in()
async def rows_fragment(request: Request, user: User) -> Response:
    """The rows and counts of a view, for scripts that update the page in place."""
    f = _filter_from(request.query_params, user)
    ctx = await _queue_context(request, user, f)
    return services(request).templates.TemplateResponse(
        request, "dashboard/_partials/update.html", ctx
    )


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) < 19][:500]


def _announce(request: Request, changes: list[store_actions.Change]) -> None:
    signals = services(request).signals
    now = time.time()
    for c in changes:
        signals.emit(
            REPORT_STATUS_CHANGED,
            {
                "report_id": c.report_id,
                "site_id": c.site_id,
                "site_key": c.site_key,
                "status": c.to_status,
                "from_status": c.from_status,
                "by": request.state.user.id,
                "at": now,
            },
        )


async def _after_action(
    request: Request, user: User, outcome: store_actions.Outcome, form: Any, message: str
) -> Response:
    _announce(request, outcome.changed)
    notes = [message] if outcome.changed else []
    notes += list(outcome.refused.values())
    if not notes:
        notes = ["Nothing changed."]
    if request.headers.get("x-requested-with") == "fetch":
        # Scripts get the refreshed rows and counts of the view they are showing.
        f = _filter_from(QueryParams(str(form.get("view", ""))), user)
        ctx = await _queue_context(request, user, f)
        ctx["messages"] = notes
        return services(request).templates.TemplateResponse(
            request, "dashboard/_partials/update.html", ctx
        )
    request.scope["session"]["flash"] = notes[:5]
    return RedirectResponse(_back(str(form.get("next", ""))), status_code=303)


def _back(next_url: str) -> str:
    if next_url.startswith("/dashboard/") and not next_url.startswith("//"):
        return next_url
    return "/dashboard/"


@signed_in()
async def act(request: Request, user: User) -> Response:
    """One report (`act=fixed:17`) or every selected one (`to=fixed`, `id=...`)."""
    svc = services(request)
    form = await request.form()
    single = str(form.get("act", ""))
    if ":" in single:
        to, _, one = single.partition(":")
        ids = _ids([one])
    else:
        to = str(form.get("to", ""))
        ids = _ids([str(v) for v in form.getlist("id")])
    if to not in store_actions.ACTIONS:
        raise HTTPException(400, "Unknown action.")
    now = time.time()
    block_until = None
    if to == "spam" and form.get("block"):
        block_until = now + svc.settings.spam_block_hours * 3600
    visible = user.visible_sites()
    if len(ids) == 1 and not await _visible(request, user, ids[0]):
        raise HTTPException(404)
    # Readers who asked to be told of a fix are, unless the editor said not to.
    waiting = {}
    if to == "fixed" and not form.get("quiet"):
        waiting = await notify_addresses(svc.store, ids)
    outcome = await store_actions.change_status(
        svc.store, ids, to, user.id, visible, now, block_until
    )
    fixed = {c.report_id for c in outcome.changed}
    tell_in_background(svc, {i: a for i, a in waiting.items() if i in fixed})
    n = len(outcome.changed)
    message = f"{n} report{'s' if n != 1 else ''} marked {ACTION_LABELS[to].lower()}."
    if to == "new":
        message = f"{n} report{'s' if n != 1 else ''} reopened."
    return await _after_action(request, user, outcome, form, message + " Press u to undo.")


async def _visible(request: Request, user: User, report_id: int) -> bool:
    site_id = await report_site(services(request).store, report_id)
    return site_id is not None and user.may_see(site_id)


@signed_in()
async def undo(request: Request, user: User) -> Response:
    svc = services(request)
    form = await request.form()
    now = time.time()
    outcome = await store_actions.undo_last(svc.store, user.id, user.visible_sites(), now)
    n = len(outcome.changed)
    message = f"Undone: {n} report{'s' if n != 1 else ''} restored."
    return await _after_action(request, user, outcome, form, message)


# --- export -------------------------------------------------------------------

EXPORT_FIELDS = (
    "id",
    "site",
    "status",
    "kind",
    "url",
    "title",
    "quote",
    "prefix",
    "suffix",
    "suggestion",
    "comment",
    "readers",
    "sends",
    "suggestions",
    "assignee",
    "resolution",
    "resolution_note",
    "duplicate_of",
    "page_check",
    "first_seen",
    "last_seen",
)


def iso_time(ts: float | None) -> str:
    """ISO 8601 in UTC, which spreadsheets and scripts read as a date."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _export_record(row: Any, summary: ReaderSummary | None = None) -> dict[str, Any]:
    summary = summary or ReaderSummary(row["submission_count"], row["submission_count"])
    return {
        "id": row["id"],
        "site": row["site_key"],
        "status": row["status"],
        "kind": row["kind"],
        "url": row["url"],
        "title": row["title"],
        "quote": row["quote_exact"],
        "prefix": row["quote_prefix"],
        "suffix": row["quote_suffix"],
        "suggestion": row["latest_suggestion"] or "",
        "comment": row["latest_comment"] or "",
        "readers": summary.readers,
        "sends": summary.sends,
        "suggestions": " · ".join(f"{text} ×{n}" for text, n in summary.suggestions),
        "assignee": row["assignee_email"] or "",
        "resolution": RESOLUTION_LABELS.get(row["resolution"] or "", ""),
        "resolution_note": row["resolution_note"] or "",
        "duplicate_of": row["duplicate_of"] or "",
        "page_check": {
            "found": "quote still there",
            "fixed": "looks fixed",
            "missing": "not on page",
        }.get(row["check_state"] or "", ""),
        "first_seen": iso_time(row["first_seen"]),
        "last_seen": iso_time(row["last_seen"]),
    }


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ (or tab/CR) as formulas, and most of
    them skip leading spaces first, so " =1+1" is a formula too."""
    if isinstance(value, str) and (
        value[:1] in FORMULA_STARTS or value.lstrip()[:1] in FORMULA_STARTS
    ):
        return "'" + value
    return value


async def _records(store: Any, f: QueueFilter, visible: list[int] | None):
    """Export records, the readers' summaries fetched a few hundred rows at a time."""
    chunk: list[Any] = []

    async def flush() -> list[dict[str, Any]]:
        summaries = await reader_summaries(store, {r["id"]: r["quote_exact"] for r in chunk})
        out = [_export_record(r, summaries[r["id"]]) for r in chunk]
        chunk.clear()
        return out

    async for row in export_rows(store, f, visible):
        chunk.append(row)
        if len(chunk) >= 500:
            for record in await flush():
                yield record
    for record in await flush():
        yield record


@signed_in()
async def export_csv(request: Request, user: User) -> Response:
    svc = services(request)
    f = _filter_from(request.query_params, user)

    async def body() -> AsyncIterator[str]:
        # The byte-order mark makes spreadsheet programs read the file as UTF-8, so
        # Cyrillic and accented text show as written.
        buf = io.StringIO("\ufeff")
        buf.seek(0, io.SEEK_END)
        writer = csv.writer(buf)
        writer.writerow(EXPORT_FIELDS)
        async for record in _records(svc.store, f, user.visible_sites()):
            writer.writerow([neutralise(v) for v in record.values()])
            if buf.tell() > 65536:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="reports.csv"'},
    )


@signed_in()
async def export_json(request: Request, user: User) -> Response:
    svc = services(request)
    f = _filter_from(request.query_params, user)

    async def body() -> AsyncIterator[str]:
        yield "["
        first = True
        async for record in _records(svc.store, f, user.visible_sites()):
            yield ("" if first else ",\n") + json.dumps(record, ensure_ascii=False)
            first = False
        yield "]\n"

    return StreamingResponse(
        body(),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="reports.json"'},
    )
