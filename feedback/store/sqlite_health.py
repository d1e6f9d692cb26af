"""What can stop an SQLite file from taking writes, checked without trusting `SELECT 1`:
the file or its folder made read-only or immutable, a full disk, and, as the last word,
a real write that fails."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

# Below this much free space a write is likely to fail half-way: call it full.
MIN_FREE_BYTES = 16 * 1024 * 1024
# A real write is tried at most this often, however often the health check is asked.
PROBE_INTERVAL = 5.0


def file_problems(path: str) -> list[str]:
    """Problems visible on the file system, without touching the database."""
    if path == ":memory:":
        return []
    problems = []
    folder = Path(path).expanduser().resolve().parent
    for name in (path, path + "-wal", path + "-shm"):
        # access() answers for immutable files too, even to root.
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


class WriteProbe:
    """Commits a harmless write now and then: rewriting the schema version with its own
    value writes and syncs a real page without touching any table."""

    def __init__(self) -> None:
        self._at = -PROBE_INTERVAL
        self._problem: str | None = None
        self._lock = asyncio.Lock()

    async def run(self, db: Any) -> str | None:
        async with self._lock:
            if time.monotonic() - self._at < PROBE_INTERVAL:
                return self._problem
            try:
                await asyncio.wait_for(db.write(_touch_header), timeout=5)
            except (sqlite3.Error, OSError, RuntimeError, TimeoutError) as exc:
                self._problem = f"a test write failed: {type(exc).__name__}: {exc}"
            else:
                self._problem = None
            self._at = time.monotonic()
            return self._problem


async def _touch_header(conn: Any) -> None:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    await conn.execute(f"PRAGMA user_version = {int(row[0])}")
