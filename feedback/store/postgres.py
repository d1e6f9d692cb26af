"""The PostgreSQL engine, for sites that run more than one instance.

psycopg 3 with its connection pool. Statements go out with client-side binding and
no server-side prepared statements (`prepare_threshold=None`), so a pooler such as
PgBouncer in transaction mode can sit in between. Everything that must hold across
instances lives in the database: merged reports (the unique index on open reports),
rate-limit buckets (an UNLOGGED table), live events (LISTEN/NOTIFY) and run-once
background work (transaction-scoped advisory locks).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql
from psycopg_pool import AsyncConnectionPool

from feedback.metrics import BATCH_SIZE
from feedback.signals import Signals
from feedback.store.engine import (
    Dialect,
    Params,
    RateLimiter,
    Row,
    Store,
    StoreError,
    StoreUnavailable,
    T,
    Unit,
)
from feedback.store.reports import NewSubmission, Stored, batch_outcome, send_json, sends_json
from feedback.store.schema import migration_files

log = logging.getLogger("feedback.store.postgres")


def _compact(sql: str) -> str:
    """A statement without its comments and line breaks: psycopg caches the conversion
    of statements up to 4 kB only, and the intake statement is sent with every batch."""
    return re.sub(r"\s*\n\s*", " ", re.sub(r"--[^\n]*", "", sql)).strip()


INTAKE_SQL = _compact((Path(__file__).parent / "postgres_intake.sql").read_text(encoding="utf-8"))
MAX_BATCH = 256
# One batch in flight per instance: what arrives while it commits goes in the next, and
# bigger batches cost PostgreSQL less per report. Measured on 2 cores, one writer took
# 15-25% more reports per second than two, at 16 and at 64 readers at once.
INTAKE_WRITERS = 1
CHANNEL = "feedback_events"
# Any fixed number: the key of the lock that lets one instance migrate at a time.
MIGRATION_LOCK = 0x66656564


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PgRow(tuple):
    """A row by position and by column name, like sqlite3.Row."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _rows(cursor: Any) -> Any:
    desc = cursor.description or []
    index = {column.name: i for i, column in enumerate(desc)}
    return lambda values: PgRow(values, index)


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=2048)
def _statement(sql: str, named: bool) -> str:
    """The store's `:name` / `?` parameters in psycopg's spelling."""
    sql = sql.replace("%", "%%")
    return _NAMED.sub(r"%(\1)s", sql) if named else sql.replace("?", "%s")


