"""One report: its context, every submission, its history; assigning and noting."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.queue import ACTION_LABELS, _announce, present
from feedback.dashboard.text import char_diff, when
from feedback.notify.links import edit_url
from feedback.store import actions as store_actions
from feedback.store.notify import edit_url_template
from feedback.store.queue import history_of, report_by_id, submissions_of
from feedback.store.users import User

NOTE_LIMIT = 5000


@signed_in()
async def report_page(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    row = await report_by_id(svc.store, report_id, user.visible_sites())
    if row is None:
        raise HTTPException(404)
    report = present(row, time.time())
    submissions = [
        {
            **dict(s),
            "diff": char_diff(report["quote_exact"], s["suggestion"]) if s["suggestion"] else [],
            "when": when(s["created_at"]),
        }
        for s in await submissions_of(svc.store, report_id)
    ]
    history = [
        {**dict(e), "when": when(e["created_at"])} for e in await history_of(svc.store, report_id)
    ]
    return svc.templates.TemplateResponse(
        request,
        "dashboard/report.html",
        {
            "user": user,
            "csrf": csrf_token(request),
            "report": report,
            "submissions": submissions,
            "history": history,
            "labels": ACTION_LABELS,
            "first_seen": when(report["first_seen"]),
            "messages": request.scope["session"].pop("flash", []),
            "block_hours": svc.settings.spam_block_hours,
            "edit_link": edit_url(
                await edit_url_template(svc.store, report["site_id"]), report["url"]
            ),
        },
    )


@signed_in()
async def assign(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    if await report_by_id(svc.store, report_id, user.visible_sites()) is None:
        raise HTTPException(404)
    now = time.time()
    outcome = await store_actions.assign_to(
        svc.store, report_id, user.id, user.visible_sites(), now
    )
    _announce(request, outcome.changed)
    request.scope["session"]["flash"] = ["Assigned to you."]
    return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)


@signed_in()
async def save_note(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    form = await request.form()
    note = str(form.get("note", ""))[:NOTE_LIMIT]
    saved = await store_actions.save_note(svc.store, report_id, note, user.visible_sites())
    if not saved:
        raise HTTPException(404)
    request.scope["session"]["flash"] = ["Note saved."]
    return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)
