"""The token API: scopes, filters, keyset pages, changes, and intake's error shape."""

from __future__ import annotations

import time

import pytest

from feedback.store.sites import add_site
from feedback.store.tokens import add_token, revoke_token
from tests.dashboard_support import make_user, send_report

ORIGIN = "https://example.com"


async def token(app, sites, scope="read", name="script") -> str:
    _, secret = await add_token(
        app.state.services.store,
        name=name,
        scope=scope,
        site_ids=[s.id for s in sites],
        created_by=None,
        now=time.time(),
    )
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code


@pytest.fixture
async def other(app):
    return await add_site(app.state.services.store, "Other", ["https://other.example"])


async def test_no_token_or_a_bad_or_revoked_one_is_401(app, client, site) -> None:
    assert_error(await client.get("/api/v1/reports"), 401, "unauthorized")
    assert (await client.get("/api/v1/sites")).headers["www-authenticate"].startswith("Bearer")
    assert_error(await client.get("/api/v1/sites", headers=bearer("fbk_nope")), 401)
    assert_error(await client.get("/api/v1/sites", headers={"Authorization": "Basic x"}), 401)
    secret = await token(app, [site])
    assert (await client.get("/api/v1/sites", headers=bearer(secret))).status_code == 200
    tokens = await app.state.services.store.fetchall("SELECT id, token_hash FROM api_tokens")
    assert secret not in str([tuple(t) for t in tokens])
    await revoke_token(app.state.services.store, tokens[0][0], time.time())
    assert_error(await client.get("/api/v1/sites", headers=bearer(secret)), 401, "invalid_token")


async def test_sites_lists_only_the_tokens_sites(app, client, site, other) -> None:
    secret = await token(app, [site])
    body = (await client.get("/api/v1/sites", headers=bearer(secret))).json()
    assert [s["key"] for s in body["sites"]] == [site.key]
    assert body["sites"][0]["origins"] == ["https://example.com"]


async def test_reports_are_paged_with_a_next_cursor_and_filtered(app, client, site, other) -> None:
    ids = [
        await send_report(client, site, ORIGIN, url=f"{ORIGIN}/news/{n}", suggestion=f"s{n}")
        for n in range(5)
    ]
    await send_report(client, other, "https://other.example")
    secret = await token(app, [site])
    seen, cursor = [], None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/api/v1/reports", params=params, headers=bearer(secret))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [r["id"] for r in body["reports"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    first = (await client.get(f"/api/v1/reports/{ids[0]}", headers=bearer(secret))).json()
    assert first["quote"]["exact"] == "teh" and first["suggestion"] == "s0"
    assert first["links"]["dashboard"].endswith(f"/dashboard/reports/{ids[0]}")
    assert "#:~:text=" in first["links"]["page"]
    filtered = await client.get(
        "/api/v1/reports", params={"url": "/news/3", "site": site.key}, headers=bearer(secret)
    )
    assert [r["id"] for r in filtered.json()["reports"]] == [ids[3]]
    closed = await client.get("/api/v1/reports", params={"status": "fixed"}, headers=bearer(secret))
    assert closed.json() == {"reports": [], "next": None}


async def test_out_of_scope_is_403_and_another_sites_report_is_404(
    app, client, site, other
) -> None:
    theirs = await send_report(client, other, "https://other.example")
    secret = await token(app, [site])
    assert_error(
        await client.get("/api/v1/reports", params={"site": other.key}, headers=bearer(secret)),
        403,
        "site_not_in_scope",
    )
    assert_error(await client.get(f"/api/v1/reports/{theirs}", headers=bearer(secret)), 404)
    assert_error(
        await client.patch(
            f"/api/v1/reports/{theirs}", json={"note": "x"}, headers=bearer(await token(
                app, [site], "write"))
        ),
        404,
    )  # fmt: skip


async def test_a_read_token_may_not_change_reports(app, client, site) -> None:
    report = await send_report(client, site, ORIGIN)
    secret = await token(app, [site], "read")
    response = await client.patch(
        f"/api/v1/reports/{report}", json={"status": "fixed"}, headers=bearer(secret)
    )
    assert_error(response, 403, "insufficient_scope")