def _bind(sql: str, params: Params) -> tuple[str, Any]:
    if params is None:
        return _statement(sql, False), None
    if isinstance(params, Mapping):
        return _statement(sql, True), {k: _value(v) for k, v in params.items()}
    return _statement(sql, False), [_value(v) for v in params]


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class PostgresDialect(Dialect):
    SITE_VISIBLE = "site_id = ANY(CAST(:visible AS bigint[]))"
    REPORTS_BY_IDS = (
        "SELECT r.id, r.site_id, s.key AS site_key, r.status, r.dedup_key "
        "FROM reports r JOIN sites s ON s.id = r.site_id "
        "WHERE r.id = ANY(CAST(:ids AS bigint[])) "
        "AND (:all OR r.site_id = ANY(CAST(:visible AS bigint[]))) ORDER BY r.id FOR UPDATE OF r"
    )
    BLOCK_SENDERS = (
        "INSERT INTO ip_blocks AS b (site_id, ip_hash, until, created_by, created_at, action_id) "
        "SELECT DISTINCT r.site_id, s.ip_hash, :until, :user, :now, :action "
        "FROM submissions s JOIN reports r ON r.id = s.report_id "
        "WHERE s.report_id = ANY(CAST(:ids AS bigint[])) "
        "ON CONFLICT (site_id, ip_hash) DO UPDATE SET until = greatest(b.until, excluded.until), "
        "action_id = excluded.action_id"
    )
    QUEUE_STATUS = "r.status = ANY(CAST(:statuses AS text[]))"
    QUEUE_URL = "strpos(lower(r.url), lower(:url)) > 0"
    QUEUE_SEARCH = (
        "r.id IN (SELECT report_id FROM report_search WHERE text @@ to_tsquery('simple', :q))"
    )
    QUEUE_IDS = "r.id = ANY(CAST(:only_ids AS bigint[]))"
    COUNT_SEARCH = (
        "r.id IN (SELECT report_id FROM report_search "
        "WHERE text @@ to_tsquery('simple', :q) AND rowid > :send_floor)"
    )
    MOVE_SEARCH = "UPDATE report_search SET report_id = :kept WHERE report_id = :duplicate"
    SUBMISSIONS_OF = "report_id = ANY(CAST(:ids AS bigint[]))"
    SEND_DAY = "CAST(floor(created_at / 86400) AS bigint)"
    FORGET_SEARCH = (
        "DELETE FROM report_search WHERE rowid IN (SELECT s.id FROM submissions s "
        "JOIN reports r ON r.id = s.report_id WHERE r.site_id = :site)"
    )
    QUOTE_CONTAINS = "strpos(r.quote_exact, :text) > 0"
    PAGE_CONTAINS = "strpos(p.text, :text) > 0"
    SEARCH_HITS = (
        "SELECT count(*) FROM (SELECT 1 FROM report_search "
        "WHERE text @@ to_tsquery('simple', :q) LIMIT :cap) AS hits"
    )
    # A scalar subquery is not turned into a join: the planner walks reports in the
    # page's order and looks each one up, stopping once the page is full.
    QUEUE_SEARCH_DENSE = (
        "(SELECT true FROM report_search s WHERE s.report_id = r.id "
        "AND s.text @@ to_tsquery('simple', :q) LIMIT 1)"
    )
    DAILY_BY_STATUS = (
        "SELECT to_char(to_timestamp(day * 86400.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
        "status, sum(n) FROM report_daily "
        "WHERE day >= floor(:since / 86400.0) "
        "AND (:all OR site_id = ANY(CAST(:visible AS bigint[]))) "
        "GROUP BY day, status"
    )
    # A transaction-scoped advisory lock, released at COMMIT or ROLLBACK.
    LOGIN_LOCK = "SELECT pg_advisory_xact_lock(4021)"
    PURGE_SEARCH = (
        "DELETE FROM report_search WHERE rowid IN "
        "(SELECT id FROM submissions WHERE report_id = ANY(CAST(:ids AS bigint[])))"
    )
    PURGE_SUBMISSIONS = "DELETE FROM submissions WHERE report_id = ANY(CAST(:ids AS bigint[]))"
    PURGE_EVENTS = "DELETE FROM report_events WHERE report_id = ANY(CAST(:ids AS bigint[]))"
    PURGE_REPORTS = "DELETE FROM reports WHERE id = ANY(CAST(:ids AS bigint[]))"

    # Instances share the work: each takes rows no other transaction holds.
    OUTBOX_TAKE = (
        "SELECT id, report_id, site_id, type, status, created_at FROM notify_events "
        "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
    )
    DELIVERIES_DUE = (
        "SELECT x.id AS delivery_id, x.public_id, x.type, x.report_id, x.attempts, "
        "x.payload, {columns} FROM deliveries x "
        "JOIN destinations d ON d.id = x.destination_id JOIN sites s ON s.id = d.site_id "
        "WHERE x.state = 'pending' AND x.next_at <= :now ORDER BY x.next_at LIMIT :limit "
        "FOR UPDATE OF x SKIP LOCKED"
    )
    DELIVERY_BY_ID = (
        "SELECT x.id AS delivery_id, x.public_id, x.type, x.report_id, x.attempts, "
        "x.payload, {columns} FROM deliveries x "
        "JOIN destinations d ON d.id = x.destination_id JOIN sites s ON s.id = d.site_id "
        "WHERE x.id = :id AND x.state = 'pending' FOR UPDATE OF x"
    )

    @staticmethod
    def in_list(column: str, name: str) -> str:
        return f"{column} = ANY(CAST(:{name} AS bigint[]))"

    @staticmethod
    def search_terms(text: str) -> str:
        from feedback.store.queue import search_words

        # Each word quoted as a tsquery lexeme, matched as a prefix; all must match.
        return " & ".join("'" + w.replace("'", "''") + "':*" for w in search_words(text))


