"""Soak: mixed intake, dashboard and live-update load against a real `feedback serve` for
a long stretch (10 minutes by default), watching the server's memory and every answer.

Load, all on loopback and bounded in rate:
- intake: --rate reports per second from several concurrent senders, a third of them
  duplicates of earlier ones (merged), each a fresh connection or keep-alive in turn;
- dashboard: a signed-in editor loading the queue, a search, a report page, the stats
  page and a CSV export, in a loop;
- live: --streams open live-update streams, reconnecting whenever one ends, counting the
  events they receive.

Every 10 s it samples the server's resident memory. At the end it prints the counts, the
intake latency, the memory after warm-up (the first minute, or a tenth of the run) against
the end and the peak, and PASS only when there were no errors and memory did not grow
by more than 10% after warm-up.

    python bench/soak.py [--seconds 600] [--rate 40] [--streams 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service import ORIGIN, PASSWORD, make_service, pct, report  # noqa: E402


async def intake(svc, stop: asyncio.Event, rate: float, stats: Counter, latency: list) -> None:
    n = 0
    interval = 1.0 / rate
    # One client that keeps its connection, one that opens a new one for every report.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(base_url=svc.url, timeout=30) as keep_alive,
        httpx.AsyncClient(base_url=svc.url, timeout=30, limits=no_reuse) as fresh,
    ):
        next_at = time.monotonic()
        while not stop.is_set():
            n += 1
            body = report(svc.key, n // 3 if n % 3 == 0 else n)  # every third a duplicate
            start = time.perf_counter()
            try:
                if n % 2:
                    r = await keep_alive.post("/api/v1/reports", json=body,
                                              headers={"Origin": ORIGIN})  # fmt: skip
                else:
                    r = await fresh.post("/api/v1/reports", json=body,
                                         headers={"Origin": ORIGIN})  # fmt: skip
                latency.append(time.perf_counter() - start)
                stats["intake " + str(r.status_code)] += 1
                if r.status_code != 201:
                    stats["errors"] += 1
            except httpx.HTTPError as exc:
                stats["errors"] += 1
                stats["intake " + type(exc).__name__] += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"email": "admin@bench.example", "password": PASSWORD, "csrf": csrf, "next": ""}
    r = await client.post("/dashboard/login", data=form)
    if r.status_code != 303:
        raise SystemExit(f"sign-in failed: {r.status_code}")


async def dashboard(svc, stop: asyncio.Event, stats: Counter) -> None:
    async with httpx.AsyncClient(base_url=svc.url, timeout=60,
                                 headers={"Accept": "text/html"}) as client:  # fmt: skip
        await sign_in(client)
        pages = ["/dashboard/", "/dashboard/?q=wrod1&status=all", "/dashboard/reports/1",
                 "/dashboard/stats", "/dashboard/export.csv?status=all"]  # fmt: skip
        i = 0
        while not stop.is_set():
            path = pages[i % len(pages)]
            i += 1
            try:
                r = await client.get(path)
                stats["dashboard " + str(r.status_code)] += 1
                if r.status_code != 200:
                    stats["errors"] += 1
            except httpx.HTTPError as exc:
                stats["errors"] += 1
                stats["dashboard " + type(exc).__name__] += 1
            await asyncio.sleep(0.5)


async def live(svc, stop: asyncio.Event, stats: Counter) -> None:
    async with httpx.AsyncClient(base_url=svc.url, timeout=httpx.Timeout(60, read=40)) as client:
        await sign_in(client)
        while not stop.is_set():
            try:
                async with client.stream("GET", "/dashboard/live",
                                         headers={"Accept": "text/event-stream"}) as s:  # fmt: skip
                    if s.status_code != 200:
                        stats["errors"] += 1
                        stats["live " + str(s.status_code)] += 1
                        await asyncio.sleep(1)
                        continue
                    stats["live streams"] += 1
                    async for line in s.aiter_lines():
                        if line.startswith("event: report"):
                            stats["live events"] += 1
                        if stop.is_set():
                            break
            except httpx.HTTPError as exc:
                if not stop.is_set():
                    stats["errors"] += 1
                    stats["live " + type(exc).__name__] += 1


async def sample_memory(svc, stop: asyncio.Event, samples: list) -> None:
    start = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - start, svc.rss_kib()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 10)


async def run(svc, seconds: float, rate: float, streams: int) -> int:
    stop = asyncio.Event()
    stats: Counter = Counter()
    latency: list[float] = []
    samples: list[tuple[float, int]] = []
    senders = 4
    tasks = [asyncio.create_task(intake(svc, stop, rate / senders, stats, latency))
             for _ in range(senders)]  # fmt: skip
    tasks.append(asyncio.create_task(dashboard(svc, stop, stats)))
    tasks += [asyncio.create_task(live(svc, stop, stats)) for _ in range(streams)]
    tasks.append(asyncio.create_task(sample_memory(svc, stop, samples)))
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(1)
        if svc.proc.poll() is not None:
            stats["errors"] += 1
            stats["server died"] += 1
            break
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    samples.append((time.monotonic() - started, svc.rss_kib()))

    warm = min(60.0, seconds / 10)
    after = [kib for t, kib in samples if t >= warm]
    base, end, peak = after[0], after[-1], max(after)
    growth = (end - base) / base * 100
    print(f"soak: {seconds:.0f} s, intake target {rate:g}/s, {streams} live streams")
    for name, count in sorted(stats.items()):
        print(f"  {name:28} {count}")
    print(f"  intake latency p50 {pct(latency, 50) * 1000:.1f} ms, "
          f"p99 {pct(latency, 99) * 1000:.1f} ms, max {max(latency) * 1000:.1f} ms")  # fmt: skip
    print(f"  RSS after warm-up ({warm:.0f} s) {base / 1024:.1f} MiB, end {end / 1024:.1f} MiB, "
          f"peak {peak / 1024:.1f} MiB, growth {growth:+.1f}%")  # fmt: skip
    print("  samples (s: MiB): " + ", ".join(f"{t:.0f}: {kib / 1024:.1f}" for t, kib in samples))
    ok = stats["errors"] == 0 and growth <= 10
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=float, default=40, help="reports per second")
    parser.add_argument("--streams", type=int, default=3, help="live-update streams")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedback-soak-") as tmp:
        svc = make_service(Path(tmp))
        svc.prepare()
        svc.start()
        try:
            code = asyncio.run(run(svc, args.seconds, args.rate, args.streams))
        finally:
            svc.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
