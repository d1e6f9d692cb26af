"""POST /api/v1/reports: where readers' reports come in.

Everything here is hostile input. The order of checks is deliberate: cheap refusals
(rate limit, content type, size) come before reading and parsing the body, and the
site's origin is checked before any field is looked at.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from feedback.clients import client_ip, ip_hash, ip_hashes, network_of
from feedback.errors import ApiError
from feedback.locators import LocatorError, check_email, check_fragment, check_position
from feedback.metrics import INTAKE_SECONDS, REPORTS
from feedback.normalise import (
    TextError,
    UrlError,
    clean_context,
    clean_line,
    clean_text,
    normalise_url,
    origin_of,
)
from feedback.ratelimit import retry_after
from feedback.signals import REPORT_CREATED, REPORT_UPDATED
from feedback.store import StoreUnavailable
from feedback.store.refusals import keep_notify_address
from feedback.store.reports import KINDS, NewSubmission
from feedback.useragent import reduce_user_agent

log = logging.getLogger("feedback.intake")

HONEYPOT_FIELD = "website"


@dataclass(frozen=True)
class Limits:
    exact: int = 300
    prefix: int = 200
    suffix: int = 200
    comment: int = 2000
    suggestion: int = 2000
    url: int = 2048
    title: int = 500
    lang: int = 35
    user_agent: int = 512
    fragment: int = 2000
    email: int = 254


LIMITS = Limits()


class Intake:
    """Holds the rate-limit buckets; one per app."""

    def __init__(self, app_state: Any) -> None:
        settings = app_state.settings
        self.state = app_state
        store = app_state.store
        self.ip_buckets = store.rate_limiter(
            "ip", settings.rate_ip_per_minute, settings.rate_ip_burst
        )
        # Readers sending again soon after (their address's bucket not full) may not use
        # the last half of a site's allowance: a flood of addresses that each send several
        # cannot take it all from readers sending their first report.
        self.site_buckets = store.rate_limiter(
            "site",
            settings.rate_site_per_minute,
            settings.rate_site_burst,
            reserve=settings.rate_site_burst // 2,
        )
        # Addresses next to each other (one /24 or /48) share a bucket too: a flood from
        # many addresses of one network uses up its own allowance, not the site's.
        self.prefix_buckets = store.rate_limiter(
            "prefix", settings.rate_prefix_per_minute, settings.rate_prefix_burst
        )
        # An address's take that leaves its bucket nearly full is its first in a while.
        self.first_left = settings.rate_ip_burst - 1.5
        self.secret = settings.secret

    async def cors_headers(self, origin: str | None, allowed: frozenset[str] | None) -> dict:
        if not origin:
            return {}
        if allowed is None:
            allowed = await self.state.sites.known_origins()
        return _cors(origin, allowed)

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        site_key = request.query_params.get("site")
        allowed: frozenset[str]
        if site_key:
            site = await self.state.sites.get(site_key)
            allowed = site.origins if site else frozenset()
        else:
            allowed = await self.state.sites.known_origins()
        if not origin or origin not in allowed:
            return ApiError(
                403, "origin_not_allowed", "This origin may not send reports here."
            ).response({"Vary": "Origin"})
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "86400",
                "Vary": "Origin",
            },
        )

    async def widget_config(self, request: Request) -> Response:
        """GET /api/v1/widget-config: what the dialog needs to know about its site, asked
        once per page view. Any page may read the answer, so a widget on a page the site
        does not accept can still tell its owner exactly what to fix."""
        headers = {
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": "no-store",
            "Vary": "Origin",
        }
        try:
            site = await self._widget_site(request)
        except ApiError as err:
            return err.response(headers)
        return JSONResponse({"notify_reader": bool(site.notify_reader)}, headers=headers)

    async def _widget_site(self, request: Request) -> Any:
        key = request.query_params.get("site", "")
        site = await self.state.sites.get(key) if key else None
        if site is None:
            raise ApiError(404, "unknown_site", "No site is registered with this key.", "site")
        raw_url = request.query_params.get("url", "")
        url = ""
        if raw_url:
            try:
                url = normalise_url(raw_url)
            except (TextError, UrlError) as exc:
                raise ApiError(422, "invalid_url", f"'url' {exc}.", "url") from None
        # Same-origin GETs carry no Origin header: then the page's own address stands in.
        origin = request.headers.get("origin") or (origin_of(url) if url else "")
        if not origin:
            raise ApiError(
                403, "origin_required", "Reports are accepted only from a site's own pages."
            )
        if origin not in site.origins:
            raise ApiError(
                403, "origin_not_allowed", "This site does not accept reports from this origin."
            )
        if url and origin_of(url) not in site.origins:
            raise ApiError(
                403,
                "url_not_allowed",
                "The page address is not on one of this site's origins.",
                "url",
            )
        return site

    async def receive(self, scope: Scope, receive: Receive) -> ASGIApp:
        """The answer to a POST: an ASGI app that sends it."""
        headers = _headers(scope)
        origin = headers.get("origin")
        # Until the site is known, any registered origin may read our answer; after, only
        # the site's own origins may (so errors for another site's key stay opaque).
        seen: dict[str, frozenset[str]] = {}
        start = time.perf_counter()
        try:
            try:
                answer = await self._receive(scope, receive, headers, origin, seen)
            except StoreUnavailable as exc:  # a read failed (a write failing is handled below)
                self.state.health.write_failed(exc)
                log.exception("could not read the store")
                raise _unavailable() from None
        except ApiError as err:
            INTAKE_SECONDS.observe(time.perf_counter() - start)
            _counted(("refused", err.code)).inc()
            allowed = seen.get("allowed")
            if allowed is not None and origin:
                return err.response(_cors(origin, allowed))
            try:
                cors = await self.cors_headers(origin, allowed)
            except StoreUnavailable:
                cors = {}
            return err.response(cors)
        INTAKE_SECONDS.observe(time.perf_counter() - start)
        _counted(getattr(answer, "outcome", _ACCEPTED)).inc()
        return answer

    async def _receive(
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        origin: str | None,
        seen: dict[str, frozenset[str]],
    ) -> ASGIApp:
        settings = self.state.settings
        secret = self.secret
        ip = client_ip(scope, settings.trusted_proxies)
        # Keyed by the address's hash: the buckets may be kept in the database.
        wait, left = await self.ip_buckets.take_left(ip_hash(secret, ip))
        if wait:
            raise _too_many(wait)
        wait = await self.prefix_buckets.take(ip_hash(secret, network_of(ip)))
        if wait:
            raise _too_many(wait)

        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "unsupported_media_type", "Send the report as application/json.")
        body = await _read_limited(receive, headers.get("content-length"), settings.max_body_bytes)
        try:
            # JSON sent over a network is UTF-8 (RFC 8259): no guessing at other encodings.
            data = json.loads(body.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "malformed_json", f"The body is not valid JSON: {exc}") from None
        except ValueError:
            # An integer past Python's 4,300-digit conversion limit, among others.
            raise ApiError(400, "malformed_json", "The body holds a number too large.") from None
        except RecursionError:
            raise ApiError(400, "malformed_json", "The body is nested too deeply.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_type", "The body must be a JSON object.")
        fields = _typed_fields(data)

        site = await self.state.sites.get(fields["site"])
        if site is None or site.disabled:
            if origin and origin in await self.state.sites.known_origins():
                # A registered page sending a wrong (or retired) key: its site should know.
                self.state.refusals.add(0, "unknown_key", origin)
            raise ApiError(404, "unknown_site", "No site is registered with this key.", "site")
        allowed = seen["allowed"] = site.origins
        if not origin:
            raise ApiError(
                403, "origin_required", "Reports are accepted only from a site's own pages."
            )
        if origin not in allowed:
            self.state.refusals.add(site.id, "wrong_origin", origin)
            raise ApiError(
                403, "origin_not_allowed", "This site does not accept reports from this origin."
            )
        wait = await self.site_buckets.take(site.key, repeat=left < self.first_left)
        if wait:
            raise _too_many(wait)

        if data.get(HONEYPOT_FIELD):
            # Filled by a bot. Look like success so it learns nothing; store nothing.
            fake = _created(secrets.randbelow(10**6) + 1, False, origin)
            fake.outcome = ("refused", "honeypot")
            return fake

        user_agent = headers.get("user-agent", "")
        sub = _validated(fields, site.id, user_agent, secret, ip)
        if sub.notify_email and not site.notify_reader:
            # The site does not offer it (any more: a dialog may be older than the
            # setting); the report itself still counts.
            sub = replace(sub, notify_email="")
        if origin_of(sub.url) not in allowed:
            self.state.refusals.add(site.id, "url_not_allowed", origin_of(sub.url))
            raise ApiError(
                403,
                "url_not_allowed",
                "The page address is not on one of this site's origins.",
                "url",
            )
        try:
            stored = await self.state.store.add_submission(sub)
        except StoreUnavailable as exc:
            # Not the reader's fault, and nothing was kept: say so, and when to try again.
            # Logged once a minute with a count however many sends fail the same way.
            self.state.health.write_failed(exc)
            log.exception("could not store a report")
            raise _unavailable() from None
        self.state.health.write_ok()
        if sub.notify_email and site.notify_reader:
            await keep_notify_address(
                self.state.store, stored.report_id, sub.notify_email, time.time()
            )
        event = REPORT_UPDATED if stored.duplicate else REPORT_CREATED
        if self.state.signals.has_listeners(event):
            self.state.signals.emit(
                event,
                {
                    "report_id": stored.report_id,
                    "site_id": site.id,
                    "site_key": site.key,
                    "status": stored.status,
                    "at": time.time(),
                },
            )
        created = _created(stored.report_id, stored.duplicate, origin)
        if stored.duplicate:
            created.outcome = ("merged", "")
        return created


_ACCEPTED = ("accepted", "")


@functools.lru_cache(maxsize=64)  # outcomes and error codes are a short, fixed list
def _counted(outcome: tuple[str, str]) -> Any:
    """The intake counter for one outcome, looked up once rather than on every send."""
    return REPORTS.labels(*outcome)


_WANTED_HEADERS = frozenset({b"origin", b"content-type", b"content-length", b"user-agent"})


def _headers(scope: Scope) -> dict[str, str]:
    """The few request headers intake reads, looked up once; the first of repeats wins."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _WANTED_HEADERS and name not in found:
            found[name] = value
    return {name.decode(): value.decode("latin-1") for name, value in found.items()}


