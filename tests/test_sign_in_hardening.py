"""Sign-in under attack: the throttle holds under concurrency, strangers cannot lock an
editor out, password hashing stays off the request loop, and sessions can be ended."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
from dashboard_support import PASSWORD, csrf_of, make_user, sign_in
from starlette.applications import Starlette

from feedback import passwords
from feedback.app import create_app
from feedback.store.users import set_password, update_user
from tests.conftest import query_database


def client_at(app: Starlette, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    csrf = csrf_of((await client.get("/dashboard/login")).text)
    return await client.post(
        "/dashboard/login", data={"email": email, "password": password, "csrf": csrf}
    )


async def test_concurrent_wrong_passwords_check_no_more_than_the_limit(app, client) -> None:
    await make_user(app, "ed@example.com")
    limit = app.state.services.settings.login_attempts
    csrf = csrf_of((await client.get("/dashboard/login")).text)

    async def guess(n: int) -> int:
        r = await client.post(
            "/dashboard/login",
            data={"email": "ed@example.com", "password": f"guess-{n}", "csrf": csrf},
        )
        return r.status_code

    codes = await asyncio.gather(*(guess(n) for n in range(60)))
    assert codes.count(400) == limit  # passwords actually checked
    assert codes.count(429) == 60 - limit
    counted = query_database(
        app.state.services.settings.database,
        "SELECT count(*) FROM login_failures WHERE who LIKE 'pair:%'",
    )
    assert counted[0][0] == limit


@pytest.fixture
async def touchy_app(settings):
    application = create_app(replace(settings, login_attempts=2))
    async with application.router.lifespan_context(application):
        yield application


async def test_a_flood_of_failures_slows_the_account_but_never_locks_its_owner_out(
    touchy_app,
) -> None:
    app = touchy_app
    await make_user(app, "ed@example.com")
    # The owner signs in once from their browser, which remembers it.
    owner = client_at(app, "192.0.2.1")
    await sign_in(owner, "ed@example.com")
    await owner.post(
        "/dashboard/logout", data={"csrf": csrf_of((await owner.get("/dashboard/")).text)}
    )
    # Strangers from many addresses pass the account's ceiling (10 x 2 failures).
    for n in range(10):
        async with client_at(app, f"198.51.100.{n + 1}") as stranger:
            for _ in range(2):
                assert (await attempt(stranger, "ed@example.com", "wrong")).status_code == 400
    # The next stranger is slowed to one try per few seconds, not refused for good.
    async with client_at(app, "203.0.113.50") as stranger:
        first = await attempt(stranger, "ed@example.com", "wrong")
        second = await attempt(stranger, "ed@example.com", "wrong")
    assert first.status_code == 400
    assert second.status_code == 429 and "Wait a few seconds" in second.text
    # The owner's browser is not slowed, and their right password works at once.
    r = await attempt(owner, "ed@example.com", PASSWORD)
    assert r.status_code == 303
    # And a new browser of the owner's, at a fresh address, is only slowed, never locked:
    # once the slow interval has passed it gets its try.
    async with client_at(app, "203.0.113.51") as laptop:
        app.state.services.extras["sign_in_slowdown"]._buckets.clear()  # interval passed
        assert (await attempt(laptop, "ed@example.com", PASSWORD)).status_code == 303
    await owner.aclose()


async def test_password_hashing_leaves_the_event_loop_free() -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.002)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    stored = passwords.hash_password("x" * 12)
    ticks = 0
    results = await asyncio.gather(
        *(passwords.check_password_async("x" * 12, stored) for _ in range(6))
    )
    stop.set()
    await task
    assert results == [True] * 6
    # Six 50 ms hashes on two threads: the loop kept turning meanwhile (were they on the
    # loop, it could not have ticked at all until they were done).
    assert ticks >= 10


async def test_too_many_waiting_hashes_are_refused_not_queued() -> None:
    stored = passwords.hash_password("y" * 12)
    total = passwords.THREADS + passwords.MAX_WAITING + 10
    results = await asyncio.gather(
        *(passwords.check_password_async("y" * 12, stored) for _ in range(total)),
        return_exceptions=True,
    )
    busy = [r for r in results if isinstance(r, passwords.HashingBusy)]
    assert len(busy) == 10
    assert results.count(True) == total - 10


async def signed_in_client(app: Starlette, ip: str) -> tuple[httpx.AsyncClient, str]:
    client = client_at(app, ip)
    csrf = await sign_in(client, "ed@example.com")
    return client, csrf


def copy_of(app: Starlette, signed: httpx.AsyncClient, ip: str) -> httpx.AsyncClient:
    thief = client_at(app, ip)
    thief.cookies.set("feedback_session", signed.cookies["feedback_session"], path="/dashboard")
    return thief


async def test_a_copied_cookie_dies_with_sign_out(app) -> None:
    await make_user(app, "ed@example.com")
    editor, csrf = await signed_in_client(app, "192.0.2.1")
    thief = copy_of(app, editor, "203.0.113.66")
    assert (await thief.get("/dashboard/")).status_code == 200
    await editor.post("/dashboard/logout", data={"csrf": csrf})
    assert (await thief.get("/dashboard/")).status_code == 401
    await editor.aclose()
    await thief.aclose()


async def test_sign_out_everywhere_ends_every_session(app) -> None:
    await make_user(app, "ed@example.com")
    laptop, csrf = await signed_in_client(app, "192.0.2.1")
    phone, _ = await signed_in_client(app, "192.0.2.2")
    page = await laptop.get("/dashboard/", headers={"Accept": "text/html"})
    assert "Sign out everywhere" in page.text
    r = await laptop.post("/dashboard/logout-everywhere", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await phone.get("/dashboard/")).status_code == 401
    assert (await laptop.get("/dashboard/")).status_code == 401
    # Signing in again works as usual.
    again, _ = await signed_in_client(app, "192.0.2.1")
    assert (await again.get("/dashboard/")).status_code == 200
    for c in (laptop, phone, again):
        await c.aclose()


async def test_a_password_change_ends_old_sessions(app) -> None:
    await make_user(app, "ed@example.com")
    editor, _ = await signed_in_client(app, "192.0.2.1")
    await set_password(app.state.services.store, "ed@example.com", "another long password")
    assert (await editor.get("/dashboard/")).status_code == 401
    await editor.aclose()


async def test_re_enabling_a_disabled_user_revives_no_old_cookie(app) -> None:
    user_id = await make_user(app, "ed@example.com")
    editor, _ = await signed_in_client(app, "192.0.2.1")
    store = app.state.services.store
    await update_user(store, user_id, "editor", [], disabled=True)
    assert (await editor.get("/dashboard/")).status_code == 401
    await update_user(store, user_id, "editor", [], disabled=False)
    assert (await editor.get("/dashboard/")).status_code == 401
    await editor.aclose()
