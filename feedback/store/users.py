"""Dashboard accounts: scrypt password hashes, roles, the sites an editor may see,
and the record of failed sign-ins that throttling reads."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

# The hash functions live in feedback.passwords; these names stay importable from here.
from feedback.passwords import (  # noqa: F401
    DUMMY_HASH,
    check_password,
    hash_password,
    hash_password_async,
)
from feedback.store.engine import Row, Store, Tx

ROLES = ("admin", "editor")
THROTTLE_WINDOW = 15 * 60


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
    password_hash = await hash_password_async(password)

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
        if disabled:
            # Every sign-in ends: re-enabling the account later revives none of them.
            await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        await tx.execute("DELETE FROM user_sites WHERE user_id = ?", (user_id,))
        await tx.executemany(_ADD_SITE, [(user_id, s) for s in site_ids])

    await store.write(unit)


async def set_password(store: Store, email: str, password: str) -> None:
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    password_hash = await hash_password_async(password)

    async def unit(tx: Tx) -> int:
        changed = await tx.execute(
            f"UPDATE users SET password_hash = ? WHERE {_BY_EMAIL}", (password_hash, email.strip())
        )
        # A new password ends every sign-in made with the old one.
        await tx.execute(
            f"DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE {_BY_EMAIL})",
            (email.strip(),),
        )
        return changed

    if not await store.write(unit):
        raise UserError(f"no user {email}")


async def failures(store: Store, key: str, now: float) -> int:
    """Failed (or still unchecked) sign-ins counted against `key` in the window."""
    row = await store.fetchone(
        "SELECT count(*) FROM login_failures WHERE who = ? AND at > ?",
        (key, now - THROTTLE_WINDOW),
    )
    return int(row[0]) if row else 0


async def recent_failures(store: Store, keys: list[str], now: float) -> int:
    """The most failures any one of `keys` had in the window."""
    return max([await failures(store, key, now) for key in keys] or [0])


async def reserve_attempt(store: Store, limits: dict[str, int | None], now: float) -> str | None:
    """Count a sign-in attempt against every key before its password is checked.

    In one transaction (taken one at a time on every engine): if any key with a limit has
    reached it, nothing is recorded and None comes back; otherwise a failure is recorded
    under every key, tagged with a fresh attempt id that `forget_attempt` takes back when
    the password turns out right. Sixty guesses at once get exactly the limit checked.
    """
    attempt = secrets.token_urlsafe(12)

    async def unit(tx: Tx) -> str | None:
        await tx.execute(tx.sql.LOGIN_LOCK)
        for key, limit in limits.items():
            if limit is None:
                continue
            row = await tx.fetchone(
                "SELECT count(*) FROM login_failures WHERE who = ? AND at > ?",
                (key, now - THROTTLE_WINDOW),
            )
            if row is not None and int(row[0]) >= limit:
                return None
        await tx.execute("DELETE FROM login_failures WHERE at < ?", (now - THROTTLE_WINDOW,))
        await tx.executemany(
            "INSERT INTO login_failures (who, at, attempt) VALUES (?, ?, ?)",
            [(key, now, attempt) for key in limits],
        )
        return attempt

    return await store.write(unit)


async def forget_attempt(store: Store, attempt: str, clear: list[str]) -> None:
    """The password was right: the attempt was no failure, and the keys in `clear` start
    afresh."""

    async def unit(tx: Tx) -> None:
        await tx.execute("DELETE FROM login_failures WHERE attempt = ?", (attempt,))
        for key in clear:
            await tx.execute("DELETE FROM login_failures WHERE who = ?", (key,))

    await store.write(unit)


async def record_failure(store: Store, keys: list[str], now: float) -> None:
    async def unit(tx: Tx) -> None:
        await tx.execute("DELETE FROM login_failures WHERE at < ?", (now - THROTTLE_WINDOW,))
        await tx.executemany(
            "INSERT INTO login_failures (who, at) VALUES (?, ?)", [(k, now) for k in keys]
        )

    await store.write(unit)


async def account_of(store: Store, user_id: int) -> Row | None:
    """(id, email, password_hash, disabled) of a user, for password changes and links."""
    return await store.fetchone(
        "SELECT id, email, password_hash, disabled FROM users WHERE id = ?", (user_id,)
    )


async def replace_password(
    store: Store, user_id: int, password: str, expected_hash: str, *, keep_session: str = ""
) -> bool:
    """Set a new password if the stored hash is still `expected_hash`: a link or a form
    made for the old password can be used once, and two uses cannot both win.

    Every session of the user ends with the old password, but `keep_session` (the one
    changing it): whoever knew the old password, or copied a cookie, is signed out."""
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    password_hash = await hash_password_async(password)

    async def unit(tx: Tx) -> bool:
        changed = await tx.execute(
            "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
            (password_hash, user_id, expected_hash),
        )
        if changed:
            await tx.execute(
                "DELETE FROM sessions WHERE user_id = ? AND id <> ?", (user_id, keep_session)
            )
        return bool(changed)

    return await store.write(unit)


async def delete_user(store: Store, user_id: int) -> None:
    """The account goes; what it did stays in the history, unattributed."""

    async def unit(tx: Tx) -> None:
        await tx.execute("UPDATE reports SET assignee_id = NULL WHERE assignee_id = ?", (user_id,))
        await tx.execute("UPDATE reports SET resolved_by = NULL WHERE resolved_by = ?", (user_id,))
        await tx.execute("UPDATE report_events SET user_id = NULL WHERE user_id = ?", (user_id,))
        await tx.execute("UPDATE ip_blocks SET created_by = NULL WHERE created_by = ?", (user_id,))
        await tx.execute("DELETE FROM user_sites WHERE user_id = ?", (user_id,))
        await tx.execute("DELETE FROM users WHERE id = ?", (user_id,))

    await store.write(unit)


# -- sessions ---------------------------------------------------------------------------


async def start_session(store: Store, user_id: int, max_age: int) -> str:
    """A new sign-in for `user_id`; its id goes in the signed cookie."""
    session_id = secrets.token_urlsafe(24)
    now = time.time()

    async def unit(tx: Tx) -> None:
        await tx.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        await tx.execute(
            "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (session_id, user_id, now, now + max_age),
        )

    await store.write(unit)
    return session_id


async def session_user(store: Store, session_id: str) -> User | None:
    """The active user a live session belongs to, or None."""
    async with store.read() as tx:
        row = await tx.fetchone(
            "SELECT u.id, u.email, u.role, u.disabled FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.expires_at > ?",
            (session_id, time.time()),
        )
        if row is None or row["disabled"]:
            return None
        return _user(row, await _site_ids(tx, row["id"]))


async def end_session(store: Store, session_id: str) -> None:
    async def unit(tx: Tx) -> None:
        await tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    await store.write(unit)


async def end_all_sessions(store: Store, user_id: int) -> int:
    """Sign the user out everywhere; how many sign-ins ended."""

    async def unit(tx: Tx) -> int:
        return await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    return await store.write(unit)