class PgTx:
    sql = PostgresDialect

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        query, bound = _bind(sql, params)
        cur = await self._conn.execute(query, bound)
        return await cur.fetchall() if cur.description else []

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = None) -> int:
        query, bound = _bind(sql, params)
        cur = await self._conn.execute(query, bound)
        return cur.rowcount

    async def executemany(self, sql: str, params: Sequence[Params]) -> None:
        if not params:
            return
        query, _ = _bind(sql, params[0])
        async with self._conn.cursor() as cur:
            await cur.executemany(query, [_bind(sql, p)[1] for p in params])


_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class _Batch:
    __slots__ = ("future", "sub")

    def __init__(self, future: asyncio.Future[Stored], sub: NewSubmission) -> None:
        self.future = future
        self.sub = sub


class _Intake:
    """Group commit for intake: whatever arrives while a batch is being written goes
    out together in the next one, as one statement."""

    def __init__(self, pool: AsyncConnectionPool, writers: int) -> None:
        self._pool = pool
        self._writers = writers
        self._waiting: list[_Batch] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        # INTAKE_WRITERS batches in flight at once (see there why it is one).
        self._tasks = [
            asyncio.create_task(self._run(), name=f"feedback-intake-{n}")
            for n in range(self._writers)
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []

    def queue_depth(self) -> int:
        return len(self._waiting)

    async def submit(self, sub: NewSubmission) -> Stored:
        if not self._tasks or self._stopping:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Batch(future, sub))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                results = await self._write([b.sub for b in batch])
            except Exception as exc:  # every waiting reader hears of it; the loop goes on
                log.warning("could not store a batch of %d reports: %s", len(batch), exc)
                error = StoreUnavailable(str(exc))
                for b in batch:
                    if not b.future.done():
                        b.future.set_exception(error)
                continue
            for b, stored in zip(batch, results, strict=True):
                if not b.future.done():  # its reader went away; the report is kept
                    b.future.set_result(stored)

    async def _write(self, subs: list[NewSubmission]) -> list[Stored]:
        BATCH_SIZE.observe(len(subs))
        params = {"sends": sends_json([send_json(s) for s in subs]), "now": time.time()}
        for attempt in range(3):
            try:
                async with self._pool.connection() as conn:
                    # A 201 promises the report is on disk, whatever the server's default:
                    # the batch's own transaction waits for its commit to be flushed. Sent
                    # together in one round trip.
                    async with conn.pipeline(), conn.transaction():
                        await conn.execute("SET LOCAL synchronous_commit TO on")
                        cur = await conn.execute(_statement(INTAKE_SQL, True), params)
                    rows = await cur.fetchall()
                break
            except _RETRY:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        return batch_outcome([(r[1], r[2], r[3]) for r in rows], len(subs))


_Take = asyncio.Future[tuple[float, float]]


def _granted(tokens: str, first: str, repeat: str) -> str:
    """SQL for the tokens granted out of `tokens` to `first` first takes and `repeat`
    repeat takes: first takes before repeat takes, and repeat takes only while :reserve
    tokens stay in the bucket."""
    took_first = f"least({first}, floor({tokens}))"
    return f"{took_first} + least({repeat}, greatest(0, floor({tokens} - {took_first} - :reserve)))"


# A known bucket's tokens, refilled by the time since its last take.
_REFILLED = "least(:burst, b.tokens + greatest(excluded.at - b.at, 0) * :rate)"
_GRANTED_ON_CONFLICT = _granted(_REFILLED, "excluded.want_first", "excluded.want_repeat")


