"""The `feedback` command as a site owner uses it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from feedback.cli import build_parser
from tests.conftest import free_port


def run(tmp_path: Path, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    base["FEEDBACK_DATABASE"] = str(tmp_path / "cli.db")
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "feedback", *args],
        env=base, cwd=tmp_path, capture_output=True, text=True, timeout=60, **kw,
    )  # fmt: skip


def all_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_commands(sub, (*prefix, name))


COMMANDS = list(all_commands(build_parser()))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "feedback")
def test_every_command_has_help(tmp_path, command: tuple[str, ...]) -> None:
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0
    assert "usage: feedback" in result.stdout


def test_site_add_prints_key_and_embed_tag_and_site_list_shows_it(tmp_path, database) -> None:
    env = {"FEEDBACK_PUBLIC_URL": "https://feedback.example.org", "FEEDBACK_DATABASE": database}
    added = run(
        tmp_path, "site", "add", "Example News",
        "--origin", "https://Example.com/", "--origin", "https://www.example.com", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    key = added.stdout.split("Key: ")[1].split()[0]
    tag = f'<script src="https://feedback.example.org/widget.js" data-site="{key}" async></script>'
    assert tag in added.stdout
    listed = run(tmp_path, "site", "list", env=env)
    assert listed.returncode == 0
    assert listed.stdout.split("\t")[0] == key
    assert "https://example.com https://www.example.com" in listed.stdout


def test_bad_origin_is_an_error_on_stderr(tmp_path) -> None:
    result = run(tmp_path, "site", "add", "X", "--origin", "ftp://example.com")
    assert result.returncode == 1
    assert "bad origin" in result.stderr
    assert result.stdout == ""


def test_serve_refuses_to_start_without_a_secret_and_says_how_to_make_one(tmp_path) -> None:
    result = run(tmp_path, "serve", "--port", str(free_port()))
    assert result.returncode == 1
    assert "FEEDBACK_SECRET_KEY" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr


def test_database_that_cannot_be_opened_is_an_error(tmp_path) -> None:
    env = {"FEEDBACK_DATABASE": str(tmp_path / "missing" / "x.db"), "FEEDBACK_SECRET_KEY": "k"}
    for command in (("migrate",), ("site", "list"), ("serve", "--port", str(free_port()))):
        result = run(tmp_path, *command, env=env)
        assert result.returncode == 1, command
        assert "cannot open database" in result.stderr


def test_secret_can_come_from_a_dot_env_file(tmp_path) -> None:
    (tmp_path / ".env").write_text("FEEDBACK_SECRET_KEY=from-dot-env\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedback", "serve", "--port", str(port), "--log-level", "error"],
        cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", proc).json()["status"] == "ok"
        assert (tmp_path / "feedback.db").exists()  # the default database path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_unreachable_postgresql_server_is_a_clear_error(tmp_path) -> None:
    env = {"FEEDBACK_DATABASE": f"postgresql://feedback:s3cret@127.0.0.1:{free_port()}/x"}
    started = time.monotonic()
    result = run(tmp_path, "site", "list", env=env)
    assert result.returncode == 1
    assert "cannot connect to postgresql://feedback:***@127.0.0.1" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_bad_setting_value_is_an_error(tmp_path) -> None:
    result = run(tmp_path, "site", "list", env={"FEEDBACK_RATE_IP_BURST": "lots"})
    assert result.returncode == 1
    assert "FEEDBACK_RATE_IP_BURST" in result.stderr


def test_migrate_reports_the_schema_version(tmp_path, database) -> None:
    result = run(tmp_path, "migrate", env={"FEEDBACK_DATABASE": database})
    assert result.returncode == 0
    assert "schema version" in result.stdout


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            return httpx.get(url, timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_demo_serves_an_article_with_the_widget_and_prints_a_login(tmp_path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedback", "demo", "--port", str(port)],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        article = wait_for(f"http://127.0.0.1:{port}/demo", proc)
        assert article.status_code == 200
        assert "<article>" in article.text
        assert 'src="/widget.js?v=' in article.text
        key = article.text.split('data-site="')[1].split('"')[0]
        assert httpx.get(f"http://127.0.0.1:{port}/widget.js").status_code == 200
        report = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/reports",
            json={"site": key, "kind": "typo", "url": f"http://127.0.0.1:{port}/demo",
                  "quote": {"exact": "wheather"}, "suggestion": "weather"},
            headers={"Origin": f"http://127.0.0.1:{port}"},
        )  # fmt: skip
        assert report.status_code == 201, report.text
        printed = log.read_text()
        assert f"http://127.0.0.1:{port}/demo" in printed
        assert f"http://127.0.0.1:{port}/dashboard/" in printed
        assert "Password:" in printed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_site_keys_never_start_with_a_dash_or_underscore() -> None:
    from feedback.store.sites import new_site_key

    keys = {new_site_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(key[0].isalnum() for key in keys)
