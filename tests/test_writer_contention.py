"""The writer when another process holds the database's write lock, as another worker of
`feedback serve --workers N` does: batches wait for the lock, then land, and none fails."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from feedback.app import SWITCH_INTERVAL
from feedback.store.sqlite_db import CONTENDED_FOR, CONTENDED_SWITCH_INTERVAL, Database
from tests.test_writer import SCHEMA, write_notes


def one_statement(conn: sqlite3.Connection, bodies: list[str]) -> list[int]:
    """Intake's kind of batch: one statement, its own transaction."""
    values = ", ".join("(?)" for _ in bodies)
    cur = conn.execute(f"INSERT INTO notes (body) VALUES {values} RETURNING id", bodies)
    return [row[0] for row in cur.fetchall()]


async def open_notes(path: str) -> Database:
    """A database with the notes table, its writer running."""
    db = Database(path)
    await db.open()

    async def create(conn):
        await conn.execute(SCHEMA)

    await db.write(create)
    return db


def hold_write_lock(path: str) -> sqlite3.Connection:
    """Another process's writer, in the middle of a transaction: the lock is taken until
    it commits."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (body) VALUES ('other')")
    return other


async def test_batches_wait_for_a_lock_held_elsewhere_then_all_land(tmp_path) -> None:
    path = str(tmp_path / "contended.db")
    db = await open_notes(path)
    try:
        other = hold_write_lock(path)
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


async def test_a_batch_waiting_for_the_lock_takes_along_what_arrives_meanwhile(tmp_path) -> None:
    """Two workers on one file: while one writes, the other's sends pile up. They go in
    with the batch that was waiting, once the lock is free, not in a second batch that
    would wait for the lock again."""
    path = str(tmp_path / "gathering.db")
    db = await open_notes(path)
    written: list[int] = []

    def recorded(conn: sqlite3.Connection, bodies: list[str]) -> list[int]:
        ids = one_statement(conn, bodies)
        written.append(len(bodies))
        return ids

    try:
        other = hold_write_lock(path)
        first = [asyncio.ensure_future(db.write_batched(recorded, f"a{n}")) for n in range(5)]
        await asyncio.sleep(0.2)  # the writer has found the lock taken and is waiting
        later = [asyncio.ensure_future(db.write_batched(recorded, f"b{n}")) for n in range(15)]
        await asyncio.sleep(0.1)
        assert not any(f.done() for f in first + later)
        other.execute("COMMIT")
        ids = await asyncio.gather(*first, *later)
        assert len(set(ids)) == 20
        assert written == [20]
        rows = [r[0] for r in await db.fetchall("SELECT body FROM notes ORDER BY id")]
        assert rows == ["other", *(f"a{n}" for n in range(5)), *(f"b{n}" for n in range(15))]
        other.close()
    finally:
        await db.close()


@pytest.fixture
def short_interval() -> Iterator[float]:
    """The serving process's short switch interval, as it reads back (in whole
    microseconds); the test process's own is restored after."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    yield sys.getswitchinterval()
    sys.setswitchinterval(before)


async def write_after_a_quiet_while(db: Database) -> None:
    """Two batches once the file has been the writer's own for CONTENDED_FOR: the first
    sees the quiet, and the writer's thread acts on it before it takes the second."""
    await asyncio.sleep(CONTENDED_FOR)
    await db.write_batched(one_statement, "quiet")
    await db.write_batched(one_statement, "after")


async def test_the_switch_interval_is_longer_while_the_file_is_shared(
    tmp_path, short_interval: float
) -> None:
    """The serving process's short switch interval lets the writer's thread get the
    interpreter lock back quickly; while it polls another process's write lock, that would
    interrupt the serving thread after every poll, so it is lengthened until the file has
    been quiet for a while."""
    path = str(tmp_path / "interval.db")
    db = await open_notes(path)
    other = hold_write_lock(path)
    try:
        while_waiting: list[float] = []

        def release() -> None:
            time.sleep(0.3)
            while_waiting.append(sys.getswitchinterval())
            other.execute("COMMIT")

        holder = threading.Thread(target=release)
        holder.start()
        await db.write_batched(one_statement, "contended")
        holder.join()
        assert while_waiting == [CONTENDED_SWITCH_INTERVAL]
        assert sys.getswitchinterval() == CONTENDED_SWITCH_INTERVAL

        await db.write_batched(one_statement, "soon after")  # still within CONTENDED_FOR
        await asyncio.sleep(0.05)
        assert sys.getswitchinterval() == CONTENDED_SWITCH_INTERVAL

        await write_after_a_quiet_while(db)
        assert sys.getswitchinterval() == short_interval
    finally:
        other.close()
        await db.close()


async def test_the_switch_interval_stays_longer_while_any_writer_is_contended(
    tmp_path, short_interval: float
) -> None:
    """The interval is the whole process's: one writer calming down, or closing, leaves
    it lengthened while another still waits for its file."""
    first, second = str(tmp_path / "first.db"), str(tmp_path / "second.db")
    db1, db2 = await open_notes(first), await open_notes(second)
    other1, other2 = hold_write_lock(first), hold_write_lock(second)
    try:
        waiting1 = asyncio.ensure_future(db1.write_batched(one_statement, "one"))
        waiting2 = asyncio.ensure_future(db2.write_batched(one_statement, "two"))
        await asyncio.sleep(0.2)  # both writers have found their files locked
        assert sys.getswitchinterval() == CONTENDED_SWITCH_INTERVAL

        other1.execute("COMMIT")
        await waiting1
        await db1.close()  # gone while still counted as contended
        assert sys.getswitchinterval() == CONTENDED_SWITCH_INTERVAL

        other2.execute("COMMIT")
        await waiting2
        await write_after_a_quiet_while(db2)
        assert sys.getswitchinterval() == short_interval
    finally:
        other1.close()
        other2.close()
        await db2.close()
