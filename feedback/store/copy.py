"""`feedback copy-data`: a whole installation from one database into another, either way
between SQLite and PostgreSQL, ids kept, counts checked."""

from __future__ import annotations

from collections.abc import Callable

from feedback.store.engine import Store, StoreError

# Every table holding data of its own, parents before children. A table added by a later
# migration must be listed here or in DERIVED (tests/test_copy_data.py checks).
COPIED = (
    "sites",
    "site_origins",
    "users",
    "user_sites",
    "reports",
    "submissions",
    "report_events",
    "ip_blocks",
    "login_failures",
    "resolution_notes",
    "reader_notify",
    "refused_sends",
    "sessions",
    "page_texts",
    # After the reports: a destination already in place would announce every copied
    # report again through the outbox triggers.
    "destinations",
    "deliveries",
    "notify_events",
    "api_tokens",
    "api_token_sites",
)
# Tables the target rebuilds by itself as the rows above arrive (search index, totals),
# or that belong to one engine's bookkeeping.
DERIVED = frozenset(
    {"report_search", "report_counts", "report_daily", "rate_buckets", "schema_version"}
)
CHUNK = 2000


async def row_counts(store: Store, tables: tuple[str, ...] = COPIED) -> dict[str, int]:
    counts = {}
    for table in tables:
        # Names come from the list above, never from input.
        row = await store.fetchone(f"SELECT count(*) FROM {table}")
        counts[table] = int(row[0]) if row else 0
    return counts


async def copy_data(
    source: Store, target: Store, say: Callable[[str], None] = lambda _: None
) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; both are open and migrated.
    Returns the rows copied per table, after checking the target holds as many."""
    source_version = (await source.health())["schema_version"]
    target_version = (await target.health())["schema_version"]
    if source_version != target_version:
        raise StoreError(
            f"the source is at schema version {source_version} and the target at "
            f"{target_version}; run the same version of feedback on both"
        )
    filled = {t: n for t, n in (await row_counts(target)).items() if n}
    if filled:
        listed = ", ".join(f"{t} ({n} rows)" for t, n in filled.items())
        raise StoreError(f"the target is not empty: {listed}. Copy into an empty database.")
    expected = await row_counts(source)
    for table in COPIED:
        columns = await source.table_columns(table)
        target_columns = await target.table_columns(table)
        if columns != target_columns:
            raise StoreError(
                f"table {table} has columns {columns} in the source but "
                f"{target_columns} in the target"
            )
        chunk: list[tuple] = []
        async for row in source.copy_rows_out(table, columns):
            chunk.append(row)
            if len(chunk) >= CHUNK:
                await target.copy_rows_in(table, columns, chunk)
                chunk = []
        if chunk:
            await target.copy_rows_in(table, columns, chunk)
        say(f"{table}: {expected[table]} rows")
    await target.after_copy_in()
    copied = await row_counts(target)
    if copied != expected:
        wrong = {t: (expected[t], copied[t]) for t in COPIED if expected[t] != copied[t]}
        raise StoreError(f"the copy does not match the source (source, target): {wrong}")
    return copied
