"""The `feedback` command: serve, migrate, manage sites, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from feedback.database import Database, DatabaseError, migrate
from feedback.normalise import UrlError, normalise_origin
from feedback.settings import MissingSecret, Settings, load_settings


class CommandError(Exception):
    """A user-facing error: printed to stderr, exit status 1."""


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise CommandError(f"bad setting: {exc}") from None


def _origins(values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(normalise_origin(value))
        except (UrlError, ValueError) as exc:
            raise CommandError(f"bad origin {value!r}: {exc}") from None
    return out


async def _with_db(settings: Settings, fn: Callable) -> object:
    db = Database(settings.database, readers=1)
    await db.open()
    try:
        return await fn(db)
    finally:
        await db.close()


def embed_tag(base_url: str, site_key: str) -> str:
    base = base_url.rstrip("/") or "https://FEEDBACK-HOST"
    return f'<script src="{base}/widget.js" data-site="{site_key}" async></script>'


# --- commands ---------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    try:
        settings.secret  # noqa: B018
    except MissingSecret as exc:
        raise CommandError(str(exc)) from None
    version = asyncio.run(migrate(settings.database))
    print(f"feedback: database {settings.database} at schema version {version}", file=sys.stderr)
    uvicorn.run(
        "feedback.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,  # client addresses come from FEEDBACK_TRUSTED_PROXIES only
        server_header=False,
        log_level=args.log_level,
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    version = asyncio.run(migrate(settings.database))
    print(f"{settings.database}: schema version {version}")


def cmd_site_add(args: argparse.Namespace) -> None:
    from feedback.store.sites import add_site

    settings = _settings()
    name = args.name.strip()
    if not name:
        raise CommandError("the site needs a name")
    origins = _origins(args.origin)
    site = asyncio.run(_with_db(settings, lambda db: add_site(db, name, origins)))
    print(f"Site {site.name!r} added. Key: {site.key}")
    print("Allowed origins: " + ", ".join(sorted(site.origins)))
    print("Paste this before </body> on every page of the site:")
    print()
    print("    " + embed_tag(settings.public_url, site.key))
    if not settings.public_url:
        print()
        print("(Set FEEDBACK_PUBLIC_URL so the tag carries this service's real address.)")


def cmd_site_list(args: argparse.Namespace) -> None:
    from feedback.store.sites import list_sites

    settings = _settings()
    sites = asyncio.run(_with_db(settings, list_sites))
    if not sites:
        print("No sites yet. Add one with: feedback site add NAME --origin https://example.com")
        return
    for site in sites:
        print(f"{site.key}\t{site.name}\t{' '.join(sorted(site.origins))}")


def cmd_demo(args: argparse.Namespace) -> None:
    import uvicorn

    from feedback import demo
    from feedback.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="feedback-demo-"))
    base = f"http://{args.host}:{args.port}"
    settings = Settings(
        database=str(folder / "demo.db"),
        secret_key=_secret(secrets.token_urlsafe(32)),
        public_url=base,
    )
    site_key, email, password = asyncio.run(demo.prepare(settings, args.host, args.port))
    app = create_app(settings, demo_site_key=site_key)
    print(
        "\n".join(
            [
                "",
                "feedback demo is running.",
                f"  Demo article:  {base}/demo",
                f"  Dashboard:     {base}/dashboard/",
                f"  Sign in as:    {email}",
                f"  Password:      {password}",
                f"  Database:      {settings.database} (thrown away with the folder)",
                "",
                "Select a word on the article and press Ctrl+Enter (Cmd+Enter on a Mac).",
                "Stop with Ctrl+C.",
                "",
            ]
        ),
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


def _secret(value: str):
    from starlette.datastructures import Secret

    return Secret(value)


# --- parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback",
        description="Reader feedback and typo reports: the service, its database and its sites.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the service", description="Run the service.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (rate limits are counted per process)",
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level")
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser(
        "migrate",
        help="create or upgrade the database",
        description="Apply every database migration not yet applied.",
    )
    mig.set_defaults(func=cmd_migrate)

    site = sub.add_parser("site", help="manage sites", description="Manage sites.")
    site_sub = site.add_subparsers(dest="site_command", metavar="ACTION", required=True)
    add = site_sub.add_parser(
        "add",
        help="register a site and print its embed tag",
        description="Register a site and print the <script> tag to paste into its pages.",
    )
    add.add_argument("name", help="the site's name, shown to editors")
    add.add_argument(
        "--origin",
        action="append",
        required=True,
        metavar="URL",
        help="an origin the site's pages are served from, e.g. https://example.com (repeatable)",
    )
    add.set_defaults(func=cmd_site_add)
    lst = site_sub.add_parser("list", help="list sites", description="List every site.")
    lst.set_defaults(func=cmd_site_list)

    demo = sub.add_parser(
        "demo",
        help="run a throwaway demo with an article and a dashboard login",
        description="Run the service on a throwaway database, with a demo article page "
        "that has the widget embedded and a dashboard login.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on")
    demo.add_argument("--log-level", default="warning", help="uvicorn log level")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (CommandError, DatabaseError, MissingSecret) as exc:
        print(f"feedback: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
