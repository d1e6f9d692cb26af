"""What the widget sends to pin down the quote (its position and a text fragment), the
reader's "tell me when it's fixed" address, and GET /api/v1/widget-config."""

from __future__ import annotations

import dataclasses

import pytest

from feedback.intake import _typed_fields, _validated
from feedback.locators import LocatorError, check_email, check_fragment, parse_fragment
from feedback.store.reports import NewSubmission
from feedback.store.sites import Site
from tests.conftest import ORIGIN, report_payload
from tests.dashboard_support import make_user, send_report, sign_in
from tests.test_intake import error_of, stored_reports, stored_submissions

LOCATED = {
    "quote": {
        "exact": "teh",
        "prefix": "Opening words.\nThis is ",
        "suffix": " story.\nNext paragraph.",
    },
    "position": {"start": 23, "end": 26},
    "fragment": "This%20is-,teh,-story.",
}


async def test_position_and_fragment_are_stored(client, site: Site, app) -> None:
    response = await client.post(
        "/api/v1/reports", json=report_payload(site, **LOCATED), headers=ORIGIN
    )
    assert response.status_code == 201
    [report] = await stored_reports(app)
    assert report["quote_fragment"] == "This%20is-,teh,-story."
    # Block boundaries in the context survive as one line break each.
    assert report["quote_prefix"] == "Opening words.\nThis is "
    [sub] = await stored_submissions(app)
    assert (sub["position_start"], sub["position_end"]) == (23, 26)


async def test_the_same_typo_merges_whatever_the_positions_and_outer_context(
    client, site: Site, app
) -> None:
    first = report_payload(site, **LOCATED)
    # An ad went in above the paragraph: offsets and the context beyond the block differ.
    second = report_payload(
        site,
        quote={"exact": "teh", "prefix": "Advertisement\nThis is ", "suffix": " story."},
        position={"start": 1040, "end": 1043},
        fragment="",
    )
    # A widget that stopped its context at the block's edge.
    third = report_payload(site, quote={"exact": "teh", "prefix": "This is ", "suffix": " story."})
    answers = [
        (await client.post("/api/v1/reports", json=body, headers=ORIGIN)).json()
        for body in (first, second, third)
    ]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    assert len({a["id"] for a in answers}) == 1
    [report] = await stored_reports(app)
    assert report["submission_count"] == 3
    # The verified fragment is kept when a later send has none.
    assert report["quote_fragment"] == "This%20is-,teh,-story."
    positions = [(s["position_start"], s["position_end"]) for s in await stored_submissions(app)]
    assert positions == [(23, 26), (1040, 1043), (None, None)]
    # Another word of the same block is another report.
    other = report_payload(site, quote={"exact": "story", "prefix": "This is teh ", "suffix": "."})
    assert (await client.post("/api/v1/reports", json=other, headers=ORIGIN)).json()[
        "duplicate"
    ] is False


def test_dedup_key_ignores_position_fragment_and_context_beyond_the_block() -> None:
    base = NewSubmission(
        site_id=1, kind="typo", url="https://e.com/", title="", lang="", exact="teh",
        prefix="A\nThis is ", suffix=" story.\nB", suggestion="", comment="", user_agent="",
        ip_hash="x", fragment="teh", position=(1, 4),
    )  # fmt: skip
    same = dataclasses.replace(
        base, prefix="Other\nThis is ", suffix=" story.", fragment="", position=(90, 93)
    )
    assert base.dedup_key() == same.dedup_key()
    assert base.dedup_key() != dataclasses.replace(base, prefix="That is ").dedup_key()


@pytest.mark.parametrize(
    ("override", "status", "code", "field"),
    [
        ({"position": [1, 2]}, 400, "invalid_type", "position"),
        ({"position": {"start": "1", "end": 4}}, 400, "invalid_type", "position.start"),
        ({"position": {"start": 1, "end": True}}, 400, "invalid_type", "position.end"),
        ({"position": {"start": 1.5, "end": 4}}, 400, "invalid_type", "position.start"),
        ({"position": {"start": 5, "end": 4}}, 422, "invalid_position", "position"),
        ({"position": {"start": -1, "end": 4}}, 422, "invalid_position", "position"),
        ({"position": {"start": 0, "end": 10**9}}, 422, "invalid_position", "position"),
        ({"fragment": 12}, 400, "invalid_type", "fragment"),
        ({"fragment": "a,b,c"}, 422, "invalid_fragment", "fragment"),
        ({"fragment": "t%ZZeh"}, 422, "invalid_fragment", "fragment"),
        ({"fragment": "%FF"}, 422, "invalid_fragment", "fragment"),
        ({"fragment": "te h"}, 422, "invalid_fragment", "fragment"),
        ({"fragment": "pre-"}, 422, "invalid_fragment", "fragment"),
        ({"fragment": "teh" * 700}, 422, "too_long", "fragment"),
        # Well formed, but it would open the page somewhere else.
        ({"fragment": "Elsewhere%20entirely"}, 422, "invalid_fragment", "fragment"),
        ({"fragment": "teh,-story.%20Next"}, 422, "invalid_fragment", "fragment"),
        ({"notify_email": ["a@b.c"]}, 400, "invalid_type", "notify_email"),
        ({"notify_email": "not an address"}, 422, "invalid_email", "notify_email"),
        ({"notify_email": "x" * 250 + "@example.com"}, 422, "too_long", "notify_email"),
    ],
)
async def test_bad_locators_are_refused_clearly(
    client, site: Site, app, override: dict, status: int, code: str, field: str
) -> None:
    body = report_payload(site, **{**LOCATED, **override})
    response = await client.post("/api/v1/reports", json=body, headers=ORIGIN)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert (error["code"], error["field"]) == (code, field)
    assert await stored_reports(app) == []


