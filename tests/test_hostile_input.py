"""Hostile report bodies: nothing a reader sends may make the service answer 5xx, and
CSV exports never hand a spreadsheet a formula."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.app import create_app
from feedback.dashboard.queue import neutralise
from feedback.store.sites import add_site
from tests.conftest import ORIGIN, make_settings, report_payload


async def test_an_integer_past_the_conversion_limit_is_malformed_json(client, site) -> None:
    raw = '{"site": "' + site.key + '", "kind": "typo", "n": ' + "9" * 5000 + "}"
    r = await client.post(
        "/api/v1/reports",
        content=raw.encode(),
        headers={**ORIGIN, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "malformed_json"


Poster = Callable[[bytes, dict[str, str]], httpx.Response]


@pytest.fixture(scope="module")
def post(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Poster, Any]]:
    """One app for every generated example: opening a database per example is too slow."""
    loop = asyncio.new_event_loop()
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz"), max_body_bytes=65536))
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    site = loop.run_until_complete(
        add_site(app.state.services.store, "Fuzz", ["https://example.com"])
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 1000)),
        base_url="http://testserver",
    )

    def send(body: bytes, headers: dict[str, str]) -> httpx.Response:
        request = client.post("/api/v1/reports", content=body, headers=headers)
        return loop.run_until_complete(request)

    try:
        yield send, site
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
quote = st.one_of(
    json_value,
    st.fixed_dictionaries({}, optional={k: json_value for k in ("exact", "prefix", "suffix")}),
)


@st.composite
def report_bodies(draw: st.DrawFn, site_key: str) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=2000))
    if choice == 1:
        return draw(st.text(max_size=2000)).encode("utf-8", "surrogatepass")
    fields: dict[str, Any] = {
        "site": draw(st.one_of(st.just(site_key), json_value)),
        "kind": draw(st.one_of(st.sampled_from(["typo", "comment"]), json_value)),
        "url": draw(
            st.one_of(
                st.just("https://example.com/a"),
                st.text(max_size=300).map(lambda t: "https://example.com/" + t),
                json_value,
            )
        ),
        "quote": draw(quote),
    }
    for name in ("title", "lang", "suggestion", "comment", "website"):
        if draw(st.booleans()):
            fields[name] = draw(json_value)
    if draw(st.booleans()):
        fields[draw(st.text(max_size=10))] = draw(json_value)
    text = json.dumps(fields, allow_nan=True, ensure_ascii=draw(st.booleans()))
    if choice == 3 and text:
        # Cut or bend the JSON itself.
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=5))
    return text.encode("utf-8", "surrogatepass")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_report_body_makes_the_service_fail(post, data: st.DataObject) -> None:
    send, site = post
    body = data.draw(report_bodies(site.key))
    content_type = data.draw(
        st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"])
    )
    r = send(body, {**ORIGIN, "Content-Type": content_type})
    assert r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/json"
    if r.status_code != 201:
        assert set(r.json()["error"]) == {"code", "message", "field"}


def test_well_formed_reports_still_pass_the_fuzz_setup(post) -> None:
    send, site = post
    body = json.dumps(report_payload(site)).encode()
    assert send(body, {**ORIGIN, "Content-Type": "application/json"}).status_code == 201


@pytest.mark.parametrize(
    "cell",
    ["=1+1", " =1+1", "\t=1+1", "  +SUM(A1)", "\u00a0-2", " @cmd", "\n=x", "\r\n@x", "-5"],
)
def test_csv_cells_that_would_be_formulas_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["teh", " the", "a=b", "", "x-1"])
def test_ordinary_csv_cells_stay_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell
