"""POST /api/v1/reports: what readers' browsers and abusers get back, and what is stored."""

from __future__ import annotations

import json

import httpx
import pytest

from feedback.store.sites import Site
from tests.conftest import ORIGIN, query_database, report_payload


async def stored_reports(app) -> list[dict]:
    rows = await app.state.services.store.fetchall("SELECT * FROM reports ORDER BY id")
    return [dict(r) for r in rows]


async def stored_submissions(app) -> list[dict]:
    rows = await app.state.services.store.fetchall("SELECT * FROM submissions ORDER BY id")
    return [dict(r) for r in rows]


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    return body["error"]


async def test_typo_report_is_created_and_stored(client, site: Site, app) -> None:
    response = await client.post("/api/v1/reports", json=report_payload(site), headers=ORIGIN)
    assert response.status_code == 201
    assert response.json() == {"id": 1, "duplicate": False}
    assert response.headers["access-control-allow-origin"] == "https://example.com"
    [report] = await stored_reports(app)
    assert report["kind"] == "typo"
    assert report["quote_exact"] == "teh"
    assert report["quote_prefix"] == "This is "
    assert report["quote_suffix"] == " story."
    assert report["status"] == "new"
    assert report["submission_count"] == 1
    [submission] = await stored_submissions(app)
    assert submission["suggestion"] == "the"
    assert submission["report_id"] == report["id"]


async def test_client_ip_is_stored_only_as_a_salted_hash(client, site: Site, app) -> None:
    await client.post("/api/v1/reports", json=report_payload(site), headers=ORIGIN)
    [submission] = await stored_submissions(app)
    assert "203.0.113.7" not in json.dumps(submission)
    assert len(submission["ip_hash"]) == 32
    from feedback.clients import ip_hash

    assert submission["ip_hash"] != ip_hash("another-secret", "203.0.113.7")


async def test_comment_report_needs_no_quote(client, site: Site, app) -> None:
    body = report_payload(site, kind="comment", comment="The map is outdated.")
    del body["quote"]
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 201
    [report] = await stored_reports(app)
    assert report["kind"] == "comment"
    assert report["quote_exact"] == ""


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "invalid_type"),
        (b"[" * 5000 + b"]" * 5000, "malformed_json"),
    ],
    ids=["broken", "not-utf8", "array", "nested-too-deep"],
)
async def test_malformed_body_is_400(client, site: Site, content: bytes, code: str) -> None:
    response = await client.post(
        "/api/v1/reports",
        content=content,
        headers={**ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == code


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"kind": 5}, "kind"),
        ({"url": ["x"]}, "url"),
        ({"comment": {"a": 1}}, "comment"),
        ({"quote": "teh"}, "quote"),
        ({"quote": {"exact": 1}}, "quote.exact"),
    ],
)
async def test_wrong_field_type_is_400_naming_the_field(client, site, override, field) -> None:
    response = await client.post(
        "/api/v1/reports", json=report_payload(site, **override), headers=ORIGIN
    )
    assert response.status_code == 400
    err = error_of(response)
    assert err["code"] == "invalid_type"
    assert err["field"] == field


async def test_over_long_body_is_413(client, site: Site) -> None:
    body = report_payload(site, comment="x" * 20000)
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


