"""Two real `feedback serve` processes on one PostgreSQL database behave as one service:
duplicates merge across them, a reader's allowance is shared, and editors on either see
what arrives on the other, live."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, query_database
from tests.test_durability import start_server

ORIGIN = "https://news.example"
PASSWORD = "correct horse battery"


class Pair:
    def __init__(self, database: str, a: str, b: str, key: str) -> None:
        self.database, self.a, self.b, self.key = database, a, b, key

    def send(self, base: str, exact: str, ip: str = "203.0.113.9") -> httpx.Response:
        body = {"site": self.key, "kind": "typo", "url": f"{ORIGIN}/story",
                "quote": {"exact": exact, "prefix": "a ", "suffix": " b"}}  # fmt: skip
        # Both instances trust the test as their proxy, so each send says who the reader is.
        headers = {"Origin": ORIGIN, "X-Forwarded-For": ip}
        return httpx.post(f"{base}/api/v1/reports", json=body, headers=headers, timeout=10)


@pytest.fixture
def pair(tmp_path: Path, postgres_cluster) -> Iterator[Pair]:
    cluster, template = postgres_cluster
    name = cluster.create_database(template)
    database = cluster.url_for(name)
    env = {
        **os.environ,
        "FEEDBACK_DATABASE": database,
        "FEEDBACK_SECRET_KEY": "two-instances",
        "FEEDBACK_TRUSTED_PROXIES": "127.0.0.1",
        "FEEDBACK_RATE_IP_BURST": "6",
        "FEEDBACK_RATE_IP_PER_MINUTE": "0.5",
        "FEEDBACK_RATE_SITE_BURST": "10000",
        "FEEDBACK_RATE_SITE_PER_MINUTE": "100000",
    }

    def cli(*args: str, stdin: str = "") -> str:
        done = subprocess.run([sys.executable, "-m", "feedback", *args], env=env, input=stdin,
                              capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
        return done.stdout

    key = cli("site", "add", "News", "--origin", ORIGIN).split("Key: ")[1].split()[0]
    cli("user", "add", "ed@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    ports = free_port(), free_port()
    servers = [start_server(env, port, tmp_path / f"server{port}.log") for port in ports]
    try:
        yield Pair(database, *(f"http://127.0.0.1:{p}" for p in ports), key)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=15)
        cluster.drop_database(name)


def test_the_same_quote_sent_to_both_merges_into_one_report(pair: Pair) -> None:
    targets = [pair.a, pair.b] * 25
    with ThreadPoolExecutor(50) as pool:
        # Fifty readers at once, so the per-reader allowance is not what is tested here.
        answers = list(pool.map(lambda i: pair.send(targets[i], "teh", f"198.51.100.{i}"),
                                range(50)))  # fmt: skip
    assert [r.status_code for r in answers] == [201] * 50
    assert {r.json()["id"] for r in answers} == {1}
    assert sum(not r.json()["duplicate"] for r in answers) == 1
    [row] = query_database(pair.database, "SELECT submission_count FROM reports")
    assert row[0] == 50
    [row] = query_database(pair.database, "SELECT count(*) FROM submissions")
    assert row[0] == 50


def test_a_readers_allowance_holds_across_both(pair: Pair) -> None:
    statuses = [pair.send(base, f"word{i}").status_code
                for i, base in enumerate([pair.a, pair.b] * 6)]  # fmt: skip
    # A burst of 6 in all, whichever instance each send reached; then 429s.
    assert statuses.count(201) == 6
    assert statuses[:6] == [201] * 6 and set(statuses[6:]) == {429}
    assert pair.send(pair.a, "someone else", ip="192.0.2.44").status_code == 201


def sign_in(client: httpx.Client) -> str:
    page = client.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"email": "ed@example.com", "password": PASSWORD, "csrf": csrf}
    signed = client.post("/dashboard/login", data=form)
    assert signed.status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/dashboard/").text).group(1)


def listen(base: str, events: queue.Queue, ready: threading.Event, stop: threading.Event) -> None:
    try:
        follow(base, events, ready, stop)
    except httpx.HTTPError:
        if not stop.is_set():  # the server ending the stream at the test's end is expected
            raise


def follow(base: str, events: queue.Queue, ready: threading.Event, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        sign_in(client)
        with client.stream("GET", "/dashboard/live") as stream:
            ready.set()
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.put((time.monotonic(), json.loads(line[5:])))
                if stop.is_set():
                    return


def next_event(events: queue.Queue, kind: str, timeout: float = 5) -> tuple[float, dict]:
    deadline = time.monotonic() + timeout
    while True:
        at, event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if event["event"] == kind:
            return at, event


def test_an_editor_on_one_instance_sees_what_arrives_on_the_other_live(pair: Pair) -> None:
    events: queue.Queue = queue.Queue()
    ready, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=listen, args=(pair.b, events, ready, stop), daemon=True)
    watcher.start()
    assert ready.wait(10)
    time.sleep(0.2)

    sent = time.monotonic()
    report_id = pair.send(pair.a, "recieve").json()["id"]
    seen_at, event = next_event(events, "report.created")
    assert event["report_id"] == report_id
    assert seen_at - sent < 1.0

    # A status change made on A reaches B's live queue, and B's pages show it.
    with httpx.Client(base_url=pair.a, timeout=10) as editor:
        csrf = sign_in(editor)
        changed = time.monotonic()
        done = editor.post("/dashboard/actions", data={"csrf": csrf, "to": "fixed",
                                                       "id": str(report_id)})  # fmt: skip
        assert done.status_code in (200, 303)
    seen_at, event = next_event(events, "report.status_changed")
    assert event["report_id"] == report_id and seen_at - changed < 1.0
    stop.set()
    with httpx.Client(base_url=pair.b, timeout=10) as other:
        sign_in(other)
        page = other.get(f"/dashboard/reports/{report_id}")
        assert page.status_code == 200 and "fixed" in page.text.lower()
    [row] = query_database(pair.database, "SELECT status FROM reports WHERE id = ?", (report_id,))
    assert row[0] == "fixed"


def test_a_session_and_a_spam_block_hold_on_either_instance(pair: Pair) -> None:
    with httpx.Client(base_url=pair.a, timeout=10) as on_a:
        csrf = sign_in(on_a)
        report_id = pair.send(pair.a, "buy pills", ip="192.0.2.66").json()["id"]
        blocked = on_a.post("/dashboard/actions", data={"csrf": csrf, "to": "spam", "block": "1",
                                                        "id": str(report_id)})  # fmt: skip
        assert blocked.status_code in (200, 303)
        cookies = dict(on_a.cookies)
    # The sign-in made on A is good on B.
    with httpx.Client(base_url=pair.b, timeout=10, cookies=cookies) as on_b:
        assert on_b.get("/dashboard/", follow_redirects=False).status_code == 200
    # The sender blocked on A lands in spam when it sends to B.
    again = pair.send(pair.b, "buy more pills", ip="192.0.2.66")
    assert again.status_code == 201
    rows = query_database(pair.database, "SELECT status FROM reports WHERE id = ?",
                          (again.json()["id"],))  # fmt: skip
    assert rows[0][0] == "spam"


def test_events_travel_packed_into_notifications_under_postgresqls_limit() -> None:
    from feedback.store.postgres import NOTIFY_BYTES, notify_payloads

    events = [
        json.dumps({"from": "a", "event": "report.created", "payload": {"n": i, "t": "é" * 60}})
        for i in range(300)
    ]
    payloads = notify_payloads(events)
    assert 1 < len(payloads) < 30  # packed, not one per event
    assert all(len(p.encode()) <= NOTIFY_BYTES for p in payloads)
    unpacked = [e for p in payloads for e in json.loads(p)]
    assert unpacked == [json.loads(e) for e in events]  # all of them, in order
    assert notify_payloads([]) == []
