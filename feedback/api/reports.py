"""The token API: reports and sites for scripts and CMSs, with intake's error shape."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from feedback.api.openapi import openapi_document
from feedback.errors import ApiError
from feedback.notify.formats import iso, page_link
from feedback.notify.links import edit_url, report_url
from feedback.store import api as store_api
from feedback.store.queue import SORTS, QueueFilter, history_of, queue_page, submissions_of
from feedback.store.reports import KINDS, OPEN_STATUSES, STATUSES
from feedback.store.sites import list_sites
from feedback.store.tokens import Token, token_for

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
CHANGE_FIELDS = {"status", "reason", "assignee", "note"}
NO_STORE = {"Cache-Control": "no-store"}


def services(request: Request) -> Any:
    return request.app.state.services


def api_view(
    view: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Errors answer in intake's JSON shape."""

    @functools.wraps(view)
    async def wrapped(request: Request) -> Response:
        try:
            return await view(request)
        except ApiError as err:
            return err.response(NO_STORE)

    return wrapped


async def authenticate(request: Request, *, write: bool = False) -> Token:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="feedback"'}
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "unauthorized", "Send Authorization: Bearer TOKEN.", None, challenge)
    token = await token_for(services(request).store, value.strip(), time.time())
    if token is None:
        raise ApiError(401, "invalid_token", "This token is not valid or was revoked.", None,
                       challenge)  # fmt: skip
    if write and not token.can_write:
        raise ApiError(403, "insufficient_scope", "This token may only read.")
    return token


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(services(request).settings.public_url))


@api_view
async def sites(request: Request) -> Response:
    token = await authenticate(request)
    svc = services(request)
    templates = await store_api.edit_templates(svc.store)
    return _json(
        {
            "sites": [
                {
                    "key": s.key,
                    "name": s.name,
                    "origins": sorted(s.origins),
                    "edit_url_template": templates.get(s.id) or None,
                }
                for s in await list_sites(svc.store)
                if s.id in token.site_ids
            ]
        }
    )


def _text(value: str) -> str:
    # Stored text never holds NUL or lone surrogates, so they cannot match anything; and
    # PostgreSQL refuses them outright.
    return value.replace("\x00", "").encode("utf-8", "ignore").decode().strip()


