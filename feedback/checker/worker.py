"""The background checker: soon after a report arrives, and then on a schedule while it
is open, fetch its page and record whether the quote is still there.

Only one instance checks at a time (the store's `exclusive`), fetches to one host are
paced, and a page that cannot be read changes nothing but when it is tried again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from feedback import spelling
from feedback.checker import check
from feedback.checker.fetch import HostPace
from feedback.mail import mail_configured
from feedback.reader_mail import tell_reader
from feedback.signals import REPORT_CREATED, REPORT_STATUS_CHANGED
from feedback.store import actions as store_actions
from feedback.store import checks as store_checks
from feedback.store.refusals import notify_addresses
from feedback.store.sites import site_by_id

log = logging.getLogger("feedback.checker")

RETRY_UNREACHABLE = 3600.0  # an unreachable page is tried again after an hour
BATCH = 10


class Checker:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        settings = svc.settings
        self.every = settings.check_every
        self.cap = settings.check_max_bytes
        self.time_limit = settings.check_timeout
        self.pace = HostPace(settings.check_host_interval)
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.svc.signals.connect(REPORT_CREATED, self._arrived)
        self.task = asyncio.create_task(self._run(), name="feedback-checker")

    async def stop(self) -> None:
        self.svc.signals.disconnect(REPORT_CREATED, self._arrived)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def _arrived(self, payload: dict[str, Any]) -> None:
        self.wake.set()

    async def _run(self) -> None:
        while True:
            # Cleared before the round, not after it: a report arriving while the round
            # runs must still wake the next one, not be wiped out and wait a whole poll.
            self.wake.clear()
            try:
                did = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad round must not stop the checker for good
                log.exception("checker round failed")
                did = 0
            if did:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.svc.settings.check_poll):
                    await self.wake.wait()

    async def round(self) -> int:
        """Check the reports that are due; how many were checked."""
        store = self.svc.store
        async with store.exclusive("checker") as mine:
            if not mine:
                return 0
            due = await store_checks.due_reports(store, time.time(), BATCH)
            if not due:
                return 0
            await asyncio.gather(*(self.check_one(row) for row in due))
            return len(due)

    async def check_one(self, row: Any) -> str:
        """Check one report now and record the verdict; returns it."""
        store = self.svc.store
        now = time.time()
        first = row["checked_at"] is None and row["check_state"] == ""
        if first:
            await self._spelling(row)
        site = await site_by_id(store, row["site_id"])
        if site is None:
            return check.NOT_ALLOWED
        result = await check.check_page(
            self.svc.http,
            url=row["url"],
            exact=row["quote_exact"],
            prefix=row["quote_prefix"],
            suffix=row["quote_suffix"],
            origins=site.origins,
            cap_bytes=self.cap,
            time_limit=self.time_limit,
            pace=self.pace,
        )
        if result.text:
            # What the page says now, for fixing the same words on other pages later.
            await store_checks.remember_page(
                store, row["site_id"], row["url"], row["title"], result.text, now
            )
        if result.verdict in (check.UNREACHABLE,):
            await store_checks.record_check(
                store, row["id"], state=None, now=now, next_due=now + RETRY_UNREACHABLE,
                first=first,
            )  # fmt: skip
            return result.verdict
        if result.verdict in (check.NOT_ALLOWED, check.NOTHING):
            # Never fetchable as it stands: look again only on the regular schedule.
            await store_checks.record_check(
                store, row["id"], state=None, now=now, next_due=now + self.every, first=first
            )
            return result.verdict
        await store_checks.record_check(
            store, row["id"], state=result.verdict, now=now, next_due=now + self.every,
            first=first, not_on_page=first and result.verdict == check.MISSING,
        )  # fmt: skip
        # Only a quote the checker itself once saw can be taken as fixed by its absence.
        if result.verdict == check.FIXED and site.auto_resolve and row["check_state"] == "found":
            await self._auto_resolve(row, site)
        return result.verdict

    async def _auto_resolve(self, row: Any, site: Any) -> None:
        # A reader who asked to hear of the fix hears of it, whoever made it.
        waiting: dict[int, str] = {}
        if mail_configured(self.svc.settings):
            waiting = await notify_addresses(self.svc.store, [row["id"]])
        outcome = await store_actions.resolve(
            self.svc.store, [row["id"]], "fixed", None, None, time.time(),
            note="The checker no longer finds the quote on the page.", actor="checker",
        )  # fmt: skip
        for c in outcome.changed:
            self.svc.signals.emit(
                REPORT_STATUS_CHANGED,
                {
                    "report_id": c.report_id, "site_id": c.site_id, "site_key": c.site_key,
                    "status": c.to_status, "from_status": c.from_status, "by": None,
                    "at": time.time(),
                },
            )  # fmt: skip
            if c.report_id in waiting:
                await tell_reader(self.svc, c.report_id, waiting[c.report_id])

    async def _spelling(self, row: Any) -> None:
        """The service's own suggestion for a one-word typo sent without a correction."""
        if row["kind"] != "typo" or row["any_suggestion"]:
            return
        word = row["quote_exact"].strip()
        if not word or " " in word:
            return
        folder = self.svc.settings.dictionary_dir
        found = await asyncio.to_thread(spelling.suggest, word, row["lang"], folder)
        if found:
            await store_checks.set_service_suggestion(self.svc.store, row["id"], found)
