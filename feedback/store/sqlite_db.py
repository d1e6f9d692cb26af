"""SQLite connections: numbered migrations, one group-committing writer, pooled readers.

Every write in the process goes through the one writer connection, either as a unit
(`Database.write`) or as an item of a batch (`Database.write_batched`). Writes waiting
together share a transaction, and each caller is resolved only after that transaction's
COMMIT has returned, so an acknowledged write is on disk (WAL, synchronous=FULL).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from feedback.store.engine import StoreError, StoreUnavailable
from feedback.store.schema import migration_files

log = logging.getLogger("feedback.store.sqlite")

T = TypeVar("T")
Unit = Callable[[aiosqlite.Connection], Awaitable[T]]

WRITER_SETUP = Path(__file__).parent / "sqlite_writer.sql"
MAX_BATCH = 256
# The write-ahead log is checkpointed and truncated once past the first size; past the
# second, with no way to shrink it, writes are refused.
WAL_CHECKPOINT_BYTES = 64 * 2**20
WAL_REFUSE_BYTES = 256 * 2**20
WAL_CHECK_SECONDS = 1.0
BUSY_TIMEOUT_MS = 10000


async def _checkpoint(conn: aiosqlite.Connection) -> tuple[int, int, int]:
    # Without waiting for readers: a TRUNCATE checkpoint would otherwise wait out the
    # whole busy timeout behind a long read, holding up every write meanwhile.
    await conn.execute("PRAGMA busy_timeout = 0")
    try:
        async with conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            row = await cur.fetchone()
    finally:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return (int(row[0]), int(row[1]), int(row[2])) if row else (1, 0, 0)


def _libc_access() -> Callable[[bytes, int], int] | None:
    """libc's access(2), called without letting go of the interpreter lock (ctypes.PyDLL):
    the writer's thread asks it before every batch, and on a busy server each time it
    lets go of the lock it then waits for the request loop to hand it back. The call
    itself takes microseconds."""
    try:
        access = ctypes.PyDLL(None).access
    except (OSError, AttributeError):  # no C library to load by name: os.access instead
        return None
    access.argtypes = (ctypes.c_char_p, ctypes.c_int)
    access.restype = ctypes.c_int
    return access


_access = _libc_access()


def _unwritable(path: str) -> bool:
    """The file exists and cannot be written (read-only, or immutable even to root)."""
    if _access is not None and _access(os.fsencode(path), os.W_OK) == 0:
        return False  # the usual answer, found without a hand-back of the lock
    return not os.access(path, os.W_OK) and os.path.exists(path)


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


BUSY_TIMEOUT = 10.0  # seconds, as the connections' busy_timeout
# Several processes on one file (`serve --workers N`) take turns at SQLite's write lock.
# SQLite's own busy handler sleeps in steps growing to 100 ms, so a writer that finds the
# lock taken mostly sleeps through the instants it is free, while the holder goes straight
# on to its next batch: one process could starve for hundreds of milliseconds. Batches
# poll for the lock instead, and a writer that has seen the file contended leaves a short
# gap after each commit for the others. A batch that waited for the lock takes along what
# arrived meanwhile, so sharing a file does not make each process's commits smaller.
BUSY_POLL = 0.0002
CONTENDED_GAP = 0.0003
CONTENDED_FOR = 1.0
# The serving process runs with a short switch interval, so the writer's thread gets the
# interpreter lock back soon after each SQLite call. While the file is contended it goes
# back up to at least this: a writer polling for the write lock needs the interpreter lock
# after every poll, and each time asks the busy serving thread to let go of it.
CONTENDED_SWITCH_INTERVAL = 0.001


class _SwitchInterval:
    """The process's switch interval, lengthened while any of its writers finds its file
    contended and restored when none does (the interval is one for the whole process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contended = 0  # writers contended now
        self._calm = 0.0  # the interval set aside meanwhile

    def contended(self) -> None:
        with self._lock:
            self._contended += 1
            if self._contended == 1:
                self._calm = sys.getswitchinterval()
                sys.setswitchinterval(max(self._calm, CONTENDED_SWITCH_INTERVAL))

    def calm(self) -> None:
        with self._lock:
            self._contended -= 1
            if self._contended == 0:
                # Kept in whole microseconds, and read back a hair short: 100 µs reads
                # back as 99.999…, which set as it is would become 99.
                sys.setswitchinterval(round(self._calm, 6))


_switch_interval = _SwitchInterval()


class DatabaseError(StoreError):
    """The database file cannot be opened or migrated."""


def _check_folder(path: str) -> None:
    if path == ":memory:":
        return
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise DatabaseError(f"cannot open database {path!r}: folder {parent} does not exist")


async def connect(path: str, *, query_only: bool = False) -> aiosqlite.Connection:
    """Open a connection in autocommit mode: a statement outside BEGIN ... COMMIT is a
    transaction of its own, and every multi-statement write says BEGIN IMMEDIATE."""
    _check_folder(path)
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path!r}: {exc}") from None
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
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
    files = migration_files("sqlite")
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


