"""Password hashes (salted scrypt), computed off the request loop.

scrypt costs ~50 ms of CPU and 16 MiB per hash by design. Run on the event loop, a stream
of sign-in attempts would stall every reader's report behind it; here every hash runs on
a small pool of threads of its own (hashlib releases the interpreter lock while it
works), and at most `MAX_WAITING` more wait their turn, so a flood of sign-ins costs
sign-ins, not intake.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

# scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MiB, the usual interactive setting.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
THREADS = 2
MAX_WAITING = 32

_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="feedback-scrypt")
_loop_slots: dict[int, asyncio.Semaphore] = {}


class HashingBusy(RuntimeError):
    """Too many password checks are already waiting: try again in a moment."""


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


def _slots_for(loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
    key = id(loop)
    if key not in _loop_slots:
        _loop_slots.clear()  # one serving loop per process; tests make many in turn
        _loop_slots[key] = asyncio.Semaphore(THREADS + MAX_WAITING)
    return _loop_slots[key]


async def _run(fn, *args):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    slots = _slots_for(loop)
    if slots.locked():
        raise HashingBusy()
    async with slots:
        return await loop.run_in_executor(_pool, fn, *args)


async def hash_password_async(password: str) -> str:
    return await _run(hash_password, password)


async def check_password_async(password: str, stored: str) -> bool:
    return await _run(check_password, password, stored)


# Spent on unknown emails too, so a sign-in takes as long whether the account exists or not.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
