"""The SQLite engine: one file, one group-committing writer, a few readers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiosqlite

from feedback.metrics import BATCH_SIZE
from feedback.ratelimit import TokenBuckets
from feedback.signals import Signals
from feedback.store import sqlite_backup, sqlite_health
from feedback.store.engine import (
    Dialect,
    Params,
    RateLimiter,
    Row,
    Store,
    StoreUnavailable,
    T,
    Unit,
)
from feedback.store.reports import NewSubmission, Stored, send_json, store_submissions
from feedback.store.sqlite_db import Database, migrate


def _value(value: Any) -> Any:
    return json.dumps(list(value)) if isinstance(value, list | tuple) else value


def _params(params: Params) -> Any:
    if params is None:
        return ()
    if isinstance(params, Mapping):
        return {k: _value(v) for k, v in params.items()}
    return [_value(v) for v in params]


class SqliteDialect(Dialect):
    SITE_VISIBLE = "site_id IN (SELECT value FROM json_each(:visible))"
    REPORTS_BY_IDS = (
        "SELECT r.id, r.site_id, s.key AS site_key, r.status, r.dedup_key "
        "FROM reports r JOIN sites s ON s.id = r.site_id "
        "WHERE r.id IN (SELECT value FROM json_each(:ids)) "
        "AND (:all OR r.site_id IN (SELECT value FROM json_each(:visible))) ORDER BY r.id"
    )
    BLOCK_SENDERS = (
        "INSERT INTO ip_blocks (site_id, ip_hash, until, created_by, created_at, action_id) "
        "SELECT DISTINCT r.site_id, s.ip_hash, :until, :user, :now, :action "
        "FROM submissions s JOIN reports r ON r.id = s.report_id "
        "WHERE s.report_id IN (SELECT value FROM json_each(:ids)) "
        "ON CONFLICT (site_id, ip_hash) DO UPDATE SET until = max(until, excluded.until), "
        "action_id = excluded.action_id"
    )
    # Unary + keeps the planner walking ids in order instead of sorting a whole status.
    QUEUE_STATUS = "+r.status IN (SELECT value FROM json_each(:statuses))"
    QUEUE_URL = "instr(lower(r.url), lower(:url)) > 0"
    QUEUE_SEARCH = (
        "r.id IN (SELECT report_id FROM submissions WHERE id IN "
        "(SELECT rowid FROM report_search WHERE report_search MATCH :q))"
    )
    QUEUE_IDS = "r.id IN (SELECT value FROM json_each(:only_ids))"
    COUNT_SEARCH = (
        "r.id IN (SELECT report_id FROM submissions WHERE id IN (SELECT rowid FROM "
        "report_search WHERE report_search MATCH :q AND rowid > :send_floor))"
    )
    SUBMISSIONS_OF = "report_id IN (SELECT value FROM json_each(:ids))"
    SEND_DAY = "CAST(created_at / 86400 AS INTEGER)"
    # The index keeps no copy of the text: deleting an entry means giving it back.
    FORGET_SEARCH = (
        "INSERT INTO report_search (report_search, rowid, text) "
        "SELECT 'delete', s.id, r.quote_exact || ' ' || s.comment || ' ' || s.suggestion "
        "FROM submissions s JOIN reports r ON r.id = s.report_id WHERE r.site_id = :site"
    )
    QUOTE_CONTAINS = "instr(r.quote_exact, :text) > 0"
    PAGE_CONTAINS = "instr(p.text, :text) > 0"
    # Search rows name only their send, which moves with the merge by itself.
    MOVE_SEARCH = ""
    # The one writer connection already runs write transactions one at a time.
    LOGIN_LOCK = "SELECT 1"
    # The search table keeps no text, so an entry is deleted by giving its text again.
    PURGE_SEARCH = (
        "INSERT INTO report_search (report_search, rowid, text) "
        "SELECT 'delete', s.id, r.quote_exact || ' ' || s.comment || ' ' || s.suggestion "
        "FROM submissions s JOIN reports r ON r.id = s.report_id "
        "WHERE s.report_id IN (SELECT value FROM json_each(:ids))"
    )
    PURGE_SUBMISSIONS = (
        "DELETE FROM submissions WHERE report_id IN (SELECT value FROM json_each(:ids))"
    )
    PURGE_EVENTS = (
        "DELETE FROM report_events WHERE report_id IN (SELECT value FROM json_each(:ids))"
    )
    PURGE_REPORTS = "DELETE FROM reports WHERE id IN (SELECT value FROM json_each(:ids))"
    DAILY_BY_STATUS = (
        "SELECT date(day * 86400, 'unixepoch'), status, sum(n) FROM report_daily "
        "WHERE day >= CAST(:since / 86400 AS INTEGER) "
        "AND (:all OR site_id IN (SELECT value FROM json_each(:visible))) "
        "GROUP BY day, status"
    )

    OUTBOX_TAKE = (
        "SELECT id, report_id, site_id, type, status, created_at FROM notify_events "
        "ORDER BY id LIMIT :limit"
    )
    # One writer at a time on SQLite: what one transaction reads, no other can claim.
    DELIVERIES_DUE = (
        "SELECT x.id AS delivery_id, x.public_id, x.type, x.report_id, x.attempts, "
        "x.payload, {columns} FROM deliveries x "
        "JOIN destinations d ON d.id = x.destination_id JOIN sites s ON s.id = d.site_id "
        "WHERE x.state = 'pending' AND x.next_at <= :now ORDER BY x.next_at LIMIT :limit"
    )
    DELIVERY_BY_ID = (
        "SELECT x.id AS delivery_id, x.public_id, x.type, x.report_id, x.attempts, "
        "x.payload, {columns} FROM deliveries x "
        "JOIN destinations d ON d.id = x.destination_id JOIN sites s ON s.id = d.site_id "
        "WHERE x.id = :id AND x.state = 'pending'"
    )

    @staticmethod
    def in_list(column: str, name: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(:{name}))"

    @staticmethod
    def search_terms(text: str) -> str:
        """FTS5 prefix terms; quoting keeps FTS syntax out of the editor's way."""
        from feedback.store.queue import search_words

        return " ".join(f'"{w}"*' for w in search_words(text))


