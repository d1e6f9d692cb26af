"""All of the service's SQL, one module per kind of thing stored, behind one `Store`.

`make_store(FEEDBACK_DATABASE)` picks the engine: a `postgresql://` URL is PostgreSQL,
anything else is the path of an SQLite file.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from feedback.store.engine import Store, StoreError, StoreUnavailable

__all__ = [
    "Store", "StoreError", "StoreUnavailable", "make_store", "opened_store", "is_postgres_url"
]  # fmt: skip


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def make_store(database: str, *, connections: int = 10, listen_url: str = "") -> Store:
    """The store for a FEEDBACK_DATABASE value, not yet opened. `connections` bounds the
    PostgreSQL pool (SQLite keeps its one writer and a few readers); `listen_url` is
    where PostgreSQL's live updates are listened for, if not `database`."""
    if connections < 1:
        raise StoreError(f"FEEDBACK_DATABASE_POOL must be at least 1, not {connections}")
    if is_postgres_url(database):
        from feedback.store.postgres import PostgresStore

        return PostgresStore(database, pool_size=connections, listen_url=listen_url or database)
    from feedback.store.sqlite import SqliteStore

    return SqliteStore(database, readers=min(3, connections))


@contextlib.asynccontextmanager
async def opened_store(database: str, connections: int = 2) -> AsyncIterator[Store]:
    """The store opened (and migrated) for a command's work, closed after it."""
    store = make_store(database, connections=connections)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
