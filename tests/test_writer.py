"""The group-committing writer and the site cache in front of intake, on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from feedback.store.reports import NewSubmission, send_json, store_submissions
from feedback.store.sites import SiteCache, add_site
from feedback.store.sqlite import SqliteStore
from feedback.store.sqlite_db import Database

SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
batch_sizes: list[int] = []


def write_notes(conn: sqlite3.Connection, bodies: list[str]) -> list[int]:
    """A batched write as intake's: plain sqlite3, on the writer's thread, atomic."""
    batch_sizes.append(len(bodies))
    conn.execute("BEGIN IMMEDIATE")
    ids = []
    for body in bodies:
        ids.append(conn.execute("INSERT INTO notes (body) VALUES (?)", (body,)).lastrowid)
        if body == "bad":  # after writing, so the writer has something to roll back
            raise ValueError("a bad note")
    return ids


@pytest.fixture
async def db(tmp_path):
    database = Database(str(tmp_path / "writer.db"))
    await database.open()

    async def create(conn):
        await conn.execute(SCHEMA)

    await database.write(create)
    batch_sizes.clear()
    yield database
    await database.close()


async def notes(db: Database) -> list[str]:
    return [r[0] for r in await db.fetchall("SELECT body FROM notes ORDER BY id")]


async def test_batched_writes_share_commits_and_each_caller_gets_its_own_result(db) -> None:
    bodies = [f"note {n}" for n in range(200)]
    ids = await asyncio.gather(*(db.write_batched(write_notes, b) for b in bodies))
    assert len(set(ids)) == 200
    rows = dict(await db.fetchall("SELECT id, body FROM notes"))
    assert [rows[i] for i in ids] == bodies
    assert sum(batch_sizes) == 200
    assert len(batch_sizes) < 200  # waiting writes went in together


async def test_a_failing_item_fails_alone_and_the_rest_of_its_batch_lands(db) -> None:
    bodies = ["one", "two", "bad", "three"]
    results = await asyncio.gather(
        *(db.write_batched(write_notes, b) for b in bodies), return_exceptions=True
    )
    assert isinstance(results[2], ValueError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    assert sorted(await notes(db)) == ["one", "three", "two"]


async def test_units_are_not_starved_by_a_stream_of_batched_writes(db) -> None:
    stop = asyncio.Event()
    written = 0

    async def reader_traffic() -> None:
        nonlocal written
        while not stop.is_set():
            await asyncio.gather(*(db.write_batched(write_notes, "x") for _ in range(16)))
            written += 16

    async def unit(conn):
        await conn.execute("INSERT INTO notes (body) VALUES ('unit')")
        return "done"

    producers = [asyncio.create_task(reader_traffic()) for _ in range(4)]
    try:
        for _ in range(20):
            assert await asyncio.wait_for(db.write(unit), timeout=10) == "done"
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*producers), timeout=10)
    assert written > 0
    assert (await notes(db)).count("unit") == 20
    assert len(await notes(db)) == written + 20


async def test_closing_commits_everything_already_submitted(tmp_path) -> None:
    path = str(tmp_path / "close.db")
    db = Database(path)
    await db.open()

    async def create(conn):
        await conn.execute(SCHEMA)

    await db.write(create)
    pending = [asyncio.create_task(db.write_batched(write_notes, f"n{n}")) for n in range(300)]
    await asyncio.sleep(0)  # every task has queued its note
    await db.close()
    assert all(isinstance(task.result(), int) for task in pending)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 300
    conn.close()
    with pytest.raises(RuntimeError, match="not open"):
        await db.write_batched(write_notes, "late")


async def test_a_caller_that_goes_away_does_not_lose_its_write(db) -> None:
    task = asyncio.create_task(db.write_batched(write_notes, "abandoned"))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await db.write_batched(write_notes, "after")  # the writer goes on
    assert await notes(db) == ["abandoned", "after"]


@pytest.fixture
async def store(tmp_path):
    """The same file behind the store's interface, for what the store builds on the writer."""
    opened = SqliteStore(str(tmp_path / "store.db"))
    await opened.open()
    yield opened
    await opened.close()


