"""Small background duties: refused-send counts written in batches, and reader addresses
forgotten after 90 days."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from feedback.store.refusals import add_refusals, forget_old_addresses, site_for_origin

log = logging.getLogger("feedback")
FLUSH_EVERY = 5.0
FORGET_EVERY = 3600.0


class RefusalCounter:
    """Refused sends counted in memory and written every few seconds, so a broken embed
    on a busy site (or a flood of bad sends) costs one small write, not one per send."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.pending: dict[tuple[int, str, str], tuple[int, float]] = {}

    def add(self, site_id: int, reason: str, origin: str) -> None:
        key = (site_id, reason, origin[:200])
        if key not in self.pending and len(self.pending) >= self.limit:
            return  # a flood of made-up origins must not grow this without bound
        n, _ = self.pending.get(key, (0, 0.0))
        self.pending[key] = (n + 1, time.time())

    async def flush(self, store: Any) -> None:
        """Write the counts; a send with an unknown key (site 0 here) counts for the site
        its origin is registered to."""
        pending, self.pending = self.pending, {}
        resolved: dict[tuple[int, str, str], tuple[int, float]] = {}
        for (site_id, reason, origin), (n, at) in pending.items():
            if site_id == 0:
                found = await site_for_origin(store, origin)
                if found is None:
                    continue
                site_id = found
            old_n, old_at = resolved.get((site_id, reason, origin), (0, 0.0))
            resolved[(site_id, reason, origin)] = (old_n + n, max(at, old_at))
        await add_refusals(store, resolved)


class Housekeeping:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="feedback-housekeeping")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(Exception):
            await self.svc.refusals.flush(self.svc.store)

    async def _run(self) -> None:
        last_forget = 0.0
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                await self.svc.refusals.flush(self.svc.store)
                if time.time() - last_forget > FORGET_EVERY:
                    await forget_old_addresses(self.svc.store, time.time())
                    last_forget = time.time()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")
