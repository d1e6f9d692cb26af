"""A 201 means the report is on disk: it survives kill -9 of the server the instant after."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port, query_database


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedback", "serve", "--port", str(port),
             "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


def test_every_acknowledged_report_survives_kill_9(tmp_path, database) -> None:
    env = {
        **os.environ,
        "FEEDBACK_DATABASE": database,
        "FEEDBACK_SECRET_KEY": "durability-test",
        "FEEDBACK_RATE_IP_BURST": "100000",
        "FEEDBACK_RATE_IP_PER_MINUTE": "100000",
        "FEEDBACK_RATE_SITE_BURST": "100000",
        "FEEDBACK_RATE_SITE_PER_MINUTE": "100000",
    }
    out = subprocess.run(
        [sys.executable, "-m", "feedback", "site", "add", "D", "--origin", "https://d.example"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = out.stdout.split("Key: ")[1].split()[0]
    port = free_port()
    server = start_server(env, port, tmp_path / "server.log")
    acknowledged: dict[str, int] = {}
    killed = False

    async def burst() -> None:
        nonlocal killed
        url = f"http://127.0.0.1:{port}/api/v1/reports"
        headers = {"Origin": "https://d.example"}
        # No deadline for a free connection: on a busy machine the queue of 400 sends is long.
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, pool=None)) as client:

            async def send(n: int) -> None:
                nonlocal killed
                body = {
                    "site": key,
                    "kind": "typo",
                    "url": "https://d.example/story",
                    "quote": {"exact": f"wrod-{n}", "prefix": "a ", "suffix": " b"},
                    "suggestion": "word",
                }
                try:
                    response = await client.post(url, json=body, headers=headers)
                except httpx.HTTPError:
                    return  # in flight when the server died: never acknowledged
                if response.status_code == 201 and not killed:
                    acknowledged[f"wrod-{n}"] = response.json()["id"]
                    if len(acknowledged) >= 150:
                        # Kill the instant the 150th acknowledgement arrives, with
                        # other sends still in flight.
                        os.kill(server.pid, signal.SIGKILL)
                        killed = True

            await asyncio.gather(*(send(n) for n in range(400)))

    try:
        asyncio.run(burst())
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
    assert killed and len(acknowledged) >= 150

    # Restart on the same file: recovery from the WAL happens on open.
    restarted = start_server(env, port, tmp_path / "server.log")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    stored = {r[0]: r[1] for r in query_database(database, "SELECT quote_exact, id FROM reports")}
    submissions = query_database(database, "SELECT count(*) FROM submissions")[0][0]
    missing = {q: i for q, i in acknowledged.items() if stored.get(q) != i}
    assert missing == {}
    assert submissions >= len(acknowledged)
