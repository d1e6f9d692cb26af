"""Errors outside intake's own refusals: each part of the service answers in its own way."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from feedback.dashboard.middleware import SECURITY_HEADERS
from tests.dashboard_support import make_user, sign_in


def assert_dashboard_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


async def test_unknown_api_address_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "/api/v1/nothing-here" in error["message"]
    assert error["field"] is None


async def test_wrong_method_on_the_api_is_a_json_405_that_says_what_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete("/api/v1/reports")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    allowed = set(response.headers["allow"].replace(" ", "").split(","))
    assert allowed == {"POST", "OPTIONS", "GET", "HEAD"}


async def test_unknown_dashboard_address_is_a_dashboard_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text
    assert 'href="/dashboard/static/dashboard.css"' in response.text
    assert_dashboard_headers(response)


async def test_a_refused_dashboard_action_explains_itself_on_a_page(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await make_user(app, "editor@example.com")
    await sign_in(client, "editor@example.com")
    response = await client.post("/dashboard/actions", data={"act": "fixed:1"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Missing CSRF token; reload the page and try again." in response.text
    assert_dashboard_headers(response)


async def test_an_address_in_the_page_is_never_echoed_into_html(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/dashboard/%3Cscript%3Ealert(1)%3C/script%3E")
    assert response.status_code == 404
    assert "<script>alert" not in response.text


async def test_other_unknown_addresses_are_plain_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Not Found"
