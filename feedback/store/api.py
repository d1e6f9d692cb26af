"""What the token API reads and changes beyond the queue's own queries."""

from __future__ import annotations

from dataclasses import dataclass

from feedback.store.actions import Outcome, _move, _reports, new_action_id
from feedback.store.engine import Row, Store, Tx
from feedback.store.queue import report_by_id


async def report_in(store: Store, report_id: int, site_ids: list[int]) -> Row | None:
    """The report if it belongs to one of `site_ids`."""
    return await report_by_id(store, report_id, site_ids)


async def user_emails(store: Store) -> dict[int, str]:
    return {r[0]: r[1] for r in await store.fetchall("SELECT id, email FROM users")}


async def edit_templates(store: Store) -> dict[int, str]:
    rows = await store.fetchall("SELECT id, edit_url FROM sites WHERE edit_url <> ''")
    return {r[0]: r[1] for r in rows}


async def editor_for_report(store: Store, email: str, report_id: int) -> int | None:
    """An active user with this email who may see the report's site."""
    row = await store.fetchone(
        "SELECT u.id FROM users u, reports r WHERE lower(u.email) = lower(:email) "
        "AND r.id = :report AND u.disabled = 0 AND (u.role = 'admin' OR EXISTS "
        "(SELECT 1 FROM user_sites us WHERE us.user_id = u.id AND us.site_id = r.site_id))",
        {"email": email.strip(), "report": report_id},
    )
    return int(row[0]) if row else None


@dataclass(frozen=True)
class ApiChange:
    site_id: int
    site_key: str
    from_status: str
    status_changed: bool
    refused: str = ""


async def change_report(
    store: Store,
    report_id: int,
    *,
    token_id: int,
    status: str | None,
    reason: str,
    assignee_id: int | None | bool,
    note: str | None,
    now: float,
) -> ApiChange:
    """Status (with its reason), assignee and note, all in one transaction. The history
    names the token's creator as the editor, and the token in the note."""

    async def unit(tx: Tx) -> ApiChange:
        rows = await _reports(tx, [report_id], None)
        row = rows[0]
        creator = await tx.fetchone(
            "SELECT created_by, name FROM api_tokens WHERE id = ?", (token_id,)
        )
        user_id = creator[0] if creator else None
        label = f"API token {creator[1] or token_id}" if creator else "API"
        changed = False
        if status is not None and status != row["status"]:
            outcome = Outcome(new_action_id())
            await _move(tx, row, status, user_id, now, outcome.action_id, outcome)
            if outcome.refused:
                return ApiChange(row["site_id"], row["site_key"], row["status"], False,
                                 next(iter(outcome.refused.values())))  # fmt: skip
            changed = bool(outcome.changed)
            if changed:
                await tx.execute(
                    "UPDATE report_events SET note = :note WHERE action_id = :action",
                    {
                        "note": f"{reason} ({label})" if reason else label,
                        "action": outcome.action_id,
                    },  # fmt: skip
                )
        if assignee_id is not False:
            await tx.execute(
                "UPDATE reports SET assignee_id = ? WHERE id = ?", (assignee_id, report_id)
            )
        if note is not None:
            await tx.execute("UPDATE reports SET note = ? WHERE id = ?", (note, report_id))
        return ApiChange(row["site_id"], row["site_key"], row["status"], changed)

    return await store.write(unit)
