"""The dashboard's layout. On a phone, in Chromium with iPhone emulation: rows stack, the actions
stay on screen and reachable, and nothing is wider than the screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.test_dashboard_browser import (  # noqa: F401 - fixtures shared with that module
    Dashboard,
    article_origin,
    dashboard,
)

LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung" * 2
LONG_QUOTE = "the bridge was opened in spring and " * 8

# Reports every element whose box reaches past the screen's edges, except those inside
# something that scrolls on its own (a code block) or that is deliberately clipped.
WIDER_THAN_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || el.closest(".visually-hidden, dialog:not([open])")) continue;
    if (box.right > width + 1 || box.left < -1) {
      out.push(el.tagName.toLowerCase() + "." + el.className + " " + Math.round(box.left)
               + ".." + Math.round(box.right));
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, out: out.slice(0, 10)};
}"""

PHONES = ["iPhone 13", "iPhone 14 Pro Max", "Galaxy S8", "Pixel 5"]


@pytest.fixture(params=PHONES)
def phone(request, playwright: Playwright, browser: Browser):
    device = dict(playwright.devices[request.param])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device)
    page = context.new_page()
    yield page
    page.goto("about:blank")
    context.close()


def fits(page: Page) -> None:
    result: dict[str, Any] = page.evaluate(WIDER_THAN_SCREEN)
    assert 360 <= result["width"] <= 430
    assert result["scroll"] <= result["width"], result
    assert result["out"] == [], result


def test_every_dashboard_page_fits_a_phone(dashboard: Dashboard, phone: Page) -> None:  # noqa: F811
    page = phone
    for n in range(3):
        dashboard.report(quote={"exact": f"teh{n}", "prefix": "this is ", "suffix": " story"})
    long_id = dashboard.report(
        quote={"exact": LONG_QUOTE, "prefix": "Then ", "suffix": " at last."},
        suggestion=LONG_QUOTE.replace("spring", "summer"),
        comment=LONG_WORD + " " + "please check this " * 30,
        url=f"{dashboard.origin}/news/" + "very-long-path-segment-" * 8,
    )
    dashboard.report(
        quote={"exact": LONG_QUOTE[:200], "prefix": "Also ", "suffix": " there."},
        url=f"{dashboard.origin}/news/" + "another-long-path-segment-" * 8,
    )
    dashboard.sign_in(page)
    fits(page)
    # Rows stack: the actions sit below the quote, not beside it, and every button of
    # the first row is on screen, big enough for a thumb.
    row = page.locator("#rows tr.row").first
    what = row.locator("td.what").bounding_box()
    actions = row.locator("td.actions").bounding_box()
    assert actions["y"] >= what["y"] + what["height"] - 1
    width = page.evaluate("() => document.documentElement.clientWidth")
    for button in row.locator("td.actions button, td.actions a").all():
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        assert box["height"] >= 40
    # The buttons work by touch.
    row.locator("button", has_text="Not an error").tap()
    expect(page.locator("#rows tr.row")).to_have_count(4)
    for path in (
        f"/dashboard/reports/{long_id}",
        "/dashboard/stats",
        "/dashboard/sites",
        "/dashboard/users",
        "/dashboard/account",
        "/dashboard/resolutions",
        f"/dashboard/reports/{long_id}/everywhere?from=bridge&to=viaduct",
        f"/dashboard/sites/{dashboard.site.id}",
    ):
        page.goto(dashboard.url + path)
        fits(page)


def test_add_user_checkboxes_sit_beside_their_labels(dashboard: Dashboard, page: Page) -> None:  # noqa: F811
    dashboard.server.add_site("Second Site", ["https://second.example"])
    dashboard.sign_in(page)
    page.goto(f"{dashboard.url}/dashboard/users")
    form = page.locator('form[action="/dashboard/users"]')
    labels = form.locator("label.check")
    assert labels.count() == 2
    for label in labels.all():
        box = label.locator("input").bounding_box()
        name = label.locator("bdi").bounding_box()
        # Beside, not above: same line, box to the left of its text.
        assert box["x"] + box["width"] <= name["x"]
        assert abs((box["y"] + box["height"] / 2) - (name["y"] + name["height"] / 2)) < 6
