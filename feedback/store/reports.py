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


# Merges a send into its open report or opens one: the partial unique index on open
# reports makes a second identical send hit ON CONFLICT. A sender an editor blocked
# lands straight in spam, outside that index, so it never merges into a real report.
_UPSERT_REPORT = """
INSERT INTO reports (site_id, kind, url, title, lang, quote_exact, quote_prefix, quote_suffix,
                     dedup_key, status, first_seen, last_seen)
VALUES (:site_id, :kind, :url, :title, :lang, :exact, :prefix, :suffix, :dedup_key,
        :status, :now, :now)
ON CONFLICT (site_id, dedup_key) WHERE status IN ('new', 'in_progress') DO UPDATE SET
    submission_count = submission_count + 1,
    last_seen = excluded.last_seen,
    title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE reports.title END
"""

# The report a send belongs to, right after the upsert above: the one open report with
# its key, or for a blocked sender the spam report just created.
_INSERT_SUBMISSION = """
INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash, created_at)
SELECT id, :suggestion, :comment, :user_agent, :ip_hash, :now
FROM reports
WHERE site_id = :site_id AND dedup_key = :dedup_key
  AND CASE :status WHEN 'spam' THEN status = 'spam' ELSE status IN ('new', 'in_progress') END
ORDER BY id DESC
LIMIT 1
"""

_BATCH_START = """
SELECT (SELECT coalesce(max(id), 0) FROM submissions) AS last_submission,
       (SELECT json_group_array(ip_hash) FROM ip_blocks
         WHERE until > :now AND ip_hash IN (SELECT value FROM json_each(:hashes))) AS blocked
"""

# Each new submission in insertion order, with its report, and whether the report
# already had a submission before it (a duplicate).
_BATCH_RESULTS = """
SELECT s.report_id, r.status,
       EXISTS (SELECT 1 FROM submissions p WHERE p.report_id = s.report_id AND p.id < s.id)
FROM submissions s JOIN reports r ON r.id = s.report_id
WHERE s.id > :last
ORDER BY s.id
"""


@dataclass(frozen=True)
class Stored:
    report_id: int
    duplicate: bool
    status: str


async def store_submissions(conn: aiosqlite.Connection, subs: list[NewSubmission]) -> list[Stored]:
    """Batched write: merge every send into its open report (or open one) and keep each
    send whole, with four statements however many sends there are."""
    now = time.time()
    hashes = json.dumps(sorted({s.ip_hash for s in subs}))
    head = await conn.execute_fetchall(_BATCH_START, {"now": now, "hashes": hashes})
    last_submission, blocked_json = head[0]
    blocked = set(json.loads(blocked_json))
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
            "status": "spam" if s.ip_hash in blocked else "new",
            "suggestion": s.suggestion,
            "comment": s.comment,
            "user_agent": s.user_agent,
            "ip_hash": s.ip_hash,
            "now": now,
        }
        for s in subs
    ]
    report_keys = ("site_id", "kind", "url", "title", "lang", "exact", "prefix", "suffix",
                   "dedup_key", "status", "now")  # fmt: skip
    await conn.executemany(_UPSERT_REPORT, [{k: r[k] for k in report_keys} for r in rows])
    submission_keys = ("site_id", "dedup_key", "status", "suggestion", "comment",
                       "user_agent", "ip_hash", "now")  # fmt: skip
    await conn.executemany(_INSERT_SUBMISSION, [{k: r[k] for k in submission_keys} for r in rows])
    results = await conn.execute_fetchall(_BATCH_RESULTS, {"last": last_submission})
    if len(results) != len(subs):
        raise RuntimeError(f"stored {len(results)} submissions for {len(subs)} sends")
    return [Stored(report_id, bool(dup), status) for report_id, status, dup in results]
