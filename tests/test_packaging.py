"""The built wheel carries the templates and the widget, and runs from a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_into_a_fresh_venv_and_serves(tmp_path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = dist.glob("feedback-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "feedback/widget/widget.js" in names
    assert "feedback/templates/demo/article.html" in names
    assert any(n.startswith("feedback/store/migrations/0001") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    where = subprocess.run(
        [str(python), "-c", "import feedback, sys; print(feedback.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert str(env_dir) in where  # not the checkout

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBACK_", "PYTHON"))}
    env |= {"FEEDBACK_SECRET_KEY": "wheel-test", "FEEDBACK_DATABASE": str(tmp_path / "w.db")}
    proc = subprocess.Popen(
        [str(env_dir / "bin" / "feedback"), "serve", "--port", str(port), "--log-level", "error"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "feedback serve exited"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        widget = httpx.get(f"http://127.0.0.1:{port}/widget.js")
        assert widget.status_code == 200
        assert "javascript" in widget.headers["content-type"]
        assert widget.content == widget.content.strip() or len(widget.content) > 1000
    finally:
        proc.terminate()
        proc.wait(timeout=10)
