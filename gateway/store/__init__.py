"""Durable storage. The only package that speaks SQL; the rest sees `Store` (base.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.config import StoreSettings
from gateway.store.base import Effects, Store, StoreError, StoreHooks
from gateway.store.location import Location, parse_location

__all__ = [
    "Effects",
    "Location",
    "Store",
    "StoreError",
    "StoreHooks",
    "StoreSettings",
    "migrate_store",
    "open_store",
    "preload",
]


def _where(path: str) -> Location:
    try:
        return parse_location(path)
    except ValueError as exc:
        raise StoreError(str(exc)) from exc


QUEUE_SIZE = 100_000  # writes waiting for the writer thread; a full queue is a StoreError


def settings_for(where: str | StoreSettings) -> StoreSettings:
    """`where` as the [store] section: a section as is, a URL (sqlite:///, postgresql://)
    as store.url, anything else as store.path; the other settings at their defaults."""
    if isinstance(where, StoreSettings):
        return where
    return StoreSettings(url=where) if "://" in where else StoreSettings(path=where)


def open_store(
    store: StoreSettings | str,
    *,
    hooks: StoreHooks | None = None,
    on_effects: Callable[[Effects], None] | None = None,
    on_commit: Callable[[int, float], None] | None = None,
    on_event: Callable[[str, int], None] | None = None,
    clock: Callable[[], float] = time.time,
    synchronous: str = "FULL",
) -> Store:
    """Open (creating and migrating) the store the [store] section names, and start its
    writer thread. A string is a path or URL with every other setting at its default.

    `hooks` turn state changes and inbound messages into webhook outbox rows inside the
    same transaction (base.StoreHooks); `on_effects` hears of them after the commit;
    `on_commit(operations, seconds)` is called after each group commit and
    `on_event(name, count)` for PostgreSQL's claims, lease expiries and cross-daemon
    receipts (metrics). `synchronous` is SQLite's for the write connection: FULL makes
    every commit survive power loss, which "stored before responseCode 0" requires
    (bench/store_rate.py measures NORMAL beside it). Raises StoreError when the store
    cannot be opened or migrated.
    """
    settings = settings_for(store)
    where = _where(settings.url or settings.path)
    wiring: dict[str, Any] = {
        "hooks": hooks,
        "on_effects": on_effects,
        "on_commit": on_commit,
        "clock": clock,
        "queue_size": QUEUE_SIZE,
    }
    if where.kind == "postgresql":
        from gateway.store.postgres.store import PostgresStore

        return PostgresStore(where.target, settings, **wiring, on_event=on_event).open()
    from gateway.store.sqlite.store import SQLiteStore

    return SQLiteStore(where.target, settings, **wiring, synchronous=synchronous).open()


def preload(settings: StoreSettings) -> None:
    """Import the backend's driver now. The daemon's master calls it before it forks: its
    processes then share the imported modules instead of each importing psycopg itself
    (0.23 s of CPU apiece, at every start and restart)."""
    if _where(settings.url or settings.path).kind == "postgresql":
        import gateway.store.postgres.store  # noqa: F401


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
