"""The dashboard in a real Chromium: signing in, keyboard triage, bulk actions, the
open-at-the-quote link, live updates and an XSS corpus.

The service runs in uvicorn on one loopback port; a long article is served on another,
and that is the site's origin, so reports and the text-fragment link point at a real page."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Page

from feedback.store.sites import Site
from feedback.store.users import add_user
from tests.conftest import run_with_store

PASSWORD = "correct horse battery"
T = TypeVar("T")
FILLER = "Filler paragraph about the council budget and the weather this week. " * 6
ARTICLE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Long article</title>"
    "</head><body><h1>Long article</h1>"
    + "".join(f"<p>{FILLER}</p>" for _ in range(60))
    + "<p id='target'>Then the mayor said this is teh story of the bridge, well-known, R&amp;D.</p>"
    + "".join(f"<p>{FILLER}</p>" for _ in range(30))
    + "</body></html>"
)


def off_loop(fn: Callable[[], T]) -> T:
    """Run fn in a worker thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Article(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = ARTICLE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def article_origin() -> Iterator[str]:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Article)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Dashboard:
    server: Any  # tests/conftest.py's LiveServer
    site: Site
    origin: str
    email: str = "admin@example.com"

    @property
    def url(self) -> str:
        return self.server.url

    def add_user(self, email: str, role: str, sites: list[Site]) -> None:
        site_ids = [s.id for s in sites]
        run_with_store(
            self.server.settings.database,
            lambda store: add_user(store, email, PASSWORD, role, site_ids),
        )

    def send(self, **fields: object) -> httpx.Response:
        body: dict[str, object] = {
            "site": self.site.key,
            "kind": "typo",
            "url": f"{self.origin}/news/article",
            "title": "Long article",
            "lang": "en",
            "quote": {"exact": "teh", "prefix": "this is ", "suffix": " story of"},
            "suggestion": "the",
            "comment": "",
        }
        body.update(fields)
        return httpx.post(
            f"{self.url}/api/v1/reports", json=body, headers={"Origin": self.origin}, timeout=10
        )

    def report(self, **fields: object) -> int:
        response = self.send(**fields)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def statuses(self) -> dict[int, str]:
        return {r["id"]: r["status"] for r in self.server.query("SELECT id, status FROM reports")}

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.server.query(sql, params)

    def sign_in(self, page: Page, email: str | None = None) -> None:
        page.goto(f"{self.url}/dashboard/")
        page.fill('input[name="email"]', email or self.email)
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url(f"{self.url}/dashboard/")


@pytest.fixture
def dashboard(live_server: Any, article_origin: str) -> Dashboard:
    site = off_loop(lambda: live_server.add_site("Gazette", [article_origin]))
    dash = Dashboard(live_server, site, article_origin)
    dash.add_user(dash.email, "admin", [])
    return dash


