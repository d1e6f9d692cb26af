"""Closing the loop: the email a reader who asked gets when their report is fixed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from feedback.mail import MailError, send_mail
from feedback.reader_mail import fixed_mail
from feedback.store.queue import report_by_id
from feedback.store.readers import reader_summaries

log = logging.getLogger("feedback")
_sending: set[asyncio.Task] = set()


async def tell_reader(svc: Any, report_id: int, address: str) -> str:
    """Send the one email; a sentence for the editor saying how it went."""
    row = await report_by_id(svc.store, report_id, None)
    if row is None:
        return "The reader could not be told: the report is gone."
    summaries = await reader_summaries(svc.store, {row["id"]: row["quote_exact"]})
    top = summaries[row["id"]].suggestions
    mail = fixed_mail(
        lang=row["lang"], site=row["site_name"], url=row["url"], title=row["title"],
        quote=row["quote_exact"], correction=top[0][0] if top else "",
        prefix=row["quote_prefix"], suffix=row["quote_suffix"],
    )  # fmt: skip
    try:
        await send_mail(svc.settings, address, mail.subject, mail.text)
    except MailError as exc:
        log.warning("could not tell the reader of report %s: %s", report_id, exc)
        return f"The reader could not be told: {exc}"
    return "The reader who asked has been told by email."


def tell_in_background(svc: Any, addresses: dict[int, str]) -> None:
    """For bulk and keyboard actions: the editor does not wait for the mail server."""

    async def run() -> None:
        for report_id, address in addresses.items():
            await tell_reader(svc, report_id, address)

    if addresses:
        task = asyncio.create_task(run())
        _sending.add(task)
        task.add_done_callback(_sending.discard)
