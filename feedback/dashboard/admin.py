"""Administration: sites (name, origins, embed tag) and user accounts."""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard import password_links, site_admin
from feedback.dashboard.auth import csrf_token, services, signed_in
from feedback.dashboard.text import when
from feedback.embed import embed_tag
from feedback.mail import MailError, mail_configured, send_mail
from feedback.normalise import UrlError, normalise_origin
from feedback.store.queue import last_report_at
from feedback.store.sites import add_site, list_sites, site_by_id, update_site
from feedback.store.users import (
    ROLES,
    User,
    UserError,
    account_of,
    add_user,
    delete_user,
    list_users,
    update_user,
)


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
            **await site_admin.install_check(request, site),
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


def _link(request: Request, purpose: str, user_id: int, password_hash: str) -> str:
    svc = services(request)
    token = password_links.make_token(svc.settings.secret, purpose, user_id, password_hash)
    base = svc.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/dashboard/password/{purpose}/{token}"


async def _hand_over(request: Request, user: User, email: str, purpose: str, link: str) -> Response:
    """Email the link when email is set up; otherwise show it to copy, on this page only."""
    svc = services(request)
    hours = password_links.PURPOSES[purpose][1] // 3600
    if purpose == "invite":
        subject = "You are invited to the Feedback dashboard"
        text = f"Choose your password here (the link works once, for {hours} hours):\n\n{link}\n"
    else:
        subject = "Reset your Feedback password"
        text = f"Choose a new password here (the link works once, for {hours} hours):\n\n{link}\n"
    if mail_configured(svc.settings):
        try:
            await send_mail(svc.settings, email, subject, text)
        except MailError as exc:
            return await _users_page(
                request, user, messages=[f"Could not email {email} ({exc}). Send them this link:"],
                link=link,
            )  # fmt: skip
        _flash(request, f"Link emailed to {email}.")
        return RedirectResponse("/dashboard/users", status_code=303)
    what = "invitation" if purpose == "invite" else "password reset"
    return await _users_page(
        request, user, link=link,
        messages=[f"Email is not set up: send {email} this {what} link yourself "
                  f"(it works once, for {hours} hours)."],
    )  # fmt: skip


@signed_in(admin=True)
async def user_create(request: Request, user: User) -> Response:
    """A new user gets an invitation link to choose their own password: no password is
    ever shown in the admin's browser."""
    svc = services(request)
    form = await request.form()
    email = str(form.get("email", ""))
    role = str(form.get("role", "editor"))
    placeholder = secrets.token_urlsafe(24)  # unusable until the invitation is taken up
    try:
        user_id = await add_user(svc.store, email, placeholder, role, _site_ids(form))
    except UserError as exc:
        _flash(request, f"Not created: {exc}")
        return RedirectResponse("/dashboard/users", status_code=303)
    account = await account_of(svc.store, user_id)
    assert account is not None
    link = _link(request, "invite", user_id, account["password_hash"])
    return await _hand_over(request, user, account["email"], "invite", link)


@signed_in(admin=True)
async def user_reset_link(request: Request, user: User) -> Response:
    svc = services(request)
    account = await account_of(svc.store, request.path_params["id"])
    if account is None:
        raise HTTPException(404)
    link = _link(request, "reset", account["id"], account["password_hash"])
    return await _hand_over(request, user, account["email"], "reset", link)


@signed_in(admin=True)
async def user_delete(request: Request, user: User) -> Response:
    svc = services(request)
    target = request.path_params["id"]
    form = await request.form()
    if target == user.id:
        _flash(request, "You cannot delete yourself.")
    elif form.get("confirm") != "delete":
        _flash(request, "Not deleted: tick the box to confirm.")
    elif await account_of(svc.store, target) is None:
        raise HTTPException(404)
    else:
        await delete_user(svc.store, target)
        _flash(request, "User deleted.")
    return RedirectResponse("/dashboard/users", status_code=303)


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
