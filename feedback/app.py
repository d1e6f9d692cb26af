"""The application factory, its lifespan, and the one route table."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from feedback import dashboard, demo
from feedback.api import reports as api
from feedback.checker.worker import Checker
from feedback.framing import RefuseAmbiguousLength
from feedback.health import Health, healthz, livez
from feedback.housekeeping import Housekeeping, RefusalCounter
from feedback.http_errors import http_error
from feedback.intake import Intake
from feedback.logs import AccessLog, configure, flush_repeats
from feedback.metrics import QueueGauge, metrics_endpoint
from feedback.notify.worker import DeliveryWorker
from feedback.outbound import outbound_client
from feedback.paths import TEMPLATES_DIR
from feedback.settings import Settings, load_settings
from feedback.signals import Signals
from feedback.store import Store, make_store
from feedback.store.retention import purge_closed
from feedback.store.sites import SiteCache
from feedback.widget import Widget, build_widget

log = logging.getLogger("feedback")


@dataclass
class Services:
    """Everything a request handler may need, owned by the lifespan."""

    settings: Settings
    store: Store
    sites: SiteCache
    signals: Signals
    http: httpx.AsyncClient
    templates: Jinja2Templates
    widget: Widget
    demo_site_key: str | None = None
    delivery: DeliveryWorker | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    refusals: RefusalCounter = field(default_factory=RefusalCounter)
    checker: Checker | None = None
    intake: Intake = field(init=False)
    health: Health = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self)
        self.health = Health(self.store)
        self.extras["queue_gauge"] = QueueGauge()


def services(request: Request) -> Services:
    return request.app.state.services


async def widget_js(request: Request) -> Response:
    return services(request).widget.loader.respond(request)


async def widget_dialog(request: Request) -> Response:
    widget = services(request).widget
    asset = widget.dialogs.get(request.path_params["lang"])
    if asset is None:
        raise HTTPException(404)
    return asset.respond(request, widget.dialog_version)


async def widget_hint(request: Request) -> Response:
    widget = services(request).widget
    asset = widget.hints.get(request.path_params["lang"])
    if asset is None:
        raise HTTPException(404)
    return asset.respond(request, widget.dialog_version)


async def widget_config(request: Request) -> Response:
    return await services(request).intake.widget_config(request)


class IntakeEndpoint:
    """A plain ASGI endpoint (an instance, so Starlette routes to it as it is): the busiest
    route skips building a Request and the wrapping of a request/response function.
    One route for every method, so a 405 lists them all in Allow: readers POST, browsers
    send OPTIONS first, and token holders GET the list of reports."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc: Services = scope["app"].state.services
        if scope["method"] == "POST":
            answer = await svc.intake.receive(scope, receive)
        elif scope["method"] in ("GET", "HEAD"):
            answer = await api.list_reports(Request(scope, receive))
        else:
            answer = await svc.intake.preflight(Request(scope, receive))
        await answer(scope, receive, send)


INTAKE_PATH = "/api/v1/reports"


