"""Durable storage. The only package that speaks SQL; the rest sees `Store` (base.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.store.base import Effects, Store, StoreError, StoreHooks
from gateway.store.location import Location, parse_location

__all__ = [
    "Effects",
    "Location",
    "Store",
    "StoreError",
    "StoreHooks",
    "migrate_store",
    "open_store",
]


def _where(path: str) -> Location:
    try:
        return parse_location(path)
    except ValueError as exc:
        raise StoreError(str(exc)) from exc


def open_store(
    path: str,
    *,
    commit_max_batch: int = 512,
    commit_max_delay: float = 0.002,
    on_commit: Callable[[int, float], None] | None = None,
    synchronous: str = "FULL",
    queue_size: int = 100_000,
    clock: Callable[[], float] = time.time,
    hooks: StoreHooks | None = None,
    on_effects: Callable[[Effects], None] | None = None,
    pool_size: int = 4,
    lease: float = 30.0,
    migrate_on_start: bool = True,
    on_event: Callable[[str, int], None] | None = None,
    writers: int = 1,
) -> Store:
    """Open (creating and migrating) the store at `path` and start its writer thread.

    `path` is an SQLite file path, `sqlite:///path`, or a `postgresql://` URL.
    `on_commit(operations, seconds)` is called after each group commit (for metrics).
    `synchronous` is SQLite's setting for the write connection: FULL (the default) makes
    every commit survive power loss, which "stored before responseCode 0" requires.
    `hooks` turn state changes and inbound messages into webhook outbox rows inside the
    same transaction (base.StoreHooks); `on_effects` hears of them after the commit.
    PostgreSQL only: `pool_size` read connections, claim `lease` seconds,
    `migrate_on_start` (False: refuse to start on an old schema), `on_event(name,
    count)` for claims, lease expiries and cross-daemon receipts (metrics), and
    `writers`, the write connections (postgres/writers.py).
    Raises StoreError when the store cannot be opened or migrated.
    """
    where = _where(path)
    common: dict[str, Any] = {
        "commit_max_batch": commit_max_batch,
        "commit_max_delay": commit_max_delay,
        "on_commit": on_commit,
        "queue_size": queue_size,
        "clock": clock,
        "hooks": hooks,
        "on_effects": on_effects,
    }
    if where.kind == "postgresql":
        from gateway.store.postgres.store import PostgresStore

        return PostgresStore(
            where.target,
            **common,
            pool_size=pool_size,
            lease=lease,
            migrate=migrate_on_start,
            on_event=on_event,
            writers=writers,
        ).open()
    from gateway.store.sqlite.store import SQLiteStore

    return SQLiteStore(where.target, **common, synchronous=synchronous).open()


def migrate_store(path: str) -> list[int]:
    """Apply missing migrations (the `smpp-gateway migrate` command); returns versions."""
    where = _where(path)
    if where.kind == "postgresql":
        from gateway.store.postgres.migrate import migrate as migrate_postgres

        return migrate_postgres(where.target)
    import sqlite3
    from pathlib import Path

    from gateway.store.migrate import apply_migrations

    Path(where.target).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(where.target, isolation_level=None, timeout=5.0)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        return apply_migrations(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot migrate {where.target}: {exc}") from exc
    finally:
        conn.close()