class _SharedBuckets:
    """Token buckets in one UNLOGGED table, so an allowance holds across instances.

    The takes that arrive while one is on its way to the database go together in the
    next: one statement refills each bucket by the time since its last take and takes
    as many tokens as it has for the requests waiting on it. The database's clock
    decides, so instances' clocks needn't agree.
    """

    # One statement, so one round trip and its own transaction: a bucket seen for the
    # first time starts full; a known one is refilled by the time since its last take.
    # First takes are granted before repeat takes, and repeat takes only while :reserve
    # tokens stay in the bucket. The insert's row carries the take's time in `at` and the
    # takes wanted in `want_first` and `want_repeat`, for the update; `granted` is handed
    # back by RETURNING (which sees only the new row). Rows are inserted in key order, so
    # two instances never deadlock on the same buckets.
    TAKE = (
        "INSERT INTO rate_buckets AS b "
        "(name, key, tokens, at, want_first, want_repeat, granted) "
        "SELECT :name, w.key, :burst - g.n, c.t, w.f, w.r, g.n "
        "FROM json_to_recordset(CAST(:takes AS json)) AS w(key text, f integer, r integer) "
        "CROSS JOIN (SELECT extract(epoch FROM clock_timestamp()) AS t) c "
        f"CROSS JOIN LATERAL (SELECT {_granted(':burst', 'w.f', 'w.r')} AS n) g "
        "ORDER BY w.key "
        "ON CONFLICT (name, key) DO UPDATE SET "
        f"granted = {_GRANTED_ON_CONFLICT}, "
        f"tokens = {_REFILLED} - ({_GRANTED_ON_CONFLICT}), "
        "want_first = excluded.want_first, want_repeat = excluded.want_repeat, "
        "at = excluded.at "
        "RETURNING b.key, b.granted, b.tokens"
    )
    FORGET = "DELETE FROM rate_buckets WHERE name = :name AND at < :before"

    def __init__(
        self, pool: AsyncConnectionPool, name: str, per_minute: float, burst: int, reserve: int
    ) -> None:
        self._pool = pool
        self.name = name
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self.reserve = float(reserve)
        self._forgotten = time.monotonic()
        # Per key, the takes waiting: [first takes, repeat takes].
        self._waiting: dict[str, tuple[list[_Take], list[_Take]]] = {}
        self._flight: asyncio.Task[None] | None = None

    async def take(self, key: str, repeat: bool = False) -> float:
        return (await self._enqueue(key, repeat))[0]

    async def take_left(self, key: str) -> tuple[float, float]:
        return await self._enqueue(key, False)

    async def _enqueue(self, key: str, repeat: bool) -> tuple[float, float]:
        future: _Take = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, ([], []))[repeat].append(future)
        if self._flight is None or self._flight.done():
            self._flight = asyncio.create_task(self._take_waiting())
        return await future

    async def _take_waiting(self) -> None:
        while self._waiting:
            waiting, self._waiting = self._waiting, {}
            keys = sorted(waiting)
            try:
                granted = await self._take(
                    keys, [len(waiting[k][0]) for k in keys], [len(waiting[k][1]) for k in keys]
                )
            except Exception as exc:
                for firsts, repeats in waiting.values():
                    for f in firsts + repeats:
                        if not f.done():
                            f.set_exception(StoreUnavailable(str(exc)))
                continue
            for key, (firsts, repeats) in waiting.items():
                n, tokens = granted.get(key, (0, 0.0))
                # First takes were granted before repeat takes.
                n_first = min(n, len(firsts))
                self._settle(firsts, n_first, tokens + (n - n_first), 0.0)
                self._settle(repeats, n - n_first, tokens, self.reserve)

    def _settle(self, futures: list[_Take], granted: int, left: float, keep: float) -> None:
        """The first `granted` takes succeed (each seeing the tokens the ones after it
        took still there); the rest learn how long until a token is theirs."""
        wait = (1.0 + keep - left) / self.rate if self.rate > 0 else float("inf")
        for i, f in enumerate(futures):
            if f.done():
                continue
            if i < granted:
                f.set_result((0.0, left + (granted - 1 - i)))
            else:
                f.set_result((max(wait, 0.001), left))

    async def _take(
        self, keys: list[str], firsts: list[int], repeats: list[int]
    ) -> dict[str, tuple[int, float]]:
        takes = json.dumps(
            [{"key": k, "f": f, "r": r} for k, f, r in zip(keys, firsts, repeats, strict=True)]
        )
        params = {"name": self.name, "takes": takes, "burst": self.burst, "rate": self.rate,
                  "reserve": self.reserve}  # fmt: skip
        for attempt in range(3):
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(_statement(self.TAKE, True), params)
                    rows = await cur.fetchall()
                    if time.monotonic() - self._forgotten > 60 and self.rate > 0:
                        # A bucket untouched for as long as it takes to refill is full anyway.
                        self._forgotten = time.monotonic()
                        before = time.time() - self.burst / self.rate - 60
                        await conn.execute(
                            _statement(self.FORGET, True), {"name": self.name, "before": before}
                        )
                return {r[0]: (r[1], r[2]) for r in rows}
            except _RETRY:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")


