"""A tiny in-process event hub: intake and the dashboard announce, listeners react.

Listeners are async callables; `emit` runs them without making the announcer wait,
and a failing listener is logged, never propagated back to the request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("feedback.signals")

Listener = Callable[[dict[str, Any]], Awaitable[None]]
Relay = Callable[[str, dict[str, Any]], None]

REPORT_CREATED = "report.created"
REPORT_UPDATED = "report.updated"  # a duplicate merged into an open report
REPORT_STATUS_CHANGED = "report.status_changed"


class Signals:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by a store whose data other processes serve too: it passes each event on to
        # them, and brings theirs back through emit_local.
        self.relay: Relay | None = None

    def connect(self, event: str, listener: Listener) -> None:
        self._listeners[event].append(listener)

    def disconnect(self, event: str, listener: Listener) -> None:
        if listener in self._listeners.get(event, []):
            self._listeners[event].remove(listener)

    def has_listeners(self, event: str) -> bool:
        return self.relay is not None or bool(self._listeners.get(event))

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if self.relay is not None:
            self.relay(event, payload)
        self.emit_local(event, payload)

    def emit_local(self, event: str, payload: dict[str, Any]) -> None:
        """Only this process's listeners: for events that other processes emitted."""
        for listener in list(self._listeners.get(event, ())):
            task = asyncio.create_task(self._call(event, listener, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _call(event: str, listener: Listener, payload: dict[str, Any]) -> None:
        try:
            await listener(payload)
        except Exception:
            log.exception("listener for %s failed", event)

    async def drain(self) -> None:
        """Wait for listeners still running (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