async def test_intake_waits_for_another_process_that_holds_the_write_lock(store) -> None:
    db = store.db
    site = await add_site(store, "News", ["https://news.example"])
    other = sqlite3.connect(db.path, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # as `feedback site add` would, for a moment
    release = asyncio.get_running_loop().call_later(0.3, other.commit)
    send = NewSubmission(
        site_id=site.id, kind="typo", url="https://news.example/a", title="A", lang="en",
        exact="teh", prefix="", suffix="", suggestion="the", comment="", user_agent="",
        ip_hash="0" * 32,
    )  # fmt: skip
    started = time.monotonic()
    try:
        stored = await asyncio.gather(
            *(db.write_batched(store_submissions, send_json(send)) for _ in range(5))
        )
    finally:
        release.cancel()
        other.close()
    assert time.monotonic() - started >= 0.25  # it waited for the lock rather than failing
    assert len({s.report_id for s in stored}) == 1
    assert [s.duplicate for s in stored] == [False, True, True, True, True]
    row = await db.fetchone("SELECT submission_count FROM reports")
    assert row[0] == 5


async def count_site_lookups(db: Database) -> list[str]:
    seen: list[str] = []

    def trace(sql: str) -> None:
        if "FROM sites WHERE key" in sql:
            seen.append(sql)

    for conn in db._all_readers:
        await conn.set_trace_callback(trace)
    return seen


async def test_many_requests_for_one_uncached_site_make_one_lookup(store) -> None:
    site = await add_site(store, "News", ["https://news.example"])
    cache = SiteCache(store)
    lookups = await count_site_lookups(store.db)
    found = await asyncio.gather(*(cache.get(site.key) for _ in range(50)))
    assert {s.id for s in found} == {site.id}
    assert len(lookups) == 1
    assert await cache.get("no-such-key") is None
    assert await cache.get("no-such-key") is None
    assert len(lookups) == 2  # an unknown key is remembered for a while too


async def test_a_stale_site_is_served_at_once_and_refreshed_behind_it(store, tmp_path) -> None:
    site = await add_site(store, "News", ["https://news.example"])
    cache = SiteCache(store, ttl=0.05)
    assert (await cache.get(site.key)).origins == {"https://news.example"}
    # Another process (the CLI) adds an origin.
    other = sqlite3.connect(store.path)
    other.execute(
        "INSERT INTO site_origins (site_id, origin) VALUES (?, 'https://m.news.example')",
        (site.id,),
    )
    other.commit()
    other.close()
    await asyncio.sleep(0.06)
    lookups = await count_site_lookups(store.db)
    stale = await asyncio.gather(*(cache.get(site.key) for _ in range(20)))
    assert all(s.origins == {"https://news.example"} for s in stale)  # no waiting
    cache.ttl = 3600  # from here on, only the refresh already under way
    for _ in range(100):
        await asyncio.sleep(0.01)
        fresh = await cache.get(site.key)
        if "https://m.news.example" in fresh.origins:
            break
    assert fresh.origins == {"https://news.example", "https://m.news.example"}
    assert len(lookups) == 1


async def test_a_lookup_under_way_when_the_cache_is_cleared_is_not_kept(store) -> None:
    site = await add_site(store, "News", ["https://news.example"])
    cache = SiteCache(store)
    lookups = await count_site_lookups(store.db)
    in_flight = asyncio.ensure_future(cache.get(site.key))
    await asyncio.sleep(0)  # the lookup has started: it may read rows about to change
    cache.invalidate()  # as the dashboard does after changing a site
    await in_flight
    await cache.get(site.key)
    assert len(lookups) == 2  # asked again, rather than trusting the earlier read
