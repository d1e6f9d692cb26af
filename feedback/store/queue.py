"""The triage queue: filtered, keyset-paginated report lists, per-status counts,
one report with its history, and export."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from feedback.store.engine import Dialect, Row, Store
from feedback.store.reports import KINDS, OPEN_STATUSES, STATUSES

SORTS = ("newest", "oldest", "most")
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilter:
    """What the editor asked for, already validated. Lives in the URL."""

    site_id: int | None = None
    statuses: tuple[str, ...] = OPEN_STATUSES
    kind: str | None = None
    url: str = ""
    q: str = ""
    sort: str = "newest"
    # Keyset cursor: the last row of the previous page.
    after_id: int | None = None
    after_count: int | None = None
    only_ids: tuple[int, ...] = field(default=())

    @classmethod
    def from_query(cls, query: Any) -> QueueFilter:
        def number(name: str) -> int | None:
            value = query.get(name, "")
            return int(value) if value.isdigit() and len(value) < 19 else None

        statuses = tuple(s for s in query.getlist("status") if s in STATUSES)
        if query.get("status") == "all":
            statuses = STATUSES
        kind = query.get("kind")
        sort = query.get("sort", "newest")
        return cls(
            site_id=number("site"),
            statuses=statuses or OPEN_STATUSES,
            kind=kind if kind in KINDS else None,
            url=query.get("url", "").strip()[:500],
            q=query.get("q", "").strip()[:200],
            sort=sort if sort in SORTS else "newest",
            after_id=number("after"),
            after_count=number("after_count"),
        )

    def params(self, *, cursor: bool = False) -> list[tuple[str, str]]:
        """The filter as query parameters, for links and forms (without the cursor)."""
        out: list[tuple[str, str]] = []
        if self.site_id is not None:
            out.append(("site", str(self.site_id)))
        if self.statuses != OPEN_STATUSES:
            out += [("status", s) for s in self.statuses]
        if self.kind:
            out.append(("kind", self.kind))
        if self.url:
            out.append(("url", self.url))
        if self.q:
            out.append(("q", self.q))
        if self.sort != "newest":
            out.append(("sort", self.sort))
        if cursor and self.after_id is not None:
            out.append(("after", str(self.after_id)))
            if self.after_count is not None:
                out.append(("after_count", str(self.after_count)))
        return out

    def first_page(self) -> QueueFilter:
        return replace(self, after_id=None, after_count=None, only_ids=())


def search_words(text: str) -> list[str]:
    """The words of an editor's search, at most twelve."""
    return re.findall(r"\w+", text)[:12]


_ROW_COLUMNS = """
    r.id, r.site_id, s.name AS site_name, s.key AS site_key, r.kind, r.url, r.title,
    r.quote_exact, r.quote_prefix, r.quote_suffix, r.quote_fragment, r.status,
    r.submission_count,
    r.first_seen, r.last_seen, r.assignee_id, r.note, r.dedup_key,
    (SELECT comment FROM submissions c WHERE c.report_id = r.id AND c.comment <> ''
     ORDER BY c.id DESC LIMIT 1) AS latest_comment,
    (SELECT suggestion FROM submissions c WHERE c.report_id = r.id AND c.suggestion <> ''
     ORDER BY c.id DESC LIMIT 1) AS latest_suggestion
"""

# The only ORDER BY / keyset variants there are; the editor picks one by name.
_ORDER = {
    "newest": ("r.id < :after_id", "r.id DESC"),
    "oldest": ("r.id > :after_id", "r.id ASC"),
    "most": (
        "(r.submission_count, r.id) < (:after_count, :after_id)",
        "r.submission_count DESC, r.id DESC",
    ),
}


# A search matching at least this many sends is common: checked report by report.
COMMON_SEARCH = 5000


def _where(
    sql: type[Dialect], f: QueueFilter, visible: list[int] | None, common: bool = False
) -> tuple[list[str], dict[str, Any]]:
    # Each clause is a fixed string; every value the editor typed is a bound parameter.
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if visible is not None:
        clauses.append("r." + sql.SITE_VISIBLE)
        params["visible"] = visible
    if f.site_id is not None:
        clauses.append("r.site_id = :site_id")
        params["site_id"] = f.site_id
    if set(f.statuses) != set(STATUSES):
        clauses.append(sql.QUEUE_STATUS)
        params["statuses"] = list(f.statuses)
    if f.kind:
        clauses.append("r.kind = :kind")
        params["kind"] = f.kind
    if f.url:
        clauses.append(sql.QUEUE_URL)
        params["url"] = f.url
    if f.q and search_words(f.q):
        clauses.append(
            sql.QUEUE_SEARCH_DENSE if common and sql.QUEUE_SEARCH_DENSE else sql.QUEUE_SEARCH
        )
        params["q"] = sql.search_terms(f.q)
    if f.only_ids:
        clauses.append(sql.QUEUE_IDS)
        params["only_ids"] = list(f.only_ids)
    return clauses, params


