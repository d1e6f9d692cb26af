"""Real HTTP receivers on loopback, for webhooks, chat endpoints and the SSRF guard."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each request with the next scripted (status, headers, body), then 200."""

    url: str
    port: int
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int | tuple[int, dict[str, str], bytes]) -> None:
        for status in statuses:
            self.script.append(status if isinstance(status, tuple) else (status, {}, b"{}"))


@contextmanager
def receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A threaded HTTP(S) server on 127.0.0.1 and a free port."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
            pass

        def handle_any(self) -> None:
            recv = state["r"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with recv.lock:
                recv.requests.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                status, headers, payload = recv.script.pop(0) if recv.script else (200, {}, b"ok")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = handle_any  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    scheme = "http"
    recv = Receiver(url="", port=port)
    if tls is not None:

        def note_sni(sock, name, context):
            recv.sni.append(name)

        tls.sni_callback = note_sni
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    recv.url = f"{scheme}://127.0.0.1:{port}"
    state["r"] = recv
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recv
    finally:
        server.shutdown()
        server.server_close()


def make_certificate(folder: Path, *names: str) -> tuple[Path, Path]:
    """A self-signed certificate for the given DNS names and 127.0.0.1, via openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    san = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", f"/CN={names[0] if names else 'x'}"]
        + ["-addext", f"subjectAltName={san}"],
        check=True,
        capture_output=True,
    )
    return cert, key