class _Relay:
    """Events emitted on one instance reach the listeners on every other one: each is
    sent with NOTIFY, and every instance LISTENs and passes on what others sent."""

    def __init__(self, store: PostgresStore, signals: Signals) -> None:
        self._store = store
        self._signals = signals
        self._me = uuid.uuid4().hex
        self._outbox: list[str] = []
        self._flush: asyncio.Task[None] | None = None
        self._listen: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._signals.relay = self.send
        self._listen = asyncio.create_task(self._listen_loop(), name="feedback-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        self._signals.relay = None
        if self._flush is not None:
            await self._flush
        if self._listen is not None:
            self._listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen

    def send(self, event: str, payload: dict[str, Any]) -> None:
        self._outbox.append(json.dumps({"from": self._me, "event": event, "payload": payload}))
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._send_waiting())

    async def _send_waiting(self) -> None:
        await asyncio.sleep(0)  # let the events of this turn of the loop join in
        while self._outbox:
            messages, self._outbox = self._outbox[:500], self._outbox[500:]
            try:
                async with self._store.pool.connection() as conn:
                    for payload in notify_payloads(messages):
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except psycopg.Error as exc:
                log.warning("could not pass %d events to other instances: %s", len(messages), exc)

    async def _listen_loop(self) -> None:
        # A connection of its own, outside the pool: LISTEN lasts as long as the session,
        # so behind PgBouncer in transaction mode it goes to FEEDBACK_DATABASE_LISTEN_URL.
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._store.listen_url, autocommit=True
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    async for note in conn.notifies():
                        self._receive(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live events from other instances paused: %s", exc)
                await asyncio.sleep(1)

    def _receive(self, raw: str) -> None:
        try:
            messages = json.loads(raw)
        except ValueError:
            return
        for message in messages if isinstance(messages, list) else [messages]:
            if not isinstance(message, dict) or message.get("from") == self._me:
                continue  # this instance's listeners heard it when it was emitted
            self._signals.emit_local(message.get("event", ""), message.get("payload") or {})


# PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more.
NOTIFY_BYTES = 7500


def notify_payloads(messages: list[str]) -> list[str]:
    """Events (each a JSON object) packed as JSON arrays into as few NOTIFY payloads as
    fit: one notification per turn of the loop instead of one per report."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 2
    for message in messages:
        length = len(message.encode()) + 1
        if chunk and size + length > NOTIFY_BYTES:
            payloads.append("[" + ",".join(chunk) + "]")
            chunk, size = [], 2
        chunk.append(message)
        size += length
    if chunk:
        payloads.append("[" + ",".join(chunk) + "]")
    return payloads


class PostgresStore(Store):
    engine = "postgresql"

    def __init__(self, url: str, pool_size: int = 10, listen_url: str = "") -> None:
        self.url = url
        self.listen_url = listen_url or url
        self.location = redact(url)
        self.pool = AsyncConnectionPool(
            url,
            min_size=min(2, pool_size),
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": _rows},
            name="feedback",
        )
        self._intake = _Intake(self.pool, writers=INTAKE_WRITERS)
        self._relay: _Relay | None = None

    async def _open_pool(self) -> None:
        # One plain connection first: a wrong address or password is an error at once,
        # with PostgreSQL's own words, where the pool would keep retrying.
        try:
            first = await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)
            await first.close()
            await self.pool.open(wait=True, timeout=15)
        except Exception as exc:
            message = str(exc).strip().replace(self.url, self.location)
            raise StoreError(f"cannot connect to {self.location}: {message}") from None

    async def open(self) -> None:
        await self._open_pool()
        try:
            await self._migrate()
        except BaseException:
            await self.pool.close()
            raise
        self._intake.start()

    async def close(self) -> None:
        await self._intake.stop()
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        await self.pool.close()

    async def migrate(self) -> int:
        await self._open_pool()
        try:
            return await self._migrate()
        finally:
            await self.pool.close()

    async def _migrate(self) -> int:
        files = migration_files("postgres")
        async with self.pool.connection() as conn:
            # One instance migrates at a time; the others wait, then find nothing to do.
            await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
                )
                cur = await conn.execute("SELECT max(version) FROM schema_version")
                version = (await cur.fetchone())[0] or 0
                if version > len(files):
                    raise StoreError(
                        f"database is at schema version {version}, newer than this program "
                        f"knows ({len(files)}); upgrade feedback"
                    )
                for number, path in files:
                    if number <= version:
                        continue
                    try:
                        async with conn.transaction():
                            await conn.execute(path.read_text(encoding="utf-8").encode())
                            await conn.execute(
                                "INSERT INTO schema_version (version) VALUES (%s)", (number,)
                            )
                    except psycopg.Error as exc:
                        raise StoreError(f"migration {path.name} failed: {exc}") from None
                    log.info("applied migration %s", path.name)
                    version = number
                return version
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[PgTx]:
        async with self.pool.connection() as conn:
            yield PgTx(conn)

    async def write(self, unit: Unit[T]) -> T:
        for attempt in range(3):
            try:
                async with self.pool.connection() as conn, conn.transaction():
                    return await unit(PgTx(conn))
            except _RETRY:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def add_submission(self, sub: NewSubmission) -> Stored:
        return await self._intake.submit(sub)

    def rate_limiter(
        self, name: str, per_minute: float, burst: int, reserve: int = 0
    ) -> RateLimiter:
        return _SharedBuckets(self.pool, name, per_minute, burst, reserve)

    async def connect_signals(self, signals: Signals) -> None:
        self._relay = _Relay(self, signals)
        await self._relay.start()

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        # Transaction-scoped, so it works through a pooler in transaction mode too; the
        # lock goes with the transaction if the instance dies.
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (name,))
            (got,) = await cur.fetchone()
            yield bool(got)

    async def health(self) -> dict[str, Any]:
        row = await self.fetchone(
            "SELECT (SELECT max(version) FROM schema_version), "
            "current_setting('transaction_read_only') = 'off'"
        )
        assert row is not None
        problems = [] if row[1] else ["the database is read-only (a standby, or read-only)"]
        return {
            "schema_version": row[0],
            "writer": bool(row[1]),
            "writer_queue": self._intake.queue_depth(),
            "problems": problems,
        }

    async def table_columns(self, table: str) -> list[str]:
        rows = await self.fetchall(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]

    async def copy_rows_out(self, table: str, columns: list[str]) -> AsyncIterator[tuple]:
        query = pgsql.SQL("SELECT {} FROM {} ORDER BY 1").format(
            pgsql.SQL(", ").join(map(pgsql.Identifier, columns)), pgsql.Identifier(table)
        )
        async with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="copy_out") as cur,
        ):
            await cur.execute(query)
            async for row in cur:
                yield tuple(row)

    async def copy_rows_in(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        query = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
        )
        async with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(query) as copy,
        ):
            for row in rows:
                await copy.write_row(row)

    async def after_copy_in(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND is_identity = 'YES'"
            )
            for (table,) in await cur.fetchall():
                await conn.execute(
                    pgsql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'id'), "
                        "coalesce((SELECT max(id) FROM {i}), 0) + 1, false)"
                    ).format(t=pgsql.Literal(table), i=pgsql.Identifier(table))
                )
            await conn.execute(
                "INSERT INTO report_search (rowid, report_id, text) "
                "SELECT s.id, s.report_id, to_tsvector('simple', r.quote_exact || ' ' "
                "|| s.comment || ' ' || s.suggestion) "
                "FROM submissions s JOIN reports r ON r.id = s.report_id "
                "ON CONFLICT (rowid) DO NOTHING"
            )
