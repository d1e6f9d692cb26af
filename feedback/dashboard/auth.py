"""Signing in and out, the CSRF token, and the guard every dashboard view sits behind."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import itsdangerous
from itsdangerous.exc import BadSignature
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.clients import client_ip, ip_hash
from feedback.store.users import (
    DUMMY_HASH,
    User,
    check_password,
    credentials,
    recent_failures,
    record_failure,
    user_by_id,
)

View = Callable[[Request, User], Awaitable[Response]]
GENERIC_FAILURE = "That email and password do not match an active account."
THROTTLED = "Too many failed sign-ins. Wait a few minutes and try again."


def services(request: Request) -> Any:
    return request.app.state.services


def _csrf_signer(request: Request) -> itsdangerous.URLSafeTimedSerializer:
    return itsdangerous.URLSafeTimedSerializer(
        services(request).settings.secret, salt="feedback.csrf"
    )


def csrf_token(request: Request) -> str:
    """A token signed for this session's nonce: useless in any other session."""
    session = request.scope["session"]
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(16)
    return _csrf_signer(request).dumps(session["csrf"])


async def check_csrf(request: Request) -> None:
    token = request.headers.get("x-csrf-token")
    if token is None:
        form = await request.form()
        value = form.get("csrf")
        token = value if isinstance(value, str) else None
    nonce = request.scope["session"].get("csrf")
    if not token or not nonce:
        raise HTTPException(403, "Missing CSRF token; reload the page and try again.")
    try:
        signed = _csrf_signer(request).loads(
            token, max_age=services(request).settings.session_max_age
        )
    except BadSignature:
        raise HTTPException(403, "Invalid CSRF token; reload the page and try again.") from None
    if not secrets.compare_digest(str(signed), nonce):
        raise HTTPException(403, "Invalid CSRF token; reload the page and try again.")


async def current_user(request: Request) -> User | None:
    user_id = request.scope["session"].get("uid")
    if not isinstance(user_id, int):
        return None
    user = await user_by_id(services(request).store, user_id)
    if user is None or user.disabled:
        return None
    return user


def signed_in(*, admin: bool = False) -> Callable[[View], Callable[[Request], Awaitable[Response]]]:
    """Guard: signed-out visitors go to the sign-in page (or get 401 from scripts);
    every POST must carry a valid CSRF token; admin pages answer editors with 404."""

    def wrap(view: View) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(view)
        async def guarded(request: Request) -> Response:
            user = await current_user(request)
            if user is None:
                if request.method != "GET" or "text/html" not in request.headers.get("accept", ""):
                    return Response("Sign in first.", status_code=401, media_type="text/plain")
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                return RedirectResponse(
                    f"/dashboard/login?next={quote(target, safe='')}", status_code=303
                )
            if request.method == "POST":
                await check_csrf(request)
            if admin and not user.is_admin:
                raise HTTPException(404)
            request.state.user = user
            return await view(request, user)

        return guarded

    return wrap


def _safe_next(value: str) -> str:
    # Only our own dashboard paths: never an open redirect to another host.
    if value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard/"


async def login_page(request: Request) -> Response:
    svc = services(request)
    return svc.templates.TemplateResponse(
        request,
        "dashboard/login.html",
        {
            "csrf": csrf_token(request),
            "next": _safe_next(request.query_params.get("next", "")),
            "error": "",
            "email": "",
        },
    )


async def login_post(request: Request) -> Response:
    svc = services(request)
    await check_csrf(request)
    form = await request.form()
    email = str(form.get("email", "")).strip()[:254]
    password = str(form.get("password", ""))[:1024]
    next_url = _safe_next(str(form.get("next", "")))
    now = time.time()
    address = ip_hash(svc.settings.secret, client_ip(request.scope, svc.settings.trusted_proxies))
    keys = [f"email:{email.lower()}", f"ip:{address}"]

    def refuse(message: str, status: int) -> Response:
        return svc.templates.TemplateResponse(
            request,
            "dashboard/login.html",
            {"csrf": csrf_token(request), "next": next_url, "error": message, "email": email},
            status_code=status,
        )

    if await recent_failures(svc.store, keys, now) >= svc.settings.login_attempts:
        return refuse(THROTTLED, 429)
    found = await credentials(svc.store, email)
    # Check a hash even for unknown emails, so timing does not tell which exist.
    ok = check_password(password, found[1] if found else DUMMY_HASH)
    if not found or not ok or found[2]:
        await record_failure(svc.store, keys, now)
        return refuse(GENERIC_FAILURE, 400)
    # A fresh session (and CSRF nonce) on sign-in, so a planted cookie is worth nothing.
    request.scope["session"].clear()
    request.scope["session"].update({"uid": found[0], "csrf": secrets.token_urlsafe(16)})
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    await check_csrf(request)
    request.scope["session"].clear()
    return RedirectResponse("/dashboard/login", status_code=303)
