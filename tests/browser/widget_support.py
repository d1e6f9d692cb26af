"""What the widget's browser tests share: the article site, the gazette registered with a
feedback service, and ways to select text the way readers do."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from html import escape
from typing import Any

from playwright.sync_api import Locator, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

STORY = """
<article>
  <h1>Keepers of the light</h1>
  <p id="history">For more than a century the keepers lived on the rock, where the
  <a href="#stevenson">Stevenson</a> tower was <em>still</em> standing after every storm.</p>
  <p id="weather">In rough wheather the relief boat could be delayed for weeks.</p>
</article>
"""

REPORTS_SQL = """
SELECT r.kind, r.url, r.title, r.lang, r.quote_exact AS exact, r.quote_prefix AS prefix,
       r.quote_suffix AS suffix, r.quote_fragment AS fragment, r.submission_count,
       s.suggestion, s.comment, s.user_agent, s.position_start, s.position_end
FROM submissions s JOIN reports r ON r.id = s.report_id
ORDER BY s.id
"""


class ArticleSite:
    """A stand-in for a reader-facing site: serves whatever pages a test registers."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        self.origin = ""
        self._ids = itertools.count(1)

    def add(self, html: str, headers: dict[str, str] | None = None) -> str:
        path = f"/articles/{next(self._ids)}"
        self.pages[path] = (html, headers or {})
        return self.origin + path

    async def serve(self, request: Request) -> Response:
        if request.url.path == "/favicon.ico":
            return Response(status_code=204)
        html, headers = self.pages.get(request.url.path, ("not found", {}))
        status = 200 if request.url.path in self.pages else 404
        return HTMLResponse(html, status_code=status, headers=headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.serve)])


@dataclass
class Gazette:
    """One news site registered with one feedback service, and the pages it publishes."""

    service: Any  # tests/conftest.py's LiveServer
    site_key: str
    pages: ArticleSite

    def article(
        self,
        body: str = STORY,
        *,
        lang: str = "en",
        title: str = "Keepers of the light",
        head: str = "",
        attrs: str = "",
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> str:
        html = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title>{head}</head><body>{body}"
            f'<script src="{self.service.url}/widget.js" data-site="{self.site_key}" '
            f"{attrs} async></script></body></html>"
        )
        return self.pages.add(html, headers) + query

    def reports(self) -> list[dict[str, Any]]:
        """Every submission the service stored, with its report's fields."""
        rows = self.service.query(REPORTS_SQL)
        return [dict(row) for row in rows]


def open_article(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.Feedback && window.Feedback.version")


def text_box(page: Page, container: str, text: str, nth: int = 0) -> dict[str, float]:
    """The on-screen box of the first occurrence of `text` inside `container`."""
    box = page.evaluate(
        """([container, text]) => {
            const walker = document.createTreeWalker(
                document.querySelector(container), NodeFilter.SHOW_TEXT);
            for (let node; (node = walker.nextNode()); ) {
                const at = node.data.indexOf(text);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + text.length);
                const r = range.getBoundingClientRect();
                return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
            }
            return null;
        }""",
        [container, text],
    )
    assert box, f"{text!r} is not on the page"
    return box


def double_click_word(page: Page, container: str, word: str) -> None:
    box = text_box(page, container, word)
    page.mouse.dblclick((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2)


def select_text(page: Page, container: str, start: str, end: str) -> None:
    """Select from the beginning of `start` to the end of `end`, as a script would."""
    page.evaluate(
        """([container, start, end]) => {
            const root = document.querySelector(container);
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            const range = document.createRange();
            let began = false;
            for (let node; (node = walker.nextNode()); ) {
                if (!began && node.data.includes(start)) {
                    range.setStart(node, node.data.indexOf(start));
                    began = true;
                }
                if (began && node.data.includes(end)) {
                    range.setEnd(node, node.data.indexOf(end) + end.length);
                    break;
                }
            }
            const selection = document.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }""",
        [container, start, end],
    )


def focused_inside_dialog(page: Page) -> bool:
    return page.evaluate(
        """() => {
            const host = document.querySelector('feedback-dialog');
            return !!host && document.activeElement === host
                && host.shadowRoot.activeElement !== null;
        }"""
    )


def dialog(page: Page) -> Locator:
    return page.get_by_role("dialog")
