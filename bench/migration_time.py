"""How long migration 0009 (issue 15) takes on a store of delivered messages made with
schema 0008, and what it leaves: `python -m bench.migration_time [--count 100000]`.

SQLite: the migration, then the one-time VACUUM that turns on incremental auto-vacuum
(done by the store when it opens the file), with the file size before and after.
PostgreSQL (when reachable): the migration, and the database's size before and after a
VACUUM FULL. Not part of `make bench`: it measures a one-off step, not a rate.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from gateway.store import open_store
from gateway.store.migrate import MIGRATIONS_DIR, POSTGRES, apply_migrations
from gateway.testing import legacy_store


def sqlite_run(count: int, workdir: Path) -> None:
    path = workdir / "legacy.db"
    old = legacy_store.migrations_up_to(legacy_store.LAST_BEFORE_COMPACT, workdir / "old")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    apply_migrations(conn, old)
    legacy_store.fill(conn.cursor(), count)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.stat().st_size
    started = time.perf_counter()
    apply_migrations(conn, MIGRATIONS_DIR)
    migrated = time.perf_counter() - started
    conn.close()
    started = time.perf_counter()
    open_store(str(path)).close()  # the one-time VACUUM, then a clean stop
    vacuumed = time.perf_counter() - started
    after = path.stat().st_size
    print(
        f"SQLite, {count:,} messages: migration 0009 {migrated:.1f} s, then VACUUM"
        f" {vacuumed:.1f} s; file {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB"
        f" ({before / count:.0f} -> {after / count:.0f} B per message)"
    )


def postgres_run(count: int, workdir: Path) -> None:
    from gateway.testing import postgres as pg  # imports pytest: only when asked for

    reason = pg.unreachable_reason()
    if reason is not None:
        print(f"PostgreSQL: not run: {reason}")
        return
    import psycopg

    from gateway.store.postgres.migrate import migrate

    old = legacy_store.migrations_up_to(legacy_store.LAST_BEFORE_COMPACT, workdir / "old-pg")
    with pg.fresh_database("migration") as url:
        with psycopg.connect(url) as conn:
            apply_migrations(conn, old, dialect=POSTGRES)
            legacy_store.fill(conn.cursor(), count, mark="%s")
            conn.commit()
        before = _pg_size(psycopg, url)
        started = time.perf_counter()
        migrate(url)
        migrated = time.perf_counter() - started
        after = _pg_size(psycopg, url)
    print(
        f"PostgreSQL, {count:,} messages: migration 0009 {migrated:.1f} s; database"
        f" {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB after VACUUM FULL"
        f" ({before / count:.0f} -> {after / count:.0f} B per message)"
    )


def _pg_size(psycopg: object, url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute("VACUUM FULL")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.migration_time", description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="migration-") as tmp:
        sqlite_run(args.count, Path(tmp))
        postgres_run(args.count, Path(tmp))


if __name__ == "__main__":
    main()
