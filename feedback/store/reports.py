"""Reports, the submissions merged into them, and their status history."""

from __future__ import annotations

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


# One statement merges or creates: the partial unique index on open reports makes a
# second identical send hit ON CONFLICT. A sender an editor blocked lands straight in
# spam, outside that index, so it never merges into (or reopens) a real report.
_UPSERT_REPORT = """
INSERT INTO reports (site_id, kind, url, title, lang, quote_exact, quote_prefix, quote_suffix,
                     dedup_key, status, first_seen, last_seen)
SELECT :site_id, :kind, :url, :title, :lang, :exact, :prefix, :suffix, :dedup_key,
       CASE WHEN EXISTS (SELECT 1 FROM ip_blocks WHERE ip_hash = :ip_hash AND until > :now)
            THEN 'spam' ELSE 'new' END,
       :now, :now
WHERE true
ON CONFLICT (site_id, dedup_key) WHERE status IN ('new', 'in_progress') DO UPDATE SET
    submission_count = submission_count + 1,
    last_seen = excluded.last_seen,
    title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE reports.title END
RETURNING id, submission_count, status
"""

_INSERT_SUBMISSION = """
INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True)
class Stored:
    report_id: int
    duplicate: bool
    status: str
    submission_id: int


async def store_submission(conn: aiosqlite.Connection, sub: NewSubmission) -> Stored:
    """Write unit: merge the send into its open report (or open one) and keep the send whole."""
    now = time.time()
    params = {
        "site_id": sub.site_id,
        "kind": sub.kind,
        "url": sub.url,
        "title": sub.title,
        "lang": sub.lang,
        "exact": sub.exact,
        "prefix": sub.prefix,
        "suffix": sub.suffix,
        "dedup_key": sub.dedup_key(),
        "ip_hash": sub.ip_hash,
        "now": now,
    }
    rows = await conn.execute_fetchall(_UPSERT_REPORT, params)
    report_id, count, status = rows[0]
    cur = await conn.execute(
        _INSERT_SUBMISSION,
        (report_id, sub.suggestion, sub.comment, sub.user_agent, sub.ip_hash, now),
    )
    return Stored(report_id, count > 1, status, int(cur.lastrowid or 0))
