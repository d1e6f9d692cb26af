"""The storage boundary: what every engine provides, and the few primitives the rest
of the store is written against.

Everything above `feedback.store` talks to a `Store`: it never sees a connection, a
cursor or an engine's name. The functions in the store's other modules (sites, users,
queue, actions, stats) are written once, against `Tx`, in SQL that both engines
understand, with parameters as `:name` (or `?` in order). Where the dialects differ,
they take the statement from `tx.sql`, the engine's `Dialect`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from feedback.signals import Signals
    from feedback.store.reports import NewSubmission, Stored

T = TypeVar("T")
Params = Mapping[str, Any] | Sequence[Any] | None


class StoreError(RuntimeError):
    """The database cannot be opened, migrated or reached: a message for the operator."""


class StoreUnavailable(StoreError):
    """A write could not be stored just now; nothing of it was kept."""


class Row(Protocol):
    """A result row: by column name (`row["id"]`) and by position (`row[0]`)."""

    def __getitem__(self, key: str | int) -> Any: ...

    def keys(self) -> Any: ...


class Tx(Protocol):
    """One connection for the length of a read, or one transaction for a write.

    Lists and tuples passed as parameters are lists to the engine: a JSON array on
    SQLite (read with `json_each`), an array on PostgreSQL (read with `ANY`).
    """

    sql: Dialect

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = None) -> Row | None: ...

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, params: Sequence[Params]) -> None: ...


class Dialect:
    """Statements and fragments whose spelling differs between engines. Each engine
    subclasses this and fills every one; the names say what they are for."""

    # A condition true for rows whose `site_id` is in the list :visible.
    SITE_VISIBLE: str
    # Reports (id, site_id, site_key, status, dedup_key) by the list of ids :ids,
    # limited to the sites in :visible unless :all.
    REPORTS_BY_IDS: str
    # Block every sender of the reports in :ids until :until.
    BLOCK_SENDERS: str
    # Queue filters: status in the list :statuses (keeping the id order walkable),
    # url containing :url, full-text match of :q, id in the list :only_ids.
    QUEUE_STATUS: str
    QUEUE_URL: str
    QUEUE_SEARCH: str
    QUEUE_IDS: str
    # Where an engine can tell a common search from a rare one: SEARCH_HITS counts the
    # matching sends of :q, up to :cap, and QUEUE_SEARCH_DENSE is the same condition as
    # QUEUE_SEARCH written to be checked report by report, newest first, which is
    # quicker when matches are everywhere. None where the engine has one way only.
    SEARCH_HITS: str | None = None
    QUEUE_SEARCH_DENSE: str | None = None
    # Daily arrivals by status since :since for the visible sites, as (date, status, n).
    DAILY_BY_STATUS: str
    # For counts: full-text match of :q among sends with ids above :send_floor.
    COUNT_SEARCH: str
    # Submissions of the reports in the list :ids.
    SUBMISSIONS_OF: str
    # The UTC day number of a submission's created_at, as an integer.
    SEND_DAY: str
    # Remove the search entries of every send on the site :site.
    FORGET_SEARCH: str
    # Quote of report r contains :text (case-sensitive).
    QUOTE_CONTAINS: str
    # The text the checker kept of page p contains :text (case-sensitive).
    PAGE_CONTAINS: str
    # After a duplicate's sends move to the kept report (:duplicate → :kept), the search
    # index follows, where it names reports ("" where it does not).
    MOVE_SEARCH: str
    # Purging the reports in the list :ids: their search entries, submissions, history,
    # and the reports themselves, in that order.
    PURGE_SEARCH: str
    PURGE_SUBMISSIONS: str
    PURGE_EVENTS: str
    PURGE_REPORTS: str
    # Taken first in a sign-in throttle transaction, so such transactions run one at a
    # time across every process and instance.
    LOGIN_LOCK: str
    # Notifications: the oldest outbox events (at most :limit), taken by this transaction;
    # deliveries due by :now (at most :limit) and one delivery by :id, each with its
    # destination's {columns}, claimed by this transaction.
    OUTBOX_TAKE: str
    DELIVERIES_DUE: str
    DELIVERY_BY_ID: str

    @staticmethod
    def search_terms(text: str) -> str:
        """Reader words as the engine's prefix-search query."""
        raise NotImplementedError

    @staticmethod
    def in_list(column: str, name: str) -> str:
        """A condition true when `column` is in the list of ids passed as :name."""
        raise NotImplementedError


Unit = Callable[[Tx], Awaitable[T]]


class Store:
    """One database, whichever engine holds it. Engines implement the methods below
    that raise NotImplementedError; the store's modules build on them."""

    #: Short name for messages and logs ("sqlite" or "postgresql").
    engine: str = ""
    #: Where the data lives, without any password, for messages.
    location: str = ""

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def migrate(self) -> int:
        """Apply every migration not yet applied; the schema version after."""
        raise NotImplementedError

    # -- plain access --------------------------------------------------------------

    def read(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        """A connection for reads (`async with store.read() as tx:`)."""
        raise NotImplementedError

    async def write(self, unit: Unit[T]) -> T:
        """Run `unit` in one transaction: all of it is committed, or none of it."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        async with self.read() as tx:
            return await tx.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        async with self.read() as tx:
            return await tx.fetchone(sql, params)

    # -- what only an engine knows how to do well -----------------------------------

    async def add_submission(self, sub: NewSubmission) -> Stored:
        """Intake: merge a reader's send into its open report or open one, durably.
        Sends arriving together are written together. Raises StoreUnavailable."""
        raise NotImplementedError

    def rate_limiter(
        self, name: str, per_minute: float, burst: int, reserve: int = 0
    ) -> RateLimiter:
        """Token buckets named `name`, shared by every process using this store. The last
        `reserve` tokens of a bucket are kept for takes that are not `repeat`."""
        raise NotImplementedError

    async def connect_signals(self, signals: Signals) -> None:
        """Make events emitted in one process reach the listeners of every process
        serving this store (live dashboards on other instances)."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Background work that must run once across every instance: yields True to
        the one holder of `name`, False to everyone else while it is held."""
        raise NotImplementedError
        yield False  # pragma: no cover

    async def health(self) -> dict[str, Any]:
        """What /healthz reports: schema version and whether writes can be made.
        Raises when the database cannot be reached."""
        raise NotImplementedError

    # -- whole-database copies (feedback copy-data) --------------------------------

    async def table_columns(self, table: str) -> list[str]:
        raise NotImplementedError

    async def copy_rows_out(self, table: str, columns: list[str]) -> AsyncIterator[tuple]:
        raise NotImplementedError
        yield ()  # pragma: no cover

    async def copy_rows_in(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        """Insert rows as they are, ids included."""
        raise NotImplementedError

    async def after_copy_in(self) -> None:
        """Let new rows continue after the copied ids."""
        raise NotImplementedError


class RateLimiter(Protocol):
    async def take(self, key: str, repeat: bool = False) -> float:
        """Take a token for `key`: 0 on success, else seconds until one is available. A
        `repeat` take may not use the bucket's reserve."""
        ...

    async def take_left(self, key: str) -> tuple[float, float]:
        """As `take`, and the tokens left in the bucket after it (a full bucket less one:
        the key's first take in a while)."""
        ...
