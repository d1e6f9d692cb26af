"""Reports, the submissions merged into them, and their status history."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass

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


# The batch arrives as one JSON array (:sends), one object per send, and each statement
# below handles every send in a single step. Row by row (executemany) the writer's thread
# would need the interpreter lock back between rows, and while the request loop is busy
# each hand-back waits; a single step runs without it from start to end.
_SENDS = """
WITH sends AS (
    SELECT key AS n,
           value ->> 'site_id' AS site_id, value ->> 'kind' AS kind, value ->> 'url' AS url,
           value ->> 'title' AS title, value ->> 'lang' AS lang, value ->> 'exact' AS exact,
           value ->> 'prefix' AS prefix, value ->> 'suffix' AS suffix,
           value ->> 'dedup_key' AS dedup_key, value ->> 'suggestion' AS suggestion,
           value ->> 'comment' AS comment, value ->> 'user_agent' AS user_agent,
           value ->> 'ip_hash' AS ip_hash,
           -- A sender an editor blocked lands straight in spam.
           EXISTS (SELECT 1 FROM ip_blocks b
                   WHERE b.ip_hash = value ->> 'ip_hash' AND b.until > :now) AS blocked
    FROM json_each(:sends)
)
"""

# Merges each send into its open report or opens one: the partial unique index on open
# reports makes a second identical send hit ON CONFLICT (also within one batch, as rows
# are inserted in order). A blocked sender's report is created as spam, outside that
# index, so it never merges into a real report.
_UPSERT_REPORTS = (
    _SENDS
    + """
INSERT INTO reports (site_id, kind, url, title, lang, quote_exact, quote_prefix, quote_suffix,
                     dedup_key, status, first_seen, last_seen)
SELECT site_id, kind, url, title, lang, exact, prefix, suffix, dedup_key,
       CASE WHEN blocked THEN 'spam' ELSE 'new' END, :now, :now
FROM sends
WHERE true
ORDER BY n
ON CONFLICT (site_id, dedup_key) WHERE status IN ('new', 'in_progress') DO UPDATE SET
    submission_count = submission_count + 1,
    last_seen = excluded.last_seen,
    title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE reports.title END
"""
)

# Each send, kept whole, in the report it belongs to right after the upsert above: the one
# open report with its key, or for a blocked sender the newest spam report with it.
_INSERT_SUBMISSIONS = (
    _SENDS
    + """
INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash, created_at)
SELECT (SELECT r.id FROM reports r
        WHERE r.site_id = sends.site_id AND r.dedup_key = sends.dedup_key
          AND CASE WHEN blocked THEN r.status = 'spam'
                   ELSE r.status IN ('new', 'in_progress') END
        ORDER BY r.id DESC LIMIT 1),
       suggestion, comment, user_agent, ip_hash, :now
FROM sends
ORDER BY n
"""
)

# The batch's submissions (the newest :n; the writer is the only writer) with the report
# each one landed in, as one JSON array, newest first.
_BATCH_RESULTS = """
SELECT json_group_array(json_array(report_id, status, existed, ours))
FROM (SELECT s.id, s.report_id, r.status, r.first_seen < :now AS existed,
             s.created_at = :now AS ours
      FROM submissions s JOIN reports r ON r.id = s.report_id
      ORDER BY s.id DESC LIMIT :n)
"""

_SITES_SEEN = """
UPDATE sites SET last_report_at = :now WHERE id IN (SELECT value FROM json_each(:ids))
"""


@dataclass(frozen=True)
class Stored:
    report_id: int
    duplicate: bool
    status: str


def store_submissions(conn: sqlite3.Connection, subs: list[NewSubmission]) -> list[Stored]:
    """Batched write, run on the writer's thread: merge every send into its open report
    (or open one) and keep each send whole, with four statements however many sends
    there are. The writer commits, or rolls the whole batch back if anything raises."""
    now = time.time()
    sends = json.dumps(
        [
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
            }
            for s in subs
        ],
        ensure_ascii=False,
    )
    site_ids = json.dumps(sorted({s.site_id for s in subs}))
    params = {"sends": sends, "now": now}
    conn.execute(_UPSERT_REPORTS, params)
    conn.execute(_INSERT_SUBMISSIONS, params)
    (row,) = conn.execute(_BATCH_RESULTS, {"n": len(subs), "now": now}).fetchall()
    conn.execute(_SITES_SEEN, {"now": now, "ids": site_ids})
    results = json.loads(row[0])[::-1]
    if len(results) != len(subs) or not all(ours for *_, ours in results):
        raise RuntimeError(f"stored a different number of submissions than {len(subs)} sends")
    # A send is a duplicate if its report existed before this batch, or an earlier send
    # in this batch opened it.
    stored, opened = [], set()
    for report_id, status, existed, _ in results:
        stored.append(Stored(report_id, bool(existed) or report_id in opened, status))
        opened.add(report_id)
    return stored
