"""A flood from many addresses of one network uses up that network's allowance, and
readers elsewhere are still heard; addresses sending again and again may not use the last
half of the site's allowance; the site's own cap stays the last line."""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import replace

import httpx
import pytest

from feedback.app import create_app
from feedback.clients import network_of
from feedback.store.sites import add_site
from tests.conftest import ORIGIN, report_payload


@contextlib.asynccontextmanager
async def app_behind_proxy(settings, **limits):
    """The app with these rate limits, trusting 10.0.0.0/8 as its reverse proxy."""
    application = create_app(
        replace(
            settings,
            trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),),
            rate_ip_per_minute=1.0,
            rate_ip_burst=20,
            **limits,
        )
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def flooded_app(settings):
    async with app_behind_proxy(
        settings,
        rate_prefix_per_minute=1.0,
        rate_prefix_burst=30,
        rate_site_per_minute=1.0,
        rate_site_burst=120,
    ) as application:
        yield application


async def send_as(proxy: httpx.AsyncClient, site, address: str, word: str) -> int:
    headers = {**ORIGIN, "X-Forwarded-For": address}
    body = report_payload(site, quote={"exact": word})
    return (await proxy.post("/api/v1/reports", json=body, headers=headers)).status_code


async def test_a_flood_from_one_network_leaves_room_for_everyone_else(flooded_app) -> None:
    site = await add_site(flooded_app.state.services.store, "S", ["https://example.com"])
    transport = httpx.ASGITransport(app=flooded_app, client=("10.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxy:
        # 500 reports from 500 addresses of two /24s and one /48.
        flood = [f"198.51.100.{n % 250 + 1}" for n in range(200)]
        flood += [f"203.0.113.{n % 250 + 1}" for n in range(200)]
        flood += [f"2001:db8:77::{n:x}" for n in range(100)]
        codes = [await send_as(proxy, site, a, f"flood{n}") for n, a in enumerate(flood)]
        # Each network got its burst (and the little its rate refilled while the flood
        # ran) and no more: about 3 x 30, under the site's 120.
        assert 90 <= codes.count(201) <= 95
        honest = [
            await send_as(proxy, site, f"192.0.2.{n}", f"honest{n}") for n in range(1, 11)
        ] + [await send_as(proxy, site, f"2001:db8:{n}::1", f"v6-{n}") for n in range(1, 6)]
    assert honest == [201] * 15


@pytest.fixture
async def repeat_app(settings):
    async with app_behind_proxy(
        settings,
        rate_prefix_per_minute=1_000_000.0,
        rate_prefix_burst=1_000_000,
        rate_site_per_minute=1.0,
        rate_site_burst=40,
    ) as application:
        yield application


async def test_addresses_sending_again_and_again_leave_half_the_site_to_first_senders(
    repeat_app,
) -> None:
    site = await add_site(repeat_app.state.services.store, "S", ["https://example.com"])
    transport = httpx.ASGITransport(app=repeat_app, client=("10.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxy:
        # Four addresses, 15 reports each: within each address's own allowance (20), and
        # together more than the site's (40).
        codes = [
            await send_as(proxy, site, f"198.51.{a}.7", f"flood{a}-{n}")
            for a in range(4)
            for n in range(15)
        ]
        # Each address's first report, and repeats only while half the site's allowance
        # is left: 4 first reports and 18 repeats (and what the rate refilled meanwhile).
        assert codes.count(201) in (22, 23)
        assert codes[:15] == [201] * 15  # the first address's repeats, while room was left
        assert codes[15:20] == [201] * 5 and codes[20:30] == [429] * 10
        honest = [await send_as(proxy, site, f"192.0.2.{n}", f"honest{n}") for n in range(1, 11)]
    # Without the split the flood would have taken all 40 and these would get 429.
    assert honest == [201] * 10


def test_networks_are_slash_24_and_slash_48() -> None:
    assert network_of("198.51.100.7") == "198.51.100.0/24"
    assert network_of("2001:db8:1:2:3::9") == "2001:db8:1::/48"
    assert network_of("::ffff:198.51.100.7") == "198.51.100.0/24"
    assert network_of("not an address") == "not an address"
