"""The `feedback` command: serve, migrate, manage sites, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from feedback.embed import embed_tag
from feedback.normalise import UrlError, normalise_origin
from feedback.notify import commands as notify_commands
from feedback.notify.commands import NotifyCommandError
from feedback.settings import MissingSecret, Settings, load_settings
from feedback.store import Store, StoreError, make_store, opened_store

# prometheus-client reads this when it is first imported: set before the app is loaded.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


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


async def _with_store(settings: Settings, fn: Callable) -> object:
    async with opened_store(settings.database) as store:
        return await fn(store)


def _migrate(settings: Settings) -> int:
    return asyncio.run(make_store(settings.database).migrate())


# --- commands ---------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from feedback.server import StackError, choose_stack, set_deadlines

    settings = _settings()
    try:
        settings.secret  # noqa: B018
    except MissingSecret as exc:
        raise CommandError(str(exc)) from None
    try:
        stack = choose_stack(args.loop, args.http)
    except StackError as exc:
        raise CommandError(str(exc)) from None
    from feedback.logs import configure

    # The workers read their settings again: the flags must reach them too.
    if args.log_level:
        os.environ["FEEDBACK_LOG_LEVEL"] = args.log_level
    if args.access_log:
        os.environ["FEEDBACK_ACCESS_LOG"] = "true"
    settings = _settings()
    configure(settings.log_format, settings.log_level)
    log = logging.getLogger("feedback")
    version = _migrate(settings)
    where = make_store(settings.database).location
    log.info("database %s at schema version %d", where, version)
    log.info("%s", stack.describe())
    for note in stack.notes:
        log.info("%s", note)
    if args.workers > 1 or os.environ.get(MULTIPROC_ENV):
        _metrics_folder()
    set_deadlines(args.timeout_header, args.timeout_body)
    uvicorn.run(
        "feedback.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=stack.loop,
        http=stack.protocol,
        proxy_headers=False,  # client addresses come from FEEDBACK_TRUSTED_PROXIES only
        server_header=False,
        # Logging is ours (feedback.logs): one format, and request lines from AccessLog,
        # which leave out query strings and client addresses.
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=args.timeout_keep_alive,
        limit_concurrency=args.limit_concurrency or None,
        # Open dashboards hold live streams; don't let them delay a restart for long.
        timeout_graceful_shutdown=5,
    )


def _metrics_folder() -> None:
    """Workers count metrics into files in one folder, added up at each scrape. Counts
    from an earlier run must not be added in, so the folder starts empty."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="feedback-metrics-")


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    version = _migrate(settings)
    print(f"{make_store(settings.database).location}: schema version {version}")


def cmd_backup(args: argparse.Namespace) -> None:
    settings = _settings()
    store = make_store(settings.database)
    if store.engine != "sqlite":
        raise CommandError(
            "feedback backup copies SQLite files; for PostgreSQL use pg_dump, e.g.\n"
            "    pg_dump --format=custom --file=feedback.dump 'postgresql://USER@HOST/DB'\n"
            "and pg_restore to bring it back (see the README, Backups)"
        )
    from feedback.store.sqlite import SqliteStore

    assert isinstance(store, SqliteStore)
    size = asyncio.run(store.backup(args.path))
    print(f"Backed up {store.location} to {args.path} ({size // 1024} KiB).")


def cmd_purge(args: argparse.Namespace) -> None:
    from feedback.store.retention import parse_age, purge_closed

    settings = _settings()
    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if age <= 0:
        raise CommandError("--older-than must be more than zero")
    count = asyncio.run(_with_store(settings, lambda store: purge_closed(store, age)))
    print(f"Purged {count} closed report{'s' if count != 1 else ''} older than {args.older_than}.")


