"""Helpers the notification tests share: destinations, waiting for deliveries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette

from feedback.notify.destinations import prepare
from feedback.store import notify as outbox
from feedback.store.sites import Site


async def add_destination(
    app: Starlette,
    site: Site,
    kind: str,
    target: str,
    *,
    created_by: int | None = None,
    path_prefix: str = "",
    events: str = "report.created",
    digest: str = "off",
) -> tuple[int, str]:
    """(destination id, secret), checked the way the CLI and dashboard check it."""
    svc = app.state.services
    new = await prepare(
        svc.settings, kind=kind, target=target, path_prefix=path_prefix, events=events,
        digest=digest,
    )  # fmt: skip
    dest_id = await outbox.add_destination(svc.store, site.id, new, created_by, time.time())
    return dest_id, new.secret


async def wait_for(check: Callable[[], Any], within: float = 15.0, what: str = "") -> Any:
    """Poll until `check()` (sync or async) is truthy; its value."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def deliveries(app: Starlette, dest_id: int) -> list[Any]:
    return list(await outbox.recent_deliveries(app.state.services.store, dest_id, limit=500))
