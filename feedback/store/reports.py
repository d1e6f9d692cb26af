"""Reports, the submissions merged into them, and their status history."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

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
    # The same address under yesterday's key: matches spam blocks set yesterday.
    ip_hash_prev: str = ""
    # The text-fragment directive the reader's browser found to match this quote alone,
    # and the quote's offsets in the page's visible text (code points).
    fragment: str = ""
    position: tuple[int, int] | None = None
    # "Tell me when it's fixed": the reader's address, kept only if the site allows it.
    notify_email: str = ""

    def dedup_key(self) -> str:
        """What makes two sends one report: the page, the kind and the quote in its own
        block. The context the widget sends runs on across block boundaries (marked by
        line breaks); only the part inside the quote's block counts here, so an ad put in
        above the paragraph, or a widget that sent less context, still merges. Positions
        never count: they move whenever anything above the quote changes. A page comment
        has no quote, so its own text stands in for it: two readers sending the same
        comment merge, different comments stay apart."""
        prefix = self.prefix.rpartition("\n")[2]
        suffix = self.suffix.partition("\n")[0]
        identity = [self.url, self.kind, self.exact, prefix, suffix]
        if self.kind == "comment":
            identity.append(self.comment)
        # The JSON array of those strings, compact: the keys of reports already stored
        # were made that way, so it must stay byte for byte the same.
        blob = "[" + ",".join(map(_json_string, identity)) + "]"
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Stored:
    report_id: int
    duplicate: bool
    status: str


# A str as a JSON string, non-ASCII text kept as it is: what json.dumps(...,
# ensure_ascii=False) writes for one, without building an encoder on every call.
_json_string = json.encoder.encode_basestring


# What `send_json` writes for a send, in this order. Both engines' batch statements
# (sqlite_writer.sql, postgres_intake.sql) read the fields by position: SQLite takes a
# field out of an array in about half the time it takes one out of an object.
SEND_FIELDS = (
    "site_id", "kind", "url", "title", "lang", "exact", "prefix", "suffix", "dedup_key",
    "suggestion", "comment", "user_agent", "ip_hash", "ip_hash_prev", "fragment",
    "position_start", "position_end",
)  # fmt: skip


def send_json(s: NewSubmission) -> str:
    """One send as the JSON array (SEND_FIELDS) each engine's batch statement reads.
    Encoded as the send arrives, on the event loop: SQLite's single writer, which every
    send waits for, then only joins sends already encoded."""
    # Numbers written as numbers whatever they were given as: nothing else enters the text.
    start, end = (int(s.position[0]), int(s.position[1])) if s.position else ("null", "null")
    text = (
        s.kind, s.url, s.title, s.lang, s.exact, s.prefix, s.suffix, s.dedup_key(),
        s.suggestion, s.comment, s.user_agent, s.ip_hash, s.ip_hash_prev or s.ip_hash,
        s.fragment,
    )  # fmt: skip
    return f"[{int(s.site_id)},{','.join(map(_json_string, text))},{start},{end}]"


def sends_json(sends: list[str]) -> str:
    """A batch of sends, each from `send_json`, as one JSON array; a send's place in it
    is its number in the batch."""
    return "[" + ",".join(sends) + "]"


def batch_outcome(outcome: list[tuple[int, str, Any]], sends: int) -> list[Stored]:
    """Each send's (report id, status, existed before the batch), in send order, as
    Stored: a send is a duplicate if its report existed before this batch, or an
    earlier send in this batch opened it."""
    if len(outcome) != sends:
        raise RuntimeError(f"stored {len(outcome)} submissions for {sends} sends")
    stored, opened = [], set()
    for report_id, status, existed in outcome:
        stored.append(Stored(report_id, bool(existed) or report_id in opened, status))
        opened.add(report_id)
    return stored


def store_submissions(conn: sqlite3.Connection, sends: list[str]) -> list[Stored]:
    """SQLite's batched write, run on the writer's thread: merge every send (encoded by
    `send_json`) into its open report (or open one) and keep each send whole, with one
    statement however many sends there are."""
    # The trigger intake_batch_store (store/sqlite_writer.sql) does the writing, all in
    # this one statement, which is also its own transaction, and hands back the outcome.
    ((results,),) = conn.execute(
        "INSERT INTO temp.intake_batch (sends, now) VALUES (?, ?) "
        "RETURNING (SELECT results FROM temp.intake_results)",
        (sends_json(sends), time.time()),
    ).fetchall()
    return batch_outcome(json.loads(results)[::-1], len(sends))