def test_fragment_terms_are_decoded_and_checked_against_the_quote() -> None:
    assert parse_fragment("rec-,ie,-ve") == ("rec", "ie", "", "ve")
    assert parse_fragment("text=a%2Db,c") == ("", "a-b", "c", "")
    assert check_fragment(":~:text=rec-,ie,-ve", "did not rec", "ie", "ve it") == "rec-,ie,-ve"
    # Case, accents composed or not, and whitespace do not matter; the text does.
    assert check_fragment("Caf%C3%A9-,AU%20LAIT", "the café\n", "au lait", "") == (
        "Caf%C3%A9-,AU%20LAIT"
    )
    # A highlight widened to the start of the quote's block still ends with the quote.
    assert check_fragment("18-,Closed%20for%20maintenance", "12–18\nClosed for ", "maintenance", "")
    with pytest.raises(LocatorError):
        check_fragment("story", "This is ", "teh", " story.")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("reader@example.com", "reader@example.com"),
        ("  Reader.Name+news@Example.COM ", "Reader.Name+news@example.com"),
        ("чита@пример.рф", "чита@пример.рф"),
    ],
)
def test_email_addresses_that_look_deliverable_are_kept(raw: str, stored: str) -> None:
    assert check_email(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "plain",
        "a@b",
        "a@b.c1",
        "a b@c.de",
        "a@-b.de",
        "a@b..de",
        ".a@b.de",
        "a@b.de\u200b",
        "<a@b.de>",
    ],
)
def test_email_addresses_that_cannot_be_are_refused(raw: str) -> None:
    with pytest.raises(LocatorError):
        check_email(raw)


async def test_notify_email_is_checked_and_passed_on_with_the_send(client, site: Site) -> None:
    body = report_payload(site, notify_email="  Reader@Example.COM ")
    assert (await client.post("/api/v1/reports", json=body, headers=ORIGIN)).status_code == 201
    fields = _typed_fields(report_payload(site, notify_email="  Reader@Example.COM "))
    sub = _validated(fields, site.id, "UA", "secret", "203.0.113.7")
    assert sub.notify_email == "Reader@example.com"
    # Not part of what makes two sends one report.
    assert sub.dedup_key() == dataclasses.replace(sub, notify_email="").dedup_key()


async def test_widget_config_tells_the_dialog_what_it_needs(client, site: Site) -> None:
    url = "/api/v1/widget-config"
    ok = await client.get(
        url, params={"site": site.key, "url": "https://example.com/a?utm_source=x"}, headers=ORIGIN
    )
    assert ok.status_code == 200
    assert ok.json() == {"notify_reader": False}
    assert ok.headers["access-control-allow-origin"] == "*"
    assert ok.headers["cache-control"] == "no-store"

    async def refused(params: dict, headers: dict) -> tuple[int, str]:
        response = await client.get(url, params=params, headers=headers)
        # Readable from any page, so a broken embed can say what is wrong.
        assert response.headers["access-control-allow-origin"] == "*"
        return response.status_code, error_of(response)["code"]

    assert await refused({"site": "nope"}, ORIGIN) == (404, "unknown_site")
    assert await refused({}, ORIGIN) == (404, "unknown_site")
    assert await refused({"site": site.key}, {"Origin": "https://evil.example"}) == (
        403,
        "origin_not_allowed",
    )
    assert await refused({"site": site.key, "url": "https://other.example/a"}, ORIGIN) == (
        403,
        "url_not_allowed",
    )
    assert await refused({"site": site.key, "url": "ftp://example.com/"}, ORIGIN) == (
        422,
        "invalid_url",
    )
    assert await refused({"site": site.key}, {}) == (403, "origin_required")
    # A same-origin page sends no Origin header with a GET: its address stands in.
    same = await client.get(url, params={"site": site.key, "url": "https://example.com/a"})
    assert same.status_code == 200


async def test_dashboard_opens_at_the_verified_fragment_else_at_whole_words(
    client, site: Site, app
) -> None:
    verified = await send_report(
        client,
        site,
        "https://example.com",
        quote={"exact": "ie", "prefix": "Subscribers did not rec", "suffix": "ve the paper."},
        fragment="Subscribers%20did%20not%20rec-,ie,-ve",
    )
    older = await send_report(
        client,
        site,
        "https://example.com",
        url="https://example.com/news/other",
        quote={"exact": "ie", "prefix": "Readers did not rec", "suffix": "ve the paper."},
    )
    await make_user(app, "admin@example.com", "admin")
    await sign_in(client, "admin@example.com")
    page = (await client.get(f"/dashboard/reports/{verified}")).text
    assert (
        'href="https://example.com/news/article#:~:text=Subscribers%20did%20not%20rec-,ie,-ve"'
        in page
    )
    page = (await client.get(f"/dashboard/reports/{older}")).text
    # Without one, the link is made from the quote, widened to the whole word.
    assert (
        'href="https://example.com/news/other#:~:text=Readers%20did%20not-,recieve,-the%20paper."'
        in page
    )
