"""Keeping data no longer than needed: purging closed reports with everything that was
sent for them."""

from __future__ import annotations

import re
import time

from feedback.store.engine import Store, Tx

CLOSED = ("fixed", "rejected", "spam")
# Reports deleted per transaction: the writer is never held for long.
PURGE_BATCH = 500


def parse_age(text: str) -> float:
    """ "180d", "12h", "2w" or a plain number of days, as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhw]?)\s*", text.lower())
    if not match:
        raise ValueError(f"not an age: {text!r} (use e.g. 180d, 12h or 2w)")
    number, unit = float(match.group(1)), match.group(2) or "d"
    return number * {"h": 3600, "d": 86400, "w": 7 * 86400}[unit]


async def purge_closed(store: Store, older_than: float, now: float | None = None) -> int:
    """Delete reports closed (fixed, not an error, spam) more than `older_than` seconds
    ago, with their submissions, search entries and history. Per-day totals for the stats
    page stay: they hold counts, nothing a reader sent. Returns how many went."""
    cutoff = (time.time() if now is None else now) - older_than
    total = 0
    while True:
        deleted = await store.write(lambda tx: _purge_batch(tx, cutoff))
        total += deleted
        if deleted < PURGE_BATCH:
            return total


async def _purge_batch(tx: Tx, cutoff: float) -> int:
    rows = await tx.fetchall(
        "SELECT id, site_id, status FROM reports WHERE status IN ('fixed', 'rejected', 'spam') "
        "AND coalesce(resolved_at, last_seen) < ? ORDER BY id LIMIT ?",
        (cutoff, PURGE_BATCH),
    )
    if not rows:
        return 0
    ids = [r["id"] for r in rows]
    await tx.execute(tx.sql.PURGE_SEARCH, {"ids": ids})
    await tx.execute(tx.sql.PURGE_SUBMISSIONS, {"ids": ids})
    await tx.execute(tx.sql.PURGE_EVENTS, {"ids": ids})
    await tx.execute(tx.sql.PURGE_REPORTS, {"ids": ids})
    gone: dict[tuple[int, str], int] = {}
    for r in rows:
        gone[(r["site_id"], r["status"])] = gone.get((r["site_id"], r["status"]), 0) + 1
    await tx.executemany(
        "UPDATE report_counts SET n = n - ? WHERE site_id = ? AND status = ?",
        [(n, site_id, status) for (site_id, status), n in gone.items()],
    )
    return len(ids)
