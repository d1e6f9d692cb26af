"""GET /healthz (ready: can the service store a report right now?) and /healthz/live
(is the process serving at all?).

Readiness is judged from what actually happens, not from a `SELECT 1`: a database file
that has become read-only or immutable, a full disk, or a recent write that failed make
the service not ready until a write succeeds again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# Below this much free space a write is likely to fail half-way: call it full.
MIN_FREE_BYTES = 16 * 1024 * 1024
# A real write is tried at most this often, however often the health check is asked.
PROBE_INTERVAL = 5.0
# A report that could not be stored keeps the service not ready this long, unless a
# later report is stored (a test write succeeding is not enough: it touches no table).
FAILURE_MEMORY = 30.0
NO_STORE = {"Cache-Control": "no-store"}


class Health:
    """What the service knows about its own ability to store reports."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.failed_at: float | None = None
        self.failure = ""
        self._probe_at = 0.0
        self._probe_problem: str | None = None
        self._probe_lock = asyncio.Lock()

    def write_failed(self, exc: BaseException) -> None:
        self.failed_at = time.time()
        self.failure = f"{type(exc).__name__}: {exc}"

    def write_ok(self) -> None:
        if self.failed_at is not None:
            self.failed_at = None
            self.failure = ""

    def file_problems(self) -> list[str]:
        """Problems visible on the file system, without touching the database."""
        path = self.db.path
        if path == ":memory:":
            return []
        problems = []
        folder = Path(path).expanduser().resolve().parent
        for name in (path, path + "-wal", path + "-shm"):
            if os.path.exists(name) and not os.access(name, os.W_OK):
                problems.append(f"{Path(name).name} is not writable (read-only or immutable)")
        if not os.access(folder, os.W_OK):
            problems.append(f"the folder {folder} is not writable")
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            problems.append(f"cannot read free space: {exc}")
        else:
            if free < MIN_FREE_BYTES:
                problems.append(f"the disk is full ({free // 1024} KiB free)")
        return problems

    async def probe(self) -> str | None:
        """Commit a real (harmless) write, at most every PROBE_INTERVAL seconds."""
        async with self._probe_lock:
            now = time.monotonic()
            if now - self._probe_at < PROBE_INTERVAL:
                return self._probe_problem
            try:
                await asyncio.wait_for(self.db.write(_touch_header), timeout=5)
            except (sqlite3.Error, OSError, RuntimeError, TimeoutError) as exc:
                self._probe_problem = f"a test write failed: {type(exc).__name__}: {exc}"
            else:
                self._probe_problem = None
            self._probe_at = time.monotonic()
            return self._probe_problem

    async def check(self) -> tuple[bool, dict[str, Any]]:
        problems = self.file_problems()
        if self.db.writer is None:
            problems.append("the database writer is not running")
        if not problems:
            found = await self.probe()
            if found:
                problems.append(found)
        if self.failed_at is not None and time.time() - self.failed_at < FAILURE_MEMORY:
            problems.append(f"the last report could not be stored: {self.failure}")
        info: dict[str, Any] = {
            "schema_version": await self._schema_version(),
            "writer_queue": self._queue_depth(),
        }
        return not problems, {"problems": problems, **info}

    async def _schema_version(self) -> int | None:
        try:
            row = await self.db.fetchone("PRAGMA user_version")
        except sqlite3.Error:
            return None
        return int(row[0]) if row else None

    def _queue_depth(self) -> int:
        writer = self.db.writer
        if writer is None:
            return 0
        return writer._items.qsize() + len(writer._units)


async def _touch_header(conn: Any) -> None:
    # Rewrites the schema version with its own value: a real page written and synced,
    # no table touched.
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    await conn.execute(f"PRAGMA user_version = {int(row[0])}")


async def healthz(request: Request) -> Response:
    health: Health = request.app.state.services.extras["health"]
    ready, info = await health.check()
    body = {"status": "ok" if ready else "error", "live": True, "ready": ready, **info}
    return JSONResponse(body, status_code=200 if ready else 503, headers=NO_STORE)


async def livez(request: Request) -> Response:
    # Answered from the event loop alone: if this responds, the process can serve.
    return JSONResponse({"status": "ok", "live": True}, headers=NO_STORE)
