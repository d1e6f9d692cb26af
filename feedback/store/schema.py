"""The one numbered list of migrations, each written once per engine.

`migrations/0004_outbox.sqlite.sql` and `migrations/0004_outbox.postgres.sql` are the
same step for each engine. A number present for one engine and missing for the other
is an error at start-up, so the two schemas cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

from feedback.store.engine import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
ENGINES = ("sqlite", "postgres")
_NAME = re.compile(r"(\d{4})_(\w+)\.(sqlite|postgres)\.sql")


def migration_files(engine: str, folder: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """(number, file) for `engine`, in order; checked against the other engine's list."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    steps: dict[str, dict[int, str]] = {e: {} for e in ENGINES}
    for path in folder.glob("*.sql"):
        match = _NAME.fullmatch(path.name)
        if not match:
            raise StoreError(f"migration file {path.name} is not named NNNN_name.ENGINE.sql")
        steps[match.group(3)][int(match.group(1))] = match.group(2)
    if steps["sqlite"] != steps["postgres"]:
        raise StoreError(
            "the SQLite and PostgreSQL migrations differ: "
            f"{sorted(steps['sqlite'].items())} against {sorted(steps['postgres'].items())}"
        )
    numbers = sorted(steps[engine])
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return [(n, folder / f"{n:04d}_{steps[engine][n]}.{engine}.sql") for n in numbers]
