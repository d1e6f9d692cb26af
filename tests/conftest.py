"""Fixtures named for what they return: settings, app, client, site, live_server."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Secret

from feedback.app import create_app
from feedback.database import Database
from feedback.settings import Settings
from feedback.store.sites import Site, add_site

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last. Once Playwright's sync API has started, its event loop stays
    current in this thread until the session ends, and every async test after it fails with
    "cannot be called from a running event loop"."""
    items.sort(key=lambda item: "playwright" in getattr(item, "fixturenames", ()))


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
    )
    return replace(base, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


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
    return await add_site(svc.db, "Example News", ["https://example.com"])


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
        async def go() -> Site:
            db = Database(self.settings.database, readers=1)
            await db.open()
            try:
                return await add_site(db, name, origins)
            finally:
                await db.close()

        # A thread of its own: a browser test's thread already has Playwright's loop running.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.settings.database)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


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
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    settings = make_settings(tmp_path, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    server, thread = run_in_thread(app, port)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", port, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
