"""Sends that intake refused, counted per site, reason and origin, for the install check;
and reader addresses kept for "tell me when it's fixed"."""

from __future__ import annotations

from feedback.store.engine import Row, Store, Tx

REASONS = ("wrong_origin", "unknown_key", "url_not_allowed")
NOTIFY_DAYS = 90


async def add_refusals(store: Store, counts: dict[tuple[int, str, str], tuple[int, float]]) -> None:
    """Add (site id, reason, origin) → (sends, latest time) to the totals."""
    if not counts:
        return

    async def unit(tx: Tx) -> None:
        await tx.executemany(
            "INSERT INTO refused_sends (site_id, reason, origin, n, last_at) "
            "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sites WHERE id = ?) "
            "ON CONFLICT (site_id, reason, origin) DO UPDATE SET "
            "n = refused_sends.n + excluded.n, "
            "last_at = CASE WHEN excluded.last_at > refused_sends.last_at "
            "THEN excluded.last_at ELSE refused_sends.last_at END",
            [
                (site, reason, origin, n, at, site)
                for (site, reason, origin), (n, at) in counts.items()
            ],
        )

    await store.write(unit)


async def refusals_of(store: Store, site_id: int) -> list[Row]:
    return await store.fetchall(
        "SELECT reason, origin, n, last_at FROM refused_sends WHERE site_id = ? "
        "ORDER BY last_at DESC LIMIT 100",
        (site_id,),
    )


async def forget_refusals(store: Store, site_id: int, origin: str) -> None:
    await store.write(
        lambda tx: tx.execute(
            "DELETE FROM refused_sends WHERE site_id = ? AND origin = ?", (site_id, origin)
        )
    )


async def site_for_origin(store: Store, origin: str) -> int | None:
    """The one site registered for an origin (for a send with an unknown key)."""
    rows = await store.fetchall(
        "SELECT site_id FROM site_origins WHERE origin = ? LIMIT 2", (origin,)
    )
    return rows[0][0] if len(rows) == 1 else None


# --- reader addresses ---------------------------------------------------------------


async def keep_notify_address(store: Store, report_id: int, email: str, now: float) -> None:
    await store.write(
        lambda tx: tx.execute(
            "INSERT INTO reader_notify (report_id, email, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (report_id) DO UPDATE SET email = excluded.email, "
            "created_at = excluded.created_at",
            (report_id, email, now),
        )
    )


async def take_notify_address(store: Store, report_id: int) -> str | None:
    """The reader's address, removed as it is handed out: it is used once."""

    async def unit(tx: Tx) -> str | None:
        row = await tx.fetchone("SELECT email FROM reader_notify WHERE report_id = ?", (report_id,))
        await tx.execute("DELETE FROM reader_notify WHERE report_id = ?", (report_id,))
        return row[0] if row else None

    return await store.write(unit)


async def has_notify_address(store: Store, report_id: int) -> bool:
    row = await store.fetchone("SELECT 1 FROM reader_notify WHERE report_id = ?", (report_id,))
    return row is not None


async def forget_old_addresses(store: Store, now: float) -> int:
    """Addresses older than 90 days go, whatever became of their report."""
    return await store.write(
        lambda tx: tx.execute(
            "DELETE FROM reader_notify WHERE created_at < ?", (now - NOTIFY_DAYS * 86400,)
        )
    )


async def notify_addresses(store: Store, report_ids: list[int]) -> dict[int, str]:
    """The waiting reader addresses of these reports, if any."""
    if not report_ids:
        return {}
    async with store.read() as tx:
        # SUBMISSIONS_OF is "report_id in the list :ids", whatever the table.
        rows = await tx.fetchall(
            f"SELECT report_id, email FROM reader_notify WHERE {tx.sql.SUBMISSIONS_OF}",
            {"ids": report_ids},
        )
    return {r[0]: r[1] for r in rows}
