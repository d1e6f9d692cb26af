"""Browser fixtures: the feedback service on one loopback port, the article pages that embed
the widget on another, so every report crosses origins and CORS is exercised for real."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from widget_support import ArticleSite, Gazette

from feedback.app import create_app

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def root_conftest(pytestconfig: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it, for its helpers that start services with other
    settings. `import conftest` cannot reach it: every conftest.py is a module named
    "conftest", and here that name belongs to this file."""
    module = pytestconfig.pluginmanager.get_plugin(str(HERE.parent / "conftest.py"))
    assert module is not None, "tests/conftest.py was not loaded"
    return module


@pytest.fixture(scope="session")
def article_site(root_conftest: ModuleType) -> Iterator[ArticleSite]:
    site = ArticleSite()
    port = root_conftest.free_port()
    site.origin = f"http://127.0.0.1:{port}"
    server, thread = root_conftest.run_in_thread(site.app(), port)
    try:
        yield site
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def start_gazette(
    article_site: ArticleSite, root_conftest: ModuleType, tmp_path: Path
) -> Iterator[Callable[..., Gazette]]:
    """Start a feedback service with the given settings and register the article site on it."""
    servers: list[Any] = []

    def start(**overrides: Any) -> Gazette:
        folder = tmp_path / f"service{len(servers)}"
        folder.mkdir()
        port = root_conftest.free_port()
        settings = root_conftest.make_settings(
            folder, public_url=f"http://127.0.0.1:{port}", **overrides
        )
        app = create_app(settings)
        server, thread = root_conftest.run_in_thread(app, port)
        servers.append((server, thread))
        live = root_conftest.LiveServer(f"http://127.0.0.1:{port}", port, settings, app)
        site = live.add_site("Lighthouse Gazette", [article_site.origin])
        return Gazette(live, site.key, article_site)

    try:
        yield start
    finally:
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.fixture
def gazette(start_gazette: Callable[..., Gazette]) -> Gazette:
    return start_gazette()


@pytest.fixture(scope="session")
def axe_source() -> str:
    assert AXE_JS.exists(), "run `npm ci --prefix tests/browser` to install axe-core"
    return AXE_JS.read_text(encoding="utf-8")