@pytest.fixture
def watched(page: Page) -> Iterator[tuple[Page, list[str]]]:
    """The page, and every dialog, uncaught error and console error it produced."""
    problems: list[str] = []

    def on_dialog(dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    yield page, problems
    # Leave the dashboard so its live stream closes before the server stops.
    page.goto("about:blank")


def rows(page: Page):
    return page.locator("#rows tr.row")


def wait_until(page: Page, expression: str, timeout: float = 5.0) -> None:
    """Poll a condition through the devtools protocol: the dashboard's CSP (rightly)
    forbids the eval that page.wait_for_function would need."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(25)


def test_editor_signs_in_and_lands_on_the_queue(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    dashboard.report()
    page.goto(f"{dashboard.url}/dashboard/?kind=typo")
    assert "/dashboard/login" in page.url
    page.fill('input[name="email"]', dashboard.email)
    page.fill('input[name="password"]', "wrong password")
    page.click('button[type="submit"]')
    assert page.locator(".error").inner_text() == (
        "That email and password do not match an active account."
    )
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{dashboard.url}/dashboard/?kind=typo")
    assert rows(page).count() == 1
    assert [p for p in problems if "401" not in p and "400" not in p] == []


def test_triage_thirty_reports_with_the_keyboard_alone(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    ids = [
        dashboard.report(quote={"exact": f"mistake{i}", "prefix": "a ", "suffix": " b"})
        for i in range(30)
    ]
    dashboard.sign_in(page)
    page.evaluate("window.notReloaded = true")
    assert rows(page).count() == 30
    assert page.locator("#rows tr.current").get_attribute("data-id") == str(ids[-1])
    # j/k move; the first key of each triple decides the current row.
    page.keyboard.press("j")
    page.keyboard.press("k")
    expected: dict[int, str] = {}
    for n, key in enumerate("frs" * 10):
        current = int(page.locator("#rows tr.current").get_attribute("data-id"))
        page.keyboard.press(key)
        expect_count = 29 - n
        wait_until(page, f"document.querySelectorAll('#rows tr.row').length === {expect_count}")
        expected[current] = {"f": "fixed", "r": "rejected", "s": "spam"}[key]
    assert page.evaluate("window.notReloaded") is True
    assert dashboard.statuses() == expected
    assert page.locator(".empty").inner_text() == "Nothing here. Well done."
    # u brings the last one back, in place.
    page.keyboard.press("u")
    wait_until(page, "document.querySelectorAll('#rows tr.row').length === 1")
    assert dashboard.statuses()[ids[0]] == "new"
    assert page.locator("#counts").inner_text().count("New 1") == 1
    assert problems == []


def test_keyboard_selection_and_bulk_mark(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    ids = [dashboard.report(quote={"exact": f"word{i}"}) for i in range(6)]
    dashboard.sign_in(page)
    # x selects three rows, f marks all three at once.
    for key in ("x", "j", "x", "j", "j", "x"):
        page.keyboard.press(key)
    page.keyboard.press("f")
    wait_until(page, "document.querySelectorAll('#rows tr.row').length === 3")
    assert sorted(i for i, s in dashboard.statuses().items() if s == "fixed") == sorted(
        [ids[5], ids[4], ids[2]]
    )
    # The same with the mouse: tick boxes, press the bulk button (a plain form post).
    page.check(f'input[name="id"][value="{ids[0]}"]')
    page.check(f'input[name="id"][value="{ids[1]}"]')
    page.click('.bulk button[value="rejected"]')
    page.wait_for_url(f"{dashboard.url}/dashboard/")
    assert "2 reports marked not an error" in page.locator("#messages").inner_text()
    assert dashboard.statuses()[ids[0]] == dashboard.statuses()[ids[1]] == "rejected"
    assert problems == []


def test_help_and_search_shortcuts(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    dashboard.report()
    dashboard.sign_in(page)
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("teh")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=teh**")
    assert rows(page).count() == 1
    # Enter opens the current report.
    page.locator("body").click()
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/reports/*")
    # The report page takes the action keys too.
    with page.expect_navigation():
        page.keyboard.press("f")
    assert "1 report marked fixed" in page.locator("#messages").inner_text()
    assert list(dashboard.statuses().values()) == ["fixed"]
    with page.expect_navigation():
        page.keyboard.press("u")
    assert list(dashboard.statuses().values()) == ["new"]
    assert problems == []


def test_open_at_quote_scrolls_the_article_to_the_quote(
    dashboard: Dashboard, watched, context
) -> None:
    page, problems = watched
    report_id = dashboard.report(
        quote={
            "exact": "teh story of the bridge, well-known",
            "prefix": "the mayor said this is ",
            "suffix": ", R&D.",
        }
    )
    dashboard.sign_in(page)
    page.goto(f"{dashboard.url}/dashboard/reports/{report_id}")
    href = page.locator("#open-at-quote").get_attribute("href")
    assert href == (
        f"{dashboard.origin}/news/article#:~:text=said%20this%20is-,"
        "teh%20story%20of%20the%20bridge%2C%20well%2Dknown,-%2C%20R%26D."
    )
    # In the queue, o opens the same link in a new tab.
    page.goto(f"{dashboard.url}/dashboard/")
    with context.expect_page() as opened:
        page.keyboard.press("o")
    opened.value.wait_for_load_state()
    assert opened.value.url == href
    opened.value.close()
    # Chromium applies text fragments on a real navigation from a fresh page.
    article = context.new_page()
    try:
        article.goto(href)
        article.wait_for_function("window.scrollY > 0", timeout=5000)
        in_view = article.evaluate(
            "(() => { const r = document.getElementById('target').getBoundingClientRect();"
            " return r.top >= 0 && r.bottom <= window.innerHeight; })()"
        )
        assert in_view
    finally:
        article.close()
    assert problems == []


def test_new_reports_appear_live_at_the_top(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    first = dashboard.report(quote={"exact": "first"})
    dashboard.sign_in(page)
    page.evaluate("window.notReloaded = true")
    assert rows(page).count() == 1
    # Wait until the stream is open, so the arrival cannot slip in before it.
    wait_until(page, "document.body.dataset.live === 'open'")
    second = dashboard.report(quote={"exact": "second"})
    wait_until(page, f"document.querySelector('#rows tr.row').dataset.id === '{second}'")
    assert rows(page).nth(1).get_attribute("data-id") == str(first)
    assert "New 2" in page.locator("#counts").inner_text()
    assert page.evaluate("window.notReloaded") is True
    assert problems == []


XSS = [
    "<script>alert('quote')</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(2)' x='",
    "<svg onload=alert(3)>",
    "</textarea><script>alert(4)</script>",
    "{{7*7}} ${alert(5)}",
    "\u202egnp.exe tso\u202c ok",
]


def test_xss_corpus_renders_as_text_and_runs_nothing(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    ids = []
    for i, payload in enumerate(XSS):
        ids.append(
            dashboard.report(
                quote={
                    "exact": f"{payload} q{i}",
                    "prefix": payload + " ",
                    "suffix": " " + payload,
                },
                suggestion=payload,
                comment=f"{payload} c{i}",
                title=payload,
                url=f'{dashboard.origin}/p{i}?x="><svg/onload=alert({i})>',
            )
        )
    # The intake refuses javascript: page addresses outright...
    refused = dashboard.send(url="javascript:alert(document.cookie)")
    assert refused.status_code in (403, 422)
    # ...and should one reach the database anyway, the dashboard shows it as text.
    dashboard.execute(
        "UPDATE reports SET url = ?, title = ? WHERE id = ?",
        ("javascript:alert('url')", "js title", ids[0]),
    )
    dashboard.sign_in(page)
    page.goto(f"{dashboard.url}/dashboard/?status=all")
    assert rows(page).count() == len(XSS)
    stored = {
        r["id"]: r
        for r in dashboard.server.query(
            "SELECT r.id, r.quote_exact, r.title, r.url, s.comment, s.suggestion FROM reports r "
            "JOIN submissions s ON s.report_id = r.id"
        )
    }
    for report_id in ids:
        row = page.locator(f'#rows tr[data-id="{report_id}"]')
        text = row.inner_text()
        assert stored[report_id]["quote_exact"] in text
        assert stored[report_id]["comment"] in text
        assert stored[report_id]["title"] in text
        after = row.locator(".diff .after").inner_text()
        assert after == stored[report_id]["suggestion"]
    js_row = page.locator(f'#rows tr[data-id="{ids[0]}"]')
    assert "javascript:alert('url')" in js_row.inner_text()
    hrefs = js_row.locator("a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert all(not h.lower().startswith("javascript") for h in hrefs)
    assert js_row.get_attribute("data-quote-url") is None
    for report_id in ids:
        page.goto(f"{dashboard.url}/dashboard/reports/{report_id}")
        body = page.locator("main").inner_text()
        assert stored[report_id]["comment"] in body
        assert stored[report_id]["quote_exact"] in body
    page.goto(f"{dashboard.url}/dashboard/?status=all")
    # The right-to-left override stays inside its own text: the row still reads left to
    # right, page before actions, and reader text sits in isolated <bdi> runs.
    rtl_row = page.locator(f'#rows tr[data-id="{ids[-1]}"]')
    assert "\u202e" in rtl_row.locator(".comment").inner_text()
    page_x = rtl_row.locator(".page-link").bounding_box()["x"]
    actions_x = rtl_row.locator(".open-report").bounding_box()["x"]
    assert page_x < actions_x
    isolation = rtl_row.locator(".comment bdi").evaluate("el => getComputedStyle(el).unicodeBidi")
    assert isolation == "isolate"
    # Nothing the readers wrote became markup.
    assert (
        page.locator("#rows script, #rows svg, #rows img, #rows [onerror], #rows [onload]").count()
        == 0
    )
    assert problems == []


def test_site_page_shows_embed_tag_and_live_last_report(dashboard: Dashboard, watched) -> None:
    page, problems = watched
    dashboard.sign_in(page)
    page.goto(f"{dashboard.url}/dashboard/sites/{dashboard.site.id}")
    assert page.locator("#embed-tag").inner_text() == (
        f'<script src="{dashboard.url}/widget.js" data-site="{dashboard.site.key}" async></script>'
    )
    assert page.locator("#last-report").inner_text() == "none yet"
    wait_until(page, "document.body.dataset.live === 'open'")
    dashboard.report()
    wait_until(page, "document.getElementById('last-report').textContent.endsWith('UTC')")
    assert problems == []
