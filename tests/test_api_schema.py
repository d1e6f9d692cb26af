"""Schemathesis against a live server on loopback: generated requests to every /api/v1
endpoint find no 5xx, no answer outside its documented schema, and no crash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from feedback.store.tokens import add_token
from tests.conftest import run_with_store

# A fixed budget: the same number of generated cases, from the same seed, every run.
MAX_EXAMPLES = 40
SEED = 20261125
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


def test_generated_requests_find_no_server_error_or_schema_break(live_server, tmp_path) -> None:
    site = live_server.add_site("Schema News", ["https://example.com"])
    _, secret = run_with_store(
        live_server.settings.database,
        lambda s: add_token(
            s, name="schemathesis", scope="write", site_ids=[site.id], created_by=None,
            now=time.time(),
        ),
    )  # fmt: skip
    for n in range(3):
        httpx.post(
            f"{live_server.url}/api/v1/reports",
            json={"site": site.key, "kind": "typo", "url": f"https://example.com/a/{n}",
                  "quote": {"exact": f"teh{n}"}, "suggestion": "the"},
            headers={"Origin": "https://example.com"},
        ).raise_for_status()  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(
        [
            *schemathesis(), "run", f"{live_server.url}/api/v1/openapi.json",
            "--url", live_server.url,
            "-H", f"Authorization: Bearer {secret}",
            "--checks", CHECKS,
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", str(SEED),
            "--generation-deterministic",
            "--workers", "1",
            "--request-timeout", "10",
            "--phases", "examples,coverage,fuzzing",
            "--report-dir", str(tmp_path / "report"),
        ],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
