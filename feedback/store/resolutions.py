"""The canned note offered with each resolution reason, editable by admins."""

from __future__ import annotations

from feedback.store.actions import RESOLUTIONS
from feedback.store.engine import Store, Tx

DEFAULT_NOTES = {
    "fixed": "Corrected on the page. Thank you!",
    "not_error": "The text is correct as it stands.",
    "duplicate": "Already reported; handled in the kept report.",
    "wont_fix": "We have decided to leave this as it is.",
    "need_info": "We could not tell what needs changing; more detail would help.",
}


async def canned_notes(store: Store) -> dict[str, str]:
    rows = await store.fetchall("SELECT reason, note FROM resolution_notes")
    notes = dict(DEFAULT_NOTES)
    notes.update({r[0]: r[1] for r in rows if r[0] in RESOLUTIONS})
    return notes


async def set_canned_notes(store: Store, notes: dict[str, str]) -> None:
    async def unit(tx: Tx) -> None:
        for reason, note in notes.items():
            if reason not in RESOLUTIONS:
                continue
            await tx.execute(
                "INSERT INTO resolution_notes (reason, note) VALUES (?, ?) "
                "ON CONFLICT (reason) DO UPDATE SET note = excluded.note",
                (reason, note),
            )

    await store.write(unit)
