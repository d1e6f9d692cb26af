"""Intake throughput, latency and server CPU per report, measured with wrk on loopback.

Systems, each a real server on a free loopback port, driven by the same load and measured
interleaved, round by round, each round starting with the next system:
- service: `feedback serve` as installed (uvloop and httptools, access log off), doing
  everything a report gets: validation, normalisation, rate limits, blocked senders,
  duplicate merging and a durable group-committed write before its 201.
- bare: the reference, Starlette on uvloop and httptools that parses the same JSON and
  answers 201, storing nothing. The fastest this stack can answer a report.
- optional variants (--systems): service-h11 (asyncio and h11, the stack without the
  fast extras), service-w2 (--workers 2), service-log (--access-log).
- with --peers, Isso (https://isso-comments.de) from a throwaway virtual environment,
  under gunicorn as its documentation runs it, guard and moderation off, each request a
  new comment.

Load: wrk (a C load generator; apt-get install wrk) with bench/ingest.lua, which gives
every request its own quote (or, with --duplicates, the same quote on one page). Each
measurement is a fixed time; scenarios are keep-alive at each --concurrency and a new
connection per report at c=64 (how most readers arrive). Printed: medians over the rounds
of requests/s, p50 and p99 latency, server CPU per request (all the server's processes,
from /proc), wrk's own CPU (near 100% of a core means the load generator is the limit),
and after every run the rows stored against the 2xx answers wrk counted. Each service
variant writes to a new SQLite database of its own (with --database, all to that one).

Everything shares this machine's cores; quote ratios measured in the same run.

    python bench/ingest.py [--rounds 3] [--duration 5] [--peers] [--systems ...]
    python bench/ingest.py --soak 600          # RSS over ten minutes of steady load
    python bench/ingest.py --database postgresql://...   # the service on PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from feedback.store import is_postgres_url

HERE = Path(__file__).resolve().parent
LUA = HERE / "ingest.lua"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

BARE_APP = """
import json
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def receive(request):
    data = json.loads(await request.body())
    body = b'{"id":%d,"duplicate":false}' % len(data)
    return Response(body, status_code=201, media_type="application/json")

app = Starlette(routes=[Route("/api/v1/reports", receive, methods=["POST"])])
"""

ISSO_CONFIG = """
[general]
dbpath = {db}
host = https://bench.example/
[moderation]
enabled = false
[guard]
enabled = false
[server]
listen = http://127.0.0.1:{port}/
"""

SERVICE_VARIANTS = {
    "service": [],
    "service-h11": ["--loop", "asyncio", "--http", "h11"],
    "service-w2": ["--workers", "2"],
    "service-log": ["--access-log"],
}


def stored_rows(database: str) -> int:
    """Reports' sends the service has stored: one row per 201, merged or not."""
    if is_postgres_url(database):
        import psycopg

        with psycopg.connect(database) as conn:
            return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]


