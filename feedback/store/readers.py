"""What the readers of each report said, counted by reader rather than by send: the
distinct suggestions with how many readers made each, and how many readers there were.

A reader is one IP hash on one UTC day, so one browser sending twenty times counts once,
and the count needs no address kept longer than the hash already is."""

from __future__ import annotations

from dataclasses import dataclass, field

from feedback.store.engine import Store


@dataclass
class ReaderSummary:
    readers: int = 0
    sends: int = 0
    # (suggestion, readers who made it), most common first; never the quote itself.
    suggestions: list[tuple[str, int]] = field(default_factory=list)


async def reader_summaries(store: Store, quotes: dict[int, str]) -> dict[int, ReaderSummary]:
    """For each report id (with its quote), its readers, sends and suggestions."""
    out = {report_id: ReaderSummary() for report_id in quotes}
    if not quotes:
        return out
    async with store.read() as tx:
        reader = f"ip_hash || ':' || {tx.sql.SEND_DAY}"
        params = {"ids": list(quotes)}
        totals = await tx.fetchall(
            f"SELECT report_id, count(DISTINCT {reader}), count(*) FROM submissions "
            f"WHERE {tx.sql.SUBMISSIONS_OF} GROUP BY report_id",
            params,
        )
        by_suggestion = await tx.fetchall(
            f"SELECT report_id, suggestion, count(DISTINCT {reader}) FROM submissions "
            f"WHERE {tx.sql.SUBMISSIONS_OF} AND suggestion <> '' "
            "GROUP BY report_id, suggestion",
            params,
        )
    for report_id, readers, sends in totals:
        out[report_id].readers = int(readers)
        out[report_id].sends = int(sends)
    for report_id, suggestion, readers in by_suggestion:
        if suggestion.strip() == quotes[report_id].strip():
            continue  # "recieve → recieve" says nothing
        out[report_id].suggestions.append((suggestion, int(readers)))
    for summary in out.values():
        summary.suggestions.sort(key=lambda pair: (-pair[1], pair[0]))
    return out
