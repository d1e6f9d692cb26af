"""Metrics, logs and health checks as an operator sees them."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedback import health as health_module
from feedback.logs import JsonFormatter, RepeatFilter, TextFormatter
from feedback.store import sqlite_health
from feedback.store.sites import Site
from tests.conftest import ORIGIN, free_port, query_database, report_payload

# File-system checks belong to the SQLite engine.
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def client_at(app, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# --- /metrics -------------------------------------------------------------------------


async def test_metrics_count_reports_by_outcome_and_reason(app, client, site: Site) -> None:
    app.state.services.extras["queue_gauge"].max_age = 0  # read the queue at every scrape
    async with client_at(app, "127.0.0.1") as local:
        before = samples((await local.get("/metrics")).text)
        body = report_payload(site)
        assert (await client.post("/api/v1/reports", json=body, headers=ORIGIN)).status_code == 201
        assert (await client.post("/api/v1/reports", json=body, headers=ORIGIN)).status_code == 201
        bad = report_payload(site, kind="poem")
        assert (await client.post("/api/v1/reports", json=bad, headers=ORIGIN)).status_code == 422
        response = await local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    after = samples(response.text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("feedback_reports_total", outcome="accepted", reason="") == 1
    assert delta("feedback_reports_total", outcome="merged", reason="") == 1
    assert delta("feedback_reports_total", outcome="refused", reason="invalid_choice") == 1
    assert delta("feedback_intake_seconds_count") == 3
    assert delta("feedback_write_batch_size_count") >= 1
    assert value(after, "feedback_reports_in_queue", site=site.key, status="new") == 1


async def test_metrics_are_refused_to_other_machines_and_through_proxies(app) -> None:
    async with client_at(app, "203.0.113.5") as remote:
        assert (await remote.get("/metrics")).status_code == 403
    async with client_at(app, "127.0.0.1") as local:
        proxied = await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
        assert proxied.status_code == 403
        assert (await local.get("/metrics")).status_code == 200


async def test_a_metrics_token_is_required_once_set(tmp_path) -> None:
    from dataclasses import replace

    from starlette.datastructures import Secret

    from feedback.app import create_app
    from tests.conftest import make_settings

    settings = replace(make_settings(tmp_path), metrics_token=Secret("scrape-me"))
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        async with client_at(application, "127.0.0.1") as local:
            assert (await local.get("/metrics")).status_code == 403
            wrong = {"Authorization": "Bearer nope"}
            assert (await local.get("/metrics", headers=wrong)).status_code == 403
        async with client_at(application, "203.0.113.5") as remote:
            right = {"Authorization": "Bearer scrape-me"}
            assert (await remote.get("/metrics", headers=right)).status_code == 200


def wait_healthy(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not start: " + log.read_text())


def serve(tmp_path: Path, *extra: str, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBACK_", "PROMETHEUS"))}
    base |= {
        "FEEDBACK_DATABASE": str(tmp_path / "obs.db"),
        "FEEDBACK_SECRET_KEY": "observability-test",
        **(env or {}),
    }
    out = subprocess.run(
        [sys.executable, "-m", "feedback", "site", "add", "O", "--origin", "https://o.example"],
        env=base, capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    key = out.stdout.split("Key: ")[1].split()[0]
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedback", "serve", "--port", str(port), *extra],
            env=base, stdout=log_file, stderr=log_file, cwd=tmp_path,
        )  # fmt: skip
    wait_healthy(port, proc, log)
    return proc, port, key, log


def test_metrics_add_up_across_worker_processes(tmp_path) -> None:
    # Generous limits: each worker keeps its own buckets, and the kernel need not share
    # the connections out evenly.
    limits = {"FEEDBACK_RATE_IP_BURST": "1000", "FEEDBACK_RATE_PREFIX_BURST": "1000"}
    proc, port, key, log = serve(tmp_path, "--workers", "2", env=limits)
    try:
        url = f"http://127.0.0.1:{port}"
        for n in range(30):
            # A new connection each time, so both workers take some.
            body = {"site": key, "kind": "typo", "url": "https://o.example/a",
                    "quote": {"exact": f"w{n}"}}  # fmt: skip
            r = httpx.post(
                f"{url}/api/v1/reports", json=body, headers={"Origin": "https://o.example"}
            )
            assert r.status_code == 201
        for _ in range(6):
            scrape = samples(httpx.get(f"{url}/metrics").text)
            assert value(scrape, "feedback_reports_total", outcome="accepted", reason="") == 30
            assert value(scrape, "feedback_intake_seconds_count") == 30
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# --- logs -----------------------------------------------------------------------------


def test_json_logs_have_one_line_per_request_and_no_reader_text_or_address(tmp_path) -> None:
    proc, port, key, log = serve(tmp_path, env={"FEEDBACK_LOG_FORMAT": "json"})
    try:
        local = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.9"))
        body = {"site": key, "kind": "typo", "url": "https://o.example/private-page?x=1",
                "quote": {"exact": "SECRETWORDS of a reader"},
                "comment": "my phone 555-0100"}  # fmt: skip
        url = f"http://127.0.0.1:{port}/api/v1/reports"
        assert (
            local.post(url, json=body, headers={"Origin": "https://o.example"}).status_code == 201
        )
        assert local.get(f"http://127.0.0.1:{port}/dashboard/?q=SECRETWORDS").status_code == 401
        local.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "feedback.access"]
    posts = [a for a in access if a["path"] == "/api/v1/reports"]
    assert len(posts) == 1
    assert posts[0]["status"] == 201 and posts[0]["method"] == "POST" and posts[0]["ms"] >= 0
    text = log.read_text()
    assert "SECRETWORDS" not in text and "555-0100" not in text and "private-page" not in text
    assert "127.0.0.9" not in text


def test_per_request_lines_can_be_switched_off(tmp_path) -> None:
    proc, port, key, log = serve(tmp_path, env={"FEEDBACK_ACCESS_LOG": "off"})
    try:
        for _ in range(3):
            httpx.get(f"http://127.0.0.1:{port}/widget.js")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert "/widget.js" not in log.read_text()


def _logger(fmt: logging.Formatter) -> tuple[logging.Logger, io.StringIO, RepeatFilter]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fmt)
    repeats = RepeatFilter(interval=60)
    handler.addFilter(repeats)
    logger = logging.getLogger(f"feedback.test.{id(stream)}")
    logger.propagate = False
    logger.handlers = [handler]
    return logger, stream, repeats


def test_a_repeated_error_is_one_line_with_a_count_per_interval() -> None:
    logger, stream, repeats = _logger(JsonFormatter())
    for _ in range(1000):
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError:
            logger.exception("could not store a report")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "database or disk is full" in json.loads(lines[0])["exception"]
    [summary] = repeats.flush(now=time.time() + 61)
    logger.handlers[0].handle(summary)
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert last["repeated"] == 999
    assert "repeated 999 times" in last["message"]
    # A different error is not folded into the first.
    logger.error("something else")
    assert "something else" in stream.getvalue()


def test_text_logs_carry_extra_fields() -> None:
    logger, stream, _ = _logger(TextFormatter())
    logger.warning("purged %d reports", 3, extra={"older_than_days": 180})
    assert "purged 3 reports older_than_days=180" in stream.getvalue()


async def test_a_full_disk_does_not_write_a_traceback_per_report(app, client, site, caplog) -> None:
    from feedback.logs import configure

    stream = io.StringIO()
    handler = configure("text")
    handler.setStream(stream)
    try:
        for table in ("report_search", "submissions"):
            query_database(app.state.services.settings.database, f"DROP TABLE {table}")
        for n in range(50):
            body = report_payload(site, quote={"exact": f"x{n}"})
            r = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
            assert r.status_code == 503
    finally:
        logging.getLogger().removeHandler(handler)
    # One line with its traceback (the store's error and its cause), not fifty.
    assert stream.getvalue().count("ERROR feedback.intake: could not store a report") == 1
    assert stream.getvalue().count("Traceback (most recent call last)") <= 2


# --- /healthz -------------------------------------------------------------------------


async def test_healthz_reports_schema_version_and_writer_queue(client) -> None:
    body = (await client.get("/healthz")).json()
    assert body["ready"] is True and body["live"] is True
    assert body["schema_version"] >= 1
    assert body["writer_queue"] == 0
    assert (await client.get("/healthz/live")).json()["live"] is True


def chattr(flag: str, *paths: str) -> None:
    result = subprocess.run(["chattr", flag, *paths], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"chattr {flag} not possible here: {result.stderr.strip()}")


@SQLITE_ONLY
async def test_an_immutable_database_is_not_ready_until_it_is_writable_again(
    app, client, site, monkeypatch
) -> None:
    monkeypatch.setattr(sqlite_health, "PROBE_INTERVAL", 0.0)  # a test write every check
    path = app.state.services.settings.database
    chattr("+i", path)
    try:
        response = await client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False and body["live"] is True
        assert any("not writable" in p for p in body["problems"])
        assert (await client.get("/healthz/live")).status_code == 200
    finally:
        chattr("-i", path)
    assert (await client.get("/healthz")).status_code == 200


async def test_a_failed_store_makes_the_service_not_ready_for_a_while(
    app, client, site, monkeypatch
) -> None:
    for table in ("report_search", "submissions"):
        query_database(app.state.services.settings.database, f"DROP TABLE {table}")
    r = await client.post("/api/v1/reports", json=report_payload(site), headers=ORIGIN)
    assert r.status_code == 503
    health = await client.get("/healthz")
    assert health.status_code == 503
    assert any("could not be stored" in p for p in health.json()["problems"])
    # With no report since, it is forgotten after a while once test writes succeed.
    monkeypatch.setattr(health_module, "FAILURE_MEMORY", 0.0)
    assert (await client.get("/healthz")).status_code == 200


@SQLITE_ONLY
async def test_a_full_disk_is_not_ready(app, client, monkeypatch) -> None:
    # Free space is compared against a floor; raise the floor above any real disk.
    monkeypatch.setattr(sqlite_health, "MIN_FREE_BYTES", 1 << 62)
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert any("disk is full" in p for p in response.json()["problems"])
