"""What the operations benchmarks share: a real `feedback serve` on a free loopback port,
on a throwaway database, with a site and an admin, and helpers to read it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PASSWORD = "bench password long enough"
ORIGIN = "https://bench.example"
HIGH = "100000000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    folder: Path
    env: dict[str, str]
    port: int = 0
    key: str = ""
    proc: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> str:
        return self.env["FEEDBACK_DATABASE"]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "feedback", *args],
            env=self.env, input=stdin, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout

    def prepare(self) -> None:
        out = self.cli("site", "add", "Bench", "--origin", ORIGIN)
        self.key = out.split("Key: ")[1].split()[0]
        self.cli("user", "add", "admin@bench.example", "--role", "admin", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip

    def start(self, *extra: str) -> None:
        self.port = self.port or free_port()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "feedback", "serve", "--port", str(self.port), *extra],
                env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit("server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def make_service(folder: Path, **settings: str) -> Service:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env |= {
        "FEEDBACK_DATABASE": str(folder / "bench.db"),
        "FEEDBACK_SECRET_KEY": "bench-secret",
        "FEEDBACK_PUBLIC_URL": "http://127.0.0.1",
        "FEEDBACK_ACCESS_LOG": "false",
        "FEEDBACK_RATE_IP_PER_MINUTE": HIGH,
        "FEEDBACK_RATE_IP_BURST": HIGH,
        "FEEDBACK_RATE_PREFIX_PER_MINUTE": HIGH,
        "FEEDBACK_RATE_PREFIX_BURST": HIGH,
        "FEEDBACK_RATE_SITE_PER_MINUTE": HIGH,
        "FEEDBACK_RATE_SITE_BURST": HIGH,
        **settings,
    }
    return Service(folder, env)


def report(key: str, n: int, *, word: str = "wrod") -> dict:
    return {
        "site": key,
        "kind": "typo",
        "url": f"{ORIGIN}/story/{n % 50}",
        "title": "A story",
        "quote": {"exact": f"{word}{n}", "prefix": "the ", "suffix": " was"},
        "suggestion": "word",
        "comment": "",
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