def _storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _cursor(after_id: int, after_count: int) -> str:
    raw = json.dumps([after_id, after_count], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(value: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        after_id, after_count = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise ApiError(
            400, "invalid_cursor", "The cursor is not one this API gave.", "cursor"
        ) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53
               for v in (after_id, after_count)):  # fmt: skip
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API gave.", "cursor")
    return after_id, after_count


async def _filter(request: Request, token: Token) -> tuple[QueueFilter, int]:
    q = request.query_params
    statuses = q.getlist("status")
    if statuses == ["all"]:
        statuses = list(STATUSES)
    for s in statuses:
        if s not in STATUSES:
            raise ApiError(400, "invalid_choice", f"Unknown status {s[:40]!r}.", "status")
    kind = q.get("kind")
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "invalid_choice", "'kind' must be typo or comment.", "kind")
    sort = q.get("sort", "newest")
    if sort not in SORTS:
        raise ApiError(400, "invalid_choice", f"'sort' must be one of {', '.join(SORTS)}.", "sort")
    limit_text = q.get("limit", str(DEFAULT_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_limit", f"'limit' must be 1 to {MAX_LIMIT}.", "limit")
    site_id = None
    key = q.get("site")
    if key is not None:
        site = await services(request).sites.get(key)
        if site is None or site.id not in token.site_ids:
            raise ApiError(403, "site_not_in_scope", "This token does not cover that site.",
                           "site")  # fmt: skip
        site_id = site.id
    # The dashboard's own reading of the query first, so filters it gains reach the API
    # too; then what the API spells differently (a site key, a cursor) or checks harder.
    dashboard_view = QueryParams([(k, _text(v)) for k, v in q.multi_items() if k != "site"])
    f = replace(
        QueueFilter.from_query(dashboard_view),
        site_id=site_id,
        statuses=tuple(statuses) or OPEN_STATUSES,
        kind=kind,
        url=_text(q.get("url", ""))[:500],
        q=_text(q.get("q", ""))[:200],
        sort=sort,
        after_id=None,
        after_count=None,
    )
    if "cursor" in q:
        after_id, after_count = _read_cursor(q["cursor"])
        f = replace(f, after_id=after_id, after_count=after_count)
    return f, int(limit_text)


@api_view
async def list_reports(request: Request) -> Response:
    token = await authenticate(request)
    f, limit = await _filter(request, token)
    svc = services(request)
    rows, next_page = await queue_page(svc.store, f, sorted(token.site_ids), limit=limit)
    shown = await _presenter(request)
    cursor = None
    if next_page is not None and next_page.after_id is not None:
        cursor = _cursor(next_page.after_id, next_page.after_count or 0)
    return _json({"reports": [shown(r) for r in rows], "next": cursor})


async def _presenter(request: Request) -> Any:
    svc = services(request)
    emails = await store_api.user_emails(svc.store)
    templates = await store_api.edit_templates(svc.store)

    def shown(row: Any) -> dict[str, Any]:
        quote = {"exact": row["quote_exact"], "prefix": row["quote_prefix"],
                 "suffix": row["quote_suffix"]}  # fmt: skip
        return {
            "id": row["id"],
            "site": {"key": row["site_key"], "name": row["site_name"]},
            "status": row["status"],
            "kind": row["kind"],
            "url": row["url"],
            "title": row["title"],
            "quote": quote,
            "suggestion": row["latest_suggestion"],
            "comment": row["latest_comment"],
            "submission_count": row["submission_count"],
            "first_seen": iso(row["first_seen"]),
            "last_seen": iso(row["last_seen"]),
            "assignee": emails.get(row["assignee_id"]),
            "note": row["note"],
            "links": {
                "dashboard": report_url(svc.settings, row["id"]),
                "page": page_link({"url": row["url"], "quote": quote}),
                "edit": edit_url(templates.get(row["site_id"], ""), row["url"]),
            },
        }

    return shown


def _report_id(request: Request) -> int:
    raw = str(request.path_params["id"])
    if not raw.isdigit() or len(raw) > 15:
        raise ApiError(404, "not_found", "No such report.")
    return int(raw)


async def _detail(request: Request, token: Token, report_id: int) -> dict[str, Any]:
    svc = services(request)
    row = await store_api.report_in(svc.store, report_id, sorted(token.site_ids))
    if row is None:
        raise ApiError(404, "not_found", "No such report among this token's sites.")
    body = (await _presenter(request))(row)
    body["submissions"] = [
        {
            "id": s["id"],
            "suggestion": s["suggestion"],
            "comment": s["comment"],
            "created_at": iso(s["created_at"]),
        }  # fmt: skip
        for s in await submissions_of(svc.store, report_id)
    ]
    body["events"] = [
        {
            "from_status": e["from_status"],
            "to_status": e["to_status"],
            "created_at": iso(e["created_at"]),
            "by": e["email"],
            "note": e["note"],
        }  # fmt: skip
        for e in await history_of(svc.store, report_id)
    ]
    return body


@api_view
async def report(request: Request) -> Response:
    if request.method == "PATCH":
        return await _patch_report(request)
    token = await authenticate(request)
    return _json(await _detail(request, token, _report_id(request)))


async def _patch_report(request: Request) -> Response:
    token = await authenticate(request, write=True)
    report_id = _report_id(request)
    svc = services(request)
    if await store_api.report_in(svc.store, report_id, sorted(token.site_ids)) is None:
        raise ApiError(404, "not_found", "No such report among this token's sites.")
    change = await _change(request)
    assignee_id: int | None | bool = False  # False: leave as it is
    if "assignee" in change:
        if change["assignee"] is None:
            assignee_id = None
        else:
            assignee_id = await store_api.editor_for_report(
                svc.store, change["assignee"], report_id
            )
            if assignee_id is None:
                raise ApiError(422, "unknown_assignee",
                               "No active editor with that email can see this report's site.",
                               "assignee")  # fmt: skip
    result = await store_api.change_report(
        svc.store,
        report_id,
        token_id=token.id,
        status=change.get("status"),
        reason=change.get("reason", ""),
        assignee_id=assignee_id,
        note=change.get("note"),
        now=time.time(),
    )
    if result.refused:
        raise ApiError(409, "conflict", result.refused)
    if result.status_changed:
        svc.signals.emit(
            "report.status_changed",
            {
                "report_id": report_id,
                "site_id": result.site_id,
                "site_key": result.site_key,
                "status": change["status"],
                "from_status": result.from_status,
                "by": None,
                "at": time.time(),
            },  # fmt: skip
        )
    return _json(await _detail(request, token, report_id))


async def _change(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the change as application/json.")
    body = await request.body()
    if len(body) > 16384:
        raise ApiError(400, "too_large", "The change is too large.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict) or not data:
        raise ApiError(400, "invalid_type", "The body must be a non-empty JSON object.")
    unknown = sorted(set(data) - CHANGE_FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field {unknown[0][:40]!r}.", unknown[0][:40])
    if "status" in data and data["status"] not in STATUSES:
        raise ApiError(422, "invalid_choice", f"'status' must be one of {', '.join(STATUSES)}.",
                       "status")  # fmt: skip
    for name, limit in (("reason", 500), ("note", 5000)):
        if name in data:
            if not isinstance(data[name], str):
                raise ApiError(400, "invalid_type", f"'{name}' must be a string.", name)
            if len(data[name]) > limit:
                raise ApiError(422, "too_long", f"'{name}' is over {limit} characters.", name)
    for name in ("reason", "note", "assignee"):
        value = data.get(name)
        if isinstance(value, str) and not _storable(value):
            raise ApiError(422, "invalid_text", f"'{name}' holds a NUL or a lone surrogate.", name)
    if "reason" in data and "status" not in data:
        raise ApiError(422, "required", "A 'reason' goes with a 'status'.", "status")
    if (
        "assignee" in data
        and data["assignee"] is not None
        and not isinstance(data["assignee"], str)
    ):
        raise ApiError(400, "invalid_type", "'assignee' must be an email or null.", "assignee")
    return data
