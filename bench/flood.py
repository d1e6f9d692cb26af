"""Floods against a real `feedback serve` with its default limits, and what honest readers
see meanwhile.

The flood is sent by wrk (bench/flood.lua), a C load generator, as fast as this machine
allows; honest readers are a separate client that waits for each answer.

1. One address sends --reports reports while honest readers (each from an address of
   their own) send one report each: how many of the flood were stored (at
   most the per-address allowance), whether every honest report was stored, and the
   honest readers' p50/p99 latency.
2. The same number of reports from as many addresses (one report each), while honest
   readers send theirs: the share of honest readers served. Twice: addresses packed in a
   few networks (/24s), and spread at random over the whole address space. Then addresses
   spread at random that each send ten, one after the other. The packed
   flood is also run with the per-network limit switched off, in the same run, as the
   baseline the network limit is measured against.

Addresses are given to the service in X-Forwarded-For from loopback, which is listed in
FEEDBACK_TRUSTED_PROXIES, as a reverse proxy would. Loopback only, bounded in count.

    python bench/flood.py [--reports 10000] [--honest 40] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service import ORIGIN, make_service, pct, report  # noqa: E402

LUA = Path(__file__).resolve().parent / "flood.lua"
FLOOD_ADDRESS = "203.0.113.66"  # the single-address flood's

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


def flood(svc, mode: str, count: int, concurrency: int, word: str) -> dict:
    """`count` reports sent by wrk (a C load generator, so the flood is as strong as this
    machine allows and the honest readers' client is not slowed by it)."""
    threads = 2
    command = [
        "wrk", f"-t{threads}", f"-c{concurrency}", "-d120s", "--timeout", "10s",
        "-s", str(LUA), f"{svc.url}/api/v1/reports",
        "--", svc.key, word, mode, str(count), str(threads), FLOOD_ADDRESS,
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines, finished = [], 0
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("THREAD DONE"):
            finished += 1
            if finished == threads:
                proc.send_signal(signal.SIGINT)  # wrk stops and prints its summary
        elif line.startswith("FLOOD "):
            proc.wait(timeout=30)
            return json.loads(line[len("FLOOD ") :])
    proc.wait(timeout=30)
    raise SystemExit("wrk printed no summary:\n" + "".join(lines))


async def honest_readers(svc, count: int, spread_over: float, word: str):
    """`count` readers, each from an address of its own and on a connection of its own,
    spread over `spread_over` s. The client is warmed up first, so that its own first-call
    costs are not counted as the server's."""
    served, latency = 0, []
    async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
        await client.get("/healthz", headers={"Connection": "close"})
        for n in range(count):
            await asyncio.sleep(spread_over / count)
            address = f"100.{64 + n % 60}.{random.randrange(256)}.{random.randrange(1, 255)}"
            start = time.perf_counter()
            r = await client.post(
                "/api/v1/reports",
                json=report(svc.key, n, word=word),
                headers={"Origin": ORIGIN, "X-Forwarded-For": address, "Connection": "close"},
            )
            latency.append(time.perf_counter() - start)
            served += r.status_code == 201
    return served, latency


async def scenario(svc, mode: str, args, name: str) -> None:
    flood_task = asyncio.create_task(
        asyncio.to_thread(flood, svc, mode, args.reports, args.concurrency, f"{name}-f")
    )
    await asyncio.sleep(0.3)  # the flood is under way
    # Honest readers arrive over the flood's first second, while it is at full strength
    # (wrk sends thousands a second: it is over in a few).
    served, latency = await honest_readers(svc, args.honest, 1.0, f"{name}-h")
    codes = await flood_task
    print(f"{name}: {codes['answered']} flood reports in {codes['duration_us'] / 1e6:.1f} s "
          f"(stored {codes['created']}, refused 429 {codes['limited']}, "
          f"other {codes['other']}, errors {codes['errors']}; "
          f"flood p50 {codes['p50_us'] / 1000:.1f} ms); "
          f"honest served {served}/{args.honest} ({served / args.honest:.0%}), "
          f"p50 {pct(latency, 50) * 1000:.1f} ms, "
          f"p99 {pct(latency, 99) * 1000:.1f} ms")  # fmt: skip


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
        await scenario(svc, "one", args, "one address")
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
    run_with(DEFAULT_LIMITS, lambda svc: scenario(svc, "packed", args,
                                                  "many addresses, packed in /24s"))  # fmt: skip
    no_network_limit = {**DEFAULT_LIMITS, "FEEDBACK_RATE_PREFIX_PER_MINUTE": "100000000",
                        "FEEDBACK_RATE_PREFIX_BURST": "100000000"}  # fmt: skip
    run_with(no_network_limit, lambda svc: scenario(
        svc, "packed", args, "baseline without the network limit, packed"))  # fmt: skip
    run_with(DEFAULT_LIMITS, lambda svc: scenario(svc, "repeat", args,
                                                  "ten each, at random"))  # fmt: skip
    run_with(DEFAULT_LIMITS, lambda svc: scenario(svc, "spread", args,
                                                  "many addresses, spread at random"))  # fmt: skip


if __name__ == "__main__":
    main()