def cmd_site_add(args: argparse.Namespace) -> None:
    from feedback.store.sites import add_site

    settings = _settings()
    name = args.name.strip()
    if not name:
        raise CommandError("the site needs a name")
    origins = _origins(args.origin)
    site = asyncio.run(_with_store(settings, lambda store: add_site(store, name, origins)))
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
    sites = asyncio.run(_with_store(settings, list_sites))
    if not sites:
        print("No sites yet. Add one with: feedback site add NAME --origin https://example.com")
        return
    for site in sites:
        print(f"{site.key}\t{site.name}\t{' '.join(sorted(site.origins))}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CommandError("the passwords do not match")
    if len(password) < 8:
        raise CommandError("the password needs at least 8 characters")
    return password


def cmd_user_add(args: argparse.Namespace) -> None:
    from feedback.store.sites import list_sites
    from feedback.store.users import UserError, add_user

    settings = _settings()
    if args.role == "admin" and args.site:
        raise CommandError("admins see every site; --site is for editors")
    password = _read_password(args.password_stdin)

    async def go(store: Store) -> None:
        keys = {s.key: s.id for s in await list_sites(store)}
        unknown = [k for k in args.site or [] if k not in keys]
        if unknown:
            raise CommandError("no site with key " + ", ".join(unknown))
        try:
            site_ids = [keys[k] for k in args.site or []]
            await add_user(store, args.email, password, args.role, site_ids)
        except UserError as exc:
            raise CommandError(str(exc)) from None

    asyncio.run(_with_store(settings, go))
    where = "every site" if args.role == "admin" else (", ".join(args.site or []) or "no sites yet")
    print(f"User {args.email} added as {args.role} ({where}).")


def cmd_user_list(args: argparse.Namespace) -> None:
    from feedback.store.sites import list_sites
    from feedback.store.users import list_users

    settings = _settings()

    async def go(store: Store) -> tuple:
        return await list_users(store), await list_sites(store)

    users, sites = asyncio.run(_with_store(settings, go))
    if not users:
        print("No users yet. Add one with: feedback user add EMAIL --role admin")
        return
    keys = {s.id: s.key for s in sites}
    for user in users:
        where = "*" if user.is_admin else " ".join(sorted(keys[i] for i in user.site_ids))
        state = "disabled" if user.disabled else "active"
        print(f"{user.email}\t{user.role}\t{state}\t{where}")


def cmd_user_passwd(args: argparse.Namespace) -> None:
    from feedback.store.users import UserError, set_password

    settings = _settings()
    password = _read_password(args.password_stdin)

    async def go(store: Store) -> None:
        try:
            await set_password(store, args.email, password)
        except UserError as exc:
            raise CommandError(str(exc)) from None

    asyncio.run(_with_store(settings, go))
    print(f"Password for {args.email} changed.")


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now, so a busy port is known before anything else is
    done (and nobody can take it between the check and the start)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is already in use. Stop whatever is using it, "
                f"or pick another port: feedback demo --port {port + 1}"
            ) from None
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def demo_instructions(base: str, site_key: str, email: str, password: str, db: str) -> str:
    api_example = (
        f"curl -X POST {base}/api/v1/reports -H 'Origin: {base}' "
        "-H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"site": "{site_key}", "kind": "typo", "url": "{base}/demo", '
        '"quote": {"exact": "wheather"}, "suggestion": "weather"}\''
    )
    return "\n".join(
        [
            "",
            "feedback demo is running.",
            f"  Demo article:  {base}/demo",
            f"  Dashboard:     {base}/dashboard/",
            f"  Sign in as:    {email}",
            f"  Password:      {password}",
            f"  Site key:      {site_key}",
            f"  Database:      {db} (thrown away when the demo stops)",
            "",
            "Select a word on the article and press Ctrl+Enter (Cmd+Enter on a Mac).",
            "Or send a report from the command line, as the widget does:",
            "",
            "  " + api_example,
            "",
            "Embed tag for the demo site:  " + embed_tag(base, site_key),
            "Stop with Ctrl+C.",
            "",
        ]
    )


def cmd_copy_data(args: argparse.Namespace) -> None:
    from feedback.store.copy import copy_data

    if args.source == args.target:
        raise CommandError("--from and --to name the same database")

    async def go() -> dict[str, int]:
        source, target = make_store(args.source, connections=2), make_store(args.target)
        await source.open()
        try:
            await target.open()
            try:
                return await copy_data(source, target, say=lambda line: print("  " + line))
            finally:
                await target.close()
        finally:
            await source.close()

    print(f"Copying {make_store(args.source).location} into {make_store(args.target).location}:")
    copied = asyncio.run(go())
    print(f"Done: {sum(copied.values())} rows in {len(copied)} tables, counts checked.")


