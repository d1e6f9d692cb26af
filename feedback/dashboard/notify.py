"""A site's notifications page: destinations, their delivery logs, API tokens, and the
CMS edit link. Admins only; secrets and tokens are shown once, in the response itself."""

from __future__ import annotations

import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard.admin import _flash, _render, _site_or_404
from feedback.dashboard.auth import services, signed_in
from feedback.dashboard.text import when
from feedback.mail import mail_configured
from feedback.notify.destinations import EVENTS, DestinationError, prepare
from feedback.notify.links import check_edit_template
from feedback.store import notify as outbox
from feedback.store.notify import DIGESTS, KINDS
from feedback.store.tokens import SCOPES, add_token, list_tokens, revoke_token
from feedback.store.users import User


async def _page(request: Request, user: User, status: int = 200, **extra: Any) -> Response:
    svc = services(request)
    site = await _site_or_404(request)
    dests = []
    for d in await outbox.list_destinations(svc.store, site.id):
        last = await outbox.recent_deliveries(svc.store, d.id, limit=1)
        dests.append({"d": d, "last": last[0] if last else None})
    tokens = [t for t in await list_tokens(svc.store) if site.id in t.site_ids]
    return _render(
        request,
        "site_notify.html",
        {
            "user": user,
            "site": site,
            "destinations": dests,
            "tokens": tokens,
            "edit_template": await outbox.edit_url_template(svc.store, site.id),
            "kinds": KINDS,
            "events": EVENTS,
            "digests": DIGESTS,
            "scopes": SCOPES,
            "mail_ready": mail_configured(svc.settings),
            "when": when,
            "form": {},
            **extra,
        },
        status,
    )


@signed_in(admin=True)
async def notify_page(request: Request, user: User) -> Response:
    return await _page(request, user)


@signed_in(admin=True)
async def destination_create(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site_or_404(request)
    form = await request.form()
    fields = {k: str(form.get(k, "")) for k in ("kind", "target", "path_prefix", "digest")}
    try:
        new = await prepare(
            svc.settings,
            kind=fields["kind"],
            target=fields["target"],
            path_prefix=fields["path_prefix"],
            events=[str(e) for e in form.getlist("events")],
            digest=fields["digest"] or "off",
        )
    except DestinationError as exc:
        return await _page(request, user, 400, error=str(exc), form=fields)
    dest_id = await outbox.add_destination(svc.store, site.id, new, user.id, time.time())
    messages = [f"Destination {dest_id} added."]
    if new.secret and new.kind == "webhook":
        messages.append(
            f"Its signing secret, shown only now: {new.secret} — keep it with the receiver."
        )
    return await _page(request, user, messages=messages)


async def _destination(request: Request) -> outbox.Destination:
    dest = await outbox.destination_by_id(services(request).store, request.path_params["id"])
    if dest is None:
        raise HTTPException(404)
    return dest


@signed_in(admin=True)
async def destination_page(request: Request, user: User) -> Response:
    svc = services(request)
    dest = await _destination(request)
    rows = await outbox.recent_deliveries(svc.store, dest.id, limit=100)
    return _render(
        request,
        "destination.html",
        {"user": user, "dest": dest, "deliveries": rows, "when": when},
    )


@signed_in(admin=True)
async def destination_remove(request: Request, user: User) -> Response:
    dest = await _destination(request)
    await outbox.remove_destination(services(request).store, dest.id)
    _flash(request, f"Destination {dest.id} removed.")
    return RedirectResponse(f"/dashboard/sites/{dest.site_id}/notify", status_code=303)


@signed_in(admin=True)
async def destination_test(request: Request, user: User) -> Response:
    svc = services(request)
    dest = await _destination(request)
    latest = await svc.store.fetchone(
        "SELECT max(id) FROM reports WHERE site_id = ?", (dest.site_id,)
    )
    await outbox.add_test_delivery(svc.store, dest.id, latest[0] if latest else None, time.time())
    if svc.delivery is not None:
        svc.delivery.wake()
    _flash(request, "A test message is on its way; its outcome shows below in a moment.")
    return RedirectResponse(f"/dashboard/destinations/{dest.id}", status_code=303)


@signed_in(admin=True)
async def redeliver(request: Request, user: User) -> Response:
    svc = services(request)
    row = await outbox.delivery_by_id(svc.store, request.path_params["id"])
    if row is None:
        raise HTTPException(404)
    if await outbox.redeliver(svc.store, row["id"], time.time()):
        if svc.delivery is not None:
            svc.delivery.wake()
        _flash(request, f"Delivery {row['public_id']} will be sent again.")
    else:
        _flash(request, "Only a failed delivery can be sent again.")
    return RedirectResponse(f"/dashboard/destinations/{row['destination_id']}", status_code=303)


@signed_in(admin=True)
async def token_create(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site_or_404(request)
    form = await request.form()
    scope = str(form.get("scope", "read"))
    if scope not in SCOPES:
        return await _page(request, user, 400, error="Choose read or write.")
    name = str(form.get("name", "")).strip()[:100]
    token_id, token = await add_token(
        svc.store, name=name, scope=scope, site_ids=[site.id], created_by=user.id,
        now=time.time(),
    )  # fmt: skip
    return await _page(
        request,
        user,
        messages=[f"Token {token_id} created. Copy it now, it is shown only once: {token}"],
    )


@signed_in(admin=True)
async def token_revoke(request: Request, user: User) -> Response:
    svc = services(request)
    form = await request.form()
    site_id = str(form.get("site", ""))
    if await revoke_token(svc.store, request.path_params["id"], time.time()):
        _flash(request, "Token revoked.")
    target = f"/dashboard/sites/{site_id}/notify" if site_id.isdigit() else "/dashboard/sites"
    return RedirectResponse(target, status_code=303)


@signed_in(admin=True)
async def edit_link_save(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site_or_404(request)
    form = await request.form()
    try:
        template = check_edit_template(str(form.get("edit_url", ""))[:1000])
    except ValueError as exc:
        return await _page(request, user, 400, error=f"Edit link not saved: {exc}.")
    await outbox.set_edit_url_template(svc.store, site.id, template)
    _flash(request, "Edit link saved." if template else "Edit link removed.")
    return RedirectResponse(f"/dashboard/sites/{site.id}/notify", status_code=303)
