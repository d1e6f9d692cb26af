"""The PostgreSQL store through a real PgBouncer in transaction mode: a pooler hands each
transaction to whichever server connection is free, so nothing may rely on session state
such as server-side prepared statements."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psycopg
import pytest

from feedback.app import create_app
from feedback.store.sites import add_site
from tests.conftest import ORIGIN, free_port, make_settings, report_payload
from tests.dashboard_support import make_user, sign_in

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def bouncer(tmp_path: Path, postgres_cluster) -> Iterator[tuple[str, str]]:
    """(URL through PgBouncer, URL straight to PostgreSQL) of a fresh database."""
    if not Path(PGBOUNCER).exists():
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed; CI must install it")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    cluster, template = postgres_cluster
    name = cluster.create_database(template)
    folder = Path(cluster.root) / f"bouncer-{name}"
    folder.mkdir()
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host=127.0.0.1 port={cluster.port}\n"
        "[pgbouncer]\nlisten_addr = 127.0.0.1\n"
        f"listen_port = {port}\nunix_socket_dir =\nauth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        "default_pool_size = 4\nmax_client_conn = 200\n"
        f"logfile = {folder / 'log'}\n"
    )
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                assert proc.poll() is None and time.monotonic() < deadline, "no pgbouncer"
                time.sleep(0.1)
        yield url, cluster.url_for(name)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        cluster.drop_database(name)


async def test_intake_and_the_dashboard_work_through_pgbouncer(tmp_path, bouncer) -> None:
    pooled, direct = bouncer
    settings = replace(
        make_settings(tmp_path, database=pooled, database_listen_url=direct),
        # More connections than PgBouncer has for the database: transactions must share.
        database_pool=12,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        svc = app.state.services
        site = await add_site(svc.store, "News", ["https://example.com"])
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            heard: list[dict] = []

            async def listener(payload: dict) -> None:
                heard.append(payload)

            svc.signals.connect("report.created", listener)
            same = [report_payload(site) for _ in range(30)]
            other = [report_payload(site, quote={"exact": f"w{i}"}) for i in range(30)]
            answers = await asyncio.gather(
                *(c.post("/api/v1/reports", json=b, headers=ORIGIN) for b in same + other)
            )
            assert [r.status_code for r in answers] == [201] * 60
            assert len({r.json()["id"] for r in answers[:30]}) == 1
            assert len({r.json()["id"] for r in answers[30:]}) == 30
            await make_user(app, "ed@example.com", "admin")
            csrf = await sign_in(c, "ed@example.com")
            first = answers[0].json()["id"]
            done = await c.post(
                "/dashboard/actions", data={"csrf": csrf, "to": "fixed", "id": str(first)}
            )
            assert done.status_code in (200, 303)
            page = await c.get("/dashboard/?q=w1&status=all")
            assert page.status_code == 200
        [row] = await svc.store.fetchall(
            "SELECT status, submission_count FROM reports WHERE id = ?", (first,)
        )
        assert tuple(row) == ("fixed", 30)
        await svc.signals.drain()
        assert len(heard) == 31  # every new report, each heard once