BatchFn = Callable[[sqlite3.Connection, list[Any]], list[Any]]
Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]


@dataclass
class _Unit:
    future: asyncio.Future[Any]
    unit: Unit[Any]
    # Run outside any transaction (a checkpoint cannot run inside one).
    raw: bool = False


@dataclass
class _Item:
    future: asyncio.Future[Any]
    fn: BatchFn
    item: Any


def _on_connection_thread(conn: aiosqlite.Connection, fn: Callable[[], T]) -> Awaitable[T]:
    """Run a plain function on the connection's own thread, in turn with its other calls.

    aiosqlite queues every call it makes through `_execute`; this is the one place that
    relies on that (the version is pinned in pyproject.toml, and every intake test
    goes through here).
    """
    return conn._execute(fn)


class Writer:
    """The single writer connection and its group-commit loop.

    Two kinds of work share the connection:
    - `submit(unit)`: an async function given the connection, for occasional writes
      (editor actions, site changes) that may touch several tables. Units waiting
      together share one transaction.
    - `submit_batched(fn, item)`: the hot path. `fn` is a plain function that writes a
      list of items with the raw `sqlite3` connection, atomically: in one statement,
      or after a BEGIN IMMEDIATE of its own, which the writer then commits. While
      another process holds the write lock, `fn` is run again once it is free, with the
      items that arrived meanwhile added if nothing of the batch was written yet. The
      connection's thread takes whatever items queued up while the previous COMMIT ran,
      writes them together and goes straight on to the next batch. It never waits for a
      turn of the event loop in between: on a busy server such a turn costs more than
      the COMMIT itself.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._units: collections.deque[_Unit] = collections.deque()
        # Filled on the event loop, emptied on the connection's thread. None is a knock
        # on the door: a unit, or stop(), wants the connection back.
        self._items: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Asked before every batch and unit: a reason not to touch the files now, or None.
        self.guard: Callable[[], str | None] = lambda: None
        self._contended_at = -CONTENDED_FOR  # when a batch last found the file locked
        self._lengthened = False  # whether this writer has the switch interval lengthened

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="feedback-writer")

    async def stop(self) -> None:
        """Commit everything already submitted, then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._items.put(None)
        await self._task
        self._task = None
        if self._lengthened:  # a writer gone is no longer contended
            self._lengthened = False
            _switch_interval.calm()

    async def submit(self, unit: Unit[T], *, raw: bool = False) -> T:
        future = self._future()
        self._units.append(_Unit(future, unit, raw))
        self._items.put(None)
        return await future

    async def submit_batched(self, fn: BatchFn, item: Any) -> Any:
        future = self._future()
        self._items.put(_Item(future, fn, item))
        # A caller that goes away (client disconnect) cancels only its own future; the
        # item still commits with the others, and settling skips the cancelled future.
        return await future

    def _future(self) -> asyncio.Future[Any]:
        if self._task is None or self._stopping:
            raise RuntimeError("writer is not running")
        return asyncio.get_running_loop().create_future()

    async def _run(self) -> None:
        while True:
            try:
                await _on_connection_thread(self._conn, self._commit_items_until_knocked)
            except Exception:  # never let a failure stop every later write
                log.exception("writer thread failed")
                if not self._stopping:
                    await asyncio.sleep(0.1)
            if self._units:
                units = list(self._units)
                self._units.clear()
                await self._commit_units(units)
            elif self._stopping:
                return

    # -- units, on the event loop ----------------------------------------------------

    async def _commit_units(self, units: list[_Unit]) -> None:
        conn = self._conn
        # Raw units (the WAL watch's checkpoint) check the files themselves.
        for job in [u for u in units if u.raw]:
            try:
                _settle_all([(job.future, await job.unit(conn), None)])
            except Exception as exc:
                _settle_all([(job.future, None, exc)])
        units = [u for u in units if not u.raw]
        if not units:
            return
        problem = self.guard()
        if problem is not None:
            _settle_all([(u.future, None, sqlite3.OperationalError(problem)) for u in units])
            return
        results: list[Any] = []
        try:
            # A unit may read before it writes: its reads belong in the transaction too.
            await conn.execute("BEGIN IMMEDIATE")
            for job in units:
                results.append(await job.unit(conn))
            await conn.commit()
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                await conn.rollback()
            if len(units) == 1:
                _settle_all([(units[0].future, None, exc)])
                return
            # One unit spoiled the shared transaction: give each its own, so only
            # the faulty one fails and the rest still land.
            log.warning("%d writes failed together (%s); retrying one by one", len(units), exc)
            for job in units:
                await self._commit_units([job])
            return
        _settle_all([(job.future, r, None) for job, r in zip(units, results, strict=True)])

    # -- batched items, on the connection's thread -----------------------------------

    def _commit_items_until_knocked(self) -> None:
        """Commit batch after batch, waiting for items in between, until a unit or stop()
        needs the connection. On stop, whatever is still queued is committed first."""
        raw: sqlite3.Connection = self._conn._conn
        assert self._loop is not None
        # Batches wait for the write lock themselves (_write_locked); units, run on the
        # event loop between these calls, keep SQLite's own waiting.
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            self._commit_batches(raw)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    def _commit_batches(self, raw: sqlite3.Connection) -> None:
        assert self._loop is not None
        knocked = False
        while True:
            batch: list[_Item] = []
            if not knocked and not self._stopping:
                first = self._items.get()  # waits without holding the interpreter lock
                if first is None:
                    knocked = True
                else:
                    batch.append(first)
            knocked = self._take_waiting(batch) or knocked
            if batch:
                outcomes, knocked_meanwhile = self._commit_gathering(raw, batch)
                knocked = knocked or knocked_meanwhile
                self._loop.call_soon_threadsafe(_settle_all, outcomes)
                if self._follow_contention():
                    time.sleep(CONTENDED_GAP)  # another process waits for the lock: its turn
                continue
            if self._units or self._stopping:
                return
            knocked = False  # a stale knock: its unit has already run

    def _follow_contention(self) -> bool:
        """True while another process has lately held the write lock; the switch
        interval is lengthened meanwhile (CONTENDED_SWITCH_INTERVAL) and restored once the
        file has been the writer's own for CONTENDED_FOR."""
        contended = time.monotonic() - self._contended_at < CONTENDED_FOR
        if contended != self._lengthened:
            self._lengthened = contended
            if contended:
                _switch_interval.contended()
            else:
                _switch_interval.calm()
        return contended

    def _take_waiting(self, batch: list[_Item]) -> bool:
        """Add the items already queued to the batch, up to MAX_BATCH; True if a unit or
        stop() knocked meanwhile."""
        knocked = False
        while len(batch) < MAX_BATCH:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                break
            if item is None:
                knocked = True
            else:
                batch.append(item)
        return knocked

    def _commit_gathering(
        self, raw: sqlite3.Connection, batch: list[_Item]
    ) -> tuple[list[Outcome], bool]:
        """Commit the batch (which may grow); True as well if a unit or stop() knocked.

        While another process (another worker) holds the write lock, wait for it and take
        along what arrived meanwhile: the wait makes this batch bigger instead of leaving
        those items to wait for the lock once more. Two workers sharing a file then
        commit about as many items at a time as one would."""
        knocked = False
        deadline = 0.0
        while True:
            try:
                return self._commit_items(raw, batch, grow=True), knocked
            except _LockTaken:
                now = time.monotonic()
                if deadline and now > deadline:  # the lock came and went, never ours
                    return self._commit_items(raw, batch), knocked
                deadline = deadline or now + BUSY_TIMEOUT
                try:
                    self._wait_for_lock(raw, deadline)
                except sqlite3.Error as exc:
                    return [(item.future, None, exc) for item in batch], knocked
                knocked = self._take_waiting(batch) or knocked

    def _commit_items(
        self, raw: sqlite3.Connection, batch: list[_Item], *, grow: bool = False
    ) -> list[Outcome]:
        """Write and commit the batch. With `grow`, raise _LockTaken rather than wait if
        the write lock is held elsewhere before anything is written."""
        problem = self.guard()
        if problem is not None:
            # Refused before touching the files: writing into a shared-memory file made
            # immutable kills the process with SIGBUS, and a WAL that cannot be
            # checkpointed would grow without end.
            return [(item.future, None, sqlite3.OperationalError(problem)) for item in batch]
        groups: dict[BatchFn, list[_Item]] = {}
        for item in batch:
            groups.setdefault(item.fn, []).append(item)
        outcomes: list[Outcome] = []
        try:
            for fn, items in groups.items():
                # Only before the first group writes can the whole batch start over.
                out = self._write_locked(raw, fn, [i.item for i in items], grow and not outcomes)
                if len(out) != len(items):
                    raise RuntimeError(f"{fn.__name__} returned {len(out)} results")
                outcomes += [(i.future, r, None) for i, r in zip(items, out, strict=True)]
            if raw.in_transaction:
                raw.commit()
        except _LockTaken:
            raise
        except Exception as exc:
            # Whatever failed, nothing of the batch stays.
            if raw.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    raw.rollback()
            if len(batch) == 1:
                return [(batch[0].future, None, exc)]
            # One item spoiled the shared transaction: give each its own, so only
            # the faulty one fails and the rest still land.
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
            return [o for item in batch for o in self._commit_items(raw, [item])]
        return outcomes

    def _write_locked(
        self, raw: sqlite3.Connection, fn: BatchFn, items: list[Any], give_way: bool = False
    ) -> list[Any]:
        """`fn(raw, items)`; while another process holds the write lock, again as soon as
        the lock is free (with `give_way`, raise _LockTaken instead of waiting)."""
        deadline = 0.0
        while True:
            try:
                return fn(raw, items)
            except sqlite3.OperationalError as exc:
                if raw.in_transaction:
                    raw.rollback()
                if not _busy(exc) or (deadline and time.monotonic() > deadline):
                    raise
                if give_way:
                    raise _LockTaken from exc
            deadline = deadline or time.monotonic() + BUSY_TIMEOUT
            self._wait_for_lock(raw, deadline)

    def _wait_for_lock(self, raw: sqlite3.Connection, deadline: float) -> None:
        """Return once the write lock, just found taken, is free; past the deadline, raise
        SQLITE_BUSY."""
        self._contended_at = time.monotonic()
        self._follow_contention()
        # Poll with a statement that costs next to nothing until the lock is free.
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("ROLLBACK")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(BUSY_POLL)  # without the interpreter lock


