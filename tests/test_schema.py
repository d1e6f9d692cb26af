"""Both engines build the same schema from the one numbered list of migrations."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from feedback.store.schema import ENGINES, migration_files
from feedback.store.sqlite_db import migrate

# Tables an engine has for its own way of doing something the other does differently.
SQLITE_ONLY = {"report_search"}  # an FTS5 table; its shadow tables start with its name
POSTGRES_ONLY = {"report_search", "schema_version", "rate_buckets"}
# Search: FTS5's one `text` column against a tsvector row per send; both are keyed by the
# submission id (FTS5 hides its rowid); PostgreSQL's also names the report. The schema
# version lives in SQLite's header.


def test_every_step_exists_for_both_engines() -> None:
    names = {e: [p.name.split(".")[0] for _, p in migration_files(e)] for e in ENGINES}
    assert names["sqlite"] == names["postgres"]
    assert len(names["sqlite"]) >= 4


def sqlite_schema(path: str) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'report_search_%'"
            )
        ]
        return {
            t: [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (t,))]
            for t in tables
        }
    finally:
        conn.close()


def postgres_schema(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


async def test_both_engines_build_the_same_tables_and_columns(tmp_path, postgres_cluster) -> None:
    cluster, template = postgres_cluster
    path = str(tmp_path / "schema.db")
    await migrate(path)
    lite = sqlite_schema(path)
    pg = postgres_schema(cluster.url_for(template))
    shared = set(lite) - SQLITE_ONLY
    assert shared == set(pg) - POSTGRES_ONLY
    for table in sorted(shared):
        assert lite[table] == pg[table], table
    assert pg["report_search"] == ["rowid", "report_id", "text"]


def test_migration_files_must_pair_up(tmp_path) -> None:
    from feedback.store.engine import StoreError

    for _, path in migration_files("sqlite"):
        (tmp_path / path.name).write_text(path.read_text())
    for _, path in migration_files("postgres")[:-1]:
        (tmp_path / path.name).write_text(path.read_text())
    with pytest.raises(StoreError, match="differ"):
        migration_files("sqlite", tmp_path)
