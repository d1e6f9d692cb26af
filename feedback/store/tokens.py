"""API tokens: scoped to sites and to read or write; only a hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from feedback.store.engine import Store, Tx

SCOPES = ("read", "write")
PREFIX = "fbk_"
# last_used_at is written at most this often per token, not on every request.
TOUCH_EVERY = 60.0


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    scope: str
    site_ids: frozenset[int]
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    site_keys: tuple[str, ...] = ()

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough, there is nothing to guess.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


async def add_token(
    store: Store,
    *,
    name: str,
    scope: str,
    site_ids: list[int],
    created_by: int | None,
    now: float,
) -> tuple[int, str]:
    """(id, token). The token is shown once and never stored."""
    if scope not in SCOPES:
        raise ValueError("scope must be read or write")
    if not site_ids:
        raise ValueError("a token needs at least one site")
    token = new_token()

    async def unit(tx: Tx) -> int:
        row = await tx.fetchone(
            "INSERT INTO api_tokens (name, token_hash, scope, created_by, created_at) "
            "VALUES (:name, :hash, :scope, :by, :now) RETURNING id",
            {"name": name, "hash": hash_token(token), "scope": scope, "by": created_by, "now": now},
        )
        assert row is not None
        token_id = int(row[0])
        await tx.executemany(
            "INSERT INTO api_token_sites (token_id, site_id) VALUES (?, ?)",
            [(token_id, s) for s in sorted(set(site_ids))],
        )
        return token_id

    return await store.write(unit), token


async def list_tokens(store: Store, *, include_revoked: bool = True) -> list[Token]:
    async with store.read() as tx:
        rows = await tx.fetchall(
            "SELECT id, name, scope, created_at, last_used_at, revoked_at FROM api_tokens "
            "WHERE (:all OR revoked_at IS NULL) ORDER BY id",
            {"all": include_revoked},
        )
        links = await tx.fetchall(
            "SELECT t.token_id, t.site_id, s.key FROM api_token_sites t "
            "JOIN sites s ON s.id = t.site_id ORDER BY s.key"
        )
    sites: dict[int, list[tuple[int, str]]] = {}
    for token_id, site_id, key in links:
        sites.setdefault(token_id, []).append((site_id, key))
    return [
        Token(
            id=r["id"],
            name=r["name"],
            scope=r["scope"],
            site_ids=frozenset(s for s, _ in sites.get(r["id"], ())),
            created_at=r["created_at"],
            last_used_at=r["last_used_at"],
            revoked_at=r["revoked_at"],
            site_keys=tuple(k for _, k in sites.get(r["id"], ())),
        )
        for r in rows
    ]


async def revoke_token(store: Store, token_id: int, now: float) -> bool:
    async def unit(tx: Tx) -> int:
        return await tx.execute(
            "UPDATE api_tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
            {"now": now, "id": token_id},
        )

    return bool(await store.write(unit))


async def token_for(store: Store, token: str, now: float) -> Token | None:
    """The live token this secret is, noting its use; None if unknown or revoked."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    async with store.read() as tx:
        row = await tx.fetchone(
            "SELECT id, name, scope, created_at, last_used_at, revoked_at FROM api_tokens "
            "WHERE token_hash = ?",
            (digest,),
        )
        if row is None or row["revoked_at"] is not None:
            return None
        sites = await tx.fetchall(
            "SELECT site_id FROM api_token_sites WHERE token_id = ?", (row["id"],)
        )
    if row["last_used_at"] is None or now - row["last_used_at"] > TOUCH_EVERY:

        async def touch(tx: Tx) -> None:
            await tx.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, row["id"])
            )

        await store.write(touch)
    return Token(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        site_ids=frozenset(s[0] for s in sites),
        created_at=row["created_at"],
        last_used_at=now,
        revoked_at=None,
    )
