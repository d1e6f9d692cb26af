"""Serving the widget and other static files with ETags, long caching and compression:
brotli or gzip, each made once at start-up, whichever the browser accepts."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

SHORT_CACHE = "public, max-age=300, stale-while-revalidate=86400"
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    br: bytes
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
            br=brotli.compress(body, quality=11),
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

    def respond(self, request: Request, version: str | None = None) -> Response:
        """The asset, cached for a year when asked for at its version (its own, or the one
        its group of files shares)."""
        versioned = request.query_params.get("v") == (version or self.version)
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
        encoding = choose_encoding(request.headers.get("accept-encoding", ""))
        if encoding:
            body = self.br if encoding == "br" else self.gzipped
            headers["Content-Encoding"] = encoding
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type=self.media_type)
        return Response(body, headers=headers, media_type=self.media_type)


def choose_encoding(accept_encoding: str) -> str:
    """ "br" or "gzip" if the Accept-Encoding header allows it (brotli first: it is smaller),
    else "" for the plain bytes. A q of 0 refuses a coding; "*" stands for any not named."""
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        weights[name.strip()] = q
    for coding in ("br", "gzip"):
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return ""
