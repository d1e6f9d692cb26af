"""Answers for HTTP errors that are not an intake refusal: an unknown address, a wrong
method, a missing CSRF token. Each part of the service answers in its own language:
JSON under /api/, a dashboard page under /dashboard, plain text elsewhere."""

from __future__ import annotations

from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from feedback.dashboard.middleware import SECURITY_HEADERS
from feedback.errors import ApiError

API_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status, headers = exc.status_code, dict(exc.headers or {})
    if status in (204, 304):
        return Response(status_code=status, headers=headers)
    # A detail of our own says what went wrong; Starlette's default is only the phrase.
    phrase = _phrase(status)
    detail = exc.detail if exc.detail and exc.detail != phrase else ""
    path = request.url.path
    if path.startswith("/api/"):
        message = detail or f"{phrase}: {request.method} {path}"
        code = API_CODES.get(status, f"http_{status}")
        return ApiError(status, code, message).response(headers)
    if path == "/dashboard" or path.startswith("/dashboard/"):
        # Raised outside a dashboard route (an unknown address under /dashboard), this
        # answer does not pass through the dashboard's middleware: bring its headers along.
        headers = {**SECURITY_HEADERS, **headers}
        return request.app.state.services.templates.TemplateResponse(
            request,
            "dashboard/error.html",
            {"status": status, "title": phrase, "detail": detail},
            status_code=status,
            headers=headers,
        )
    return PlainTextResponse(detail or phrase, status_code=status, headers=headers)
