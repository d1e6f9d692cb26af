"""Fixtures named for what they return: settings, app, client, site, live_server."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Secret

from feedback.app import create_app
from feedback.settings import Settings
from feedback.store import is_postgres_url, make_store
from feedback.store.sites import Site, add_site
from tests.postgres_cluster import Cluster

CHROMIUM = os.environ.get("FEEDBACK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


ENGINES = ("sqlite", "postgres")


def _in_browser(item: pytest.Item) -> bool:
    return "playwright" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run on SQLite only: what they check is the page, and the store below
    it is tested on both engines by everything else.

    Browser tests run last. Once Playwright's sync API has started, its event loop stays
    current in this thread until the session ends, and every async test after it fails with
    "cannot be called from a running event loop"."""
    dropped = [
        item
        for item in items
        if _in_browser(item)
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("database") == "postgres"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    for item in items:
        if _in_browser(item):
            item.add_marker(pytest.mark.browser)
    items.sort(key=_in_browser)


def _run_aside(coro: Any) -> Any:
    """Run a coroutine to the end on a thread of its own: the calling thread may have an
    event loop running already (an async test, or Playwright's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[tuple[Cluster, str]]:
    """A PostgreSQL server for the session, and a database migrated once to copy from."""
    try:
        cluster = Cluster()
        cluster.start()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL could not be started; CI must install it: {exc}")
        pytest.skip(f"PostgreSQL could not be started (apt-get install postgresql): {exc}")
    try:
        template = cluster.create_database()
        _run_aside(make_store(cluster.url_for(template)).migrate())
        yield cluster, template
    finally:
        cluster.stop()


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """FEEDBACK_DATABASE for a test, on each engine in turn: an SQLite file, or a fresh
    PostgreSQL database made from the migrated template."""
    if request.param == "sqlite":
        yield str(tmp_path / "feedback.db")
        return
    cluster, template = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database(template)
    try:
        yield cluster.url_for(name)
    finally:
        cluster.drop_database(name)


async def using_store(database: str, fn: Any) -> Any:
    """Open the database as the CLI does, run `fn(store)`, close it."""
    store = make_store(database, connections=2)
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


def run_with_store(database: str, fn: Any) -> Any:
    """using_store from plain code, on a thread of its own."""
    return _run_aside(using_store(database, fn))


def query_database(database: str, sql: str, params: tuple | dict = ()) -> list[Any]:
    """Rows straight from the database, outside the service: rows by name and position."""
    if is_postgres_url(database):
        import psycopg

        from feedback.store.postgres import _rows

        if isinstance(params, dict):
            sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)
        else:
            sql = sql.replace("?", "%s")
        with psycopg.connect(database, autocommit=True, row_factory=_rows) as conn:
            cur = conn.execute(sql, params or None)
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(database)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI must install it")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_settings(tmp_path: Path, **overrides) -> Settings:
    base = Settings(
        database=str(tmp_path / "feedback.db"),
        secret_key=Secret("test-secret-key-not-for-production"),
        public_url="http://testserver",
        # Generous limits: only the rate-limit tests want to hit them.
        rate_ip_per_minute=6000.0,
        rate_ip_burst=1000,
        rate_site_per_minute=6000.0,
        rate_site_burst=1000,
        # The page checker fetches pages in the background: only its own tests want it.
        checker=False,
        rate_prefix_per_minute=6000.0,
        rate_prefix_burst=1000,
    )
    return replace(base, **overrides)


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return make_settings(tmp_path, database=database)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def site(app: Starlette) -> Site:
    svc = app.state.services
    return await add_site(svc.store, "Example News", ["https://example.com"])


def report_payload(site: Site, **overrides) -> dict:
    body = {
        "site": site.key,
        "kind": "typo",
        "url": "https://example.com/news/article",
        "title": "An article",
        "lang": "en",
        "quote": {"exact": "teh", "prefix": "This is ", "suffix": " story."},
        "suggestion": "the",
        "comment": "",
    }
    body.update(overrides)
    return body


ORIGIN = {"Origin": "https://example.com"}


@dataclass
class LiveServer:
    """A real uvicorn serving the real app on a free loopback port, in a thread."""

    url: str
    port: int
    settings: Settings
    app: Starlette

    def add_site(self, name: str, origins: list[str]) -> Site:
        # A thread of its own: a browser test's thread already has Playwright's loop running.
        return run_with_store(self.settings.database, lambda s: add_site(s, name, origins))

    def query(self, sql: str, params: tuple = ()) -> list[Any]:
        return query_database(self.settings.database, sql, params)


def run_in_thread(app: Starlette, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return server, thread


@pytest.fixture
def live_server(tmp_path: Path, database: str) -> Iterator[LiveServer]:
    port = free_port()
    settings = make_settings(tmp_path, database=database, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    server, thread = run_in_thread(app, port)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", port, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
