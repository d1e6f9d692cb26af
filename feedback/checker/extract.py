"""The readable text of an HTML page, as a reader sees it, with a real HTML parser."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

# Elements whose content is never shown as text.
_SKIP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "svg",
        "math",
        "iframe",
        "object",
        "canvas",
        "select",
        "textarea",
    }
)
# Elements that start a new line of text; everything else runs into its neighbours, so
# "wo<b>rd</b>" reads as "word".
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
        "body",
        "html",
        "title",
        "caption",
        "option",
        "button",
        "label",
    }
)
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag in _BLOCK and not self.skipping:
                self.parts.append("\n")
            return
        if self.skipping or tag in _SKIP or any(name == "hidden" for name, _ in attrs):
            self.skipping.append(tag)
            return
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK and not self.skipping:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            # Close the skipped element (and anything left open inside it).
            if tag in self.skipping:
                while self.skipping and self.skipping.pop() != tag:
                    pass
            return
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The page's visible text: blocks on their own lines, inline markup dissolved,
    character references decoded. Broken markup is read as browsers would, roughly."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


# Kept of a page for "fix it everywhere": enough for a long article, not a whole archive.
READABLE_CHARS = 200_000
_SPACES = re.compile(r"[\s\u00a0]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200c\u200d\u2060\ufeff]")


def readable(text: str) -> str:
    """Page text as kept and searched: composed, soft hyphens and zero-width characters
    gone, every run of whitespace one space, cut at READABLE_CHARS."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return _SPACES.sub(" ", text).strip()[:READABLE_CHARS]
