"""The outgoing client reaches public hosts only: checked when saved and when connecting."""

from __future__ import annotations

import ssl

import httpx
import pytest

from feedback.outbound import (
    RefusedTarget,
    check_target,
    forbidden_reason,
    outbound_client,
)
from feedback.settings import load_settings
from tests.receivers import make_certificate, receiver

PUBLIC = "93.184.215.14"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.1",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",  # Alibaba metadata
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.0.170",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
        "2001:db8::1",
    ],
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert forbidden_reason(address)


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(address) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost/hook", "localhost resolves to 127.0.0.1 is a loopback"),
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one decimal number
        ("http://0x7f.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http:///nohost", "no host"),
        ("not a url", "http:// or https://"),
    ],
)
async def test_targets_are_checked_when_saved(url: str, message: str) -> None:
    with pytest.raises(RefusedTarget, match=message.replace("(", r"\(")):
        await check_target(url, allow_private=False)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(RefusedTarget, match="does not resolve"):
        await check_target("http://no-such-host.invalid/", allow_private=False)


async def test_the_client_refuses_a_name_resolving_to_loopback_and_sends_nothing() -> None:
    with receiver() as hook:
        async with outbound_client() as client:
            for host in ("localhost", "127.0.0.1"):
                with pytest.raises(RefusedTarget, match="loopback"):
                    await client.post(f"http://{host}:{hook.port}/hook", json={"x": 1})
    assert hook.requests == []


async def test_private_targets_can_be_allowed() -> None:
    with receiver() as hook:
        await check_target(f"http://localhost:{hook.port}/", allow_private=True)
        async with outbound_client(allow_private=True) as client:
            response = await client.post(f"http://localhost:{hook.port}/hook", content=b"hi")
    assert response.status_code == 200
    assert [r.body for r in hook.requests] == [b"hi"]


async def test_dns_rebinding_is_caught_when_connecting() -> None:
    """The name is public when the target is saved and loopback when it is used."""
    answers = iter([[PUBLIC], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    with receiver() as hook:
        url = f"http://hooks.example:{hook.port}/hook"
        await check_target(url, allow_private=False, resolve=rebinding)
        async with outbound_client(resolve=rebinding) as client:
            with pytest.raises(RefusedTarget, match="hooks.example resolves to 127.0.0.1"):
                await client.post(url, json={})
    assert hook.requests == []


async def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return [PUBLIC, "10.0.0.5"]

    with pytest.raises(RefusedTarget, match="10.0.0.5"):
        await check_target("https://hooks.example/", allow_private=False, resolve=mixed)


async def test_the_checked_address_is_connected_to_and_the_host_header_kept() -> None:
    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "hooks.example" else []

    with receiver() as hook:
        async with outbound_client(allow_private=True, resolve=to_loopback) as client:
            response = await client.get(f"http://hooks.example:{hook.port}/path?q=1")
    assert response.status_code == 200
    assert hook.requests[0].path == "/path?q=1"
    assert hook.requests[0].headers["Host"] == f"hooks.example:{hook.port}"


async def test_tls_keeps_the_name_for_sni_and_the_certificate_check(tmp_path) -> None:
    cert, key = make_certificate(tmp_path, "hooks.example")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trust = ssl.create_default_context(cafile=str(cert))

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    with receiver(tls=server_tls) as hook:
        async with outbound_client(allow_private=True, resolve=to_loopback, verify=trust) as c:
            response = await c.post(f"https://hooks.example:{hook.port}/hook", content=b"x")
            assert response.status_code == 200
            # A name the certificate does not cover fails verification, as it should.
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await c.post(f"https://other.example:{hook.port}/hook", content=b"x")
    assert hook.sni[0] == "hooks.example"
    assert len(hook.requests) == 1


async def test_redirects_are_not_followed() -> None:
    with receiver() as inside, receiver() as hook:
        hook.answer((302, {"Location": f"{inside.url}/admin"}, b""))
        async with outbound_client(allow_private=True) as client:
            response = await client.post(f"{hook.url}/hook", json={})
    assert response.status_code == 302
    assert inside.requests == []


async def test_the_client_refuses_other_schemes() -> None:
    async with outbound_client(allow_private=True) as client:
        with pytest.raises((RefusedTarget, httpx.UnsupportedProtocol)):
            await client.get("ftp://127.0.0.1/")


def test_allow_private_targets_setting(tmp_path) -> None:
    env = str(tmp_path / "none")
    assert not load_settings({}, env_file=env).allow_private_targets
    assert load_settings(
        {"FEEDBACK_ALLOW_PRIVATE_TARGETS": "1"}, env_file=env
    ).allow_private_targets


async def test_the_apps_shared_client_is_the_guarded_one(app) -> None:
    with receiver() as hook, pytest.raises(RefusedTarget):
        await app.state.services.http.get(f"http://localhost:{hook.port}/")
    assert hook.requests == []
