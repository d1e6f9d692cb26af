"""The widget as served: the loader that every page view downloads, and one dialog bundle
per language that the loader imports on the reader's first use. Built once at start-up
from widget/ (loader widget.js, dialog.js, strings.json) and compressed there and then."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import rjsmin

from feedback.assets import Asset
from feedback.paths import WIDGET_DIR

MEDIA_TYPE = "text/javascript; charset=utf-8"


@dataclass(frozen=True)
class Widget:
    loader: Asset
    dialogs: dict[str, Asset]
    # The hint line's text and the touch button's label, for pages that show the hint.
    hints: dict[str, Asset]
    # One version for every language's bundle; the loader asks for it, so a new service
    # reaches readers as soon as their loader is revalidated.
    dialog_version: str

    @property
    def version(self) -> str:
        """The loader's version, for `/widget.js?v=` in pages the service renders itself."""
        return self.loader.version

    @property
    def languages(self) -> list[str]:
        return sorted(self.dialogs)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_strings(folder: Path = WIDGET_DIR) -> dict[str, dict[str, str]]:
    return json.loads((folder / "strings.json").read_text(encoding="utf-8"))


def build_widget(folder: Path = WIDGET_DIR) -> Widget:
    strings = load_strings(folder)
    dialog = rjsmin.jsmin((folder / "dialog.js").read_text(encoding="utf-8"))
    bundles = {lang: f"const T={_json(texts)};{dialog}" for lang, texts in strings.items()}
    digest = hashlib.sha256()
    for lang in sorted(bundles):
        digest.update(bundles[lang].encode())
        digest.update(_json([strings[lang]["typo"], strings[lang]["hint"]]).encode())
    version = digest.hexdigest()[:12]
    loader = (
        rjsmin.jsmin((folder / "widget.js").read_text(encoding="utf-8"))
        .replace("__LANGS__", _json(sorted(strings)))
        .replace("__VERSION__", version)
    )
    return Widget(
        loader=Asset.from_bytes(loader.encode(), MEDIA_TYPE),
        dialogs={
            lang: Asset.from_bytes(body.encode(), MEDIA_TYPE) for lang, body in bundles.items()
        },
        hints={
            lang: Asset.from_bytes(
                _json([texts["typo"], texts["hint"]]).encode(), "application/json"
            )
            for lang, texts in strings.items()
        },
        dialog_version=version,
    )
