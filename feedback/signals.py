"""A tiny in-process event hub: intake and the dashboard announce, listeners react.

A listener is a plain function, called at once (for the quick ones that only wake
something up or queue the event: intake announces every report, and a task per report
and listener would cost it), or an async function, run in a task of its own so the
announcer never waits. A failing listener is logged, never propagated to the request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("feedback.signals")

Listener = Callable[[dict[str, Any]], Awaitable[None] | None]
Relay = Callable[[str, dict[str, Any]], None]

REPORT_CREATED = "report.created"
REPORT_UPDATED = "report.updated"  # a duplicate merged into an open report
REPORT_STATUS_CHANGED = "report.status_changed"


class Signals:
    def __init__(self) -> None:
        # Each listener with whether it is async, decided once when it connects.
        self._listeners: dict[str, list[tuple[Listener, bool]]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by a store whose data other processes serve too: it passes each event on to
        # them, and brings theirs back through emit_local.
        self.relay: Relay | None = None

    def connect(self, event: str, listener: Listener) -> None:
        self._listeners[event].append((listener, inspect.iscoroutinefunction(listener)))

    def disconnect(self, event: str, listener: Listener) -> None:
        listeners = self._listeners.get(event, [])
        for entry in listeners:
            if entry[0] == listener:
                listeners.remove(entry)
                return

    def has_listeners(self, event: str) -> bool:
        return self.relay is not None or bool(self._listeners.get(event))

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if self.relay is not None:
            self.relay(event, payload)
        self.emit_local(event, payload)

    def emit_local(self, event: str, payload: dict[str, Any]) -> None:
        """Only this process's listeners: for events that other processes emitted."""
        for listener, is_async in list(self._listeners.get(event, ())):
            if not is_async:
                try:
                    listener(payload)
                except Exception:
                    log.exception("listener for %s failed", event)
                continue
            task = asyncio.create_task(self._call(event, listener, payload))  # type: ignore[arg-type]
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
