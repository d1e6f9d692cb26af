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
ASSIGNEES = ("mine", "none")
PAGE_SIZE = 50
# Counts under filters that no summary table holds are taken over this many of the newest
# reports (and sends, for a search), so they cost the same on a million reports as on a
# thousand; beyond that window they are shown as "at least".
COUNT_WINDOW = 10_000


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
    # "mine" (assigned to `me`) or "none" (unassigned); `me` is the signed-in editor.
    assignee: str = ""
    me: int | None = None

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
        assignee = query.get("assignee", "")
        return cls(
            site_id=number("site"),
            statuses=statuses or OPEN_STATUSES,
            kind=kind if kind in KINDS else None,
            url=query.get("url", "").strip()[:500],
            q=query.get("q", "").strip()[:200],
            sort=sort if sort in SORTS else "newest",
            after_id=number("after"),
            after_count=number("after_count"),
            assignee=assignee if assignee in ASSIGNEES else "",
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
        if self.assignee:
            out.append(("assignee", self.assignee))
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
     ORDER BY c.id DESC LIMIT 1) AS latest_suggestion,
    r.lang, r.resolution, r.duplicate_of, r.check_state, r.checked_at, r.not_on_page,
    r.service_suggestion, (SELECT email FROM users u WHERE u.id = r.assignee_id) AS assignee_email,
    (SELECT note FROM report_events e WHERE e.report_id = r.id AND e.resolution <> ''
     ORDER BY e.id DESC LIMIT 1) AS resolution_note
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
    if f.assignee == "mine":
        clauses.append("r.assignee_id = :me")
        params["me"] = f.me if f.me is not None else -1
    elif f.assignee == "none":
        clauses.append("r.assignee_id IS NULL")
    return clauses, params


# "Most reported" after (count, id), in two ranges that each walk the index directly: the
# rest of that count by id, then the lower counts. SQLite bounds a row-value comparison
# by its first column only, and every report sent once shares the same count.
_MOST_SAME_COUNT = ("r.submission_count = :after_count AND r.id < :after_id", "r.id DESC")
_MOST_LOWER_COUNTS = ("r.submission_count < :after_count", _ORDER["most"][1])


def queue_sql(
    sql: type[Dialect],
    f: QueueFilter,
    visible: list[int] | None,
    limit: int,
    common: bool = False,
    keyset_order: tuple[str, str] | None = None,
) -> tuple[str, dict]:
    clauses, params = _where(sql, f, visible, common)
    keyset, order = keyset_order or _ORDER[f.sort]
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
        if f.sort == "most" and f.after_id is not None and f.after_count is not None:
            sql, params = queue_sql(tx.sql, f, visible, limit + 1, common, _MOST_SAME_COUNT)
            rows = await tx.fetchall(sql, params)
            if len(rows) <= limit:
                sql, params = queue_sql(
                    tx.sql, f, visible, limit + 1 - len(rows), common, _MOST_LOWER_COUNTS
                )
                rows += await tx.fetchall(sql, params)
        else:
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


@dataclass(frozen=True)
class Counts:
    """Reports per status under the view's filters. `partial`: only the newest
    COUNT_WINDOW reports were counted, and there are older ones."""

    by_status: dict[str, int] | None
    partial: bool = False


async def view_counts(
    store: Store, f: QueueFilter, visible: list[int] | None, *, defer_search: bool = False
) -> Counts:
    """Reports per status for every filter of the view except the status itself.
    With `defer_search`, a search's counts are left for a second request (None): the
    search itself is the page's whole time budget."""
    if not (f.kind or f.url or f.q or f.assignee):
        return Counts(await status_counts(store, visible, f.site_id))
    if f.q and defer_search and search_words(f.q):
        return Counts(None)
    unfiltered = replace(f.first_page(), statuses=STATUSES)
    async with store.read() as tx:
        clauses, params = _where(tx.sql, replace(unfiltered, q=""), visible)
        # Walk the window of newest ids, not a site's whole index.
        clauses = [c.replace("r.site_id", "+r.site_id") for c in clauses]
        top = await tx.fetchone("SELECT max(id) FROM reports")
        floor = max(0, (top[0] or 0) - COUNT_WINDOW)
        clauses.append("r.id > :floor")
        params["floor"] = floor
        if f.q and search_words(f.q):
            sends = await tx.fetchone("SELECT max(id) FROM submissions")
            clauses.append(tx.sql.COUNT_SEARCH)
            params["q"] = tx.sql.search_terms(f.q)
            params["send_floor"] = max(0, (sends[0] or 0) - COUNT_WINDOW)
        rows = await tx.fetchall(
            f"SELECT r.status, count(*) FROM reports r WHERE {' AND '.join(clauses)} "
            "GROUP BY r.status",
            params,
        )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({r[0]: int(r[1]) for r in rows})
    return Counts(counts, partial=floor > 0)


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
        "SELECT id, suggestion, comment, user_agent, created_at, ip_hash FROM submissions "
        "WHERE report_id = ? ORDER BY id",
        (report_id,),
    )


async def history_of(store: Store, report_id: int) -> list[Row]:
    return await store.fetchall(
        "SELECT e.from_status, e.to_status, e.created_at, e.note, e.undoes, u.email, "
        "e.resolution, e.actor "
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


async def open_reports_quoting(
    store: Store, site_id: int, text: str, exclude: int, visible: list[int] | None,
    limit: int = 200,
) -> list[Row]:  # fmt: skip
    """Open reports on the site whose quote contains `text`: candidates for the same fix."""
    async with store.read() as tx:
        clauses = [
            "r.site_id = :site_id",
            "r.status IN ('new', 'in_progress')",
            "r.id <> :exclude",
            tx.sql.QUOTE_CONTAINS,
        ]
        params: dict[str, Any] = {"site_id": site_id, "exclude": exclude, "text": text}
        if visible is not None:
            clauses.append("r." + tx.sql.SITE_VISIBLE)
            params["visible"] = visible
        params["limit"] = limit
        return await tx.fetchall(
            f"SELECT {_ROW_COLUMNS} FROM reports r JOIN sites s ON s.id = r.site_id "
            f"WHERE {' AND '.join(clauses)} ORDER BY r.id DESC LIMIT :limit",
            params,
        )
