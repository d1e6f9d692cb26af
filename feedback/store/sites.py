"""Sites and the origins each one may send reports from."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

from feedback.store.engine import Store, Tx


@dataclass(frozen=True)
class Site:
    id: int
    key: str
    name: str
    origins: frozenset[str]
    created_at: float
    disabled: bool = False
    notify_reader: bool = False  # readers may ask to be told when their report is fixed
    auto_resolve: bool = False  # the checker may resolve reports that look fixed
    old_key: str | None = None  # still accepted until old_key_until, after a rotation
    old_key_until: float | None = None


_SITE_COLUMNS = (
    "id, key, name, created_at, disabled, notify_reader, auto_resolve, old_key, old_key_until"
)


def _site(r, origins) -> Site:
    return Site(
        r["id"],
        r["key"],
        r["name"],
        frozenset(origins),
        r["created_at"],
        bool(r["disabled"]),
        bool(r["notify_reader"]),
        bool(r["auto_resolve"]),
        r["old_key"],
        r["old_key_until"],
    )


def plausible_key(key: str) -> bool:
    """Whether `key` has the shape of a site key (URL-safe base64, not too long)."""
    return 0 < len(key) <= 128 and key.isascii() and key.replace("-", "").replace("_", "").isalnum()


def new_site_key() -> str:
    # Never starting with "-" or "_": a key is typed after --site on command lines.
    while True:
        key = secrets.token_urlsafe(12)
        if key[0].isalnum():
            return key


async def _origins_by_site(tx: Tx) -> dict[int, set[str]]:
    rows = await tx.fetchall("SELECT site_id, origin FROM site_origins")
    out: dict[int, set[str]] = {}
    for site_id, origin in rows:
        out.setdefault(site_id, set()).add(origin)
    return out


_ADD_ORIGIN = "INSERT INTO site_origins (site_id, origin) VALUES (?, ?) ON CONFLICT DO NOTHING"


async def add_site(store: Store, name: str, origins: list[str]) -> Site:
    key = new_site_key()
    now = time.time()

    async def unit(tx: Tx) -> int:
        row = await tx.fetchone(
            "INSERT INTO sites (key, name, created_at) VALUES (?, ?, ?) RETURNING id",
            (key, name, now),
        )
        assert row is not None
        site_id = int(row[0])
        await tx.executemany(_ADD_ORIGIN, [(site_id, o) for o in origins])
        return site_id

    site_id = await store.write(unit)
    return Site(site_id, key, name, frozenset(origins), now)


def key_in_grace(site: Site, key: str, now: float) -> bool:
    return key == site.old_key and (site.old_key_until or 0) > now


async def update_site(store: Store, site_id: int, name: str, origins: list[str]) -> None:
    async def unit(tx: Tx) -> None:
        await tx.execute("UPDATE sites SET name = ? WHERE id = ?", (name, site_id))
        await tx.execute("DELETE FROM site_origins WHERE site_id = ?", (site_id,))
        await tx.executemany(_ADD_ORIGIN, [(site_id, o) for o in origins])

    await store.write(unit)


async def list_sites(store: Store) -> list[Site]:
    async with store.read() as tx:
        rows = await tx.fetchall(f"SELECT {_SITE_COLUMNS} FROM sites ORDER BY lower(name), id")
        origins = await _origins_by_site(tx)
    return [_site(r, origins.get(r["id"], ())) for r in rows]


async def _site_where(store: Store, where: str, params: tuple) -> Site | None:
    async with store.read() as tx:
        r = await tx.fetchone(f"SELECT {_SITE_COLUMNS} FROM sites WHERE {where}", params)
        if r is None:
            return None
        origin_rows = await tx.fetchall(
            "SELECT origin FROM site_origins WHERE site_id = ?", (r["id"],)
        )
    return _site(r, (o[0] for o in origin_rows))


async def site_by_key(store: Store, key: str, now: float | None = None) -> Site | None:
    """The site a widget's key names: its current key, or its previous one while the
    grace period after a rotation lasts. Disabled sites are returned too (intake
    refuses them)."""
    site = await _site_where(store, "key = ?", (key,))
    if site is None:
        site = await _site_where(
            store, "old_key = ? AND old_key_until > ?", (key, now or time.time())
        )
    return site


async def site_by_id(store: Store, site_id: int) -> Site | None:
    return await _site_where(store, "id = ?", (site_id,))


async def set_site_flags(
    store: Store, site_id: int, *, disabled: bool, notify_reader: bool, auto_resolve: bool
) -> None:
    await store.write(
        lambda tx: tx.execute(
            "UPDATE sites SET disabled = ?, notify_reader = ?, auto_resolve = ? WHERE id = ?",
            (int(disabled), int(notify_reader), int(auto_resolve), site_id),
        )
    )


async def rotate_key(store: Store, site_id: int, grace_seconds: float, now: float) -> str:
    """A new key for the site; the current one keeps working for `grace_seconds`."""
    key = new_site_key()
    await store.write(
        lambda tx: tx.execute(
            "UPDATE sites SET old_key = key, old_key_until = ?, key = ? WHERE id = ?",
            (now + grace_seconds, key, site_id),
        )
    )
    return key


async def delete_site(store: Store, site_id: int) -> None:
    """The site and everything reported on it, gone for good."""

    async def unit(tx: Tx) -> None:
        reports = "SELECT id FROM reports WHERE site_id = :site"
        await tx.execute(tx.sql.FORGET_SEARCH, {"site": site_id})
        for table in ("report_events", "reader_notify"):
            await tx.execute(
                f"DELETE FROM {table} WHERE report_id IN ({reports})", {"site": site_id}
            )
        await tx.execute(
            f"DELETE FROM submissions WHERE report_id IN ({reports})", {"site": site_id}
        )
        await tx.execute(
            f"UPDATE reports SET duplicate_of = NULL WHERE duplicate_of IN ({reports})",
            {"site": site_id},
        )
        for table in (
            "reports",
            "report_counts",
            "report_daily",
            "user_sites",
            "site_origins",
            "refused_sends",
            "page_texts",
        ):
            await tx.execute(f"DELETE FROM {table} WHERE site_id = :site", {"site": site_id})
        await tx.execute("DELETE FROM sites WHERE id = :site", {"site": site_id})

    await store.write(unit)


async def known_origins(store: Store) -> frozenset[str]:
    rows = await store.fetchall("SELECT DISTINCT origin FROM site_origins")
    return frozenset(r[0] for r in rows)


class SiteCache:
    """Sites by key, and every registered origin, kept in memory for a few seconds.

    Intake asks for the site on every report. An entry older than `ttl` is still
    served while one background lookup refreshes it, so a busy server never stalls
    every request on the database at once; sites added by the CLI in another process
    show up at once (an unknown key is always looked up), and changes made in this
    process are seen at once via `invalidate()`.
    """

    def __init__(self, store: Store, ttl: float = 5.0) -> None:
        self.store = store
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
        if not plausible_key(key):
            # Not a key we could have made (a NUL, a lone surrogate, megabytes): no site,
            # without asking a database that might refuse to even compare it.
            return None
        hit = self._sites.get(key)
        if hit is not None:
            if time.monotonic() - hit[0] >= self.ttl and key not in self._lookups:
                self._lookup(key)
            return hit[1]
        lookup = self._lookups.get(key) or self._lookup(key)
        return await asyncio.shield(lookup)

    def _lookup(self, key: str) -> asyncio.Future[Site | None]:
        """One lookup per key at a time, however many requests are waiting for it."""
        lookup = asyncio.ensure_future(site_by_key(self.store, key))
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
        origins = await known_origins(self.store)
        self._origins = (now, origins)
        return origins
