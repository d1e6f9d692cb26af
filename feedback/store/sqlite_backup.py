"""`feedback backup` on SQLite: SQLite's online backup API, from a connection of its own.

The copy is taken in one step, inside one read transaction: in WAL mode that transaction
sees the database exactly as it was when it began, while the service's writer goes on
committing beside it. So the copy holds every report acknowledged before the backup
started, and nothing half-written. It is written next to the target and renamed into
place only once complete and checked.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from feedback.store.engine import StoreError


def backup_file(source: str, target: str) -> int:
    dest = Path(target).expanduser()
    if dest.exists():
        raise StoreError(f"{dest} already exists; give a new file name")
    if not dest.parent.is_dir():
        raise StoreError(f"folder {dest.parent} does not exist")
    if not Path(source).exists():
        raise StoreError(f"no database at {source}")
    partial = dest.with_name(dest.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            out = sqlite3.connect(partial)
            try:
                src.backup(out, pages=-1)  # one step: one consistent snapshot
                out.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
                (check,) = out.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    raise StoreError(f"the copy failed its check: {check}")
            finally:
                out.close()
        finally:
            src.close()
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        partial.replace(dest)
    except sqlite3.Error as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise StoreError(f"backup failed: {exc}") from None
    return dest.stat().st_size
