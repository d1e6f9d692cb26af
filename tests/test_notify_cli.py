"""Notifications from the shell and across restarts: `feedback notify`, `feedback token`,
kill -9 during backoff, and the README's webhook receiver."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port, query_database
from tests.receivers import receiver
from tests.test_durability import start_server

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def env_for(database: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    return base | {
        "FEEDBACK_DATABASE": database,
        "FEEDBACK_SECRET_KEY": "notify-cli-test",
        "FEEDBACK_ALLOW_PRIVATE_TARGETS": "1",
        **extra,
    }


def feedback(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "feedback", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def add_site(env: dict, cwd: Path) -> str:
    out = feedback(env, "site", "add", "Desk", "--origin", "https://d.example", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("Key: ")[1].split()[0]


def send(port: int, key: str, exact: str = "teh") -> int:
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/reports",
        json={"site": key, "kind": "typo", "url": "https://d.example/news/a",
              "quote": {"exact": exact, "prefix": "x ", "suffix": " y"}, "suggestion": "the"},
        headers={"Origin": "https://d.example"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait(check, within: float = 20.0, what: str = ""):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_notify_add_list_test_remove(tmp_path, database) -> None:
    env = env_for(database)
    key = add_site(env, tmp_path)
    with receiver() as hook:
        added = feedback(
            env, "notify", "add", key, "--kind", "webhook", "--target", f"{hook.url}/h",
            "--path-prefix", "/news/", "--events", "report.created,report.updated",
            cwd=tmp_path,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        dest_id = re.search(r"destination (\d+)", added.stdout).group(1)
        secret = re.search(r"(whsec_\S+)", added.stdout).group(1)
        listed = feedback(env, "notify", "list", cwd=tmp_path)
        assert listed.stdout.startswith(f"{dest_id}\t{key}\twebhook\t")
        assert "prefix=/news/" in listed.stdout and secret not in listed.stdout
        tested = feedback(env, "notify", "test", dest_id, cwd=tmp_path)
        assert tested.returncode == 0, tested.stderr
        assert "delivered (200)" in tested.stdout
        assert hook.requests[0].headers["Feedback-Event"] == "test"
        hook.answer(410)
        failed = feedback(env, "notify", "test", dest_id, cwd=tmp_path)
        assert failed.returncode == 1 and "410" in failed.stderr
    removed = feedback(env, "notify", "remove", dest_id, cwd=tmp_path)
    assert removed.returncode == 0
    assert "no destinations" in feedback(env, "notify", "list", cwd=tmp_path).stdout
    assert feedback(env, "notify", "remove", dest_id, cwd=tmp_path).returncode == 1


def test_notify_add_refuses_private_targets_and_bad_addresses(tmp_path, database) -> None:
    env = env_for(database, FEEDBACK_ALLOW_PRIVATE_TARGETS="0")
    key = add_site(env, tmp_path)
    out = feedback(env, "notify", "add", key, "--kind", "webhook", "--target",
                   "http://localhost:9/hook", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1 and "refused" in out.stderr and "127.0.0.1" in out.stderr
    out = feedback(env, "notify", "add", key, "--kind", "email", "--target", "nobody",
                   cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1 and out.stderr.startswith("feedback: error:"), out.stderr


def test_token_add_list_revoke(tmp_path, database) -> None:
    env = env_for(database)
    key = add_site(env, tmp_path)
    added = feedback(env, "token", "add", "--site", key, "--scope", "write", "--name", "cms",
                     cwd=tmp_path)  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = re.search(r"(fbk_\S+)", added.stdout).group(1)
    listed = feedback(env, "token", "list", cwd=tmp_path)
    assert "\tcms\twrite\t" in listed.stdout and "last used never" in listed.stdout
    assert secret not in listed.stdout
    token_id = listed.stdout.split("\t")[0]
    assert feedback(env, "token", "revoke", token_id, cwd=tmp_path).returncode == 0
    assert "revoked" in feedback(env, "token", "list", cwd=tmp_path).stdout
    assert feedback(env, "token", "revoke", token_id, cwd=tmp_path).returncode == 1
    assert feedback(env, "token", "add", "--site", "nope", cwd=tmp_path).returncode == 1


def test_kill_9_during_backoff_then_restart_delivers_exactly_once(tmp_path, database) -> None:
    env = env_for(database, FEEDBACK_DELIVERY_BACKOFF="3")
    key = add_site(env, tmp_path)
    with receiver() as hook:
        hook.answer(500)
        out = feedback(env, "notify", "add", key, "--kind", "webhook", "--target", hook.url,
                       cwd=tmp_path)  # fmt: skip
        assert out.returncode == 0, out.stderr
        port = free_port()
        server = start_server(env, port, tmp_path / "server.log")
        try:
            send(port, key)
            wait(lambda: hook.requests, what="the first attempt")
            wait(
                lambda: query_database(database, "SELECT 1 FROM deliveries WHERE attempts = 1"),
                what="the attempt to be recorded",
            )
            # The 500 was answered: the delivery now waits 1.5 to 3 seconds to try again.
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
        finally:
            if server.poll() is None:
                server.kill()
        [row] = query_database(database, "SELECT state, attempts FROM deliveries")
        assert (row[0], row[1]) == ("pending", 1)
        assert len(hook.requests) == 1
        server = start_server(env, port, tmp_path / "server.log")
        try:
            wait(lambda: len(hook.requests) >= 2, what="the delivery after the restart")
            time.sleep(2)
        finally:
            server.terminate()
            server.wait(timeout=10)
    assert len(hook.requests) == 2
    assert (
        hook.requests[0].headers["Feedback-Delivery"]
        == hook.requests[1].headers["Feedback-Delivery"]
    )
    [row] = query_database(database, "SELECT state, attempts, last_code FROM deliveries")
    assert tuple(row) == ("delivered", 2, 200)


def test_the_readme_webhook_receiver_verifies_our_signature(tmp_path, database) -> None:
    code = README.split("```python\nimport hashlib, hmac, time\n", 1)[1].split("```", 1)[0]
    code = "import hashlib, hmac, time\n" + code
    assert len([line for line in code.splitlines() if line.strip()]) <= 14
    env = env_for(database)
    key = add_site(env, tmp_path)
    receiver_port = free_port()
    added = feedback(env, "notify", "add", key, "--kind", "webhook", "--target",
                     f"http://127.0.0.1:{receiver_port}/", cwd=tmp_path)  # fmt: skip
    secret = re.search(r"(whsec_\S+)", added.stdout).group(1)
    script = tmp_path / "receiver.py"
    script.write_text(
        code.replace('b"whsec_..."', repr(secret.encode())).replace("8080", str(receiver_port))
    )
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.DEVNULL)
    try:
        wait(lambda: _listening(receiver_port), what="the README receiver")
        tested = feedback(env, "notify", "test", re.search(r"destination (\d+)",
                          added.stdout).group(1), cwd=tmp_path)  # fmt: skip
        assert "delivered (204)" in tested.stdout, tested.stderr
        forged = httpx.post(
            f"http://127.0.0.1:{receiver_port}/",
            content=b'{"forged": true}',
            headers={"Feedback-Signature": f"t={int(time.time())},v1={'0' * 64}"},
        )
        assert forged.status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True
