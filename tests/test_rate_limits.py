"""Per-IP and per-site token buckets answer 429 with Retry-After."""

from __future__ import annotations

import httpx
import pytest

from feedback.app import create_app
from feedback.ratelimit import TokenBuckets
from feedback.store.sites import add_site
from tests.conftest import ORIGIN, make_settings, report_payload


@pytest.fixture
async def strict_app(tmp_path, database):
    settings = make_settings(
        tmp_path,
        database=database,
        rate_ip_per_minute=2.0,
        rate_ip_burst=3,
        rate_site_per_minute=6.0,  # slow refill: a slow machine must not earn a token
        rate_site_burst=5,
        trusted_proxies=(__import__("ipaddress").ip_network("10.0.0.0/8"),),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client_from(app, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_one_address_is_limited_with_retry_after(strict_app) -> None:
    site = await add_site(strict_app.state.services.store, "S", ["https://example.com"])
    async with client_from(strict_app, "198.51.100.1") as client:
        codes = []
        for n in range(4):
            body = report_payload(site, quote={"exact": f"word{n}"})
            codes.append(await client.post("/api/v1/reports", json=body, headers=ORIGIN))
    assert [r.status_code for r in codes] == [201, 201, 201, 429]
    limited = codes[-1]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "minute" in limited.json()["error"]["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 30  # 2/min: next token within 30 s
    assert limited.headers["access-control-allow-origin"] == "https://example.com"
    assert limited.headers["access-control-expose-headers"] == "Retry-After"


async def test_other_addresses_are_not_affected(strict_app) -> None:
    site = await add_site(strict_app.state.services.store, "S", ["https://example.com"])
    for ip, sends in (("198.51.100.1", 3), ("198.51.100.2", 1), ("198.51.100.3", 1)):
        async with client_from(strict_app, ip) as client:
            for n in range(sends):  # 5 reports in all: the site's burst
                body = report_payload(site, quote={"exact": f"{ip}-{n}"})
                r = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
                assert r.status_code == 201


async def test_a_second_send_may_not_use_the_last_half_of_the_site_allowance(
    strict_app,
) -> None:
    site = await add_site(strict_app.state.services.store, "S", ["https://example.com"])
    codes = []
    for ip, sends in (("198.51.100.1", 1), ("198.51.100.2", 1), ("198.51.100.3", 2)):
        async with client_from(strict_app, ip) as client:
            for n in range(sends):
                body = report_payload(site, quote={"exact": f"{ip}-{n}"})
                codes.append((await client.post("/api/v1/reports", json=body,
                                                 headers=ORIGIN)).status_code)  # fmt: skip
    # Burst 5, of which 2 are kept for first sends: the third address's first report
    # leaves 2, so its second waits; another address's first is still taken.
    assert codes == [201, 201, 201, 429]
    async with client_from(strict_app, "198.51.100.4") as client:
        body = report_payload(site, quote={"exact": "fourth"})
        assert (await client.post("/api/v1/reports", json=body, headers=ORIGIN)).status_code == 201


async def test_site_limit_applies_across_addresses(strict_app) -> None:
    site = await add_site(strict_app.state.services.store, "S", ["https://example.com"])
    statuses = []
    for n in range(7):
        async with client_from(strict_app, f"198.51.100.{n + 10}") as client:
            body = report_payload(site, quote={"exact": f"w{n}"})
            statuses.append(
                (await client.post("/api/v1/reports", json=body, headers=ORIGIN)).status_code
            )
    assert statuses == [201] * 5 + [429, 429]


async def test_forwarded_for_is_believed_only_from_trusted_proxies(strict_app) -> None:
    site = await add_site(strict_app.state.services.store, "S", ["https://example.com"])
    # A reader forging X-Forwarded-For directly is still limited by their own address.
    async with client_from(strict_app, "198.51.100.9") as client:
        statuses = []
        for n in range(4):
            headers = {**ORIGIN, "X-Forwarded-For": f"192.0.2.{n}"}
            body = report_payload(site, quote={"exact": f"f{n}"})
            statuses.append(
                (await client.post("/api/v1/reports", json=body, headers=headers)).status_code
            )
    assert statuses == [201, 201, 201, 429]


async def test_readers_behind_a_trusted_proxy_have_their_own_buckets(tmp_path, database) -> None:
    import ipaddress

    settings = make_settings(
        tmp_path,
        database=database,
        rate_ip_per_minute=2.0,
        rate_ip_burst=2,
        trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        site = await add_site(app.state.services.store, "S", ["https://example.com"])
        async with client_from(app, "10.1.2.3") as proxy:
            statuses: dict[str, list[int]] = {}
            for reader in ("192.0.2.1", "192.0.2.2"):
                for n in range(3):
                    # The leftmost entry is whatever the reader claimed; only the hop the
                    # proxy itself appended counts.
                    headers = {**ORIGIN, "X-Forwarded-For": f"203.0.113.99, {reader}"}
                    body = report_payload(site, quote={"exact": f"{reader}-{n}"})
                    r = await proxy.post("/api/v1/reports", json=body, headers=headers)
                    statuses.setdefault(reader, []).append(r.status_code)
    assert statuses == {"192.0.2.1": [201, 201, 429], "192.0.2.2": [201, 201, 429]}


def test_token_bucket_refills_over_time() -> None:
    buckets = TokenBuckets(per_minute=60.0, burst=2)
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == 0
    wait = buckets.take("a", now=0.0)
    assert wait == pytest.approx(1.0)
    assert buckets.take("a", now=1.0) == 0


def test_token_buckets_forget_idle_keys_beyond_the_cap() -> None:
    buckets = TokenBuckets(per_minute=1.0, burst=1, max_keys=100)
    for n in range(1000):
        buckets.take(f"k{n}", now=0.0)
    assert len(buckets._buckets) == 100
