"""GET /widget.js: what a site's readers download, how it is cached, and how big it is."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest
import rjsmin
from starlette.applications import Starlette

from feedback.paths import WIDGET_DIR

# Everything the widget needs to open its dialog, all languages included, gzipped.
SIZE_BUDGET = 6144
IDENTITY = {"Accept-Encoding": "identity"}


def served_version(app: Starlette) -> str:
    return app.state.services.widget.version


async def test_widget_is_javascript_that_any_site_may_load(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "content-encoding" not in response.headers
    assert response.text.startswith("(()=>{")


async def test_served_widget_fits_the_size_budget(client: httpx.AsyncClient) -> None:
    plain = await client.get("/widget.js", headers=IDENTITY)
    packed = await client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    # httpx decodes gzip for us; the bytes on the wire are in the stream's raw length.
    assert packed.headers["content-encoding"] == "gzip"
    wire = int(packed.headers["content-length"])
    assert wire <= SIZE_BUDGET, f"widget.js is {wire} bytes gzipped; the budget is {SIZE_BUDGET}"
    assert len(gzip.compress(plain.content, compresslevel=9)) <= SIZE_BUDGET
    assert packed.content == plain.content


async def test_served_widget_is_the_source_without_comments(client: httpx.AsyncClient) -> None:
    source = (WIDGET_DIR / "widget.js").read_text(encoding="utf-8")
    served = (await client.get("/widget.js", headers=IDENTITY)).text
    assert served == rjsmin.jsmin(source)
    assert len(served) < len(source)
    assert "//" not in served.replace("://", "")
    # Every string the reader can see survives minifying untouched.
    for strings in re.findall(r'^ {4}[a-z]{2}: "(.*)",$', source, flags=re.M):
        assert strings in served
    assert served.endswith("boot();})();")


@pytest.mark.parametrize(
    "accept",
    ["", "identity", "br", "gzip;q=0", "deflate"],
)
async def test_widget_is_sent_uncompressed_to_clients_that_do_not_accept_gzip(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.get("/widget.js", headers={"Accept-Encoding": accept})
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text.startswith("(()=>{")


@pytest.mark.parametrize("accept", ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*"])
async def test_widget_is_gzipped_for_clients_that_accept_it(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.get("/widget.js", headers={"Accept-Encoding": accept})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text.startswith("(()=>{")


async def test_unchanged_widget_is_answered_with_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/widget.js")
    etag = first.headers["etag"]
    again = await client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await client.get("/widget.js", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = await client.get("/widget.js", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200


async def test_plain_address_is_cached_briefly_and_versioned_address_for_a_year(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    plain = await client.get("/widget.js")
    assert plain.headers["cache-control"] == "public, max-age=300, stale-while-revalidate=86400"
    version = served_version(app)
    versioned = await client.get(f"/widget.js?v={version}")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    other = await client.get("/widget.js?v=0000")
    assert "immutable" not in other.headers["cache-control"]


async def test_head_reports_the_length_without_a_body(client: httpx.AsyncClient) -> None:
    get = await client.get("/widget.js", headers=IDENTITY)
    head = await client.head("/widget.js", headers=IDENTITY)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(get.content)
    assert head.headers["etag"] == get.headers["etag"]
