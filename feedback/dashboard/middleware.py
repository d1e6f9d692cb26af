"""Pure ASGI middleware for the dashboard: the signed session cookie and security headers."""

from __future__ import annotations

import itsdangerous
from itsdangerous.exc import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback.settings import Settings

SESSION_COOKIE = "feedback_session"
COOKIE_PATH = "/dashboard"


class SessionMiddleware:
    """Like Starlette's, with a purpose-specific salt and an expiry checked on every read."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_age = settings.session_max_age
        self.signer = itsdangerous.URLSafeTimedSerializer(settings.secret, salt="feedback.session")
        flags = "httponly; samesite=lax"
        if settings.https:
            flags += "; secure"
        self.flags = flags

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        initial: dict = {}
        raw = connection.cookies.get(SESSION_COOKIE)
        if raw:
            try:
                initial = self.signer.loads(raw, max_age=self.max_age)
            except (BadSignature, ValueError):
                initial = {}
            if not isinstance(initial, dict):
                initial = {}
        scope["session"] = dict(initial)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                headers = MutableHeaders(scope=message)
                if session and session != initial:
                    value = self.signer.dumps(session)
                    headers.append(
                        "Set-Cookie",
                        f"{SESSION_COOKIE}={value}; path={COOKIE_PATH}; "
                        f"Max-Age={self.max_age}; {self.flags}",
                    )
                elif not session and raw:
                    headers.append(
                        "Set-Cookie",
                        f"{SESSION_COOKIE}=null; path={COOKIE_PATH}; "
                        f"expires=Thu, 01 Jan 1970 00:00:00 GMT; {self.flags}",
                    )
            await send(message)

        await self.app(scope, receive, send_wrapper)


# Scripts and styles only from our own static files: a reader's text can never run here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_wrapper)
