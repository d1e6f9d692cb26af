"""`feedback serve` as a client on the network meets it: a real server process on a free
loopback port, spoken to over raw sockets, on both server stacks it can run."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port

STACKS = [("asyncio", "h11"), ("uvloop", "httptools")]


@contextmanager
def serve(tmp_path: Path, *args: str, env: dict | None = None) -> Iterator[tuple[int, str]]:
    """Run `feedback serve ARGS`; yield its port and, once stopped, nothing more."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    base |= {"FEEDBACK_DATABASE": str(tmp_path / "serve.db"), "FEEDBACK_SECRET_KEY": "s" * 32}
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedback", "serve", "--port", str(port), *args],
            env=base | (env or {}), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    if b" 200 " in read_all(sock, 5):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield port, log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def read_all(sock: socket.socket, timeout: float) -> bytes:
    """Everything until the server closes the connection; raises TimeoutError if it doesn't."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data + b"<reset>"
        if not chunk:
            return data
        data += chunk


def read_response(sock: socket.socket, timeout: float = 5) -> bytes:
    """One response framed by Content-Length, leaving the connection open."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_within(sock: socket.socket, seconds: float) -> bool:
    try:
        read_all(sock, seconds)
    except TimeoutError:
        return False
    return True


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize("stack", STACKS, ids="+".join)
def test_two_workers_answer_without_waiting_for_delayed_acks(tmp_path, stack) -> None:
    # Nagle's algorithm left on holds the second write of a response until the client
    # ACKs the first, which it delays by ~40 ms: every keep-alive request took 40 ms+.
    loop, http = stack
    timings = []
    with serve(tmp_path, "--workers", "2", "--loop", loop, "--http", http) as (port, _):
        sock = socket.create_connection(("127.0.0.1", port))
        for _ in range(40):
            start = time.perf_counter()
            sock.sendall(HEALTHZ)
            assert b" 200 " in read_response(sock)
            timings.append(time.perf_counter() - start)
        sock.close()
    # A generous bound on a busy machine; the fault shows as a steady 40 ms or more.
    assert statistics.median(timings) < 0.02, timings


def test_start_up_names_the_fast_stack(tmp_path) -> None:
    with serve(tmp_path) as (_, log):
        assert "event loop uvloop, HTTP parser httptools" in log


def test_falls_back_to_asyncio_and_h11_and_says_so(tmp_path) -> None:
    # Modules that fail to import stand in for a platform without the wheels.
    blocked = tmp_path / "blocked"
    for name in ("uvloop", "httptools"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('no {name} here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    with serve(tmp_path, env=env) as (port, log):
        assert "event loop asyncio, HTTP parser h11" in log
        assert "uvloop is not installed" in log
        assert "httptools is not installed" in log
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(HEALTHZ)
            assert b" 200 " in read_response(sock)


@pytest.mark.parametrize("stack", STACKS, ids="+".join)
def test_answered_too_large_report_closes_instead_of_reading_the_rest(tmp_path, stack) -> None:
    loop, http = stack
    with serve(tmp_path, "--loop", loop, "--http", http) as (port, _):
        declared = (
            b"POST /api/v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n" + b"x" * 20000
        )
        chunked = (
            b"POST /api/v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"4e20\r\n" + b"x" * 20000 + b"\r\n"
        )
        for request in (declared, chunked):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(request)
                start = time.monotonic()
                # The client has more to send, but the server answers and closes now.
                answer = read_all(sock, 5)
                assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
                assert b'"payload_too_large"' in answer
                assert time.monotonic() - start < 3


@pytest.mark.parametrize("stack", STACKS, ids="+".join)
def test_content_length_with_transfer_encoding_is_refused_and_closed(tmp_path, stack) -> None:
    loop, http = stack
    with serve(tmp_path, "--loop", loop, "--http", http) as (port, _):
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        body = b"0\r\n\r\n" + smuggled
        request = (
            b"POST /api/v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body)
        ) + body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            answer = read_all(sock, 5)
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert answer.count(b"HTTP/1.1") == 1, "the request hidden in the body was answered"


@pytest.mark.parametrize("stack", STACKS, ids="+".join)
def test_slow_or_silent_clients_are_cut_off_and_keep_alive_still_works(tmp_path, stack) -> None:
    loop, http = stack
    args = ["--loop", loop, "--http", http, "--timeout-header", "1", "--timeout-body", "1"]
    with serve(tmp_path, *args) as (port, _):
        silent = socket.create_connection(("127.0.0.1", port))
        slow_head = socket.create_connection(("127.0.0.1", port))
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        start = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\n":  # a byte every 0.25 s: slowloris
            try:
                slow_head.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.25)
            if time.monotonic() - start > 4:
                break
        for sock in (silent, slow_head, slow_body):
            assert closed_within(sock, 3)
            sock.close()
        assert time.monotonic() - start < 6

        # A client that keeps to the deadlines keeps its connection across requests and
        # idle gaps shorter than the keep-alive timeout.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for _ in range(3):
                sock.sendall(HEALTHZ[:10])
                time.sleep(0.3)
                sock.sendall(HEALTHZ[10:])
                assert b" 200 " in read_response(sock)
                time.sleep(1.5)  # longer than the head deadline, between requests


def test_concurrency_limit_answers_503_beyond_it(tmp_path) -> None:
    with serve(tmp_path, "--limit-concurrency", "2") as (port, _):
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(HEALTHZ)
                assert read_response(sock).startswith(b"HTTP/1.1 503 ")
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(HEALTHZ)
            assert b" 200 " in read_response(sock)


async def test_intake_shortcut_passes_through_the_apps_own_middleware(settings, site) -> None:
    # Intake POSTs skip Starlette's outer layers, but not middleware given to the app:
    # a layer added there (logs, metrics) sees them like any other request.
    import httpx
    from starlette.middleware import Middleware

    from feedback.app import create_app
    from tests.conftest import ORIGIN, report_payload

    seen: list[tuple[str, str]] = []

    class Spy:
        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] == "http":
                seen.append((scope["method"], scope["path"]))
            await self.app(scope, receive, send)

    app = create_app(settings)
    app.user_middleware.insert(0, Middleware(Spy))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        created = await client.post("/api/v1/reports", json=report_payload(site), headers=ORIGIN)
        assert created.status_code == 201, created.text
        assert created.headers["access-control-allow-origin"] == ORIGIN["Origin"]
        ambiguous = await client.post(
            "/api/v1/reports",
            content=b"{}",
            headers={**ORIGIN, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        assert ambiguous.status_code == 400
        assert ambiguous.headers["connection"] == "close"
        assert (await client.get("/healthz")).status_code == 200
    assert seen == [("POST", "/api/v1/reports"), ("POST", "/api/v1/reports"), ("GET", "/healthz")]
