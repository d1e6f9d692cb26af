"""`feedback backup` while the service takes reports, and `feedback purge`, by hand and on
a schedule."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from feedback.app import create_app
from feedback.store.retention import parse_age, purge_closed
from feedback.store.sites import add_site
from tests.conftest import ORIGIN, free_port, query_database, report_payload

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def cli(tmp_path: Path, *args: str, database: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env |= {"FEEDBACK_DATABASE": database, "FEEDBACK_SECRET_KEY": "backup-test"}
    return subprocess.run(
        [sys.executable, "-m", "feedback", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_backup_while_serving_holds_every_acknowledged_report(tmp_path) -> None:
    database = str(tmp_path / "live.db")
    added = cli(tmp_path, "site", "add", "B", "--origin", "https://b.example", database=database)
    key = added.stdout.split("Key: ")[1].split()[0]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env |= {"FEEDBACK_DATABASE": database, "FEEDBACK_SECRET_KEY": "backup-test",
            "FEEDBACK_RATE_IP_BURST": "100000", "FEEDBACK_RATE_IP_PER_MINUTE": "100000",
            "FEEDBACK_RATE_SITE_BURST": "100000", "FEEDBACK_RATE_SITE_PER_MINUTE": "100000",
            "FEEDBACK_ACCESS_LOG": "false", "FEEDBACK_RATE_PREFIX_BURST": "100000",
            "FEEDBACK_RATE_PREFIX_PER_MINUTE": "100000"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "feedback", "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    acknowledged: list[tuple[float, int]] = []
    stop = threading.Event()

    def keep_sending() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            n = 0
            while not stop.is_set():
                body = {"site": key, "kind": "typo", "url": "https://b.example/a",
                        "quote": {"exact": f"word{n}"}}  # fmt: skip
                try:
                    r = client.post("/api/v1/reports", json=body,
                                    headers={"Origin": "https://b.example"})  # fmt: skip
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if r.status_code == 201:
                    acknowledged.append((time.monotonic(), r.json()["id"]))
                n += 1

    sender = threading.Thread(target=keep_sending, daemon=True)
    try:
        deadline = time.monotonic() + 20
        while len(acknowledged) < 1:
            if not sender.is_alive():
                sender.start()
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        while len(acknowledged) < 200:
            time.sleep(0.05)
        started = time.monotonic()
        copy = tmp_path / "copy.db"
        done = cli(tmp_path, "backup", str(copy), database=database)
        assert done.returncode == 0, done.stderr
        time.sleep(0.3)  # reports keep coming after the backup too
    finally:
        stop.set()
        sender.join(timeout=10)
        server.terminate()
        server.wait(timeout=15)
    before = {rid for at, rid in acknowledged if at < started}
    conn = sqlite3.connect(copy)
    try:
        in_copy = {r[0] for r in conn.execute("SELECT id FROM reports")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert len(before) >= 200
    assert before <= in_copy
    assert len(acknowledged) > len(before)  # the service went on taking reports
    assert not Path(str(copy) + ".partial").exists()
    # It will not overwrite a file.
    again = cli(tmp_path, "backup", str(copy), database=database)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_backup_on_postgresql_points_to_pg_dump(tmp_path) -> None:
    done = cli(tmp_path, "backup", str(tmp_path / "x"),
               database="postgresql://feedback@127.0.0.1:1/feedback")  # fmt: skip
    assert done.returncode == 1
    assert "pg_dump" in done.stderr


@pytest.mark.parametrize(("text", "seconds"), [("180d", 180 * 86400), ("12h", 43200),
                                               ("2w", 14 * 86400), ("30", 30 * 86400)])  # fmt: skip
def test_ages_are_read_with_their_unit(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


def test_a_bad_age_is_refused(tmp_path) -> None:
    done = cli(tmp_path, "purge", "--older-than", "soon", database=str(tmp_path / "p.db"))
    assert done.returncode == 1 and "not an age" in done.stderr


async def closed_and_open_reports(app, client) -> dict[str, int]:
    store = app.state.services.store
    site = await add_site(store, "P", ["https://example.com"])
    ids = {}
    for word in ("old-fixed", "old-spam", "new-fixed", "old-open"):
        body = report_payload(site, quote={"exact": word}, comment=f"comment {word}")
        r = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
        ids[word] = r.json()["id"]
    long_ago = time.time() - 200 * 86400
    database = app.state.services.settings.database
    for word, status, when in (("old-fixed", "fixed", long_ago), ("old-spam", "spam", long_ago),
                               ("new-fixed", "fixed", time.time())):  # fmt: skip
        query_database(
            database,
            "UPDATE reports SET status = ?, resolved_at = ? WHERE id = ?",
            (status, when, ids[word]),
        )
    query_database(
        database,
        "UPDATE reports SET first_seen = ?, last_seen = ? WHERE id = ?",
        (long_ago, long_ago, ids["old-open"]),
    )
    return ids


async def test_purge_deletes_old_closed_reports_with_all_they_hold(app, client) -> None:
    ids = await closed_and_open_reports(app, client)
    store = app.state.services.store
    assert await purge_closed(store, parse_age("180d")) == 2
    left = {r[0] for r in await store.fetchall("SELECT id FROM reports")}
    assert left == {ids["new-fixed"], ids["old-open"]}
    orphans = await store.fetchone(
        "SELECT (SELECT count(*) FROM submissions WHERE report_id NOT IN (SELECT id FROM reports)),"
        " (SELECT count(*) FROM report_events WHERE report_id NOT IN (SELECT id FROM reports))"
    )
    assert tuple(orphans) == (0, 0)
    # The totals the queue shows still agree with what is there.
    counts = await store.fetchall("SELECT site_id, status, n FROM report_counts WHERE n <> 0")
    actual = await store.fetchall(
        "SELECT site_id, status, count(*) FROM reports GROUP BY site_id, status"
    )
    assert sorted(map(tuple, counts)) == sorted(map(tuple, actual))
    # Search finds nothing of what was purged, and still finds the rest.
    from dashboard_support import make_user, sign_in

    await make_user(app, "admin@example.com", "admin")
    await sign_in(client, "admin@example.com")
    gone = await client.get("/dashboard/", params={"q": "old-fixed", "status": "all"})
    kept = await client.get("/dashboard/", params={"q": "new-fixed", "status": "all"})
    assert "comment old-fixed" not in gone.text
    assert "comment new-fixed" in kept.text
    assert await purge_closed(store, parse_age("180d")) == 0


@SQLITE_ONLY
async def test_purge_from_the_command_line(app, client, tmp_path) -> None:
    await closed_and_open_reports(app, client)
    done = await asyncio.to_thread(
        cli,
        tmp_path,
        "purge",
        "--older-than",
        "180d",
        database=app.state.services.settings.database,
    )
    assert done.returncode == 0, done.stderr
    assert "Purged 2 closed reports" in done.stdout


async def test_scheduled_purge_runs_from_the_setting(settings, tmp_path) -> None:
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        transport = httpx.ASGITransport(app=first, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ids = await closed_and_open_reports(first, client)
    app = create_app(replace(settings, purge_after_days=180))
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        deadline = time.monotonic() + 10
        while True:
            left = {r[0] for r in await store.fetchall("SELECT id FROM reports")}
            if ids["old-fixed"] not in left:
                break
            assert time.monotonic() < deadline, "the scheduled purge did not run"
            await asyncio.sleep(0.1)
    assert left == {ids["new-fixed"], ids["old-open"]}
