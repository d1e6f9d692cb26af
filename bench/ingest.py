"""Intake throughput and latency against a real uvicorn on loopback.

Starts two servers on free loopback ports: the full service (validation, normalisation,
rate limiting, duplicate merging, group-committed durable writes with synchronous=FULL)
and a bare Starlette endpoint that parses the same JSON and stores nothing. Both are
driven by the same load, interleaved round by round, at concurrency 1, 16 and 64, with
keep-alive connections and with one new connection per report. Prints reports/s and
p50/p99 latency for each, medians over the rounds, and the ratio service/bare.

The load is bounded: a fixed number of requests per measurement, loopback only.

    python bench/ingest.py [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BARE_APP = """
import json
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def receive(request):
    data = json.loads(await request.body())
    return JSONResponse({"id": len(data), "duplicate": False}, status_code=201)

app = Starlette(routes=[Route("/api/v1/reports", receive, methods=["POST"])])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def start_service(folder: Path) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    env = {
        **os.environ,
        "FEEDBACK_DATABASE": str(folder / "bench.db"),
        "FEEDBACK_SECRET_KEY": "bench-secret",
        # The limiter still runs on every request; the limits are high so that the
        # benchmark's single loopback client measures throughput, not refusals.
        "FEEDBACK_RATE_IP_PER_MINUTE": "100000000",
        "FEEDBACK_RATE_IP_BURST": "100000000",
        "FEEDBACK_RATE_SITE_PER_MINUTE": "100000000",
        "FEEDBACK_RATE_SITE_BURST": "100000000",
        "FEEDBACK_RATE_PREFIX_PER_MINUTE": "100000000",
        "FEEDBACK_RATE_PREFIX_BURST": "100000000",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "feedback",
            "site",
            "add",
            "Bench",
            "--origin",
            "https://bench.example",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.split("Key: ")[1].split()[0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedback", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
    return proc, port, key


def start_bare(folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (folder / "bare_app.py").write_text(BARE_APP)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-server-header",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/api/v1/reports", proc)
    return proc, port


def payload(key: str, n: int) -> bytes:
    # Every tenth report repeats an earlier quote, so merging duplicates is exercised too.
    word = f"wrod{n // 10 if n % 10 == 0 else n}"
    return json.dumps(
        {
            "site": key,
            "kind": "typo",
            "url": f"https://bench.example/news/{n % 50}?utm_source=bench",
            "title": "A benchmark article",
            "lang": "en",
            "quote": {
                "exact": word,
                "prefix": "The quick brown fox jumps over the ",
                "suffix": " lazy dog and runs away into the forest.",
            },
            "suggestion": "word",
            "comment": "Looks like a typo to me.",
        }
    ).encode()


class Connection:
    """A bare HTTP/1.1 client on asyncio streams. httpx costs more CPU per request than the
    server under test, and on a shared 2-core machine that would cap both sides alike."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
        self.reader = self.writer = None


def http_request(port: int, body: bytes, keep_alive: bool) -> bytes:
    return (
        f"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nOrigin: https://bench.example\r\n"
        "User-Agent: feedback-bench\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def run_load(
    port: int, key: str, total: int, concurrency: int, keep_alive: bool, offset: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    requests = [http_request(port, payload(key, offset + n), keep_alive) for n in range(total)]
    counter = iter(requests)

    async def worker() -> None:
        nonlocal errors
        conn = Connection(port)
        try:
            for request in counter:
                start = time.perf_counter()
                status = await conn.post(request)
                latencies.append(time.perf_counter() - start)
                if status != 201:
                    errors += 1
        finally:
            await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return total / elapsed, latencies, errors


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16, 64], help="concurrency levels"
    )
    parser.add_argument(
        "--mode",
        choices=["keep-alive", "new-conn"],
        nargs="+",
        default=["keep-alive", "new-conn"],
        help="connection modes",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    service, service_port, key = start_service(folder)
    bare, bare_port = start_bare(folder)
    offset = 0
    try:
        print(
            f"{args.requests} requests per measurement, {args.rounds} interleaved rounds, "
            "medians shown; load generator and servers share this machine's cores"
        )
        print(
            f"{'mode':<11} {'conc':>4} | {'service r/s':>11} {'p50 ms':>7} {'p99 ms':>7} | "
            f"{'bare r/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5}"
        )
        for keep_alive in [mode == "keep-alive" for mode in args.mode]:
            for concurrency in args.concurrency:
                results: dict[str, list[tuple[float, float, float]]] = {"svc": [], "bare": []}
                failures = 0
                for _ in range(args.rounds):
                    for name, port in (("svc", service_port), ("bare", bare_port)):
                        rate, lat, errors = asyncio.run(
                            run_load(port, key, args.requests, concurrency, keep_alive, offset)
                        )
                        offset += args.requests
                        failures += errors
                        results[name].append((rate, pct(lat, 0.50), pct(lat, 0.99)))
                svc = [statistics.median(col) for col in zip(*results["svc"], strict=True)]
                bare_m = [statistics.median(col) for col in zip(*results["bare"], strict=True)]
                mode = "keep-alive" if keep_alive else "new-conn"
                row = (
                    f"{mode:<11} {concurrency:>4} | "
                    f"{svc[0]:>11.0f} {svc[1]:>7.1f} {svc[2]:>7.1f} | "
                    f"{bare_m[0]:>9.0f} {bare_m[1]:>7.1f} {bare_m[2]:>7.1f} | "
                    f"{svc[0] / bare_m[0]:>5.2f}"
                )
                print(row + (f"  ({failures} non-201)" if failures else ""))
        stored = httpx.get(f"http://127.0.0.1:{service_port}/healthz").json()
        print(f"service health after the run: {stored['status']}")
    finally:
        for proc in (service, bare):
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
