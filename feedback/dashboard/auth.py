"""Signing in and out, the CSRF token, and the guard every dashboard view sits behind."""

from __future__ import annotations

import contextlib
import functools
import logging
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
from feedback.metrics import SIGN_INS
from feedback.passwords import DUMMY_HASH, HashingBusy, check_password_async
from feedback.ratelimit import TokenBuckets
from feedback.store.users import (
    User,
    credentials,
    end_all_sessions,
    end_session,
    failures,
    forget_attempt,
    reserve_attempt,
    session_user,
    start_session,
)

log = logging.getLogger("feedback.auth")
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
    session_id = request.scope["session"].get("sid")
    if not isinstance(session_id, str):
        return None
    # The session must still exist on the server: signing out, signing out everywhere,
    # a password change and disabling the account all end it, copied cookies included.
    return await session_user(services(request).store, session_id)


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
            "messages": request.scope["session"].pop("flash", []),
        },
    )


DEVICE_COOKIE = "feedback_device"
DEVICE_MAX_AGE = 365 * 86400
# Past this many failures on one account within the window, from anywhere, attempts on
# it are slowed to one per SLOW_SECONDS (per process), except from a browser that has
# signed in to it before: a stranger can slow the account down, never lock its owner out.
ACCOUNT_CEILING_FACTOR = 10
SLOW_SECONDS = 5.0
SLOWED = "Many failed sign-ins to this account lately. Wait a few seconds and try again."
BUSY = "The service is busy. Try again in a moment."


def _device_signer(request: Request) -> itsdangerous.URLSafeTimedSerializer:
    return itsdangerous.URLSafeTimedSerializer(
        services(request).settings.secret, salt="feedback.device"
    )


def _known_device(request: Request, user_id: int) -> bool:
    """Has this browser signed in to this account before? (A signed cookie says so.)"""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return False
    try:
        ids = _device_signer(request).loads(raw, max_age=DEVICE_MAX_AGE)
    except (BadSignature, ValueError):
        return False
    return isinstance(ids, list) and user_id in ids


def _account_slowdown(request: Request) -> TokenBuckets:
    extras = services(request).extras
    if "sign_in_slowdown" not in extras:
        extras["sign_in_slowdown"] = TokenBuckets(per_minute=60 / SLOW_SECONDS, burst=1)
    return extras["sign_in_slowdown"]


async def login_post(request: Request) -> Response:
    svc = services(request)
    await check_csrf(request)
    form = await request.form()
    email = str(form.get("email", "")).strip()[:254]
    password = str(form.get("password", ""))[:1024]
    next_url = _safe_next(str(form.get("next", "")))
    now = time.time()
    address = ip_hash(svc.settings.secret, client_ip(request.scope, svc.settings.trusted_proxies))
    account = f"email:{email.lower()}"
    pair = f"pair:{email.lower()}:{address}"
    limit = svc.settings.login_attempts

    def refuse(message: str, status: int, outcome: str) -> Response:
        SIGN_INS.labels(outcome).inc()
        # Never the email as typed: people paste passwords into the wrong field.
        log.info("sign-in refused: %s", outcome, extra={"event": "sign_in", "outcome": outcome})
        return svc.templates.TemplateResponse(
            request,
            "dashboard/login.html",
            {"csrf": csrf_token(request), "next": next_url, "error": message, "email": email},
            status_code=status,
        )

    found = await credentials(svc.store, email)
    known = found is not None and _known_device(request, found[0])
    if not known and await failures(svc.store, account, now) >= limit * ACCOUNT_CEILING_FACTOR:
        wait = _account_slowdown(request).take(account)
        if wait:
            return refuse(SLOWED, 429, "slowed")
    # Counted before the password is checked, atomically: one account and address pair,
    # and one address, get `limit` tries in the window however many arrive at once.
    attempt = await reserve_attempt(
        svc.store,
        {pair: limit, f"ip:{address}": limit if not known else None, account: None},
        now,
    )
    if attempt is None:
        return refuse(THROTTLED, 429, "throttled")
    try:
        # Check a hash even for unknown emails, so timing does not tell which exist.
        ok = await check_password_async(password, found[1] if found else DUMMY_HASH)
    except HashingBusy:
        return refuse(BUSY, 503, "busy")
    if not found or not ok or found[2]:
        return refuse(GENERIC_FAILURE, 400, "failed")
    await forget_attempt(svc.store, attempt, [pair])
    session_id = await start_session(svc.store, found[0], svc.settings.session_max_age)
    # A fresh session (and CSRF nonce) on sign-in, so a planted cookie is worth nothing.
    request.scope["session"].clear()
    request.scope["session"].update({"sid": session_id, "csrf": secrets.token_urlsafe(16)})
    SIGN_INS.labels("ok").inc()
    log.info("sign-in", extra={"event": "sign_in", "outcome": "ok", "user_id": found[0]})
    response = RedirectResponse(next_url, status_code=303)
    devices = [found[0]]
    raw = request.cookies.get(DEVICE_COOKIE)
    if raw:
        with contextlib.suppress(BadSignature, ValueError):
            earlier = _device_signer(request).loads(raw, max_age=DEVICE_MAX_AGE)
            if isinstance(earlier, list):
                devices += [i for i in earlier if isinstance(i, int) and i != found[0]][:9]
    response.set_cookie(
        DEVICE_COOKIE,
        _device_signer(request).dumps(devices),
        max_age=DEVICE_MAX_AGE,
        path="/dashboard/login",
        httponly=True,
        samesite="lax",
        secure=svc.settings.https,
    )
    return response


async def logout(request: Request) -> Response:
    await check_csrf(request)
    session_id = request.scope["session"].get("sid")
    if isinstance(session_id, str):
        await end_session(services(request).store, session_id)
    request.scope["session"].clear()
    return RedirectResponse("/dashboard/login", status_code=303)


async def logout_everywhere(request: Request) -> Response:
    await check_csrf(request)
    user = await current_user(request)
    if user is not None:
        ended = await end_all_sessions(services(request).store, user.id)
        log.info("signed out everywhere", extra={"event": "sign_out_all", "user_id": user.id,
                                                 "sessions": ended})  # fmt: skip
    request.scope["session"].clear()
    return RedirectResponse("/dashboard/login", status_code=303)