async def test_over_long_streamed_body_is_cut_off_while_reading(client, site: Site) -> None:
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(1000):  # 1 MB if it were all read
            sent += 1
            yield b" " * 1024

    response = await client.post(
        "/api/v1/reports",
        content=chunks(),
        headers={**ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert sent < 100  # reading stopped soon after the limit


async def test_a_body_sent_in_pieces_is_put_together(client, site: Site, app) -> None:
    body = json.dumps(report_payload(site)).encode()

    async def pieces():
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = await client.post(
        "/api/v1/reports", content=pieces(), headers={**ORIGIN, "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert len(await stored_reports(app)) == 1


async def test_a_reader_who_leaves_mid_report_stores_nothing(site: Site, app) -> None:
    body = json.dumps(report_payload(site)).encode()
    messages = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/reports", "raw_path": b"/api/v1/reports",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
            (b"origin", ORIGIN["Origin"].encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent[0]["status"] == 400  # nobody reads it, but nothing is left half done
    assert await stored_reports(app) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_non_json_content_type_is_415(client, site: Site, content_type: str) -> None:
    response = await client.post(
        "/api/v1/reports",
        content=json.dumps(report_payload(site)),
        headers={**ORIGIN, "Content-Type": content_type},
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


async def test_json_with_charset_is_accepted(client, site: Site) -> None:
    response = await client.post(
        "/api/v1/reports",
        content=json.dumps(report_payload(site)),
        headers={**ORIGIN, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


async def test_unknown_site_is_404(client, site: Site) -> None:
    body = {**report_payload(site), "site": "no-such-site"}
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "unknown_site",
        "message": "No site is registered with this key.",
        "field": "site",
    }


async def test_foreign_origin_is_403_without_cors_headers(client, site: Site, app) -> None:
    response = await client.post(
        "/api/v1/reports",
        json=report_payload(site),
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
    assert await stored_reports(app) == []


async def test_missing_origin_is_403(client, site: Site) -> None:
    response = await client.post("/api/v1/reports", json=report_payload(site))
    assert response.status_code == 403
    assert error_of(response)["code"] == "origin_required"


async def test_page_url_on_another_origin_is_403(client, site: Site, app) -> None:
    body = report_payload(site, url="https://evil.example/page")
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 403
    err = error_of(response)
    assert (err["code"], err["field"]) == ("url_not_allowed", "url")
    assert await stored_reports(app) == []


@pytest.mark.parametrize(
    ("override", "field", "code"),
    [
        ({"quote": {"exact": "x" * 301}}, "quote.exact", "too_long"),
        ({"quote": {"exact": "   "}}, "quote.exact", "empty"),
        ({"quote": {"exact": "ok", "prefix": "p" * 201}}, "quote.prefix", "too_long"),
        ({"quote": {"exact": "ok", "suffix": "s" * 201}}, "quote.suffix", "too_long"),
        ({"comment": "c" * 2001}, "comment", "too_long"),
        ({"url": "https://example.com/" + "a" * 2040}, "url", "too_long"),
        ({"url": ""}, "url", "required"),
        ({"url": "javascript:alert(1)"}, "url", "invalid_url"),
        ({"url": "ftp://example.com/file"}, "url", "invalid_url"),
        ({"url": "https:///nohost"}, "url", "invalid_url"),
        ({"kind": "praise"}, "kind", "invalid_choice"),
        ({"quote": None}, "quote", "required"),
        ({"quote": {"exact": "te\ud800h"}}, "quote.exact", "invalid_text"),
        ({"comment": "lone \udfff surrogate"}, "comment", "invalid_text"),
    ],
)
async def test_invalid_field_is_422_naming_the_field(
    client, site: Site, app, override: dict, field: str, code: str
) -> None:
    body = json.dumps(report_payload(site, **override))  # ensure_ascii keeps lone surrogates
    response = await client.post(
        "/api/v1/reports",
        content=body,
        headers={**ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    err = error_of(response)
    assert (err["code"], err["field"]) == (code, field)
    assert await stored_reports(app) == []


async def test_comment_report_without_comment_is_422(client, site: Site) -> None:
    body = report_payload(site, kind="comment", comment="  \n ")
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 422
    assert error_of(response)["field"] == "comment"


async def test_quote_at_the_limits_is_accepted(client, site: Site) -> None:
    quote = {"exact": "x" * 300, "prefix": "p" * 200, "suffix": "s" * 200}
    response = await client.post(
        "/api/v1/reports", json=report_payload(site, quote=quote), headers=ORIGIN
    )
    assert response.status_code == 201


async def test_filled_honeypot_is_accepted_silently_and_dropped(client, site: Site, app) -> None:
    body = report_payload(site, website="http://spam.example")
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 201
    assert set(response.json()) == {"id", "duplicate"}
    assert await stored_reports(app) == []
    assert await stored_submissions(app) == []


async def test_text_is_normalised_before_storing(client, site: Site, app) -> None:
    body = report_payload(
        site,
        url="HTTPS://Example.COM:443/news/a?id=7&utm_source=x&utm_medium=y&fbclid=abc#section-2",
        title="  A\ttitle \x00with\x07 controls  ",
        quote={"exact": "  Cafe\u0301\n\n  au  lait ", "prefix": "a\u00a0 b ", "suffix": ""},
        comment="First line\x1b\r\nsecond   line\n\n\n\nthird",
    )
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 201, response.text
    [report] = await stored_reports(app)
    assert report["url"] == "https://example.com/news/a?id=7"
    assert report["title"] == "A title with controls"
    assert report["quote_exact"] == "Caf\u00e9 au lait"  # NFC: e + combining acute -> é
    assert report["quote_prefix"] == "a b "
    [submission] = await stored_submissions(app)
    assert submission["comment"] == "First line\nsecond line\n\nthird"


async def test_every_error_is_json_with_cors_for_known_origins(client, site: Site) -> None:
    response = await client.post(
        "/api/v1/reports",
        content=b"nope",
        headers={**ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    # The widget on the site's pages must be able to read the message.
    assert response.headers["access-control-allow-origin"] == "https://example.com"


async def test_preflight_allows_exactly_the_sites_origins(client, site: Site) -> None:
    headers = {
        "Origin": "https://example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = await client.options(f"/api/v1/reports?site={site.key}", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://example.com"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"].lower() == "content-type"
    assert response.headers["vary"] == "Origin"

    refused = await client.options(
        f"/api/v1/reports?site={site.key}", headers={**headers, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


async def test_preflight_for_another_sites_key_is_refused(client, site: Site, app) -> None:
    from feedback.store.sites import add_site

    other = await add_site(app.state.services.store, "Other", ["https://other.example"])
    response = await client.options(
        f"/api/v1/reports?site={other.key}",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    # Without a key, any registered origin passes the preflight; the POST checks the site.
    response = await client.options(
        "/api/v1/reports",
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204


async def test_report_to_another_sites_key_from_this_origin_is_403(client, site, app) -> None:
    from feedback.store.sites import add_site

    other = await add_site(app.state.services.store, "Other", ["https://other.example"])
    body = report_payload(other, url="https://other.example/page")
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_cors_never_answers_with_a_wildcard(client, site: Site) -> None:
    response = await client.post("/api/v1/reports", json=report_payload(site), headers=ORIGIN)
    assert response.headers["access-control-allow-origin"] != "*"


async def test_get_on_the_intake_endpoint_is_the_token_api(client, site: Site) -> None:
    # Readers only POST here; a GET lists reports, for token holders only.
    response = await client.get("/api/v1/reports")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert (await client.put("/api/v1/reports")).status_code == 405


async def test_healthz_reports_database_ok(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["ready"] is True


async def test_a_report_that_cannot_be_stored_is_a_503_to_retry(
    client, site: Site, app, caplog
) -> None:
    # Break the storage under the running service, as a full or damaged disk would.
    for table in ("report_search", "submissions"):
        query_database(app.state.services.settings.database, f"DROP TABLE {table}")
    response = await client.post("/api/v1/reports", json=report_payload(site), headers=ORIGIN)
    assert response.status_code == 503
    assert error_of(response)["code"] == "storage_unavailable"
    assert response.headers["retry-after"] == "10"
    assert response.headers["access-control-allow-origin"] == ORIGIN["Origin"]
    assert "could not store a report" in caplog.text
    assert await stored_reports(app) == []  # nothing half done
