"""Figures for the stats page: daily arrivals by status, backlog, time to resolve, top pages."""

from __future__ import annotations

from typing import Any

from feedback.store.engine import Row, Store, Tx

DAY = 86400


def _sites(tx: Tx, visible: list[int] | None) -> tuple[str, dict[str, Any]]:
    """The condition and parameters that keep rows to the sites the editor may see."""
    return f"(:all OR {tx.sql.SITE_VISIBLE})", {"all": visible is None, "visible": visible or []}


async def daily_by_status(
    store: Store, visible: list[int] | None, since: float
) -> list[tuple[str, str, int]]:
    async with store.read() as tx:
        rows = await tx.fetchall(
            tx.sql.DAILY_BY_STATUS,
            {"since": since, "all": visible is None, "visible": visible or []},
        )
    return [(r[0], r[1], r[2]) for r in rows]


async def oldest_open(store: Store, visible: list[int] | None) -> float | None:
    async with store.read() as tx:
        sites, params = _sites(tx, visible)
        row = await tx.fetchone(
            "SELECT min(first_seen) FROM reports "
            f"WHERE status IN ('new', 'in_progress') AND {sites}",
            params,
        )
    return row[0] if row else None


async def median_resolve_seconds(
    store: Store, visible: list[int] | None, since: float
) -> float | None:
    async with store.read() as tx:
        sites, params = _sites(tx, visible)
        params["since"] = since
        where = f"resolved_at IS NOT NULL AND resolved_at >= :since AND {sites}"
        row = await tx.fetchone(f"SELECT count(*) FROM reports WHERE {where}", params)
        n = row[0] if row else 0
        if not n:
            return None
        mid = await tx.fetchall(
            f"SELECT resolved_at - first_seen FROM reports WHERE {where} "
            "ORDER BY resolved_at - first_seen LIMIT :take OFFSET :skip",
            {**params, "take": 2 - n % 2, "skip": (n - 1) // 2},
        )
    values = [r[0] for r in mid]
    return sum(values) / len(values)


async def top_pages(
    store: Store, visible: list[int] | None, since: float, limit: int = 10
) -> list[Row]:
    async with store.read() as tx:
        sites, params = _sites(tx, visible)
        return await tx.fetchall(
            "SELECT url, max(title) AS title, count(*) AS reports, "
            "sum(submission_count) AS sends "
            f"FROM reports WHERE first_seen >= :since AND {sites} "
            "GROUP BY url ORDER BY reports DESC, sends DESC LIMIT :limit",
            {"since": since, "limit": limit, **params},
        )
