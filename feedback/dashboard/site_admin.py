"""A site's switches, its key, its deletion, and the install check: what the widget was
refused and from where, with one click to allow an origin."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.text import when
from feedback.normalise import UrlError, normalise_origin
from feedback.store.actions import RESOLUTIONS
from feedback.store.refusals import forget_refusals, refusals_of
from feedback.store.resolutions import canned_notes, set_canned_notes
from feedback.store.sites import (
    delete_site,
    rotate_key,
    set_site_flags,
    site_by_id,
    update_site,
)
from feedback.store.users import User

# Grace periods an admin may pick for the old key after a rotation, in hours.
GRACE_HOURS = (0, 1, 24, 24 * 7, 24 * 30)
REASON_LABELS = {
    "wrong_origin": "page on an origin the site does not list",
    "unknown_key": "wrong or retired site key",
    "url_not_allowed": "page address not on the site's origins",
}


def _back(site_id: int, message: str, request: Request) -> Response:
    request.scope["session"]["flash"] = [message]
    return RedirectResponse(f"/dashboard/sites/{site_id}", status_code=303)


async def _site(request: Request):
    site = await site_by_id(services(request).store, request.path_params["id"])
    if site is None:
        raise HTTPException(404)
    return site


async def install_check(request: Request, site) -> dict:
    """What the site page shows about the embed's health."""
    rows = await refusals_of(services(request).store, site.id)
    return {
        "refusals": [
            {
                "reason": REASON_LABELS.get(r["reason"], r["reason"]),
                "origin": r["origin"],
                "n": r["n"],
                "last": when(r["last_at"]),
                "allowable": r["reason"] in ("wrong_origin", "url_not_allowed")
                and r["origin"] not in site.origins,
            }
            for r in rows
        ],
        "grace_hours": GRACE_HOURS,
        "old_key_until": when(site.old_key_until) if site.old_key_until else "",
        "old_key_live": bool(site.old_key_until and site.old_key_until > time.time()),
    }


@signed_in(admin=True)
async def flags(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site(request)
    form = await request.form()
    await set_site_flags(
        svc.store,
        site.id,
        disabled=bool(form.get("disabled")),
        notify_reader=bool(form.get("notify_reader")),
        auto_resolve=bool(form.get("auto_resolve")),
    )
    svc.sites.invalidate()
    return _back(site.id, "Site settings saved.", request)


@signed_in(admin=True)
async def rotate(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site(request)
    form = await request.form()
    raw = str(form.get("grace_hours", "24"))
    hours = int(raw) if raw.isdigit() and int(raw) in GRACE_HOURS else 24
    await rotate_key(svc.store, site.id, hours * 3600, time.time())
    svc.sites.invalidate()
    if hours:
        message = f"New key made. The old key keeps working for {hours} h; update the embed tag."
    else:
        message = "New key made. The old key stopped working now; update the embed tag."
    return _back(site.id, message, request)


@signed_in(admin=True)
async def delete(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site(request)
    form = await request.form()
    if str(form.get("confirm_name", "")).strip() != site.name:
        return _back(site.id, "Not deleted: type the site's name to confirm.", request)
    await delete_site(svc.store, site.id)
    svc.sites.invalidate()
    request.scope["session"]["flash"] = [f"Site {site.name} and all its reports deleted."]
    return RedirectResponse("/dashboard/sites", status_code=303)


@signed_in(admin=True)
async def allow_origin(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site(request)
    form = await request.form()
    try:
        origin = normalise_origin(str(form.get("origin", "")))
    except (UrlError, ValueError):
        return _back(site.id, "Not an origin.", request)
    await update_site(svc.store, site.id, site.name, sorted(site.origins | {origin}))
    await forget_refusals(svc.store, site.id, origin)
    svc.sites.invalidate()
    return _back(site.id, f"Reports from {origin} are now accepted.", request)


@signed_in(admin=True)
async def resolutions_page(request: Request, user: User) -> Response:
    from feedback.dashboard.queue import RESOLUTION_LABELS

    svc = services(request)
    return svc.templates.TemplateResponse(
        request,
        "dashboard/resolutions.html",
        {
            "user": user,
            "csrf": csrf_token(request),
            "labels": RESOLUTION_LABELS,
            "notes": await canned_notes(svc.store),
            "messages": request.scope["session"].pop("flash", []),
        },
    )


@signed_in(admin=True)
async def resolutions_save(request: Request, user: User) -> Response:
    form = await request.form()
    notes = {r: str(form.get(r, "")).strip()[:1000] for r in RESOLUTIONS}
    await set_canned_notes(services(request).store, notes)
    request.scope["session"]["flash"] = ["Resolution notes saved."]
    return RedirectResponse("/dashboard/resolutions", status_code=303)
