"""The new workflow in a real Chromium: what the editor sees on the queue and the report
page, resolving with a reason, fixing a mistake everywhere, and the install check's
"allow this origin"."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.test_dashboard_browser import (  # noqa: F401 - fixtures shared with that module
    Dashboard,
    article_origin,
    dashboard,
    watched,
)


def send_as(dashboard: Dashboard, ip: str, **fields: object) -> int:  # noqa: F811
    """A send from another reader: the live server trusts no proxy, so a different
    reader is a different loopback address."""
    body = {
        "site": dashboard.site.key, "kind": "typo", "url": f"{dashboard.origin}/news/article",
        "title": "Long article", "lang": "en",
        "quote": {"exact": "goverment", "prefix": "the ", "suffix": " said"},
        "suggestion": "government", "comment": "",
    }  # fmt: skip
    body.update(fields)
    transport = httpx.HTTPTransport(local_address=ip)
    with httpx.Client(transport=transport) as c:
        r = c.post(f"{dashboard.url}/api/v1/reports", json=body,
                   headers={"Origin": dashboard.origin}, timeout=10)  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_consensus_resolution_and_fix_it_everywhere(dashboard: Dashboard, watched) -> None:  # noqa: F811
    page: Page
    page, problems = watched
    first = send_as(dashboard, "127.0.0.2")
    send_as(dashboard, "127.0.0.3")
    send_as(dashboard, "127.0.0.4", suggestion="governments")
    for _ in range(5):
        send_as(dashboard, "127.0.0.4", suggestion="governments")
    other = send_as(dashboard, "127.0.0.5", quote={"exact": "the goverment said"},
                    url=f"{dashboard.origin}/news/other", suggestion="")  # fmt: skip
    dashboard.sign_in(page)
    row = page.locator(f'#rows tr.row[data-id="{first}"]')
    expect(row.locator(".consensus")).to_have_text("government ×2 · governments ×1")
    expect(row.locator(".readers")).to_contain_text("×3")
    expect(row.locator(".sends")).to_contain_text("8 sends")
    # A search's counts arrive right after its results.
    page.goto(f"{dashboard.url}/dashboard/?q=goverment")
    expect(page.locator("#counts")).to_contain_text("New 2")
    expect(page.locator("#counts")).not_to_contain_text("counting")
    # Assign, then filter to "Mine".
    page.goto(f"{dashboard.url}/dashboard/reports/{first}")
    page.click("#assign")
    expect(page.locator("#assign")).to_have_text("Unassign")
    expect(page.locator(".badge")).to_have_text("new")
    page.goto(f"{dashboard.url}/dashboard/")
    page.click("#filter-mine")
    expect(page.locator("#rows tr.row")).to_have_count(1)
    # Resolve as fixed: the fix-it-everywhere preview follows.
    page.goto(f"{dashboard.url}/dashboard/reports/{first}")
    page.check('input[name="reason"][value="fixed"]')
    page.click("#resolve-form button[type=submit]")
    page.wait_for_url("**/everywhere?**")
    preview = page.locator(f'#everywhere-form tr[data-id="{other}"]')
    expect(preview.locator(".after")).to_have_text("the government said")
    expect(preview.locator("ins")).to_have_text("n")  # one letter: shown letter by letter
    page.click("#resolve-everywhere")
    expect(page.locator("#messages")).to_contain_text("1 more report resolved as fixed.")
    page.goto(f"{dashboard.url}/dashboard/reports/{other}")
    expect(page.locator(".history")).to_contain_text("[Fixed]")
    assert problems == []


def test_install_check_allows_an_origin_in_one_click(dashboard: Dashboard, watched) -> None:  # noqa: F811
    page, problems = watched
    stray = "http://127.0.0.1:1"  # the site's pages also live here, unregistered
    body = {
        "site": dashboard.site.key, "kind": "typo", "url": f"{stray}/a", "title": "A",
        "lang": "en", "quote": {"exact": "teh"}, "suggestion": "the", "comment": "",
    }  # fmt: skip
    refused = httpx.post(f"{dashboard.url}/api/v1/reports", json=body,
                         headers={"Origin": stray}, timeout=10)  # fmt: skip
    assert refused.status_code == 403
    dashboard.sign_in(page)
    page.goto(f"{dashboard.url}/dashboard/sites/{dashboard.site.id}")
    # Refusals are written every few seconds; reload until the count shows.
    for _ in range(40):
        if page.locator(".refusals").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator(".refusals tbody tr")).to_contain_text(stray)
    page.click(".refusals button:has-text('Allow this origin')")
    expect(page.locator("#messages")).to_contain_text(f"Reports from {stray} are now accepted.")
    accepted = httpx.post(f"{dashboard.url}/api/v1/reports", json=body,
                          headers={"Origin": stray}, timeout=10)  # fmt: skip
    assert accepted.status_code == 201
    assert problems == []
