"""Floods against a real `feedback serve` with its default limits, and what honest readers
see meanwhile.

1. One address sends --reports reports as fast as it can while honest readers (each from
   an address of their own) send one report each: how many of the flood were stored (at
   most the per-address allowance), whether every honest report was stored, and the
   honest readers' p50/p99 latency.
2. The same number of reports from as many addresses (one report each), while honest
   readers send theirs: the share of honest readers served. Twice: addresses packed in a
   few networks (/24s), and spread at random over the whole address space. The packed
   flood is also run with the per-network limit switched off, in the same run, as the
   baseline the network limit is measured against.

Addresses are given to the service in X-Forwarded-For from loopback, which is listed in
FEEDBACK_TRUSTED_PROXIES, as a reverse proxy would. Loopback only, bounded in count.

    python bench/flood.py [--reports 10000] [--honest 40] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service import ORIGIN, make_service, pct, report  # noqa: E402

DEFAULT_LIMITS = {
    # The shipped defaults, spelled out: the point is to measure them.
    "FEEDBACK_RATE_IP_PER_MINUTE": "10",
    "FEEDBACK_RATE_IP_BURST": "20",
    "FEEDBACK_RATE_PREFIX_PER_MINUTE": "60",
    "FEEDBACK_RATE_PREFIX_BURST": "60",
    "FEEDBACK_RATE_SITE_PER_MINUTE": "600",
    "FEEDBACK_RATE_SITE_BURST": "300",
    "FEEDBACK_TRUSTED_PROXIES": "127.0.0.1",
}


async def flood(svc, addresses, concurrency: int, word: str) -> dict[int, int]:
    codes: dict[int, int] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for n, address in enumerate(addresses):
        queue.put_nowait((n, address))

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            n, address = queue.get_nowait()
            try:
                r = await client.post(
                    "/api/v1/reports",
                    json=report(svc.key, n, word=word),
                    headers={"Origin": ORIGIN, "X-Forwarded-For": address},
                )
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
            except httpx.HTTPError:
                codes[0] = codes.get(0, 0) + 1

    async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return codes


async def honest_readers(svc, count: int, spread_over: float, word: str):
    """`count` readers, each from an address of its own, spread over `spread_over` s."""
    served, latency = 0, []
    async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
        for n in range(count):
            await asyncio.sleep(spread_over / count)
            address = f"100.{64 + n % 60}.{random.randrange(256)}.{random.randrange(1, 255)}"
            start = time.perf_counter()
            r = await client.post(
                "/api/v1/reports",
                json=report(svc.key, n, word=word),
                headers={"Origin": ORIGIN, "X-Forwarded-For": address},
            )
            latency.append(time.perf_counter() - start)
            served += r.status_code == 201
    return served, latency


async def scenario(svc, addresses, args, name: str) -> None:
    start = time.perf_counter()
    flood_task = asyncio.create_task(flood(svc, addresses, args.concurrency, f"{name}-f"))
    # Honest readers arrive over the flood's first seconds, while it is at full strength.
    served, latency = await honest_readers(svc, args.honest, 5.0, f"{name}-h")
    codes = await flood_task
    seconds = time.perf_counter() - start
    print(f"{name}: {len(addresses)} flood reports in {seconds:.1f} s "
          f"(stored {codes.get(201, 0)}, refused 429 {codes.get(429, 0)}, "
          f"other {sum(v for k, v in codes.items() if k not in (201, 429))}); "
          f"honest served {served}/{args.honest} ({served / args.honest:.0%}), "
          f"p50 {pct(latency, 50) * 1000:.1f} ms, "
          f"p99 {pct(latency, 99) * 1000:.1f} ms")  # fmt: skip


def packed(count: int) -> list[str]:
    """Many addresses in few networks: 250 per /24."""
    return [f"198.{18 + n // 64000}.{(n // 250) % 256}.{n % 250 + 1}" for n in range(count)]


def spread(count: int) -> list[str]:
    rng = random.Random(7)
    return [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}."
            f"{rng.randrange(1, 255)}" for _ in range(count)]  # fmt: skip


def run_with(settings: dict[str, str], body) -> None:
    with tempfile.TemporaryDirectory(prefix="feedback-flood-") as tmp:
        svc = make_service(Path(tmp), **settings)
        svc.prepare()
        svc.start()
        try:
            asyncio.run(body(svc))
        finally:
            svc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--honest", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    allowance = int(DEFAULT_LIMITS["FEEDBACK_RATE_IP_BURST"])

    async def single(svc) -> None:
        await scenario(svc, ["203.0.113.66"] * args.reports, args, "one address")
        stored = await asyncio.to_thread(
            lambda: (
                __import__("sqlite3")
                .connect(svc.database)
                .execute("SELECT count(*) FROM reports WHERE quote_exact LIKE 'one address-f%'")
                .fetchone()[0]
            )
        )
        print(f"  flood reports stored: {stored} (allowance: burst {allowance} "
              f"+ {DEFAULT_LIMITS['FEEDBACK_RATE_IP_PER_MINUTE']}/min)")  # fmt: skip

    run_with(DEFAULT_LIMITS, single)
    run_with(DEFAULT_LIMITS, lambda svc: scenario(svc, packed(args.reports), args,
                                                  "many addresses, packed in /24s"))  # fmt: skip
    no_network_limit = {**DEFAULT_LIMITS, "FEEDBACK_RATE_PREFIX_PER_MINUTE": "100000000",
                        "FEEDBACK_RATE_PREFIX_BURST": "100000000"}  # fmt: skip
    run_with(no_network_limit, lambda svc: scenario(
        svc, packed(args.reports), args, "baseline without the network limit, packed"))  # fmt: skip
    run_with(DEFAULT_LIMITS, lambda svc: scenario(svc, spread(args.reports), args,
                                                  "many addresses, spread at random"))  # fmt: skip


if __name__ == "__main__":
    main()
