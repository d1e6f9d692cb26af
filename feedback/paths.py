"""Where the templates and the widget live: inside the installed package (wheel),
or at the top of a source checkout (editable install, development)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"cannot find the {name}/ folder next to the feedback package")


TEMPLATES_DIR = _find("templates")
WIDGET_DIR = _find("widget")
