"""Reports, the submissions merged into them, and their status history."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass

import aiosqlite

STATUSES = ("new", "in_progress", "fixed", "rejected", "spam")
OPEN_STATUSES = ("new", "in_progress")
KINDS = ("typo", "comment")


@dataclass(frozen=True)
class NewSubmission:
    site_id: int
    kind: str
    url: str
    title: str
    lang: str
    exact: str
    prefix: str
    suffix: str
    suggestion: str
    comment: str
    user_agent: str
    ip_hash: str

    def dedup_key(self) -> str:
        """What makes two sends one report: the page, the kind and the whole quote.
        A page comment has no quote, so its own text stands in for it: two readers
        sending the same comment merge, different comments stay apart."""
        identity = [self.url, self.kind, self.exact, self.prefix, self.suffix]
        if self.kind == "comment":
            identity.append(self.comment)
        blob = json.dumps(identity, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


# A sender an editor blocked (see ip_blocks) lands straight in spam.
_BLOCKED = "EXISTS (SELECT 1 FROM ip_blocks WHERE ip_hash = :ip_hash AND until > :now)"

# Merges a send into its open report or opens one: the partial unique index on open
# reports makes a second identical send hit ON CONFLICT. A blocked sender's report is
# created as spam, outside that index, so it never merges into a real report.
_UPSERT_REPORT = f"""
INSERT INTO reports (site_id, kind, url, title, lang, quote_exact, quote_prefix, quote_suffix,
                     dedup_key, status, first_seen, last_seen)
SELECT :site_id, :kind, :url, :title, :lang, :exact, :prefix, :suffix, :dedup_key,
       CASE WHEN {_BLOCKED} THEN 'spam' ELSE 'new' END, :now, :now
WHERE true
ON CONFLICT (site_id, dedup_key) WHERE status IN ('new', 'in_progress') DO UPDATE SET
    submission_count = submission_count + 1,
    last_seen = excluded.last_seen,
    title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE reports.title END
"""

# The report a send belongs to, right after the upsert above: the one open report with
# its key, or for a blocked sender the spam report just created.
_INSERT_SUBMISSION = f"""
INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash, created_at)
SELECT id, :suggestion, :comment, :user_agent, :ip_hash, :now
FROM reports
WHERE site_id = :site_id AND dedup_key = :dedup_key
  AND CASE WHEN {_BLOCKED} THEN status = 'spam' ELSE status IN ('new', 'in_progress') END
ORDER BY id DESC
LIMIT 1
"""

# The batch's submissions (the newest :n; the writer is the only writer) with the
# report each one landed in.
_BATCH_RESULTS = """
SELECT s.report_id, r.status, r.first_seen, s.created_at
FROM submissions s JOIN reports r ON r.id = s.report_id
ORDER BY s.id DESC
LIMIT :n
"""

_SITES_SEEN = """
UPDATE sites SET last_report_at = :now WHERE id IN (SELECT value FROM json_each(:ids))
"""

_REPORT_PARAMS = ("site_id", "kind", "url", "title", "lang", "exact", "prefix", "suffix",
                  "dedup_key", "ip_hash", "now")  # fmt: skip
_SUBMISSION_PARAMS = ("site_id", "dedup_key", "suggestion", "comment", "user_agent",
                      "ip_hash", "now")  # fmt: skip


@dataclass(frozen=True)
class Stored:
    report_id: int
    duplicate: bool
    status: str


async def store_submissions(conn: aiosqlite.Connection, subs: list[NewSubmission]) -> list[Stored]:
    """Batched write: merge every send into its open report (or open one) and keep each
    send whole, with four statements however many sends there are."""
    now = time.time()
    rows = [
        {
            "site_id": s.site_id,
            "kind": s.kind,
            "url": s.url,
            "title": s.title,
            "lang": s.lang,
            "exact": s.exact,
            "prefix": s.prefix,
            "suffix": s.suffix,
            "dedup_key": s.dedup_key(),
            "suggestion": s.suggestion,
            "comment": s.comment,
            "user_agent": s.user_agent,
            "ip_hash": s.ip_hash,
            "now": now,
        }
        for s in subs
    ]
    site_ids = {s.site_id for s in subs}
    # Queued together, the statements run back to back in the connection's thread
    # instead of each waiting for a turn of the (busy) event loop. They depend on each
    # other only through the database. If one fails, the writer rolls the batch back.
    outcomes = await asyncio.gather(
        conn.executemany(_UPSERT_REPORT, [{k: r[k] for k in _REPORT_PARAMS} for r in rows]),
        conn.executemany(_INSERT_SUBMISSION, [{k: r[k] for k in _SUBMISSION_PARAMS} for r in rows]),
        conn.execute_fetchall(_BATCH_RESULTS, {"n": len(subs)}),
        conn.execute(_SITES_SEEN, {"now": now, "ids": json.dumps(sorted(site_ids))}),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    results = list(outcomes[2])[::-1]
    if len(results) != len(subs) or any(row[3] != now for row in results):
        raise RuntimeError(f"stored a different number of submissions than {len(subs)} sends")
    # A send is a duplicate if its report existed before this batch, or an earlier send
    # in this batch opened it.
    stored, opened = [], set()
    for report_id, status, first_seen, _ in results:
        stored.append(Stored(report_id, first_seen < now or report_id in opened, status))
        opened.add(report_id)
    return stored
