"""Settings come from the environment, then .env, then the documented defaults."""

from __future__ import annotations

import ipaddress

import pytest

from feedback.settings import Settings, load_settings


def test_defaults_in_the_list_match_the_settings_object(tmp_path) -> None:
    assert load_settings({}, env_file=str(tmp_path / "none.env")) == Settings()


def test_environment_wins_over_dot_env(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FEEDBACK_DATABASE=/from/file.db\nFEEDBACK_RATE_IP_BURST=7\n")
    settings = load_settings({"FEEDBACK_DATABASE": "/from/env.db"}, env_file=str(env_file))
    assert settings.database == "/from/env.db"
    assert settings.rate_ip_burst == 7


def test_trusted_proxies_are_parsed_as_networks(tmp_path) -> None:
    settings = load_settings(
        {"FEEDBACK_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}, env_file=str(tmp_path / "x")
    )
    assert settings.trusted_proxies == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("FEEDBACK_TRUSTED_PROXIES", "not-an-ip"), ("FEEDBACK_MAX_BODY_BYTES", "big")],
)
def test_bad_values_name_the_setting(tmp_path, name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        load_settings({name: value}, env_file=str(tmp_path / "x"))


def test_secret_never_shows_in_a_repr(tmp_path) -> None:
    settings = load_settings({"FEEDBACK_SECRET_KEY": "hunter2"}, env_file=str(tmp_path / "x"))
    assert settings.secret == "hunter2"
    assert "hunter2" not in repr(settings)