def _cors(origin: str, allowed: frozenset[str]) -> dict[str, str]:
    if origin in allowed:
        # Retry-After is not a CORS-safelisted header: without this the widget could not
        # tell the reader when to try again.
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }
    return {"Vary": "Origin"}


class _Created:
    """The 201 answer, sent as two ASGI messages without building a Response."""

    __slots__ = ("headers", "body", "outcome")

    def __init__(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.headers = headers
        self.body = body
        # What the metrics count this answer as: (outcome, reason).
        self.outcome = ("accepted", "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _created(report_id: int, duplicate: bool, origin: str) -> _Created:
    """201, for an origin already checked against the site's."""
    body = b'{"id":%d,"duplicate":%s}' % (report_id, b"true" if duplicate else b"false")
    return _Created([(b"content-length", b"%d" % len(body)), *_created_headers(origin)], body)


@functools.lru_cache(maxsize=256)  # a site's pages come from one or a few origins
def _created_headers(origin: str) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"content-type", b"application/json"),
        # Retry-After is not a CORS-safelisted header: without this the widget could
        # not tell the reader when to try again.
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", b"Retry-After"),
        (b"vary", b"Origin"),
    )


def _unavailable() -> ApiError:
    return ApiError(
        503,
        "storage_unavailable",
        "The report could not be saved just now. Please try again in a moment.",
        headers={"Retry-After": "10"},
    )


