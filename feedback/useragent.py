"""A reader's user agent, reduced to what helps an editor reproduce a report: the
browser's family and the operating system ("Firefox on Android"). Versions, device
models and build strings are dropped; together they can single a reader out."""

from __future__ import annotations

import functools
import re

# First match wins: several browsers claim to be Chrome and Safari as well.
_BROWSERS = (
    ("Bot", re.compile(r"bot\b|crawl|spider|slurp|headless|python-|curl/|wget/", re.I)),
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Yandex Browser", re.compile(r"YaBrowser/")),
    ("Vivaldi", re.compile(r"Vivaldi/")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"\bChrome/|\bCriOS/|\bChromium/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*Safari/|\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux|X11")),
)


@functools.lru_cache(maxsize=1024)
def reduce_user_agent(user_agent: str) -> str:
    """ "Browser on OS", either part "Other" when unknown; "" for no user agent."""
    if not user_agent.strip():
        return ""
    browser = next((name for name, rx in _BROWSERS if rx.search(user_agent)), "Other")
    system = next((name for name, rx in _SYSTEMS if rx.search(user_agent)), "Other")
    if browser == "Bot":
        return "Bot"
    return f"{browser} on {system}"
