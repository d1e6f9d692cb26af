"""What the widget sends to pin down the quoted spot, checked before it is stored: the
quote's position in the page's visible text, and a text-fragment directive (the part of
`#:~:text=` after `text=`) that the reader's browser found to match that spot alone; and
the reader's optional address for "tell me when it's fixed"."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

# The longest page text a position may point into, in code points.
MAX_OFFSET = 50_000_000
# A quote is at most 300 code points; hidden whitespace in between may make its span longer.
MAX_SPAN = 5_000

# encodeURIComponent's output, with "-" escaped as the directive syntax requires.
_TERM = re.compile(r"[A-Za-z0-9%!'()*._~]+")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_RUN = re.compile(r"\s+")


class LocatorError(ValueError):
    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def check_position(start: int, end: int) -> tuple[int, int]:
    if not 0 <= start < end <= MAX_OFFSET or end - start > MAX_SPAN:
        raise LocatorError(
            "invalid_position",
            f"'position' must have 0 <= start < end <= {MAX_OFFSET}, "
            f"spanning at most {MAX_SPAN} characters.",
            "position",
        )
    return start, end


def _fold(text: str) -> str:
    """Case and composition folded, each whitespace run one space, or one line break where
    it held one: a block boundary, which no term of a fragment can span."""
    text = unicodedata.normalize("NFC", text).casefold()
    return _RUN.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()


def parse_fragment(value: str) -> tuple[str, str, str, str]:
    """(prefix, start, end, suffix) of a text directive, decoded; "" where absent.
    Raises ValueError with the reason if it is not one."""
    value = value.strip().removeprefix(":~:").removeprefix("text=")
    parts = value.split(",")
    prefix = parts.pop(0)[:-1] if len(parts) > 1 and parts[0].endswith("-") else None
    suffix = parts.pop()[1:] if len(parts) > 1 and parts[-1].startswith("-") else None
    if len(parts) not in (1, 2):
        raise ValueError("is not [prefix-,]start[,end][,-suffix]")
    terms = [prefix, parts[0], parts[1] if len(parts) == 2 else None, suffix]
    decoded = []
    for term in terms:
        if term is None:
            decoded.append("")
            continue
        if not _TERM.fullmatch(term) or _BAD_ESCAPE.search(term):
            raise ValueError("has a term that is not percent-encoded text")
        try:
            text = unquote(term, errors="strict")
        except UnicodeDecodeError:
            raise ValueError("has a term that is not UTF-8 text") from None
        if not text.strip() or any(unicodedata.category(ch) == "Cc" for ch in text):
            raise ValueError("has an empty term or control characters")
        decoded.append(text)
    prefix_text, start, end, suffix_text = decoded
    return prefix_text, start, end, suffix_text


def check_fragment(value: str, prefix: str, exact: str, suffix: str) -> str:
    """The directive, without `text=`, if it is well formed and every term of it is text of
    the quote or its context; it cannot point anywhere else on the page."""
    try:
        terms = parse_fragment(value)
    except ValueError as exc:
        raise LocatorError("invalid_fragment", f"'fragment' {exc}.", "fragment") from None
    around = _fold(f"{prefix} {exact} {suffix}")
    for term in terms:
        if term and _fold(term) not in around:
            raise LocatorError(
                "invalid_fragment",
                "'fragment' has text that is not in the quote or its context.",
                "fragment",
            )
    # The highlight ends with the quote: its last term (end, else start) is quote text,
    # or, for a quote whose words repeat in its block, ends with the quote.
    last, quoted = _fold(terms[2] or terms[1]), _fold(exact)
    if last not in quoted and not last.endswith(quoted):
        raise LocatorError("invalid_fragment", "'fragment' does not end in the quote.", "fragment")
    return value.strip().removeprefix(":~:").removeprefix("text=")


_LOCAL = re.compile(r"[^\s@<>()\[\]\\,;:\"]{1,64}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def check_email(raw: str) -> str:
    """A deliverable-looking address: local@domain.tld, the domain in lower case."""
    value = raw.strip()
    local, at, domain = value.rpartition("@")
    bad = LocatorError("invalid_email", "'notify_email' is not an email address.", "notify_email")
    if not at or not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith("."):
        raise bad
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise bad
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise bad from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise bad
    if not (labels[-1].isalpha() or labels[-1].startswith("xn--")):
        raise bad
    return f"{local}@{domain.rstrip('.').lower()}"
