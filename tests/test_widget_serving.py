"""GET /widget.js and the dialog bundles: what a site's readers download, how it is
cached, and how big it is on the wire."""

from __future__ import annotations

import gzip
import json
import re

import brotli
import httpx
import pytest
import rjsmin
from starlette.applications import Starlette

from feedback.paths import WIDGET_DIR
from feedback.widget import load_strings

# What every page view downloads, gzipped: less than Orphus's 2.5 KB.
LOADER_BUDGET = 2048
# What the first Ctrl+Enter downloads, in one language.
DIALOG_BUDGET = 9216
IDENTITY = {"Accept-Encoding": "identity"}
LANGUAGES = ["ar", "de", "en", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "tr", "uk", "zh"]


def served_version(app: Starlette) -> str:
    return app.state.services.widget.version


def dialog_version(app: Starlette) -> str:
    return app.state.services.widget.dialog_version


async def wire_size(client: httpx.AsyncClient, path: str, coding: str) -> int:
    """The bytes sent for `path` with Content-Encoding `coding`, as a browser gets them."""
    async with client.stream("GET", path, headers={"Accept-Encoding": coding}) as response:
        assert response.headers["content-encoding"] == coding
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert int(response.headers["content-length"]) == len(raw)
    return len(raw)


async def test_widget_is_javascript_that_any_site_may_load(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "content-encoding" not in response.headers
    assert response.text.startswith("(()=>{")


async def test_loader_fits_its_budget_gzipped_and_smaller_still_with_brotli(
    client: httpx.AsyncClient,
) -> None:
    gz = await wire_size(client, "/widget.js", "gzip")
    br = await wire_size(client, "/widget.js", "br")
    assert gz <= LOADER_BUDGET, f"widget.js is {gz} bytes gzipped; the budget is {LOADER_BUDGET}"
    assert br < gz
    plain = await client.get("/widget.js", headers=IDENTITY)
    assert len(gzip.compress(plain.content, compresslevel=9)) <= LOADER_BUDGET


async def test_each_languages_dialog_fits_its_budget(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    for lang in LANGUAGES:
        path = f"/widget/dialog.{lang}.js?v={dialog_version(app)}"
        gz = await wire_size(client, path, "gzip")
        br = await wire_size(client, path, "br")
        assert gz <= DIALOG_BUDGET, f"{path} is {gz} bytes gzipped; the budget is {DIALOG_BUDGET}"
        assert br < gz
        plain = (await client.get(path, headers=IDENTITY)).content
        packed = await client.get(path, headers={"Accept-Encoding": "br"})
        assert packed.content == plain  # httpx decodes brotli: the same script either way


async def test_each_dialog_carries_its_own_language_only(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    strings = load_strings()
    assert sorted(strings) == LANGUAGES
    for lang in LANGUAGES:
        body = (await client.get(f"/widget/dialog.{lang}.js", headers=IDENTITY)).text
        assert body.startswith("const T=")
        texts = json.loads(body[len("const T=") : body.index(";")])
        assert texts == strings[lang]
        assert "export default" in body
        others = [other for other in LANGUAGES if other != lang]
        assert not any(strings[other]["thanks"] in body for other in others)
    assert strings["ar"]["dir"] == "rtl"
    assert strings["ru"]["rate"].endswith("мин.")
    assert (await client.get("/widget/dialog.xx.js")).status_code == 404
    assert (await client.get("/widget/dialog..js")).status_code == 404


async def test_loader_asks_for_the_bundles_of_this_very_service(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    loader = (await client.get("/widget.js", headers=IDENTITY)).text
    assert f"?v={dialog_version(app)}" in loader
    assert "__VERSION__" not in loader and "__LANGS__" not in loader
    assert json.dumps(LANGUAGES, separators=(",", ":")) in loader
    versioned = await client.get(f"/widget/dialog.en.js?v={dialog_version(app)}")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["access-control-allow-origin"] == "*"
    hint = await client.get(f"/widget/hint.de.json?v={dialog_version(app)}")
    assert hint.json() == ["Fehler melden", "Fehler entdeckt? Markieren und {k} drücken"]
    assert hint.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_served_widget_is_the_source_without_comments(client: httpx.AsyncClient) -> None:
    source = (WIDGET_DIR / "widget.js").read_text(encoding="utf-8")
    served = (await client.get("/widget.js", headers=IDENTITY)).text
    assert len(served) < len(source)
    assert "//" not in served.replace("://", "")
    assert served.startswith("(()=>{") and served.endswith("boot();})();")
    assert re.sub(r"\?v=\w+", "?v=__VERSION__", served).replace(
        json.dumps(LANGUAGES, separators=(",", ":")), "__LANGS__"
    ) == rjsmin.jsmin(source)


@pytest.mark.parametrize(
    "accept",
    ["", "identity", "gzip;q=0", "deflate", "br;q=0, gzip;q=0"],
)
async def test_widget_is_sent_uncompressed_to_clients_that_accept_neither_coding(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.get("/widget.js", headers={"Accept-Encoding": accept})
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text.startswith("(()=>{")


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=1.0, gzip;q=0.8", "br"),
        ("br", "br"),
        ("*", "br"),
    ],
)
async def test_widget_is_compressed_as_the_client_accepts_brotli_first(
    client: httpx.AsyncClient, accept: str, coding: str
) -> None:
    response = await client.get("/widget.js", headers={"Accept-Encoding": accept})
    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text.startswith("(()=>{")


async def test_compressed_bodies_are_made_once_at_start_up(app: Starlette) -> None:
    widget = app.state.services.widget
    for asset in [widget.loader, *widget.dialogs.values(), *widget.hints.values()]:
        assert brotli.decompress(asset.br) == asset.body
        assert gzip.decompress(asset.gzipped) == asset.body


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
