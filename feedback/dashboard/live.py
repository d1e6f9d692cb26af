"""Server-Sent Events: report arrivals and status changes pushed to open dashboards."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from feedback.dashboard.auth import services, signed_in
from feedback.signals import REPORT_CREATED, REPORT_STATUS_CHANGED, REPORT_UPDATED
from feedback.store.users import User

EVENTS = (REPORT_CREATED, REPORT_UPDATED, REPORT_STATUS_CHANGED)
HEARTBEAT = 15.0
# A stream ends on its own after this long and the browser reconnects at once
# (EventSource does that by itself), so a shutting-down server is never held open for long.
LIFETIME = 25.0
QUEUE_LIMIT = 200


@signed_in()
async def live(request: Request, user: User) -> Response:
    signals = services(request).signals
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)

    def listener_for(event: str):
        def listener(payload: dict[str, Any]) -> None:
            if user.may_see(payload.get("site_id", -1)) and not inbox.full():
                inbox.put_nowait({"event": event, **payload})

        return listener

    listeners = [(event, listener_for(event)) for event in EVENTS]
    # Listen before the response starts: the browser counts the stream as open once the
    # headers arrive, and nothing sent after that may be missed.
    for event, listener in listeners:
        signals.connect(event, listener)

    def stop_listening() -> None:
        for event, listener in listeners:
            with contextlib.suppress(ValueError):
                signals.disconnect(event, listener)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 1000\n\n"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + LIFETIME
            while loop.time() < deadline:
                try:
                    item = await asyncio.wait_for(inbox.get(), HEARTBEAT)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: report\ndata: {json.dumps(item)}\n\n"
        finally:
            stop_listening()

    return _EventStream(
        stop_listening,
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _EventStream(StreamingResponse):
    """Stops listening however the response ends, even when the client leaves before the
    first chunk (then the stream's own `finally` never runs)."""

    def __init__(self, on_close: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()
