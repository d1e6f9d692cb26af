"""`feedback copy-data`: SQLite -> PostgreSQL -> SQLite gives back the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from feedback.store.actions import change_status
from feedback.store.copy import COPIED, DERIVED
from feedback.store.queue import QueueFilter, queue_page, status_counts
from feedback.store.reports import NewSubmission
from feedback.store.sites import add_site
from feedback.store.users import add_user, record_failure
from tests.conftest import query_database, run_with_store
from tests.test_schema import postgres_schema, sqlite_schema


def sends(site_id: int, n: int) -> list[NewSubmission]:
    return [
        NewSubmission(
            site_id=site_id,
            kind="typo",
            url=f"https://news.example/{i % 7}",
            title="Привет",
            lang="ru",
            exact=f"ошибка{i % 40}",
            prefix="до ",
            suffix=" после",
            suggestion="правка" if i % 3 else "",
            comment="'; DROP TABLE x; --" if i % 5 else "",
            user_agent="UA",
            ip_hash=f"{i % 11:032d}",
        )  # fmt: skip
        for i in range(n)
    ]


async def populate(store) -> None:
    site = await add_site(store, "News", ["https://news.example"])
    other = await add_site(store, "Blog", ["https://blog.example"])
    admin = await add_user(store, "Admin@Example.com", "password-1", "admin", [])
    await add_user(store, "ed@example.com", "password-2", "editor", [site.id, other.id])
    for sub in sends(site.id, 120) + sends(other.id, 15):
        await store.add_submission(sub)
    now = time.time()
    await change_status(store, [1, 2, 3], "fixed", admin, None, now)
    await change_status(store, [4], "spam", admin, None, now, block_until=now + 3600)
    await record_failure(store, ["account:x", "ip:y"], now)


def copy(source: str, target: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDBACK_SECRET_KEY": "copy-test"}
    return subprocess.run(
        [sys.executable, "-m", "feedback", "copy-data", "--from", source, "--to", target],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def dump(database: str) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in query_database(database, f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in COPIED}  # fmt: skip


def test_round_trip_through_postgresql_keeps_every_row(tmp_path, postgres_cluster) -> None:
    cluster, _ = postgres_cluster
    source = str(tmp_path / "source.db")
    back = str(tmp_path / "back.db")
    middle = cluster.url_for(cluster.create_database())
    try:
        run_with_store(source, populate)
        there = copy(source, middle)
        assert there.returncode == 0, there.stderr
        assert "counts checked" in there.stdout
        again = copy(back, middle)  # the target now holds data: refused, nothing touched
        assert again.returncode == 1 and "not empty" in again.stderr
        home = copy(middle, back)
        assert home.returncode == 0, home.stderr

        original, copied, returned = dump(source), dump(middle), dump(back)
        assert sum(len(rows) for rows in original.values()) > 250
        assert copied == original
        assert returned == original

        async def check(store) -> tuple:
            counts = await status_counts(store, None)
            found, _ = await queue_page(store, QueueFilter(q="ошибка1"), None)
            # New rows continue after the copied ids.
            new = await store.add_submission(sends(1, 41)[40])
            return counts, len(found), new.report_id

        expected = run_with_store(source, check)
        for database in (middle, back):
            counts, searched, new_id = run_with_store(database, check)
            assert counts == expected[0]
            assert searched == expected[1] > 0
            assert new_id == expected[2]
    finally:
        cluster.drop_database(middle.rsplit("/", 1)[1])


def test_every_table_is_copied_or_rebuilt(tmp_path, postgres_cluster) -> None:
    from feedback.store.sqlite_db import migrate

    cluster, template = postgres_cluster
    path = str(tmp_path / "s.db")
    run_with_store(path, lambda store: store.health())
    tables = set(sqlite_schema(path)) | set(postgres_schema(cluster.url_for(template)))
    assert tables - set(COPIED) - DERIVED == set()
    assert migrate  # the SQLite schema above came from the same migrations


def test_copy_into_the_same_database_is_refused(tmp_path) -> None:
    path = str(tmp_path / "same.db")
    result = copy(path, path)
    assert result.returncode == 1
    assert "same database" in result.stderr
