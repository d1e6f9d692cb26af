"""Figures for the stats page: daily arrivals by status, backlog, time to resolve, top pages."""

from __future__ import annotations

import json
from typing import Any

from feedback.database import Database

DAY = 86400


def _sites(visible: list[int] | None) -> dict[str, Any]:
    return {"all": visible is None, "visible": json.dumps(visible or [])}


_SITE_CLAUSE = "(:all OR site_id IN (SELECT value FROM json_each(:visible)))"


async def daily_by_status(
    db: Database, visible: list[int] | None, since: float
) -> list[tuple[str, str, int]]:
    rows = await db.fetchall(
        "SELECT date(day * 86400, 'unixepoch'), status, sum(n) FROM report_daily "
        f"WHERE day >= CAST(:since / 86400 AS INTEGER) AND {_SITE_CLAUSE} "
        "GROUP BY day, status",
        {"since": since, **_sites(visible)},
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def oldest_open(db: Database, visible: list[int] | None) -> float | None:
    row = await db.fetchone(
        "SELECT min(first_seen) FROM reports "
        f"WHERE status IN ('new', 'in_progress') AND {_SITE_CLAUSE}",
        _sites(visible),
    )
    return row[0] if row else None


async def median_resolve_seconds(
    db: Database, visible: list[int] | None, since: float
) -> float | None:
    params = {"since": since, **_sites(visible)}
    where = f"resolved_at IS NOT NULL AND resolved_at >= :since AND {_SITE_CLAUSE}"
    row = await db.fetchone(f"SELECT count(*) FROM reports WHERE {where}", params)
    n = row[0] if row else 0
    if not n:
        return None
    mid = await db.fetchall(
        f"SELECT resolved_at - first_seen FROM reports WHERE {where} "
        "ORDER BY resolved_at - first_seen LIMIT :take OFFSET :skip",
        {**params, "take": 2 - n % 2, "skip": (n - 1) // 2},
    )
    values = [r[0] for r in mid]
    return sum(values) / len(values)


async def top_pages(
    db: Database, visible: list[int] | None, since: float, limit: int = 10
) -> list[Any]:
    return await db.fetchall(
        "SELECT url, max(title) AS title, count(*) AS reports, sum(submission_count) AS sends "
        f"FROM reports WHERE first_seen >= :since AND {_SITE_CLAUSE} "
        "GROUP BY url ORDER BY reports DESC, sends DESC LIMIT :limit",
        {"since": since, "limit": limit, **_sites(visible)},
    )
