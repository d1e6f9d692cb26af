"""Dashboard accounts: scrypt password hashes, roles, the sites an editor may see,
and the record of failed sign-ins that throttling reads."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from feedback.store.engine import Row, Store, Tx

ROLES = ("admin", "editor")
# scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MiB, the usual interactive setting.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
THROTTLE_WINDOW = 15 * 60


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(digest) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


# Spent on unknown emails too, so a sign-in takes as long whether the account exists or not.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    disabled: bool
    site_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def visible_sites(self) -> list[int] | None:
        """None means every site."""
        return None if self.is_admin else sorted(self.site_ids)

    def may_see(self, site_id: int) -> bool:
        return self.is_admin or site_id in self.site_ids


class UserError(ValueError):
    """A user-facing problem with an account change."""


async def _site_ids(tx: Tx, user_id: int) -> frozenset[int]:
    rows = await tx.fetchall("SELECT site_id FROM user_sites WHERE user_id = ?", (user_id,))
    return frozenset(r[0] for r in rows)


def _user(row: Row, sites: frozenset[int]) -> User:
    return User(row["id"], row["email"], row["role"], bool(row["disabled"]), sites)


async def user_by_id(store: Store, user_id: int) -> User | None:
    async with store.read() as tx:
        row = await tx.fetchone(
            "SELECT id, email, role, disabled FROM users WHERE id = ?", (user_id,)
        )
        if row is None:
            return None
        return _user(row, await _site_ids(tx, user_id))


# Addresses are matched whatever their case (ASCII letters, as SQLite's NOCASE does).
_BY_EMAIL = "lower(email) = lower(?)"
_ADD_SITE = "INSERT INTO user_sites (user_id, site_id) VALUES (?, ?) ON CONFLICT DO NOTHING"


async def credentials(store: Store, email: str) -> tuple[int, str, bool] | None:
    row = await store.fetchone(
        f"SELECT id, password_hash, disabled FROM users WHERE {_BY_EMAIL}", (email.strip(),)
    )
    return (row["id"], row["password_hash"], bool(row["disabled"])) if row else None


async def list_users(store: Store) -> list[User]:
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT id, email, role, disabled FROM users ORDER BY email")
        links = await tx.fetchall("SELECT user_id, site_id FROM user_sites")
    by_user: dict[int, set[int]] = {}
    for user_id, site_id in links:
        by_user.setdefault(user_id, set()).add(site_id)
    return [_user(r, frozenset(by_user.get(r["id"], ()))) for r in rows]


def _check(email: str, role: str) -> str:
    email = email.strip()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise UserError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    return email


async def add_user(store: Store, email: str, password: str, role: str, site_ids: list[int]) -> int:
    email = _check(email, role)
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    password_hash = hash_password(password)

    async def unit(tx: Tx) -> int:
        if await tx.fetchone(f"SELECT 1 FROM users WHERE {_BY_EMAIL}", (email,)):
            raise UserError(f"a user {email} already exists")
        row = await tx.fetchone(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (email, password_hash, role, time.time()),
        )
        assert row is not None
        user_id = int(row[0])
        await tx.executemany(_ADD_SITE, [(user_id, s) for s in site_ids])
        return user_id

    return await store.write(unit)


async def update_user(
    store: Store, user_id: int, role: str, site_ids: list[int], disabled: bool
) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")

    async def unit(tx: Tx) -> None:
        await tx.execute(
            "UPDATE users SET role = ?, disabled = ? WHERE id = ?",
            (role, int(disabled), user_id),
        )
        await tx.execute("DELETE FROM user_sites WHERE user_id = ?", (user_id,))
        await tx.executemany(_ADD_SITE, [(user_id, s) for s in site_ids])

    await store.write(unit)


async def set_password(store: Store, email: str, password: str) -> None:
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    password_hash = hash_password(password)

    async def unit(tx: Tx) -> int:
        return await tx.execute(
            f"UPDATE users SET password_hash = ? WHERE {_BY_EMAIL}", (password_hash, email.strip())
        )

    if not await store.write(unit):
        raise UserError(f"no user {email}")


async def recent_failures(store: Store, keys: list[str], now: float) -> int:
    """The most failures any one of `keys` (account, address) had in the window."""
    worst = 0
    for key in keys:
        row = await store.fetchone(
            "SELECT count(*) FROM login_failures WHERE who = ? AND at > ?",
            (key, now - THROTTLE_WINDOW),
        )
        worst = max(worst, row[0] if row else 0)
    return worst


async def record_failure(store: Store, keys: list[str], now: float) -> None:
    async def unit(tx: Tx) -> None:
        await tx.execute("DELETE FROM login_failures WHERE at < ?", (now - THROTTLE_WINDOW,))
        await tx.executemany(
            "INSERT INTO login_failures (who, at) VALUES (?, ?)", [(k, now) for k in keys]
        )

    await store.write(unit)