def cmd_demo(args: argparse.Namespace) -> None:
    import uvicorn

    from feedback import demo
    from feedback.app import create_app

    sock = _listen(args.host, args.port)
    folder = Path(tempfile.mkdtemp(prefix="feedback-demo-"))
    try:
        host = f"[{args.host}]" if ":" in args.host else args.host
        base = f"http://{host}:{args.port}"
        settings = Settings(
            database=str(folder / "demo.db"),
            secret_key=_secret(secrets.token_urlsafe(32)),
            public_url=base,
            # The demo article is on this machine: let the page checker read it.
            allow_private_targets=True,
        )
        site_key, email, password = asyncio.run(demo.prepare(settings, host, args.port))
        app = create_app(settings, demo_site_key=site_key)
        print(demo_instructions(base, site_key, email, password, settings.database), flush=True)
        config = uvicorn.Config(
            app,
            log_level=args.log_level,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        # uvicorn re-raises the signal that stopped it once it has shut down; for SIGTERM
        # that would end the process before the folder below is removed.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
        server.run(sockets=[sock])
    finally:
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)


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
    serve.add_argument(
        "--log-level", default=None, help="least severe log level (default FEEDBACK_LOG_LEVEL)"
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log a line per request even if FEEDBACK_ACCESS_LOG is off",
    )
    serve.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="event loop (default: uvloop when installed)",
    )
    serve.add_argument(
        "--http",
        choices=("auto", "httptools", "h11"),
        default="auto",
        help="HTTP parser (default: httptools when installed)",
    )
    serve.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=5,
        metavar="SECONDS",
        help="close a keep-alive connection idle this long after a response (default 5)",
    )
    serve.add_argument(
        "--timeout-header",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection whose request head has not fully arrived this long after "
        "connecting or after its first byte (default 10; 0 turns it off)",
    )
    serve.add_argument(
        "--timeout-body",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection whose request body has not fully arrived this long after "
        "its head (default 10; 0 turns it off)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        metavar="N",
        help="connections and requests per worker before new ones are answered 503 "
        "(default 1000; 0 for no limit)",
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser(
        "migrate",
        help="create or upgrade the database",
        description="Apply every database migration not yet applied.",
    )
    mig.set_defaults(func=cmd_migrate)

    backup = sub.add_parser(
        "backup",
        help="copy the SQLite database while the service runs",
        description="Make a consistent copy of the SQLite database at PATH, safe to run "
        "while the service takes reports. For PostgreSQL use pg_dump.",
    )
    backup.add_argument("path", help="file to write; must not exist yet")
    backup.set_defaults(func=cmd_backup)

    purge = sub.add_parser(
        "purge",
        help="delete closed reports older than an age",
        description="Delete reports closed (fixed, not an error, spam) longer ago than "
        "--older-than, with their submissions, search entries and history.",
    )
    purge.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 180d, 12w or 36h")
    purge.set_defaults(func=cmd_purge)

    copy = sub.add_parser(
        "copy-data",
        help="copy a whole installation into an empty database (SQLite <-> PostgreSQL)",
        description="Copy every site, user, report, submission and event from one database "
        "into another, empty one, keeping ids, and check the row counts. Each side is an "
        "SQLite file path or a postgresql:// URL. Stop the service first.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="SOURCE")
    copy.add_argument("--to", dest="target", required=True, metavar="TARGET")
    copy.set_defaults(func=cmd_copy_data)

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

    user = sub.add_parser(
        "user", help="manage dashboard users", description="Manage dashboard users."
    )
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    uadd = user_sub.add_parser(
        "add",
        help="add an admin or an editor",
        description="Add a dashboard user. The password is asked for twice, "
        "or read from the first line of standard input with --password-stdin.",
    )
    uadd.add_argument("email", help="the address the user signs in with")
    uadd.add_argument("--role", choices=("admin", "editor"), required=True)
    uadd.add_argument(
        "--site",
        action="append",
        metavar="KEY",
        help="a site key an editor may see (repeatable); admins see every site",
    )
    uadd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    uadd.set_defaults(func=cmd_user_add)
    ulist = user_sub.add_parser("list", help="list users", description="List every user.")
    ulist.set_defaults(func=cmd_user_list)
    upass = user_sub.add_parser(
        "passwd", help="set a user's password", description="Set a user's password."
    )
    upass.add_argument("email")
    upass.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    upass.set_defaults(func=cmd_user_passwd)

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
    notify_commands.register(sub, _given_settings)
    return parser


def _given_settings(
    command: Callable[[Settings, argparse.Namespace], None],
) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        try:
            command(_settings(), args)
        except NotifyCommandError as exc:
            raise CommandError(str(exc)) from None

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (CommandError, StoreError, MissingSecret) as exc:
        print(f"feedback: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
