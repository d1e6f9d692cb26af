"""Prometheus metrics: what intake and sign-in count, and GET /metrics.

With several worker processes each one counts on its own; `feedback serve --workers N`
points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start, and a scrape
adds every worker's figures up (prometheus-client's multiprocess mode), so the numbers
are the service's, whichever worker answers. Figures that live in the database (the
queue by site and status) are read from it at scrape time, so they are right across
workers and across machines alike.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REPORTS = Counter(
    "feedback_reports",
    "Report sends by outcome: accepted (a new report), merged (into an open one) or "
    "refused, with the refusal's error code as reason.",
    ["outcome", "reason"],
)
INTAKE_SECONDS = Histogram(
    "feedback_intake_seconds",
    "Time from a report send's arrival to its answer, stored or refused.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH_SIZE = Histogram(
    "feedback_write_batch_size",
    "Report sends committed together in one group-commit transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
SIGN_INS = Counter(
    "feedback_sign_ins",
    "Dashboard sign-in attempts by outcome: ok, failed or throttled.",
    ["outcome"],
)

# Database figures are cheap but not free on a big database: read at most this often.
QUEUE_CACHE_SECONDS = 15.0


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class _Snapshot:
    """A collector for figures already read from the database."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families


class QueueGauge:
    """Reports in the database by site and status, read at scrape time, briefly cached."""

    def __init__(self, max_age: float = QUEUE_CACHE_SECONDS) -> None:
        self.max_age = max_age
        self._at = -max_age
        self._rows: list[tuple[str, str, int]] = []

    async def rows(self, store: Any) -> list[tuple[str, str, int]]:
        now = time.monotonic()
        if now - self._at >= self.max_age:
            found = await store.fetchall(
                "SELECT s.key AS site, r.status AS status, count(*) AS n "
                "FROM reports r JOIN sites s ON s.id = r.site_id "
                "GROUP BY s.key, r.status"
            )
            self._rows = [(r["site"], r["status"], int(r["n"])) for r in found]
            self._at = now
        return self._rows

    async def family(self, store: Any) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "feedback_reports_in_queue",
            "Reports stored, by site key and status.",
            labels=["site", "status"],
        )
        for site, status, n in await self.rows(store):
            family.add_metric([site, status], n)
        return family


def exposition(extra: list[GaugeMetricFamily]) -> bytes:
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(extra))
    return body + generate_latest(snapshot)


_PROXY_HEADERS = (b"x-forwarded-for", b"x-real-ip", b"forwarded")


def allowed(request: Request, token: str) -> bool:
    """With a token set, only `Authorization: Bearer TOKEN`. Without one, only a client
    on this machine that did not come through a proxy (behind nginx every request's
    peer is the loopback address)."""
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)
    peer = (request.scope.get("client") or ("", 0))[0]
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    headers = {name for name, _ in request.scope["headers"]}
    return loopback and not any(h in headers for h in _PROXY_HEADERS)


async def metrics_endpoint(request: Request) -> Response:
    svc = request.app.state.services
    token = str(svc.settings.metrics_token or "")
    if not allowed(request, token):
        return PlainTextResponse(
            "Metrics need FEEDBACK_METRICS_TOKEN as a bearer token, or a request from "
            "this machine.",
            status_code=403,
        )
    families = [await svc.extras["queue_gauge"].family(svc.store)]
    return Response(
        exposition(families),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
