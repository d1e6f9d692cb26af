"""How `feedback serve` runs uvicorn: the fastest stack installed, and connections that
cannot be held open for free.

uvicorn's own HTTP protocols are subclassed for two things it does not do itself:
- TCP_NODELAY on every connection. asyncio sets it only on sockets whose protocol
  number says TCP, and the listening socket uvicorn binds for `--workers N` says 0, so
  every accepted connection kept Nagle's algorithm on: a response written in two parts
  waited for the client's delayed ACK, about 40 ms per request.
- One write per response. uvicorn writes a response's head and body separately: two
  system calls and two packets where one does. Writes made in one turn of the event loop
  now go out together, which on a small JSON answer is a good tenth of the serving
  process's time.
- Closing a connection whose response went out before its request body had arrived
  (413 for a body over the limit, 400 for a malformed one), instead of reading and
  discarding the rest of the body to keep the connection. The close lingers briefly,
  discarding what is already on its way, so the client reads the answer before the
  connection goes: closing a socket with unread data resets it, and a reset can destroy
  the answer in flight.
- A deadline for a request to arrive. uvicorn times out idle keep-alive connections only
  after a response; a client that connects and sends nothing, or sends its request
  head or body a byte at a time, would hold a connection (and a concurrency slot)
  forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: h11 only
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

# uvicorn rebuilds its configuration in each worker process it spawns; the environment is
# what reaches them, so the deadlines travel there (set by `feedback serve`).
HEADER_TIMEOUT_ENV = "FEEDBACK_SERVE_HEADER_TIMEOUT"
BODY_TIMEOUT_ENV = "FEEDBACK_SERVE_BODY_TIMEOUT"
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 10.0
# How long, and how much, a closing connection still reads and discards.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20


def _seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class _CoalescingTransport:
    """The transport as uvicorn's protocol sees it: what is written in one turn of the
    event loop is sent at the end of that turn (or before a close) in one write."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Sweeper:
    """One timer per event loop for every connection's deadline. Arming a deadline is then
    two attribute writes on the hot path instead of a timer scheduled and cancelled for
    every request. A deadline fires at most a quarter of its length late, never early."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.now = loop.time()  # a coarse clock, moved on by each sweep
        self.connections: set[_Connection] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: _Connection) -> None:
        self.connections.add(connection)
        if self._timer is None:
            self.now = self.loop.time()
            self._timer = self.loop.call_later(self.interval, self._sweep)

    def discard(self, connection: _Connection) -> None:
        self.connections.discard(connection)

    def _sweep(self) -> None:
        self.now = now = self.loop.time()
        for connection in [c for c in self.connections if 0 < c._deadline_at <= now]:
            connection._expired()
        self._timer = self.loop.call_later(self.interval, self._sweep) if self.connections else None


_sweepers: dict[asyncio.AbstractEventLoop, _Sweeper] = {}


def _sweeper(interval: float) -> _Sweeper:
    loop = asyncio.get_running_loop()
    sweeper = _sweepers.get(loop)
    if sweeper is None or sweeper.interval != interval:
        # One loop per process in practice; forget loops that have gone (tests run many).
        for old in [old for old in _sweepers if old.is_closed()]:
            del _sweepers[old]
        sweeper = _sweepers[loop] = _Sweeper(loop, interval)
    return sweeper


class _Connection:
    """Mixed into uvicorn's HTTP protocols. Relies only on what both share: a `cycle`
    per request that is replaced when a request head is complete, with `more_body`
    cleared once its body has arrived."""

    header_timeout = _seconds(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT)
    body_timeout = _seconds(BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT)

    _sweeper: _Sweeper | None = None
    _deadline_at: float = 0.0  # on the sweeper's clock; 0 while no deadline runs
    _waiting_for: str = ""  # "head", "body" or "linger" while a deadline runs
    _cycle_before: Any = None
    _lingering = 0  # bytes still accepted and discarded before the connection closes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # the peer may already be gone
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[misc]
        self.transport = _CoalescingTransport(transport, asyncio.get_running_loop())
        shortest = min(t for t in (self.header_timeout, self.body_timeout, LINGER_SECONDS) if t > 0)
        self._sweeper = _sweeper(min(1.0, max(0.05, shortest / 4)))
        self._sweeper.add(self)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._lingering = max(0, self._lingering - len(data))
            if not self._lingering:
                self.transport.close()  # type: ignore[attr-defined]
            return
        cycle = self.cycle  # type: ignore[attr-defined]
        if not self._waiting_for and (cycle is None or cycle.response_complete):
            self._await_head()  # the first bytes of the next request on this connection
        super().data_received(data)  # type: ignore[misc]
        if self._waiting_for:
            self._progress()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._sweeper is not None:
            self._sweeper.discard(self)
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        transport = self.transport  # type: ignore[attr-defined]
        transport.flush()  # the answer is whole: send it now, not at the end of the turn
        super().on_response_complete()  # type: ignore[misc]
        cycle = self.cycle  # type: ignore[attr-defined]
        if cycle is not None and cycle.more_body and not transport.is_closing():
            # Answered before the body arrived: the rest of it is not worth reading.
            self._unset_keepalive_if_required()  # type: ignore[attr-defined]
            self._lingering = LINGER_BYTES
            self._arm("linger", LINGER_SECONDS)
            self.flow.resume_reading()  # type: ignore[attr-defined]
            if transport.can_write_eof():
                transport.write_eof()  # FIN after the answer; the client may still send

    def _await_head(self) -> None:
        self._cycle_before = self.cycle  # type: ignore[attr-defined]
        self._arm("head", self.header_timeout)

    def _progress(self) -> None:
        cycle = self.cycle  # type: ignore[attr-defined]
        if self._waiting_for == "head" and cycle is not self._cycle_before:
            self._cancel_deadline()
            if cycle.more_body:
                self._arm("body", self.body_timeout)
        elif self._waiting_for == "body" and not cycle.more_body:
            self._cancel_deadline()

    def _arm(self, what: str, seconds: float) -> None:
        if seconds > 0 and self._sweeper is not None:
            self._waiting_for = what
            # The sweeper's clock may be up to one interval behind: never fire early.
            self._deadline_at = self._sweeper.now + seconds + self._sweeper.interval
        else:
            self._cancel_deadline()

    def _cancel_deadline(self) -> None:
        self._deadline_at = 0.0
        self._waiting_for = ""

    def _expired(self) -> None:
        self._progress()  # the request may have completed in the same loop turn
        if self._waiting_for:
            self._cancel_deadline()
            transport = self.transport  # type: ignore[attr-defined]
            if not transport.is_closing():
                transport.close()


def set_deadlines(header_timeout: float, body_timeout: float) -> None:
    """Deadlines for this process and for the worker processes it will start."""
    _Connection.header_timeout = header_timeout
    _Connection.body_timeout = body_timeout
    os.environ[HEADER_TIMEOUT_ENV] = str(header_timeout)
    os.environ[BODY_TIMEOUT_ENV] = str(body_timeout)


class H11Connection(_Connection, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol (h11), with the fixes above."""


