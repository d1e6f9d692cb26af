"""The stats page, with its chart drawn as SVG on the server."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from feedback.dashboard.auth import services, signed_in
from feedback.dashboard.text import age, safe_href
from feedback.store import stats as store_stats
from feedback.store.queue import status_counts
from feedback.store.reports import STATUSES
from feedback.store.users import User

DAYS = 30
CACHE_SECONDS = 30.0
CHART_W, CHART_H, BAR_GAP, LEFT, BOTTOM = 720, 200, 2, 36, 20


def chart(daily: list[tuple[str, str, int]], today: dt.date) -> dict[str, Any]:
    """Bar rectangles for a stacked chart: one bar a day, one segment a final status."""
    days = [today - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    per_day: dict[str, dict[str, int]] = {d.isoformat(): {} for d in days}
    for day, status, n in daily:
        if day in per_day:
            per_day[day][status] = n
    peak = max([sum(v.values()) for v in per_day.values()] + [1])
    bar_w = (CHART_W - LEFT) / DAYS
    scale = (CHART_H - BOTTOM - 10) / peak
    bars = []
    for i, day in enumerate(days):
        y = CHART_H - BOTTOM
        x = LEFT + i * bar_w
        for status in STATUSES:
            n = per_day[day.isoformat()].get(status, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": round(bar_w - BAR_GAP, 1),
                    "h": round(h, 1),
                    "status": status,
                    "title": f"{day.isoformat()}: {n} {status.replace('_', ' ')}",
                }
            )
    labels = [
        {"x": round(LEFT + i * bar_w, 1), "text": d.strftime("%d %b")}
        for i, d in enumerate(days)
        if i % 5 == 0
    ]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "bars": bars,
        "labels": labels,
        "peak": peak,
        "axis_y": CHART_H - BOTTOM,
        "left": LEFT,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return age(0, seconds) if seconds >= 60 else f"{int(seconds)}s"


async def _slow_figures(
    svc: Any, visible: list[int] | None, since: float, now: float
) -> tuple[float | None, list[dict[str, Any]]]:
    """Median time to resolve and top pages read a month of reports; over a million rows
    that takes ~100 ms, so each view of them is kept for CACHE_SECONDS."""
    cache = svc.extras.setdefault("dashboard.stats", {})
    key = tuple(visible) if visible is not None else None
    hit = cache.get(key)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    median = await store_stats.median_resolve_seconds(svc.store, visible, since)
    pages = [
        {**dict(p), "href": safe_href(p["url"])}
        for p in await store_stats.top_pages(svc.store, visible, since)
    ]
    if len(cache) > 1000:
        cache.clear()
    cache[key] = (now, (median, pages))
    return median, pages


@signed_in()
async def stats_page(request: Request, user: User) -> Response:
    svc = services(request)
    visible = user.visible_sites()
    now = time.time()
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    since = dt.datetime.combine(
        today - dt.timedelta(days=DAYS - 1), dt.time(), tzinfo=dt.UTC
    ).timestamp()
    daily = await store_stats.daily_by_status(svc.store, visible, since)
    counts = await status_counts(svc.store, visible)
    oldest = await store_stats.oldest_open(svc.store, visible)
    median, pages = await _slow_figures(svc, visible, since, now)
    return svc.templates.TemplateResponse(
        request,
        "dashboard/stats.html",
        {
            "user": user,
            "chart": chart(daily, today),
            "statuses": STATUSES,
            "backlog": counts["new"] + counts["in_progress"],
            "oldest_age": age(oldest, now) if oldest else "—",
            "median": _duration(median),
            "pages": pages,
            "days": DAYS,
        },
    )