def _too_many(wait: float) -> ApiError:
    minutes = max(1, round(wait / 60))
    return ApiError(
        429,
        "rate_limited",
        f"Too many reports. Please try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        headers={"Retry-After": retry_after(wait)},
    )


async def _read_limited(receive: Receive, declared: str | None, limit: int) -> bytes:
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "bad_request", "The body was cut off.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # stop reading: never hold more than the limit in memory
            raise _too_large(limit)
        if not message.get("more_body", False):
            # Usually the whole body came in one message: no copy then.
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The report is larger than {limit} bytes.")


_STRING_FIELDS = (
    "site", "kind", "url", "title", "lang", "suggestion", "comment", "fragment", "notify_email"
)  # fmt: skip
_QUOTE_FIELDS = ("exact", "prefix", "suffix")


def _typed_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Check JSON types only (400); content is judged later (422)."""
    out: dict[str, Any] = {}
    for name in _STRING_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, "invalid_type", f"'{name}' must be a string.", name)
        out[name] = value
    quote = data.get("quote")
    if quote is not None and not isinstance(quote, dict):
        raise ApiError(400, "invalid_type", "'quote' must be an object.", "quote")
    out["quote"] = None
    if quote is not None:
        out["quote"] = {}
        for name in _QUOTE_FIELDS:
            value = quote.get(name)
            if value is not None and not isinstance(value, str):
                raise ApiError(
                    400, "invalid_type", f"'quote.{name}' must be a string.", f"quote.{name}"
                )
            out["quote"][name] = value or ""
    position = data.get("position")
    if position is not None:
        if not isinstance(position, dict):
            raise ApiError(400, "invalid_type", "'position' must be an object.", "position")
        for name in ("start", "end"):
            value = position.get(name)
            # bool is an int in Python, never in JSON's sense of a number
            if not isinstance(value, int) or isinstance(value, bool):
                raise ApiError(
                    400,
                    "invalid_type",
                    f"'position.{name}' must be a whole number.",
                    f"position.{name}",
                )
    out["position"] = position
    if not out["site"]:
        raise ApiError(404, "unknown_site", "No site key was sent.", "site")
    return out


def _clean(fn: Any, value: str, field: str) -> str:
    if not value:
        return value
    try:
        return fn(value)
    except TextError as exc:
        raise ApiError(422, "invalid_text", f"'{field}' {exc}.", field) from None


def _check_length(value: str, limit: int, field: str) -> None:
    if len(value) > limit:
        raise ApiError(
            422, "too_long", f"'{field}' is {len(value)} characters; the limit is {limit}.", field
        )


@functools.lru_cache(maxsize=256)  # a site's pages share a handful of languages
def _clean_lang(raw: str) -> str:
    lang = raw.strip().replace("_", "-")[: LIMITS.lang]
    parts = lang.split("-")
    if lang and all(p.isascii() and p.isalnum() and 1 <= len(p) <= 8 for p in parts):
        return lang
    return ""  # a page's broken lang attribute is the site's mistake, not the reader's


def _validated(
    fields: dict[str, Any], site_id: int, user_agent: str, secret: str, ip: str
) -> NewSubmission:
    kind = fields["kind"] or ""
    if kind not in KINDS:
        raise ApiError(422, "invalid_choice", "'kind' must be 'typo' or 'comment'.", "kind")

    raw_url = fields["url"] or ""
    if not raw_url.strip():
        raise ApiError(422, "required", "'url' is required.", "url")
    _check_length(raw_url, LIMITS.url, "url")
    try:
        url = normalise_url(raw_url)
    except TextError as exc:
        raise ApiError(422, "invalid_text", f"'url' {exc}.", "url") from None
    except UrlError as exc:
        raise ApiError(422, "invalid_url", f"'url' {exc}.", "url") from None
    _check_length(url, LIMITS.url, "url")

    title = _clean(clean_line, fields["title"] or "", "title")
    _check_length(title, LIMITS.title, "title")
    suggestion = _clean(clean_text, fields["suggestion"] or "", "suggestion")
    _check_length(suggestion, LIMITS.suggestion, "suggestion")
    comment = _clean(clean_text, fields["comment"] or "", "comment")
    _check_length(comment, LIMITS.comment, "comment")

    exact = prefix = suffix = ""
    quote = fields["quote"]
    if quote is not None:
        exact = _clean(clean_line, quote["exact"], "quote.exact")
        prefix = _clean(clean_context, quote["prefix"], "quote.prefix")
        suffix = _clean(clean_context, quote["suffix"], "quote.suffix")
        _check_length(exact, LIMITS.exact, "quote.exact")
        _check_length(prefix, LIMITS.prefix, "quote.prefix")
        _check_length(suffix, LIMITS.suffix, "quote.suffix")
    if kind == "typo":
        if quote is None:
            raise ApiError(422, "required", "A typo report needs a 'quote'.", "quote")
        if not exact:
            raise ApiError(422, "empty", "'quote.exact' must not be empty.", "quote.exact")
    if kind == "comment" and not comment:
        raise ApiError(422, "empty", "A comment report needs a 'comment'.", "comment")

    # Where on the page the quote is: only with a quote, and only if it fits the quote.
    position: tuple[int, int] | None = None
    fragment = ""
    notify_email = ""
    try:
        if fields["position"] is not None and exact:
            position = check_position(fields["position"]["start"], fields["position"]["end"])
        if fields["fragment"] and exact:
            _check_length(fields["fragment"], LIMITS.fragment, "fragment")
            fragment = check_fragment(fields["fragment"], prefix, exact, suffix)
        if fields["notify_email"] and fields["notify_email"].strip():
            _check_length(fields["notify_email"].strip(), LIMITS.email, "notify_email")
            notify_email = check_email(fields["notify_email"])
    except LocatorError as exc:
        raise ApiError(422, exc.code, str(exc), exc.field) from None

    user_agent = reduce_user_agent(user_agent[: LIMITS.user_agent])
    today_hash, yesterday_hash = ip_hashes(secret, ip)

    return NewSubmission(
        site_id=site_id,
        kind=kind,
        url=url,
        title=title,
        lang=_clean_lang(fields["lang"] or ""),
        exact=exact,
        prefix=prefix,
        suffix=suffix,
        suggestion=suggestion,
        comment=comment,
        user_agent=user_agent,
        ip_hash=today_hash,
        ip_hash_prev=yesterday_hash,
        fragment=fragment,
        position=position,
        notify_email=notify_email,
    )
