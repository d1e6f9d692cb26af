"""Requests whose length is ambiguous are refused before any route sees them.

A request carrying both Content-Length and Transfer-Encoding can be read two ways: a
proxy in front may take one length and this server the other, and the bytes in between
become a second, smuggled request. httptools refuses such requests itself; h11 (the
pure-Python fallback) believes Transfer-Encoding. Either way the answer is a 400 and
the connection is closed, so nothing after it on that connection is read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"error":{"code":"bad_request","message":"A request may not carry both Content-Length and Transfer-Encoding.","field":null}}'  # noqa: E501


class RefuseAmbiguousLength:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            te = cl = False
            for name, _ in scope["headers"]:
                if name == b"transfer-encoding":
                    te = True
                elif name == b"content-length":
                    cl = True
            if te and cl:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_BODY)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _BODY})
                return
        await self.app(scope, receive, send)
