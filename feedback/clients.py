"""Who is on the other end of a request: the client IP, and its salted hash."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(value: str) -> Any:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(scope: Scope, trusted: Sequence[Network]) -> str:
    """The reader's address. X-Forwarded-For is believed only from a trusted proxy,
    and read right to left past every trusted hop, so a reader cannot forge it."""
    peer = (scope.get("client") or ("", 0))[0] or ""
    if not trusted:
        return peer
    addr = _parse(peer)
    if addr is None or not any(addr in net for net in trusted):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded.extend(v.strip() for v in value.decode("latin-1").split(","))
    for hop in reversed(forwarded):
        hop_addr = _parse(hop)
        if hop_addr is None:
            return peer
        if not any(hop_addr in net for net in trusted):
            return str(hop_addr)
    return forwarded[0] if forwarded else peer


DAY = 86400


@functools.lru_cache(maxsize=4096)
def network_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to: what one household, office or
    small hosting block usually holds. Anything unparsable stands for itself."""
    addr = _parse(ip)
    if addr is None:
        return ip
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def today(now: float | None = None) -> int:
    """Days since the epoch, UTC: the IP hash key changes when this does."""
    return int((time.time() if now is None else now) // DAY)


@functools.lru_cache(maxsize=8)
def _ip_hash_key(secret: str, day: int) -> bytes:
    # A key of its own, so the IP hashes reveal nothing about keys used for signing, and
    # a new one every day, so a reader's reports cannot be linked across days.
    return hashlib.sha256(b"feedback.ip-hash\0%s\0%d" % (secret.encode(), day)).digest()


@functools.lru_cache(maxsize=4096)  # a reader often sends more than one report
def _ip_hash(secret: str, ip: str, day: int) -> str:
    return hmac.new(_ip_hash_key(secret, day), ip.encode(), hashlib.sha256).hexdigest()[:32]


def ip_hash(secret: str, ip: str, day: int | None = None) -> str:
    """Keyed hash of an address under the day's key: lets us spot repeat senders within
    a day without storing who they are."""
    return _ip_hash(secret, ip, today() if day is None else day)


def ip_hashes(secret: str, ip: str, now: float | None = None) -> tuple[str, str]:
    """Today's hash and yesterday's: a spam block set yesterday still matches today."""
    day = today(now)
    return _ip_hash(secret, ip, day), _ip_hash(secret, ip, day - 1)
