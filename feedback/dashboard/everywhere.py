"""Fix it everywhere: after resolving a report as fixed with a correction X → Y, the other
open reports on the same site whose quote contains X, previewed, resolved together; and
the pages where the checker last read X, to be corrected in the site's own editor.
Nothing outside the service is edited: this only closes reports."""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.checker.extract import readable
from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.diff import correction_diff
from feedback.dashboard.queue import _announce, present_rows
from feedback.dashboard.text import quote_url, safe_href, when
from feedback.notify.links import edit_url
from feedback.store import actions as store_actions
from feedback.store.checks import pages_containing
from feedback.store.notify import edit_url_template
from feedback.store.queue import open_reports_quoting, report_by_id
from feedback.store.users import User

TEXT_LIMIT = 300
PAGES_SHOWN = 50
SNIPPET_CHARS = 60


def page_hits(rows: list[Any], needle: str, template: str) -> list[dict[str, Any]]:
    """The pages whose kept text has `needle` (squashed like that text, by `readable`)
    as whole words (a typo "teh" is not in "Tehran"), each with how often, the first
    place in context and a link to it."""
    if not needle:
        return []
    pattern = re.compile(
        ("(?<!\\w)" if re.match(r"\w", needle) else "")
        + re.escape(needle)
        + ("(?!\\w)" if re.search(r"\w$", needle) else "")
    )
    hits = []
    for row in rows:
        text = row["text"]
        found = list(pattern.finditer(text))
        if not found:
            continue
        start, end = found[0].span()
        lead, tail = text[max(0, start - SNIPPET_CHARS) : start], text[end : end + SNIPPET_CHARS]
        hits.append(
            {
                "url": row["url"],
                "title": row["title"],
                "href": quote_url(row["url"], needle, lead, tail) or safe_href(row["url"]),
                "edit": edit_url(template, row["url"]),
                "count": len(found),
                "lead": ("…" if start > SNIPPET_CHARS else "") + lead,
                "hit": text[start:end],
                "tail": tail + ("…" if end + SNIPPET_CHARS < len(text) else ""),
                "seen": when(row["seen_at"]),
            }
        )
        if len(hits) >= PAGES_SHOWN:
            break
    return hits


@signed_in()
async def preview(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    row = await report_by_id(svc.store, report_id, user.visible_sites())
    if row is None:
        raise HTTPException(404)
    before = request.query_params.get("from", "").strip()[:TEXT_LIMIT]
    after = request.query_params.get("to", "").strip()[:TEXT_LIMIT]
    if not before:
        return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)
    rows = await open_reports_quoting(
        svc.store, row["site_id"], before, report_id, user.visible_sites()
    )
    items = await present_rows(svc.store, rows, time.time())
    for item in items:
        fixed = item["quote_exact"].replace(before, after)
        item["everywhere_diff"] = correction_diff(item["quote_exact"], fixed)
    # The checker's last reading of each page; the page just fixed is among them only if
    # the words are still there.
    needle = readable(before)
    candidates = await pages_containing(svc.store, row["site_id"], needle)
    pages = page_hits(candidates, needle, await edit_url_template(svc.store, row["site_id"]))
    return svc.templates.TemplateResponse(
        request,
        "dashboard/everywhere.html",
        {
            "user": user,
            "csrf": csrf_token(request),
            "report": row,
            "before": before,
            "after": after,
            "diff": correction_diff(before, after),
            "items": items,
            "pages": pages,
            "checker_on": svc.checker is not None,
            "messages": request.scope["session"].pop("flash", []),
        },
    )


@signed_in()
async def apply(request: Request, user: User) -> Response:
    svc = services(request)
    report_id = request.path_params["id"]
    if await report_by_id(svc.store, report_id, user.visible_sites()) is None:
        raise HTTPException(404)
    form = await request.form()
    ids = [int(v) for v in form.getlist("id") if str(v).isdigit() and len(str(v)) < 19][:500]
    before = str(form.get("from", ""))[:TEXT_LIMIT]
    after = str(form.get("to", ""))[:TEXT_LIMIT]
    note = f"Fixed everywhere with #{report_id}: “{before}” → “{after}”"
    outcome = await store_actions.resolve(
        svc.store, ids, "fixed", user.id, user.visible_sites(), time.time(), note=note
    )
    _announce(request, outcome.changed)
    n = len(outcome.changed)
    request.scope["session"]["flash"] = [
        f"{n} more report{'s' if n != 1 else ''} resolved as fixed."
    ] + list(outcome.refused.values())
    return RedirectResponse(f"/dashboard/reports/{report_id}", status_code=303)
