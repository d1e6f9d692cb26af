"""The files in deploy/ name only settings, commands and paths that exist.

No Docker engine or systemd runs here, so these are read as text and checked against the
program itself: every FEEDBACK_ setting against the settings list, every `feedback ...`
command line against the command's own parser, every file the image copies against the
checkout.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from feedback.cli import build_parser
from feedback.settings import SETTING_NAMES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SETTING = re.compile(r"\bFEEDBACK_[A-Z_]+\b")


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for each line of a systemd unit; keys may repeat."""
    section, out = "", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def check_command(argv: list[str]) -> None:
    """A `feedback ...` command line must parse with the real parser."""
    assert Path(argv[0]).name == "feedback", argv
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse's way of refusing
        raise AssertionError(f"not a valid feedback command: {shlex.join(argv)}") from exc


@pytest.mark.parametrize(
    "name",
    ["nginx.conf", "feedback.service", "feedback.env.example", "Dockerfile", "docker-compose.yml"],
)
def test_every_setting_named_exists(name: str) -> None:
    text = (DEPLOY / name).read_text()
    named = set(SETTING.findall(text))
    assert named <= set(SETTING_NAMES), named - set(SETTING_NAMES)


def test_env_example_lists_real_settings_with_valid_values(tmp_path) -> None:
    from feedback.settings import load_settings

    values = {}
    for line in (DEPLOY / "feedback.env.example").read_text().splitlines():
        line = line.strip().lstrip("#").strip()
        if re.match(r"FEEDBACK_[A-Z_]+=", line):
            key, _, value = line.partition("=")
            values[key] = value
    assert {"FEEDBACK_SECRET_KEY", "FEEDBACK_PUBLIC_URL", "FEEDBACK_TRUSTED_PROXIES"} <= set(values)
    values["FEEDBACK_SECRET_KEY"] = "x"
    load_settings(values, env_file=str(tmp_path / "none"))  # every example value parses


def test_systemd_unit_is_hardened_and_runs_real_commands() -> None:
    entries = unit_entries((DEPLOY / "feedback.service").read_text())
    service = {k: v for s, k, v in entries if s == "Service"}
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["LimitNOFILE"] == "65536"
    assert service["PrivateTmp"] == "yes"
    assert service.get("DynamicUser") == "yes" or service.get("User") not in (None, "root")
    # The only writable places are its own state and runtime folders.
    assert "ReadWritePaths" not in service
    for key in ("ExecStart", "ExecStartPre"):
        check_command(shlex.split(service[key]))
    env_lines = [v for s, k, v in entries if k == "Environment"]
    db = next(v for v in env_lines if v.startswith("FEEDBACK_DATABASE="))
    assert db.split("=", 1)[1].startswith("/var/lib/feedback/")  # StateDirectory=feedback
    assert service["StateDirectory"] == "feedback"
    assert {s for s, _, _ in entries} == {"Unit", "Service", "Install"}


def test_systemd_accepts_the_unit_when_it_is_here(tmp_path) -> None:
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    # Point the unit at a stand-in program: verify wants ExecStart's binary to exist.
    stand_in = tmp_path / "bin" / "feedback"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "feedback.service"
    text = (
        (DEPLOY / "feedback.service").read_text().replace("/opt/feedback/bin", str(stand_in.parent))
    )
    unit.write_text(
        text.replace("EnvironmentFile=/etc/feedback/env", "EnvironmentFile=-/etc/feedback/env")
    )
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    words = ("Unknown", "Invalid", "ignoring", "Failed", "not found")
    problems = [line for line in result.stderr.splitlines() if any(w in line for w in words)]
    assert result.returncode == 0 and not problems, result.stderr


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_slim_non_root_with_healthcheck_and_volume() -> None:
    steps = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    froms = [rest for word, rest in steps if word == "FROM"]
    assert all("slim" in f for f in froms)
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    volumes = [rest for word, rest in steps if word == "VOLUME"]
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert volumes == ["/data"] and "FEEDBACK_DATABASE=/data/" in env
    [health] = [rest for word, rest in steps if word == "HEALTHCHECK"]
    assert "/healthz" in health
    # Everything it copies from the checkout is there.
    for word, rest in steps:
        if word == "COPY" and "--from" not in rest:
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
    [cmd] = [rest for word, rest in steps if word == "CMD"]
    check_command(json.loads(cmd))
    for _, rest in steps:
        for name in SETTING.findall(rest):
            assert name in SETTING_NAMES


def test_compose_runs_the_app_behind_nginx_with_the_shipped_config() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    app, nginx = services["app"], services["nginx"]
    assert (ROOT / "deploy" / app["build"]["context"] / app["build"]["dockerfile"]).exists()
    check_command(app["command"])
    assert set(app["environment"]) <= set(SETTING_NAMES)
    assert app["environment"]["FEEDBACK_TRUSTED_PROXIES"] == "127.0.0.1"
    assert nginx["network_mode"] == "service:app"  # so 127.0.0.1 is the proxy
    mounts = {v.split(":")[0]: v.split(":")[1] for v in nginx["volumes"]}
    assert (
        DEPLOY / mounts["./nginx.conf"].rsplit("/", 1)[0].replace("/etc/nginx/conf.d", "")
    ).exists()
    assert nginx["depends_on"]["app"]["condition"] == "service_healthy"
    assert any(v.split(":")[1] == "/data" for v in app["volumes"])


def test_postgres_compose_runs_two_instances_on_one_database_behind_nginx() -> None:
    text = (DEPLOY / "docker-compose.postgres.yml").read_text()
    assert set(SETTING.findall(text)) <= set(SETTING_NAMES)
    compose = yaml.safe_load(text)
    services = compose["services"]
    apps = [services["app1"], services["app2"]]
    for app in apps:
        check_command(app["command"])
        assert set(app["environment"]) <= set(SETTING_NAMES)
        assert app["environment"]["FEEDBACK_DATABASE"].startswith("postgresql://")
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    # nginx's fixed address is the one proxy the instances believe.
    nginx = services["nginx"]
    assert (
        apps[0]["environment"]["FEEDBACK_TRUSTED_PROXIES"]
        == (nginx["networks"]["backend"]["ipv4_address"])
    )
    # The shipped nginx.conf, its one upstream line rewritten to both instances: the
    # pattern must keep matching that file exactly once.
    script = nginx["command"][2]
    pattern = re.search(r"s/\^(.*?)\$\$/(.*?)/", script)
    assert pattern is not None
    conf = (DEPLOY / "nginx.conf").read_text().splitlines()
    assert conf.count(pattern.group(1)) == 1
    assert "server app1:8000; server app2:8000;" in pattern.group(2)
    assert "./nginx.conf:/etc/feedback/nginx.conf:ro" in nginx["volumes"]
