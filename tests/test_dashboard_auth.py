"""Signing in and out, sessions, CSRF and sign-in throttling."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import itsdangerous
from dashboard_support import PASSWORD, csrf_of, make_user, send_report, sign_in
from starlette.applications import Starlette

from feedback.app import create_app
from feedback.settings import Settings
from feedback.store.sites import Site
from feedback.store.users import check_password, hash_password


def test_password_hash_is_salted_scrypt_and_checks_in_constant_time() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first.startswith("scrypt$16384$8$1$") and first != second
    assert check_password("s3cret-pass", first)
    assert not check_password("wrong-pass", first)
    assert not check_password("s3cret-pass", "md5$nonsense")


async def test_signed_out_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/?site=1", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login?next=%2Fdashboard%2F%3Fsite%3D1"


async def test_editor_signs_in_and_out(app: Starlette, client: httpx.AsyncClient) -> None:
    await make_user(app, "ed@example.com")
    csrf = await sign_in(client, "ed@example.com")
    cookie = client.cookies.jar
    assert any(c.name == "feedback_session" for c in cookie)
    response = await client.post("/dashboard/logout", data={"csrf": csrf})
    assert response.status_code == 303
    after = await client.get("/dashboard/")
    assert after.status_code == 401


async def test_session_cookie_is_httponly_lax_and_expires(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await make_user(app, "ed@example.com")
    page = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={"email": "ed@example.com", "password": PASSWORD, "csrf": csrf_of(page.text)},
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=1209600" in cookie
    assert "secure" not in cookie  # the test public URL is plain http


async def test_session_cookie_is_secure_behind_https(settings: Settings) -> None:
    app = create_app(replace(settings, public_url="https://feedback.example.com"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            page = await c.get("/dashboard/login")
            assert "secure" in page.headers["set-cookie"].lower()


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await make_user(app, "ed@example.com")
    page = await client.get("/dashboard/login")
    csrf = csrf_of(page.text)
    wrong = await client.post(
        "/dashboard/login", data={"email": "ed@example.com", "password": "nope", "csrf": csrf}
    )
    unknown = await client.post(
        "/dashboard/login", data={"email": "who@example.com", "password": "nope", "csrf": csrf}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert "do not match an active account" in wrong.text

    # The pages differ only in the email typed back, and in the CSRF token, which is
    # timestamped and so changes when the two answers fall in different seconds.
    def normalised(html: str, email: str) -> str:
        return html.replace(email, "X").replace(csrf_of(html), "TOKEN")

    assert normalised(wrong.text, "ed@example.com") == normalised(unknown.text, "who@example.com")


async def test_failed_sign_ins_are_throttled_per_account(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await make_user(app, "ed@example.com")
    limit = app.state.services.settings.login_attempts
    csrf = csrf_of((await client.get("/dashboard/login")).text)
    for _ in range(limit):
        r = await client.post(
            "/dashboard/login", data={"email": "ed@example.com", "password": "x", "csrf": csrf}
        )
        assert r.status_code == 400
    # Now even the right password is refused, from another address too.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        csrf2 = csrf_of((await other.get("/dashboard/login")).text)
        r = await other.post(
            "/dashboard/login",
            data={"email": "ed@example.com", "password": PASSWORD, "csrf": csrf2},
        )
    assert r.status_code == 429
    assert "Too many failed sign-ins" in r.text


async def test_failed_sign_ins_are_throttled_per_address(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await make_user(app, "ed@example.com")
    limit = app.state.services.settings.login_attempts
    csrf = csrf_of((await client.get("/dashboard/login")).text)
    for i in range(limit):
        await client.post(
            "/dashboard/login",
            data={"email": f"guess{i}@example.com", "password": "x", "csrf": csrf},
        )
    r = await client.post(
        "/dashboard/login", data={"email": "ed@example.com", "password": PASSWORD, "csrf": csrf}
    )
    assert r.status_code == 429


async def test_disabled_user_cannot_sign_in(app: Starlette, client: httpx.AsyncClient) -> None:
    from feedback.store.users import update_user

    user_id = await make_user(app, "ed@example.com")
    await update_user(app.state.services.store, user_id, "editor", [], disabled=True)
    csrf = csrf_of((await client.get("/dashboard/login")).text)
    r = await client.post(
        "/dashboard/login", data={"email": "ed@example.com", "password": PASSWORD, "csrf": csrf}
    )
    assert r.status_code == 400


async def test_posts_without_a_valid_csrf_token_are_refused(
    app: Starlette, client: httpx.AsyncClient, site: Site
) -> None:
    await make_user(app, "admin@example.com", "admin")
    csrf = await sign_in(client, "admin@example.com")
    report_id = await send_report(client, site, "https://example.com")
    for data in ({}, {"csrf": "forged"}, {"csrf": csrf[:-2] + "xx"}):
        r = await client.post("/dashboard/actions", data={"act": f"fixed:{report_id}", **data})
        assert r.status_code == 403
    # A token from another session is no good either.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, "admin@example.com")
        r = await other.post("/dashboard/actions", data={"act": f"fixed:{report_id}", "csrf": csrf})
        assert r.status_code == 403
    status = await app.state.services.store.fetchone(
        "SELECT status FROM reports WHERE id = ?", (report_id,)
    )
    assert status[0] == "new"
    ok = await client.post("/dashboard/actions", data={"act": f"fixed:{report_id}", "csrf": csrf})
    assert ok.status_code == 303


async def test_sign_in_needs_csrf_too(app: Starlette, client: httpx.AsyncClient) -> None:
    await make_user(app, "ed@example.com")
    r = await client.post(
        "/dashboard/login", data={"email": "ed@example.com", "password": PASSWORD}
    )
    assert r.status_code == 403


async def test_sign_in_never_redirects_off_the_dashboard(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await make_user(app, "ed@example.com")
    csrf = csrf_of((await client.get("/dashboard/login")).text)
    r = await client.post(
        "/dashboard/login",
        data={
            "email": "ed@example.com",
            "password": PASSWORD,
            "csrf": csrf,
            "next": "https://evil.example/",
        },
    )
    assert r.headers["location"] == "/dashboard/"


async def test_dashboard_pages_carry_security_headers(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    r = await client.get("/dashboard/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"


def forged_session(secret: str, salt: str, data: dict, age: int = 0) -> str:
    """A session cookie signed with the given salt, as if made `age` seconds ago."""

    class Backdated(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    signer = itsdangerous.URLSafeTimedSerializer(secret, salt=salt, signer=Backdated)
    return signer.dumps(data)


async def test_expired_or_wrongly_salted_sessions_are_ignored(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    user_id = await make_user(app, "ed@example.com")
    settings = app.state.services.settings
    session = {"uid": user_id, "csrf": "nonce"}
    good = forged_session(settings.secret, "feedback.session", session)
    expired = forged_session(
        settings.secret, "feedback.session", session, age=settings.session_max_age + 60
    )
    other_salt = forged_session(settings.secret, "feedback.csrf", session)
    for value, status in ((good, 200), (expired, 401), (other_salt, 401), ("junk", 401)):
        client.cookies.set("feedback_session", value, path="/dashboard")
        assert (await client.get("/dashboard/")).status_code == status
        client.cookies.clear()