async def test_patch_changes_status_with_a_reason_assignee_and_note(app, client, site) -> None:
    report = await send_report(client, site, ORIGIN)
    await make_user(app, "desk@example.com", "editor", [site])
    secret = await token(app, [site], "write", name="cms")
    response = await client.patch(
        f"/api/v1/reports/{report}",
        json={
            "status": "fixed",
            "reason": "corrected in print too",
            "assignee": "desk@example.com",
            "note": "done by the CMS",
        },
        headers=bearer(secret),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "fixed"
    assert body["assignee"] == "desk@example.com"
    assert body["note"] == "done by the CMS"
    assert body["events"][-1]["to_status"] == "fixed"
    assert "corrected in print too" in body["events"][-1]["note"]
    assert "cms" in body["events"][-1]["note"]
    assert len(body["submissions"]) == 1
    unassigned = await client.patch(
        f"/api/v1/reports/{report}", json={"assignee": None}, headers=bearer(secret)
    )
    assert unassigned.json()["assignee"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid_type"),
        ([], 400, "invalid_type"),
        ({"status": "done"}, 422, "invalid_choice"),
        ({"colour": "red"}, 400, "unknown_field"),
        ({"reason": "why"}, 422, "required"),
        ({"note": 5}, 400, "invalid_type"),
        ({"assignee": "nobody@example.com"}, 422, "unknown_assignee"),
        ({"assignee": 7}, 400, "invalid_type"),
    ],
)
async def test_bad_changes_are_refused_clearly(app, client, site, body, status, code) -> None:
    report = await send_report(client, site, ORIGIN)
    secret = await token(app, [site], "write")
    response = await client.patch(f"/api/v1/reports/{report}", json=body, headers=bearer(secret))
    assert_error(response, status, code)
    raw = await client.patch(
        f"/api/v1/reports/{report}", content=b"{", headers=bearer(secret) | {
            "Content-Type": "application/json"}
    )  # fmt: skip
    assert_error(raw, 400, "malformed_json")


@pytest.mark.parametrize(
    "params",
    [{"status": "open"}, {"kind": "x"}, {"sort": "random"}, {"limit": "0"}, {"limit": "x"},
     {"cursor": "!!!"}, {"cursor": "WzEsMl0"[:-1]}],
)  # fmt: skip
async def test_bad_list_parameters_are_400(app, client, site, params) -> None:
    secret = await token(app, [site])
    response = await client.get("/api/v1/reports", params=params, headers=bearer(secret))
    assert_error(response, 400)


async def test_the_openapi_document_describes_every_api_v1_route(app, client) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = {path.replace("{id}", "{id:int}") for path in doc["paths"]}
    served = {
        getattr(route, "path", "")
        for route in app.routes
        if getattr(route, "path", "").startswith("/api/v1/")
        and route.path != "/api/v1/openapi.json"
    }
    assert {p.replace("{id:int}", "{id}") for p in served} <= set(doc["paths"])
    assert documented
    assert set(doc["paths"]["/api/v1/reports"]) == {"get", "post"}
    assert doc["paths"]["/api/v1/reports"]["post"]["security"] == []


async def test_the_cms_edit_link_follows_the_sites_template(app, client, site) -> None:
    from feedback.store.notify import set_edit_url_template

    await set_edit_url_template(
        app.state.services.store, site.id, "https://cms.example.com/edit?url={url}&p={path}"
    )
    report = await send_report(client, site, ORIGIN)
    secret = await token(app, [site])
    body = (await client.get(f"/api/v1/reports/{report}", headers=bearer(secret))).json()
    assert body["links"]["edit"] == (
        "https://cms.example.com/edit?url=https%3A%2F%2Fexample.com%2Fnews%2Farticle"
        "&p=/news/article"
    )
    sites = (await client.get("/api/v1/sites", headers=bearer(secret))).json()["sites"]
    assert sites[0]["edit_url_template"].startswith("https://cms.example.com/")


async def test_deeply_nested_json_is_a_400_not_a_crash(app, client, site) -> None:
    import base64

    report = await send_report(client, site, ORIGIN)
    secret = await token(app, [site], "write")
    deep = b"[" * 100_000
    response = await client.patch(
        f"/api/v1/reports/{report}", content=deep[:16000],
        headers=bearer(secret) | {"Content-Type": "application/json"},
    )  # fmt: skip
    assert_error(response, 400)
    cursor = base64.urlsafe_b64encode(deep[:3000]).decode()
    listed = await client.get("/api/v1/reports", params={"cursor": cursor}, headers=bearer(secret))
    assert_error(listed, 400, "invalid_cursor")


async def test_nul_and_lone_surrogates_never_reach_the_database(app, client, site) -> None:
    import json

    report = await send_report(client, site, ORIGIN)
    secret = await token(app, [site], "write")
    as_json = bearer(secret) | {"Content-Type": "application/json"}
    for field in ("note", "assignee"):
        for bad in ("a\x00b", "\ud800"):
            response = await client.patch(
                f"/api/v1/reports/{report}", content=json.dumps({field: bad}), headers=as_json
            )
            assert_error(response, 422, "invalid_text")
    listed = await client.get(
        "/api/v1/reports", params={"url": "\x00news", "q": "te\x00h"}, headers=bearer(secret)
    )
    assert listed.status_code == 200
    for key in ("\x00", "k\ud800", "x" * 1000):
        body = {"site": key, "kind": "typo", "url": "https://example.com/"}
        intake = await client.post(
            "/api/v1/reports",
            content=json.dumps(body),
            headers={"Origin": ORIGIN, "Content-Type": "application/json"},
        )
        assert_error(intake, 404, "unknown_site")
