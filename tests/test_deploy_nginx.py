"""deploy/nginx.conf in front of the real service: Debian's nginx, run in the foreground on
loopback ports with the shipped file (only its ports, paths and certificate swapped in),
TLS with a throwaway certificate, and the service trusting it as its proxy."""

from __future__ import annotations

import gzip
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from feedback.app import create_app
from feedback.clients import ip_hash
from feedback.settings import Settings
from feedback.store.sites import Site, add_site
from feedback.store.users import add_user
from tests.conftest import free_port, make_settings, query_database, run_in_thread, run_with_store

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ORIGIN = "https://news.example"
PASSWORD = "correct horse battery"


def nginx_site_config(app_port: int, http_port: int, https_port: int, tmp: Path) -> str:
    """The shipped file with loopback ports, a test certificate and private folders."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    swaps = [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("/etc/letsencrypt/live/feedback.example.com/fullchain.pem", str(tmp / "cert.pem")),
        ("/etc/letsencrypt/live/feedback.example.com/privkey.pem", str(tmp / "key.pem")),
        ("/var/cache/nginx/feedback", str(tmp / "cache")),
        ("/var/www/letsencrypt", str(tmp / "acme")),
    ]
    for old, new in swaps:
        assert old in text, f"deploy/nginx.conf no longer has {old!r}; update this test"
        text = text.replace(old, new)
    return text


def main_config(tmp: Path, site_config: Path) -> str:
    temp_paths = (
        "\n".join(
            f"    {name}_temp_path {tmp / name};" for name in ("client_body", "proxy", "fastcgi")
        )
        + f"\n    uwsgi_temp_path {tmp / 'uwsgi'};\n    scgi_temp_path {tmp / 'scgi'};"
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {tmp / 'access.log'};\n{temp_paths}\n"
        "    types { text/html html; }\n"
        f"    include {site_config};\n"
        "}\n"
    )


@dataclass
class Stack:
    https: str
    http: str
    direct: str
    settings: Settings
    site: Site
    widget_version: str
    tmp: Path

    def client(self, source: str, **kw) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source, verify=False)
        return httpx.Client(transport=transport, timeout=10, **kw)

    def stored_hashes(self) -> list[str]:
        rows = query_database(self.settings.database, "SELECT ip_hash FROM submissions ORDER BY id")
        return [r[0] for r in rows]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; .ci/run must install it")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    tmp = tmp_path_factory.mktemp("nginx")
    for folder in ("cache", "acme", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / folder).mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=localhost", "-days", "2",
         "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    app_port, http_port, https_port = free_port(), free_port(), free_port()
    settings = replace(
        make_settings(tmp, public_url=f"https://127.0.0.1:{https_port}"),
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
        rate_ip_per_minute=0.5,
        rate_ip_burst=3,
    )
    app = create_app(settings)
    server, thread = run_in_thread(app, app_port)

    async def seed(store) -> Site:
        site = await add_site(store, "News", [ORIGIN])
        await add_user(store, "ed@news.example", PASSWORD, "editor", [site.id])
        return site

    site = run_with_store(settings.database, seed)
    site_config = tmp / "feedback.conf"
    site_config.write_text(nginx_site_config(app_port, http_port, https_port, tmp))
    main = tmp / "nginx.conf"
    main.write_text(main_config(tmp, site_config))
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp), "-c", str(main), "-e", str(tmp / "error.log")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(main), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            assert nginx.poll() is None, (tmp / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        version = app.state.services.widget.version
        yield Stack(
            https=f"https://127.0.0.1:{https_port}",
            http=f"http://127.0.0.1:{http_port}",
            direct=f"http://127.0.0.1:{app_port}",
            settings=settings,
            site=site,
            widget_version=version,
            tmp=tmp,
        )
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        server.should_exit = True
        thread.join(timeout=15)


def report(stack: Stack, client: httpx.Client, base: str, word: str, **headers: str):
    body = {"site": stack.site.key, "kind": "typo", "url": f"{ORIGIN}/story",
            "quote": {"exact": word}}  # fmt: skip
    return client.post(f"{base}/api/v1/reports", json=body, headers={"Origin": ORIGIN, **headers})


def test_plain_http_redirects_to_https(stack: Stack) -> None:
    with stack.client("127.0.0.1") as client:
        r = client.get(f"{stack.http}/dashboard/")
    assert r.status_code == 301
    assert r.headers["location"].startswith("https://")


def test_real_client_address_reaches_rate_limits_and_ip_hashes(stack: Stack) -> None:
    before = len(stack.stored_hashes())
    with stack.client("127.0.0.5") as reader:
        codes = [report(stack, reader, stack.https, f"a{n}").status_code for n in range(4)]
    assert codes == [201, 201, 201, 429]  # the burst is 3 for this address...
    with stack.client("127.0.0.6") as other:
        assert report(stack, other, stack.https, "b0").status_code == 201  # ...not for all
    hashes = stack.stored_hashes()[before:]
    secret = stack.settings.secret
    assert hashes == [ip_hash(secret, "127.0.0.5")] * 3 + [ip_hash(secret, "127.0.0.6")]


def test_a_forged_forwarded_for_is_ignored(stack: Stack) -> None:
    before = len(stack.stored_hashes())
    # Through nginx: the reader's own claim is left of the hop nginx appends.
    with stack.client("127.0.0.7") as reader:
        codes = [
            report(stack, reader, stack.https, f"c{n}", **{"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(4)
        ]
    assert [c.status_code for c in codes] == [201, 201, 201, 429]
    # Straight to the service, bypassing nginx: an untrusted peer's header counts for nothing.
    with stack.client("127.0.0.8") as direct:
        r = report(stack, direct, stack.direct, "d0", **{"X-Forwarded-For": "192.0.2.77"})
        assert r.status_code == 201
    secret = stack.settings.secret
    assert stack.stored_hashes()[before:] == [ip_hash(secret, "127.0.0.7")] * 3 + [
        ip_hash(secret, "127.0.0.8")
    ]


def test_widget_arrives_compressed_with_cache_headers(stack: Stack) -> None:
    with stack.client("127.0.0.1") as client:
        plain = client.get(f"{stack.direct}/widget.js", headers={"Accept-Encoding": "identity"})
        first = client.get(f"{stack.https}/widget.js", headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200
        assert first.headers["content-encoding"] == "gzip"
        assert "max-age=300" in first.headers["cache-control"]
        assert "accept-encoding" in first.headers["vary"].lower()
        assert first.content == plain.content  # httpx undid the gzip
        versioned = f"{stack.https}/widget.js?v={stack.widget_version}"
        long = [client.get(versioned, headers={"Accept-Encoding": "gzip"}) for _ in range(2)]
    assert long[0].headers["content-encoding"] == "gzip"
    assert "max-age=31536000" in long[0].headers["cache-control"]
    assert "immutable" in long[0].headers["cache-control"]
    assert long[1].headers["x-cache-status"] == "HIT"  # served by nginx alone
    assert long[1].content == plain.content
    raw = gzip.compress(plain.content)
    assert int(long[1].headers.get("content-length", len(raw))) < len(plain.content)


def test_metrics_are_not_published_through_the_proxy(stack: Stack) -> None:
    with stack.client("127.0.0.1") as client:
        assert client.get(f"{stack.https}/metrics").status_code == 404
        assert client.get(f"{stack.direct}/metrics").status_code == 200


def test_live_updates_stream_through(stack: Stack) -> None:
    with stack.client("127.0.0.9", base_url=stack.https) as editor:
        page = editor.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        signed = editor.post(
            "/dashboard/login",
            data={"email": "ed@news.example", "password": PASSWORD, "csrf": csrf, "next": ""},
        )
        assert signed.status_code == 303, signed.text
        received: list[str] = []
        opened = threading.Event()

        def listen() -> None:
            with editor.stream(
                "GET", "/dashboard/live", headers={"Accept": "text/event-stream"}
            ) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                for line in stream.iter_lines():
                    opened.set()
                    received.append(line)
                    if line.startswith("data:"):
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10), "the stream's first bytes never came through"
        sent_at = time.monotonic()
        with stack.client("127.0.0.10") as reader:
            r = report(stack, reader, stack.https, "live-one")
            assert r.status_code == 201
        listener.join(timeout=10)
        assert not listener.is_alive(), f"no event through nginx: {received}"
        assert time.monotonic() - sent_at < 5
    assert any(f'"report_id": {r.json()["id"]}' in line for line in received)


def _slow_client(port: int, body: bool) -> float:
    """Dribble a request's header a line at a time, or stall its body; return seconds until
    nginx hangs up."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    start = time.monotonic()
    try:
        if body:
            sock.sendall(
                b"POST /api/v1/reports HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"
            )
        else:
            sock.sendall(b"GET /dashboard/ HTTP/1.1\r\nHost: localhost\r\n")
        while time.monotonic() - start < 30:
            time.sleep(1)
            try:
                if not body:  # a header line a second; a body that stalls after one byte
                    sock.sendall(b"X-Slow: 1\r\n")
                sock.settimeout(0.05)
                if sock.recv(4096) == b"":
                    break
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                break
        return time.monotonic() - start
    finally:
        sock.close()


def test_slow_clients_are_cut_off_by_nginx(stack: Stack) -> None:
    port = int(stack.https.rsplit(":", 1)[1])
    with ThreadPoolExecutor(2) as pool:
        headers = pool.submit(_slow_client, port, False)
        body = pool.submit(_slow_client, port, True)
        # Meanwhile everyone else is served as usual.
        with stack.client("127.0.0.11") as reader:
            assert reader.get(f"{stack.https}/healthz").status_code == 200
        header_seconds, body_seconds = headers.result(), body.result()
    # client_header_timeout 10s for the whole header however it trickles in, and
    # client_body_timeout 10s for a body that stops coming.
    assert 8 <= header_seconds <= 16, header_seconds
    assert 8 <= body_seconds <= 16, body_seconds
