"""A real article server on loopback whose pages a test can change between requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Articles:
    url: str
    pages: dict[str, str] = field(default_factory=dict)
    # Paths served as an endless stream of filler, to test the size cap.
    endless: set[str] = field(default_factory=set)
    hits: list[str] = field(default_factory=list)
    sent_bytes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, path: str, *paragraphs: str, lang: str = "en") -> str:
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        self.pages[path] = (
            f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<title>Article</title><script>var x = 1;</script></head><body><article>"
            f"<h1>Article</h1>{body}</article></body></html>"
        )
        return self.url + path


@contextmanager
def article_server() -> Iterator[Articles]:
    state: dict[str, Articles] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            articles = state["a"]
            path = self.path.split("?", 1)[0]
            with articles.lock:
                articles.hits.append(path)
            if path in articles.endless:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = b"<p>" + b"filler text " * 500 + b"</p>"
                sent = 0
                try:
                    while sent < 200_000_000:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        with articles.lock:
                            articles.sent_bytes[path] = sent
                except OSError:
                    pass
                return
            html = articles.pages.get(path)
            if html is None:
                self.send_error(404)
                return
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    state["a"] = Articles(url=f"http://127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["a"]
    finally:
        server.shutdown()
        server.server_close()
