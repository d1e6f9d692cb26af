"""The writer when another process holds the database's write lock, as another worker of
`feedback serve --workers N` does: batches wait for the lock, then land, and none fails."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from feedback.store.sqlite_db import Database
from tests.test_writer import SCHEMA, write_notes


def one_statement(conn: sqlite3.Connection, bodies: list[str]) -> list[int]:
    """Intake's kind of batch: one statement, its own transaction."""
    values = ", ".join("(?)" for _ in bodies)
    cur = conn.execute(f"INSERT INTO notes (body) VALUES {values} RETURNING id", bodies)
    return [row[0] for row in cur.fetchall()]


async def test_batches_wait_for_a_lock_held_elsewhere_then_all_land(tmp_path) -> None:
    path = str(tmp_path / "contended.db")
    db = Database(path)
    await db.open()
    try:

        async def create(conn):
            await conn.execute(SCHEMA)

        await db.write(create)
        # Another process's writer, holding the lock for a while.
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO notes (body) VALUES ('other')")
        released = threading.Event()

        def release() -> None:
            time.sleep(0.5)
            other.execute("COMMIT")
            released.set()

        holder = threading.Thread(target=release)
        start = time.monotonic()
        holder.start()
        results = await asyncio.gather(
            *(db.write_batched(one_statement, f"a{n}") for n in range(20)),
            *(db.write_batched(write_notes, f"b{n}") for n in range(20)),
        )
        holder.join()
        assert released.is_set()
        assert time.monotonic() - start >= 0.45  # nothing was written past the lock
        assert len(set(results)) == 40
        rows = [r[0] for r in await db.fetchall("SELECT body FROM notes ORDER BY id")]
        assert rows[0] == "other"
        expected = [f"a{n}" for n in range(20)] + [f"b{n}" for n in range(20)]
        assert sorted(rows[1:]) == sorted(expected)

        # The connection keeps SQLite's own waiting for editors' writes (units).
        async def busy_timeout(conn):
            async with conn.execute("PRAGMA busy_timeout") as cur:
                return (await cur.fetchone())[0]

        assert await db.write(busy_timeout) == 10000
        other.close()
    finally:
        await db.close()
