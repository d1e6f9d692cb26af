"""Turning what a reader's browser sent into the canonical form we store and compare."""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_BLANK_LINES = re.compile(r"\n{3,}")
_WHITESPACE_RUN = re.compile(r"\s+")

# Parameters that identify a campaign or a click, never the page itself.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "ttclid", "s_cid", "srsltid",
    }
)  # fmt: skip


class TextError(ValueError):
    """Text that cannot be stored, such as a lone surrogate."""


class UrlError(ValueError):
    """A page address we do not accept."""


def _check_encodable(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise TextError("contains a lone surrogate, which is not valid Unicode text") from None


# Control characters (Unicode category Cc) vanish; the ones that separate words
# (tabs, line breaks) become spaces so the words on either side stay apart.
_SPACING = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85"
_CONTROLS = {cp: None for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}
_CONTROLS.update({ord(ch): " " for ch in _SPACING + "\u2028\u2029"})
_CONTROLS_KEEP_NEWLINE = {**_CONTROLS, ord("\n"): "\n"}
_HAS_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def _strip_controls(value: str, keep_newlines: bool) -> str:
    return value.translate(_CONTROLS_KEEP_NEWLINE if keep_newlines else _CONTROLS)


def _already_clean(value: str) -> bool:
    """Plain ASCII with no control characters, single spaces only and none at either end:
    most of what readers send, and already in the form every cleaner below produces."""
    return (
        value.isascii()
        and value.isprintable()
        and "  " not in value
        and value[:1] != " "
        and value[-1:] != " "
    )


def clean_line(value: str) -> str:
    """One-line text (quotes, titles): NFC, no control characters, whitespace collapsed."""
    if _already_clean(value):
        return value
    _check_encodable(value)
    # Controls go first: one between a letter and its accent would keep them from composing.
    value = unicodedata.normalize("NFC", _strip_controls(value, keep_newlines=False))
    return " ".join(value.split())


def clean_context(value: str) -> str:
    """Prefix or suffix of a quote: like clean_line, but the space next to the quote is kept,
    so that "word" after "a " and "aword" stay different, and a line break stays one: the
    widget marks block boundaries (paragraphs, headings, list items, <br>) with it."""
    if _already_clean(value.strip(" ")) and "  " not in value:
        return value
    _check_encodable(value)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = unicodedata.normalize("NFC", _strip_controls(value, keep_newlines=True))
    return _WHITESPACE_RUN.sub(lambda m: "\n" if "\n" in m.group() else " ", value)


def clean_text(value: str) -> str:
    """Free text (comments, suggestions): like clean_line, but paragraphs survive."""
    if _already_clean(value):
        return value
    _check_encodable(value)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = unicodedata.normalize("NFC", _strip_controls(value, keep_newlines=True))
    lines = [" ".join(line.split()) for line in value.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


# Readers of one page send its address again and again.
@functools.lru_cache(maxsize=4096)
def normalise_url(raw: str) -> str:
    """Canonical page address: http(s) only, lower-case host, no default port,
    no fragment, no tracking parameters."""
    _check_encodable(raw)
    raw = raw.strip()
    if _HAS_CONTROL.search(raw):
        raise UrlError("must not contain spaces or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlError("must be an http or https address")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlError("has no host name")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError:
        raise UrlError("has an invalid host name") from None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)],
        doseq=True,
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


@functools.lru_cache(maxsize=4096)  # asked of every report's (already cached) page address
def origin_of(url: str) -> str:
    """scheme://host[:port] of an already normalised URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def normalise_origin(raw: str) -> str:
    """A site's allowed origin as browsers send it in the Origin header."""
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise UrlError(f"{raw!r} is not an origin: give only scheme://host[:port]")
    return origin_of(normalise_url(value))
