"""Intake on PostgreSQL against the same service on SQLite, in the same run, with wrk.

Systems, each a real `feedback serve` on loopback, measured interleaved round by round:
- sqlite: the service on a new SQLite file (the default engine);
- postgres: the service on the PostgreSQL database given (it must be empty or hold only
  earlier benchmark data; a site is added to it);
- bare: Starlette on uvloop and httptools answering 201, the stack's ceiling.
Then two instances on the same PostgreSQL database, each loaded by its own wrk at half
the connections, at the same time: what a load balancer in front of two would see.

PostgreSQL shares this machine's cores with the services and wrk: ratios measured in the
same run are what to compare. For a fair comparison with SQLite's fsynced commits, run
PostgreSQL with fsync on.

    python bench/ingest_postgres.py --database postgresql://user@127.0.0.1:5432/bench
                                    [--rounds 3] [--duration 5] [--concurrency 16 64]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402


def two_at_once(
    systems: list[ingest.System], database: str, conns: int, duration: float
) -> ingest.Result:
    """Both instances loaded together, each with half the connections; the rows stored
    in their one database checked against the 2xx both wrk runs counted."""
    before = ingest.stored_rows(database)
    with ThreadPoolExecutor(len(systems)) as pool:
        results = list(
            pool.map(
                lambda s: ingest.run_wrk(s, conns // len(systems), duration, False, False, False),
                systems,
            )
        )
    ok = sum(r.raw["requests"] - r.raw["non_2xx"] for r in results)
    time.sleep(0.3)  # reports in flight when wrk stopped finish committing
    stored = ingest.stored_rows(database) - before
    check = "ok" if ok <= stored <= ok + conns else f"MISMATCH stored {stored} for {ok} 2xx"
    return ingest.Result(
        rate=sum(r.rate for r in results),
        p50=max(r.p50 for r in results),
        p99=max(r.p99 for r in results),
        server_us=statistics.mean(r.server_us for r in results),
        wrk_cpu=sum(r.wrk_cpu for r in results),
        stored_check=check,
        non_2xx=sum(r.non_2xx for r in results),
        errors=sum(r.errors for r in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="a postgresql:// URL")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="feedback-bench-pg-"))
    lite = str(folder / "bench.db")
    systems: list[ingest.System] = []
    pair: list[ingest.System] = []
    try:
        log = folder / "serve.log"
        systems.append(ingest.start_service("service", lite, ingest.add_site(lite), log))
        systems[-1].name = "sqlite"
        site = ingest.add_site(args.database)
        systems.append(ingest.start_service("service", args.database, site, log))
        systems[-1].name = "postgres"
        systems.append(ingest.start_bare(folder))
        for system in systems:
            ingest.run_wrk(system, 16, 2, False, False, False)
        print(f"wrk, {args.duration:g} s per measurement, {args.rounds} interleaved rounds")
        print(f"machine: {ingest.machine_note()}")
        results: dict[tuple[str, int], list[ingest.Result]] = {}
        for round_ in range(args.rounds):
            for conns in args.concurrency:
                for system in ingest.rotated(systems, round_):
                    r = ingest.run_wrk(system, conns, args.duration, False, False, True)
                    results.setdefault((system.name, conns), []).append(r)
        print(f"\n{'keep-alive':<10} {'system':<10} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'server µs/req':>13}  stored=2xx")  # fmt: skip
        for conns in args.concurrency:
            medians = {s.name: ingest.median_result(results[(s.name, conns)]) for s in systems}
            for name, m in medians.items():
                print(f"{'c=' + str(conns):<10} {name:<10} {m.rate:>8.0f} {m.p50:>7.2f} "
                      f"{m.p99:>7.2f} {m.server_us:>13.0f}  {m.stored_check}")  # fmt: skip
            pg, sq, bare = medians["postgres"], medians["sqlite"], medians["bare"]
            print(f"{'':<10} postgres/sqlite {pg.rate / sq.rate:.2f}, "
                  f"postgres/bare {pg.rate / bare.rate:.2f}")  # fmt: skip
        # Two instances on the one database, loaded together.
        for system in systems:
            system.stop()
        systems = []
        pair = [ingest.start_service("service", args.database, site, log) for _ in range(2)]
        conns = max(args.concurrency)
        two = [two_at_once(pair, args.database, conns, args.duration) for _ in range(args.rounds)]
        m = ingest.median_result(two)
        print(f"\ntwo instances on PostgreSQL, c={conns} in all: {m.rate:.0f} req/s, "
              f"p50 {m.p50:.2f} ms, p99 {m.p99:.2f} ms, stored=2xx {m.stored_check}")  # fmt: skip
    finally:
        for system in systems + pair:
            system.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
