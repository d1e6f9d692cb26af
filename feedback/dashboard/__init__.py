"""The editors' dashboard, mounted at /dashboard: its routes and middleware."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feedback.assets import Asset
from feedback.dashboard import (
    account,
    action_links,
    admin,
    auth,
    everywhere,
    live,
    notify,
    queue,
    reports,
    site_admin,
    stats,
)
from feedback.dashboard.middleware import SecurityHeadersMiddleware, SessionMiddleware
from feedback.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = ("dashboard.js", "dashboard.css")


@cache
def static_asset(name: str) -> Asset:
    return Asset.from_file(STATIC_DIR / name)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        raise HTTPException(404)
    response = static_asset(name).respond(request)
    # The widget's cross-origin headers do not belong on the dashboard's own files.
    del response.headers["access-control-allow-origin"]
    response.headers["cross-origin-resource-policy"] = "same-origin"
    return response


routes = [
    Route("/", queue.queue, methods=["GET"]),
    Route("/rows", queue.rows_fragment, methods=["GET"]),
    Route("/live", live.live, methods=["GET"]),
    Route("/actions", queue.act, methods=["POST"]),
    Route("/undo", queue.undo, methods=["POST"]),
    Route("/export.csv", queue.export_csv, methods=["GET"]),
    Route("/export.json", queue.export_json, methods=["GET"]),
    Route("/reports/{id:int}", reports.report_page, methods=["GET"]),
    Route("/reports/{id:int}/assign", reports.assign, methods=["POST"]),
    Route("/reports/{id:int}/note", reports.save_note, methods=["POST"]),
    Route("/reports/{id:int}/resolve", reports.resolve, methods=["POST"]),
    Route("/reports/{id:int}/check", reports.check_now, methods=["POST"]),
    Route("/reports/{id:int}/everywhere", everywhere.preview, methods=["GET"]),
    Route("/reports/{id:int}/everywhere", everywhere.apply, methods=["POST"]),
    Route("/stats", stats.stats_page, methods=["GET"]),
    Route("/sites", admin.sites_page, methods=["GET"]),
    Route("/sites", admin.site_create, methods=["POST"]),
    Route("/sites/{id:int}", admin.site_page, methods=["GET"]),
    Route("/sites/{id:int}", admin.site_update, methods=["POST"]),
    Route("/sites/{id:int}/flags", site_admin.flags, methods=["POST"]),
    Route("/sites/{id:int}/rotate-key", site_admin.rotate, methods=["POST"]),
    Route("/sites/{id:int}/delete", site_admin.delete, methods=["POST"]),
    Route("/sites/{id:int}/allow-origin", site_admin.allow_origin, methods=["POST"]),
    Route("/resolutions", site_admin.resolutions_page, methods=["GET"]),
    Route("/resolutions", site_admin.resolutions_save, methods=["POST"]),
    Route("/users", admin.users_page, methods=["GET"]),
    Route("/users", admin.user_create, methods=["POST"]),
    Route("/users/{id:int}", admin.user_update, methods=["POST"]),
    Route("/users/{id:int}/reset-link", admin.user_reset_link, methods=["POST"]),
    Route("/users/{id:int}/delete", admin.user_delete, methods=["POST"]),
    Route("/account", account.account_page, methods=["GET"]),
    Route("/account/password", account.change_password, methods=["POST"]),
    Route("/password/{purpose}/{token}", account.password_page, methods=["GET"]),
    Route("/password/{purpose}/{token}", account.password_post, methods=["POST"]),
    Route("/sites/{id:int}/notify", notify.notify_page, methods=["GET"]),
    Route("/sites/{id:int}/destinations", notify.destination_create, methods=["POST"]),
    Route("/sites/{id:int}/tokens", notify.token_create, methods=["POST"]),
    Route("/sites/{id:int}/edit-link", notify.edit_link_save, methods=["POST"]),
    Route("/destinations/{id:int}", notify.destination_page, methods=["GET"]),
    Route("/destinations/{id:int}/test", notify.destination_test, methods=["POST"]),
    Route("/destinations/{id:int}/remove", notify.destination_remove, methods=["POST"]),
    Route("/deliveries/{id:int}/redeliver", notify.redeliver, methods=["POST"]),
    Route("/tokens/{id:int}/revoke", notify.token_revoke, methods=["POST"]),
    Route("/act/{action}/{token}", action_links.confirm_page, methods=["GET"]),
    Route("/act/{action}/{token}", action_links.confirm_post, methods=["POST"]),
    Route("/login", auth.login_page, methods=["GET"]),
    Route("/login", auth.login_post, methods=["POST"]),
    Route("/logout", auth.logout, methods=["POST"]),
    Route("/logout-everywhere", auth.logout_everywhere, methods=["POST"]),
    Route("/static/{name}", static, methods=["GET", "HEAD"]),
]


def middleware(settings: Settings) -> list[Middleware]:
    return [
        Middleware(SecurityHeadersMiddleware),
        Middleware(SessionMiddleware, settings=settings),
    ]
