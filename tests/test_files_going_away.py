"""The SQLite files going away under a running service: read-only or immutable files and
a write-ahead log that cannot be checkpointed are refused with a clear 503 (and a
not-ready /healthz), never a crash, and the log stays bounded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from feedback.store import sqlite_db
from tests.conftest import ORIGIN, free_port, report_payload

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def chattr(flag: str, *paths: str) -> None:
    result = subprocess.run(["chattr", flag, *paths], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"chattr {flag} not possible here: {result.stderr.strip()}")


def fill(n: int, start: int = 0) -> list[dict]:
    # Large comments: the log grows fast.
    return [{"quote": {"exact": f"word{start + i}"}, "comment": "x" * 1500} for i in range(n)]


@SQLITE_ONLY
async def test_the_wal_is_checkpointed_and_truncated_past_its_size(
    app, client, site, monkeypatch
) -> None:
    monkeypatch.setattr(sqlite_db, "WAL_CHECKPOINT_BYTES", 256 * 1024)
    wal = app.state.services.settings.database + "-wal"
    for fields in fill(300):
        r = await client.post(
            "/api/v1/reports", json=report_payload(site, **fields), headers=ORIGIN
        )
        assert r.status_code == 201
    deadline = time.monotonic() + 10
    while wal_size(wal) > 256 * 1024:
        assert time.monotonic() < deadline, f"WAL still {wal_size(wal)} bytes"
        await asyncio_sleep(0.2)


def wal_size(path: str) -> int:
    return os.path.getsize(path)


async def asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@SQLITE_ONLY
async def test_a_wal_that_cannot_shrink_is_bounded_by_refusing_writes(
    app, client, site, monkeypatch
) -> None:
    monkeypatch.setattr(sqlite_db, "WAL_CHECKPOINT_BYTES", 128 * 1024)
    monkeypatch.setattr(sqlite_db, "WAL_REFUSE_BYTES", 512 * 1024)
    monkeypatch.setattr(sqlite_db, "WAL_CHECK_SECONDS", 0.1)
    database = app.state.services.settings.database
    # A reader that never finishes holds its snapshot: no checkpoint can pass it.
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM reports").fetchone()
    await asyncio_sleep(1.2)  # the watch started before the patch: let it pick up 0.1 s
    try:
        codes = []
        for fields in fill(600):
            r = await client.post(
                "/api/v1/reports", json=report_payload(site, **fields), headers=ORIGIN
            )
            codes.append(r.status_code)
            if r.status_code == 503:
                assert r.json()["error"]["code"] == "storage_unavailable"
                break
            await asyncio_sleep(0.002)
        assert codes[-1] == 503, "writes were never refused"
        size = wal_size(database + "-wal")
        assert size < 4 * 1024 * 1024, size  # refused near the limit
        for fields in fill(50, start=1000):
            r = await client.post(
                "/api/v1/reports", json=report_payload(site, **fields), headers=ORIGIN
            )
            assert r.status_code == 503
        assert wal_size(database + "-wal") == size  # and not growing on
        health = (await client.get("/healthz")).json()
        assert health["ready"] is False
        assert any("write-ahead log" in p for p in health["problems"])
    finally:
        holder.execute("COMMIT")
        holder.close()
    # Once the snapshot is gone the log is checkpointed and writes resume.
    deadline = time.monotonic() + 10
    while True:
        r = await client.post(
            "/api/v1/reports", json=report_payload(site, quote={"exact": "after"}), headers=ORIGIN
        )
        if r.status_code == 201:
            break
        assert time.monotonic() < deadline, "writes did not resume"
        await asyncio_sleep(0.2)


@pytest.mark.parametrize("which", ["", "-wal", "-shm"])
def test_immutable_files_are_refused_without_a_crash(tmp_path: Path, which: str) -> None:
    database = str(tmp_path / "f.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env |= {"FEEDBACK_DATABASE": database, "FEEDBACK_SECRET_KEY": "files-test",
            "FEEDBACK_ACCESS_LOG": "false", "FEEDBACK_RATE_IP_BURST": "1000",
            "FEEDBACK_RATE_IP_PER_MINUTE": "1000",
            "FEEDBACK_RATE_PREFIX_BURST": "1000"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "feedback", "site", "add", "F", "--origin", "https://f.example"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = out.stdout.split("Key: ")[1].split()[0]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "feedback", "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=log_file, stderr=log_file,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    target = database + which
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, log.read_text()
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.1)

        def send(n: int) -> int:
            body = {"site": key, "kind": "typo", "url": "https://f.example/a",
                    "quote": {"exact": f"w{which}{n}"}}  # fmt: skip
            headers = {"Origin": "https://f.example"}
            r = httpx.post(f"{base}/api/v1/reports", json=body, headers=headers, timeout=10)
            return r.status_code

        assert send(0) == 201
        chattr("+i", target)
        try:
            codes = [send(n) for n in range(1, 30)]
            assert server.poll() is None, "the server died: " + log.read_text()[-2000:]
            assert set(codes) == {503}
            health = httpx.get(f"{base}/healthz", timeout=5)
            assert health.status_code == 503
            assert any("immutable" in p for p in health.json()["problems"])
        finally:
            chattr("-i", target)
        assert send(100) == 201
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=15)
    # The failure was logged, once with a count rather than once per report.
    text = log.read_text()
    assert text.count("could not store a report") <= 2
