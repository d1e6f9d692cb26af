"""GET /healthz (ready: can the service store a report right now?) and /healthz/live
(is the process serving at all?).

Readiness is judged from what actually happens, not from a `SELECT 1`: the store checks
what its engine can (for SQLite: a read-only or immutable file, a full disk, a test
write that fails), and a report that could not be stored keeps the service not ready for
a while, until one is stored again.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# A report that could not be stored keeps the service not ready this long, unless a
# later report is stored (a test write succeeding is not enough: it touches no table).
FAILURE_MEMORY = 30.0
NO_STORE = {"Cache-Control": "no-store"}


class Health:
    """What the service knows about its own ability to store reports."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.failed_at: float | None = None
        self.failure = ""

    def write_failed(self, exc: BaseException) -> None:
        self.failed_at = time.time()
        self.failure = f"{type(exc).__name__}: {exc}"

    def write_ok(self) -> None:
        if self.failed_at is not None:
            self.failed_at = None
            self.failure = ""

    async def check(self) -> tuple[bool, dict[str, Any]]:
        try:
            found = dict(await self.store.health())
        except Exception as exc:  # the point of the check is to report, not raise
            found = {"writer": False, "problems": [f"the database cannot be reached: {exc}"]}
        problems = list(found.pop("problems", []))
        if not found.pop("writer", False) and not problems:
            problems.append("the database cannot be written")
        if self.failed_at is not None and time.time() - self.failed_at < FAILURE_MEMORY:
            problems.append(f"the last report could not be stored: {self.failure}")
        return not problems, {"problems": problems, **found}


async def healthz(request: Request) -> Response:
    health: Health = request.app.state.services.health
    ready, info = await health.check()
    body = {"status": "ok" if ready else "error", "live": True, "ready": ready, **info}
    return JSONResponse(body, status_code=200 if ready else 503, headers=NO_STORE)


async def livez(request: Request) -> Response:
    # Answered from the event loop alone: if this responds, the process can serve.
    return JSONResponse({"status": "ok", "live": True}, headers=NO_STORE)
