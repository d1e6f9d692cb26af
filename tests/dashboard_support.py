"""Helpers the dashboard tests share: accounts, signing in, sending reports."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from feedback.store.sites import Site
from feedback.store.users import add_user

PASSWORD = "correct horse battery"


async def make_user(
    app: Starlette, email: str, role: str = "editor", sites: list[Site] | None = None
) -> int:
    db = app.state.services.store
    return await add_user(db, email, PASSWORD, role, [s.id for s in sites or []])


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf": csrf_of(page.text), "next": ""},
    )
    assert response.status_code == 303, response.text
    queue = await client.get("/dashboard/")
    assert queue.status_code == 200
    return csrf_of(queue.text)


async def send_report(client: httpx.AsyncClient, site: Site, origin: str, **fields) -> int:
    body = {
        "site": site.key,
        "kind": "typo",
        "url": f"{origin}/news/article",
        "title": "An article",
        "lang": "en",
        "quote": {"exact": "teh", "prefix": "This is ", "suffix": " story."},
        "suggestion": "the",
        "comment": "",
    }
    body.update(fields)
    response = await client.post("/api/v1/reports", json=body, headers={"Origin": origin})
    assert response.status_code == 201, response.text
    return response.json()["id"]
