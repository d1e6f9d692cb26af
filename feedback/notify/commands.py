"""`feedback notify ...` and `feedback token ...`: destinations and API tokens from the shell."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from feedback.settings import Settings
from feedback.store import Store, opened_store
from feedback.store import notify as outbox
from feedback.store.notify import DIGESTS, KINDS
from feedback.store.sites import site_by_key
from feedback.store.tokens import SCOPES, add_token, list_tokens, revoke_token
from feedback.store.users import credentials

T = TypeVar("T")


class NotifyCommandError(Exception):
    """Printed to standard error by the main CLI, exit status 1."""


def _run(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        async with opened_store(settings.database) as store:
            return await fn(store)

    return asyncio.run(go())


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else "never"


# -- feedback notify ----------------------------------------------------------------------


def notify_add(settings: Settings, args: argparse.Namespace) -> None:
    # Imported here: httpx is slow to import, and only commands that send need it.
    from feedback.notify.destinations import DestinationError, prepare

    async def go(store: Store) -> None:
        site = await site_by_key(store, args.site_key)
        if site is None:
            raise NotifyCommandError(f"no site with key {args.site_key!r}")
        acting = None
        if args.as_user:
            found = await credentials(store, args.as_user)
            if found is None:
                raise NotifyCommandError(f"no user {args.as_user}")
            acting = found[0]
        try:
            new = await prepare(
                settings,
                kind=args.kind,
                target=args.target,
                path_prefix=args.path_prefix,
                events=args.events,
                digest=args.digest,
            )
        except DestinationError as exc:
            raise NotifyCommandError(str(exc)) from None
        dest_id = await outbox.add_destination(store, site.id, new, acting, time.time())
        print(f"destination {dest_id}: {new.kind} for {site.name} ({site.key})")
        if new.kind == "webhook":
            print(f"signing secret (shown once, keep it with the receiver): {new.secret}")
        if acting is None and new.kind != "email":
            print("messages carry no action links: add --as EMAIL to have them act as an editor")

    _run(settings, go)


def notify_list(settings: Settings, args: argparse.Namespace) -> None:
    async def go(store: Store) -> None:
        dests = await outbox.list_destinations(store)
        if not dests:
            print("no destinations")
        for d in dests:
            last = await outbox.recent_deliveries(store, d.id, limit=1)
            state = f"last {last[0]['state']} {_when(last[0]['updated_at'])}" if last else "no"
            print(
                f"{d.id}\t{d.site_key}\t{d.kind}\t{d.shown_target()}\t"
                f"prefix={d.path_prefix or '/'}\tevents={','.join(d.events)}\t"
                f"digest={d.digest}\t{state} deliveries"
            )

    _run(settings, go)


def notify_remove(settings: Settings, args: argparse.Namespace) -> None:
    async def go(store: Store) -> None:
        if not await outbox.remove_destination(store, args.id):
            raise NotifyCommandError(f"no destination {args.id}")
        print(f"destination {args.id} removed")

    _run(settings, go)


def notify_test(settings: Settings, args: argparse.Namespace) -> None:
    from feedback.notify.worker import DeliveryWorker
    from feedback.outbound import outbound_client

    async def go(store: Store) -> Any:
        dest = await outbox.destination_by_id(store, args.id)
        if dest is None:
            raise NotifyCommandError(f"no destination {args.id}")
        latest = await store.fetchone(
            "SELECT max(id) FROM reports WHERE site_id = ?", (dest.site_id,)
        )
        report_id = latest[0] if latest and latest[0] is not None else None
        now = time.time()
        delivery_id = await outbox.add_test_delivery(store, dest.id, report_id, now)
        async with outbound_client(allow_private=settings.allow_private_targets) as http:
            worker = DeliveryWorker(store, http, settings)
            claimed = await store.write(lambda tx: outbox.claim_one(tx, delivery_id, now, 300.0))
            assert claimed is not None
            # A test is tried once: its outcome is what the person at the terminal wants.
            outcome = await worker.deliver(claimed, retry=False)
        return outcome

    outcome = _run(settings, go)
    code = f" ({outcome.code})" if outcome.code else ""
    if outcome.state == "delivered":
        print(f"delivered{code}")
        return
    raise NotifyCommandError(f"not delivered{code}: {outcome.error}")


# -- feedback token -----------------------------------------------------------------------


def token_add(settings: Settings, args: argparse.Namespace) -> None:
    async def go(store: Store) -> tuple[int, str]:
        site_ids = []
        for key in args.site:
            site = await site_by_key(store, key)
            if site is None:
                raise NotifyCommandError(f"no site with key {key!r}")
            site_ids.append(site.id)
        return await add_token(
            store,
            name=args.name,
            scope=args.scope,
            site_ids=site_ids,
            created_by=None,
            now=time.time(),
        )

    token_id, token = _run(settings, go)
    print(f"token {token_id} ({args.scope}) for {', '.join(args.site)}")
    print(f"shown once, store it now: {token}")


def token_list(settings: Settings, args: argparse.Namespace) -> None:
    async def go(store: Store) -> None:
        tokens = await list_tokens(store)
        if not tokens:
            print("no tokens")
        for t in tokens:
            state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
            print(
                f"{t.id}\t{t.name or '-'}\t{t.scope}\t{','.join(t.site_keys)}\t"
                f"created {_when(t.created_at)}\tlast used {_when(t.last_used_at)}\t{state}"
            )

    _run(settings, go)


def token_revoke(settings: Settings, args: argparse.Namespace) -> None:
    async def go(store: Store) -> None:
        if not await revoke_token(store, args.id, time.time()):
            raise NotifyCommandError(f"no active token {args.id}")
        print(f"token {args.id} revoked")

    _run(settings, go)


def register(
    sub: Any, run: Callable[[Callable[[Settings, argparse.Namespace], None]], Any]
) -> None:
    """Add the notify and token commands to the main parser. `run` wraps a command so it
    gets the settings (and has its errors reported like every other command's)."""
    notify = sub.add_parser(
        "notify", help="send reports to chat, email and webhooks",
        description="Destinations that get a message when a report comes in or changes.",
    )  # fmt: skip
    notify_sub = notify.add_subparsers(dest="notify_command", required=True)
    add = notify_sub.add_parser(
        "add", help="add a destination", description="Add a destination for a site."
    )
    add.add_argument("site_key")
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument(
        "--target",
        required=True,
        help="webhook or Slack-compatible URL; telegram BOT_TOKEN/CHAT_ID; email address",
    )
    add.add_argument("--path-prefix", default="", help="only pages under this path, e.g. /news/")
    add.add_argument(
        "--events", default="report.created",
        help="comma-separated: report.created, report.updated (default report.created)",
    )  # fmt: skip
    add.add_argument("--digest", default="off", choices=DIGESTS)
    add.add_argument(
        "--as", dest="as_user", default="", metavar="EMAIL",
        help="the editor whose name action links in messages act in",
    )  # fmt: skip
    add.set_defaults(func=run(notify_add))
    lst = notify_sub.add_parser("list", help="list destinations", description="List destinations.")
    lst.set_defaults(func=run(notify_list))
    rm = notify_sub.add_parser(
        "remove", help="remove a destination", description="Remove a destination."
    )
    rm.add_argument("id", type=int)
    rm.set_defaults(func=run(notify_remove))
    test = notify_sub.add_parser(
        "test", help="send a sample message",
        description="Send a sample message (the site's latest report) and print the outcome.",
    )  # fmt: skip
    test.add_argument("id", type=int)
    test.set_defaults(func=run(notify_test))

    token = sub.add_parser(
        "token", help="API tokens", description="Tokens for the /api/v1 endpoints."
    )
    token_sub = token.add_subparsers(dest="token_command", required=True)
    tadd = token_sub.add_parser(
        "add", help="create a token", description="Create a token; it is shown once."
    )
    tadd.add_argument("--site", action="append", required=True, metavar="KEY")
    tadd.add_argument("--scope", choices=SCOPES, default="read")
    tadd.add_argument("--name", default="", help="what the token is for")
    tadd.set_defaults(func=run(token_add))
    tlist = token_sub.add_parser("list", help="list tokens", description="List tokens.")
    tlist.set_defaults(func=run(token_list))
    trev = token_sub.add_parser("revoke", help="revoke a token", description="Revoke a token.")
    trev.add_argument("id", type=int)
    trev.set_defaults(func=run(token_revoke))
