"""Passwords without a shell: change your own, set one from a reset or invitation link."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.dashboard import password_links as links
from feedback.dashboard.auth import check_csrf, csrf_token, services, signed_in
from feedback.store.users import User, UserError, account_of, check_password, replace_password

PASSWORD_LIMIT = 1024


def _render(request: Request, name: str, ctx: dict, status: int = 200) -> Response:
    ctx.setdefault("messages", request.scope["session"].pop("flash", []))
    ctx["csrf"] = csrf_token(request)
    return services(request).templates.TemplateResponse(
        request, f"dashboard/{name}", ctx, status_code=status
    )


@signed_in()
async def account_page(request: Request, user: User) -> Response:
    return _render(request, "account.html", {"user": user, "error": ""})


@signed_in()
async def change_password(request: Request, user: User) -> Response:
    svc = services(request)
    form = await request.form()
    current = str(form.get("current", ""))[:PASSWORD_LIMIT]
    new = str(form.get("password", ""))[:PASSWORD_LIMIT]
    again = str(form.get("again", ""))[:PASSWORD_LIMIT]
    account = await account_of(svc.store, user.id)
    assert account is not None  # signed in, so the account exists
    error = ""
    if not await asyncio.to_thread(check_password, current, account["password_hash"]):
        error = "The current password is not right."
    elif new != again:
        error = "The new passwords do not match."
    else:
        try:
            keep = str(request.scope["session"].get("sid", ""))
            if not await replace_password(
                svc.store, user.id, new, account["password_hash"], keep_session=keep
            ):
                error = "The password was changed elsewhere just now; try again."
        except UserError as exc:
            error = f"Not changed: {exc}."
    if error:
        return _render(request, "account.html", {"user": user, "error": error}, 400)
    request.scope["session"]["flash"] = [
        "Your password has been changed; you are signed out everywhere else."
    ]
    return RedirectResponse("/dashboard/account", status_code=303)


async def _claim(request: Request) -> tuple[str, str, object | None]:
    """(purpose, token, account row or None when the link is bad)."""
    purpose = request.path_params["purpose"]
    token = request.path_params["token"]
    if purpose not in links.PURPOSES:
        return purpose, token, None
    try:
        user_id, print_ = links.read_token(services(request).settings.secret, purpose, token)
    except links.BadLink:
        return purpose, token, None
    account = await account_of(services(request).store, user_id)
    if account is None or account["disabled"]:
        return purpose, token, None
    if not links.still_valid(print_, account["password_hash"]):
        return purpose, token, None  # used already
    return purpose, token, account


async def password_page(request: Request) -> Response:
    purpose, token, account = await _claim(request)
    ctx = {"purpose": purpose, "token": token, "bad": account is None, "error": ""}
    if account is not None:
        ctx["email"] = account["email"]
    response = _render(request, "password_set.html", ctx, 200 if account else 404)
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    return response


async def password_post(request: Request) -> Response:
    await check_csrf(request)
    purpose, token, account = await _claim(request)
    if account is None:
        ctx = {"purpose": purpose, "token": token, "bad": True, "error": ""}
        return _render(request, "password_set.html", ctx, 404)
    form = await request.form()
    new = str(form.get("password", ""))[:PASSWORD_LIMIT]
    again = str(form.get("again", ""))[:PASSWORD_LIMIT]
    ctx = {"purpose": purpose, "token": token, "bad": False, "email": account["email"]}
    if new != again:
        return _render(request, "password_set.html", {**ctx, "error": "They do not match."}, 400)
    try:
        done = await replace_password(
            services(request).store, account["id"], new, account["password_hash"]
        )
    except UserError as exc:
        return _render(request, "password_set.html", {**ctx, "error": f"{exc}."}, 400)
    if not done:
        return _render(request, "password_set.html", {**ctx, "bad": True}, 404)
    request.scope["session"].clear()
    request.scope["session"]["flash"] = ["Password set. Sign in with it now."]
    return RedirectResponse("/dashboard/login", status_code=303)
