"""The delivery worker: outbox events in, messages out, retried until they arrive.

One worker runs in each serving process, started by the lifespan. Instances sharing a
PostgreSQL database split the work without sending anything twice: deliveries are
claimed with FOR UPDATE SKIP LOCKED and leased for a few minutes, and every message has
a unique key per destination. A delivery whose process died mid-lease is picked up
again when the lease runs out; one waiting in backoff is picked up when it is due,
after a restart too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from feedback.notify import formats
from feedback.notify.links import action_urls, edit_url, report_url
from feedback.notify.send import (
    Destination,
    Message,
    Outcome,
    next_try,
    render,
    render_digest,
    send,
)
from feedback.settings import Settings
from feedback.signals import REPORT_STATUS_CHANGED, Signals
from feedback.store import notify as outbox
from feedback.store.engine import Store

log = logging.getLogger("feedback.notify")

# Longer than any one send can take (HTTP and SMTP time out well before); a delivery
# whose process died mid-send is tried again once its lease runs out.
LEASE = 120.0
BATCH = 20
IDLE_POLL = 1.0


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        http: httpx.AsyncClient,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.http = http
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()

    def listen(self, signals: Signals) -> None:
        """Wake up as soon as an editor changes a report. New reports are found by the
        next poll instead: intake is the hot path, and a second's wait costs nobody."""
        signals.connect(REPORT_STATUS_CHANGED, self._poke)

    def _poke(self, _payload: dict[str, Any]) -> None:
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled; errors are logged and retried, never fatal."""
        while True:
            # Cleared before the step, not after it: a change made while the step runs
            # must still wake the next one, not be wiped out and wait a whole poll.
            self._wake.clear()
            try:
                busy = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery worker step failed; trying again shortly")
                busy = 0
                await asyncio.sleep(5)
            if busy:
                continue
            await self._idle()

    async def _idle(self) -> None:
        now = self.clock()
        work = await outbox.pending_work(self.store)
        due = work.next_due
        wait = IDLE_POLL if due is None else min(IDLE_POLL, max(0.0, due - now))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()

    async def step(self) -> int:
        """Dispatch the outbox, make due digests, send what is due. Messages sent."""
        now = self.clock()
        cap = self.settings.notify_hourly_cap
        # One read decides which writes are needed: an idle worker never takes the writer.
        work = await outbox.pending_work(self.store)
        made = 0
        if work.events:
            dispatched = await self.store.write(lambda tx: outbox.dispatch_events(tx, now, cap))
            made += dispatched.deliveries
        if work.oldest_held is not None and work.oldest_held < now - now % 3600:
            made += await self.store.write(lambda tx: outbox.make_digests(tx, now))
        if not made and (work.next_due is None or work.next_due > now):
            return 0
        claimed = await self.store.write(lambda tx: outbox.claim_due(tx, now, LEASE, BATCH))
        await asyncio.gather(*(self.deliver(c) for c in claimed))
        return len(claimed)

    async def deliver(self, claimed: outbox.Claimed, *, retry: bool = True) -> Outcome:
        dest = claimed.destination
        target = Destination(dest.id, dest.site_id, dest.kind, dest.target, dest.secret)
        try:
            message = await self.render(claimed, target)
        except Exception as exc:  # a message that cannot be built will never be sendable
            log.exception("could not build delivery %s", claimed.public_id)
            message, outcome = None, Outcome("failed", None, f"could not build message: {exc}")
        if message is None:
            outcome = Outcome("failed", None, "the report no longer exists")
        else:
            try:
                outcome = await send(self.http, self.settings, target, message, claimed.public_id)
            except Exception as exc:  # unforeseen trouble: try again later, like a network error
                log.exception("sending delivery %s failed", claimed.public_id)
                outcome = Outcome("retry", None, f"{type(exc).__name__}: {exc}"[:500])
        await self._record(claimed, outcome, retry)
        return outcome

    async def _record(self, claimed: outbox.Claimed, outcome: Outcome, retry: bool) -> None:
        now = self.clock()
        attempts = claimed.attempts + 1
        state, next_at = outcome.state, now
        if state == "retry":
            if not retry or attempts >= self.settings.delivery_attempts:
                state = "failed"
            else:
                state = "pending"
                next_at = now + next_try(outcome, attempts, self.settings.delivery_backoff)
        if state != "delivered":
            log.warning(
                "delivery %s to destination %s: %s (attempt %d)%s",
                claimed.public_id,
                claimed.destination.id,
                outcome.error or outcome.code,
                attempts,
                "" if state == "pending" else ", giving up",
            )
        await outbox.record_attempt(
            self.store,
            claimed.id,
            state=state,
            attempts=attempts,
            next_at=next_at,
            code=outcome.code,
            error=outcome.error,
            now=now,
        )

    async def render(self, claimed: outbox.Claimed, dest: Destination) -> Message | None:
        acting = await outbox.user_for_links(self.store, claimed.destination)
        if claimed.type == "digest":
            return render_digest(dest, await self._digest(claimed), claimed.public_id)
        if claimed.report_id is None:
            snapshot = sample_snapshot(claimed.destination)
        else:
            found = await outbox.report_snapshot(self.store, claimed.report_id)
            if found is None:
                return None
            snapshot = found
        report = snapshot["report"]
        if claimed.type == "report.updated" and claimed.payload.get("status"):
            report["status"] = claimed.payload["status"]
        event = {
            "type": claimed.type,
            "at": claimed.payload.get("at") or self.clock(),
            "site": snapshot["site"],
            "report": report,
        }
        report["edit_url"] = edit_url(snapshot.get("edit_template", ""), report["url"])
        links = formats.Links(
            report=report_url(self.settings, report["id"]),
            page=formats.page_link(report),
            edit=report["edit_url"],
            actions=action_urls(self.settings, report["id"], acting)
            if acting is not None and claimed.report_id is not None
            else {},
        )
        return render(dest, event, links, claimed.public_id)

    async def _digest(self, claimed: outbox.Claimed) -> formats.Digest:
        p = claimed.payload
        dest = claimed.destination
        new, most, oldest = await outbox.digest_reports(
            self.store, dest.site_id, [int(i) for i in p.get("report_ids", [])]
        )
        reports = [s["report"] for s in new]
        ids = {r["id"] for r in reports}
        ids |= {s["report"]["id"] for s in most} | {s["report"]["id"] for s in oldest}
        return formats.Digest(
            site={"key": dest.site_key, "name": dest.site_name},
            period=p.get("period", "hourly"),
            start=float(p.get("start", 0)),
            end=float(p.get("end", 0)),
            new=reports,
            most_reported=[s["report"] for s in most],
            oldest_open=[s["report"] for s in oldest],
            capped=bool(p.get("capped")),
            report_links={i: report_url(self.settings, i) for i in ids},
        )


def sample_snapshot(dest: outbox.Destination) -> dict[str, Any]:
    """What `feedback notify test` sends when the site has no report yet."""
    now = time.time()
    return {
        "site": {"key": dest.site_key, "name": dest.site_name},
        "edit_template": "",
        "report": {
            "id": 0,
            "status": "new",
            "kind": "typo",
            "url": "https://example.com/sample-article",
            "title": "A sample article",
            "lang": "en",
            "quote": {"exact": "teh", "prefix": "This is ", "suffix": " sample."},
            "suggestion": "the",
            "comment": "This is a test message from feedback.",
            "readers": 1,
            "submissions": 1,
            "first_seen": now,
            "last_seen": now,
        },
    }
