"""What the page checker needs from the store: reports due for a check, recording what a
check found, and the text it last read on each page."""

from __future__ import annotations

from typing import Any

from feedback.store.engine import Row, Store, Tx

# A report is checked once soon after it arrives, then every FEEDBACK_CHECK_EVERY seconds
# while it is open.
_DUE = (
    "SELECT r.id, r.site_id, r.url, r.title, r.quote_exact, r.quote_prefix, r.quote_suffix, "
    "r.checked_at, r.check_state, r.lang, r.kind, "
    "(SELECT suggestion FROM submissions c WHERE c.report_id = r.id AND c.suggestion <> '' "
    " LIMIT 1) AS any_suggestion "
    "FROM reports r WHERE "
)
# Open reports with a quote to look for (a page comment has none).
_OPEN = "r.status IN ('new', 'in_progress') AND r.quote_exact <> '' AND "


async def due_reports(store: Store, now: float, limit: int) -> list[Row]:
    """Open reports never checked (newest first), then those whose next check is due."""
    fresh = await store.fetchall(
        _DUE + _OPEN + "r.checked_at IS NULL AND r.check_due IS NULL ORDER BY r.id DESC LIMIT ?",
        (limit,),
    )
    if len(fresh) >= limit:
        return fresh
    later = await store.fetchall(
        _DUE + _OPEN + "r.check_due <= ? ORDER BY r.check_due LIMIT ?", (now, limit - len(fresh))
    )
    return fresh + later


async def report_for_check(store: Store, report_id: int) -> Row | None:
    return await store.fetchone(_DUE + "r.id = ?", (report_id,))


async def record_check(
    store: Store,
    report_id: int,
    *,
    state: str | None,
    now: float,
    next_due: float,
    first: bool,
    not_on_page: bool = False,
) -> None:
    """Keep a check's verdict (None: the page could not be read, nothing changes but the
    time of the next try). The first verdict on a report decides "not on page"."""

    async def unit(tx: Tx) -> None:
        if state is None:
            await tx.execute("UPDATE reports SET check_due = ? WHERE id = ?", (next_due, report_id))
            return
        await tx.execute(
            "UPDATE reports SET check_state = ?, checked_at = ?, check_due = ?, "
            "not_on_page = CASE WHEN ? THEN ? ELSE not_on_page END WHERE id = ?",
            (state, now, next_due, first, int(not_on_page), report_id),
        )

    await store.write(unit)


async def set_service_suggestion(store: Store, report_id: int, word: str) -> None:
    await store.write(
        lambda tx: tx.execute(
            "UPDATE reports SET service_suggestion = ? WHERE id = ?", (word, report_id)
        )
    )


async def remember_page(
    store: Store, site_id: int, url: str, title: str, text: str, now: float
) -> None:
    """Keep the text just read on a page, in place of what was read there before."""
    await store.write(
        lambda tx: tx.execute(
            "INSERT INTO page_texts (site_id, url, title, text, seen_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (site_id, url) DO UPDATE SET title = excluded.title, "
            "text = excluded.text, seen_at = excluded.seen_at",
            (site_id, url, title, text, now),
        )
    )


async def pages_containing(store: Store, site_id: int, text: str, limit: int = 100) -> list[Row]:
    """The site's pages whose last read text contains `text`, most recently read first."""
    async with store.read() as tx:
        params: dict[str, Any] = {"site_id": site_id, "text": text, "limit": limit}
        return await tx.fetchall(
            "SELECT p.url, p.title, p.text, p.seen_at FROM page_texts p "
            f"WHERE p.site_id = :site_id AND {tx.sql.PAGE_CONTAINS} "
            "ORDER BY p.seen_at DESC LIMIT :limit",
            params,
        )
