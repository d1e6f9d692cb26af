"""The one tag a site owner pastes into their pages, as the CLI and the dashboard show it."""

from __future__ import annotations


def embed_tag(base_url: str, site_key: str) -> str:
    base = base_url.rstrip("/") or "https://FEEDBACK-HOST"
    return f'<script src="{base}/widget.js" data-site="{site_key}" async></script>'
