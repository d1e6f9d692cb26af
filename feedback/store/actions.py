"""What editors do to reports: change status (one or many), assign, note, undo.

Every change writes a `report_events` row carrying the action's id, so the whole
action (a bulk one too) can be undone as one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from feedback.store.engine import Row, Store, Tx
from feedback.store.reports import OPEN_STATUSES, STATUSES

ACTIONS = ("fixed", "rejected", "spam", "in_progress", "new")


@dataclass(frozen=True)
class Change:
    report_id: int
    site_id: int
    site_key: str
    from_status: str
    to_status: str


@dataclass
class Outcome:
    action_id: str
    changed: list[Change] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def new_action_id() -> str:
    return secrets.token_hex(8)


async def _reports(tx: Tx, ids: list[int], visible: list[int] | None) -> list[Row]:
    """The reports, locked for this transaction where the engine locks rows."""
    return await tx.fetchall(
        tx.sql.REPORTS_BY_IDS,
        {"ids": ids, "all": visible is None, "visible": visible or []},
    )


async def _open_twin(tx: Tx, row: Row) -> int | None:
    """A newer open report of the same quote; reopening this one would clash with it."""
    rows = await tx.fetchall(
        "SELECT id FROM reports WHERE site_id = ? AND dedup_key = ? AND id <> ? "
        "AND status IN ('new', 'in_progress')",
        (row["site_id"], row["dedup_key"], row["id"]),
    )
    return rows[0][0] if rows else None


async def _move(
    tx: Tx,
    row: Row,
    to: str,
    user_id: int,
    now: float,
    action_id: str,
    outcome: Outcome,
    undoes: str | None = None,
) -> None:
    if row["status"] == to:
        return
    if to in OPEN_STATUSES and row["status"] not in OPEN_STATUSES:
        twin = await _open_twin(tx, row)
        if twin is not None:
            outcome.refused[row["id"]] = (
                f"Report #{row['id']} cannot be reopened: report #{twin} is already open "
                "for the same quote."
            )
            return
    closed = to not in OPEN_STATUSES
    await tx.execute(
        "UPDATE reports SET status = ?, resolved_at = ?, resolved_by = ? WHERE id = ?",
        (to, now if closed else None, user_id if closed else None, row["id"]),
    )
    await tx.execute(
        "INSERT INTO report_events (report_id, user_id, from_status, to_status, created_at, "
        "action_id, undoes) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (row["id"], user_id, row["status"], to, now, action_id, undoes),
    )
    outcome.changed.append(Change(row["id"], row["site_id"], row["site_key"], row["status"], to))


async def change_status(
    store: Store,
    ids: list[int],
    to: str,
    user_id: int,
    visible: list[int] | None,
    now: float,
    block_until: float | None = None,
) -> Outcome:
    """Move every visible report in `ids` to `to`; optionally block spam senders."""
    if to not in STATUSES:
        raise ValueError(f"unknown status {to!r}")

    async def unit(tx: Tx) -> Outcome:
        outcome = Outcome(new_action_id())
        rows = await _reports(tx, ids, visible)
        for row in rows:
            await _move(tx, row, to, user_id, now, outcome.action_id, outcome)
        if to == "spam" and block_until is not None and rows:
            await tx.execute(
                tx.sql.BLOCK_SENDERS,
                {"until": block_until, "user": user_id, "now": now, "ids": [r["id"] for r in rows]},
            )
        return outcome

    return await store.write(unit)


async def undo_last(store: Store, user_id: int, visible: list[int] | None, now: float) -> Outcome:
    """Put back what this editor's latest not-yet-undone action changed."""
    return await store.write(lambda tx: _undo_last(tx, user_id, visible, now))


async def _undo_last(tx: Tx, user_id: int, visible: list[int] | None, now: float) -> Outcome:
    outcome = Outcome(new_action_id())
    found = await tx.fetchall(
        "SELECT action_id FROM report_events e WHERE user_id = ? AND action_id IS NOT NULL "
        "AND undoes IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM report_events u WHERE u.undoes = e.action_id) "
        "ORDER BY id DESC LIMIT 1",
        (user_id,),
    )
    if not found:
        return outcome
    events = await tx.fetchall(
        "SELECT report_id, from_status, to_status FROM report_events "
        "WHERE action_id = ? ORDER BY id DESC",
        (found[0][0],),
    )
    rows = {r["id"]: r for r in await _reports(tx, [e[0] for e in events], visible)}
    for report_id, from_status, to_status in events:
        row = rows.get(report_id)
        # Someone else moved it since: their decision stands.
        if row is None or row["status"] != to_status or from_status is None:
            continue
        await _move(tx, row, from_status, user_id, now, outcome.action_id, outcome, found[0][0])
    if not outcome.changed and not outcome.refused:
        # Nothing left to restore; record the undo anyway so the next `u` goes further back.
        await tx.execute(
            "INSERT INTO report_events (report_id, user_id, from_status, to_status, created_at, "
            "action_id, undoes, note) VALUES (?, ?, ?, ?, ?, ?, ?, 'nothing to undo')",
            (
                events[0][0],
                user_id,
                events[0][2],
                events[0][2],
                now,
                outcome.action_id,
                found[0][0],
            ),
        )
    return outcome


async def assign_to(
    store: Store,
    report_id: int,
    user_id: int,
    visible: list[int] | None,
    now: float,
) -> Outcome:
    """Assign to the editor; a new report moves to in progress with it."""

    async def unit(tx: Tx) -> Outcome:
        outcome = Outcome(new_action_id())
        rows = await _reports(tx, [report_id], visible)
        if not rows:
            return outcome
        await tx.execute("UPDATE reports SET assignee_id = ? WHERE id = ?", (user_id, report_id))
        if rows[0]["status"] == "new":
            await _move(tx, rows[0], "in_progress", user_id, now, outcome.action_id, outcome)
        return outcome

    return await store.write(unit)


async def save_note(store: Store, report_id: int, note: str, visible: list[int] | None) -> bool:
    async def unit(tx: Tx) -> bool:
        if not await _reports(tx, [report_id], visible):
            return False
        await tx.execute("UPDATE reports SET note = ? WHERE id = ?", (note, report_id))
        return True

    return await store.write(unit)
