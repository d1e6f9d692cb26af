"""Crash: --kills rounds of load against a real `feedback serve`, each ended by kill -9 at a
random moment, followed by a restart and a check that nothing acknowledged was lost.

Each round starts the server on the same database, sends reports from --concurrency
senders (new reports and duplicates) and records every 201 with its report id and quote.
A random 0.3-2 s after the first acknowledgement it kills the server with SIGKILL,
mid-load, restarts it, and checks that every acknowledged send is there: the report with
that id and quote exists and holds a submission for it, and the database passes its
integrity check. Prints per-round and total figures; exits non-zero if anything
acknowledged is missing.

    python bench/crash.py [--kills 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service import ORIGIN, make_service, report  # noqa: E402


async def load_until_killed(svc, round_no: int, concurrency: int, acked: dict) -> tuple[int, int]:
    """Send until the server dies; (acknowledged, failed in flight)."""
    sent = failed = 0
    n = 0
    flowing = asyncio.Event()

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal sent, failed, n
        while True:
            n += 1
            # Every fourth send repeats an earlier quote: merged into its report.
            k = n // 4 if n % 4 == 0 else n
            word = f"r{round_no}-w"
            body = report(svc.key, k, word=word)
            try:
                r = await client.post("/api/v1/reports", json=body, headers={"Origin": ORIGIN})
            except httpx.HTTPError:
                failed += 1
                return
            if r.status_code == 201:
                acked.setdefault((r.json()["id"], f"{word}{k}"), 0)
                acked[(r.json()["id"], f"{word}{k}")] += 1
                sent += 1
                flowing.set()

    async def killer() -> None:
        # Once reports are flowing, at a random moment.
        await asyncio.wait_for(flowing.wait(), 60)
        await asyncio.sleep(random.uniform(0.3, 2.0))
        os.kill(svc.proc.pid, signal.SIGKILL)

    async with httpx.AsyncClient(base_url=svc.url, timeout=30) as client:
        await asyncio.gather(killer(), *(sender(client) for _ in range(concurrency)))
    svc.proc.wait()
    return sent, failed


def missing(database: str, acked: dict) -> list:
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        lost = []
        for (report_id, quote), sends in acked.items():
            row = conn.execute(
                "SELECT quote_exact, (SELECT count(*) FROM submissions WHERE report_id = r.id) "
                "FROM reports r WHERE id = ?",
                (report_id,),
            ).fetchone()
            if row is None or row[0] != quote or row[1] < sends:
                lost.append((report_id, quote, sends, row))
        return lost
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    total_acked = total_lost = 0
    with tempfile.TemporaryDirectory(prefix="feedback-crash-") as tmp:
        svc = make_service(Path(tmp))
        svc.prepare()
        acked: dict = {}
        for round_no in range(1, args.kills + 1):
            svc.start()
            sent, failed = asyncio.run(load_until_killed(svc, round_no, args.concurrency, acked))
            restart = time.perf_counter()
            svc.start()  # recovery from the WAL happens on open
            recovered_in = time.perf_counter() - restart
            lost = missing(svc.database, acked)
            svc.stop()
            total_acked += sent
            total_lost = len(lost)
            print(f"round {round_no:2}: {sent:5} acknowledged, {failed:3} in flight at the kill, "
                  f"restart to ready {recovered_in:.2f} s, missing {len(lost)}")  # fmt: skip
            if lost:
                print("  missing:", lost[:5])
    print(f"total: {args.kills} kill -9s, {total_acked} acknowledged sends "
          f"({len(acked)} distinct report/quote pairs), {total_lost} missing")  # fmt: skip
    sys.exit(1 if total_lost else 0)


if __name__ == "__main__":
    main()
