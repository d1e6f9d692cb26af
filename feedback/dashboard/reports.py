"""One report: its context, every submission, its history; assigning and noting."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.diff import correction_diff
from feedback.dashboard.queue import ACTION_LABELS, RESOLUTION_LABELS, _announce, present
from feedback.dashboard.text import when
from feedback.mail import mail_configured
from feedback.notify.links import edit_url
from feedback.reader_mail import tell_reader
from feedback.store import actions as store_actions
from feedback.store.checks import report_for_check
from feedback.store.notify import edit_url_template
from feedback.store.queue import history_of, report_by_id, submissions_of
from feedback.store.readers import reader_summaries
from feedback.store.refusals import has_notify_address, take_notify_address
from feedback.store.resolutions import canned_notes
from feedback.store.users import User

NOTE_LIMIT = 5000


@signed_in()
async def report_page(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    row = await report_by_id(svc.store, report_id, user.visible_sites())
    if row is None:
        raise HTTPException(404)
    summaries = await reader_summaries(svc.store, {row["id"]: row["quote_exact"]})
    report = present(row, time.time(), summaries[row["id"]])
    submissions = [
        {
            **dict(s),
            "diff": correction_diff(report["quote_exact"], s["suggestion"])
            if s["suggestion"]
            else [],
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
            "resolutions": RESOLUTION_LABELS,
            "canned": await canned_notes(svc.store),
            "notify_waiting": await has_notify_address(svc.store, report_id),
            "mail_ready": mail_configured(svc.settings),
            "checker_on": svc.checker is not None,
            "edit_link": edit_url(
                await edit_url_template(svc.store, report["site_id"]), report["url"]
            ),
        },
    )


@signed_in()
async def assign(request: Request, user: User) -> Response:
    """Assign to me, or unassign (`to=none`); the status stays as it is."""
    svc = services(request)
    report_id = request.path_params["id"]
    form = await request.form()
    if await report_by_id(svc.store, report_id, user.visible_sites()) is None:
        raise HTTPException(404)
    to = None if form.get("to") == "none" else user.id
    await store_actions.assign_to(
        svc.store, report_id, to, user.id, user.visible_sites(), time.time()
    )
    request.scope["session"]["flash"] = ["Assigned to you." if to else "Unassigned."]
    return RedirectResponse(_back(str(form.get("next", "")), report_id), status_code=303)


def _back(next_url: str, report_id: int) -> str:
    if next_url.startswith("/dashboard/") and not next_url.startswith("//"):
        return next_url
    return f"/dashboard/reports/{report_id}"


@signed_in()
async def resolve(request: Request, user: User) -> Response:
    """Close the report with a reason and a note; for a fix, tell the reader if they
    asked (unless the editor switched that off), and offer to fix it everywhere."""
    svc = services(request)
    report_id = request.path_params["id"]
    form = await request.form()
    row = await report_by_id(svc.store, report_id, user.visible_sites())
    if row is None:
        raise HTTPException(404)
    reason = str(form.get("reason", ""))
    if reason not in RESOLUTION_LABELS:
        raise HTTPException(400, "Unknown resolution.")
    note = str(form.get("note", "")).strip()[:NOTE_LIMIT]
    if not note and not form.get("no_note"):
        note = (await canned_notes(svc.store)).get(reason, "")
    duplicate_of = None
    if reason == "duplicate":
        raw = str(form.get("duplicate_of", "")).strip().lstrip("#")
        duplicate_of = int(raw) if raw.isdigit() and len(raw) < 19 else None
        if duplicate_of is None or duplicate_of == report_id:
            request.scope["session"]["flash"] = ["Give the number of the report to keep."]
            return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)
    address = None
    if reason == "fixed" and form.get("notify_reader"):
        address = await take_notify_address(svc.store, report_id)
    outcome = await store_actions.resolve(
        svc.store, [report_id], reason, user.id, user.visible_sites(), time.time(),
        note=note, duplicate_of=duplicate_of,
    )  # fmt: skip
    _announce(request, outcome.changed)
    messages = [f"Resolved: {RESOLUTION_LABELS[reason].lower()}."] if outcome.changed else []
    messages += list(outcome.refused.values())
    if address and outcome.changed:
        messages.append(await tell_reader(svc, report_id, address))
    request.scope["session"]["flash"] = messages or ["Nothing changed."]
    correction = str(form.get("correction", "")).strip()
    if reason == "fixed" and outcome.changed and correction and row["quote_exact"].strip():
        query = urlencode({"from": row["quote_exact"], "to": correction})
        return RedirectResponse(
            f"/dashboard/reports/{report_id}/everywhere?{query}", status_code=303
        )
    return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)


@signed_in()
async def check_now(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    if await report_by_id(svc.store, report_id, user.visible_sites()) is None:
        raise HTTPException(404)
    row = await report_for_check(svc.store, report_id)
    if svc.checker is None or row is None:
        message = "The page checker is switched off (FEEDBACK_CHECKER=0)."
    else:
        verdict = await svc.checker.check_one(row)
        message = CHECK_MESSAGES.get(verdict, verdict)
    request.scope["session"]["flash"] = [message]
    return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)


CHECK_MESSAGES = {
    "found": "Checked just now: the quote is still on the page.",
    "fixed": "Checked just now: the quote is gone but its context is there. Looks fixed.",
    "missing": "Checked just now: neither the quote nor its context is on the page.",
    "unreachable": "The page could not be read just now; the checker will try again later.",
    "not_allowed": "The page is not on one of the site's registered origins, so it is "
    "never fetched.",
    "nothing": "A page comment has no quote to look for.",
}


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