if HttpToolsProtocol is not None:

    class HttpToolsConnection(_Connection, HttpToolsProtocol):
        """uvicorn's HTTP/1.1 protocol on httptools (llhttp, in C), with the fixes above."""


@dataclass(frozen=True)
class Stack:
    loop: str  # "uvloop" or "asyncio"
    http: str  # "httptools" or "h11"
    notes: tuple[str, ...] = ()

    @property
    def protocol(self) -> type[asyncio.Protocol]:
        return HttpToolsConnection if self.http == "httptools" else H11Connection

    def describe(self) -> str:
        return f"event loop {self.loop}, HTTP parser {self.http}"


class StackError(ValueError):
    """An explicitly requested part of the stack is not installed."""


def _installed(module: str) -> bool:
    try:  # an import, not a lookup: a wheel built for another platform is found but fails
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def choose_stack(loop: str = "auto", http: str = "auto") -> Stack:
    """The fastest stack installed, or the one asked for. Both fast parts come with the
    package; they may be missing where no wheel exists (Windows for uvloop, PyPy)."""
    notes = []
    if loop == "auto":
        loop = "uvloop" if _installed("uvloop") else "asyncio"
        if loop == "asyncio":
            notes.append(
                "uvloop is not installed, so the event loop is asyncio's own "
                "(slower; pip install uvloop where it is available)"
            )
    elif loop == "uvloop" and not _installed("uvloop"):
        raise StackError("--loop uvloop: uvloop is not installed")
    if http == "auto":
        http = "httptools" if HttpToolsProtocol is not None else "h11"
        if http == "h11":
            notes.append(
                "httptools is not installed, so HTTP is parsed by h11 in pure Python "
                "(slower; pip install httptools where it is available)"
            )
    elif http == "httptools" and HttpToolsProtocol is None:
        raise StackError("--http httptools: httptools is not installed")
    return Stack(loop, http, tuple(notes))