def isso_rows(database: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM comments").fetchone()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not start")


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a server and every process under it."""
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def tree_rss(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


@dataclass
class System:
    name: str
    kind: str  # how wrk talks to it: "feedback" or "isso"
    proc: subprocess.Popen
    port: int
    site: str = ""
    rows: object = None  # () -> int, rows stored so far; None stores nothing

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bench_env(database: str) -> dict[str, str]:
    return {
        **os.environ,
        "FEEDBACK_DATABASE": database,
        "FEEDBACK_SECRET_KEY": "bench-secret-key",
        # The limiter still runs on every request; the limits are high so that one
        # loopback client measures throughput, not refusals.
        "FEEDBACK_RATE_IP_PER_MINUTE": "1000000000",
        "FEEDBACK_RATE_IP_BURST": "1000000000",
        "FEEDBACK_RATE_SITE_PER_MINUTE": "1000000000",
        "FEEDBACK_RATE_SITE_BURST": "1000000000",
        "FEEDBACK_RATE_PREFIX_PER_MINUTE": "1000000000",
        "FEEDBACK_RATE_PREFIX_BURST": "1000000000",
        # Request lines cost a few microseconds each; the benchmark measures without them.
        "FEEDBACK_ACCESS_LOG": "false",
    }


def add_site(database: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "feedback", "site", "add", "Bench"]
        + ["--origin", "https://bench.example"],
        env=bench_env(database),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split("Key: ")[1].split()[0]


def start_service(name: str, database: str, site: str, log: Path) -> System:
    port = free_port()
    command = [sys.executable, "-m", "feedback", "serve", "--port", str(port)]
    command += ["--log-level", "warning" if name != "service-log" else "info"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command + SERVICE_VARIANTS[name],
            env=bench_env(database),
            stdout=subprocess.DEVNULL,  # the access log, when on, is written and discarded
            stderr=out,
        )
    wait_listening(port, proc)
    return System(name, "feedback", proc, port, site, lambda: stored_rows(database))


def start_bare(folder: Path) -> System:
    port = free_port()
    (folder / "bare_app.py").write_text(BARE_APP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
        + ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-server-header"]
        + ["--log-level", "warning"],
        cwd=folder,
    )
    wait_listening(port, proc)
    return System("bare", "feedback", proc, port, "bare")


def isso_venv(folder: Path, reuse: str | None) -> Path:
    venv = Path(reuse) if reuse else folder / "isso-venv"
    if not (venv / "bin" / "gunicorn").exists() or not (venv / "bin" / "isso").exists():
        print(f"installing isso and gunicorn into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "isso", "gunicorn"], check=True)
    return venv


def start_isso(folder: Path, venv: Path, workers: int) -> System:
    port = free_port()
    db = folder / "isso.db"
    config = folder / "isso.cfg"
    config.write_text(ISSO_CONFIG.format(db=db, port=port))
    # As its documentation runs it: gunicorn ... --preload isso.run
    proc = subprocess.Popen(
        [str(venv / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers)]
        + ["--preload", "--log-level", "warning", "isso.run"],
        env={**os.environ, "ISSO_SETTINGS": str(config)},
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "isso.log").open("ab"),  # a line per comment, as it ships
    )
    wait_listening(port, proc)
    return System("isso", "isso", proc, port, "isso", lambda: isso_rows(str(db)))


@dataclass
class Result:
    rate: float
    p50: float
    p99: float
    server_us: float
    wrk_cpu: float
    stored_check: str
    non_2xx: int = 0
    errors: int = 0
    raw: dict = field(default_factory=dict)


def run_wrk(
    system: System, conns: int, duration: float, close: bool, duplicates: bool, check: bool
) -> Result:
    run_id = uuid.uuid4().hex[:8]
    threads = max(1, min(conns, 2))
    command = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration:g}s"]
    command += ["--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{system.port}"]
    command += ["--", system.kind, system.site, run_id]
    command += ["DUPLICATE" if duplicates else "UNIQUE"] + (["close"] if close else [])
    rows_before = system.rows() if check and system.rows else None
    cpu_before = tree_cpu(system.proc.pid)
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_after = tree_cpu(system.proc.pid)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[6:])
    seconds = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["non_2xx"]
    wrk_cpu = (
        usage_after.ru_utime - usage_before.ru_utime + usage_after.ru_stime - usage_before.ru_stime
    )
    check_text = ""
    if rows_before is not None:
        time.sleep(0.3)  # reports still in flight when wrk stopped finish committing
        stored = system.rows() - rows_before
        # wrk stops with up to one request per connection unanswered: those may be
        # stored without wrk counting their 201.
        if ok <= stored <= ok + conns:
            check_text = "ok"
        else:
            check_text = f"MISMATCH stored {stored} for {ok} 2xx"
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Result(
        rate=raw["requests"] / seconds,
        p50=raw["p50_us"] / 1000,
        p99=raw["p99_us"] / 1000,
        server_us=(cpu_after - cpu_before) / max(1, raw["requests"]) * 1e6,
        wrk_cpu=wrk_cpu / seconds,
        stored_check=check_text,
        non_2xx=raw["non_2xx"],
        errors=errors,
        raw=raw,
    )


def median_result(results: list[Result]) -> Result:
    checks = {r.stored_check for r in results} - {""}
    bad = [c for c in checks if c != "ok"]
    return Result(
        rate=statistics.median(r.rate for r in results),
        p50=statistics.median(r.p50 for r in results),
        p99=statistics.median(r.p99 for r in results),
        server_us=statistics.median(r.server_us for r in results),
        wrk_cpu=statistics.median(r.wrk_cpu for r in results),
        stored_check="; ".join(bad) if bad else ("ok" if checks else "-"),
        non_2xx=sum(r.non_2xx for r in results),
        errors=sum(r.errors for r in results),
    )


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"


def soak(system: System, seconds: float, conns: int, slice_seconds: float = 30) -> None:
    print(f"soak: {system.name}, keep-alive c={conns}, {seconds:.0f} s in {slice_seconds:.0f} s")
    print(f"{'t s':>6} {'req/s':>8} {'p99 ms':>7} {'RSS MiB':>8} {'stored':>8}")
    rss = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        r = run_wrk(system, conns, slice_seconds, False, False, True)
        rss.append(tree_rss(system.proc.pid))
        elapsed = time.monotonic() - start
        print(
            f"{elapsed:>6.0f} {r.rate:>8.0f} {r.p99:>7.1f} {rss[-1] / 2**20:>8.1f} "
            f"{r.stored_check:>8}",
            flush=True,
        )
    if len(rss) >= 3:
        after_warmup = rss[1]
        print(
            f"RSS after the first slice {after_warmup / 2**20:.1f} MiB, at the end "
            f"{rss[-1] / 2**20:.1f} MiB, peak {max(rss) / 2**20:.1f} MiB "
            f"({(rss[-1] - after_warmup) / 2**20:+.1f} MiB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--duration", type=float, default=5, help="seconds per measurement")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16, 64], help="keep-alive levels"
    )
    parser.add_argument(
        "--new-conn",
        type=int,
        nargs="*",
        default=[64],
        metavar="C",
        help="levels with a new connection per report (default 64; none to skip)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        default=["service", "bare"],
        choices=[*SERVICE_VARIANTS, "bare"],
        help="what to measure (default: service bare)",
    )
    parser.add_argument("--peers", action="store_true", help="also measure Isso")
    parser.add_argument("--isso-venv", help="reuse this virtual environment for Isso")
    parser.add_argument("--isso-workers", type=int, default=2, help="gunicorn workers for Isso")
    parser.add_argument(
        "--duplicates", action="store_true", help="every report the same quote on one page"
    )
    parser.add_argument(
        "--database",
        help="FEEDBACK_DATABASE for the service: a SQLite path or a postgresql:// URL "
        "(default: a new SQLite file in a temporary folder)",
    )
    parser.add_argument(
        "--soak", type=float, metavar="SECONDS", help="instead: steady load, RSS over time"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    folder = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    names = ["service"] if args.soak else list(dict.fromkeys(args.systems))
    systems: list[System] = []
    try:
        for name in names:
            if name == "bare":
                systems.append(start_bare(folder))
                continue
            # Each variant on a database of its own, unless one is given: every report
            # sent stays open, and one variant's would make the next one's writes dearer.
            database = args.database or str(folder / f"{name}.db")
            site = add_site(database)
            systems.append(start_service(name, database, site, folder / "serve.log"))
        if args.peers and not args.soak:
            venv = isso_venv(folder, args.isso_venv)
            systems.append(start_isso(folder, venv, args.isso_workers))
        for system in systems:  # warm up: caches, first pages of the database, JIT-free
            run_wrk(system, 16, 2, False, args.duplicates, False)
        if args.soak:
            soak(systems[0], args.soak, 16)
            return
        measure(systems, args)
    finally:
        for system in systems:
            system.stop()
        if not args.database:
            shutil.rmtree(folder, ignore_errors=True)


def rotated(systems: list[System], round_: int) -> list[System]:
    """The systems in the order a round measures them: each round starts with the next
    system, so none is always measured first (cool machine, smallest database) or always
    right after another."""
    start = round_ % len(systems)
    return systems[start:] + systems[:start]


def measure(systems: list[System], args: argparse.Namespace) -> None:
    scenarios = [(c, False) for c in args.concurrency] + [(c, True) for c in args.new_conn]
    print(
        f"wrk, {args.duration:g} s per measurement, {args.rounds} interleaved rounds, medians; "
        f"{'one duplicated quote' if args.duplicates else 'a new quote per report'}"
    )
    print(f"machine: {machine_note()} (load generator and servers share the cores)")
    rss_start = {s.name: tree_rss(s.proc.pid) for s in systems}
    results: dict[tuple[str, int, bool], list[Result]] = {}
    for round_ in range(args.rounds):
        for conns, close in scenarios:
            for system in rotated(systems, round_):
                r = run_wrk(system, conns, args.duration, close, args.duplicates, True)
                results.setdefault((system.name, conns, close), []).append(r)
    print()
    print(
        f"{'scenario':<14} {'system':<12} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'server µs/req':>13} {'wrk CPU':>7}  stored=2xx"
    )
    for conns, close in scenarios:
        label = f"{'new-conn' if close else 'keep-alive'} c={conns}"
        medians = {s.name: median_result(results[(s.name, conns, close)]) for s in systems}
        for system in systems:
            m = medians[system.name]
            extra = ""
            if m.non_2xx or m.errors:
                extra = f"  ({m.non_2xx} non-2xx, {m.errors} socket errors)"
            print(
                f"{label:<14} {system.name:<12} {m.rate:>8.0f} {m.p50:>7.2f} {m.p99:>7.2f} "
                f"{m.server_us:>13.0f} {m.wrk_cpu:>6.0%}  {m.stored_check}{extra}"
            )
            label = ""
        ratios = []
        if "service" in medians:
            for base in ("bare", "isso"):
                if base in medians:
                    ratio = medians["service"].rate / medians[base].rate
                    ratios.append(f"service/{base} {ratio:.2f}")
            for name in medians:
                if name.startswith("service-"):
                    ratio = medians[name].rate / medians["service"].rate
                    ratios.append(f"{name}/service {ratio:.2f}")
        if ratios:
            print(f"{'':<14} ratios: " + ", ".join(ratios))
    print()
    print(
        "resident memory (all processes of each server): "
        + ", ".join(
            f"{s.name} {rss_start[s.name] / 2**20:.0f} -> {tree_rss(s.proc.pid) / 2**20:.0f} MiB"
            for s in systems
        )
    )
    print(f"machine after the run: {machine_note()}")


if __name__ == "__main__":
    main()
