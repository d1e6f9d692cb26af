"""Destinations, the outbox of report events, and deliveries of messages.

Report events are written by triggers (migration 0006) in the transaction that changes
the report. The delivery worker moves them into `deliveries`: one row per message per
destination, made unique by `dedup_key`, so a report announces itself at most once per
destination however often its event is seen.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from feedback.store.engine import Row, Store, Tx

KINDS = ("webhook", "slack", "telegram", "email")
EVENTS = ("report.created", "report.updated")
DIGESTS = ("off", "hourly", "daily")
PERIODS = {"hourly": 3600, "daily": 86400}


@dataclass(frozen=True)
class NewDestination:
    """A destination checked and ready to store (feedback/notify/destinations.py)."""

    kind: str
    target: str
    secret: str
    path_prefix: str
    events: tuple[str, ...]
    digest: str


@dataclass(frozen=True)
class Destination:
    id: int
    site_id: int
    site_key: str
    site_name: str
    kind: str
    target: str
    secret: str
    path_prefix: str
    events: tuple[str, ...]
    digest: str
    created_by: int | None
    created_at: float

    def wants(self, event_type: str, url: str) -> bool:
        """Routing: the event is one it asked for, about a page under its path prefix."""
        if event_type not in self.events:
            return False
        if not self.path_prefix:
            return True
        try:
            path = urlsplit(url).path or "/"
        except ValueError:
            return False
        return path.startswith(self.path_prefix)

    def shown_target(self) -> str:
        """The target as lists may show it: no secrets in URL paths of chat webhooks."""
        if self.kind in ("slack", "webhook"):
            parts = urlsplit(self.target)
            path = parts.path
            if self.kind == "slack" and len(path) > 12:
                path = path[:12] + "…"
            return f"{parts.scheme}://{parts.hostname or ''}{path}"
        return self.target


_DEST_COLUMNS = (
    "d.id, d.site_id, s.key AS site_key, s.name AS site_name, d.kind, d.target, d.secret, "
    "d.path_prefix, d.events, d.digest, d.created_by, d.created_at"
)


def _destination(row: Row) -> Destination:
    return Destination(
        id=row["id"],
        site_id=row["site_id"],
        site_key=row["site_key"],
        site_name=row["site_name"],
        kind=row["kind"],
        target=row["target"],
        secret=row["secret"],
        path_prefix=row["path_prefix"],
        events=tuple(e for e in row["events"].split(",") if e),
        digest=row["digest"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


async def add_destination(
    store: Store, site_id: int, new: NewDestination, created_by: int | None, now: float
) -> int:
    async def unit(tx: Tx) -> int:
        row = await tx.fetchone(
            "INSERT INTO destinations (site_id, kind, target, secret, path_prefix, events, "
            "digest, created_by, created_at) VALUES (:site, :kind, :target, :secret, :prefix, "
            ":events, :digest, :by, :now) RETURNING id",
            {
                "site": site_id,
                "kind": new.kind,
                "target": new.target,
                "secret": new.secret,
                "prefix": new.path_prefix,
                "events": ",".join(new.events),
                "digest": new.digest,
                "by": created_by,
                "now": now,
            },
        )
        assert row is not None
        return int(row[0])

    return await store.write(unit)


async def list_destinations(store: Store, site_id: int | None = None) -> list[Destination]:
    rows = await store.fetchall(
        f"SELECT {_DEST_COLUMNS} FROM destinations d JOIN sites s ON s.id = d.site_id "
        "WHERE (:all OR d.site_id = :site) ORDER BY s.name, d.id",
        {"all": site_id is None, "site": site_id or 0},
    )
    return [_destination(r) for r in rows]


async def destination_by_id(store: Store, destination_id: int) -> Destination | None:
    row = await store.fetchone(
        f"SELECT {_DEST_COLUMNS} FROM destinations d JOIN sites s ON s.id = d.site_id "
        "WHERE d.id = ?",
        (destination_id,),
    )
    return _destination(row) if row else None


async def remove_destination(store: Store, destination_id: int) -> bool:
    async def unit(tx: Tx) -> int:
        await tx.execute("DELETE FROM deliveries WHERE destination_id = ?", (destination_id,))
        return await tx.execute("DELETE FROM destinations WHERE id = ?", (destination_id,))

    return bool(await store.write(unit))


# -- the outbox ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatched:
    events: int
    deliveries: int


async def dispatch_events(tx: Tx, now: float, hourly_cap: int, limit: int = 500) -> Dispatched:
    """Write unit: turn outbox events into deliveries (or hold them for a digest)."""
    events = await tx.fetchall(tx.sql.OUTBOX_TAKE, {"limit": limit})
    if not events:
        return Dispatched(0, 0)
    site_ids = sorted({e["site_id"] for e in events})
    report_ids = sorted({e["report_id"] for e in events})
    dests: dict[int, list[Destination]] = {}
    for row in await tx.fetchall(
        f"SELECT {_DEST_COLUMNS} FROM destinations d JOIN sites s ON s.id = d.site_id "
        f"WHERE {tx.sql.in_list('d.site_id', 'sites')} ORDER BY d.id",
        {"sites": site_ids},
    ):
        dest = _destination(row)
        dests.setdefault(dest.site_id, []).append(dest)
    urls = {
        r["id"]: r["url"]
        for r in await tx.fetchall(
            f"SELECT id, url FROM reports WHERE {tx.sql.in_list('id', 'ids')}", {"ids": report_ids}
        )
    }
    hour = now - now % 3600
    sent_this_hour = {
        r[0]: r[1]
        for r in await tx.fetchall(
            "SELECT destination_id, count(*) FROM deliveries WHERE created_at >= :hour "
            "AND type <> 'digest' AND state <> 'held' AND state <> 'digested' "
            "GROUP BY destination_id",
            {"hour": hour},
        )
    }
    made = 0
    for event in events:
        for dest in dests.get(event["site_id"], ()):
            if not dest.wants(event["type"], urls.get(event["report_id"], "")):
                continue
            # One report.created per report per destination, however it came about.
            key = (
                f"created:{event['report_id']}"
                if event["type"] == "report.created"
                else f"event:{event['id']}"
            )
            payload: dict[str, Any] = {"status": event["status"], "at": event["created_at"]}
            state = "pending"
            if dest.digest != "off":
                state = "held"
            elif sent_this_hour.get(dest.id, 0) >= hourly_cap:
                state = "held"
                payload["capped"] = True
            inserted = await tx.execute(
                "INSERT INTO deliveries (public_id, destination_id, dedup_key, type, report_id, "
                "state, next_at, payload, created_at, updated_at) VALUES (:public, :dest, :key, "
                ":type, :report, :state, :now, :payload, :now, :now) "
                "ON CONFLICT (destination_id, dedup_key) DO NOTHING",
                {
                    "public": new_delivery_id(),
                    "dest": dest.id,
                    "key": key,
                    "type": event["type"],
                    "report": event["report_id"],
                    "state": state,
                    "now": now,
                    "payload": json.dumps(payload),
                },
            )
            if inserted and state == "pending":
                sent_this_hour[dest.id] = sent_this_hour.get(dest.id, 0) + 1
            made += inserted
    await tx.execute(
        f"DELETE FROM notify_events WHERE {tx.sql.in_list('id', 'ids')}",
        {"ids": [e["id"] for e in events]},
    )
    return Dispatched(len(events), made)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_urlsafe(12)


async def make_digests(tx: Tx, now: float) -> int:
    """Write unit: one digest delivery per destination whose period has ended with
    reports held for it. Held updates alone make no digest: nothing new, nothing sent."""
    held = await tx.fetchall(
        "SELECT h.id, h.destination_id, h.type, h.report_id, h.payload, h.created_at, "
        "d.digest FROM deliveries h JOIN destinations d ON d.id = h.destination_id "
        "WHERE h.state = 'held' ORDER BY h.id"
    )
    by_dest: dict[int, list[Row]] = {}
    for row in held:
        by_dest.setdefault(row["destination_id"], []).append(row)
    made = 0
    for dest_id, rows in by_dest.items():
        # A destination over its hourly cap gets its summary at the end of the hour.
        period = PERIODS.get(rows[0]["digest"], 3600)
        start = now - now % period
        due = [r for r in rows if r["created_at"] < start]
        if not due:
            continue
        created = [r["report_id"] for r in due if r["type"] == "report.created"]
        if created:
            capped = any(json.loads(r["payload"] or "{}").get("capped") for r in due)
            payload = {
                "period": rows[0]["digest"] if rows[0]["digest"] != "off" else "hourly",
                "start": min(r["created_at"] for r in due),
                "end": start,
                "report_ids": created,
                "capped": capped,
            }
            made += await tx.execute(
                "INSERT INTO deliveries (public_id, destination_id, dedup_key, type, state, "
                "next_at, payload, created_at, updated_at) VALUES (:public, :dest, :key, "
                "'digest', 'pending', :now, :payload, :now, :now) "
                "ON CONFLICT (destination_id, dedup_key) DO NOTHING",
                {
                    "public": new_delivery_id(),
                    "dest": dest_id,
                    "key": f"digest:{int(start)}",
                    "now": now,
                    "payload": json.dumps(payload),
                },
            )
        await tx.execute(
            "UPDATE deliveries SET state = 'digested', updated_at = :now "
            f"WHERE {tx.sql.in_list('id', 'ids')}",
            {"now": now, "ids": [r["id"] for r in due]},
        )
    return made


@dataclass(frozen=True)
class Claimed:
    id: int
    public_id: str
    type: str
    report_id: int | None
    attempts: int
    payload: dict[str, Any]
    destination: Destination


async def claim_due(tx: Tx, now: float, lease: float, limit: int = 20) -> list[Claimed]:
    """Write unit: deliveries due now, leased to this worker for `lease` seconds so no
    other instance (or a crash) sends them twice in that time."""
    rows = await tx.fetchall(
        tx.sql.DELIVERIES_DUE.format(columns=_DEST_COLUMNS), {"now": now, "limit": limit}
    )
    if not rows:
        return []
    await tx.execute(
        f"UPDATE deliveries SET next_at = :until WHERE {tx.sql.in_list('id', 'ids')}",
        {"until": now + lease, "ids": [r["delivery_id"] for r in rows]},
    )
    return [_claimed(r) for r in rows]


async def claim_one(tx: Tx, delivery_id: int, now: float, lease: float) -> Claimed | None:
    """Write unit: one pending delivery by id (`feedback notify test`), leased."""
    rows = await tx.fetchall(
        tx.sql.DELIVERY_BY_ID.format(columns=_DEST_COLUMNS), {"id": delivery_id}
    )
    if not rows:
        return None
    await tx.execute(
        "UPDATE deliveries SET next_at = :until WHERE id = :id",
        {"until": now + lease, "id": delivery_id},
    )
    return _claimed(rows[0])


def _claimed(r: Row) -> Claimed:
    return Claimed(
        id=r["delivery_id"],
        public_id=r["public_id"],
        type=r["type"],
        report_id=r["report_id"],
        attempts=r["attempts"],
        payload=json.loads(r["payload"] or "{}"),
        destination=_destination(r),
    )


async def record_attempt(
    store: Store,
    delivery_id: int,
    *,
    state: str,
    attempts: int,
    next_at: float,
    code: int | None,
    error: str,
    now: float,
) -> None:
    async def unit(tx: Tx) -> None:
        await tx.execute(
            "UPDATE deliveries SET state = :state, attempts = :attempts, next_at = :next, "
            "last_code = :code, last_error = :error, updated_at = :now "
            "WHERE id = :id AND state = 'pending'",
            {
                "state": state,
                "attempts": attempts,
                "next": next_at,
                "code": code,
                "error": error[:1000],
                "now": now,
                "id": delivery_id,
            },
        )

    await store.write(unit)


@dataclass(frozen=True)
class Work:
    events: bool
    oldest_held: float | None
    next_due: float | None


async def pending_work(store: Store) -> Work:
    """What the worker has to do, in one cheap read: outbox events waiting, the oldest
    delivery held for a digest, and when the next pending delivery is due."""
    row = await store.fetchone(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM notify_events LIMIT 1) e), "
        "(SELECT min(created_at) FROM deliveries WHERE state = 'held'), "
        "(SELECT min(next_at) FROM deliveries WHERE state = 'pending')"
    )
    assert row is not None
    return Work(bool(row[0]), row[1], row[2])


async def recent_deliveries(store: Store, destination_id: int, limit: int = 50) -> list[Row]:
    return await store.fetchall(
        "SELECT id, public_id, type, report_id, state, attempts, next_at, last_code, "
        "last_error, created_at, updated_at FROM deliveries WHERE destination_id = :dest "
        "ORDER BY id DESC LIMIT :limit",
        {"dest": destination_id, "limit": limit},
    )


async def redeliver(store: Store, delivery_id: int, now: float) -> bool:
    """Send a failed delivery again, with a fresh set of attempts."""

    async def unit(tx: Tx) -> int:
        return await tx.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = :now, "
            "updated_at = :now WHERE id = :id AND state = 'failed'",
            {"now": now, "id": delivery_id},
        )

    return bool(await store.write(unit))


async def add_test_delivery(
    store: Store, destination_id: int, report_id: int | None, now: float
) -> int:
    """A sample message for `feedback notify test`, sent like any other."""

    async def unit(tx: Tx) -> int:
        row = await tx.fetchone(
            "INSERT INTO deliveries (public_id, destination_id, dedup_key, type, report_id, "
            "state, next_at, payload, created_at, updated_at) VALUES (:public, :dest, :key, "
            "'test', :report, 'pending', :now, '{}', :now, :now) RETURNING id",
            {
                "public": new_delivery_id(),
                "dest": destination_id,
                "key": f"test:{secrets.token_hex(8)}",
                "report": report_id,
                "now": now,
            },
        )
        assert row is not None
        return int(row[0])

    return await store.write(unit)


async def delivery_by_id(store: Store, delivery_id: int) -> Row | None:
    return await store.fetchone(
        "SELECT id, public_id, destination_id, type, report_id, state, attempts, next_at, "
        "last_code, last_error FROM deliveries WHERE id = ?",
        (delivery_id,),
    )


# -- what messages are made of -------------------------------------------------------------


async def report_snapshot(store: Store, report_id: int) -> dict[str, Any] | None:
    """A report as messages and webhooks show it."""
    row = await store.fetchone(
        "SELECT r.id, r.status, r.kind, r.url, r.title, r.lang, r.quote_exact, "
        "r.quote_prefix, r.quote_suffix, r.submission_count, r.first_seen, r.last_seen, "
        "s.key AS site_key, s.name AS site_name, s.edit_url, "
        "(SELECT suggestion FROM submissions c WHERE c.report_id = r.id "
        " AND c.suggestion <> '' ORDER BY c.id DESC LIMIT 1) AS suggestion, "
        "(SELECT comment FROM submissions c WHERE c.report_id = r.id "
        " AND c.comment <> '' ORDER BY c.id DESC LIMIT 1) AS comment, "
        "(SELECT count(DISTINCT ip_hash) FROM submissions c WHERE c.report_id = r.id) "
        "AS readers "
        "FROM reports r JOIN sites s ON s.id = r.site_id WHERE r.id = ?",
        (report_id,),
    )
    return _snapshot(row) if row else None


def _snapshot(row: Row) -> dict[str, Any]:
    return {
        "site": {"key": row["site_key"], "name": row["site_name"]},
        "edit_template": row["edit_url"],
        "report": {
            "id": row["id"],
            "status": row["status"],
            "kind": row["kind"],
            "url": row["url"],
            "title": row["title"],
            "lang": row["lang"],
            "quote": {
                "exact": row["quote_exact"],
                "prefix": row["quote_prefix"],
                "suffix": row["quote_suffix"],
            },
            "suggestion": row["suggestion"] or "",
            "comment": row["comment"] or "",
            "readers": max(1, int(row["readers"] or 1)),
            "submissions": row["submission_count"],
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
        },
    }


async def digest_reports(
    store: Store, site_id: int, report_ids: list[int], limit: int = 10
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(the new reports, the most reported open ones, the oldest open ones) of a site."""
    new = [s for rid in report_ids[:50] if (s := await report_snapshot(store, rid))]
    most = await store.fetchall(
        "SELECT id FROM reports WHERE site_id = :site AND status IN ('new', 'in_progress') "
        "AND submission_count > 1 ORDER BY submission_count DESC, id DESC LIMIT :limit",
        {"site": site_id, "limit": limit},
    )
    oldest = await store.fetchall(
        "SELECT id FROM reports WHERE site_id = :site AND status IN ('new', 'in_progress') "
        "ORDER BY first_seen, id LIMIT :limit",
        {"site": site_id, "limit": limit},
    )

    async def snaps(rows: list[Row]) -> list[dict[str, Any]]:
        return [s for r in rows if (s := await report_snapshot(store, r[0]))]

    return new, await snaps(most), await snaps(oldest)


async def user_for_links(store: Store, dest: Destination) -> int | None:
    """The editor a destination's action links act as."""
    if dest.kind == "email":
        row = await store.fetchone(
            "SELECT id FROM users WHERE lower(email) = lower(?)", (dest.target.strip(),)
        )
        if row:
            return int(row[0])
    return dest.created_by


async def edit_url_template(store: Store, site_id: int) -> str:
    row = await store.fetchone("SELECT edit_url FROM sites WHERE id = ?", (site_id,))
    return row[0] if row else ""


async def set_edit_url_template(store: Store, site_id: int, template: str) -> None:
    async def unit(tx: Tx) -> None:
        await tx.execute("UPDATE sites SET edit_url = ? WHERE id = ?", (template, site_id))

    await store.write(unit)