class SqliteTx:
    sql = SqliteDialect

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, _params(params)))

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = None) -> int:
        cur = await self._conn.execute(sql, _params(params))
        try:
            return cur.rowcount
        finally:
            await cur.close()

    async def executemany(self, sql: str, params: Sequence[Params]) -> None:
        await self._conn.executemany(sql, [_params(p) for p in params])


class _LocalBuckets:
    """On one machine the buckets live in memory, per process."""

    def __init__(self, per_minute: float, burst: int, reserve: int) -> None:
        self._buckets = TokenBuckets(per_minute, burst)
        self._reserve = float(reserve)

    async def take(self, key: str, repeat: bool = False) -> float:
        return self._buckets.take_left(key, keep=self._reserve if repeat else 0.0)[0]

    async def take_left(self, key: str) -> tuple[float, float]:
        return self._buckets.take_left(key)


def _store_counted(conn: sqlite3.Connection, items: list[str]) -> list[Stored]:
    """store_submissions, with the group-commit batch size counted."""
    BATCH_SIZE.observe(len(items))
    return store_submissions(conn, items)


class SqliteStore(Store):
    engine = "sqlite"

    def __init__(self, path: str, readers: int = 3) -> None:
        self.path = path
        self.location = path
        self.db = Database(path, readers=readers)
        self._probe = sqlite_health.WriteProbe()
        self._locks: dict[str, asyncio.Lock] = {}

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def migrate(self) -> int:
        return await migrate(self.path)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteTx]:
        async with self.db.reader() as conn:
            yield SqliteTx(conn)

    async def write(self, unit: Unit[T]) -> T:
        return await self.db.write(lambda conn: unit(SqliteTx(conn)))

    async def add_submission(self, sub: NewSubmission) -> Stored:
        try:
            return await self.db.write_batched(_store_counted, send_json(sub))
        except (sqlite3.Error, RuntimeError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    def rate_limiter(
        self, name: str, per_minute: float, burst: int, reserve: int = 0
    ) -> RateLimiter:
        return _LocalBuckets(per_minute, burst, reserve)

    async def connect_signals(self, signals: Signals) -> None:
        # One process serves the file: its own hub already reaches every listener.
        return None

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def health(self) -> dict[str, Any]:
        row = await self.fetchone("PRAGMA user_version")
        problems = sqlite_health.file_problems(self.path)
        if self.db.wal_problem:
            problems.append(self.db.wal_problem)
        writer = self.db.writer is not None
        if writer and not problems:
            found = await self._probe.run(self.db)
            if found:
                problems.append(found)
        return {
            "schema_version": row[0] if row else 0,
            "writer": writer,
            "writer_queue": self.db.queue_depth(),
            "problems": problems,
        }

    async def backup(self, target: str) -> int:
        """A consistent copy of the database at `target`, made with SQLite's online
        backup API while the service goes on writing; returns the copy's size."""
        return await asyncio.to_thread(sqlite_backup.backup_file, self.path, target)

    async def table_columns(self, table: str) -> list[str]:
        rows = await self.fetchall("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,))
        return [r[0] for r in rows]

    async def copy_rows_out(self, table: str, columns: list[str]) -> AsyncIterator[tuple]:
        # Table and column names come from the migrations, never from input.
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1"
        async with self.db.reader() as conn, conn.execute(query) as cur:
            async for row in cur:
                yield tuple(row)

    async def copy_rows_in(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        cols = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)

        async def unit(tx: Any) -> None:
            await tx.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)

        await self.write(unit)

    async def after_copy_in(self) -> None:
        return None  # INTEGER PRIMARY KEY continues after the largest id by itself
