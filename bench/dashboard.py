"""Dashboard render times over a million reports.

Seeds a fresh SQLite file (through the real migrations, so triggers and indexes are the
ones the service uses) with 1,000,000 reports over 20 sites and a submission each, then
renders queue pages in-process through the real app (httpx ASGITransport, signed in as
an admin and as an editor of two sites) and prints the median server time per page.
Target: every median under 100 ms.

With `--database postgresql://...` (an empty database), the seeded SQLite file is copied
into PostgreSQL with `feedback copy-data`'s code and the pages are measured there.

    python bench/dashboard.py [--reports 1000000] [--runs 9] [--keep FILE]
                              [--database postgresql://user@host:port/dbname]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.datastructures import Secret

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedback.app import create_app  # noqa: E402
from feedback.settings import Settings  # noqa: E402
from feedback.store import make_store  # noqa: E402
from feedback.store.copy import copy_data  # noqa: E402
from feedback.store.sqlite_db import migrate  # noqa: E402
from feedback.store.users import hash_password  # noqa: E402

SITES = 20
PASSWORD = "bench-password"
STATUS_WEIGHTS = {"new": 20, "in_progress": 5, "fixed": 60, "rejected": 10, "spam": 5}
WORDS = [
    "the",
    "council",
    "budget",
    "river",
    "bridge",
    "mayor",
    "election",
    "weather",
    "school",
    "hospital",
    "train",
    "station",
    "market",
    "street",
    "festival",
    "library",
    "museum",
    "theatre",
    "harbour",
    "airport",
]


def seed(path: str, reports: int) -> None:
    asyncio.run(migrate(path))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(4)
    now = time.time()
    span = 365 * 86400
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO sites (id, key, name, created_at) VALUES (?, ?, ?, ?)",
        [(i, f"site{i:02d}", f"Site {i}", now - span) for i in range(1, SITES + 1)],
    )
    conn.executemany(
        "INSERT INTO site_origins (site_id, origin) VALUES (?, ?)",
        [(i, f"https://site{i}.example") for i in range(1, SITES + 1)],
    )
    conn.execute(
        "INSERT INTO users (id, email, password_hash, role, created_at) VALUES "
        "(1, 'admin@bench.example', ?, 'admin', ?), (2, 'ed@bench.example', ?, 'editor', ?)",
        (hash_password(PASSWORD), now, hash_password(PASSWORD), now),
    )
    conn.executemany("INSERT INTO user_sites VALUES (2, ?)", [(3,), (7,)])
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    batch = 50_000
    for start in range(1, reports + 1, batch):
        report_rows, submission_rows = [], []
        for rid in range(start, min(start + batch, reports + 1)):
            site = rng.randint(1, SITES)
            status = rng.choices(statuses, weights)[0]
            seen = now - span + span * rid / reports
            count = 1 if rng.random() < 0.8 else rng.randint(2, 40)
            exact = f"{rng.choice(WORDS)} {rng.choice(WORDS)}{rid}"
            closed = status not in ("new", "in_progress")
            report_rows.append(
                (
                    rid,
                    site,
                    "typo" if rng.random() < 0.85 else "comment",
                    f"https://site{site}.example/news/{rid % 5000}",
                    f"Article {rid % 5000}",
                    "en",
                    exact,
                    "It said ",
                    " today.",
                    f"{rid:032x}",
                    status,
                    count,
                    seen,
                    seen,
                    seen + 3600 if closed else None,
                    1 if closed else None,
                )
            )
            comment = f"{rng.choice(WORDS)} looks wrong" if rng.random() < 0.3 else ""
            submission_rows.append((rid, exact.upper(), comment, "bench", f"{rid % 9973:x}", seen))
        conn.executemany(
            "INSERT INTO reports (id, site_id, kind, url, title, lang, quote_exact, quote_prefix,"
            " quote_suffix, dedup_key, status, submission_count, first_seen, last_seen,"
            " resolved_at, resolved_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            report_rows,
        )
        conn.executemany(
            "INSERT INTO submissions (report_id, suggestion, comment, user_agent, ip_hash,"
            " created_at) VALUES (?,?,?,?,?,?)",
            submission_rows,
        )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await client.post(
        "/dashboard/login", data={"email": email, "password": PASSWORD, "csrf": csrf}
    )
    assert r.status_code == 303, r.text


async def measure(path: str, runs: int, reports: int) -> list[tuple[str, float, int]]:
    settings = Settings(database=path, secret_key=Secret("bench"), public_url="http://bench")
    app = create_app(settings)
    deep = reports // 3
    pages = [
        ("admin", "first queue page", "/dashboard/"),
        ("admin", "filtered: site + kind + status", "/dashboard/?site=5&kind=comment&status=new"),
        ("admin", "filtered: page address", "/dashboard/?url=/news/123&status=all"),
        ("admin", "filtered: full-text search", "/dashboard/?q=harbour%20looks&status=all"),
        ("admin", "deep keyset page (newest)", f"/dashboard/?after={deep}"),
        (
            "admin",
            "deep keyset page (most reported)",
            f"/dashboard/?sort=most&after={deep}&after_count=1",
        ),
        ("admin", "oldest first", "/dashboard/?sort=oldest"),
        ("editor", "editor of 2 sites, first page", "/dashboard/"),
        ("editor", "editor, deep keyset page", f"/dashboard/?after={deep}"),
        ("admin", "report page", f"/dashboard/reports/{deep}"),
        ("admin", "stats page (not a queue target)", "/dashboard/stats"),
    ]
    results = []
    async with app.router.lifespan_context(app):
        clients = {}
        for who, email in (("admin", "admin@bench.example"), ("editor", "ed@bench.example")):
            transport = httpx.ASGITransport(app=app)
            clients[who] = httpx.AsyncClient(transport=transport, base_url="http://bench")
            await sign_in(clients[who], email)
        for who, label, url in pages:
            timings = []
            for _ in range(runs + 1):
                started = time.perf_counter()
                r = await clients[who].get(url)
                timings.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, (url, r.status_code)
            rows = r.text.count('<tr class="row') or r.text.count("<tr>")
            results.append((label, statistics.median(timings[1:]), rows))
        for c in clients.values():
            await c.aclose()
    return results


async def copy_into(path: str, url: str) -> None:
    source, target = make_store(path), make_store(url)
    await source.open()
    await target.open()
    try:
        await copy_data(source, target)
        await target.write(lambda tx: tx.execute("ANALYZE"))
    finally:
        await target.close()
        await source.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--keep", help="seed into (or reuse) this file instead of a temp file")
    parser.add_argument("--database", help="an empty PostgreSQL database to measure on instead")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="feedback-bench-")
    path = args.keep or str(Path(folder.name) / "bench.db")
    if not Path(path).exists():
        started = time.perf_counter()
        seed(path, args.reports)
        print(
            f"seeded {args.reports:,} reports over {SITES} sites in "
            f"{time.perf_counter() - started:.0f} s"
        )
    if args.database:
        started = time.perf_counter()
        asyncio.run(copy_into(path, args.database))
        print(f"copied into PostgreSQL in {time.perf_counter() - started:.0f} s")
        path = args.database
    results = asyncio.run(measure(path, args.runs, args.reports))
    print(f"\n{'page':<38} {'median ms':>10} {'rows':>5}  target < 100 ms")
    for label, median, rows in results:
        flag = "ok" if median < 100 else "SLOW"
        print(f"{label:<38} {median:>10.1f} {rows:>5}  {flag}")
    folder.cleanup()


if __name__ == "__main__":
    main()
