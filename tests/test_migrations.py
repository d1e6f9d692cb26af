"""Numbered migrations from an empty database, recorded in PRAGMA user_version."""

from __future__ import annotations

import sqlite3

import pytest

from feedback.store.schema import migration_files
from feedback.store.sqlite_db import Database, DatabaseError, migrate


async def test_migrations_build_the_schema_from_an_empty_file(tmp_path) -> None:
    path = str(tmp_path / "new.db")
    version = await migrate(path)
    assert version == len(migration_files("sqlite")) >= 1
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sites", "site_origins", "reports", "submissions", "report_events", "users"} <= tables
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_migrating_twice_changes_nothing(tmp_path) -> None:
    path = str(tmp_path / "twice.db")
    first = await migrate(path)
    assert await migrate(path) == first


async def test_a_newer_database_is_refused(tmp_path) -> None:
    path = str(tmp_path / "future.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(DatabaseError, match="newer"):
        await migrate(path)


async def test_database_in_a_missing_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        await migrate(str(tmp_path / "no" / "such" / "dir" / "x.db"))


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError):
        await migrate(str(path))


def test_migrations_are_numbered_without_gaps() -> None:
    numbers = [n for n, _ in migration_files("sqlite")]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_writer_keeps_other_writes_when_one_fails(tmp_path) -> None:
    import asyncio

    db = Database(str(tmp_path / "w.db"))
    await db.open()
    try:

        def insert(name: str):
            async def unit(conn):
                await conn.execute(
                    "INSERT INTO sites (key, name, created_at) VALUES (?, ?, 0)", (name, name)
                )
                return name

            return unit

        async def broken(conn):
            await conn.execute("INSERT INTO no_such_table VALUES (1)")

        results = await asyncio.gather(
            db.write(insert("a")), db.write(broken), db.write(insert("b")), return_exceptions=True
        )
        assert results[0] == "a" and results[2] == "b"
        assert isinstance(results[1], sqlite3.OperationalError)
        rows = await db.fetchall("SELECT key FROM sites ORDER BY key")
        assert [r[0] for r in rows] == ["a", "b"]
    finally:
        await db.close()
