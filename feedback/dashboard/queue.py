"""The triage queue, its in-place updates, the actions editors take, and export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.text import age, char_diff, quote_url, safe_href
from feedback.signals import REPORT_STATUS_CHANGED
from feedback.store import actions as store_actions
from feedback.store.queue import (
    QueueFilter,
    export_rows,
    queue_page,
    report_site,
    status_counts,
)
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


def present(row: Any, now: float) -> dict[str, Any]:
    """A report row with what the templates show: diff pieces, safe links, age."""
    item = dict(row)
    suggestion = item.get("latest_suggestion") or ""
    item["diff"] = char_diff(item["quote_exact"], suggestion) if suggestion else []
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


def _filter_from(params: QueryParams | dict) -> QueueFilter:
    return QueueFilter.from_query(params)


async def _queue_context(request: Request, user: User, f: QueueFilter) -> dict[str, Any]:
    svc = services(request)
    visible = user.visible_sites()
    rows, next_page = await queue_page(svc.store, f, visible)
    counts = await status_counts(svc.store, visible, f.site_id)
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
        "rows": [present(r, now) for r in rows],
        "next_qs": urlencode(next_page.params(cursor=True)) if next_page else None,
        "counts": counts,
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
    f = _filter_from(request.query_params)
    ctx = await _queue_context(request, user, f)
    return services(request).templates.TemplateResponse(request, "dashboard/queue.html", ctx)


@signed_in()
async def rows_fragment(request: Request, user: User) -> Response:
    """The rows and counts of a view, for scripts that update the page in place."""
    f = _filter_from(request.query_params)
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
        f = _filter_from(QueryParams(str(form.get("view", ""))))
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
    outcome = await store_actions.change_status(
        svc.store, ids, to, user.id, visible, now, block_until
    )
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
    "first_seen",
    "last_seen",
)


def _export_record(row: Any) -> dict[str, Any]:
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
        "readers": row["submission_count"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
    }


def neutralise(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ (or tab/CR) as formulas."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@signed_in()
async def export_csv(request: Request, user: User) -> Response:
    svc = services(request)
    f = _filter_from(request.query_params)

    async def body() -> AsyncIterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_FIELDS)
        async for row in export_rows(svc.store, f, user.visible_sites()):
            writer.writerow([neutralise(v) for v in _export_record(row).values()])
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
    f = _filter_from(request.query_params)

    async def body() -> AsyncIterator[str]:
        yield "["
        first = True
        async for row in export_rows(svc.store, f, user.visible_sites()):
            yield ("" if first else ",\n") + json.dumps(_export_record(row), ensure_ascii=False)
            first = False
        yield "]\n"

    return StreamingResponse(
        body(),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="reports.json"'},
    )