class _LockTaken(Exception):
    """Another process held the write lock before anything of a batch was written."""


def _busy(exc: sqlite3.OperationalError) -> bool:
    """The write lock is held elsewhere (SQLITE_BUSY, or one of its extended codes)."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def _settle_all(outcomes: list[Outcome]) -> None:
    for future, result, exc in outcomes:
        if future.done():  # its caller went away
            continue
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
        # Set by the WAL watch when the log is past WAL_REFUSE_BYTES and cannot shrink.
        self.wal_problem: str | None = None
        self._watch: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._writer_conn = await connect(self.path)
        try:
            await apply_migrations(self._writer_conn)
            await self._writer_conn.executescript(WRITER_SETUP.read_text(encoding="utf-8"))
            for _ in range(self._reader_count):
                conn = await connect(self.path, query_only=True)
                self._all_readers.append(conn)
                self._readers.put_nowait(conn)
        except BaseException:
            await self.close()
            raise
        self.writer = Writer(self._writer_conn)
        self.writer.guard = self.files_guard
        self.writer.start()
        if self.path != ":memory:":
            self._watch = asyncio.create_task(self._watch_wal(), name="feedback-wal-watch")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self.writer is not None:
            await self.writer.stop()
            self.writer = None
        for conn in self._all_readers:
            await conn.close()
        self._all_readers.clear()
        if self._writer_conn is not None:
            await self._writer_conn.close()
            self._writer_conn = None

    def files_guard(self) -> str | None:
        """Why the files must not be touched right now, or None. A few `access` calls:
        cheap enough to ask before every batch."""
        if self.path == ":memory:":
            return None
        for suffix in ("", "-wal", "-shm"):
            name = self.path + suffix
            if _unwritable(name):
                return f"{os.path.basename(name)} is read-only or immutable; not writing"
        return self.wal_problem

    async def _watch_wal(self) -> None:
        """Keep the write-ahead log bounded: past WAL_CHECKPOINT_BYTES, checkpoint it and
        truncate it to nothing; past WAL_REFUSE_BYTES with no way to shrink it (a reader
        holding an old snapshot, a main file that cannot be written), refuse writes until
        it can, rather than fill the disk."""
        wal = self.path + "-wal"
        while True:
            await asyncio.sleep(WAL_CHECK_SECONDS)
            size = _size(wal)
            if size is None:
                continue
            if size <= WAL_CHECKPOINT_BYTES:
                self.wal_problem = None
                continue
            reason = ""
            if self.writer is not None and self.files_guard() in (None, self.wal_problem):
                try:
                    busy, _, _ = await self.writer.submit(_checkpoint, raw=True)
                    if busy:
                        reason = "a reader holds an old snapshot"
                except (sqlite3.Error, RuntimeError) as exc:
                    reason = str(exc)
            else:
                reason = self.files_guard() or "the writer is not running"
            size = _size(wal) or 0
            if size > WAL_REFUSE_BYTES:
                self.wal_problem = (
                    f"the write-ahead log is {size // 2**20} MiB and cannot be "
                    f"checkpointed ({reason or 'no progress'}); refusing writes"
                )
                log.error("%s", self.wal_problem)
            elif size <= WAL_CHECKPOINT_BYTES:
                self.wal_problem = None
            elif reason:
                log.warning("write-ahead log at %d MiB: %s", size // 2**20, reason)

    def queue_depth(self) -> int:
        """Writes waiting for the writer connection."""
        if self.writer is None:
            return 0
        return self.writer._items.qsize() + len(self.writer._units)

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
        # Readers write their marks into the shared-memory file: if it cannot be written,
        # touching it would kill the process with SIGBUS.
        shm = self.path + "-shm"
        if self.path != ":memory:" and _unwritable(shm):
            raise StoreUnavailable(f"{os.path.basename(shm)} is read-only or immutable")
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
