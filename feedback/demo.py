"""The demo article that `feedback demo` serves, with the widget embedded."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.database import Database
from feedback.settings import Settings
from feedback.store.sites import add_site
from feedback.store.users import add_user


async def index(request: Request) -> Response:
    return RedirectResponse("/demo", status_code=302)


async def article(request: Request) -> Response:
    svc = request.app.state.services
    return svc.templates.TemplateResponse(
        request,
        "demo/article.html",
        {"site_key": svc.demo_site_key, "widget_version": svc.widget.version},
    )


async def prepare(settings: Settings, host: str, port: int) -> tuple[str, str, str]:
    """Create the demo's database, its site and a dashboard login.
    Returns (site key, email, password)."""
    origins = sorted(
        {f"http://{host}:{port}", f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
    )
    db = Database(settings.database, readers=1)
    await db.open()
    try:
        site = await add_site(db, "Demo Gazette", origins)
        email = "editor@demo.example"
        password = secrets.token_urlsafe(9)
        await add_user(db, email, password, "admin", [])
    finally:
        await db.close()
    return site.key, email, password
