"""The README's production steps work as written on a fresh machine: in a fresh virtual
environment, with `python3`, no `pip install` into the system Python."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def production_steps() -> list[str]:
    section = README[README.index("## Running it for real") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no shell block under 'Running it for real'"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_production_steps_use_a_venv_and_python3() -> None:
    steps = production_steps()
    assert steps[0].startswith("python3 -m venv ")
    text = "\n".join(steps)
    assert not re.search(r"(^|\s)python(\s|$)", text)  # not a command on Debian
    assert not re.search(r"(^|\s)pip install", text)  # only the venv's own pip
    assert steps[-1].split()[0].endswith("/feedback") and " serve " in steps[-1]


def test_production_steps_run_verbatim_in_a_fresh_venv(tmp_path) -> None:
    steps = production_steps()
    prefix, state, port = tmp_path / "opt", tmp_path / "state", free_port()

    def local(line: str) -> str:
        # Only the places change: a folder of the test's instead of /opt and /var/lib.
        return (
            line.replace("/opt/feedback", str(prefix))
            .replace("/var/lib/feedback", str(state))
            .replace("--port 8000", f"--port {port}")
        )

    setup = "set -eu\n" + "\n".join(local(line) for line in steps[:-1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBACK_", "VIRTUAL_ENV"))}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    password = "a long enough password\n"
    done = subprocess.run(
        ["bash", "-c", setup + "\nenv | grep ^FEEDBACK_ > " + str(tmp_path / "env")],
        cwd=ROOT, env=env, input=password * 2, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Site 'Example News' added" in done.stdout
    assert "User editor@example.com added as admin" in done.stdout
    assert (prefix / "pyvenv.cfg").exists() and (state / "feedback.db").exists()

    exported = dict(
        line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
    )
    log = tmp_path / "serve.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            ["bash", "-c", local(steps[-1])],
            cwd=tmp_path, env={**env, **exported}, stdout=log_file, stderr=log_file,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["ready"] is True
    finally:
        server.terminate()
        server.wait(timeout=15)
