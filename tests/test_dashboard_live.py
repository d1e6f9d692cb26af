"""The live stream: arrivals reach an open dashboard at once, and only from its own sites."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from feedback.store.users import add_user
from tests.conftest import using_store

PASSWORD = "correct horse battery"


def setup(live_server: Any) -> tuple[Any, Any]:
    async def go() -> tuple[Any, Any]:
        site_a = await live_server_site(live_server, "A", "https://a.example")
        site_b = await live_server_site(live_server, "B", "https://b.example")
        await using_store(
            live_server.settings.database,
            lambda store: add_user(store, "ed@a.example", PASSWORD, "editor", [site_a.id]),
        )
        return site_a, site_b

    # A worker thread: a browser test earlier in the session may own this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(go())).result()


async def live_server_site(live_server: Any, name: str, origin: str):
    from feedback.store.sites import add_site

    return await using_store(live_server.settings.database, lambda s: add_site(s, name, [origin]))


def report(base: str, site: Any, origin: str, exact: str) -> int:
    body = {"site": site.key, "kind": "typo", "url": f"{origin}/a", "quote": {"exact": exact}}
    r = httpx.post(f"{base}/api/v1/reports", json=body, headers={"Origin": origin})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_live_stream_carries_own_site_arrivals_only(live_server: Any) -> None:
    site_a, site_b = setup(live_server)
    base = live_server.url
    with httpx.Client(base_url=base, timeout=5) as client:
        page = client.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        signed = client.post(
            "/dashboard/login", data={"email": "ed@a.example", "password": PASSWORD, "csrf": csrf}
        )
        assert signed.status_code == 303
        with client.stream("GET", "/dashboard/live") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            foreign = report(base, site_b, "https://b.example", "secret-b")
            own = report(base, site_a, "https://a.example", "mine")
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    break
    assert event["report_id"] == own != foreign
    assert event["event"] == "report.created" and event["site_id"] == site_a.id


def test_signed_out_live_stream_is_refused(live_server: Any) -> None:
    r = httpx.get(f"{live_server.url}/dashboard/live", timeout=5)
    assert r.status_code == 401


async def test_live_stream_stops_listening_when_the_client_leaves_before_any_event() -> None:
    from feedback.dashboard.live import _EventStream

    closed = []
    started = []

    async def never_started():
        started.append(True)
        yield "data: x\n\n"

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        raise OSError("client went away")

    response = _EventStream(lambda: closed.append(True), never_started())
    scope = {"type": "http", "asgi": {"spec_version": "2.4"}}
    with pytest.raises(Exception):  # noqa: B017 - Starlette reports the disconnect its own way
        await response(scope, receive, send)
    assert closed == [True]
    assert started == []
