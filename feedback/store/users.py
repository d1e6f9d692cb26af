"""Dashboard accounts: scrypt password hashes, roles, the sites an editor may see,
and the record of failed sign-ins that throttling reads."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import aiosqlite

from feedback.database import Database

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


async def _site_ids(conn: aiosqlite.Connection, user_id: int) -> frozenset[int]:
    rows = await conn.execute_fetchall(
        "SELECT site_id FROM user_sites WHERE user_id = ?", (user_id,)
    )
    return frozenset(r[0] for r in rows)


def _user(row: aiosqlite.Row, sites: frozenset[int]) -> User:
    return User(row["id"], row["email"], row["role"], bool(row["disabled"]), sites)


async def user_by_id(db: Database, user_id: int) -> User | None:
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, email, role, disabled FROM users WHERE id = ?", (user_id,)
        )
        if not rows:
            return None
        return _user(rows[0], await _site_ids(conn, user_id))


async def credentials(db: Database, email: str) -> tuple[int, str, bool] | None:
    row = await db.fetchone(
        "SELECT id, password_hash, disabled FROM users WHERE email = ?", (email.strip(),)
    )
    return (row["id"], row["password_hash"], bool(row["disabled"])) if row else None


async def list_users(db: Database) -> list[User]:
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, email, role, disabled FROM users ORDER BY email"
        )
        links = await conn.execute_fetchall("SELECT user_id, site_id FROM user_sites")
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


async def add_user(db: Database, email: str, password: str, role: str, site_ids: list[int]) -> int:
    email = _check(email, role)
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    password_hash = hash_password(password)

    async def unit(conn: aiosqlite.Connection) -> int:
        rows = await conn.execute_fetchall("SELECT 1 FROM users WHERE email = ?", (email,))
        if rows:
            raise UserError(f"a user {email} already exists")
        cur = await conn.execute(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (email, password_hash, role, time.time()),
        )
        user_id = int(cur.lastrowid or 0)
        await conn.executemany(
            "INSERT OR IGNORE INTO user_sites (user_id, site_id) VALUES (?, ?)",
            [(user_id, s) for s in site_ids],
        )
        return user_id

    return await db.write(unit)


async def update_user(
    db: Database, user_id: int, role: str, site_ids: list[int], disabled: bool
) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")

    async def unit(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "UPDATE users SET role = ?, disabled = ? WHERE id = ?",
            (role, int(disabled), user_id),
        )
        await conn.execute("DELETE FROM user_sites WHERE user_id = ?", (user_id,))
        await conn.executemany(
            "INSERT OR IGNORE INTO user_sites (user_id, site_id) VALUES (?, ?)",
            [(user_id, s) for s in site_ids],
        )

    await db.write(unit)


async def set_password(db: Database, email: str, password: str) -> None:
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    password_hash = hash_password(password)

    async def unit(conn: aiosqlite.Connection) -> int:
        cur = await conn.execute(
            "UPDATE users SET password_hash = ? WHERE email = ?", (password_hash, email.strip())
        )
        return cur.rowcount

    if not await db.write(unit):
        raise UserError(f"no user {email}")


async def recent_failures(db: Database, keys: list[str], now: float) -> int:
    """The most failures any one of `keys` (account, address) had in the window."""
    worst = 0
    for key in keys:
        row = await db.fetchone(
            "SELECT count(*) FROM login_failures WHERE who = ? AND at > ?",
            (key, now - THROTTLE_WINDOW),
        )
        worst = max(worst, row[0] if row else 0)
    return worst


async def record_failure(db: Database, keys: list[str], now: float) -> None:
    async def unit(conn: aiosqlite.Connection) -> None:
        await conn.execute("DELETE FROM login_failures WHERE at < ?", (now - THROTTLE_WINDOW,))
        await conn.executemany(
            "INSERT INTO login_failures (who, at) VALUES (?, ?)", [(k, now) for k in keys]
        )

    await db.write(unit)
