"""Exports open in spreadsheet programs as written: UTF-8 with a byte-order mark, so
Cyrillic shows correctly, and dates in ISO 8601."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import httpx
from dashboard_support import make_user, send_report, sign_in
from starlette.applications import Starlette

from feedback.store.sites import Site

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def test_csv_has_a_bom_iso_dates_and_cyrillic_intact(
    app: Starlette, client: httpx.AsyncClient, site: Site
) -> None:
    await make_user(app, "admin@example.com", "admin")
    await sign_in(client, "admin@example.com")
    before = time.time()
    await send_report(
        client,
        site,
        "https://example.com",
        quote={"exact": "превед", "prefix": "Он сказал ", "suffix": " всем."},
        suggestion="привет",
        comment="Опечатка",
    )
    response = await client.get("/dashboard/export.csv")
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")  # exactly one BOM, at the very start
    assert raw.count(b"\xef\xbb\xbf") == 1
    text = raw.decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["quote"] == "превед" and row["suggestion"] == "привет"
    assert ISO.match(row["first_seen"]) and ISO.match(row["last_seen"])
    stamp = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(before))
    assert row["first_seen"][:16] in {stamp, time.strftime("%Y-%m-%dT%H:%M", time.gmtime())}
    [record] = json.loads((await client.get("/dashboard/export.json")).text)
    assert ISO.match(record["first_seen"]) and record["comment"] == "Опечатка"
