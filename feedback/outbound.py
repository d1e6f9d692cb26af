"""Outgoing HTTP that cannot be pointed at the service's own network.

Webhook targets and pages to check are typed in by users, so a target could name the
database host, a cloud metadata endpoint or a router's admin page. Every outgoing request
goes through one client (`outbound_client`) whose transport:

- speaks only http and https, and never follows redirects;
- resolves the host name once, refuses the connection if any address it resolves to is
  not a public unicast address, and then connects to the checked address itself. The
  Host header, TLS SNI and certificate check still use the name. A name that resolves to
  a public address when a target is saved and to 127.0.0.1 when it is used (DNS
  rebinding) is therefore caught at the moment of connecting.

`FEEDBACK_ALLOW_PRIVATE_TARGETS=1` lifts the address check (intranets, tests); the scheme
rule and the ban on redirects stay.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from feedback import __version__

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

SCHEMES = frozenset({"http", "https"})
LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=10)

# Ranges that ipaddress counts as global but that reach no one on the public internet
# or reach something that must not be reached from here.
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",  # carrier-grade NAT (Alibaba's metadata at 100.100.100.200)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "64:ff9b::/96",  # NAT64: an IPv4 address in disguise
        "64:ff9b:1::/48",
    )
)


class RefusedTarget(httpx.RequestError):
    """The target is not somewhere this service may send requests to."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def forbidden_reason(address: str | IPAddress) -> str | None:
    """Why an address must not be connected to, or None if it is a public unicast one."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"{ip} is a scoped (link-local) address"
        # An IPv4 address wrapped in IPv6 is judged as the IPv4 address it reaches.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"{ip} wraps {reason}" if reason else None
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_reserved or any(ip in net for net in _EXTRA_BLOCKED) or not ip.is_global:
        return f"{ip} is a reserved or shared address"
    return None


def check_url(url: str | httpx.URL) -> httpx.URL:
    """The URL if it is an absolute http(s) address with a host; RefusedTarget if not."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise RefusedTarget(f"not a valid URL: {str(url)[:200]!r}") from None
    if parsed.scheme not in SCHEMES:
        raise RefusedTarget("the address must start with http:// or https://")
    if not parsed.host:
        raise RefusedTarget("the address names no host")
    return parsed


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a name, in its order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if len(sockaddr) == 4 and sockaddr[3]:  # IPv6 with a scope id
            address = f"{address}%{sockaddr[3]}"
        if address not in addresses:
            addresses.append(address)
    return addresses


async def resolve_checked(
    host: str, port: int, *, allow_private: bool, resolve: Resolver = system_resolver
) -> list[str]:
    """The addresses to connect to for host, all of them allowed; RefusedTarget otherwise."""
    try:
        addresses = await resolve(host.strip("[]"), port)
    except OSError as exc:
        raise RefusedTarget(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise RefusedTarget(f"{host} does not resolve")
    if not allow_private:
        # One bad address is enough to refuse: a name that resolves both ways is
        # either misconfigured or an attempt to get lucky.
        literal = _is_literal(host)
        for address in addresses:
            reason = forbidden_reason(address)
            if reason:
                raise RefusedTarget(reason if literal else f"{host} resolves to {reason}")
    return addresses


async def check_target(
    url: str, *, allow_private: bool, resolve: Resolver = system_resolver
) -> httpx.URL:
    """Check a target when it is saved: http(s), and (unless allowed) a public host."""
    parsed = check_url(url)
    await resolve_checked(
        parsed.host,
        parsed.port or _default_port(parsed),
        allow_private=allow_private,
        resolve=resolve,
    )
    return parsed


class _CheckingBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, checks, and connects to the checked address."""

    def __init__(self, allow_private: bool, resolve: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve_checked(
                    host, port, allow_private=self._allow_private, resolve=self._resolve
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise RefusedTarget("unix sockets are not an outgoing target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that refuses non-http(s) URLs and, unless allowed, private hosts."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolve: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = LIMITS,
    ) -> None:
        # No proxies from the environment: they would be connected to instead of the
        # checked address.
        super().__init__(verify=verify, trust_env=False, limits=limits)
        # httpx has no parameter for the network backend, so the pool it built is
        # replaced by the same pool over the checking backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False)
            if not isinstance(verify, ssl.SSLContext)
            else verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckingBackend(allow_private, resolve),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(request.url)
        return await super().handle_async_request(request)


def outbound_client(
    *,
    allow_private: bool = False,
    timeout: float = 10.0,
    resolve: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """The service's one client for requests to user-supplied addresses."""
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private, resolve=resolve, verify=verify),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": f"feedback/{__version__}"},
    )


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80
