"""How long the first Ctrl+Enter after a page load takes to show the dialog, in Chromium on
loopback, with the dialog bundle not yet downloaded; and, as the baseline measured in the
same run, a later Ctrl+Enter on the same page (bundle already loaded). Also prints what a
page view and the first use download, gzip and brotli.

The feedback service (real app, real uvicorn, SQLite) and the article pages run on two
loopback ports, so the bundle crosses origins as on a real site. Each run is a fresh
browser context with an empty cache. The clock starts in the page's own keydown listener
(registered before the widget's) and stops at the first animation frame after the dialog
is in the page. Target: first-open median under 150 ms.

    python bench/widget_open.py [--runs 15] [--article-paragraphs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.responses import HTMLResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedback.app import create_app  # noqa: E402
from feedback.settings import Settings  # noqa: E402
from feedback.store import make_store  # noqa: E402
from feedback.store.sites import add_site  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

# Recorded by the page: when the keys went down, and the first frame with the dialog in it.
CLOCK = """<script>
window.__opens = [];
addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' || !e.ctrlKey) return;
  const t0 = performance.now();
  const seen = new MutationObserver(() => {
    if (!document.querySelector('feedback-dialog')) return;
    seen.disconnect();
    requestAnimationFrame(() => window.__opens.push(performance.now() - t0));
  });
  seen.observe(document.body, {childList: true});
}, true);
</script>"""


def serve(app: Starlette, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return server


def article(service: str, key: str, paragraphs: int) -> str:
    body = "".join(
        f"<p>Paragraph {n}: the keepers of the light lived on the rock for weeks, and in rough "
        f"wheather the relief boat was late{' again' * (n % 3)}.</p>"
        for n in range(paragraphs)
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bench</title>{CLOCK}'
        f'</head><body><article><h1>Keepers</h1>{body}</article><script src="{service}/widget.js"'
        f' data-site="{key}" async></script></body></html>'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--article-paragraphs", type=int, default=60)
    parser.add_argument("--verbose", action="store_true", help="print each run's downloads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        port, article_port = free_port(), free_port()
        service = f"http://127.0.0.1:{port}"
        settings = Settings(
            database=str(Path(folder) / "bench.db"),
            secret_key=Secret("bench-secret-key"),
            public_url=service,
        )

        async def register() -> str:
            store = make_store(settings.database)
            await store.open()
            try:
                return (await add_site(store, "Bench", [f"http://127.0.0.1:{article_port}"])).key
            finally:
                await store.close()

        app = create_app(settings)
        servers = [serve(app, port)]
        key = asyncio.run(register())
        html = article(service, key, args.article_paragraphs)

        async def page(request):  # noqa: ANN001, ANN202
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})

        servers.append(serve(Starlette(routes=[Route("/", page)]), article_port))
        widget = app.state.services.widget
        print(
            f"loader widget.js: {len(widget.loader.gzipped)} B gzip, {len(widget.loader.br)} B br"
        )
        for lang in ("en", "ru", "ja", "ar"):
            bundle = widget.dialogs[lang]
            print(f"dialog.{lang}.js: {len(bundle.gzipped)} B gzip, {len(bundle.br)} B br")

        first: list[float] = []
        later: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.runs):
                context = browser.new_context()
                tab = context.new_page()
                tab.goto(f"http://127.0.0.1:{article_port}/")
                tab.wait_for_function("() => window.Feedback && window.Feedback.version")
                tab.evaluate(
                    """() => {
                        const p = document.querySelectorAll('p')[30] || document.querySelector('p');
                        const node = p.firstChild;
                        const at = node.data.indexOf('wheather');
                        const r = document.createRange();
                        r.setStart(node, at);
                        r.setEnd(node, at + 8);
                        getSelection().removeAllRanges();
                        getSelection().addRange(r);
                    }"""
                )
                tab.keyboard.press("Control+Enter")
                tab.wait_for_function("() => window.__opens.length === 1")
                tab.keyboard.press("Escape")
                tab.keyboard.press("Control+Enter")
                tab.wait_for_function("() => window.__opens.length === 2")
                first_ms, later_ms = tab.evaluate("window.__opens")
                if args.verbose:
                    print(
                        tab.evaluate("""() => performance.getEntriesByType('resource')
                        .map(e => [e.name.split('/').pop().slice(0, 30),
                                   Math.round(e.startTime), Math.round(e.duration)])"""),
                        first_ms,
                    )
                first.append(first_ms)
                later.append(later_ms)
                context.close()
            browser.close()
        for server in servers:
            server.should_exit = True

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name}: median {statistics.median(values):.1f} ms, "
            f"min {min(values):.1f}, max {max(values):.1f} ({len(values)} runs)"
        )

    print(line("first Ctrl+Enter (bundle downloaded)", first))
    print(line("later Ctrl+Enter (baseline, bundle loaded)", later))
    print(f"ratio first/later: {statistics.median(first) / statistics.median(later):.2f}")
    verdict = "OK" if statistics.median(first) < 150 else "OVER"
    print(f"target: first-open median under 150 ms: {verdict}")


if __name__ == "__main__":
    main()