def queue_sql(
    sql: type[Dialect], f: QueueFilter, visible: list[int] | None, limit: int, common: bool = False
) -> tuple[str, dict]:
    clauses, params = _where(sql, f, visible, common)
    keyset, order = _ORDER[f.sort]
    if f.after_id is not None and (f.sort != "most" or f.after_count is not None):
        clauses.append(keyset)
        params["after_id"] = f.after_id
        if f.sort == "most":
            params["after_count"] = f.after_count
    where = " AND ".join(clauses) or "true"
    params["limit"] = limit
    sql = (
        f"SELECT {_ROW_COLUMNS} FROM reports r JOIN sites s ON s.id = r.site_id "
        f"WHERE {where} ORDER BY {order} LIMIT :limit"
    )
    return sql, params


async def queue_page(
    store: Store, f: QueueFilter, visible: list[int] | None, limit: int = PAGE_SIZE
) -> tuple[list[Row], QueueFilter | None]:
    """One page of the queue, and the filter for the next page (None on the last)."""
    async with store.read() as tx:
        common = False
        if f.q and search_words(f.q) and tx.sql.SEARCH_HITS:
            hits = await tx.fetchone(
                tx.sql.SEARCH_HITS, {"q": tx.sql.search_terms(f.q), "cap": COMMON_SEARCH}
            )
            common = hits is not None and hits[0] >= COMMON_SEARCH
        sql, params = queue_sql(tx.sql, f, visible, limit + 1, common)
        rows = await tx.fetchall(sql, params)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, replace(f, after_id=last["id"], after_count=last["submission_count"])


async def status_counts(
    store: Store, visible: list[int] | None, site_id: int | None = None
) -> dict[str, int]:
    async with store.read() as tx:
        clauses, params = ["true"], {}
        if visible is not None:
            clauses.append(tx.sql.SITE_VISIBLE)
            params["visible"] = visible
        if site_id is not None:
            clauses.append("site_id = :site_id")
            params["site_id"] = site_id
        rows = await tx.fetchall(
            f"SELECT status, sum(n) FROM report_counts WHERE {' AND '.join(clauses)} "
            "GROUP BY status",
            params,
        )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({r[0]: r[1] for r in rows})
    return counts


async def report_by_id(store: Store, report_id: int, visible: list[int] | None) -> Row | None:
    """The report, or None if it does not exist or the editor may not see it."""
    rows, _ = await queue_page(
        store, QueueFilter(statuses=STATUSES, only_ids=(report_id,)), visible, limit=1
    )
    return rows[0] if rows else None


async def report_site(store: Store, report_id: int) -> int | None:
    row = await store.fetchone("SELECT site_id FROM reports WHERE id = ?", (report_id,))
    return row[0] if row else None


async def submissions_of(store: Store, report_id: int) -> list[Row]:
    return await store.fetchall(
        "SELECT id, suggestion, comment, user_agent, created_at FROM submissions "
        "WHERE report_id = ? ORDER BY id",
        (report_id,),
    )


async def history_of(store: Store, report_id: int) -> list[Row]:
    return await store.fetchall(
        "SELECT e.from_status, e.to_status, e.created_at, e.note, e.undoes, u.email "
        "FROM report_events e LEFT JOIN users u ON u.id = e.user_id "
        "WHERE e.report_id = ? ORDER BY e.id",
        (report_id,),
    )


async def export_rows(
    store: Store, f: QueueFilter, visible: list[int] | None, cap: int = 100_000
) -> AsyncIterator[Row]:
    """Every row of the filtered view, page by page, so memory stays flat."""
    page: QueueFilter | None = f.first_page()
    sent = 0
    while page is not None and sent < cap:
        rows, page = await queue_page(store, page, visible, limit=1000)
        for row in rows:
            yield row
        sent += len(rows)


async def last_report_at(store: Store, site_id: int) -> float | None:
    row = await store.fetchone("SELECT last_report_at FROM sites WHERE id = ?", (site_id,))
    return row[0] if row else None
