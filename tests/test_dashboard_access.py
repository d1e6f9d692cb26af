"""Every dashboard route sits behind sign-in, and no editor reaches another site's reports."""

from __future__ import annotations

import re

import httpx
from dashboard_support import make_user, send_report, sign_in
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from feedback.store.sites import add_site

SECRET_QUOTE = "confidential-quote-of-site-b"
SECRET_COMMENT = "confidential-comment-of-site-b"
PUBLIC_PATHS = {"/dashboard/login", "/dashboard/static/{name}"}


def dashboard_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) for every route under the /dashboard mount, from the real table."""
    found = []
    for mount in app.routes:
        if isinstance(mount, Mount) and mount.path == "/dashboard":
            for route in mount.routes:
                assert isinstance(route, Route)
                for method in sorted(route.methods or ()):
                    if method != "HEAD":
                        found.append((method, "/dashboard" + route.path))
    assert len(found) > 15, "the dashboard mount was not found"
    return found


async def two_sites(app: Starlette, client: httpx.AsyncClient):
    db = app.state.services.store
    site_a = await add_site(db, "Site A", ["https://a.example"])
    site_b = await add_site(db, "Site B", ["https://b.example"])
    own = await send_report(client, site_a, "https://a.example")
    foreign = await send_report(
        client,
        site_b,
        "https://b.example",
        quote={"exact": SECRET_QUOTE, "prefix": "", "suffix": ""},
        comment=SECRET_COMMENT,
        title="Site B title",
    )
    return site_a, site_b, own, foreign


def fill(path: str, report_id: int, site_id: int) -> str:
    path = path.replace("{id:int}", str(report_id) if "/reports/" in path else str(site_id))
    return path.replace("{name}", "dashboard.js")


async def test_no_dashboard_route_answers_a_signed_out_visitor_with_data(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    _, site_b, _, foreign = await two_sites(app, client)
    for method, path in dashboard_routes(app):
        if path in PUBLIC_PATHS:
            continue
        url = fill(path, foreign, site_b.id)
        for accept in ("text/html", "*/*"):
            r = await client.request(method, url, headers={"Accept": accept}, data={"id": foreign})
            assert r.status_code in (303, 401, 403, 404), (method, url, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/dashboard/login")
            assert SECRET_QUOTE not in r.text and SECRET_COMMENT not in r.text
            assert site_b.key not in r.text


async def test_no_route_leaks_another_sites_report_to_an_editor(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site_a, site_b, own, foreign = await two_sites(app, client)
    await make_user(app, "ed@a.example", "editor", [site_a])
    csrf = await sign_in(client, "ed@a.example")
    for method, path in dashboard_routes(app):
        # The live stream never ends by itself in-process; test_dashboard_live.py proves it
        # carries no other site's reports.
        if path in ("/dashboard/logout", "/dashboard/login", "/dashboard/live"):
            continue
        url = fill(path, foreign, site_b.id)
        queries = ["", f"?site={site_b.id}", f"?site={site_b.id}&status=all&q=confidential"]
        for query in queries:
            data = {"csrf": csrf, "id": str(foreign), "act": f"fixed:{foreign}", "to": "fixed"}
            r = await client.request(method, url + query, data=data if method == "POST" else None)
            assert SECRET_QUOTE not in r.text and SECRET_COMMENT not in r.text, (method, url)
            assert "Site B" not in r.text, (method, url)
            if "{id:int}" in path:
                assert r.status_code == 404, (method, url, r.status_code)
    status = await app.state.services.store.fetchone(
        "SELECT status, note, assignee_id FROM reports WHERE id = ?", (foreign,)
    )
    assert tuple(status) == ("new", "", None)
    # The editor's own site works as usual.
    assert (await client.get(f"/dashboard/reports/{own}")).status_code == 200


async def test_editor_bulk_action_skips_reports_of_other_sites(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site_a, _, own, foreign = await two_sites(app, client)
    await make_user(app, "ed@a.example", "editor", [site_a])
    csrf = await sign_in(client, "ed@a.example")
    await client.post(
        "/dashboard/actions", data={"to": "spam", "id": [str(own), str(foreign)], "csrf": csrf}
    )
    rows = await app.state.services.store.fetchall("SELECT id, status FROM reports ORDER BY id")
    assert [tuple(r) for r in rows] == [(own, "spam"), (foreign, "new")]


async def test_editor_sees_only_their_sites_counts_and_rows(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site_a, _, own, _ = await two_sites(app, client)
    await make_user(app, "ed@a.example", "editor", [site_a])
    await sign_in(client, "ed@a.example")
    page = (await client.get("/dashboard/")).text
    assert re.findall(r'data-id="(\d+)"', page) == [str(own)]
    assert re.search(r'data-status="new">New <b>1</b>', page)
    assert "Sites</a>" not in page  # no admin navigation


async def test_admin_pages_are_hidden_from_editors(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site_a, *_ = await two_sites(app, client)
    await make_user(app, "ed@a.example", "editor", [site_a])
    csrf = await sign_in(client, "ed@a.example")
    for path in ("/dashboard/sites", "/dashboard/users", f"/dashboard/sites/{site_a.id}"):
        assert (await client.get(path)).status_code == 404
    r = await client.post(
        "/dashboard/users", data={"csrf": csrf, "email": "x@y.z", "role": "admin"}
    )
    assert r.status_code == 404
    # Still signed in: the refusals did not end the session (the CSRF token itself carries
    # a timestamp, so it may differ from one second to the next).
    after = await client.get("/dashboard/", follow_redirects=False)
    assert after.status_code == 200 and "ed@a.example" in after.text
