"""`feedback user add | list | passwd`, and the demo's working login."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from feedback import demo
from feedback.cli import main
from feedback.settings import Settings
from feedback.store.sites import add_site
from feedback.store.users import check_password, credentials
from tests.conftest import run_with_store, using_store


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str) -> str:
    monkeypatch.setenv("FEEDBACK_DATABASE", database)
    monkeypatch.setenv("FEEDBACK_SECRET_KEY", "k")
    monkeypatch.chdir(tmp_path)
    return database


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def stored_hash(database: str, email: str) -> str:
    found = run_with_store(database, lambda store: credentials(store, email))
    assert found
    return found[1]


def test_user_add_list_and_passwd(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = run_with_store(env, lambda store: add_site(store, "News", ["https://news.example"]))
    key = site.key
    argv = [
        "user",
        "add",
        "ed@news.example",
        "--role",
        "editor",
        f"--site={key}",
        "--password-stdin",
    ]
    assert run(argv, monkeypatch, "first-password\n") == 0
    argv = ["user", "add", "boss@news.example", "--role", "admin", "--password-stdin"]
    assert run(argv, monkeypatch, "boss-password\n") == 0
    capsys.readouterr()
    assert run(["user", "list"], monkeypatch) == 0
    listing = capsys.readouterr().out
    assert f"ed@news.example\teditor\tactive\t{key}" in listing
    assert "boss@news.example\tadmin\tactive\t*" in listing
    argv = ["user", "passwd", "ed@news.example", "--password-stdin"]
    assert run(argv, monkeypatch, "second-password\n") == 0
    assert check_password("second-password", stored_hash(env, "ed@news.example"))


def test_user_add_errors_go_to_stderr(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["user", "add", "ed@news.example", "--role", "editor", "--site", "nope"]
    assert run(argv + ["--password-stdin"], monkeypatch, "long-enough\n") == 1
    assert "no site with key nope" in capsys.readouterr().err
    assert (
        run(["user", "add", "a@b.c", "--role", "admin", "--password-stdin"], monkeypatch, "short\n")
        == 1
    )
    assert "at least 8 characters" in capsys.readouterr().err
    argv = ["user", "add", "a@b.c", "--role", "admin", "--password-stdin"]
    assert run(argv, monkeypatch, "long-enough\n") == 0
    assert run(argv, monkeypatch, "long-enough\n") == 1
    assert "already exists" in capsys.readouterr().err
    assert run(["user", "passwd", "x@y.z", "--password-stdin"], monkeypatch, "long-enough\n") == 1


def test_password_prompt_asks_twice(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["typed-once", "typed-twice"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(["user", "add", "a@b.c", "--role", "admin"], monkeypatch) == 1
    assert "do not match" in capsys.readouterr().err


async def test_demo_prints_a_login_that_works(settings: Settings) -> None:
    _, email, password = await demo.prepare(settings, "127.0.0.1", 8000)
    found = await using_store(settings.database, lambda store: credentials(store, email))
    assert found and check_password(password, found[1])
