"""Sites and the origins each one may send reports from."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import aiosqlite

from feedback.database import Database


@dataclass(frozen=True)
class Site:
    id: int
    key: str
    name: str
    origins: frozenset[str]
    created_at: float


def new_site_key() -> str:
    # Never starting with "-" or "_": a key is typed after --site on command lines.
    while True:
        key = secrets.token_urlsafe(12)
        if key[0].isalnum():
            return key


async def _origins_by_site(conn: aiosqlite.Connection) -> dict[int, set[str]]:
    rows = await conn.execute_fetchall("SELECT site_id, origin FROM site_origins")
    out: dict[int, set[str]] = {}
    for site_id, origin in rows:
        out.setdefault(site_id, set()).add(origin)
    return out


async def add_site(db: Database, name: str, origins: list[str]) -> Site:
    key = new_site_key()
    now = time.time()

    async def unit(conn: aiosqlite.Connection) -> int:
        cur = await conn.execute(
            "INSERT INTO sites (key, name, created_at) VALUES (?, ?, ?)", (key, name, now)
        )
        site_id = cur.lastrowid
        await conn.executemany(
            "INSERT OR IGNORE INTO site_origins (site_id, origin) VALUES (?, ?)",
            [(site_id, o) for o in origins],
        )
        return int(site_id)

    site_id = await db.write(unit)
    return Site(site_id, key, name, frozenset(origins), now)


async def update_site(db: Database, site_id: int, name: str, origins: list[str]) -> None:
    async def unit(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE sites SET name = ? WHERE id = ?", (name, site_id))
        await conn.execute("DELETE FROM site_origins WHERE site_id = ?", (site_id,))
        await conn.executemany(
            "INSERT OR IGNORE INTO site_origins (site_id, origin) VALUES (?, ?)",
            [(site_id, o) for o in origins],
        )

    await db.write(unit)


async def list_sites(db: Database) -> list[Site]:
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, key, name, created_at FROM sites ORDER BY name COLLATE NOCASE, id"
        )
        origins = await _origins_by_site(conn)
    return [
        Site(r["id"], r["key"], r["name"], frozenset(origins.get(r["id"], ())), r["created_at"])
        for r in rows
    ]


async def site_by_key(db: Database, key: str) -> Site | None:
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, key, name, created_at FROM sites WHERE key = ?", (key,)
        )
        if not rows:
            return None
        r = rows[0]
        origin_rows = await conn.execute_fetchall(
            "SELECT origin FROM site_origins WHERE site_id = ?", (r["id"],)
        )
    return Site(r["id"], r["key"], r["name"], frozenset(o[0] for o in origin_rows), r["created_at"])


async def site_by_id(db: Database, site_id: int) -> Site | None:
    row = await db.fetchone("SELECT key FROM sites WHERE id = ?", (site_id,))
    return await site_by_key(db, row["key"]) if row else None


class SiteCache:
    """Sites by key, and every registered origin, kept in memory for a few seconds.

    Intake asks for the site on every report. An entry older than `ttl` is still
    served while one background lookup refreshes it, so a busy server never stalls
    every request on the database at once; sites added by the CLI in another process
    show up at once (an unknown key is always looked up), and changes made in this
    process are seen at once via `invalidate()`.
    """

    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._sites: dict[str, tuple[float, Site | None]] = {}
        self._origins: tuple[float, frozenset[str]] | None = None
        self._lookups: dict[str, asyncio.Future[Site | None]] = {}
        self._generation = 0

    def invalidate(self) -> None:
        self._sites.clear()
        self._origins = None
        self._lookups.clear()
        self._generation += 1  # lookups already under way may have read the old rows

    async def get(self, key: str) -> Site | None:
        hit = self._sites.get(key)
        if hit is not None:
            if time.monotonic() - hit[0] >= self.ttl and key not in self._lookups:
                self._lookup(key)
            return hit[1]
        lookup = self._lookups.get(key) or self._lookup(key)
        return await asyncio.shield(lookup)

    def _lookup(self, key: str) -> asyncio.Future[Site | None]:
        """One lookup per key at a time, however many requests are waiting for it."""
        lookup = asyncio.ensure_future(site_by_key(self.db, key))
        self._lookups[key] = lookup
        now, generation = time.monotonic(), self._generation

        def store(done: asyncio.Future[Site | None]) -> None:
            if self._lookups.get(key) is done:
                del self._lookups[key]
            if done.cancelled() or done.exception() is not None:
                return
            if generation != self._generation:
                return
            if len(self._sites) > 10_000:  # unknown keys must not grow this without bound
                self._sites.clear()
            self._sites[key] = (now, done.result())

        lookup.add_done_callback(store)
        return lookup

    async def known_origins(self) -> frozenset[str]:
        now = time.monotonic()
        if self._origins is not None and now - self._origins[0] < self.ttl:
            return self._origins[1]
        rows = await self.db.fetchall("SELECT DISTINCT origin FROM site_origins")
        origins = frozenset(r[0] for r in rows)
        self._origins = (now, origins)
        return origins
