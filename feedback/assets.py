"""Serving the widget and other static files with ETags, compression and long caching,
and compacting the widget's JavaScript at start-up."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

SHORT_CACHE = "public, max-age=300, stale-while-revalidate=86400"
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    version: str
    media_type: str

    @classmethod
    def from_bytes(cls, body: bytes, media_type: str) -> Asset:
        digest = hashlib.sha256(body).hexdigest()
        return cls(
            body=body,
            # mtime=0: the same input always gives the same bytes, and so the same length.
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            etag=f'"{digest[:20]}"',
            version=digest[:12],
            media_type=media_type,
        )

    @classmethod
    def from_file(cls, path: Path) -> Asset:
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("javascript"):
            media_type += "; charset=utf-8"
        return cls.from_bytes(path.read_bytes(), media_type)

    def respond(self, request: Request) -> Response:
        versioned = request.query_params.get("v") == self.version
        headers = {
            "ETag": self.etag,
            "Cache-Control": LONG_CACHE if versioned else SHORT_CACHE,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            # The widget runs on other sites' pages; let them load it without credentials.
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Access-Control-Allow-Origin": "*",
        }
        if_none_match = request.headers.get("if-none-match", "")
        if self.etag in {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}:
            return Response(status_code=304, headers=headers)
        body = self.body
        if _accepts_gzip(request.headers.get("accept-encoding", "")):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type=self.media_type)
        return Response(body, headers=headers, media_type=self.media_type)


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
    return False
