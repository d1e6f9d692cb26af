"""The demo article that `feedback demo` serves, with the widget embedded."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.settings import Settings
from feedback.store import make_store
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
    store = make_store(settings.database, connections=1)
    await store.open()
    try:
        site = await add_site(store, "Demo Gazette", origins)
        email = "editor@demo.example"
        password = secrets.token_urlsafe(9)
        await add_user(store, email, password, "admin", [])
    finally:
        await store.close()
    return site.key, email, password
