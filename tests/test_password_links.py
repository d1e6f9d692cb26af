"""Password links are signed per purpose, expire, and work once."""

from __future__ import annotations

import time

import pytest

from feedback.dashboard import password_links as links

SECRET = "test-secret"


def test_a_link_works_until_the_password_changes() -> None:
    token = links.make_token(SECRET, "reset", 7, "hash-before")
    user_id, print_ = links.read_token(SECRET, "reset", token)
    assert user_id == 7 and links.still_valid(print_, "hash-before")
    assert not links.still_valid(print_, "hash-after")  # used: the hash changed


def test_purposes_secrets_and_tampering_are_refused() -> None:
    token = links.make_token(SECRET, "reset", 7, "h")
    with pytest.raises(links.BadLink):
        links.read_token(SECRET, "invite", token)
    with pytest.raises(links.BadLink):
        links.read_token("other-secret", "reset", token)
    with pytest.raises(links.BadLink):
        links.read_token(SECRET, "reset", token[:-2] + "xx")


def test_links_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    token = links.make_token(SECRET, "reset", 7, "h")
    later = time.time() + links.RESET_MAX_AGE + 60
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(links.BadLink):
        links.read_token(SECRET, "reset", token)
