"""Administration: sites (name, origins, embed tag) and user accounts."""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.text import when
from feedback.embed import embed_tag
from feedback.normalise import UrlError, normalise_origin
from feedback.store.queue import last_report_at
from feedback.store.sites import add_site, list_sites, site_by_id, update_site
from feedback.store.users import ROLES, User, UserError, add_user, list_users, update_user


def _origins(raw: str) -> tuple[list[str], list[str]]:
    good, bad = [], []
    for value in raw.replace(",", "\n").split():
        try:
            good.append(normalise_origin(value))
        except (UrlError, ValueError):
            bad.append(value)
    return good, bad


def _render(request: Request, name: str, ctx: dict, status: int = 200) -> Response:
    ctx.setdefault("messages", request.scope["session"].pop("flash", []))
    ctx["csrf"] = csrf_token(request)
    return services(request).templates.TemplateResponse(
        request, f"dashboard/{name}", ctx, status_code=status
    )


def _flash(request: Request, message: str) -> None:
    request.scope["session"]["flash"] = [message]


@signed_in(admin=True)
async def sites_page(request: Request, user: User) -> Response:
    sites = await list_sites(services(request).store)
    return _render(request, "sites.html", {"user": user, "sites": sites, "error": ""})


@signed_in(admin=True)
async def site_create(request: Request, user: User) -> Response:
    svc = services(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()[:200]
    origins, bad = _origins(str(form.get("origins", "")))
    if not name or not origins or bad:
        error = "A site needs a name and at least one origin such as https://example.com."
        if bad:
            error = "Not an origin: " + ", ".join(bad)
        sites = await list_sites(svc.store)
        return _render(request, "sites.html", {"user": user, "sites": sites, "error": error}, 400)
    site = await add_site(svc.store, name, origins)
    svc.sites.invalidate()
    _flash(request, f"Site {name} created.")
    return RedirectResponse(f"/dashboard/sites/{site.id}", status_code=303)


async def _site_or_404(request: Request):
    site = await site_by_id(services(request).store, request.path_params["id"])
    if site is None:
        raise HTTPException(404)
    return site


@signed_in(admin=True)
async def site_page(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site_or_404(request)
    last = await last_report_at(svc.store, site.id)
    base = svc.settings.public_url or str(request.base_url).rstrip("/")
    return _render(
        request,
        "site.html",
        {
            "user": user,
            "site": site,
            "embed": embed_tag(base, site.key),
            "last": when(last) if last else "",
            "error": "",
        },
    )


@signed_in(admin=True)
async def site_update(request: Request, user: User) -> Response:
    svc = services(request)
    site = await _site_or_404(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()[:200]
    origins, bad = _origins(str(form.get("origins", "")))
    if not name or not origins or bad:
        _flash(request, "Not saved: a site needs a name and valid origins.")
    else:
        await update_site(svc.store, site.id, name, origins)
        svc.sites.invalidate()
        _flash(request, "Site saved.")
    return RedirectResponse(f"/dashboard/sites/{site.id}", status_code=303)


async def _users_page(request: Request, user: User, **extra: object) -> Response:
    db = services(request).store
    ctx = {"user": user, "users": await list_users(db), "sites": await list_sites(db)}
    return _render(request, "users.html", {**ctx, "roles": ROLES, **extra})


@signed_in(admin=True)
async def users_page(request: Request, user: User) -> Response:
    return await _users_page(request, user)


def _site_ids(form) -> list[int]:
    return [int(v) for v in form.getlist("site") if str(v).isdigit()]


@signed_in(admin=True)
async def user_create(request: Request, user: User) -> Response:
    svc = services(request)
    form = await request.form()
    email = str(form.get("email", ""))
    role = str(form.get("role", "editor"))
    password = str(form.get("password", "")) or secrets.token_urlsafe(12)
    try:
        await add_user(svc.store, email, password, role, _site_ids(form))
    except UserError as exc:
        _flash(request, f"Not created: {exc}")
        return RedirectResponse("/dashboard/users", status_code=303)
    message = f"User {email.strip()} created."
    if form.get("password"):
        _flash(request, message)
        return RedirectResponse("/dashboard/users", status_code=303)
    # Shown once, on this page only, to hand over; only the hash is kept (and the
    # password never travels in the session cookie).
    return await _users_page(
        request, user, messages=[f"{message} Their first password: {password}"]
    )


@signed_in(admin=True)
async def user_update(request: Request, user: User) -> Response:
    svc = services(request)
    form = await request.form()
    target = request.path_params["id"]
    role = str(form.get("role", "editor"))
    disabled = bool(form.get("disabled"))
    if target == user.id and (disabled or role != "admin"):
        _flash(request, "You cannot demote or disable yourself.")
        return RedirectResponse("/dashboard/users", status_code=303)
    try:
        await update_user(svc.store, target, role, _site_ids(form), disabled)
    except UserError as exc:
        _flash(request, f"Not saved: {exc}")
    else:
        _flash(request, "User saved.")
    return RedirectResponse("/dashboard/users", status_code=303)
