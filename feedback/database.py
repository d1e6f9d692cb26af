"""SQLite connections: numbered migrations, one group-committing writer, pooled readers.

Every write in the process goes through `Database.write(unit)`. A unit is an
async function that receives the writer connection and may touch several
tables; the writer runs every unit waiting in the queue inside one
transaction and resolves each caller only after that transaction's COMMIT
has returned, so an acknowledged write is on disk (WAL, synchronous=FULL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger("feedback.database")

T = TypeVar("T")
Unit = Callable[[aiosqlite.Connection], Awaitable[T]]

MIGRATIONS_DIR = Path(__file__).parent / "store" / "migrations"
MAX_BATCH = 256


class DatabaseError(RuntimeError):
    """The database file cannot be opened or migrated."""


def migration_files() -> list[tuple[int, Path]]:
    found = []
    for path in MIGRATIONS_DIR.glob("*.sql"):
        match = re.match(r"(\d+)_", path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise DatabaseError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


def _check_folder(path: str) -> None:
    if path == ":memory:":
        return
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise DatabaseError(f"cannot open database {path!r}: folder {parent} does not exist")


async def connect(
    path: str, *, query_only: bool = False, begin_before_writes: bool = False
) -> aiosqlite.Connection:
    """Open a connection. With `begin_before_writes`, the sqlite3 module itself issues
    BEGIN IMMEDIATE right before the first INSERT, UPDATE or DELETE outside a transaction,
    in the same call; otherwise every statement runs on its own (autocommit)."""
    _check_folder(path)
    try:
        conn = await aiosqlite.connect(
            path, isolation_level="IMMEDIATE" if begin_before_writes else None
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path!r}: {exc}") from None
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA foreign_keys = ON")
        if query_only:
            await conn.execute("PRAGMA query_only = ON")
        else:
            await conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a COMMIT returns only after the WAL is fsynced, so a 201 survives kill -9
            # and power loss alike.
            await conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as exc:
        await conn.close()
        raise DatabaseError(f"cannot open database {path!r}: {exc}") from None
    return conn


async def migrate(path: str) -> int:
    """Apply every migration newer than the file's user_version; return the new version."""
    conn = await connect(path)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


async def apply_migrations(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = row[0]
    files = migration_files()
    if version > len(files):
        raise DatabaseError(
            f"database is at schema version {version}, newer than this program knows "
            f"({len(files)}); upgrade feedback"
        )
    for number, path in files:
        if number <= version:
            continue
        sql = path.read_text(encoding="utf-8")
        try:
            # One transaction per migration; user_version lives in the file header
            # and is written inside the same transaction.
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {number};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise DatabaseError(f"migration {path.name} failed: {exc}") from None
        log.info("applied migration %s", path.name)
        version = number
    return version


BatchFn = Callable[[aiosqlite.Connection, list[Any]], Awaitable[list[Any]]]


@dataclass
class _Job:
    future: asyncio.Future[Any]
    unit: Unit[Any] | None = None
    batch_fn: BatchFn | None = None
    item: Any = None


class Writer:
    """The single writer connection and its group-commit loop.

    Two kinds of work share each transaction:
    - `submit(unit)`: an async function given the connection, for occasional writes
      (editor actions, site changes) that may touch several tables;
    - `submit_batched(fn, item)`: for the hot path. Items queued with the same `fn`
      are handed to it together, so it can write them with a fixed number of
      statements (executemany) however many there are. Every await on the connection
      waits for a turn of a busy event loop, so per-item statements would make a
      batch of 64 reports take 64 turns instead of a handful.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="feedback-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def submit(self, unit: Unit[T]) -> T:
        return await self._enqueue(_Job(self._future(), unit=unit))

    async def submit_batched(self, fn: BatchFn, item: Any) -> Any:
        return await self._enqueue(_Job(self._future(), batch_fn=fn, item=item))

    def _future(self) -> asyncio.Future[Any]:
        if self._task is None:
            raise RuntimeError("writer is not running")
        return asyncio.get_running_loop().create_future()

    async def _enqueue(self, job: _Job) -> Any:
        self._queue.put_nowait(job)
        # A caller that goes away (client disconnect) cancels only its own future; the job
        # stays queued and commits with the others, and _settle skips the cancelled future.
        return await job.future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            job = await self._queue.get()
            if job is None:
                break
            batch = [job]
            # Everything that queued up while the previous COMMIT was syncing shares this one.
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            try:
                await self._commit_batch(batch)
            except Exception:  # never let one bad batch stop every later write
                log.exception("writer batch failed")

    async def _commit_batch(self, batch: list[_Job]) -> None:
        conn = self._conn
        results: dict[int, Any] = {}
        groups: dict[BatchFn, list[int]] = {}
        for index, job in enumerate(batch):
            if job.batch_fn is not None:
                groups.setdefault(job.batch_fn, []).append(index)
        try:
            if len(groups) < len(batch):
                # A unit may read before it writes: its reads belong in the transaction too.
                await conn.execute("BEGIN IMMEDIATE")
            # Batched work starts the transaction with its first write (the connection issues
            # BEGIN IMMEDIATE itself), so its statements go to the connection's thread in one
            # go instead of waiting a turn of the busy request loop for a BEGIN of their own.
            for index, job in enumerate(batch):
                if job.unit is not None:
                    results[index] = await job.unit(conn)
            for fn, indexes in groups.items():
                out = await fn(conn, [batch[i].item for i in indexes])
                if len(out) != len(indexes):
                    raise RuntimeError(f"{fn.__name__} returned {len(out)} results")
                results.update(zip(indexes, out, strict=True))
            await conn.commit()
        except Exception as exc:
            # Whatever failed, nothing of the batch stays: a statement queued after a failed
            # one may have started a transaction of its own, and this undoes that as well.
            with contextlib.suppress(sqlite3.Error):
                await conn.rollback()
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            # One job spoiled the shared transaction: give each its own, so only
            # the faulty one fails and the rest still land.
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for job in batch:
                await self._commit_batch([job])
            return
        for index, job in enumerate(batch):
            _settle(job.future, result=results[index])


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None):
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class Database:
    """The writer plus a small pool of read connections."""

    def __init__(self, path: str, readers: int = 3) -> None:
        self.path = path
        self._reader_count = readers
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._writer_conn: aiosqlite.Connection | None = None
        self.writer: Writer | None = None

    async def open(self) -> None:
        self._writer_conn = await connect(self.path, begin_before_writes=True)
        try:
            await apply_migrations(self._writer_conn)
            for _ in range(self._reader_count):
                conn = await connect(self.path, query_only=True)
                self._all_readers.append(conn)
                self._readers.put_nowait(conn)
        except BaseException:
            await self.close()
            raise
        self.writer = Writer(self._writer_conn)
        self.writer.start()

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.stop()
            self.writer = None
        for conn in self._all_readers:
            await conn.close()
        self._all_readers.clear()
        if self._writer_conn is not None:
            await self._writer_conn.close()
            self._writer_conn = None

    async def write(self, unit: Unit[T]) -> T:
        if self.writer is None:
            raise RuntimeError("database is not open")
        return await self.writer.submit(unit)

    async def write_batched(self, fn: BatchFn, item: Any) -> Any:
        if self.writer is None:
            raise RuntimeError("database is not open")
        return await self.writer.submit_batched(fn, item)

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetchall(self, sql: str, params: Any = ()) -> list[aiosqlite.Row]:
        async with self.reader() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Any = ()) -> aiosqlite.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