class FeedbackApp(Starlette):
    """Starlette, with one shortcut: a report POSTed to the intake route passes through
    the app's own middleware (the list given to it) straight to the intake endpoint,
    skipping Starlette's error-page and exception layers and the router, which cost as
    much as a sixth of the serving thread at full load. The route table still lists the
    intake route, which serves preflights, 405s and anything the shortcut does not take.
    An error escaping intake is answered 500 and logged by the server all the same."""

    _intake: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == INTAKE_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            if self._intake is None:
                app: ASGIApp = IntakeEndpoint()
                for cls, args, kwargs in reversed(self.user_middleware):
                    app = cls(app, *args, **kwargs)
                self._intake = app
            scope["app"] = self
            await self._intake(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


SWITCH_INTERVAL = 0.0001  # seconds


def tune_interpreter() -> None:
    """Settings for a long-running server process, applied once the app is loaded."""
    # Everything loaded by now lives as long as the process: keep it out of the cyclic
    # collector's full passes, which otherwise stall every request for ~15 ms each.
    gc.freeze()
    # The writer's thread needs the interpreter lock back after each SQLite call, two or
    # three times a batch, and the busy request loop lets go of it only when asked: after
    # the switch interval (5 ms by default). At 0.1 ms each batch waits a fraction of a
    # millisecond in all instead of one to two. The serving thread is asked to let go
    # about as often as before, only sooner.
    sys.setswitchinterval(SWITCH_INTERVAL)


def create_app(settings: Settings, *, demo_site_key: str | None = None) -> Starlette:
    settings.secret  # noqa: B018 - refuse to build an app without a secret key

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        store = make_store(
            settings.database,
            connections=settings.database_pool,
            listen_url=settings.database_listen_url,
        )
        await store.open()
        signals = Signals()
        await store.connect_signals(signals)
        # One client for every outgoing request: no redirects, no private addresses.
        http = outbound_client(allow_private=settings.allow_private_targets)
        templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
        # Templates ship with the package: no need to stat every include on every render.
        templates.env.auto_reload = False
        svc = Services(
            settings=settings,
            store=store,
            sites=SiteCache(store),
            signals=signals,
            http=http,
            templates=templates,
            widget=build_widget(),
            demo_site_key=demo_site_key,
        )
        templates.env.globals["widget_version"] = svc.widget.version
        app.state.services = svc
        housekeeping = Housekeeping(svc)
        housekeeping.start()
        if settings.checker:
            svc.checker = Checker(svc)
            svc.checker.start()
        # One delivery worker per process; instances share the work through the database.
        svc.delivery = DeliveryWorker(store, http, settings)
        svc.delivery.listen(signals)
        deliveries = asyncio.create_task(svc.delivery.run(), name="feedback-deliveries")
        tune_interpreter()
        repeats = asyncio.create_task(_flush_repeats_every(60.0), name="feedback-log-repeats")
        purging = None
        if settings.purge_after_days > 0:
            purging = asyncio.create_task(_purge_every(svc), name="feedback-purge")
        try:
            yield {"services": svc}
        finally:
            if svc.checker is not None:
                await svc.checker.stop()
            await housekeeping.stop()
            if purging is not None:
                purging.cancel()
            repeats.cancel()
            flush_repeats()
            deliveries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deliveries
            await signals.drain()
            await http.aclose()
            await store.close()

    routes = [
        # Intake first: it is by far the busiest route, and routes are tried in order.
        Route(INTAKE_PATH, IntakeEndpoint(), methods=["POST", "OPTIONS", "GET"]),
        Route("/api/v1/reports/{id}", api.report, methods=["GET", "PATCH"]),
        Route("/api/v1/sites", api.sites, methods=["GET"]),
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
        Route("/widget.js", widget_js, methods=["GET", "HEAD"]),
        Route("/widget/dialog.{lang}.js", widget_dialog, methods=["GET", "HEAD"]),
        Route("/widget/hint.{lang}.json", widget_hint, methods=["GET", "HEAD"]),
        Route("/api/v1/widget-config", widget_config, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/healthz/live", livez, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Mount("/dashboard", routes=dashboard.routes, middleware=dashboard.middleware(settings)),
    ]
    if demo_site_key:
        routes += [
            Route("/", demo.index),
            Route("/demo", demo.article),
        ]
    middleware = [Middleware(RefuseAmbiguousLength)]
    if settings.access_log:
        middleware.insert(0, Middleware(AccessLog))
    return FeedbackApp(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
    )


async def _flush_repeats_every(seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        flush_repeats()


PURGE_INTERVAL = 6 * 3600.0


async def _purge_every(svc: Services) -> None:
    """FEEDBACK_PURGE_AFTER_DAYS: purge at start, then every few hours; one instance at a
    time when several share a database."""
    age = svc.settings.purge_after_days * 86400
    while True:
        try:
            async with svc.store.exclusive("purge") as mine:
                if mine:
                    count = await purge_closed(svc.store, age)
                    if count:
                        log.info("purged %d closed reports", count, extra={"purged": count})
        except Exception:  # a failed pass is logged and tried again next time
            log.exception("scheduled purge failed")
        await asyncio.sleep(PURGE_INTERVAL)


def app_from_environment() -> Starlette:
    """Factory for `uvicorn --factory` and `feedback serve`: each worker process logs in
    the configured format."""
    settings = load_settings()
    configure(settings.log_format, settings.log_level)
    return create_app(settings)
